//! The driver's rules one by one, on a single-node cluster over a durable log that the test
//! completes by hand (`writes_done`), with the time passed in: pipelined writes up to the
//! limit, the stall rule, the drive and apply slices, the snapshot freeze and its backlog
//! bound, the restore order and read serving; and on a follower fed by hand, the restore as a
//! job (applies and reads held until it is done, its backlog bound, its failure). The simulator (`tests/sim.rs`) runs the same
//! driver under faults on whole clusters.

use bytes::Bytes;
use senate_core::driver::{Action, Consensus, Driver, DriverError, DriverOptions, Next, NodeRole};
use senate_core::{
    ConfState, Config, Entry, EntryKind, MemNode, MemStorage, Message, MessageType, PersistMode, RaftError, Snapshot,
    SnapshotMeta,
};

const TICK_NS: u64 = 10_000_000;

fn options(node: &MemNode) -> DriverOptions {
    let mut options = DriverOptions::derive(node.timing(), TICK_NS, 1);
    options.durable = true;
    options.max_writes_in_flight = 1;
    options
}

fn node() -> MemNode {
    let config = Config::new(1, vec![1]);
    MemNode::with_mode(&config, MemStorage::new(vec![1]), PersistMode::ByCaller).expect("valid config")
}

/// Polls until idle at `now_ns`, reporting every `Apply` whole; returns the actions.
fn settle(driver: &mut Driver<MemNode>, now_ns: u64) -> Vec<Action> {
    let mut all = Vec::new();
    for _ in 0..1_000 {
        let mut out = Vec::new();
        let next = driver.poll(now_ns, &mut out).expect("no error");
        for action in &out {
            if let Action::Apply { entries, .. } = action {
                driver.applied_to(entries.last().expect("an Apply holds entries").index);
            }
        }
        all.extend(out);
        if next == Next::Idle {
            return all;
        }
    }
    panic!("the driver never went idle");
}

fn writes(actions: &[Action]) -> Vec<u64> {
    actions.iter().filter_map(|a| if let Action::Write { id, .. } = a { Some(*id) } else { None }).collect()
}

fn applied(actions: &[Action]) -> Vec<Bytes> {
    actions
        .iter()
        .filter_map(|a| if let Action::Apply { entries, .. } = a { Some(entries.clone()) } else { None })
        .flatten()
        .map(|e| e.data)
        .filter(|d| !d.is_empty())
        .collect()
}

/// A leader with every write of its election done.
fn leader(options_for: impl Fn(&MemNode) -> DriverOptions) -> Driver<MemNode> {
    let node = node();
    let options = options_for(&node);
    let mut driver = Driver::new(node, options, 0, 0).expect("valid options");
    driver.core_mut().raw.campaign();
    for _ in 0..10 {
        let actions = settle(&mut driver, 0);
        let Some(&last) = writes(&actions).last() else { break };
        driver.writes_done(last, 0, &mut Vec::new());
    }
    settle(&mut driver, 0);
    assert_eq!(driver.role(), NodeRole::Leader);
    assert_eq!(driver.writes_in_flight(), 0);
    driver
}

/// Asks for a snapshot and starts it (`frozen`: applies wait for it); returns its index.
fn start_snapshot(driver: &mut Driver<MemNode>, frozen: bool) -> u64 {
    driver.snapshot_now();
    let index = settle(driver, 0)
        .iter()
        .find_map(|a| if let Action::TakeSnapshot { index } = a { Some(*index) } else { None })
        .expect("a snapshot is asked for");
    driver.snapshot_started(index, frozen);
    index
}

fn propose(driver: &mut Driver<MemNode>, data: &'static [u8]) {
    driver.propose_batch(vec![Bytes::from_static(data)]).expect("the leader takes it");
}

