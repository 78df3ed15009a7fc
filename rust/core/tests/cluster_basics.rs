//! Whole-cluster behaviour through the public API, over an in-memory network of `Message`s.

mod common;

use common::Net;
use senate_core::{MessageType, RaftError, ReadOnlyOption, Role};

#[test]
fn single_node_elects_itself_and_commits() {
    let mut net = Net::new(1, |_| {});
    net.elect(1);
    assert_eq!(net.role(1), Role::Leader);
    net.propose(1, b"a").unwrap();
    net.stabilize();
    assert_eq!(net.applied_data(1), vec![b"a".to_vec()]);
}

#[test]
fn three_nodes_elect_replicate_and_apply_in_order() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    for i in 0..100u32 {
        net.propose(1, &i.to_be_bytes()).unwrap();
    }
    net.stabilize();
    net.spread_commit();
    let expect: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for id in 1..=3 {
        assert_eq!(net.applied_data(id), expect, "node {id}");
    }
}

#[test]
fn follower_forwards_proposals_and_refuses_without_leader() {
    let mut net = Net::new(3, |_| {});
    assert!(matches!(net.propose(2, b"x"), Err(RaftError::NotLeader { leader_hint: None })));
    net.elect(1);
    net.propose(2, b"fwd").unwrap();
    net.stabilize();
    // The proposer waits for its own apply: it learns the commit index at once.
    assert_eq!(net.applied_data(2), vec![b"fwd".to_vec()]);
    net.spread_commit();
    assert_eq!(net.applied_data(3), vec![b"fwd".to_vec()]);
}

#[test]
fn read_index_at_leader_and_follower() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.propose(1, b"v").unwrap();
    net.stabilize();
    net.read_index(1, 7).unwrap();
    net.read_index(3, 8).unwrap();
    net.stabilize();
    let commit = net.node(1).commit_index();
    assert_eq!(net.read_states(1), vec![(7, commit)]);
    assert_eq!(net.read_states(3), vec![(8, commit)]);
}

#[test]
fn a_commit_goes_at_once_only_to_followers_waiting_for_it() {
    // Heartbeats every 5 ticks: the tick below sends the commit index in an append.
    let mut net = Net::new(3, |c| c.heartbeat_interval_ticks = 5);
    net.elect(1);
    net.spread_commit();
    // A forwarded proposal: its proposer waits for its own apply and is told the commit at
    // once; the other follower learns it at the leader's next tick.
    net.propose(2, b"from 2").unwrap();
    net.stabilize();
    assert_eq!(net.applied_data(2), vec![b"from 2".to_vec()], "the proposer applied at once");
    assert!(net.applied_data(3).is_empty(), "no commit-only append to a follower not waiting");
    net.node_mut(1).tick();
    let sent = net.handle_ready(1);
    assert!(sent && !net.queue.is_empty(), "the tick sends the commit index");
    assert!(net.queue.iter().all(|m| m.msg_type == MessageType::Append), "in appends, not heartbeats");
    net.stabilize();
    assert_eq!(net.applied_data(3), vec![b"from 2".to_vec()]);
    // The leader's own proposal: nobody waits; an earlier wait does not count for it.
    net.propose(1, b"from 1").unwrap();
    net.stabilize();
    assert_eq!(net.applied_data(1).len(), 2);
    assert_eq!(net.applied_data(2).len(), 1);
    assert_eq!(net.applied_data(3).len(), 1);
    // A tick with nothing new to tell sends nothing.
    net.spread_commit();
    assert_eq!(net.applied_data(2).len(), 2);
    net.node_mut(1).tick();
    assert!(!net.handle_ready(1) || net.queue.is_empty(), "every follower holds the commit index");
}

#[test]
fn a_follower_answered_a_read_is_told_the_commit_index_at_once() {
    for read_only in [ReadOnlyOption::Safe, ReadOnlyOption::LeaseBased] {
        let mut net = Net::new(3, |c| {
            c.read_only = read_only;
            c.heartbeat_interval_ticks = 5;
        });
        net.elect(1);
        for _ in 0..5 {
            net.node_mut(1).tick(); // a heartbeat round: starts the lease
        }
        net.stabilize();
        net.propose(1, b"v").unwrap();
        net.stabilize();
        let commit = net.node(1).commit_index();
        assert!(net.node(3).commit_index() < commit, "{read_only:?}: follower 3 was not told yet");
        net.read_index(3, 8).unwrap();
        net.stabilize();
        assert_eq!(net.read_states(3), vec![(8, commit)], "{read_only:?}");
        assert_eq!(net.node(3).commit_index(), commit, "{read_only:?}: it can apply up to the read");
        assert_eq!(net.applied_data(3), vec![b"v".to_vec()], "{read_only:?}");
    }
}

