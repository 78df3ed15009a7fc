"""Typed stubs of the Rust extension `senate._core` (the bindings in rust/python).

Node ids are positive integers; `None` stands for "no node" (no leader known, no vote cast).
"""

import os
import pathlib
from collections.abc import Iterable
from typing import final

from senate.balance import Request

__version__: str
#: Readies a node over a durable log may hand out before they are advanced, at most.
MAX_READIES_IN_FLIGHT: int
#: Bytes of a peer frame's header (version, protocol, body length, body checksum).
FRAME_HEADER_BYTES: int
#: The body length field (u32 LE) of a peer frame is `[FRAME_BODY_BYTES_OFFSET, FRAME_BODY_BYTES_END)`.
FRAME_BODY_BYTES_OFFSET: int
FRAME_BODY_BYTES_END: int
#: The election timeout and heartbeat interval, in ticks, of the runtime's nodes by default.
DEFAULT_ELECTION_TIMEOUT_TICKS: int
DEFAULT_HEARTBEAT_INTERVAL_TICKS: int
#: The core's default limits: a peer frame, a leader's uncommitted bytes, a RESP bulk string,
#: a value, and the commands of one client batch.
DEFAULT_MAX_FRAME_BYTES: int
DEFAULT_MAX_UNCOMMITTED_BYTES: int
DEFAULT_MAX_BULK_BYTES: int
DEFAULT_MAX_VALUE_BYTES: int
DEFAULT_MAX_BATCH_COMMANDS: int
#: The driver's defaults and rules (`rust/core/src/driver/options.rs` says why each): the
#: runtime's `NodeConfig` defaults, the apply backlog bound, ticks per poll, snapshot staggering.
DEFAULT_MAX_BATCH_PROPOSALS: int
DEFAULT_MAX_WRITES_IN_FLIGHT: int
DEFAULT_SNAPSHOT_ENTRIES: int
DEFAULT_SNAPSHOT_BYTES: int
DEFAULT_MAX_APPLY_BACKLOG_BYTES: int
MAX_TICKS_PER_POLL: int
SNAPSHOT_ENTRIES_CAP_FACTOR: int
SNAPSHOT_STAGGER: float
__all__ = [
    "ACTION_APPLY",
    "ACTION_COMPACT",
    "ACTION_CONF_CHANGED",
    "ACTION_DURABLE",
    "ACTION_RESTORE",
    "ACTION_ROLE",
    "ACTION_SEND",
    "ACTION_SEND_SNAPSHOT",
    "ACTION_SERVE_READS",
    "ACTION_SNAPSHOT_SKIPPED",
    "ACTION_TAKE_SNAPSHOT",
    "CHECK_MODELS",
    "DEFAULT_DEADLINE_ELECTION_TIMEOUTS",
    "DEFAULT_ELECTION_TIMEOUT_TICKS",
    "DEFAULT_HEARTBEAT_INTERVAL_TICKS",
    "DEFAULT_MAX_APPLY_BACKLOG_BYTES",
    "DEFAULT_MAX_BATCH_COMMANDS",
    "DEFAULT_MAX_BATCH_PROPOSALS",
    "DEFAULT_MAX_BULK_BYTES",
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_STEPS_PER_PART",
    "DEFAULT_MAX_UNCOMMITTED_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_MAX_WRITES_IN_FLIGHT",
    "DEFAULT_SNAPSHOT_BYTES",
    "DEFAULT_SNAPSHOT_ENTRIES",
    "FRAME_BODY_BYTES_END",
    "FRAME_BODY_BYTES_OFFSET",
    "FRAME_HEADER_BYTES",
    "GROUP_CLOSE",
    "GROUP_EXEC_LOG",
    "GROUP_EXEC_NODE",
    "GROUP_EXEC_READ",
    "GROUP_LOG",
    "GROUP_NODE",
    "GROUP_READ",
    "GROUP_REPLY",
    "GROUP_STALE_READ",
    "GROUP_WATCH",
    "MAX_CHECK_THREADS",
    "MAX_DEADLINE_ELECTION_TIMEOUTS",
    "MAX_READIES_IN_FLIGHT",
    "MAX_STEPS_PER_PART",
    "MAX_TICKS_PER_POLL",
    "NEXT_CONTINUE",
    "NEXT_IDLE",
    "NEXT_YIELD",
    "SCENARIOS",
    "SIM_PROTOCOLS",
    "SNAPSHOT_ENTRIES_CAP_FACTOR",
    "SNAPSHOT_STAGGER",
    "AclUsers",
    "BoundedLoadHash",
    "CheckReport",
    "Compacted",
    "ConfigError",
    "DecodeError",
    "DetectSimReport",
    "DetectorFigures",
    "DuplicateBackend",
    "Entry",
    "HeartbeatDetector",
    "HistoryError",
    "InvalidMessage",
    "InvalidTime",
    "JumpHash",
    "KvCapture",
    "KvError",
    "KvStore",
    "LeastRequest",
    "Maglev",
    "NoBackendAvailable",
    "NodeDriver",
    "NotInFlight",
    "NotLeader",
    "PaxosNode",
    "PaxosStatus",
    "PeakEwma",
    "PhiAccrualDetector",
    "ProposalDropped",
    "RaftNode",
    "Random",
    "Ready",
    "ReadyNotAdvanced",
    "Rendezvous",
    "RespSession",
    "RestoreFailed",
    "RingHash",
    "RoundRobin",
    "ScenarioReport",
    "SenateError",
    "SimReport",
    "SmoothWeighted",
    "Snapshot",
    "SnapshotData",
    "SnapshotOutOfDate",
    "Status",
    "StorageError",
    "ThroughputReport",
    "Unavailable",
    "UnknownBackend",
    "UnknownPeer",
    "Wal",
    "WalCorrupt",
    "WalError",
    "WalWriter",
    "WeightedRandom",
    "__version__",
    "batch_reply_count",
    "check_history",
    "count_replies",
    "decode_batch",
    "encode_command",
    "encode_snapshot_envelope",
    "run_detect_sim",
    "run_scenario",
    "run_sim",
    "run_throughput",
    "write_command_names",
]

# --- errors -------------------------------------------------------------------------------

class SenateError(Exception):
    """Base class of every error raised by senate."""

class NotLeader(SenateError):
    """This node is not the leader and cannot forward the request."""

    leader_hint: int | None
    """The leader this node knows of, if any."""

class ProposalDropped(SenateError):
    """The leader refused the proposal."""

    reason: str | None
    """One of "transferring", "uncommitted_limit", "too_large", "empty",
    "too_many_pending_reads", "conf_change_pending"."""

class ConfigError(SenateError):
    """A configuration value is invalid."""

    field: str | None
    """The name of the bad field (as the keyword argument of `RaftNode`)."""
    problem: str | None

class UnknownPeer(SenateError):
    """A request named a node that is not a member of the cluster."""

    id: int | None

class InvalidMessage(SenateError):
    """A peer sent a message no correct node sends; it was ignored. Drop that connection."""

    from_id: int | None
    problem: str | None

class ReadyNotAdvanced(SenateError):
    """`ready()` was called with as many Readies not yet advanced as the node allows."""

class StorageError(SenateError):
    """The log storage could not serve a request."""

class Compacted(StorageError):
    """The requested index lies before the first index still in the log."""

    index: int | None
    first_index: int | None

class Unavailable(StorageError):
    """The requested index lies after the last index in the log."""

    index: int | None
    last_index: int | None

class SnapshotOutOfDate(StorageError):
    """A snapshot older than the one already held was offered."""

    index: int | None
    current: int | None

class DecodeError(SenateError):
    """Bytes received from a peer are not a valid frame."""

class HistoryError(SenateError):
    """A history the checker cannot read: operation `index` (0-based, in the order given) has
    a bad `field`; `problem` says what."""

    index: int | None
    field: str | None
    problem: str | None