#[test]
fn a_write_at_the_limit_holds_the_next_until_it_is_durable_then_commits_both_in_order() {
    let mut driver = leader(options);
    propose(&mut driver, b"a");
    let first = settle(&mut driver, 0);
    assert_eq!(writes(&first).len(), 1);
    assert!(!driver.may_propose(), "a leader's proposals wait while its writes are at the limit");
    propose(&mut driver, b"b");
    assert!(writes(&settle(&mut driver, 0)).is_empty(), "the limit is one write in flight");
    let mut done = Vec::new();
    driver.writes_done(writes(&first)[0], 1_000, &mut done);
    assert!(matches!(done[..], [Action::Durable { elapsed_ns: 1_000, slow: false, .. }]), "{done:?}");
    let second = settle(&mut driver, 1_000);
    assert_eq!(applied(&second), vec![Bytes::from_static(b"a")]);
    assert_eq!(writes(&second).len(), 1, "the held proposal is written once the first write is durable");
    driver.writes_done(writes(&second)[0], 2_000, &mut Vec::new());
    assert_eq!(applied(&settle(&mut driver, 2_000)), vec![Bytes::from_static(b"b")]);
    assert_eq!(driver.applied_index(), 3, "the election's no-op, a, b");
}

#[test]
fn pipelined_writes_go_out_up_to_the_limit_and_complete_together() {
    let mut driver = leader(|node| DriverOptions { max_writes_in_flight: 3, ..options(node) });
    let mut ids = Vec::new();
    for data in [b"a" as &[u8], b"b", b"c", b"d"] {
        driver.propose_batch(vec![Bytes::copy_from_slice(data)]).expect("leader");
        ids.extend(writes(&settle(&mut driver, 0)));
    }
    assert_eq!(ids, vec![ids[0], ids[0] + 1, ids[0] + 2], "three in flight, the fourth waits");
    let mut done = Vec::new();
    driver.writes_done(ids[2], 5, &mut done);
    let durable: Vec<u64> =
        done.iter().filter_map(|a| if let Action::Durable { id, .. } = a { Some(*id) } else { None }).collect();
    assert_eq!(durable, ids, "completing the last completes every write before it");
    let after = settle(&mut driver, 5);
    assert_eq!(applied(&after), vec![Bytes::from_static(b"a"), Bytes::from_static(b"b"), Bytes::from_static(b"c")]);
    assert_eq!(writes(&after).len(), 1, "the fourth proposal is written now");
}

#[test]
fn a_stalled_write_lets_one_ready_past_the_limit_per_heartbeat_interval() {
    let mut driver = leader(options);
    propose(&mut driver, b"a");
    assert_eq!(writes(&settle(&mut driver, 0)).len(), 1);
    propose(&mut driver, b"b");
    // Not stalled yet: the write has been in flight for less than a tick.
    driver.add_ticks(1);
    assert!(writes(&settle(&mut driver, TICK_NS - 1)).is_empty());
    assert_eq!(driver.stats().readies_past_limit, 0);
    // Stalled: a tick has passed, and a heartbeat interval of ticks since the last such Ready.
    driver.add_ticks(1);
    let past = settle(&mut driver, TICK_NS);
    assert_eq!(writes(&past).len(), 1, "one Ready past the limit: {past:?}");
    assert_eq!(driver.stats().readies_past_limit, 1);
    assert_eq!(driver.writes_in_flight(), 2);
    propose(&mut driver, b"c");
    assert!(writes(&settle(&mut driver, 2 * TICK_NS)).is_empty(), "the next waits for the next heartbeat interval");
    driver.add_ticks(1);
    assert_eq!(writes(&settle(&mut driver, 3 * TICK_NS)).len(), 1);
    assert_eq!(driver.stats().readies_past_limit, 2);
}

#[test]
fn a_slow_write_is_reported_slow() {
    let mut driver = leader(options);
    propose(&mut driver, b"a");
    let id = writes(&settle(&mut driver, 0))[0];
    let mut done = Vec::new();
    let election_ns = TICK_NS * driver.core().timing().election_timeout_ticks as u64;
    driver.writes_done(id, election_ns, &mut done);
    assert!(matches!(done[..], [Action::Durable { slow: true, .. }]), "{done:?}");
}

