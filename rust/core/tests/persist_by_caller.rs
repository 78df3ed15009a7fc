//! `MemNode` in `PersistMode::ByCaller`: the mode the Python node drives over the durable log.
//! The caller holds each `PersistBatch` as "the disk", makes it durable later, and only then
//! sends the messages that promise durability.

use bytes::Bytes;
use senate_core::raft::mem_node::StepError;
use senate_core::{Config, Entry, HardState, MemNode, MemStorage, PersistMode, Role};
use std::collections::BTreeMap;

/// A cluster of `ByCaller` nodes whose "disks" are the batches their driver wrote.
struct Cluster {
    nodes: BTreeMap<u64, MemNode>,
    /// What each node's driver made durable, in order (the model of its WAL).
    disks: BTreeMap<u64, Disk>,
    /// Frames in flight to each node.
    inbox: BTreeMap<u64, Vec<u8>>,
    applied: BTreeMap<u64, Vec<Bytes>>,
}

#[derive(Default, Clone)]
struct Disk {
    hard_state: HardState,
    storage: Option<MemStorage>,
}

impl Cluster {
    fn new(n: u64) -> Cluster {
        Cluster::with_pre_vote(n, true)
    }

    fn with_pre_vote(n: u64, pre_vote: bool) -> Cluster {
        let voters: Vec<u64> = (1..=n).collect();
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            inbox: BTreeMap::new(),
            applied: BTreeMap::new(),
        };
        for &id in &voters {
            let mut config = Config::new(id, voters.clone());
            config.pre_vote = pre_vote;
            let storage = MemStorage::new(voters.clone());
            c.nodes.insert(id, MemNode::with_mode(&config, storage.clone(), PersistMode::ByCaller).unwrap());
            c.disks.insert(id, Disk { storage: Some(storage), ..Disk::default() });
            c.inbox.insert(id, Vec::new());
            c.applied.insert(id, Vec::new());
        }
        c
    }

    /// Handles one Ready of `id`: sends `messages`, checks that nothing waiting on persistence
    /// leaves early, "fsyncs" the batch, then sends the rest, applies and advances.
    fn handle_ready(&mut self, id: u64) -> bool {
        let node = self.nodes.get_mut(&id).unwrap();
        let Some(rd) = node.ready() else { return false };
        for (to, frames) in &rd.messages {
            self.inbox.get_mut(to).unwrap().extend_from_slice(frames);
        }
        if let Some(batch) = &rd.persist {
            let disk = self.disks.get_mut(&id).unwrap();
            let storage = disk.storage.as_mut().unwrap();
            storage.persist(batch.snapshot.as_ref(), batch.entries.clone(), batch.hard_state).unwrap();
            if let Some(hs) = batch.hard_state {
                disk.hard_state = hs;
            }
        }
        for (to, frames) in &rd.persisted_messages {
            self.inbox.get_mut(to).unwrap().extend_from_slice(frames);
        }
        let applied = self.applied.get_mut(&id).unwrap();
        applied.extend(rd.committed_entries.iter().filter(|e| !e.data.is_empty()).map(|e| e.data.clone()));
        node.advance();
        true
    }

    fn deliver(&mut self, id: u64) -> bool {
        let frames = std::mem::take(self.inbox.get_mut(&id).unwrap());
        if frames.is_empty() {
            return false;
        }
        let buf = Bytes::from(frames);
        let consumed = self.nodes.get_mut(&id).unwrap().step_stream(&buf).unwrap();
        assert_eq!(consumed, buf.len(), "whole frames were queued");
        true
    }

    fn stabilize(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for _ in 0..1000 {
            let mut busy = false;
            for &id in &ids {
                busy |= self.handle_ready(id);
                busy |= self.deliver(id);
            }
            if !busy {
                return;
            }
        }
        panic!("cluster did not settle");
    }

    /// Ticks the leader once and stabilizes: followers learn a commit index no append carried.
    fn spread_commit(&mut self) {
        if let Some(id) = self.leader() {
            self.nodes.get_mut(&id).unwrap().raw.tick();
        }
        self.stabilize();
    }

    fn leader(&self) -> Option<u64> {
        self.nodes.iter().find(|(_, n)| n.status().role == Role::Leader).map(|(&id, _)| id)
    }
}

