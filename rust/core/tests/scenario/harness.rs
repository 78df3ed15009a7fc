//! A deterministic in-memory cluster of `RawNode<MemStorage>`s for scenario scripts.
//!
//! Messages travel through one FIFO queue; nothing moves unless a script says so
//! (`process-ready`, `deliver-msgs`, `stabilize`). Every event is printed to an output buffer
//! that the script compares with its expected text. While it runs, the harness checks what must
//! hold whatever the script does, and panics (failing the script) when it does not:
//! - Election Safety: at most one leader per term;
//! - State Machine Safety: no two nodes apply different entries at one index, and each node
//!   applies indexes in order without gaps;
//! - Read linearizability: a read state's index is at least every index known committed (by
//!   any node) when the read was requested;
//! - every `Ready` reports role, leader and hard state as `status()` shows them.
//!
//! With asynchronous writes (`add-nodes ... async-writes=true`) each node runs through the
//! production `Driver<MemNode>` instead, and its writes are held until a script completes
//! them (see `driven`).

use super::format;
use bytes::Bytes;
use driven::DrivenNode;
use senate_core::{
    Config, Entry, EntryKind, HardState, Index, MemStorage, Message, MessageType, NodeId, RawNode, ReadState, Ready,
    Role, Storage, Term,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

mod driven;

pub use driven::WriteMode;

/// Rounds of ready-and-deliver after which `stabilize` gives up (a livelock is a bug).
pub const MAX_STABILIZE_ROUNDS: usize = 1000;

enum Process {
    Up(Box<RawNode<MemStorage>>),
    /// Up, run by the driver, its writes held by the harness.
    Driven(Box<DrivenNode>),
    /// Crashed: only what was persisted survives.
    Down(MemStorage),
}

/// What a node looked like when last printed: role, term, leader.
type Seen = (Role, Term, NodeId);

pub struct Node {
    pub cfg: Config,
    process: Process,
    /// The application's state: the payloads of applied normal entries, in order.
    pub app: Vec<Bytes>,
    /// The index the application has applied (entries and snapshots).
    pub applied_index: Index,
    /// Every read state this node's `Ready`s handed out.
    pub read_states: Vec<ReadState>,
    seen: Seen,
    /// Role and leader as the last `Ready` with a soft state reported them.
    reported_soft: (Role, NodeId),
    restarts: u64,
}

impl Node {
    pub fn is_up(&self) -> bool {
        !matches!(self.process, Process::Down(_))
    }

    pub fn raw(&self) -> &RawNode<MemStorage> {
        match &self.process {
            Process::Up(raw) => raw,
            Process::Driven(driven) => &driven.driver.core().raw,
            Process::Down(_) => panic!("node {} is down", self.cfg.id),
        }
    }

    pub fn raw_mut(&mut self) -> &mut RawNode<MemStorage> {
        match &mut self.process {
            Process::Up(raw) => raw,
            Process::Driven(driven) => &mut driven.driver.core_mut().raw,
            Process::Down(_) => panic!("node {} is down", self.cfg.id),
        }
    }

    /// The persisted state: the storage of the running node, or what a crash left. A driven
    /// node's storage holds exactly the writes completed (the core copies each batch in when
    /// the driver advances past it, in the step that completes it).
    pub fn disk(&self) -> &MemStorage {
        match &self.process {
            Process::Up(raw) => raw.storage(),
            Process::Driven(driven) => driven.driver.core().raw.storage(),
            Process::Down(disk) => disk,
        }
    }
}

/// The application snapshot format of the harness: payloads joined by newlines (script
/// payloads are single words).
fn encode_app(app: &[Bytes]) -> Bytes {
    Bytes::from(app.iter().map(|b| b.to_vec()).collect::<Vec<_>>().join(&b'\n'))
}

fn decode_app(data: &[u8]) -> Vec<Bytes> {
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|&b| b == b'\n').map(Bytes::copy_from_slice).collect()
}