#[test]
fn an_apply_stops_at_its_deadline_and_the_rest_is_handed_out_next() {
    let mut driver = leader(|node| DriverOptions { max_writes_in_flight: 2, ..options(node) });
    driver.propose_batch((0..5u8).map(|i| Bytes::from(vec![b'x', i])).collect()).expect("the leader takes a batch");
    let id = writes(&settle(&mut driver, 0))[0];
    driver.writes_done(id, 0, &mut Vec::new());
    let mut out = Vec::new();
    let mut next = driver.poll(100, &mut out).expect("no error");
    while !out.iter().any(|a| matches!(a, Action::Apply { .. })) {
        assert_ne!(next, Next::Idle);
        next = driver.poll(100, &mut out).expect("no error");
    }
    let Some(Action::Apply { entries, deadline_ns }) = out.pop() else { panic!("the Apply comes last") };
    assert_eq!(deadline_ns, 100 + TICK_NS / 2, "half a tick");
    assert_eq!(entries.len(), 5);
    // The caller ran out of time after two entries.
    driver.applied_to(entries[1].index);
    assert_eq!(driver.applied_index(), entries[1].index);
    let mut rest = Vec::new();
    driver.poll(200, &mut rest).expect("no error");
    let Some(Action::Apply { entries: rest, .. }) = rest.pop() else { panic!("the rest is handed out") };
    assert_eq!(
        rest.iter().map(|e| e.index).collect::<Vec<_>>(),
        entries[2..].iter().map(|e| e.index).collect::<Vec<_>>()
    );
}

#[test]
fn the_driver_yields_once_its_slice_is_used() {
    let mut driver = leader(options);
    propose(&mut driver, b"a");
    let mut out = Vec::new();
    assert_ne!(driver.poll(0, &mut out).expect("no error"), Next::Yield);
    propose(&mut driver, b"b");
    assert_eq!(driver.poll(TICK_NS / 2, &mut out).expect("no error"), Next::Yield, "half a tick into the slice");
    assert_ne!(driver.poll(TICK_NS / 2, &mut out).expect("no error"), Next::Yield, "a new slice starts");
}

#[test]
fn a_frozen_snapshot_holds_applies_and_past_the_backlog_bound_holds_readies() {
    let mut driver =
        leader(|node| DriverOptions { max_writes_in_flight: 4, max_apply_backlog_bytes: 4, ..options(node) });
    let index = start_snapshot(&mut driver, true);
    propose(&mut driver, b"abc");
    let id = writes(&settle(&mut driver, 0))[0];
    driver.writes_done(id, 0, &mut Vec::new());
    assert!(applied(&settle(&mut driver, 0)).is_empty(), "frozen: nothing applied");
    assert_eq!(driver.apply_backlog_bytes(), 3);
    propose(&mut driver, b"de");
    let id = writes(&settle(&mut driver, 0))[0];
    driver.writes_done(id, 0, &mut Vec::new());
    settle(&mut driver, 0);
    assert_eq!(driver.apply_backlog_bytes(), 5, "over the bound of 4");
    propose(&mut driver, b"f");
    assert!(writes(&settle(&mut driver, 0)).is_empty(), "no Ready is taken past the bound");
    driver.snapshot_taken(index, Bytes::from_static(b"state"));
    let after = settle(&mut driver, 0);
    assert!(
        after.iter().any(|a| matches!(a, Action::Compact { snapshot } if snapshot.meta.index == index)),
        "{after:?}"
    );
    assert_eq!(applied(&after), vec![Bytes::from_static(b"abc"), Bytes::from_static(b"de")]);
    assert_eq!(writes(&after).len(), 1, "Readies are taken again");
    assert_eq!(driver.snapshot_index(), index);
}

#[test]
fn a_captured_snapshot_lets_applies_go_on() {
    let mut driver = leader(options);
    start_snapshot(&mut driver, false);
    propose(&mut driver, b"a");
    let id = writes(&settle(&mut driver, 0))[0];
    driver.writes_done(id, 0, &mut Vec::new());
    assert_eq!(applied(&settle(&mut driver, 0)), vec![Bytes::from_static(b"a")]);
}

