//! Multi-Paxos through the production driver: three `Driver<PaxosNode>`s over durable logs
//! (persistence by the caller) whose writes the test completes by hand with `writes_done`,
//! frames passed between them. The `Consensus` impl must give the driver what it gives Raft:
//! an election, commands applied in one order everywhere only once durable, reads served,
//! snapshots taken, compacted and restored by a lagging follower (sent in a frame, or out of
//! band with `stream_snapshots`, by the leader or by a promiser in phase 1), and a crash that
//! loses only the writes in flight.

mod paxos_common;

use bytes::Bytes;
use paxos_common::{decode_app, encode_app, App};
use senate_core::codec::decode_paxos_message;
use senate_core::driver::{Action, Consensus, Driver, DriverOptions, Next, NodeRole, WriteId};
use senate_core::paxos::{Body, PaxosConfig, PaxosNode};
use senate_core::{EntryKind, MemStorage, NodeId, PersistMode, Storage};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const TICK_NS: u64 = 10_000_000;

struct Peer {
    driver: Driver<PaxosNode>,
    /// Writes handed out and not yet completed, oldest first.
    writes: VecDeque<WriteId>,
    app: App,
    reads_served: Vec<u64>,
    restores: usize,
    /// Snapshots stepped in through `step_snapshot`.
    snapshots_streamed_in: usize,
}

/// A snapshot sent out of band: (from, the sender's role when it sent it, to, head, data).
type Stream = (NodeId, NodeRole, NodeId, Bytes, Bytes);

struct Cluster {
    peers: BTreeMap<NodeId, Peer>,
    queue: VecDeque<(NodeId, NodeId, Bytes)>,
    /// Snapshots sent out of band, delivered after the frames.
    streams: VecDeque<Stream>,
    /// Every stream delivered, in order.
    streamed: Vec<(NodeId, NodeRole, NodeId)>,
    /// InstallSnapshot messages delivered in frames.
    snapshot_frames: usize,
    down: BTreeSet<NodeId>,
    now_ns: u64,
    /// Complete writes as soon as they are handed out.
    auto_write: bool,
}

fn options(node: &PaxosNode, snapshot_entries: u64) -> DriverOptions {
    let mut options = DriverOptions::derive(node.timing(), TICK_NS, node.id());
    options.durable = true;
    options.max_writes_in_flight = 4;
    options.snapshot_entries = snapshot_entries;
    options
}

impl Cluster {
    fn new(snapshot_entries: u64) -> Cluster {
        Cluster::with_streams(snapshot_entries, false)
    }