/// Which queued messages a delivery takes.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    /// Receivers; empty means every node.
    pub to: Vec<NodeId>,
    /// Only messages from this sender.
    pub from: Option<NodeId>,
    /// Only messages of these types (empty: all); the others stay queued.
    pub types: Vec<MessageType>,
    /// Messages of these types are taken from the queue and lost.
    pub drop: Vec<MessageType>,
    pub drop_all: bool,
    /// Messages of these types are delivered twice in a row (a network that duplicates).
    pub dup: Vec<MessageType>,
}

impl Delivery {
    fn takes(&self, m: &Message) -> bool {
        (self.to.is_empty() || self.to.contains(&m.to))
            && self.from.is_none_or(|f| f == m.from)
            && (self.types.is_empty() || self.types.contains(&m.msg_type))
    }
}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, Node>,
    /// How nodes persist (and restart).
    pub write_mode: WriteMode,
    /// Messages sent and not yet delivered, in send order.
    pub queue: Vec<Message>,
    /// Directed links that lose every message: (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// The leader of each term seen so far (Election Safety).
    leaders: BTreeMap<Term, NodeId>,
    /// Every entry applied anywhere, by index (State Machine Safety).
    applied: BTreeMap<Index, (Term, EntryKind, Bytes)>,
    /// Output of the current command: lines, each with how many times it was printed in a
    /// row (a run of identical lines is printed once, with `(xN)`).
    out: Vec<(String, usize)>,
    /// Prefix of event lines: empty at top level, two spaces inside a node's block.
    indent: &'static str,
    /// During `run`: only events (role changes, read states) are printed, prefixed by the tick.
    quiet: Option<u64>,
    /// For each pending read (node, request id): the highest index known committed anywhere
    /// when it was requested.
    reads: BTreeMap<(NodeId, u64), Index>,
}

impl Cluster {
    /// Nodes `1..=n` persisting as `write_mode` says; `tweak` adjusts each node's config.
    pub fn new(n: u64, write_mode: WriteMode, tweak: impl Fn(&mut Config)) -> Cluster {
        let voters: Vec<NodeId> = (1..=n).collect();
        let mut nodes = BTreeMap::new();
        for id in 1..=n {
            let mut cfg = Config::new(id, voters.clone());
            tweak(&mut cfg);
            let process = start_process(&cfg, MemStorage::new(voters.clone()), write_mode, 0);
            let st = process_status(&process);
            nodes.insert(
                id,
                Node {
                    cfg,
                    process,
                    app: Vec::new(),
                    applied_index: 0,
                    read_states: Vec::new(),
                    seen: (st.role, st.term, st.leader),
                    reported_soft: (st.role, st.leader),
                    restarts: 0,
                },
            );
        }
        Cluster {
            nodes,
            write_mode,
            queue: Vec::new(),
            cut: BTreeSet::new(),
            leaders: BTreeMap::new(),
            applied: BTreeMap::new(),
            out: Vec::new(),
            indent: "",
            quiet: None,
            reads: BTreeMap::new(),
        }
    }

    /// Takes the output printed since the last call.
    pub fn take_output(&mut self) -> String {
        let mut s = String::new();
        for (line, count) in std::mem::take(&mut self.out) {
            match count {
                1 => s.push_str(&line),
                n => {
                    let _ = write!(s, "{line} (x{n})");
                }
            }
            s.push('\n');
        }
        s
    }

    fn print(&mut self, line: impl AsRef<str>) {
        if self.quiet.is_some() {
            return;
        }
        self.emit(line);
    }

    /// Prints a line that `run` prints too: a state change or a read state.
    fn event(&mut self, line: impl AsRef<str>) {
        match self.quiet {
            Some(tick) => {
                let line = format!("tick {tick}: {}", line.as_ref());
                let indent = std::mem::take(&mut self.indent);
                self.emit(line);
                self.indent = indent;
            }
            None => self.emit(line),
        }
    }

