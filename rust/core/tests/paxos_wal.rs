//! The shared write-ahead log serves Multi-Paxos unchanged: a `PaxosNode`'s persist batches
//! written to a `Wal` tagged `ProtocolId::Paxos` recover to exactly the node's durable model,
//! including slots an overwrite left after it (the tail rewrite), a node restarts from what
//! was recovered, and a Raft log refuses to open it.

use bytes::Bytes;
use senate_core::paxos::{Ballot, Body, PaxosConfig, PaxosMessage, PaxosNode};
use senate_core::{Entry, EntryKind, MemStorage, PersistMode, ProtocolId, Storage, Wal, WalOptions};

fn options(protocol: ProtocolId) -> WalOptions {
    WalOptions { fsync: false, preallocate: false, protocol, ..WalOptions::default() }
}

fn entry(slot: u64, ballot: Ballot, data: &'static [u8]) -> Entry {
    Entry { index: slot, term: ballot.to_u64(), kind: EntryKind::Normal, data: Bytes::from_static(data) }
}

/// Carries out every Ready: each batch goes to the log, then the node is advanced.
fn persist_all(node: &mut PaxosNode, wal: &mut Wal) {
    while let Some(rd) = node.ready() {
        if let Some(batch) = rd.persist.as_ref().filter(|b| b.must_sync) {
            wal.write(batch.snapshot.as_ref(), &batch.entries, batch.hard_state).expect("written");
        }
        node.advance();
    }
}

#[test]
fn a_paxos_nodes_batches_recover_from_the_wal_with_the_tail_an_overwrite_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = PaxosConfig::new(2, vec![1, 2, 3]);
    let (mut wal, _) = Wal::open(dir.path(), options(ProtocolId::Paxos)).expect("open");
    let mut node = PaxosNode::with_mode(&config, MemStorage::new(vec![1, 2, 3]), PersistMode::ByCaller).expect("valid");
    let (old, new) = (Ballot::new(1, 1), Ballot::new(2, 3));
    let accept = |from, ballot: Ballot, entries: Vec<Entry>| {
        let first_slot = entries[0].index;
        PaxosMessage::new(from, 2, ballot, Body::Accept { first_slot, chosen: 0, entries })
    };
    node.step(accept(1, old, vec![entry(1, old, b"a"), entry(2, old, b"b"), entry(3, old, b"c")])).expect("valid");
    persist_all(&mut node, &mut wal);
    node.step(accept(3, new, vec![entry(1, new, b"x")])).expect("valid");
    persist_all(&mut node, &mut wal);
    drop(wal);

    let (_, recovered) = Wal::open(dir.path(), options(ProtocolId::Paxos)).expect("reopen");
    let model = node.storage();
    assert_eq!(recovered.hard_state, model.hard_state());
    assert_eq!(recovered.entries, model.entries(1, model.last_index() + 1, usize::MAX).expect("held"));
    let slots: Vec<(u64, Ballot)> = recovered.entries.iter().map(|e| (e.index, Ballot::from_u64(e.term))).collect();
    assert_eq!(slots, vec![(1, new), (2, old), (3, old)], "the accepted slots after the overwrite survive");

    let storage = MemStorage::recovered(vec![1, 2, 3], recovered.hard_state, recovered.snapshot, recovered.entries)
        .expect("recovered storage");
    let restarted = PaxosNode::with_mode(&config, storage, PersistMode::ByCaller).expect("restart");
    assert_eq!(restarted.promised(), new);
    assert_eq!(restarted.status().last_slot, 3);

    let refused = Wal::open(dir.path(), options(ProtocolId::Raft));
    assert!(refused.is_err(), "a Raft log refuses Multi-Paxos records");
}