class InvalidTime(SenateError):
    """A failure detector was given a time that is not finite or lies before its last
    heartbeat. The detector is unchanged."""

    now_ms: float | None
    problem: str | None

# --- the node -----------------------------------------------------------------------------

@final
class Entry:
    """One committed log entry."""

    @property
    def index(self) -> int: ...
    @property
    def term(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def is_noop(self) -> bool:
        """The empty entry a new leader appends at the start of its term (`data` is empty)."""

class WalError(StorageError):
    """The durable log failed; after a failed write it must be reopened."""

    path: str | None
    """The file involved, if any."""

class RestoreFailed(SenateError):
    """The node could not restore the leader's snapshot at `index` (its log holds the snapshot
    and nothing before it): the node stops."""

    index: int | None
    """The snapshot's index."""

class WalCorrupt(WalError):
    """The durable log holds damaged data at `offset` of `path`; nothing is served from it."""

    offset: int | None
    """The byte offset of the damaged record in `path`."""
    problem: str | None
    """What is wrong there."""

@final
class Wal:
    """A segmented write-ahead log in directory `path` (created if missing), recovered on
    open: a torn tail is truncated, a checksum failure elsewhere raises `WalCorrupt`.
    `preallocate` allocates each segment file's space when it is created, so an fdatasync
    commits no file size change (faster); the unused tail reads as zeros.

    Hand it to `RaftNode(..., wal=wal)`, which starts from what it recovered; then give it
    every Ready with `must_persist` (`write`) and every compaction snapshot (`compact`).
    Both release the GIL: run them in a worker thread.
    """

    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        max_segment_bytes: int | None = None,
        max_record_bytes: int | None = None,
        preallocate: bool = True,
        protocol: str = "raft",
    ) -> Wal: ...
    @property
    def protocol(self) -> str:
        """The protocol whose log this is ("raft" or "paxos"): its records are tagged with it,
        and a node of the other protocol is refused it (`ConfigError`, field "wal")."""
    @property
    def path(self) -> pathlib.Path: ...
    def recovered_snapshot(self) -> Snapshot | None:
        """The snapshot the log recovered (restore the application from it before starting)."""
    def write(self, ready: Ready) -> None:
        """Makes the Ready's snapshot, entries and hard state durable (one fsync)."""
    def compact(self, snapshot: Snapshot) -> None:
        """Saves a compaction snapshot, then deletes the log files it covers."""
    def stats(self) -> dict[str, int]:
        """segment_count, bytes_on_disk, fsync_count, snapshot_index, first_index, last_index."""
    def close(self) -> None:
        """Closes the log and releases its directory's lock; later calls raise `WalError`."""

@final
class WalWriter:
    """A thread that makes Readies durable through `wal` without taking the GIL.

    `submit(ready)` queues the Ready's write (None when it has nothing to persist) and returns
    its id at once; when a write is done the thread writes a byte to the pipe `fileno()`
    (watch it with `loop.add_reader`), unless the loop waits for it in `wait()`, and
    `completed()` gives `(id, error)` of each finished write, `error` None on success. At most
    64 writes may be in flight.
    """

    def __new__(cls, wal: Wal) -> WalWriter: ...
    def fileno(self) -> int: ...
    def submit(self, ready: Ready) -> int | None: ...
    def wait(self, id: int, timeout_s: float) -> bool:
        """Waits up to `timeout_s` for write `id` to finish (the GIL released); whether it
        did. A write that finishes while the caller waits writes no byte to the pipe."""
    @property
    def last_write_s(self) -> float:
        """How long the last write took (its group's write and fsync), in seconds."""
    def completed(self) -> list[tuple[int, WalError | None]]: ...
    def close(self) -> None:
        """Finishes the writes submitted, then stops the thread."""

@final
class Snapshot:
    """An application snapshot: the state after applying the log up to `index`."""

    @property
    def index(self) -> int: ...
    @property
    def term(self) -> int: ...
    @property
    def voters(self) -> list[int]: ...
    @property
    def data(self) -> bytes:
        """A copy of the data."""
    @property
    def shared_data(self) -> SnapshotData:
        """The data without a copy (the core's own bytes)."""
    @property
    def data_bytes(self) -> int: ...

@final
class SnapshotData:
    """A snapshot's data, shared with the core that holds it (no copy), for streaming it out
    of band in chunks (`senate.runtime.snapshot_stream`) and handing it back to a core."""

    @staticmethod
    def read_file(path: str) -> SnapshotData:
        """The whole file at `path`, read without the interpreter lock; `OSError` if it
        cannot be read."""
    @staticmethod
    def from_bytes(data: bytes) -> SnapshotData: ...
    def __len__(self) -> int: ...
    def chunk(self, offset: int, size: int) -> bytes:
        """Bytes `[offset, offset + size)`, cut at the end; `ValueError` past the end."""
    def crc32c(self) -> int:
        """CRC32C (Castagnoli) of the whole, computed without the interpreter lock."""
    def __bytes__(self) -> bytes:
        """A copy, made without the interpreter lock."""
    def split_envelope(self) -> list[SnapshotData]:
        """The elements of the MessagePack array of binary strings this holds (the node
        runtime's snapshot envelope), each sharing these bytes; `ValueError` naming the byte
        where it is not such an array."""

@final
class Ready:
    """The work a node asks of its caller after some input, in this order.

    1. Send `messages` (at once). 2. If `must_persist`, make the Ready durable
    (`Wal.write(ready)`, off the event loop). 3. Send `persisted_messages`. 4. Restore from
    `snapshot` if set, apply `committed` in order, serve `read_states` once their index is
    applied. 5. Call `RaftNode.advance()`. A node without a durable log persists in memory
    before handing the Ready out: `must_persist` is False and `persisted_messages` empty.
    Each attribute read builds fresh objects: bind it to a name once.
    """

    @property
    def role(self) -> str | None:
        """The role ("follower", "pre-candidate", "candidate", "leader") if it changed."""
    @property
    def leader(self) -> int | None:
        """The known leader if the soft state changed and a leader is known."""
    @property
    def hard_state(self) -> tuple[int, int, int] | None:
        """(term, vote, commit) if it changed; vote 0 means none."""
    @property
    def snapshot(self) -> tuple[int, int, bytes] | None:
        """(index, term, data) of a snapshot to restore the application from."""
    @property
    def messages(self) -> list[tuple[int, bytes]]:
        """(destination, frames) to send at once: one bytes of frames per destination."""
    @property
    def persisted_messages(self) -> list[tuple[int, bytes]]:
        """(destination, frames) to send only once this Ready is durable."""
    @property
    def must_persist(self) -> bool:
        """True when entries, a hard state or a snapshot are to be made durable."""
    @property
    def must_sync(self) -> bool:
        """True when persisting needs an fsync (False: only the commit index moved)."""
    @property
    def committed(self) -> list[Entry]:
        """Committed entries to apply, in index order."""
    @property
    def first_persist_index(self) -> int | None:
        """The index of the first entry this Ready asks to persist, or None when it carries no
        entries. Committed entries below it were made durable by an earlier Ready, so they may
        be applied before this one's write completes."""
    @property
    def committed_data(self) -> list[bytes]:
        """The data of each committed entry in order (`b""` for a leader's no-op)."""
    @property
    def committed_index(self) -> int | None:
        """The index of the last committed entry here, or None when there is none."""
    @property
    def read_states(self) -> list[tuple[int, int]]:
        """(request_id, index) of confirmed linearizable reads."""