#[test]
fn lease_reads_answer_without_a_round_while_the_lease_holds() {
    let mut net = Net::new(3, |c| c.read_only = ReadOnlyOption::LeaseBased);
    net.elect(1);
    // One acknowledged heartbeat round starts the lease.
    net.node_mut(1).tick();
    net.stabilize();
    net.read_index(1, 1).unwrap();
    assert_eq!(net.take_ready_read_states(1).len(), 1, "answered from the lease, no round trip");
}

#[test]
fn lease_expires_without_acknowledgements() {
    let mut net = Net::new(3, |c| c.read_only = ReadOnlyOption::LeaseBased);
    net.elect(1);
    net.node_mut(1).tick();
    net.stabilize();
    net.isolate(1);
    // A little under an election timeout: check-quorum has not stepped the leader down, but
    // the lease (counted from the last acknowledged heartbeat's send time) has run out.
    for _ in 0..9 {
        net.node_mut(1).tick();
        net.stabilize();
    }
    assert_eq!(net.role(1), Role::Leader);
    net.read_index(1, 2).unwrap();
    net.stabilize();
    assert!(net.read_states(1).is_empty(), "an expired lease must not answer: {:?}", net.read_states(1));
}

#[test]
fn leadership_transfer_moves_the_leader() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.propose(1, b"x").unwrap();
    net.stabilize();
    net.node_mut(1).transfer_leader(3).unwrap();
    net.stabilize();
    assert_eq!(net.role(3), Role::Leader);
    assert_eq!(net.role(1), Role::Follower);
}

#[test]
fn lagging_follower_catches_up_by_snapshot() {
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.isolate(3);
    for i in 0..20u32 {
        net.propose(1, &i.to_be_bytes()).unwrap();
        net.stabilize();
    }
    let applied = net.node(1).applied_index();
    net.compact(1, applied);
    net.heal();
    for _ in 0..30 {
        net.tick_all();
        net.stabilize();
    }
    assert_eq!(net.node(3).applied_index(), applied);
    assert!(net.snapshots_restored(3) >= 1);
}

#[test]
fn restarted_node_in_lease_mode_votes_only_after_an_election_timeout() {
    let mut net = Net::new(3, |c| c.read_only = ReadOnlyOption::LeaseBased);
    net.elect(1);
    net.node_mut(1).tick();
    net.stabilize();
    // 2 may have acknowledged the heartbeat that 1's lease counts on just before crashing.
    net.crash_restart(2);
    net.isolate(1);
    net.node_mut(3).campaign();
    net.stabilize();
    assert_ne!(net.role(3), Role::Leader, "2 must not vote while 1's lease may hold");
    // An election timeout later for 2 and 3 (3 hears nothing from the isolated 1 either):
    // 1's lease, shorter, has run out.
    for _ in 0..10 {
        net.node_mut(2).tick();
        net.node_mut(3).tick();
    }
    net.stabilize();
    net.node_mut(3).campaign();
    net.stabilize();
    assert_eq!(net.role(3), Role::Leader, "after an election timeout 2 votes again");
}

#[test]
fn in_lease_mode_a_follower_that_may_back_the_lease_campaigns_through_its_leader() {
    let mut net = Net::new(3, |c| c.read_only = ReadOnlyOption::LeaseBased);
    net.elect(1);
    net.node_mut(1).tick(); // a heartbeat round 2 and 3 acknowledge: 1's lease holds
    net.stabilize();
    // Voting for itself now could elect 2 while 1 still answers reads from its lease: 2 asks
    // 1 to hand over, and 1's TimeoutNow voids its lease first.
    net.node_mut(2).campaign();
    net.stabilize();
    assert_eq!(net.role(2), Role::Leader);
    assert_eq!(net.role(1), Role::Follower);
    // With the leader unreachable, a follower that heard from it just now elects nobody.
    net.node_mut(2).tick();
    net.stabilize();
    net.isolate(2);
    net.node_mut(3).campaign();
    net.stabilize();
    assert_eq!(net.role(3), Role::Follower, "3 may back 2's lease: no campaign of its own");
}

