//! The script commands: one handler each, over a [`Cluster`].
//!
//! Setup and inputs:
//! - `add-nodes N [pre-vote=B] [check-quorum=B] [lease-reads=B] [election-timeout=T]
//!   [heartbeat-interval=T] [max-entries-per-msg=N] [max-inflight-msgs=N] [seed=S]
//!   [async-writes=B] [max-writes-in-flight=N]`: nodes `1..=N`; with async writes each runs
//!   through the production driver and its writes wait for `write-done` (at most N in flight,
//!   default the driver's).
//! - `campaign ID`: the node starts an election (a pre-vote round first under pre-vote).
//! - `tick ID [COUNT]`, `tick-all [COUNT]`: logical time passes at one node / at every live node.
//! - `tick-heartbeat ID`: one heartbeat interval.
//! - `tick-election ID`: a leader: one election timeout; others: until role or term changes
//!   (at most two election timeouts).
//! - `run TICKS`: each tick, every live node ticks and the cluster stabilizes; prints only role
//!   changes and read states.
//! - `propose ID DATA...` (one proposal, or a batch when several), `read-index ID REQUEST-ID`,
//!   `transfer-leader FROM TO`, `compact ID INDEX` (snapshot the application at `INDEX`).
//!
//! Readies and the network:
//! - `process-ready [ID...]`: persist, queue messages, apply, advance (default: every node).
//! - `deliver-msgs [ID...] [from=ID] [types=T,..] [drop=T,..|all] [dup=T,..]`: deliver the
//!   queued messages to the nodes (default: all): only those of `types`, losing those of `drop`,
//!   delivering those of `dup` twice.
//! - `stabilize`: process-ready and deliver-msgs until nothing is left to do.
//! - `partition ID... [/ ID...]...`, `isolate ID`, `heal`: cut the links between groups (nodes
//!   not listed form one more group) / mend them.
//! - `crash ID`, `restart ID`: lose what was not persisted / come back from storage.
//! - `crash-after-send ID`: send a Ready's early messages, then crash before its fsync.
//!
//! Asynchronous writes (nodes added with `async-writes=true`; `process-ready` polls a node's
//! driver until it is idle, and its writes are held; `stabilize` completes them all):
//! - `write-done ID [COUNT]`: the node's oldest COUNT writes held (default all) become durable:
//!   what waited for them is sent, and the node is driven on.
//! - `writes-in-flight ID`: the writes held, and the Readies not yet advanced.
//! - `crash ID` with writes held loses them: the node restarts from what was durable.
//!
//! Reports: `status ID`, `raft-log ID` (what is persisted), `raft-state`, `app-state [ID...]`.

use super::datadriven::Command;
use super::format;
use super::harness::{Cluster, Delivery, WriteMode};
use bytes::Bytes;
use senate_core::{MessageType, NodeId, ReadOnlyOption, Role, Storage};
use std::fmt::Write as _;

/// The state of one script: no cluster until `add-nodes`.
#[derive(Default)]
pub struct Scenario {
    cluster: Option<Cluster>,
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> T {
    s.parse().unwrap_or_else(|_| panic!("{what}: not a number: {s:?}"))
}

fn flag(s: &str, what: &str) -> bool {
    match s {
        "true" => true,
        "false" => false,
        _ => panic!("{what}: expected true or false, got {s:?}"),
    }
}

fn msg_types(list: &str) -> Vec<MessageType> {
    list.split(',').map(|t| format::parse_msg_type(t).unwrap_or_else(|| panic!("unknown message type {t:?}"))).collect()
}

/// Positional argument `i` of `cmd`.
fn arg(cmd: &Command, i: usize) -> &str {
    cmd.positional.get(i).map(String::as_str).unwrap_or_else(|| panic!("{}: missing argument {}", cmd.name, i + 1))
}

fn node_arg(cmd: &Command, i: usize) -> NodeId {
    num(arg(cmd, i), "node id")
}

/// The node ids given as arguments, or `None` when none are.
fn node_list(cmd: &Command) -> Option<Vec<NodeId>> {
    (!cmd.positional.is_empty()).then(|| cmd.positional.iter().map(|s| num(s, "node id")).collect())
}

fn error_line<T, E: std::fmt::Debug>(r: Result<T, E>) -> Option<String> {
    r.err().map(|e| format!("error: {e:?}"))
}

impl Scenario {
    fn cluster(&mut self) -> &mut Cluster {
        self.cluster.as_mut().expect("no cluster: start the script with add-nodes")
    }