    fn with_streams(snapshot_entries: u64, stream_snapshots: bool) -> Cluster {
        let voters = vec![1, 2, 3];
        let mut peers = BTreeMap::new();
        for &id in &voters {
            let mut cfg = PaxosConfig::new(id, voters.clone());
            cfg.seed = id * 31;
            let mut node = PaxosNode::with_mode(&cfg, MemStorage::new(voters.clone()), PersistMode::ByCaller)
                .expect("valid config");
            node.stream_snapshots = stream_snapshots;
            let options = options(&node, snapshot_entries);
            let driver = Driver::new(node, options, 0, 0).expect("valid options");
            peers.insert(
                id,
                Peer {
                    driver,
                    writes: VecDeque::new(),
                    app: Vec::new(),
                    reads_served: Vec::new(),
                    restores: 0,
                    snapshots_streamed_in: 0,
                },
            );
        }
        Cluster {
            peers,
            queue: VecDeque::new(),
            streams: VecDeque::new(),
            streamed: Vec::new(),
            snapshot_frames: 0,
            down: BTreeSet::new(),
            now_ns: 0,
            auto_write: true,
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.peers.iter().find(|(_, p)| p.driver.role() == NodeRole::Leader).map(|(&id, _)| id)
    }

    /// Polls `id` until idle, carrying out every action.
    fn settle(&mut self, id: NodeId) {
        for _ in 0..1_000 {
            let now = self.now_ns;
            let peer = self.peers.get_mut(&id).expect("peer");
            let mut out = Vec::new();
            let next = peer.driver.poll(now, &mut out).expect("no write fails");
            for action in out {
                self.carry_out(id, action);
            }
            if self.auto_write {
                self.complete_writes(id);
            }
            if next == Next::Idle {
                return;
            }
        }
        panic!("node {id} never went idle");
    }

    fn carry_out(&mut self, id: NodeId, action: Action) {
        let peer = self.peers.get_mut(&id).expect("peer");
        match action {
            Action::Send { to, frames } => self.queue.push_back((id, to, Bytes::from(frames))),
            Action::Write { id: write, batch } => {
                assert!(batch.must_sync, "only batches that promise something are written");
                peer.writes.push_back(write);
            }
            Action::Apply { entries, .. } => {
                let stored = peer.driver.core().storage().last_index();
                let mut last = 0;
                for e in &entries {
                    assert!(e.index <= stored, "node {id} applies slot {} before it is durable", e.index);
                    if e.kind == EntryKind::Normal {
                        peer.app.push((e.index, e.data.to_vec()));
                    }
                    last = e.index;
                }
                peer.driver.applied_to(last);
            }
            Action::ServeReads { reads } => peer.reads_served.extend(reads.iter().map(|(batch, _)| *batch)),
            Action::TakeSnapshot { index } => {
                peer.driver.snapshot_started(index, false);
                peer.driver.snapshot_taken(index, encode_app(&peer.app));
            }
            Action::Compact { .. } => peer.driver.compaction_done(),
            Action::Restore { snapshot } => {
                peer.app = decode_app(&snapshot.data);
                peer.restores += 1;
                peer.driver.restore_done(snapshot.meta.index);
            }
            Action::Durable { .. } | Action::Role { .. } | Action::SnapshotSkipped { .. } => {}
            Action::ConfChanged { .. } => {}
            Action::SendSnapshot { send } => {
                let role = peer.driver.role();
                self.streams.push_back((id, role, send.to, Bytes::from(send.head), send.snapshot.data));
            }
        }
    }

    /// Completes every write `id` has in flight (the disk caught up).
    fn complete_writes(&mut self, id: NodeId) {
        let now = self.now_ns;
        let peer = self.peers.get_mut(&id).expect("peer");
        if let Some(&last) = peer.writes.back() {
            peer.writes.clear();
            let mut out = Vec::new();
            peer.driver.writes_done(last, now, &mut out);
            for action in out {
                self.carry_out(id, action);
            }
        }
    }

    fn deliver(&mut self) {
        while let Some((from, to, frames)) = self.queue.pop_front() {
            if self.down.contains(&from) || self.down.contains(&to) {
                continue;
            }
            self.snapshot_frames += count_snapshot_frames(&frames);
            let peer = self.peers.get_mut(&to).expect("peer");
            let used = peer.driver.step_stream(&frames).expect("well-formed frames");
            assert_eq!(used, frames.len(), "whole frames");
        }
        while let Some((from, role, to, head, data)) = self.streams.pop_front() {
            if self.down.contains(&from) || self.down.contains(&to) {
                continue;
            }
            let peer = self.peers.get_mut(&to).expect("peer");
            peer.driver.step_snapshot(from, &head, data).expect("a well-formed head");
            peer.snapshots_streamed_in += 1;
            self.streamed.push((from, role, to));
        }
    }

    /// One tick of time: every node ticks, and the network settles.
    fn tick(&mut self) {
        self.now_ns += TICK_NS;
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        for &id in &ids {
            self.peers.get_mut(&id).expect("peer").driver.add_ticks(1);
        }
        for _ in 0..50 {
            for &id in &ids {
                self.settle(id);
            }
            if self.queue.is_empty() && self.streams.is_empty() {
                return;
            }
            self.deliver();
        }
    }

    fn elect(&mut self) -> NodeId {
        for _ in 0..100 {
            self.tick();
            if let Some(leader) = self.leader() {
                return leader;
            }
        }
        panic!("no leader");
    }

    fn app(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.peers[&id].app.iter().map(|(_, d)| d.clone()).collect()
    }
}

/// InstallSnapshot messages among `frames`.
fn count_snapshot_frames(frames: &Bytes) -> usize {
    let (mut at, mut count) = (0, 0);
    while at < frames.len() {
        let (msg, used) = decode_paxos_message(&frames.slice(at..), usize::MAX).expect("a frame").expect("whole");
        count += usize::from(matches!(msg.body, Body::Snapshot { .. }));
        at += used;
    }
    count
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("cmd-{i}"))
}