#[test]
fn by_caller_nodes_elect_replicate_and_apply() {
    let mut c = Cluster::new(3);
    c.nodes.get_mut(&1).unwrap().raw.campaign();
    c.stabilize();
    assert_eq!(c.leader(), Some(1));
    for i in 0..50u32 {
        c.nodes.get_mut(&1).unwrap().raw.propose(Bytes::copy_from_slice(&i.to_be_bytes())).unwrap();
    }
    c.stabilize();
    c.spread_commit();
    let expect: Vec<Bytes> = (0..50u32).map(|i| Bytes::copy_from_slice(&i.to_be_bytes())).collect();
    for id in 1..=3 {
        assert_eq!(c.applied[&id], expect, "node {id}");
        // The node's own copy of the log equals what its driver made durable.
        let node_log = log_of(c.nodes[&id].raw.storage());
        let disk_log = log_of(c.disks[&id].storage.as_ref().unwrap());
        assert_eq!(node_log, disk_log, "node {id}");
    }
}

fn log_of(s: &MemStorage) -> Vec<Entry> {
    use senate_core::Storage;
    s.entries(s.first_index(), s.last_index() + 1, usize::MAX).unwrap()
}

#[test]
fn a_vote_is_not_sent_before_it_is_persisted() {
    let mut c = Cluster::with_pre_vote(3, false);
    c.nodes.get_mut(&1).unwrap().raw.campaign();
    // Node 1's first Ready: its new term and its vote for itself are to be persisted before
    // its vote requests leave.
    let rd = c.nodes.get_mut(&1).unwrap().ready().unwrap();
    assert!(rd.persist.as_ref().is_some_and(|b| b.hard_state.is_some()));
    assert!(rd.messages.is_empty());
    c.nodes.get_mut(&1).unwrap().advance();
    for (to, frames) in &rd.persisted_messages {
        c.inbox.get_mut(to).unwrap().extend_from_slice(frames);
    }
    c.deliver(2);
    // Node 2 grants its vote: the grant must wait for the persisted term and vote.
    let rd = c.nodes.get_mut(&2).unwrap().ready().unwrap();
    assert!(rd.messages.is_empty(), "a vote grant left before the vote was durable");
    assert_eq!(rd.persisted_messages.len(), 1);
    let hs = rd.persist.as_ref().unwrap().hard_state.unwrap();
    assert_eq!(hs.vote, 1);
}

#[test]
fn step_stream_leaves_a_partial_frame_and_rejects_oversized_headers_early() {
    let mut c = Cluster::new(3);
    c.nodes.get_mut(&1).unwrap().raw.campaign();
    let rd = c.nodes.get_mut(&1).unwrap().ready().unwrap();
    let frames = rd.persisted_messages.iter().find(|(to, _)| *to == 2).unwrap().1.clone();
    let node2 = c.nodes.get_mut(&2).unwrap();
    // Every split point: the prefix steps whole frames only, the rest completes them.
    for cut in 0..frames.len() {
        let mut n =
            MemNode::with_mode(&Config::new(2, vec![1, 2, 3]), MemStorage::new(vec![1, 2, 3]), PersistMode::ByCaller)
                .unwrap();
        let head = Bytes::copy_from_slice(&frames[..cut]);
        let consumed = n.step_stream(&head).unwrap();
        assert!(consumed <= cut);
        let rest = Bytes::copy_from_slice(&frames[consumed..]);
        assert_eq!(n.step_stream(&rest).unwrap(), rest.len());
    }
    // A header that claims more than the limit is refused before its body arrives.
    node2.max_frame_bytes = 1024;
    let mut header = vec![frames[0]];
    header.extend_from_slice(&(1u32 << 30).to_le_bytes());
    assert!(matches!(node2.step_stream(&Bytes::from(header)), Err(StepError::Decode(_))));
}