#[test]
fn proposals_over_the_limits_are_dropped_with_a_reason() {
    use senate_core::DropReason;
    let mut net = Net::new(3, |c| c.max_uncommitted_bytes = 1000);
    net.elect(1);
    let dropped = |r: senate_core::Result<()>| match r {
        Err(RaftError::ProposalDropped { reason }) => Some(reason),
        _ => None,
    };
    assert_eq!(dropped(net.propose(1, &[0u8; 2000])), Some(DropReason::TooLarge));
    assert_eq!(dropped(net.node_mut(1).propose_batch(Vec::new())), Some(DropReason::Empty));
    // Back-pressure: uncommitted bytes fill up while followers do not answer.
    net.isolate(1);
    net.propose(1, &[0u8; 600]).unwrap();
    assert_eq!(dropped(net.propose(1, &[0u8; 600])), Some(DropReason::UncommittedLimit));
    let huge = vec![0u8; senate_core::raft::config::MAX_PROPOSAL_BYTES];
    assert_eq!(dropped(net.propose(2, &huge)), Some(DropReason::TooLarge), "checked before forwarding too");
}

#[test]
fn invalid_messages_are_typed_errors_and_change_nothing() {
    use senate_core::{Entry, EntryKind, Message, MessageType};
    let mut net = Net::new(3, |_| {});
    net.elect(1);
    net.propose(1, b"a").unwrap();
    net.stabilize();
    net.spread_commit();
    let before = net.node(2).status();
    let term = before.term;
    // An append whose entries do not follow its prev index.
    let mut gap = Message::new(MessageType::Append, 1, 2, term);
    gap.index = before.last_index;
    gap.log_term = term;
    gap.entries = vec![Entry { term, index: before.last_index + 5, kind: EntryKind::Normal, data: Default::default() }];
    assert!(matches!(net.node_mut(2).step(gap), Err(RaftError::InvalidMessage { from: 1, .. })));
    // An append that would overwrite committed entries is answered with the commit index
    // and changes nothing (the committed prefix is never rewritten).
    let mut rewrite = Message::new(MessageType::Append, 1, 2, term);
    rewrite.entries = vec![Entry { term, index: 1, kind: EntryKind::Normal, data: bytes::Bytes::from_static(b"x") }];
    net.node_mut(2).step(rewrite).unwrap();
    net.handle_ready(2);
    let resp = net.queue.pop_back().expect("an answer");
    assert_eq!((resp.msg_type, resp.index, resp.reject), (MessageType::AppendResp, before.commit, false));
    net.queue.clear();
    assert_eq!(net.stored_entries(2).len() as u64, before.last_index, "the log is unchanged");
    assert_eq!(net.stored_entries(2)[0].kind, EntryKind::NoOp, "entry 1 is still the no-op");
    // An acknowledgement of an index the leader does not have.
    let mut ack = Message::new(MessageType::AppendResp, 2, 1, term);
    ack.index = 1_000;
    assert!(matches!(net.node_mut(1).step(ack), Err(RaftError::InvalidMessage { from: 2, .. })));
    assert_eq!(net.node(1).commit_index(), before.commit);
    // A heartbeat response echoing a read round never sent confirms nothing.
    net.read_index(1, 9).unwrap();
    let mut echo = Message::new(MessageType::HeartbeatResp, 2, 1, term);
    echo.context = u64::MAX;
    net.node_mut(1).step(echo.clone()).unwrap();
    echo.from = 3;
    net.node_mut(1).step(echo).unwrap();
    assert!(net.take_ready_read_states(1).is_empty(), "no read confirmed by rounds not sent");
}

#[test]
fn max_frame_bytes_bounds_frames_and_proposals() {
    use senate_core::{Config, DropReason, MemNode};
    let big = bytes::Bytes::from(vec![7u8; 40 << 20]);
    // Default frames: a 40 MiB proposal is over half a frame.
    let mut node = MemNode::new(&Config::new(1, vec![1])).unwrap();
    node.raw.campaign();
    assert!(matches!(node.raw.propose(big.clone()), Err(RaftError::ProposalDropped { reason: DropReason::TooLarge })));
    // Bigger frames: the same proposal is accepted, and step_stream allows frames that big.
    let mut config = Config::new(1, vec![1]);
    config.max_frame_bytes = 256 << 20;
    config.max_uncommitted_bytes = 0;
    let mut node = MemNode::new(&config).unwrap();
    assert_eq!(node.max_frame_bytes, 256 << 20);
    node.raw.campaign();
    node.raw.propose(big).unwrap();
    // Limits are validated by field.
    let invalid = |edit: fn(&mut Config)| {
        let mut config = Config::new(1, vec![1]);
        edit(&mut config);
        match config.validate() {
            Err(RaftError::InvalidConfig { field, .. }) => field,
            other => panic!("expected an invalid config, got {other:?}"),
        }
    };
    assert_eq!(invalid(|c| c.max_frame_bytes = 1024), "max_frame_bytes");
    assert_eq!(invalid(|c| c.max_frame_bytes = 3 << 30), "max_frame_bytes");
    assert_eq!(invalid(|c| c.max_bytes_per_msg = 40 << 20), "max_bytes_per_msg");
}