#[test]
fn a_read_is_served_once_the_index_it_was_confirmed_at_is_applied() {
    let mut driver = leader(options);
    // A frozen snapshot holds applies, so the commit index runs ahead of the applied one.
    let index = start_snapshot(&mut driver, true);
    propose(&mut driver, b"a");
    let id = writes(&settle(&mut driver, 0))[0];
    driver.writes_done(id, 0, &mut Vec::new());
    settle(&mut driver, 0);
    let commit = driver.core().status().commit;
    assert!(commit > driver.applied_index());
    let read = driver.request_read();
    assert_eq!(driver.request_read(), read, "reads before the round is issued share it");
    let before = settle(&mut driver, 0);
    assert!(!before.iter().any(|a| matches!(a, Action::ServeReads { .. })), "{commit} is not applied yet: {before:?}");
    let later = driver.request_read();
    assert_ne!(later, read, "a new round once the last was issued");
    driver.snapshot_taken(index, Bytes::from_static(b"state"));
    let after = settle(&mut driver, 0);
    let served =
        after.iter().find_map(|a| if let Action::ServeReads { reads } = a { Some(reads.clone()) } else { None });
    assert_eq!(served, Some(vec![(read, commit), (later, commit)]));
    assert!(driver.applied_index() >= commit);
}

#[test]
fn a_failed_write_stops_the_driver() {
    let mut driver = leader(options);
    propose(&mut driver, b"a");
    let id = writes(&settle(&mut driver, 0))[0];
    driver.write_failed(id, "disk full".to_string());
    let error = driver.poll(0, &mut Vec::new()).expect_err("the node stops");
    assert_eq!(error.to_string(), format!("log write {id} failed: disk full"));
}

#[test]
fn bad_options_name_the_field() {
    let node = node();
    let bad = DriverOptions { max_writes_in_flight: 0, ..options(&node) };
    match Driver::new(node, bad, 0, 0) {
        Err(RaftError::InvalidConfig { field, .. }) => assert_eq!(field, "max_writes_in_flight"),
        other => panic!("expected InvalidConfig, got {:?}", other.err()),
    }
}

/// A membership change comes out as `ConfChanged` (the configuration in force, and the address
/// the change carried) before the `Apply` of its entry, which gives the application nothing.
#[test]
fn a_membership_change_is_announced_with_its_address_and_applies_nothing() {
    let mut driver = leader(options);
    let change = senate_core::ConfChange::add_member_at(2, "10.0.0.2:7101", false);
    driver.core_mut().propose_conf_change(&change).expect("the leader takes it");
    let mut actions = Vec::new();
    for _ in 0..10 {
        let more = settle(&mut driver, 0);
        let last_write = writes(&more).last().copied();
        actions.extend(more);
        let Some(id) = last_write else { break };
        driver.writes_done(id, 0, &mut Vec::new());
    }
    let announced = actions.iter().position(|a| matches!(a, Action::ConfChanged { .. }));
    let Some(Action::ConfChanged { conf_state, addresses }) = announced.map(|i| &actions[i]) else {
        panic!("no ConfChanged in {actions:?}");
    };
    assert_eq!((conf_state.voters.clone(), conf_state.learners.clone()), (vec![1], vec![2]));
    assert_eq!(addresses, &vec![(2, "10.0.0.2:7101".to_string())]);
    let apply = actions
        .iter()
        .position(|a| matches!(a, Action::Apply { entries, .. } if entries.iter().any(|e| e.kind == senate_core::EntryKind::ConfChange)))
        .expect("the change's entry is applied");
    assert!(announced.expect("found") < apply, "announced before its Apply");
    let Action::Apply { entries, .. } = &actions[apply] else { unreachable!() };
    let change_entry = entries.iter().find(|e| e.kind == senate_core::EntryKind::ConfChange).expect("in the batch");
    assert!(change_entry.application_data().is_empty());
    assert!(!change_entry.data.is_empty(), "the log keeps the change itself");
    assert_eq!(Consensus::conf_state(driver.core()).learners, vec![2]);
}

/// A follower (node 2 of voters 1 and 2) over a durable log the test completes by hand.
fn follower() -> Driver<MemNode> {
    let config = Config::new(2, vec![1, 2]);
    let node = MemNode::with_mode(&config, MemStorage::new(vec![1, 2]), PersistMode::ByCaller).expect("valid config");
    let mut options = DriverOptions::derive(node.timing(), TICK_NS, 2);
    options.durable = true;
    Driver::new(node, options, 0, 0).expect("valid options")
}

