//! `WalDriver`: the driver with its writes going to a real log's writer thread, as the runtime
//! runs it. A single-node cluster over a log in a temporary directory: the writes never leave
//! the core as actions, they complete through the writer, the entries they hold are applied
//! once durable and survive a reopen; a closed writer stops the driver; only a follower waits.
//!
//! No test sleeps: every wait is the writer's bounded wait on a condition.

use bytes::Bytes;
use senate_core::driver::{Action, Consensus, Driver, DriverError, DriverOptions, NodeRole, WalDriver};
use senate_core::{Config, GroupWriter, MemNode, MemStorage, PersistMode, SharedWal, Wal, WalOptions};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TICK_NS: u64 = 10_000_000;
/// Far above any real fsync: only a bug reaches it.
const DEADLINE: Duration = Duration::from_secs(30);

fn open(dir: &Path) -> (SharedWal, MemNode) {
    let (wal, recovered) = Wal::open(dir, WalOptions::default()).expect("open");
    let storage = MemStorage::recovered(vec![1], recovered.hard_state, recovered.snapshot, recovered.entries)
        .expect("recovered storage");
    let node = MemNode::with_mode(&Config::new(1, vec![1]), storage, PersistMode::ByCaller).expect("valid config");
    (Arc::new(Mutex::new(Some(wal))), node)
}

fn durable_driver(dir: &Path) -> (SharedWal, WalDriver<MemNode>) {
    let (wal, node) = open(dir);
    let mut options = DriverOptions::derive(node.timing(), TICK_NS, 1);
    options.durable = true;
    let driver = Driver::new(node, options, 0, 0).expect("valid options");
    let writer = Arc::new(GroupWriter::start(wal.clone()).expect("writer"));
    (wal, WalDriver::new(driver, Some(writer)))
}

/// Polls, waits for every write submitted and drains them, until nothing is in flight and the
/// driver is idle; reports every `Apply` whole. Returns the actions handed out.
fn run_until_idle(driver: &mut WalDriver<MemNode>) -> Vec<Action> {
    let mut all = Vec::new();
    for _ in 0..1_000 {
        let mut out = Vec::new();
        let next = driver.poll(0, &mut out).expect("no error");
        assert!(!out.iter().any(|a| matches!(a, Action::Write { .. })), "writes never leave the core");
        for action in &out {
            if let Action::Apply { entries, .. } = action {
                driver.driver_mut().applied_to(entries.last().expect("entries").index);
            }
        }
        all.extend(out);
        let writer = driver.writer().expect("a writer").clone();
        let submitted = driver.driver().stats().writes;
        if driver.driver().writes_in_flight() > 0 {
            assert!(writer.wait(submitted, DEADLINE), "write {submitted} did not finish");
        }
        let mut done = Vec::new();
        driver.take_completions(0, &mut done);
        all.extend(done);
        if next == senate_core::driver::Next::Idle && driver.driver().writes_in_flight() == 0 {
            return all;
        }
    }
    panic!("the driver never went idle");
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

#[test]
fn writes_go_to_the_log_thread_and_what_they_hold_is_applied_once_durable_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, mut driver) = durable_driver(dir.path());
    driver.driver_mut().core_mut().raw.campaign();
    run_until_idle(&mut driver);
    assert_eq!(driver.driver().role(), NodeRole::Leader);
    driver.driver_mut().propose_batch(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]).expect("leader");
    let actions = run_until_idle(&mut driver);
    assert_eq!(applied(&actions), vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    let durable = actions.iter().filter(|a| matches!(a, Action::Durable { .. })).count();
    assert!(durable >= 1, "each write completes as a Durable: {actions:?}");
    assert_eq!(driver.driver().writes_in_flight(), 0);
    // The leader does not wait for its own writes.
    assert!(driver.follower_wait(DEADLINE).is_none());
    driver.writer().expect("writer").close();
    drop(driver);
    drop(wal.lock().unwrap().take());
    let (_wal, node) = open(dir.path());
    assert_eq!(node.status().last_index, 3, "the election's entry and both commands were durable");
}

#[test]
fn a_write_the_closed_writer_refuses_stops_the_driver() {
    let dir = tempfile::tempdir().unwrap();
    let (_wal, mut driver) = durable_driver(dir.path());
    driver.writer().expect("writer").close();
    driver.driver_mut().core_mut().raw.campaign();
    let mut out = Vec::new();
    // The campaign's write is refused; the poll after it fails.
    let _ = driver.poll(0, &mut out);
    let error = driver.poll(0, &mut out).expect_err("the driver stops");
    let DriverError::WriteFailed { id, message } = error else { panic!("a failed write, not {error:?}") };
    assert_eq!(id, 1);
    assert!(message.contains("closed"), "{message}");
}