@final
class Status:
    """A node's state at the moment `RaftNode.status()` was called."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def term(self) -> int: ...
    @property
    def vote(self) -> int | None: ...
    @property
    def leader(self) -> int | None: ...
    @property
    def commit(self) -> int: ...
    @property
    def applied(self) -> int: ...
    @property
    def first_index(self) -> int: ...
    @property
    def last_index(self) -> int: ...
    @property
    def peers(self) -> list[tuple[int, int, int, str, bool]]:
        """At the leader: (id, match_index, next_index, state, recent_active) per follower;
        state is "probe", "replicate" or "snapshot"."""
    @property
    def lead_transferee(self) -> int | None: ...
    @property
    def empty_disk(self) -> str:
        """ "no", "abstaining" (this node came back with an empty disk into a cluster with a
        log: it neither votes nor campaigns until a leader gave it the committed log) or
        "recovered"."""
    @property
    def lost_logs(self) -> list[tuple[int, int]]:
        """At the leader: (id, match index it had) per follower found to have lost its log
        (an empty disk), until it holds that again."""

@final
class RaftNode:
    """A Raft node whose messages travel as encoded frames.

    The node never reads a clock or touches the network: the caller ticks it, steps it
    with the frames received from peers, and handles each `Ready`. Without `wal` its log is
    in memory and persisted before each Ready is handed out; with `wal` it starts from what
    the log recovered and the caller persists each Ready through it (`Wal.write`).
    Limits left as `None` keep the core's defaults. `max_frame_bytes` (default 64 MiB) bounds
    the frames accepted from peers; proposals are bounded by half of it, so raise it (and the
    `Wal`'s `max_record_bytes`) to replicate larger values. Raises `ConfigError` naming the bad
    field.
    """

    def __new__(
        cls,
        id: int,
        voters: list[int],
        *,
        # The defaults: DEFAULT_ELECTION_TIMEOUT_TICKS (15), DEFAULT_HEARTBEAT_INTERVAL_TICKS (2).
        election_timeout_ticks: int = ...,
        heartbeat_interval_ticks: int = ...,
        pre_vote: bool = True,
        check_quorum: bool = True,
        lease_reads: bool = False,
        forward_proposals: bool = True,
        applied: int = 0,
        seed: int | None = None,
        max_entries_per_msg: int | None = None,
        max_bytes_per_msg: int | None = None,
        max_inflight_msgs: int | None = None,
        max_inflight_bytes: int | None = None,
        max_uncommitted_bytes: int | None = None,
        max_committed_entries_per_ready: int | None = None,
        max_committed_bytes_per_ready: int | None = None,
        max_pending_reads: int | None = None,
        max_frame_bytes: int | None = None,
        stream_snapshots: bool = False,
        empty_disk_guard: bool = False,
        wal: Wal | None = None,
    ) -> RaftNode: ...
    @property
    def id(self) -> int: ...
    def tick(self, n: int = 1) -> None:
        """Advances logical time by `n` ticks."""
    def step(self, frames: bytes | list[bytes]) -> int:
        """Steps every frame in `frames` (concatenated frames, or a list of such bytes).

        Returns the number of frames stepped. Raises `DecodeError` on malformed input, after
        stepping the good frames before it.
        """
    def step_stream(self, data: bytes | bytearray) -> int:
        """Steps every complete frame at the start of `data` (bytes read from a socket);
        returns the bytes consumed, leaving a partial frame at the end for later.

        Raises `DecodeError` (close the connection) on a malformed frame or one whose
        stated length exceeds the limit, as soon as its header is in.
        """
    def report_unreachable(self, id: int) -> None:
        """Tells the node a message to `id` could not be sent (it probes that peer again)."""
    def propose(self, data: bytes) -> None:
        """Proposes one command (forwarded to the leader at a follower).

        Raises `NotLeader` when no leader is known, `ProposalDropped` when refused.
        """
    def propose_batch(self, data: list[bytes]) -> None:
        """Proposes commands that get consecutive indexes."""
    def read_index(self, request_id: int) -> None:
        """Requests a linearizable read; a `(request_id, index)` comes out in `read_states`."""
    def transfer_leader(self, id: int) -> None:
        """Asks the leader to hand leadership to node `id`."""
    def campaign(self) -> None:
        """Starts an election now."""
    def has_ready(self) -> bool: ...
    def ready(self) -> Ready | None:
        """Takes the next `Ready`, or `None` when there is nothing to do.

        Over a durable log (`wal=`), Readies may be pipelined: the next may be taken before
        the earlier ones are durable, up to `MAX_READIES_IN_FLIGHT` not yet advanced; their
        committed entries are durable already, so apply them at once. Without a log, one at a
        time. Raises `ReadyNotAdvanced` past the limit."""
    def has_ready_without_write(self) -> bool: ...
    def ready_without_write(self) -> Ready | None:
        """A `Ready` that writes nothing, or `None` when there is nothing such: what `ready`
        would hand out but for new entries, a snapshot, a changed term or vote, and the
        messages waiting for those to be durable (they stay for the next `ready`). For a
        caller with writes in flight: committed entries, confirmed reads and messages that
        may leave at once (the leader's appends among them) need not wait for those writes.
        Advanced in turn like any other; raises `ReadyNotAdvanced` past the limit."""
    def advance(self) -> None:
        """Tells the node that the oldest `Ready` not yet advanced was fully handled: its
        write is durable and its `persisted_messages` were sent."""
    def status(self) -> Status: ...
    def compact(self, index: int, data: bytes) -> Snapshot:
        """Records an application snapshot `data` at applied `index`; drops the log up to it.
        The node keeps `data` itself (no copy): do not change it afterwards.

        Returns the snapshot, for `Wal.compact`."""
    def crash_restart(self, applied: int) -> None:
        """For tests: loses everything not persisted and restarts from storage alone;
        `applied` is the index the application had applied."""
    def noop(self) -> None:
        """Does nothing: the cost of a call into the extension."""

# --- simulation ---------------------------------------------------------------------------

@final
class PaxosNode:
    """A Multi-Paxos node, for a `NodeDriver` to drive (the runtime's `Node(protocol="paxos")`).

    Ballots are (round, node id); node ids are in [1, 65535]. `phase1_quorum` and
    `phase2_quorum` (None: a majority) set Flexible Paxos quorums, which must overlap:
    q1 + q2 > voters, else `ConfigError`; a phase 2 quorum below a majority shortens the commit
    latency, not the replication a majority keeps up with (the leader refuses proposals once
    `max_uncommitted_bytes` of its slots are not yet on a majority). `lease_reads`: the leader answers reads from a lease
    (the longest safe one: a tenth of the election timeout shorter than the acceptors' refusal
    window) instead of a quorum round; every node of the cluster must set it alike, and
    `ConfigError` names it when the election timeout is too short for a lease (under 3 ticks).
    Without `wal` the log is in memory; with `wal` (a
    `Wal(..., protocol="paxos")`) it starts from what the log recovered. Limits left as `None`
    keep the core's defaults (those of `RaftNode`). `stream_snapshots`: snapshots leave as
    `ACTION_SEND_SNAPSHOT` (as `RaftNode`'s), the leader's and a promiser's alike.
    """

    def __new__(
        cls,
        id: int,
        voters: list[int],
        *,
        election_timeout_ticks: int = ...,
        heartbeat_interval_ticks: int = ...,
        phase1_quorum: int | None = None,
        phase2_quorum: int | None = None,
        lease_reads: bool = False,
        forward_proposals: bool = True,
        applied: int = 0,
        seed: int | None = None,
        max_entries_per_msg: int | None = None,
        max_bytes_per_msg: int | None = None,
        max_inflight_msgs: int | None = None,
        max_inflight_bytes: int | None = None,
        max_uncommitted_bytes: int | None = None,
        max_committed_entries_per_ready: int | None = None,
        max_committed_bytes_per_ready: int | None = None,
        max_pending_reads: int | None = None,
        max_frame_bytes: int | None = None,
        stream_snapshots: bool = False,
        wal: Wal | None = None,
    ) -> PaxosNode: ...
    def status(self) -> PaxosStatus: ...

@final
class PaxosStatus:
    """A Multi-Paxos node's state when `status()` was called."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str:
        """One of "follower", "candidate", "leader"."""
    @property
    def leader(self) -> int | None: ...
    @property
    def ballot(self) -> tuple[int, int]:
        """The promised ballot (round, node id): the leader's own while it leads."""
    @property
    def chosen(self) -> int:
        """The highest slot known chosen."""
    @property
    def first_slot(self) -> int: ...
    @property
    def last_slot(self) -> int: ...
    @property
    def connected_peers(self) -> int:
        """Peers heard from within the election timeout."""
    @property
    def peers(self) -> list[tuple[int, int]]:
        """At the leader: (id, matched) per peer, ascending, `matched` the highest slot up
        to which the peer holds every slot at the leader's ballot (0 until it answers this
        ballot); empty elsewhere."""

#: The first item of each action `NodeDriver.poll` hands out; the rest of each tuple:
#: SEND `(to, frames)`: send the frames now (report a peer that cannot take them with
#: `report_unreachable`). APPLY `(payloads, last_index, deadline_ns)`: apply the committed
#: entries in order (an empty payload is a leader's no-op), stopping after the first applied
#: once `time.monotonic_ns()` passes the deadline; report the last index applied with
#: `applied_to`. SERVE_READS `(batch_ids,)`: those read batches may be served. ROLE `(role,
#: leader, epoch)`: the role, known leader or epoch changed. DURABLE `(write_id, seconds,
#: slow)`: a log write became durable. TAKE_SNAPSHOT `(index,)`: snapshot the application at
#: the applied index; answer `snapshot_started`, then `snapshot_taken` or `snapshot_failed`.
#: COMPACT `(snapshot,)`: compact the durable log with it, then `compaction_done`.
#: SNAPSHOT_SKIPPED `(index, reason)`. RESTORE `(snapshot,)`: replace the application's
#: state with the leader's snapshot, as a job (off the loop); answer `restore_done` or
#: `restore_failed` (what waits meanwhile: docs/embedding.md). SEND_SNAPSHOT `(to, index, term, head, data)` (a core
#: made with `stream_snapshots`): stream the snapshot message to `to` out of band, its `head`
#: frame then its `data` (`SnapshotData`); the peer steps both with `step_snapshot`. Asked
#: again while the peer has not acknowledged it. `term` is the snapshot's own (a Multi-Paxos
#: snapshot's: the ballot its last slot was accepted at, as a u64), the same on every ask.
ACTION_SEND: int
ACTION_APPLY: int
ACTION_SERVE_READS: int
ACTION_ROLE: int
ACTION_DURABLE: int
ACTION_TAKE_SNAPSHOT: int
ACTION_COMPACT: int
ACTION_SNAPSHOT_SKIPPED: int
ACTION_RESTORE: int
#: `(ACTION_CONF_CHANGED, voters, learners, voters_outgoing, addresses)`: the configuration
#: in force changed (or committed membership changes were handed out); `addresses` are the
#: `(id, "host:port")` the changes carried. Comes before the `Apply` of those entries, whose
#: payloads are `b""` (the core carries a membership change out itself).
ACTION_CONF_CHANGED: int
ACTION_SEND_SNAPSHOT: int
#: What the caller does after a poll: wait for input (IDLE), poll again (CONTINUE), let its
#: event loop run once, then poll again (YIELD: the drive slice, half a tick, is used).
NEXT_IDLE: int
NEXT_CONTINUE: int
NEXT_YIELD: int

@final
class NodeDriver:
    """Runs a node's core: the policy of carrying out its Readies (pipelined log writes and
    the stall rule, apply slices, snapshots and the apply backlog, read batches), in the core
    (`senate_core::driver`), the same code the deterministic simulation runs.

    Takes over `core` (the `RaftNode` raises on any later call). With `writer`, the core's
    log writes are submitted to it from inside `poll` and never handed out; drain finished
    ones with `take_completions` when its `fileno()` is readable. Times are
    `time.monotonic_ns()`. A failed log write makes `poll` raise `WalError`: the node stops.
    Raises `ConfigError` naming a bad option.
    """

    def __new__(
        cls,
        core: RaftNode | PaxosNode,
        *,
        tick_ms: float,
        now_ns: int,
        writer: WalWriter | None = None,
        applied: int = 0,
        first_read_id: int = 1,
        max_writes_in_flight: int = ...,
        max_batch_proposals: int = ...,
        snapshot_entries: int = ...,
        snapshot_bytes: int = ...,
        max_apply_backlog_bytes: int = ...,
        follower_write_wait_s: float = 0.0,
    ) -> NodeDriver: ...
    def poll(self, now_ns: int) -> tuple[int, list[tuple]]:  # type: ignore[type-arg]
        """One round of work: `(next, actions)` (see `ACTION_*`, `NEXT_*`), to carry out in
        order. A follower waits here (the GIL released) up to `follower_write_wait_s` for
        its own log write."""
    def take_completions(self, now_ns: int) -> list[tuple]:  # type: ignore[type-arg]
        """The actions the log writes finished since the last call release."""
    def add_ticks(self, n: int) -> None: ...
    def step_stream(self, data: bytes | bytearray) -> int: ...
    def step_snapshot(self, peer_id: int, head: bytes, data: SnapshotData) -> None:
        """Steps a snapshot message received out of band (`ACTION_SEND_SNAPSHOT` at the
        sender) on a stream from `peer_id`: `DecodeError` for a head that is not one,
        `InvalidMessage` for one that claims another sender than `peer_id`."""
    def report_unreachable(self, id: int) -> None: ...
    def may_propose(self) -> bool:
        """False while a leader's writes are at their limit: proposals then wait to share
        the next write."""
    def propose_batch(self, data: list[bytes]) -> None:
        """At most `max_batch_proposals` commands; raises `NotLeader` (keep them, retry)
        or `ProposalDropped`."""
    def request_read(self) -> int:
        """The id of the read batch this read joined (served by `ACTION_SERVE_READS`)."""
    def cancel_read(self, id: int) -> None: ...
    def applied_to(self, index: int) -> None: ...
    def snapshot_now(self) -> None: ...
    def snapshot_started(self, index: int, frozen: bool) -> None: ...
    def snapshot_taken(self, index: int, data: bytes) -> None: ...
    def snapshot_failed(self, index: int) -> None: ...
    def restore_done(self, index: int) -> None:
        """The application holds the state of the snapshot `ACTION_RESTORE` handed out at
        `index` (another index is ignored)."""
    def restore_failed(self, index: int, message: str) -> None:
        """The restore at `index` failed: the next `poll` raises `RestoreFailed`."""
    def compaction_done(self) -> None: ...
    def recovered_snapshot(self, data_bytes: int) -> None:
        """The application was restored at start from a snapshot of that many bytes."""
    def transfer_leader(self, id: int) -> None: ...
    def propose_conf_change(self, changes: list[tuple[str, int, str]]) -> None:
        """Proposes a membership change at the leader: `(type, id, address)` per member, the
        type "add-voter", "add-learner" or "remove", the address `""` when not given. Raises
        `NotLeader` at a follower, `ProposalDropped` ("conf_change_pending") while another
        change is under way, `ConfigError` for a change that does not apply."""
    def conf_state(self) -> tuple[list[int], list[int], list[int], bool]:
        """The configuration in force: `(voters, learners, voters_outgoing, auto_leave)`;
        `voters_outgoing` is not empty while it is joint."""
    def campaign(self) -> None: ...
    def status(self) -> Status | PaxosStatus:
        """The core's status: `Status` for Raft, `PaxosStatus` for Multi-Paxos."""
    @property
    def protocol(self) -> str:
        """One of "raft", "paxos"."""
    @property
    def role(self) -> str:
        """One of "follower", "candidate", "leader"."""
    @property
    def leader(self) -> int | None: ...
    @property
    def epoch(self) -> int:
        """Grows with every leadership: Raft's term, a Paxos ballot in its stored form."""
    @property
    def term(self) -> int:
        """Raft's term; for Multi-Paxos the round of the promised ballot."""
    @property
    def commit_index(self) -> int: ...
    @property
    def applied_index(self) -> int: ...
    @property
    def snapshot_index(self) -> int: ...
    @property
    def restoring(self) -> int | None:
        """The index of the snapshot being restored (handed out, not reported done)."""
    @property
    def empty_disk(self) -> str:
        """See `Status.empty_disk` ("no" for Multi-Paxos)."""
    @property
    def lost_logs_seen(self) -> tuple[int, int]:
        """Raft: (count, last peer id) of the followers this node, as a leader, found to have
        lost their log (see `Status.lost_logs`) since the start; (0, 0) when none."""
    @property
    def now_ticks(self) -> int: ...
    @property
    def ticks_due(self) -> int: ...
    @property
    def writes_in_flight(self) -> int: ...
    @property
    def readies_unadvanced(self) -> int: ...
    @property
    def apply_backlog_bytes(self) -> int: ...
    @property
    def max_batch_proposals(self) -> int: ...
    @property
    def follower_write_wait_s(self) -> float: ...
    @follower_write_wait_s.setter
    def follower_write_wait_s(self, seconds: float) -> None: ...
    def stats(self) -> tuple[int, int, int, int, int, int, int]:
        """(readies, readies_without_write, readies_past_limit, writes, entries_applied,
        snapshots_taken, snapshots_restored) since the start."""

@final
class SimReport:
    """What one simulated run found."""

    @property
    def protocol(self) -> str:
        """The protocol run: "raft" or "paxos"."""
    @property
    def nodes(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def ticks(self) -> int: ...
    @property
    def steps_checked(self) -> int:
        """Invariant checks run: one per `Ready` a node handed out."""
    @property
    def faults_injected(self) -> int: ...
    @property
    def faults(self) -> dict[str, int]:
        """`faults_injected` by kind: drops, duplicates, delays, corruptions, partitions,
        one_way_partitions, crashes, slow_periods."""
    @property
    def committed_entries(self) -> int:
        """Highest index known committed (Multi-Paxos: chosen), no-op entries included."""
    @property
    def violations(self) -> list[str]:
        """Human-readable violations; empty when the run was safe and live."""
    @property
    def ticks_run(self) -> int:
        """Ticks of the fault phase plus the heal phase."""
    @property
    def proposals_accepted(self) -> int: ...
    @property
    def leader_terms(self) -> int:
        """Terms (Raft) or ballots (Multi-Paxos) in which a leader was seen."""
    @property
    def snapshots_restored(self) -> int: ...
    @property
    def reads_confirmed(self) -> int: ...
    @property
    def trace_fingerprint(self) -> int:
        """Fingerprint of every event of the run: equal for two runs of one seed."""
    @property
    def trace(self) -> list[str]:
        """The last `trace_lines` events in words."""

@final
class ThroughputReport:
    """What a fault-free throughput run did; the caller measures the time."""

    @property
    def protocol(self) -> str:
        """The protocol run: "raft" or "paxos"."""
    @property
    def committed_entries(self) -> int: ...
    @property
    def messages(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def error(self) -> str | None:
        """Why the run stopped short of the entries asked for, if it did."""

#: The protocols the simulators run: "raft", "paxos".
SIM_PROTOCOLS: tuple[str, ...]

def run_sim(
    nodes: int, seed: int, ticks: int, *, protocol: str = "raft", trace_lines: int = 0
) -> SimReport:
    """Runs one seeded simulation of a `nodes`-node cluster of `protocol` ("raft" or
    "paxos"): `ticks` ticks of faults, then a heal phase that checks liveness; keeps the last
    `trace_lines` events in words. Raises ValueError for an unknown protocol. The same
    arguments replay the same run exactly. Releases the GIL."""

def encode_snapshot_envelope(parts: list[bytes]) -> bytes:
    """`msgpack.packb(parts)` for a list of bytes (the node runtime's snapshot: one part per
    state machine), built with the interpreter lock released so that a large snapshot taken in
    a worker thread does not stall the event loop. Raises ValueError for a part of 4 GiB or
    more (MessagePack's limit)."""

def run_throughput(
    nodes: int,
    batch: int,
    payload_bytes: int,
    entries: int,
    *,
    protocol: str = "raft",
) -> ThroughputReport:
    """Runs a fault-free cluster of `protocol` until `entries` entries are applied on every
    node. Raises ConfigError for an unknown protocol. Releases the GIL."""

# --- partial-connectivity scenarios -------------------------------------------------------

#: The scenario names, in order: quorum-loss, constrained-election, chained.
SCENARIOS: tuple[str, ...]
#: Recovery deadline unless asked otherwise, in election timeouts after the cut.
DEFAULT_DEADLINE_ELECTION_TIMEOUTS: int
MAX_DEADLINE_ELECTION_TIMEOUTS: int

@final
class ScenarioReport:
    """What one partial-connectivity scenario run found (the Omni-Paxos paper's quorum-loss,
    constrained-election and chained scenarios; `senate_core::sim::partial` defines them)."""

    @property
    def scenario(self) -> str: ...
    @property
    def protocol(self) -> str:
        """The protocol run: "raft" (pre-vote and check-quorum on) or "paxos" (Multi-Paxos,
        majority quorums)."""
    @property
    def nodes(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def election_timeout_ticks(self) -> int: ...
    @property
    def deadline_ticks(self) -> int:
        """Ticks measured after the cut: the deadline in election timeouts times
        `election_timeout_ticks`."""
    @property
    def leader(self) -> int:
        """The leader when the cut came (0 when the run broke before)."""
    @property
    def hub(self) -> int:
        """The follower that stays quorum-connected (0 when the run broke before)."""
    @property
    def hub_lag_entries(self) -> int:
        """Entries the leader had applied and the hub had not, at the cut."""
    @property
    def cut_tick(self) -> int: ...
    @property
    def recovered(self) -> bool:
        """A proposal made after the cut was committed by the deadline."""
    @property
    def ticks_to_recover(self) -> int | None:
        """Ticks from the cut to the first proposal made after it committed."""
    @property
    def leader_changes(self) -> int:
        """Leaderships begun after the cut (distinct epoch and leader)."""
    @property
    def epoch_changes(self) -> int:
        """How far the highest epoch (Raft's term, a Multi-Paxos ballot's round) rose after
        the cut."""
    @property
    def probes_proposed(self) -> int:
        """Proposals made after the cut: one a tick, at the node claiming leadership."""
    @property
    def probes_committed(self) -> int: ...
    @property
    def leader_at_end(self) -> int | None: ...
    @property
    def ticks_run(self) -> int: ...
    @property
    def steps_checked(self) -> int:
        """Safety checks run: one per `Ready` a node handed out."""
    @property
    def violations(self) -> list[str]:
        """Safety violations or a failed setup; empty when the run was safe."""
    @property
    def trace_fingerprint(self) -> int:
        """Fingerprint of every event of the run: equal for two runs of one seed."""
    @property
    def trace(self) -> list[str]:
        """The last `trace_lines` phases and role changes in words."""

def run_scenario(
    scenario: str,
    seed: int,
    *,
    protocol: str = "raft",
    deadline_election_timeouts: int = 10,
    trace_lines: int = 0,
) -> ScenarioReport:
    """Runs one seeded partial-connectivity scenario on `protocol` ("raft" or "paxos"),
    measuring recovery for `deadline_election_timeouts` election timeouts after the cut.
    Raises ValueError for an unknown scenario or protocol. The same arguments replay the same
    run exactly. Releases the GIL."""

# --- failure detection --------------------------------------------------------------------
# Times are float milliseconds on the caller's monotonic clock (`loop.time() * 1000`); they
# must be finite and never go back before the last heartbeat (else `InvalidTime`). Before
# the first heartbeat a detector reports the node available.

@final
class PhiAccrualDetector:
    """The phi accrual failure detector (Hayashibara et al.) as Akka implements it, with
    Akka's defaults. phi grows with the silence since the last heartbeat, scaled by the mean
    and standard deviation of the last `max_samples` intervals; the node is down once phi
    reaches `threshold`. Raises `ConfigError` naming the bad keyword argument."""

    def __new__(
        cls,
        *,
        threshold: float = 8.0,
        max_samples: int = 1000,
        min_std_deviation_ms: float = 100.0,
        acceptable_heartbeat_pause_ms: float = 3000.0,
        first_heartbeat_estimate_ms: float = 1000.0,
    ) -> PhiAccrualDetector: ...
    def heartbeat(self, now_ms: float) -> None:
        """Records a heartbeat that arrived at `now_ms`."""
    def phi(self, now_ms: float) -> float:
        """The suspicion level at `now_ms`: 0 before the first heartbeat, then
        non-decreasing until the next one."""
    def is_available(self, now_ms: float) -> bool:
        """`phi(now_ms) < threshold`."""
    @property
    def last_heartbeat_ms(self) -> float | None: ...
    @property
    def samples(self) -> int:
        """Intervals in the window, at most `max_samples`."""
    @property
    def mean_ms(self) -> float: ...
    @property
    def std_deviation_ms(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def max_samples(self) -> int: ...
    @property
    def min_std_deviation_ms(self) -> float: ...
    @property
    def acceptable_heartbeat_pause_ms(self) -> float: ...
    @property
    def first_heartbeat_estimate_ms(self) -> float: ...

@final
class HeartbeatDetector:
    """The fixed-timeout detector: down once `timeout_ms` passed without a heartbeat.
    Raises `ConfigError` naming `timeout_ms` when it is not positive."""

    def __new__(cls, timeout_ms: float = 5000.0) -> HeartbeatDetector: ...
    def heartbeat(self, now_ms: float) -> None:
        """Records a heartbeat that arrived at `now_ms`."""
    def is_available(self, now_ms: float) -> bool:
        """Less than `timeout_ms` passed since the last heartbeat."""
    def elapsed_ms(self, now_ms: float) -> float:
        """Milliseconds since the last heartbeat (0 before the first)."""
    @property
    def last_heartbeat_ms(self) -> float | None: ...
    @property
    def timeout_ms(self) -> float: ...

@final
class DetectorFigures:
    """How one detector did over every trial of a detection simulation."""

    @property
    def detected(self) -> int:
        """Trials whose stop was detected within `detect_window_ms` of the last arrival."""
    @property
    def missed(self) -> int: ...
    @property
    def mean_detect_ms(self) -> float:
        """Time from the stop to the detection, over the detected trials."""
    @property
    def median_detect_ms(self) -> float: ...
    @property
    def max_detect_ms(self) -> float: ...
    @property
    def false_positives(self) -> int:
        """Suspicions of the live node, each ended by a later heartbeat."""
    @property
    def false_positives_per_hour(self) -> float:
        """`false_positives` per hour of simulated live node."""
    @property
    def suspected_alive_ms(self) -> float:
        """Time the live node spent suspected."""

@final
class DetectSimReport:
    """What one detection simulation run measured; `phi` and `fixed` saw the same traces."""

    @property
    def seed(self) -> int: ...
    @property
    def trials(self) -> int: ...
    @property
    def alive_ms(self) -> float:
        """Simulated time the node was alive, over all trials."""
    @property
    def heartbeats_sent(self) -> int: ...
    @property
    def heartbeats_lost(self) -> int: ...
    @property
    def pauses(self) -> int: ...
    @property
    def max_gap_ms(self) -> float:
        """The longest gap between two arrivals from the live node."""
    @property
    def phi(self) -> DetectorFigures: ...
    @property
    def fixed(self) -> DetectorFigures: ...

def run_detect_sim(
    seed: int = 1,
    *,
    trials: int | None = None,
    interval_ms: float | None = None,
    jitter_ms: float | None = None,
    loss_probability: float | None = None,
    pause_probability: float | None = None,
    mean_pause_ms: float | None = None,
    max_pause_ms: float | None = None,
    stop_at_ms: float | None = None,
    detect_window_ms: float | None = None,
    timeout_ms: float | None = None,
    threshold: float | None = None,
    max_samples: int | None = None,
    min_std_deviation_ms: float | None = None,
    acceptable_heartbeat_pause_ms: float | None = None,
    first_heartbeat_estimate_ms: float | None = None,
) -> DetectSimReport:
    """Runs the seeded detection simulation: `trials` traces of a sender that heartbeats
    every `interval_ms` with delay jitter, loss and exponential GC-like pauses, then stops at
    `stop_at_ms`; the phi accrual detector (`threshold`, ...) and the fixed timeout
    (`timeout_ms`) watch the same traces. `None` keeps the defaults (100 trials of 10 minutes,
    1 s heartbeat, 100 ms jitter, 0.1% loss, 1% pauses of mean 1 s capped at 10 s, Akka's phi
    defaults, a 5 s timeout). The same arguments replay the same run. Raises `ConfigError`
    naming the bad argument. Releases the GIL."""

# --- balancers ----------------------------------------------------------------------------
# Every balancer takes its backends as a list of names (weight 1) or a dict of name to weight
# (in [1, 1,000,000]); `seed` makes its random choices replay. Bad options raise
# `ConfigError` naming the keyword. A key is a str (hashed as UTF-8), bytes, or an int
# (taken modulo 2**64), hashed with XXH3-64: the same backend on every platform and run.

class NoBackendAvailable(SenateError):
    """No backend is eligible: none is left, or all are down and panic mode is off."""

class UnknownBackend(SenateError):
    """No backend has that name."""

    name: str | None

class DuplicateBackend(SenateError):
    """A backend of that name is already present."""

    name: str | None

class NotInFlight(SenateError):
    """`finish` was called for a backend with no request in flight."""

    name: str | None

@final
class RoundRobin:
    """Round robin over the eligible backends; starts at a seeded position."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        panic_threshold: float = 0.5,
    ) -> RoundRobin: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class Random:
    """A uniformly random eligible backend."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        panic_threshold: float = 0.5,
    ) -> Random: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class WeightedRandom:
    """A random backend drawn by weight (alias method, O(1) per pick)."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        panic_threshold: float = 0.5,
        slow_start_ms: float = 0.0,
        slow_start_aggression: float = 1.0,
        slow_start_min_weight_share: float = 0.1,
    ) -> WeightedRandom: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class SmoothWeighted:
    """Smooth weighted round robin exactly as nginx: `{a: 5, b: 1}` gives a a a b a a."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        panic_threshold: float = 0.5,
        slow_start_ms: float = 0.0,
        slow_start_aggression: float = 1.0,
        slow_start_min_weight_share: float = 0.1,
    ) -> SmoothWeighted: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class LeastRequest:
    """Of two random eligible backends, the larger `weight / (in_flight + 1) ** bias`."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        bias: float = 1.0,
        panic_threshold: float = 0.5,
        slow_start_ms: float = 0.0,
        slow_start_aggression: float = 1.0,
        slow_start_min_weight_share: float = 0.1,
    ) -> LeastRequest: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class PeakEwma:
    """Of two random eligible backends, the lower `latency_estimate * (in_flight + 1)`;
    the estimate is a peak EWMA that decays with time constant `decay_ms`."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        decay_ms: float = 10000.0,
        initial_latency_ms: float = 30.0,
        failure_latency_ms: float = 1000.0,
        panic_threshold: float = 0.5,
    ) -> PeakEwma: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...
    def latency_estimate_ms(self, name: str, now_ms: float | None = None) -> float:
        """The latency estimate of `name` decayed to `now_ms` (default: the latest time seen)."""

@final
class RingHash:
    """Ring hash with `vnodes` points per unit of mean weight (Ketama style)."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        vnodes: int = 160,
        panic_threshold: float = 0.5,
    ) -> RingHash: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class Maglev:
    """Maglev hashing, weighted; the table is the same whatever order backends come in.
    `table_size` must be prime (default: the smallest prime >= max(65,537, 100 n))."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        table_size: int | None = None,
        panic_threshold: float = 0.5,
    ) -> Maglev: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...
    @property
    def table_size(self) -> int:
        """`M`, the number of slots of the lookup table (prime)."""

@final
class Rendezvous:
    """Weighted rendezvous (highest random weight) hashing; O(n) per pick."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        panic_threshold: float = 0.5,
    ) -> Rendezvous: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class JumpHash:
    """Jump consistent hash (unweighted); buckets in the order backends were added."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        panic_threshold: float = 0.5,
    ) -> JumpHash: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

@final
class BoundedLoadHash:
    """Ring hash that skips backends holding more than (1 + epsilon) times their share of
    the requests in flight (counted with `start`/`finish`)."""

    def __new__(
        cls,
        backends: list[str] | dict[str, int],
        *,
        seed: int = 0,
        vnodes: int = 160,
        epsilon: float = 0.25,
        panic_threshold: float = 0.5,
    ) -> BoundedLoadHash: ...
    def pick(self, key: str | bytes | int | None = None) -> str:
        """An eligible backend (for `key`, if this balancer hashes keys; the others ignore it).

        Raises `NoBackendAvailable` when no backend is eligible."""
    def pick_many(self, n_or_keys: int | Iterable[str | bytes | int]) -> list[str]:
        """`n` picks, or one pick per key, as a list."""
    def add(self, name: str, weight: int = 1) -> None:
        """Adds a backend, up. Raises `DuplicateBackend`, or `ConfigError` for a bad weight."""
    def remove(self, name: str) -> None:
        """Removes a backend. Raises `UnknownBackend`."""
    def mark_down(self, name: str) -> bool:
        """Marks a backend down; returns whether it was up."""
    def mark_up(self, name: str) -> bool:
        """Marks a backend up; returns whether it was down."""
    def start(self, name: str) -> None:
        """Counts a request to `name` in flight."""
    def finish(
        self, name: str, latency_ms: float = 0.0, ok: bool = True, now_ms: float | None = None
    ) -> None:
        """Counts a request to `name` finished after `latency_ms`, at `now_ms` (default: the
        latest time seen). Raises `NotInFlight` if none was started."""
    def advance(self, now_ms: float) -> None:
        """Moves time on (milliseconds, any fixed origin): slow start ramps, estimates decay."""
    def request(self, key: str | bytes | int | None = None) -> Request:
        """A context manager around one request: picks, starts, and finishes with its latency."""
    @property
    def backends(self) -> list[str]:
        """The backends' names in insertion order."""
    @property
    def in_panic(self) -> bool:
        """Fewer than `panic_threshold` of the backends are up: all are eligible."""
    def weight(self, name: str) -> int: ...
    def is_up(self, name: str) -> bool: ...
    def in_flight(self, name: str) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str, /) -> bool: ...

class KvError(SenateError):
    """A key-value batch, snapshot or reply stream is malformed (a client's bad command is
    never an exception: it gets a RESP error reply)."""

GROUP_REPLY: int
"""`RespSession.feed` group: bytes to send to the client as they are."""
GROUP_LOG: int
"""Group: an encoded batch with a write; replicate it, then send `KvStore.apply`'s replies."""
GROUP_READ: int
"""Group: an encoded batch of reads; run `KvStore.read` after a linearizable read barrier."""
GROUP_STALE_READ: int
"""Group: an encoded batch of reads of a READONLY connection; run `KvStore.read` at once."""
GROUP_NODE: int
"""Group: one encoded single-command batch for the node itself (INFO); see `decode_batch`."""
GROUP_CLOSE: int
"""Group: send these bytes, then close the connection; always the last group."""
GROUP_WATCH: int
"""Group: WATCH's one-command batch; run `KvStore.read` after a read barrier (or `apply` it
through the log behind the connection's writes in flight), and send what
`RespSession.watched` makes of its reply; always the last group (the session parses nothing
more until `watched`)."""
GROUP_EXEC_LOG: int
"""Group: a transaction with a write whose queued connection commands change the connection;
replicate it as a `GROUP_LOG` batch and send what `RespSession.executed` makes of its reply;
always the last group (the session parses nothing more until `executed`)."""
GROUP_EXEC_READ: int
"""Group: the same for a transaction of reads, run as a `GROUP_WATCH` batch is."""
GROUP_EXEC_NODE: int
"""Group: the INFO commands a transaction queued, as one batch (see `decode_batch`): hand
their replies to `RespSession.node_replied`, then feed again; always the last group."""

@final
class KvStore:
    """The replicated key-value map of byte strings, with deterministic expiry.

    Every replica applies the same log batches (`apply`) in the same order and so holds the
    same keys. The store's clock is the largest `now_ms` of the applied batches; each applied
    batch deletes at most 64 expired keys and expires at most 64 idle client sessions. KEYS refuses to return more than
    `max_keys_result` keys.
    """

    def __new__(cls, *, max_keys_result: int = 100_000) -> KvStore: ...
    def apply(self, batch: bytes) -> bytes:
        """Runs a Log batch (writes and the reads ordered with them); returns the
        concatenated replies, in the protocol (RESP2 or RESP3) the batch names. Raises
        `KvError` if the batch is malformed (nothing ran)."""
    def read(self, batch: bytes, now_ms: int) -> bytes:
        """Runs a Read or StaleRead batch at `max(store clock, now_ms)`; a write in it gets a
        `-READONLY` reply and never runs. Raises `KvError` if the batch is malformed."""
    def snapshot(self) -> bytes:
        """The whole store (clock, keys, values, deadlines) as bytes (runs without the GIL)."""
    def capture(self) -> KvCapture:
        """The store as it is now, for a snapshot taken while the store goes on applying: a
        copy that shares the store's 256 hash tables (so every key and value) until the store
        writes to one, which then copies that table alone (copy on write). Taking it costs
        microseconds at any size; its `snapshot()` runs in any thread."""
    def restore(self, data: bytes) -> None:
        """Replaces the store with a `snapshot`. Raises `KvError` if `data` is malformed; the
        store is unchanged then."""
    def restored(self, data: SnapshotData | bytes) -> KvStore:
        """A new store holding the `snapshot` `data` (read in place, not copied first; the
        new store holds only what it decoded from it), with this store's settings; this store is not changed, nor borrowed while decoding (which runs without
        the GIL), so a worker thread may build it while another reads and applies to this
        one. Raises `KvError` if `data` is malformed."""
    def swap_in(self, restored: KvStore) -> None:
        """Takes the contents of `restored` (left empty) in place of this store's; the old
        contents are freed in another thread, so this costs microseconds at any size."""
    def __len__(self) -> int:
        """Live keys at the store's clock (DBSIZE)."""
    def expiring_len(self) -> int:
        """Live keys with a deadline at the store's clock (INFO's `expires`)."""
    def memory_bytes(self) -> int:
        """An allocator-agnostic estimate of the store's heap bytes (table slots at capacity,
        key and value bytes, expiry index); allocator headers are not included."""
    @property
    def now_ms(self) -> int:
        """The store's clock: the largest `now_ms` of any applied batch."""
    @property
    def session_count(self) -> int:
        """Client sessions open (`SENATE.SESSION OPEN`; see docs/exactly-once.md)."""

@final
class KvCapture:
    """A `KvStore` as it was when `KvStore.capture` was called."""

    def snapshot(self) -> bytes:
        """The captured store as `KvStore.snapshot` would have given it then (runs without
        the GIL)."""

@final
class RespSession:
    """One client connection's RESP protocol state: RESP2 until the client sends `HELLO 3`,
    which switches the replies (session replies and the batches' replies) to RESP3.

    `feed` parses every complete command and returns `(GROUP_*, payload)` pairs in command
    order. Commands of one Log or Read batch number at most `max_batch_commands`; once a feed
    has batched a write, its later reads join Log batches (so a pipelined `SET k v; GET k`
    reads its write). A value longer than `max_value_bytes` is skipped as it arrives and its
    command answered `-ERR value too large`. A protocol error gives a final `GROUP_CLOSE`.
    `client_id` is what CLIENT ID and HELLO report. With `users`, the connection starts as
    their default user, or unauthenticated (`-NOAUTH` to all but AUTH, HELLO and QUIT) when
    that one is off or has passwords; each command is checked against its user's permissions
    (`-NOPERM`). Without, it is Redis's `nopass` default user, allowed everything. Raises
    `ConfigError` naming a bad field.
    """

    def __new__(
        cls,
        *,
        max_value_bytes: int = 512 << 20,
        max_args: int = 65_536,
        max_batch_commands: int = 1024,
        client_id: int = 0,
        users: AclUsers | None = None,
    ) -> RespSession: ...
    def feed(self, data: bytes, now_ms: int) -> list[tuple[int, bytes]]:
        """Parses what `data` completes; batches carry `now_ms` (wall clock, ms) as their
        clock. An incomplete command's bytes are kept for the next feed. After a
        `GROUP_CLOSE`, returns nothing."""
    @property
    def name(self) -> bytes | None:
        """The name set by CLIENT SETNAME or HELLO SETNAME."""
    @property
    def readonly(self) -> bool:
        """Whether READONLY switched this connection to stale reads."""
    @property
    def user(self) -> str:
        """The ACL user the connection is authenticated as (`default` before it is)."""
    @property
    def authenticated(self) -> bool:
        """Whether the connection authenticated (or needed not to)."""
    @property
    def protocol(self) -> int:
        """The reply protocol: 2 (RESP2), or 3 after `HELLO 3`."""
    @property
    def buffered_bytes(self) -> int:
        """Received bytes held for an incomplete command (the server bounds this)."""
    @property
    def over_maxmemory(self) -> bool:
        """While True, writes that can take memory (Redis's `denyoom` ones, as COMMAND INFO
        lists them; SENATE.EXEC by the command it wraps) are answered
        `-OOM command not allowed when used memory > 'maxmemory'.` and never batched. The
        server sets it before each feed from its store."""
    @over_maxmemory.setter
    def over_maxmemory(self, over: bool) -> None: ...
    @property
    def closed(self) -> bool:
        """Whether a `GROUP_CLOSE` was returned (QUIT or a protocol error), or `close` called."""
    def watched(self, reply: bytes) -> bytes:
        """Takes the reply of a `GROUP_WATCH` batch: records the watched keys' versions and
        returns the reply to send (`+OK`, or the node's error as it is). Parsing resumes:
        feed the session again (`b""` will do) for the commands held meanwhile."""
    def executed(self, reply: bytes) -> bytes:
        """Takes the reply of a `GROUP_EXEC_LOG` or `GROUP_EXEC_READ` batch and returns the
        reply to send (the same bytes); if the transaction ran, the connection takes the state
        its queued connection commands left (name, protocol, user...). Parsing resumes, as
        after `watched`."""
    def node_replied(self, replies: list[bytes]) -> None:
        """Takes the replies of a `GROUP_EXEC_NODE` batch's commands (INFO), in order; the
        next feed (`b""` will do) runs the EXEC with them in their places."""
    @property
    def in_transaction(self) -> bool:
        """Whether the connection is between MULTI and EXEC (or DISCARD)."""
    def close(self) -> None:
        """Drops the buffered input at once and ignores every later feed (the server closed
        the connection)."""

@final
class AclUsers:
    """The ACL users of a key-value server, fixed for its life and shared by its sessions.

    `users` are lines of a Redis ACL file (`user app on #<sha256 hex> ~* +@read -@dangerous`),
    the enforced subset of the syntax: `on`/`off`, `#<hex>`, `nopass`, `resetpass`, `~*` or
    `allkeys` (no other key pattern), `+@category`/`-@category`, `+command`/`-command` (and
    `command|subcommand`), `allcommands`, `nocommands`, `reset`; channel rules are taken and
    mean nothing. `requirepass` (`#<hex>`) is the default user's only password. A `default`
    user the lines do not name is Redis's: `on nopass ~* +@all`. A refused line or rule
    raises `ConfigError` whose `field` names it (`auth.users[1]`, `auth.requirepass`).
    """

    def __new__(cls, users: list[str] = ..., requirepass: str | None = None) -> AclUsers: ...
    def describe(self) -> list[str]:
        """Every user as `ACL LIST` shows it (a line that parses back to the same user), by
        name."""
    @property
    def auth_required(self) -> bool:
        """Whether connections must authenticate: the default user is off or has passwords."""
    def __len__(self) -> int: ...

def decode_batch(batch: bytes) -> list[list[bytes]]:
    """The commands of an encoded batch (for `GROUP_NODE`: INFO and its arguments).
    Raises `KvError` if malformed."""

def batch_reply_count(batch: bytes) -> int:
    """How many replies a client waits for from an encoded batch, read from its header (the
    batch is checked but not copied): one per command, but one for a transaction (its EXEC).
    Raises `KvError` if malformed."""

def encode_command(args: list[bytes]) -> bytes:
    """One command as a RESP multibulk request."""

def write_command_names() -> list[str]:
    """The names of the key-value commands that change the store, uppercase (the commands
    `SENATE.EXEC` wraps; see docs/exactly-once.md)."""

def count_replies(data: bytes) -> tuple[int, int, int]:
    """`(replies, used_bytes, error_replies)`: the complete top-level RESP2 or RESP3 replies
    at the start of `data` (an array, map or set counts as one; errors are `-` and `!`; a
    RESP3 push is consumed but not counted). Raises `KvError` on bytes that are no reply."""

# --- the linearizability checker ----------------------------------------------------------

#: The models `check_history` knows: "kv" (a register per key), "counter".
CHECK_MODELS: tuple[str, ...]
#: Model steps each key's search may take by default before the answer is "unknown".
DEFAULT_MAX_STEPS_PER_PART: int
#: Threads a check may use, at most.
MAX_CHECK_THREADS: int
#: The largest `max_steps_per_part`.
MAX_STEPS_PER_PART: int

@final
class CheckReport:
    """What `check_history` found."""

    @property
    def status(self) -> str:
        """ "ok", "illegal" or "unknown"."""
    @property
    def key(self) -> str | None:
        """The illegal part's key (the first in key order)."""
    @property
    def prefix(self) -> list[int]:
        """The longest linearizable prefix of the illegal part found, as operation ids."""
    @property
    def blocked(self) -> int | None:
        """The operation that has to take effect after `prefix` and cannot."""
    @property
    def state(self) -> str | None:
        """The object's state after `prefix`, as the model describes it."""
    @property
    def unknown_keys(self) -> list[str]:
        """The keys whose search ran out of budget (status "unknown")."""
    @property
    def linearizations(self) -> list[tuple[str, list[int]]]:
        """(key, operation ids in the order they took effect) per key linearized, in key order."""
    @property
    def parts(self) -> int:
        """Keys in the history."""
    @property
    def steps(self) -> int:
        """Model steps the verdict rests on (the same on every run)."""

def check_history(
    model: str,
    operations: Iterable[object],
    *,
    max_steps_per_part: int = ...,
    threads: int = 0,
) -> CheckReport:
    """Checks `operations` (objects with the attributes of `senate.check.Operation`) against
    `model`, without the GIL. `threads` 0: one per core; the answer does not depend on it.
    Raises `HistoryError` naming the first bad operation, `ConfigError` for a bad model or
    option."""