/// Steps `msg` (from the leader, node 1, in term 1) into `driver`.
fn step(driver: &mut Driver<MemNode>, mut msg: Message) {
    (msg.from, msg.to, msg.term) = (1, 2, 1);
    let mut frame = Vec::new();
    senate_core::codec::encode_message(&msg, &mut frame);
    let frame = Bytes::from(frame);
    assert_eq!(driver.step_stream(&frame).expect("a valid frame"), frame.len());
}

/// Polls until idle, making each write durable at once; returns the actions.
fn settle_durable(driver: &mut Driver<MemNode>) -> Vec<Action> {
    let mut all = Vec::new();
    loop {
        let actions = settle(driver, 0);
        let last = writes(&actions).last().copied();
        all.extend(actions);
        let Some(id) = last else { return all };
        driver.writes_done(id, 0, &mut all);
    }
}

/// The types of the messages to the leader (node 1) in `actions`.
fn sent_types(actions: &[Action]) -> Vec<MessageType> {
    let mut types = Vec::new();
    for action in actions {
        if let Action::Send { to: 1, frames } = action {
            let mut buf = Bytes::from(frames.clone());
            while !buf.is_empty() {
                let (msg, used) =
                    senate_core::codec::decode_message(&buf, usize::MAX).expect("valid").expect("a whole frame");
                types.push(msg.msg_type);
                buf = buf.slice(used..);
            }
        }
    }
    types
}

/// The follower gets the leader's snapshot at index 10; returns once `Restore` was handed out.
fn follower_restoring() -> Driver<MemNode> {
    let mut driver = follower();
    step(&mut driver, snapshot_message(10, b"state at 10"));
    let actions = settle_durable(&mut driver);
    assert_eq!(restores(&actions), vec![10], "{actions:?}");
    assert_eq!(driver.restoring(), Some(10));
    assert_eq!(driver.applied_index(), 0, "the old state's until the restore is done");
    driver
}

#[test]
fn while_a_restore_runs_the_node_answers_and_writes_but_applies_and_serves_nothing_until_done() {
    let mut driver = follower_restoring();
    step(&mut driver, append_11_and_12());
    let during = settle_durable(&mut driver);
    assert!(sent_types(&during).contains(&MessageType::AppendResp), "the log is written and acknowledged: {during:?}");
    assert!(applied(&during).is_empty(), "nothing applied before the restore is done");
    assert!(driver.apply_backlog_bytes() > 0);
    step(&mut driver, Message::new(MessageType::Heartbeat, 1, 2, 1));
    driver.add_ticks(3);
    let read = driver.request_read();
    let mut answer = Message::new(MessageType::ReadIndexResp, 1, 2, 1);
    (answer.index, answer.context) = (12, read);
    let during = settle_durable(&mut driver);
    step(&mut driver, answer);
    let during = [during, settle_durable(&mut driver)].concat();
    assert!(sent_types(&during).contains(&MessageType::HeartbeatResp), "heartbeats are answered: {during:?}");
    assert!(!during.iter().any(|a| matches!(a, Action::ServeReads { .. })), "the read waits: {during:?}");
    assert!(!during.iter().any(|a| matches!(a, Action::TakeSnapshot { .. })));

    driver.restore_done(9); // not the restore in progress: ignored
    assert!(applied(&settle_durable(&mut driver)).is_empty());
    driver.restore_done(10);
    let after = settle_durable(&mut driver);
    assert_eq!(applied(&after), vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    let served =
        after.iter().find_map(|a| if let Action::ServeReads { reads } = a { Some(reads.clone()) } else { None });
    assert_eq!(served, Some(vec![(read, 12)]), "{after:?}");
    assert_eq!((driver.applied_index(), driver.snapshot_index(), driver.restoring()), (12, 10, None));
    assert_eq!(driver.stats().snapshots_restored, 1);
}

/// The leader's entries 11 ("a") and 12 ("b") after the snapshot at 10, committed to 12.
fn append_11_and_12() -> Message {
    let mut append = Message::new(MessageType::Append, 1, 2, 1);
    (append.index, append.log_term, append.commit) = (10, 1, 12);
    append.entries = [(11, b"a"), (12, b"b")]
        .map(|(index, data)| Entry { term: 1, index, kind: EntryKind::Normal, data: Bytes::from_static(data) })
        .to_vec();
    append
}

/// The leader's snapshot at `index` (voters 1 and 2, term 1), as a message to the follower.
fn snapshot_message(index: u64, data: &'static [u8]) -> Message {
    let mut msg = Message::new(MessageType::Snapshot, 1, 2, 1);
    let conf_state = ConfState { voters: vec![1, 2], ..ConfState::default() };
    let meta = SnapshotMeta { index, term: 1, conf_state };
    msg.snapshot = Some(Snapshot { meta, data: Bytes::from_static(data) });
    msg
}

/// The indexes of the snapshots handed out to restore in `actions`.
fn restores(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| if let Action::Restore { snapshot } = a { Some(snapshot.meta.index) } else { None })
        .collect()
}

