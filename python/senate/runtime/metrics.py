"""Prometheus metrics of one node.

A `NodeMetrics` keeps its own `CollectorRegistry` (several nodes in one process do not clash)
and labels every series with the node id. The runtime calls its `on_*` methods: the node once
per Ready (`on_ready`, `on_persisted`), per proposal batch and on leader changes; the transport
once per write and per receive call (`on_bytes_sent`, `on_bytes_received`). Each is a few
counter or gauge updates. `start_http` serves the registry for scraping.

Series (all with label `node`; the byte counters also with `peer`):

    senate_term, senate_commit_index, senate_applied_index, senate_is_leader    gauges
    senate_proposals_total, senate_leader_changes_total, senate_snapshots_total counters
    senate_snapshots_installed_total    counter of the leader's snapshots installed here
    senate_empty_disk_abstaining  gauge: 1 while this node, back with an empty disk, neither
                                  votes nor campaigns (docs/operations.md)
    senate_peer_logs_lost_total   counter: followers this node, as leader, found to have lost
                                  entries they had acknowledged
    senate_peer_bytes_sent_total, senate_peer_bytes_received_total              counters
    senate_snapshot_stream_bytes_sent_total  counter of snapshot bytes streamed to a peer,
                                  with label `peer` (`senate.runtime.snapshot_stream`)
    senate_snapshot_streams_total counter of snapshot stream attempts ended, with label
                                  `outcome` (`snapshot_stream.STREAM_OUTCOMES`)
    senate_peer_connections_refused_total   counter of peer connections refused, with label
                                  `reason` (`senate.security.peer_tls.REFUSAL_REASONS`)
    senate_members                gauge of the members of the configuration in force, with
                                  label `role` (voter, outgoing-voter, learner)
    senate_config_joint           gauge: 1 while the configuration is joint
    senate_ready_entries          histogram of committed entries per Ready
    senate_persist_seconds        histogram of write + fsync latency, as the node waits it
    senate_loop_lag_seconds       histogram of how late the node's tick timer ran: the time
                                  its event loop was busy elsewhere (a lag near the election
                                  timeout costs the leadership)
    senate_clients_buffered_bytes gauge of the bytes the key-value server buffers for its
                                  clients (partial requests and unsent replies)
    senate_clients_closed_total   counter of clients the server closed for a limit, with label
                                  `reason` (`senate.kv_guard.CLOSE_REASONS`)
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)

from senate.runtime.members import ROLES, Membership
from senate.runtime.transport import parse_host_port
from senate.security.server_tls import MIN_TLS_VERSION, ServerTls
from senate.security.tls_files import TlsFiles

#: Buckets of `senate_ready_entries`: committed entries per Ready.
READY_ENTRIES_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
#: Buckets of `senate_persist_seconds`: from page-cache writes to slow disks.
PERSIST_SECONDS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
#: Buckets of `senate_loop_lag_seconds`: up to past an election timeout (150 ms by default).
LOOP_LAG_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


@dataclass
class MetricsServer:
    """A running metrics endpoint; `close` stops it."""

    server: WSGIServer
    thread: threading.Thread
    #: With HTTPS: its files and context (`reload` takes new certificates).
    tls: ServerTls | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class NodeMetrics:
    """The metrics of node `node_id`, in `registry` (a fresh one by default)."""

    def __init__(
        self, node_id: int, registry: CollectorRegistry | None = None, protocol: str = "raft"
    ) -> None:
        self.node_id = node_id
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        node = str(node_id)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, ["node"], registry=r).labels(node=node)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, ["node"], registry=r).labels(node=node)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, ["node"], registry=r, buckets=buckets).labels(node=node)

        Info("senate_node", "The node's consensus protocol.", ["node"], registry=r).labels(
            node=node
        ).info({"protocol": protocol})
        self.term = gauge(
            "senate_term", "The current term (Multi-Paxos: the promised ballot's round)."
        )
        self.commit_index = gauge("senate_commit_index", "The highest index known committed.")
        self.applied_index = gauge("senate_applied_index", "The highest index applied here.")
        self.is_leader = gauge("senate_is_leader", "1 while this node is the leader.")
        self._term_value = self._commit_value = self._applied_value = 0
        self.term.set_function(lambda: self._term_value)
        self.commit_index.set_function(lambda: self._commit_value)
        self.applied_index.set_function(lambda: self._applied_value)
        self.proposals = counter("senate_proposals", "Commands proposed to the core.")
        self.leader_changes = counter(
            "senate_leader_changes", "Times the known leader changed (or became unknown)."
        )
        self.ready_entries = histogram(
            "senate_ready_entries", "Committed entries per Ready.", READY_ENTRIES_BUCKETS
        )
        self.persist_seconds = histogram(
            "senate_persist_seconds",
            "Latency of making a Ready durable (write + fsync).",
            PERSIST_SECONDS_BUCKETS,
        )
        self.loop_lag_seconds = histogram(
            "senate_loop_lag_seconds",
            "How late the node's tick timer ran (its event loop busy elsewhere).",
            LOOP_LAG_SECONDS_BUCKETS,
        )
        self.empty_disk = gauge(
            "senate_empty_disk_abstaining",
            "1 while this node, back with an empty disk, neither votes nor campaigns.",
        )
        self.peer_logs_lost = counter(
            "senate_peer_logs_lost",
            "Followers this node, as leader, found to have lost entries they acknowledged.",
        )
        self.snapshots = counter("senate_snapshots", "Snapshots taken and recorded here.")
        self.snapshots_installed = counter(
            "senate_snapshots_installed", "Snapshots sent by the leader and installed here."
        )
        self._bytes_sent = Counter(
            "senate_peer_bytes_sent", "Bytes written to a peer.", ["node", "peer"], registry=r
        )
        self._bytes_received = Counter(
            "senate_peer_bytes_received", "Bytes read from a peer.", ["node", "peer"], registry=r
        )
        self._stream_bytes_sent = Counter(
            "senate_snapshot_stream_bytes_sent",
            "Snapshot bytes streamed to a peer.",
            ["node", "peer"],
            registry=r,
        )
        self._streams_ended = Counter(
            "senate_snapshot_streams",
            "Snapshot stream attempts ended, by outcome.",
            ["node", "outcome"],
            registry=r,
        )
        self._refused = Counter(
            "senate_peer_connections_refused",
            "Peer connections refused (bad TLS, identity or hello).",
            ["node", "reason"],
            registry=r,
        )
        self.clients_buffered_bytes = gauge(
            "senate_clients_buffered_bytes",
            "Bytes buffered for clients: partial requests and unsent replies.",
        )
        self._clients_closed = Counter(
            "senate_clients_closed",
            "Clients closed for a limit (query buffer, memory, idle, slow request).",
            ["node", "reason"],
            registry=r,
        )
        self._members = Gauge(
            "senate_members",
            "Members of the configuration in force, by role.",
            ["node", "role"],
            registry=r,
        )
        self.config_joint = gauge(
            "senate_config_joint", "1 while the configuration is joint (a change under way)."
        )
        # The labelled children, per peer id, made on first use.
        self._sent: dict[int, Counter] = {}
        self._received: dict[int, Counter] = {}

    # --- called by the runtime ----------------------------------------------------------
    def on_membership(self, membership: Membership) -> None:
        """The configuration in force changed (`senate.runtime.members`)."""
        roles = membership.roles().values()
        for role in ROLES:
            if role != "non-member":
                self._members.labels(node=str(self.node_id), role=role).set(
                    sum(1 for r in roles if r == role)
                )
        self.config_joint.set(int(membership.joint))

    def on_ready(self, entries: int, term: int, commit: int, applied: int) -> None:
        self.ready_entries.observe(entries)
        # Read at scrape time: setting three gauges (a lock each) after every Ready cost
        # more than the rest of the metrics together.
        self._term_value, self._commit_value, self._applied_value = term, commit, applied

    def on_persisted(self, seconds: float) -> None:
        self.persist_seconds.observe(seconds)

    def on_tick_late(self, seconds: float) -> None:
        self.loop_lag_seconds.observe(seconds)

    def on_snapshot(self) -> None:
        self.snapshots.inc()

    def on_snapshot_installed(self) -> None:
        self.snapshots_installed.inc()

    def on_role(self, role: str) -> None:
        self.is_leader.set(1 if role == "leader" else 0)

    def on_empty_disk(self, state: str, new_peer_logs_lost: int) -> None:
        self.empty_disk.set(1 if state == "abstaining" else 0)
        if new_peer_logs_lost:
            self.peer_logs_lost.inc(new_peer_logs_lost)

    def on_leader_change(self) -> None:
        self.leader_changes.inc()

    def on_proposals(self, n: int) -> None:
        self.proposals.inc(n)

    def on_bytes_sent(self, peer: int, n: int) -> None:
        child = self._sent.get(peer)
        if child is None:
            child = self._sent[peer] = self._bytes_sent.labels(node=str(self.node_id), peer=peer)
        child.inc(n)

    def on_bytes_received(self, peer: int, n: int) -> None:
        child = self._received.get(peer)
        if child is None:
            child = self._bytes_received.labels(node=str(self.node_id), peer=peer)
            self._received[peer] = child
        child.inc(n)

    def on_stream_bytes_sent(self, peer: int, n: int) -> None:
        self._stream_bytes_sent.labels(node=str(self.node_id), peer=peer).inc(n)

    def on_stream_ended(self, outcome: str) -> None:
        self._streams_ended.labels(node=str(self.node_id), outcome=outcome).inc()

    def on_peer_refused(self, reason: str) -> None:
        self._refused.labels(node=str(self.node_id), reason=reason).inc()

    def on_client_closed(self, reason: str) -> None:
        self._clients_closed.labels(node=str(self.node_id), reason=reason).inc()

    # --- serving ------------------------------------------------------------------------
    def start_http(
        self, address: str, tls: TlsFiles | None = None, client_certs: str = "none"
    ) -> MetricsServer:
        """Serves this registry at http://address/metrics (any path) from a daemon thread;
        port 0 picks a free port (see `MetricsServer.address`). With `tls`, HTTPS (TLS 1.2
        at least) with that certificate; with `client_certs` "required", scrapers must show
        one the CA signed (prometheus_client asks for none otherwise: "optional" is none)."""
        if address.endswith(":0"):
            host, port = address[:-2].strip("[]"), 0
        else:
            host, port = parse_host_port(address)
        if tls is None:
            server, thread = start_http_server(port, host, registry=self.registry)
        else:
            server, thread = start_http_server(
                port,
                host,
                registry=self.registry,
                certfile=tls.cert_file,
                keyfile=tls.key_file,
                client_cafile=tls.ca_file,
                client_auth_required=client_certs == "required",
            )
        if tls is None or not isinstance(server.socket, ssl.SSLSocket):
            return MetricsServer(server, thread)
        context = server.socket.context  # new connections take new files loaded into it
        context.minimum_version = MIN_TLS_VERSION
        return MetricsServer(server, thread, ServerTls(tls, client_certs, [context]))