    /// Runs one command and returns what it printed: the events it caused, then its own
    /// answer (an error, a state report), if any.
    pub fn run(&mut self, cmd: &Command) -> String {
        if cmd.name == "add-nodes" {
            return self.add_nodes(cmd);
        }
        match cmd.name.as_str() {
            "campaign" => self.input(cmd, |r| r.campaign()),
            "tick" => self.tick(cmd),
            "tick-all" => self.tick_all(cmd),
            "run" => self.cluster().run(num(arg(cmd, 0), "ticks")),
            "tick-heartbeat" => self.tick_heartbeat(cmd),
            "tick-election" => self.cluster().tick_election(node_arg(cmd, 0)),
            "propose" => return self.answered(|s| s.propose(cmd)),
            "read-index" => {
                let request_id = num(arg(cmd, 1), "request id");
                return self.answered(|s| error_line(s.cluster().read_index(node_arg(cmd, 0), request_id)));
            }
            "transfer-leader" => {
                let to = node_arg(cmd, 1);
                return self.answered(|s| error_line(s.cluster().input(node_arg(cmd, 0), |r| r.transfer_leader(to))));
            }
            "compact" => {
                let index = num(arg(cmd, 1), "index");
                return self
                    .answered(|s| s.cluster().compact(node_arg(cmd, 0), index).err().map(|e| format!("error: {e}")));
            }
            "process-ready" => self.process_ready(cmd),
            "deliver-msgs" => self.deliver(cmd),
            "stabilize" => self.cluster().stabilize(),
            "partition" => return self.answered(|s| Some(s.partition(cmd))),
            "isolate" => return self.answered(|s| Some(s.partition_groups(vec![vec![node_arg(cmd, 0)]]))),
            "heal" => self.cluster().heal(),
            "crash" => self.cluster().crash(node_arg(cmd, 0)),
            "crash-after-send" => self.cluster().crash_after_send(node_arg(cmd, 0)),
            "write-done" => {
                let count = cmd.positional.get(1).map(|c| num(c, "count"));
                if !self.cluster().write_done(node_arg(cmd, 0), count) {
                    return self.answered(|_| Some("no writes in flight".to_string()));
                }
            }
            "writes-in-flight" => return self.answered(|s| Some(s.cluster().writes_in_flight(node_arg(cmd, 0)))),
            "restart" => return self.answered(|s| s.restart(node_arg(cmd, 0))),
            "status" => return self.answered(|s| Some(s.status(node_arg(cmd, 0)))),
            "raft-log" => return self.answered(|s| Some(s.raft_log(node_arg(cmd, 0)))),
            "raft-state" => return self.answered(|s| Some(s.raft_state())),
            "app-state" => return self.answered(|s| Some(s.app_state(cmd))),
            other => panic!("unknown command {other:?}"),
        }
        self.cluster().take_output()
    }

    /// Runs `f`, then returns the events it printed followed by its answer.
    fn answered(&mut self, f: impl FnOnce(&mut Scenario) -> Option<String>) -> String {
        let answer = f(self);
        let mut out = self.cluster().take_output();
        if let Some(answer) = answer {
            out.push_str(&answer);
            out.push('\n');
        }
        out
    }

    fn input(&mut self, cmd: &Command, f: impl FnOnce(&mut senate_core::RawNode<senate_core::MemStorage>)) {
        self.cluster().input(node_arg(cmd, 0), f);
    }

    fn tick(&mut self, cmd: &Command) {
        let count = cmd.positional.get(1).map_or(1, |c| num(c, "count"));
        self.cluster().tick(node_arg(cmd, 0), count);
    }

    fn tick_all(&mut self, cmd: &Command) {
        let count: u32 = cmd.positional.first().map_or(1, |c| num(c, "count"));
        let c = self.cluster();
        for _ in 0..count {
            for n in c.ids() {
                if c.node(n).is_up() {
                    c.tick(n, 1);
                }
            }
        }
    }