#[test]
fn the_driver_runs_a_paxos_cluster_commands_are_applied_in_one_order_once_durable() {
    let mut cluster = Cluster::new(0);
    let leader = cluster.elect();
    let follower = if leader == 1 { 2 } else { 1 };
    for i in 0..10 {
        let at = if i % 2 == 0 { leader } else { follower };
        cluster.peers.get_mut(&at).expect("peer").driver.propose_batch(vec![payload(i)]).expect("taken or forwarded");
        cluster.tick();
    }
    for _ in 0..3 {
        cluster.tick();
    }
    let expected: Vec<Vec<u8>> = (0..10).map(|i| payload(i).to_vec()).collect();
    for id in 1..=3 {
        assert_eq!(cluster.app(id), expected, "node {id}");
    }
    let epoch = cluster.peers[&leader].driver.epoch();
    assert!(epoch > 0, "the epoch is the promised ballot");
    for id in 1..=3 {
        assert_eq!(cluster.peers[&id].driver.epoch(), epoch, "node {id} agrees on the epoch");
        assert_eq!(cluster.peers[&id].driver.leader(), Some(leader));
    }
}

#[test]
fn the_leaders_own_write_must_complete_before_its_commands_are_applied() {
    let mut cluster = Cluster::new(0);
    let leader = cluster.elect();
    cluster.auto_write = false;
    cluster.peers.get_mut(&leader).expect("peer").driver.propose_batch(vec![payload(1)]).expect("leader");
    for _ in 0..3 {
        cluster.tick();
        for id in 1..=3 {
            if id != leader {
                cluster.complete_writes(id);
            }
        }
    }
    assert!(cluster.app(leader).is_empty(), "the leader's own write is pending: nothing applied there");
    cluster.auto_write = true;
    cluster.complete_writes(leader);
    cluster.tick();
    cluster.tick();
    for id in 1..=3 {
        assert_eq!(cluster.app(id), vec![payload(1).to_vec()], "node {id}");
    }
}

#[test]
fn reads_are_served_through_the_driver_at_the_leader_and_a_follower() {
    let mut cluster = Cluster::new(0);
    let leader = cluster.elect();
    let follower = if leader == 1 { 2 } else { 1 };
    cluster.peers.get_mut(&leader).expect("peer").driver.propose_batch(vec![payload(1)]).expect("leader");
    cluster.tick();
    let at_leader = cluster.peers.get_mut(&leader).expect("peer").driver.request_read();
    let at_follower = cluster.peers.get_mut(&follower).expect("peer").driver.request_read();
    cluster.tick();
    cluster.tick();
    assert_eq!(cluster.peers[&leader].reads_served, vec![at_leader]);
    assert_eq!(cluster.peers[&follower].reads_served, vec![at_follower]);
}

#[test]
fn a_follower_that_was_down_restores_the_leaders_snapshot_through_the_driver() {
    for stream_snapshots in [false, true] {
        let cluster = lagging_follower_restores_the_leaders_snapshot(stream_snapshots);
        if stream_snapshots {
            assert_eq!(cluster.snapshot_frames, 0, "no snapshot in a frame");
            // From the leader, or from a promiser if the follower campaigned when it came back.
            assert!(!cluster.streamed.is_empty(), "the snapshot came out of band");
        } else {
            assert!(cluster.snapshot_frames > 0, "the snapshot came in a frame");
            assert!(cluster.streamed.is_empty());
        }
    }
}

fn lagging_follower_restores_the_leaders_snapshot(stream_snapshots: bool) -> Cluster {
    let mut cluster = Cluster::with_streams(4, stream_snapshots);
    let leader = cluster.elect();
    let down = if leader == 3 { 2 } else { 3 };
    cluster.down.insert(down);
    for i in 0..20 {
        cluster.peers.get_mut(&leader).expect("peer").driver.propose_batch(vec![payload(i)]).expect("leader");
        cluster.tick();
    }
    assert!(cluster.peers[&leader].driver.snapshot_index() > 0, "the leader snapshotted and compacted");
    cluster.down.clear();
    for _ in 0..10 {
        cluster.tick();
    }
    let expected: Vec<Vec<u8>> = (0..20).map(|i| payload(i).to_vec()).collect();
    assert_eq!(cluster.app(down), expected);
    assert_eq!(cluster.peers[&down].restores, 1, "caught up from the leader's snapshot");
    let streamed_in = cluster.peers[&down].snapshots_streamed_in;
    assert_eq!(streamed_in, usize::from(stream_snapshots), "stepped in through step_snapshot");
    cluster
}