#[test]
fn a_newer_snapshot_arriving_during_a_restore_waits_for_it_and_for_the_entries_before_it() {
    let mut driver = follower_restoring();
    step(&mut driver, append_11_and_12());
    let mut during = settle_durable(&mut driver);
    assert!(driver.apply_backlog_bytes() > 0, "11..12 committed, waiting");
    step(&mut driver, snapshot_message(20, b"state at 20"));
    during.extend(settle_durable(&mut driver));
    assert!(restores(&during).is_empty(), "no second restore while one runs: {during:?}");
    assert!(applied(&during).is_empty());
    assert_eq!(driver.restoring(), Some(10));

    driver.restore_done(10);
    let mut after = Vec::new();
    for _ in 0..8 {
        let mut out = Vec::new();
        let next = driver.poll(0, &mut out).expect("no error");
        for action in &out {
            match action {
                // Reported only once the test saw it: the Restore must not come before.
                Action::Apply { entries, .. } => driver.applied_to(entries.last().expect("entries").index),
                Action::Write { id, .. } => driver.writes_done(*id, 0, &mut Vec::new()),
                _ => {}
            }
        }
        after.extend(out);
        if next == Next::Idle {
            break;
        }
    }
    let apply = after.iter().position(|a| matches!(a, Action::Apply { .. })).expect("11..12 applied");
    let restore = after.iter().position(|a| matches!(a, Action::Restore { .. })).expect("then 20 restored");
    assert!(apply < restore, "the entries committed before the snapshot come first: {after:?}");
    assert_eq!(applied(&after), vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    assert_eq!(restores(&after), vec![20]);
    assert_eq!((driver.applied_index(), driver.restoring()), (12, Some(20)));
    driver.restore_done(20);
    settle_durable(&mut driver);
    assert_eq!((driver.applied_index(), driver.snapshot_index(), driver.restoring()), (20, 20, None));
}

#[test]
fn while_a_restore_runs_no_ready_is_taken_past_the_apply_backlog_bound() {
    let mut driver = follower_restoring();
    let bound = driver.options().max_apply_backlog_bytes;
    let mut index = 10;
    let mut refused = false;
    for _ in 0..64 {
        let mut append = Message::new(MessageType::Append, 1, 2, 1);
        (append.index, append.log_term, append.commit) = (index, 1, index + 1);
        let data = Bytes::from(vec![7; bound / 8 + 1]);
        append.entries = vec![Entry { term: 1, index: index + 1, kind: EntryKind::Normal, data }];
        step(&mut driver, append);
        let actions = settle_durable(&mut driver);
        if sent_types(&actions).is_empty() {
            refused = true;
            break;
        }
        index += 1;
    }
    assert!(refused, "Readies stop once the backlog passes its bound");
    assert!(driver.apply_backlog_bytes() > bound);
    driver.restore_done(10);
    let after = settle_durable(&mut driver);
    assert_eq!(applied(&after).len() as u64, index + 1 - 10, "every entry, the one that waited too");
    assert!(sent_types(&after).contains(&MessageType::AppendResp), "Readies are taken again");
}

#[test]
fn a_failed_restore_stops_the_driver_naming_the_snapshot() {
    let mut driver = follower_restoring();
    driver.restore_failed(10, "the state machine refused it".to_string());
    let error = driver.poll(0, &mut Vec::new()).expect_err("a failed restore stops the driver");
    assert_eq!(error, DriverError::RestoreFailed { index: 10, message: "the state machine refused it".to_string() });
    assert_eq!(error.to_string(), "restoring the snapshot at index 10 failed: the state machine refused it");
}