    fn tick_heartbeat(&mut self, cmd: &Command) {
        let n = node_arg(cmd, 0);
        let interval = self.cluster().node(n).cfg.heartbeat_interval_ticks;
        self.cluster().tick(n, interval);
    }

    fn propose(&mut self, cmd: &Command) -> Option<String> {
        let n = node_arg(cmd, 0);
        let mut data: Vec<Bytes> = cmd.positional[1..].iter().map(|d| Bytes::from(d.clone())).collect();
        assert!(!data.is_empty(), "propose: no data");
        if data.len() == 1 {
            let one = data.remove(0);
            error_line(self.cluster().input(n, |r| r.propose(one)))
        } else {
            error_line(self.cluster().input(n, |r| r.propose_batch(data)))
        }
    }

    fn process_ready(&mut self, cmd: &Command) {
        let c = self.cluster();
        for n in node_list(cmd).unwrap_or_else(|| c.ids()) {
            c.process_ready(n);
        }
    }

    fn deliver(&mut self, cmd: &Command) {
        let mut d = Delivery {
            to: node_list(cmd).unwrap_or_default(),
            from: cmd.key("from").map(|s| num(s, "from")),
            types: cmd.key("types").map_or_else(Vec::new, msg_types),
            dup: cmd.key("dup").map_or_else(Vec::new, msg_types),
            ..Delivery::default()
        };
        match cmd.key("drop") {
            Some("all") => d.drop_all = true,
            Some(list) => d.drop = msg_types(list),
            None => {}
        }
        self.cluster().deliver(&d);
    }

    fn partition(&mut self, cmd: &Command) -> String {
        let groups: Vec<Vec<NodeId>> =
            cmd.positional.split(|w| w == "/").map(|g| g.iter().map(|s| num(s, "node id")).collect()).collect();
        self.partition_groups(groups)
    }

    fn restart(&mut self, id: NodeId) -> Option<String> {
        self.cluster().restart(id);
        Some(self.status_line(id))
    }

    fn raft_state(&mut self) -> String {
        let ids = self.cluster().ids();
        ids.into_iter().map(|n| self.status_line(n)).collect::<Vec<_>>().join("\n")
    }

    fn app_state(&mut self, cmd: &Command) -> String {
        let c = self.cluster();
        let lines: Vec<String> = node_list(cmd)
            .unwrap_or_else(|| c.ids())
            .into_iter()
            .map(|n| {
                let node = c.node(n);
                let data: Vec<String> = node.app.iter().map(|d| format::data(d)).collect();
                format!("{n}: applied={} [{}]", node.applied_index, data.join(", "))
            })
            .collect();
        lines.join("\n")
    }

    fn add_nodes(&mut self, cmd: &Command) -> String {
        assert!(self.cluster.is_none(), "add-nodes: the cluster exists already (membership is fixed)");
        let n: u64 = num(cmd.positional.first().expect("add-nodes: missing count"), "count");
        let mut settings = String::new();
        let apply_key = |cfg: &mut senate_core::Config, k: &str, v: &str| match k {
            "pre-vote" => cfg.pre_vote = flag(v, k),
            "check-quorum" => cfg.check_quorum = flag(v, k),
            "lease-reads" => cfg.read_only = if flag(v, k) { ReadOnlyOption::LeaseBased } else { ReadOnlyOption::Safe },
            "election-timeout" => cfg.election_timeout_ticks = num(v, k),
            "heartbeat-interval" => cfg.heartbeat_interval_ticks = num(v, k),
            "max-entries-per-msg" => cfg.max_entries_per_msg = num(v, k),
            "max-inflight-msgs" => cfg.max_inflight_msgs = num(v, k),
            "seed" => cfg.seed = num::<u64>(v, k).wrapping_mul(1000).wrapping_add(cfg.id),
            // How nodes persist: not part of their config.
            "async-writes" | "max-writes-in-flight" => {}
            _ => panic!("add-nodes: unknown setting {k:?}"),
        };
        let max_writes_in_flight = cmd
            .key("max-writes-in-flight")
            .map_or(senate_core::driver::DEFAULT_MAX_WRITES_IN_FLIGHT, |v| num(v, "max-writes-in-flight"));
        let write_mode = match cmd.key("async-writes").is_some_and(|v| flag(v, "async-writes")) {
            true => WriteMode::Async { max_writes_in_flight },
            false => WriteMode::InReady,
        };
        let cluster = Cluster::new(n, write_mode, |cfg| {
            for (k, v) in &cmd.keyed {
                apply_key(cfg, k, v);
            }
        });
        let cfg = &cluster.node(1).cfg;
        let _ = write!(
            settings,
            "nodes 1..={n}: pre-vote={} check-quorum={} read-only={:?} election-timeout={} heartbeat-interval={}",
            cfg.pre_vote, cfg.check_quorum, cfg.read_only, cfg.election_timeout_ticks, cfg.heartbeat_interval_ticks
        );
        if cmd.key("max-entries-per-msg").is_some() {
            let _ = write!(settings, " max-entries-per-msg={}", cfg.max_entries_per_msg);
        }
        if cmd.key("max-inflight-msgs").is_some() {
            let _ = write!(settings, " max-inflight-msgs={}", cfg.max_inflight_msgs);
        }
        if let WriteMode::Async { max_writes_in_flight } = write_mode {
            let _ = write!(settings, " async-writes max-writes-in-flight={max_writes_in_flight}");
        }
        self.cluster = Some(cluster);
        settings.push('\n');
        settings
    }