    fn emit(&mut self, line: impl AsRef<str>) {
        let line = format!("{}{}", self.indent, line.as_ref());
        match self.out.last_mut() {
            Some((last, count)) if *last == line => *count += 1,
            _ => self.out.push((line, 1)),
        }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(&id).unwrap_or_else(|| panic!("no node {id}"))
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes.get_mut(&id).unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn raw(&self, id: NodeId) -> &RawNode<MemStorage> {
        self.node(id).raw()
    }

    /// Feeds an input to node `id` and prints the state change it caused.
    pub fn input<R>(&mut self, id: NodeId, f: impl FnOnce(&mut RawNode<MemStorage>) -> R) -> R {
        let r = f(self.node_mut(id).raw_mut());
        self.observe(id);
        r
    }

    /// Prints `N becomes ROLE term=T lead=L` if role, term or leader changed since last printed.
    fn observe(&mut self, id: NodeId) {
        let st = self.raw(id).status();
        let now = (st.role, st.term, st.leader);
        if st.role == Role::Leader {
            let leader = *self.leaders.entry(st.term).or_insert(id);
            assert_eq!(leader, id, "Election Safety violated: {leader} and {id} both lead term {}", st.term);
        }
        if now != self.node(id).seen {
            self.node_mut(id).seen = now;
            self.event(format!("{id} becomes {} term={} lead={}", st.role.as_str(), st.term, st.leader));
        }
    }

    pub fn tick(&mut self, id: NodeId, count: u32) {
        for _ in 0..count {
            self.input(id, |r| r.tick());
        }
    }

    /// A leader: one check-quorum window (`election_timeout_ticks`). Anyone else: ticks until
    /// its role or term changes, at most the longest randomized timeout
    /// (`2 * election_timeout_ticks`).
    pub fn tick_election(&mut self, id: NodeId) {
        let timeout = self.node(id).cfg.election_timeout_ticks;
        if self.raw(id).status().role == Role::Leader {
            self.tick(id, timeout);
            return;
        }
        let before = self.node(id).seen;
        for _ in 0..2 * timeout {
            self.tick(id, 1);
            let seen = self.node(id).seen;
            if (seen.0, seen.1) != (before.0, before.1) {
                return;
            }
        }
    }

    pub fn has_ready(&self, id: NodeId) -> bool {
        self.node(id).is_up() && self.raw(id).has_ready()
    }

    fn is_driven(&self, id: NodeId) -> bool {
        matches!(self.node(id).process, Process::Driven(_))
    }

    /// Handles one `Ready` of `id` as a careful application would: persist the snapshot,
    /// entries and hard state; queue the messages; apply the committed entries; advance.
    /// Returns false when there was nothing to do.
    pub fn process_ready(&mut self, id: NodeId) -> bool {
        if self.is_driven(id) {
            return self.drive(id);
        }
        if !self.has_ready(id) {
            return false;
        }
        let saved_indent = self.indent;
        self.print(format!("> {id} handling Ready"));
        self.indent = "  ";
        let rd = self.node_mut(id).raw_mut().ready();
        self.check_ready(id, &rd);
        for line in describe_ready(&rd) {
            self.print(line);
        }
        self.persist(id, &rd);
        self.check_read_states(id, &rd.read_states);
        for e in &rd.committed_entries {
            self.apply(id, e);
        }
        self.queue.extend(rd.messages);
        self.queue.extend(rd.persisted_messages);
        self.input(id, |r| r.advance());
        self.indent = saved_indent;
        true
    }

    /// A `Ready` reports role, leader and hard state as `status()` shows them.
    fn check_ready(&mut self, id: NodeId, rd: &Ready) {
        let node = self.node_mut(id);
        let st = node.raw().status();
        let soft_now = (st.role, st.leader);
        match rd.soft_state {
            Some(ss) => {
                assert_eq!((ss.role, ss.leader), soft_now, "node {id}: Ready soft state differs from status");
                node.reported_soft = soft_now;
            }
            None => assert_eq!(node.reported_soft, soft_now, "node {id}: role/leader changed, Ready did not say"),
        }
        if let Some(hs) = rd.hard_state {
            let expect = HardState::new(st.term, st.vote, st.commit);
            assert_eq!(hs, expect, "node {id}: Ready hard state differs from status");
        }
    }

    /// Duty 1: the snapshot, entries and hard state become durable (and the application is
    /// restored from the snapshot).
    fn persist(&mut self, id: NodeId, rd: &Ready) {
        let node = self.node_mut(id);
        node.raw_mut()
            .storage_mut()
            .persist(rd.snapshot.as_ref(), rd.entries.clone(), rd.hard_state)
            .expect("persist: the snapshot is newer than the stored one");
        if let Some(snap) = &rd.snapshot {
            node.app = decode_app(&snap.data);
            node.applied_index = snap.meta.index;
        }
    }

    /// Prints the read states and checks each against what was committed when it was asked.
    fn check_read_states(&mut self, id: NodeId, read_states: &[ReadState]) {
        self.node_mut(id).read_states.extend(read_states.iter().copied());
        for rs in read_states {
            let who = if self.quiet.is_some() { format!("{id} ") } else { String::new() };
            self.event(format!("{who}read state: {}", format::read_state(rs)));
            let floor = self.reads.remove(&(id, rs.request_id)).unwrap_or(0);
            assert!(
                rs.index >= floor,
                "read linearizability violated: node {id} read {} at index {} but {floor} was committed before",
                rs.request_id,
                rs.index
            );
        }
    }

    fn apply(&mut self, id: NodeId, e: &Entry) {
        let node = self.node_mut(id);
        assert_eq!(e.index, node.applied_index + 1, "node {id} applies {} after {}", e.index, node.applied_index);
        node.applied_index = e.index;
        if e.kind == EntryKind::Normal {
            node.app.push(e.data.clone());
        }
        let this = (e.term, e.kind, e.data.clone());
        let first = self.applied.entry(e.index).or_insert_with(|| this.clone());
        assert_eq!(*first, this, "State Machine Safety violated: node {id} applies a different entry at {}", e.index);
    }

    /// Delivers the queued messages `d` selects, grouped by receiver in id order, each group in
    /// send order. Returns whether any message was taken from the queue.
    pub fn deliver(&mut self, d: &Delivery) -> bool {
        let mut any = false;
        for to in self.ids() {
            if !d.to.is_empty() && !d.to.contains(&to) {
                continue;
            }
            let (take, keep): (Vec<Message>, Vec<Message>) =
                std::mem::take(&mut self.queue).into_iter().partition(|m| m.to == to && d.takes(m));
            self.queue = keep;
            if take.is_empty() {
                continue;
            }
            any = true;
            let saved_indent = self.indent;
            self.print(format!("> {to} receiving messages"));
            self.indent = "  ";
            for m in take {
                let text = format::message(&m);
                if !self.node(to).is_up() {
                    self.print(format!("{text} DROPPED (down)"));
                } else if self.cut.contains(&(m.from, m.to)) {
                    self.print(format!("{text} DROPPED (partition)"));
                } else if d.drop_all || d.drop.contains(&m.msg_type) {
                    self.print(format!("{text} DROPPED"));
                } else {
                    let copies = if d.dup.contains(&m.msg_type) { 2 } else { 1 };
                    for _ in 0..copies {
                        self.print(&text);
                        if let Err(e) = self.input(to, |r| r.step(m.clone())) {
                            self.print(format!("error: {e:?}"));
                        }
                    }
                }
            }
            self.indent = saved_indent;
        }
        any
    }

    /// Records a read request by `id`: its answer must not be older than what is committed now.
    pub fn read_index(&mut self, id: NodeId, request_id: u64) -> senate_core::Result<()> {
        // The driver numbers its read batches itself; the scripts' request ids would not match.
        assert!(!self.is_driven(id), "read-index: not supported with async writes");
        let floor = self.nodes.values().filter(|n| n.is_up()).map(|n| n.raw().status().commit).max().unwrap_or(0);
        self.reads.insert((id, request_id), floor);
        self.input(id, |r| r.read_index(request_id))
    }

    /// `ticks` times: every live node ticks once, then the cluster stabilizes. Prints only role
    /// changes and read states, each with the tick (counted from 1) it happened at.
    pub fn run(&mut self, ticks: u64) {
        for tick in 1..=ticks {
            self.quiet = Some(tick);
            for id in self.ids() {
                if self.node(id).is_up() {
                    self.tick(id, 1);
                }
            }
            self.stabilize();
        }
        self.quiet = None;
    }

    /// Handles readies and delivers messages, round after round, until nothing is left.
    pub fn stabilize(&mut self) {
        for _ in 0..MAX_STABILIZE_ROUNDS {
            let mut busy = false;
            for id in self.ids() {
                busy |= self.process_ready(id);
            }
            // Every write held now completes (its node then advances, and its persisted
            // messages leave).
            for id in self.ids() {
                busy |= self.write_done(id, None);
            }
            busy |= self.deliver(&Delivery::default());
            if !busy {
                return;
            }
        }
        panic!("stabilize: still busy after {MAX_STABILIZE_ROUNDS} rounds");
    }

    /// Cuts every link between different groups (replacing earlier cuts). Nodes in no group
    /// form one more group.
    pub fn partition(&mut self, mut groups: Vec<Vec<NodeId>>) -> Vec<Vec<NodeId>> {
        let listed: BTreeSet<NodeId> = groups.iter().flatten().copied().collect();
        let rest: Vec<NodeId> = self.ids().into_iter().filter(|id| !listed.contains(id)).collect();
        if !rest.is_empty() {
            groups.push(rest);
        }
        let group_of = |id: NodeId| groups.iter().position(|g| g.contains(&id));
        self.cut.clear();
        for a in self.ids() {
            for b in self.ids() {
                if a != b && group_of(a) != group_of(b) {
                    self.cut.insert((a, b));
                }
            }
        }
        groups
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Stops `id`: its volatile state and anything not yet handed out in a `Ready` are lost;
    /// its storage (what was persisted) survives.
    pub fn crash(&mut self, id: NodeId) {
        if self.is_driven(id) {
            self.lose_held_writes(id);
        }
        let node = self.node_mut(id);
        let disk = node.raw().storage().clone();
        node.process = Process::Down(disk);
        node.read_states.clear();
    }

    /// Hands out a `Ready` of `id` and sends what may leave before the fsync (`messages`),
    /// then crashes before the fsync: the Ready's hard state, snapshot and entries are lost,
    /// and so are its `persisted_messages`.
    pub fn crash_after_send(&mut self, id: NodeId) {
        assert!(!self.is_driven(id), "crash-after-send: node {id} runs with async writes: use crash with writes held");
        if self.has_ready(id) {
            let rd = self.node_mut(id).raw_mut().ready();
            let saved_indent = self.indent;
            self.print(format!("> {id} handling Ready, crashing before the fsync"));
            self.indent = "  ";
            for m in &rd.messages {
                self.print(format!("send: {}", format::message(m)));
            }
            for m in &rd.persisted_messages {
                self.print(format!("lost: {}", format::message(m)));
            }
            if !rd.entries.is_empty() {
                self.print(format!("lost: {}", format::entries(&rd.entries)));
            }
            if let Some(hs) = rd.hard_state {
                self.print(format!("lost: hard state term={} vote={} commit={}", hs.term, hs.vote, hs.commit));
            }
            self.queue.extend(rd.messages);
            self.indent = saved_indent;
        }
        self.crash(id);
    }

    /// Restarts `id` from its storage. The application state is rebuilt from the storage's
    /// snapshot; committed entries after it are applied again.
    pub fn restart(&mut self, id: NodeId) {
        let write_mode = self.write_mode;
        let node = self.node_mut(id);
        let Process::Down(disk) = &node.process else { panic!("restart: node {id} is up") };
        let disk = disk.clone();
        node.restarts += 1;
        let mut cfg = node.cfg.clone();
        cfg.seed = cfg.seed.wrapping_add(node.restarts * 1_000_003);
        cfg.applied = 0;
        let snap = disk.snapshot();
        node.app = decode_app(&snap.data);
        node.applied_index = snap.meta.index;
        node.process = start_process(&cfg, disk, write_mode, node.applied_index);
        let st = process_status(&node.process);
        node.reported_soft = (st.role, st.leader);
        self.observe(id);
    }

    /// Snapshots node `id`'s application at `index` (at most applied) and compacts its log.
    pub fn compact(&mut self, id: NodeId, index: Index) -> Result<(), String> {
        let node = self.node_mut(id);
        if index > node.applied_index {
            return Err(format!("index {index} is not applied (applied {})", node.applied_index));
        }
        // The application state at `index`: the applied payloads of entries up to `index`.
        let first = node.raw().storage().first_index();
        let after: usize = (index + 1..=node.applied_index)
            .filter(|&i| {
                i >= first
                    && node.raw().storage().entries(i, i + 1, usize::MAX).is_ok_and(|e| e[0].kind == EntryKind::Normal)
            })
            .count();
        let data = encode_app(&node.app[..node.app.len() - after]);
        node.raw_mut().storage_mut().create_snapshot(index, data).map_err(|e| format!("{e:?}"))
    }
}

/// A running node over `disk` (what survived, or a fresh storage) whose application applied up
/// to `applied_index`.
fn start_process(cfg: &Config, disk: MemStorage, write_mode: WriteMode, applied_index: Index) -> Process {
    match write_mode {
        WriteMode::InReady => {
            let raw = RawNode::new(cfg, disk).unwrap_or_else(|e| panic!("node {}: {e}", cfg.id));
            Process::Up(Box::new(raw))
        }
        WriteMode::Async { max_writes_in_flight } => {
            Process::Driven(Box::new(DrivenNode::start(cfg, disk, max_writes_in_flight, applied_index)))
        }
    }
}

fn process_status(process: &Process) -> senate_core::Status {
    match process {
        Process::Up(raw) => raw.status(),
        Process::Driven(driven) => driven.driver.core().status(),
        Process::Down(_) => panic!("a node that just started is down"),
    }
}

/// The lines that describe what a `Ready` asks for, in the order the harness does it. Only the
/// order of messages to one destination matters: they are listed grouped by destination, so
/// that runs of identical messages collapse.
fn describe_ready(rd: &Ready) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(ss) = rd.soft_state {
        lines.push(format!("soft state: {} lead={}", ss.role.as_str(), ss.leader));
    }
    if let Some(hs) = rd.hard_state {
        lines.push(format!("hard state: term={} vote={} commit={}", hs.term, hs.vote, hs.commit));
    }
    if let Some(snap) = &rd.snapshot {
        lines.push(format!("persist snapshot: {}", format::snapshot(snap)));
    }
    if !rd.entries.is_empty() {
        lines.push(format!("persist: {}", format::entries(&rd.entries)));
    }
    let by_destination = |msgs: &[Message]| {
        let mut msgs: Vec<&Message> = msgs.iter().collect();
        msgs.sort_by_key(|m| m.to);
        msgs.into_iter().map(format::message).collect::<Vec<_>>()
    };
    lines.extend(by_destination(&rd.messages).into_iter().map(|m| format!("send: {m}")));
    lines.extend(by_destination(&rd.persisted_messages).into_iter().map(|m| format!("send after persist: {m}")));
    if let Some(snap) = &rd.snapshot {
        lines.push(format!("restore app from snapshot at {}", snap.meta.index));
    }
    if !rd.committed_entries.is_empty() {
        lines.push(format!("apply: {}", format::entries(&rd.committed_entries)));
    }
    lines
}