/// A lagging node that campaigns (asked to: a transfer to itself) lacks slots its promisers
/// compacted: each sends its snapshot with its promise, out of band, the former leader (a
/// follower once it promised) included; the candidate gives up and catches up from it.
#[test]
fn a_lagging_candidate_catches_up_from_its_promisers_streamed_snapshots() {
    let mut cluster = Cluster::with_streams(4, true);
    let leader = cluster.elect();
    let down = if leader == 3 { 2 } else { 3 };
    cluster.down.insert(down);
    for i in 0..20 {
        cluster.peers.get_mut(&leader).expect("peer").driver.propose_batch(vec![payload(i)]).expect("leader");
        cluster.tick();
    }
    cluster.down.clear();
    cluster.peers.get_mut(&down).expect("peer").driver.core_mut().transfer_leader(down).expect("campaigns");
    for _ in 0..20 {
        cluster.tick();
    }
    let expected: Vec<Vec<u8>> = (0..20).map(|i| payload(i).to_vec()).collect();
    assert_eq!(cluster.app(down), expected);
    assert_eq!(cluster.snapshot_frames, 0, "no snapshot in a frame");
    let from_promisers: Vec<_> =
        cluster.streamed.iter().filter(|&&(_, role, to)| to == down && role != NodeRole::Leader).collect();
    assert!(!from_promisers.is_empty(), "a promiser streamed its snapshot: {:?}", cluster.streamed);
    assert!(cluster.peers[&down].restores >= 1);
    assert!(cluster.leader().is_some(), "a leader again");
}

#[test]
fn a_crash_loses_only_the_writes_in_flight() {
    let mut cluster = Cluster::new(0);
    let leader = cluster.elect();
    for i in 0..3 {
        cluster.peers.get_mut(&leader).expect("peer").driver.propose_batch(vec![payload(i)]).expect("leader");
        cluster.tick();
    }
    // The follower's writes now stay pending; it crashes with them.
    let follower = if leader == 1 { 2 } else { 1 };
    cluster.auto_write = false;
    cluster.peers.get_mut(&leader).expect("peer").driver.propose_batch(vec![payload(3)]).expect("leader");
    cluster.tick();
    cluster.complete_writes(leader);
    let peer = cluster.peers.get_mut(&follower).expect("peer");
    let applied = peer.driver.applied_index();
    assert!(!peer.writes.is_empty(), "the follower has a write in flight");
    peer.writes.clear();
    peer.driver.core_mut().crash_restart(applied).expect("restart");
    peer.driver.crash(applied, cluster.now_ns);
    cluster.auto_write = true;
    for _ in 0..10 {
        cluster.tick();
    }
    let expected: Vec<Vec<u8>> = (0..4).map(|i| payload(i).to_vec()).collect();
    for id in 1..=3 {
        assert_eq!(cluster.app(id), expected, "node {id}");
    }
}

/// A head that is not a Multi-Paxos InstallSnapshot without data, or that no correct peer
/// sends, is an error (the caller drops that stream) and changes nothing.
#[test]
fn a_bad_snapshot_head_is_refused_and_changes_nothing() {
    use senate_core::codec::encode_paxos_message;
    use senate_core::paxos::{Ballot, PaxosMessage};
    use senate_core::{Snapshot, SnapshotMeta};
    let mut cluster = Cluster::with_streams(0, true);
    let leader = cluster.elect();
    let follower = if leader == 1 { 2 } else { 1 };
    let head = |from: NodeId, to: NodeId, ballot: Ballot, data: &'static [u8]| {
        let meta = SnapshotMeta { index: 50, term: ballot.to_u64(), ..SnapshotMeta::default() };
        let snapshot = Snapshot { meta, data: Bytes::from_static(data) };
        let mut out = Vec::new();
        encode_paxos_message(&PaxosMessage::new(from, to, ballot, Body::Snapshot { snapshot }), &mut out);
        Bytes::from(out)
    };
    let third = 6 - leader - follower;
    let promised = cluster.peers[&follower].driver.core().promised();
    // (the stream's sender, the head)
    let bad = [
        (leader, Bytes::from_static(b"not a frame at all")),
        (leader, head(leader, follower, promised, b"data in the head")),
        (follower, head(follower, follower, Ballot::new(promised.round, follower), b"")),
        (leader, head(leader, 9, promised, b"")),
        (leader, Bytes::new()),
        // A member with a valid certificate for the third node speaking for the leader at
        // its ballot: the head is well-formed, its `from` is not the stream's sender.
        (third, head(leader, follower, promised, b"")),
    ];
    let chosen = cluster.peers[&follower].driver.core().chosen();
    for (from, head) in bad {
        let peer = cluster.peers.get_mut(&follower).expect("peer");
        let stepped = peer.driver.step_snapshot(from, &head, Bytes::from_static(b"state"));
        assert!(stepped.is_err(), "{head:?} from {from} was taken");
    }
    cluster.tick();
    assert_eq!(cluster.peers[&follower].driver.core().chosen(), chosen, "nothing installed");
    assert_eq!(cluster.peers[&follower].restores, 0);
}