    fn partition_groups(&mut self, groups: Vec<Vec<NodeId>>) -> String {
        let groups = self.cluster().partition(groups);
        let parts: Vec<String> = groups
            .iter()
            .map(|g| format!("{{{}}}", g.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",")))
            .collect();
        format!("partitioned: {}", parts.join(" "))
    }

    /// `2: follower term=2 lead=1` or `3: down (persisted term=1 vote=1 commit=4)`.
    fn status_line(&mut self, id: NodeId) -> String {
        let node = self.cluster().node(id);
        if !node.is_up() {
            let hs = node.disk().hard_state();
            return format!("{id}: down (persisted term={} vote={} commit={})", hs.term, hs.vote, hs.commit);
        }
        let st = node.raw().status();
        format!("{id}: {} term={} lead={}", st.role.as_str(), st.term, st.leader)
    }

    fn status(&mut self, id: NodeId) -> String {
        let node = self.cluster().node(id);
        if !node.is_up() {
            return self.status_line(id);
        }
        let st = node.raw().status();
        let mut s = format!(
            "{id}: {} term={} vote={} lead={} commit={} applied={} log=[{}, {}]",
            st.role.as_str(),
            st.term,
            st.vote,
            st.leader,
            st.commit,
            st.applied,
            st.first_index,
            st.last_index
        );
        if st.lead_transferee != 0 {
            let _ = write!(s, " transferee={}", st.lead_transferee);
        }
        if st.role == Role::Leader {
            for p in &st.peers {
                let _ = write!(
                    s,
                    "\n  {}: match={} next={} {}{}",
                    p.id,
                    p.match_index,
                    p.next_index,
                    p.state.as_str(),
                    if p.recent_active { " active" } else { "" }
                );
            }
        }
        s
    }

    /// The persisted log of `id`: hard state, snapshot, entries.
    fn raft_log(&mut self, id: NodeId) -> String {
        let node = self.cluster().node(id);
        let disk = node.disk();
        let hs = disk.hard_state();
        let mut s = format!("hard state: term={} vote={} commit={}", hs.term, hs.vote, hs.commit);
        let snap = disk.snapshot();
        if !snap.is_empty() {
            let _ = write!(s, "\nsnapshot: {}", format::snapshot(&snap));
        }
        let entries = disk.entries(disk.first_index(), disk.last_index() + 1, usize::MAX).expect("raft-log: readable");
        if entries.is_empty() {
            s.push_str("\n(no entries)");
        }
        for e in &entries {
            let _ = write!(s, "\n{}", format::entry(e));
        }
        if node.is_up() && node.raw().status().last_index != disk.last_index() {
            let _ = write!(s, "\n(unpersisted entries up to {})", node.raw().status().last_index);
        }
        s
    }
}