#[test]
fn a_node_restarts_from_what_its_driver_persisted() {
    let mut c = Cluster::new(3);
    c.nodes.get_mut(&1).unwrap().raw.campaign();
    c.stabilize();
    for i in 0..20u32 {
        c.nodes.get_mut(&1).unwrap().raw.propose(Bytes::copy_from_slice(&i.to_be_bytes())).unwrap();
    }
    c.stabilize();
    c.spread_commit();
    // Node 3 restarts from its "disk" alone, as from a recovered WAL.
    let disk = c.disks[&3].clone();
    let stored = disk.storage.unwrap();
    let entries = log_of(&stored);
    let recovered = MemStorage::recovered(vec![1, 2, 3], disk.hard_state, None, entries).unwrap();
    let node = MemNode::with_mode(&Config::new(3, vec![1, 2, 3]), recovered, PersistMode::ByCaller).unwrap();
    let status = node.status();
    assert_eq!(status.commit, c.nodes[&3].status().commit);
    assert_eq!(status.term, c.nodes[&3].status().term);
    c.nodes.insert(3, node);
    c.applied.insert(3, Vec::new());
    c.stabilize();
    // On restart the whole committed log is applied again (the state machine is rebuilt).
    assert_eq!(c.applied[&3].len(), 20);
}

/// What the runtime does while its leader's write is in flight: the entries a quorum holds
/// are handed out to apply at once, and the proposals made meanwhile wait for the next write.
#[test]
fn a_ready_without_write_hands_out_commits_while_a_write_is_in_flight() {
    let mut c = Cluster::new(3);
    c.nodes.get_mut(&1).unwrap().raw.campaign();
    c.stabilize();
    let leader = c.nodes.get_mut(&1).unwrap();
    leader.raw.propose(Bytes::from_static(b"first")).unwrap();
    // The leader's write of "first" is durable (the Ready is advanced), its appends are out.
    assert!(c.handle_ready(1));
    c.deliver(2);
    assert!(c.handle_ready(2));
    // The leader's next write is in flight: a proposal made now is in it.
    let leader = c.nodes.get_mut(&1).unwrap();
    leader.raw.propose(Bytes::from_static(b"second")).unwrap();
    let in_flight = leader.ready().unwrap();
    assert_eq!(in_flight.persist.as_ref().unwrap().entries.len(), 1);
    assert!(in_flight.committed_entries.is_empty(), "no ack yet");
    leader.raw.propose(Bytes::from_static(b"third")).unwrap();
    // Node 2's ack arrives: "first" is committed on a quorum and durable here.
    c.deliver(1);
    let leader = c.nodes.get_mut(&1).unwrap();
    assert!(leader.raw.has_ready_without_write());
    let rd = leader.ready_without_write().unwrap();
    let committed: Vec<&[u8]> = rd.committed_entries.iter().map(|e| &e.data[..]).filter(|d| !d.is_empty()).collect();
    assert_eq!(committed, [&b"first"[..]]);
    let batch = rd.persist.as_ref().expect("the moved commit index is handed out");
    assert!(batch.entries.is_empty() && batch.snapshot.is_none() && !batch.must_sync, "it writes nothing");
    assert!(rd.persisted_messages.is_empty());
    // "third" waits for a Ready that writes it; "second" was in flight all along.
    assert!(!leader.raw.has_ready_without_write());
    assert!(leader.raw.has_ready());
    leader.advance();
    leader.advance();
    let next = leader.ready().unwrap();
    let entries: Vec<&[u8]> = next.persist.as_ref().unwrap().entries.iter().map(|e| &e.data[..]).collect();
    assert_eq!(entries, [&b"third"[..]]);
}
