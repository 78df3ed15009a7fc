//! The safety invariants of Raft, checked incrementally after every step of a simulation.
//!
//! The checker sees each node only from outside, as an operator would: its persisted log and
//! hard state (after every `Ready`, through [`Checker::sync_node`]), its role and term, the
//! entries it applies, the snapshots it restores and the reads it confirms. From these it keeps:
//! - a fingerprinted copy of every node's log ([`ShadowLog`]), so Log Matching is one
//!   comparison of prefix chains;
//! - the leader of every term ever seen (Election Safety over the whole history);
//! - the chain of every `(index, term)` ever seen in any log (Log Matching across nodes and
//!   time);
//! - one global committed log and one global applied sequence, that every node's committed
//!   prefix and applied sequence must be prefixes of.
//!
//! Each check costs O(entries changed by the step) plus a periodic full audit of one log.
//! A check that fails returns a [`Violation`]; the checker never panics on a bad node.

use crate::raft::message::{Entry, HardState, Index, NodeId, Snapshot, Term, NO_NODE};
use crate::raft::ready::{ReadState, Role};
use crate::raft::storage::MemStorage;
use crate::sim::app::AppState;
use crate::sim::fingerprint::Fingerprint;
use crate::sim::protocol::SafetyChecker;
use crate::sim::shadow_log::{chain_after, entry_content, LogChange, ShadowLog, SyncError};
use std::collections::btree_map::Entry as MapEntry;
use std::collections::BTreeMap;

/// A node's log is compared entry by entry with its shadow once per this many syncs.
pub const AUDIT_EVERY_SYNCS: u32 = 32;

/// The property a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// At most one leader per term.
    ElectionSafety,
    /// A node votes for at most one candidate per term; terms never go down.
    VoteSafety,
    /// A leader never overwrites or deletes entries in its log while leader of that term.
    LeaderAppendOnly,
    /// Two logs holding an entry with the same index and term are identical up to it.
    LogMatching,
    /// An entry committed in a term is in the log of every leader of every later term.
    LeaderCompleteness,
    /// Every node's committed prefix is a prefix of one global committed log, and no node
    /// removes a committed entry from its log.
    CommitAgreement,
    /// No two nodes apply different entries at the same index.
    StateMachineSafety,
    /// Each node applies committed entries in index order, without gaps, and its applied
    /// sequence is a prefix of the global applied sequence.
    AppliedOrder,
    /// The persisted commit index never goes down and never passes the log.
    PersistentState,
    /// A confirmed read index covers every entry committed before the read was issued.
    ReadIndex,
    /// After faults heal, a leader is elected and new proposals commit on every node in time.
    Liveness,
    /// Multi-Paxos: at most one value is chosen per slot; a ballot carries one value per slot;
    /// once a value is chosen at ballot `b`, no acceptor accepts another one there above `b`.
    ChosenValue,
    /// Multi-Paxos: an acceptor's promise never goes down (across crashes too), and it never
    /// holds an acceptance above its durable promise.
    PromiseSafety,
    /// Multi-Paxos: an acceptor replaces a slot's acceptance only by one at a higher ballot,
    /// and never forgets one its snapshot does not cover.
    AcceptorSafety,
    /// Frames decode as they were encoded; corrupted frames are refused.
    Codec,
    /// The node refused input or a snapshot it should have taken.
    NodeError,
}

impl Property {
    pub fn name(self) -> &'static str {
        match self {
            Property::ElectionSafety => "Election Safety",
            Property::VoteSafety => "Vote Safety",
            Property::LeaderAppendOnly => "Leader Append-Only",
            Property::LogMatching => "Log Matching",
            Property::LeaderCompleteness => "Leader Completeness",
            Property::CommitAgreement => "Commit Agreement",
            Property::StateMachineSafety => "State Machine Safety",
            Property::AppliedOrder => "Applied Order",
            Property::PersistentState => "Persistent State",
            Property::ReadIndex => "Read Index",
            Property::Liveness => "Liveness",
            Property::ChosenValue => "Chosen Value",
            Property::PromiseSafety => "Promise Safety",
            Property::AcceptorSafety => "Acceptor Safety",
            Property::Codec => "Codec",
            Property::NodeError => "Node Error",
        }
    }
}

/// One broken invariant: which property, and the nodes, terms and indexes involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub property: Property,
    pub detail: String,
}

impl Violation {
    pub fn new(property: Property, detail: String) -> Violation {
        Violation { property, detail }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.property.name(), self.detail)
    }
}

impl std::error::Error for Violation {}

/// The result of one check.
pub type Check = Result<(), Violation>;

/// One index of the global committed log.
#[derive(Clone, Copy, Debug)]
struct CommittedEntry {
    term: Term,
    chain: Fingerprint,
    /// An upper bound of the term in which the entry was committed: the term of the first node
    /// seen committing it (normally the leader that did).
    commit_term: Term,
}

/// One index of the global applied sequence.
#[derive(Clone, Copy, Debug)]
struct AppliedIndex {
    /// The application fingerprint after applying this index.
    fingerprint: Fingerprint,
    /// The first node seen applying it (for violation messages).
    first_node: NodeId,
}

/// What the checker remembers of one node.
#[derive(Clone, Debug)]
struct NodeTrack {
    id: NodeId,
    shadow: ShadowLog,
    hard_state: HardState,
    /// The term in which the node was leader at its last sync, if it was.
    leader_term: Option<Term>,
    /// The checker's own replica of the node's application.
    app: AppState,
    /// Syncs left before the next full audit of the log; 0 = audit at the next sync.
    syncs_until_audit: u32,
    /// The node's volatile commit index at its last sync (at most its durable last index), and
    /// its term then: a node that persists by the caller applies entries its in-memory commit
    /// index covers before that index is written (the commit index is volatile state).
    volatile_commit: (Index, Term),
}

/// Incremental checker of the Raft safety properties over one cluster's history.
#[derive(Clone, Debug)]
pub struct Checker {
    nodes: Vec<NodeTrack>,
    /// The leader of each term seen so far.
    leaders: BTreeMap<Term, NodeId>,
    /// The chain of every `(index, term)` seen in any log, and the first node seen holding it.
    chains: BTreeMap<(Index, Term), (Fingerprint, NodeId)>,
    /// `committed[i - 1]` describes index `i`; the log `[1, committed.len()]` is known committed.
    committed: Vec<CommittedEntry>,
    /// `applied[i - 1]` describes index `i`; every node's applied sequence is a prefix of it.
    applied: Vec<AppliedIndex>,
    /// Read requests issued: request id → committed index when it was issued.
    reads_issued: BTreeMap<u64, Index>,
    steps_checked: u64,
}

impl Checker {
    /// A checker for a cluster of the nodes `ids`, all starting empty.
    pub fn new(ids: &[NodeId]) -> Checker {
        let nodes = ids
            .iter()
            .map(|&id| NodeTrack {
                id,
                shadow: ShadowLog::default(),
                hard_state: HardState::default(),
                leader_term: None,
                app: AppState::default(),
                syncs_until_audit: AUDIT_EVERY_SYNCS,
                volatile_commit: (0, 0),
            })
            .collect();
        Checker {
            nodes,
            leaders: BTreeMap::new(),
            chains: BTreeMap::new(),
            committed: Vec::new(),
            applied: Vec::new(),
            reads_issued: BTreeMap::new(),
            steps_checked: 0,
        }
    }

    /// Node syncs checked so far (one per `Ready` handled).
    pub fn steps_checked(&self) -> u64 {
        self.steps_checked
    }

    /// The highest index known committed.
    pub fn committed_index(&self) -> Index {
        self.committed.len() as Index
    }

    /// Terms in which a leader was seen.
    pub fn leader_terms(&self) -> usize {
        self.leaders.len()
    }

    /// The index a node has applied, as the checker tracked it.
    pub fn applied_index(&self, id: NodeId) -> Index {
        self.track(id).map_or(0, |t| t.app.applied_index)
    }

    /// Makes the next sync of `id` compare its whole log.
    pub fn request_audit(&mut self, id: NodeId) {
        if let Some(position) = self.position(id) {
            self.nodes[position].syncs_until_audit = 0;
        }
    }

    /// Checks node `id` after it handled a `Ready`: `storage` is its persisted state, `role` and
    /// `term` its status.
    pub fn sync_node(&mut self, id: NodeId, storage: &MemStorage, role: Role, term: Term) -> Check {
        self.sync_node_with_commit(id, storage, role, term, storage.hard_state().commit)
    }

    /// `sync_node` for a node whose in-memory commit index `commit` may run ahead of the one
    /// it persisted (it persists by the caller, and a commit index alone is never written).
    pub fn sync_node_with_commit(
        &mut self,
        id: NodeId,
        storage: &MemStorage,
        role: Role,
        term: Term,
        commit: Index,
    ) -> Check {
        self.steps_checked += 1;
        let position = self.known_position(id)?;
        self.nodes[position].volatile_commit = (commit.min(crate::raft::storage::Storage::last_index(storage)), term);
        let change = self.sync_shadow(position, storage)?;
        self.check_truncation(position, change, role, term)?;
        self.register_chains(position, change)?;
        self.check_hard_state(position, storage.hard_state())?;
        self.extend_committed(position)?;
        self.check_leader(position, role, term)
    }

    fn sync_shadow(&mut self, position: usize, storage: &MemStorage) -> Result<LogChange, Violation> {
        let Checker { nodes, committed, chains, .. } = self;
        let track = &mut nodes[position];
        let full = track.syncs_until_audit == 0;
        track.syncs_until_audit = if full { AUDIT_EVERY_SYNCS } else { track.syncs_until_audit - 1 };
        let known_chain = |index: Index, term: Term| {
            let committed_chain = index
                .checked_sub(1)
                .and_then(|k| committed.get(k as usize))
                .filter(|c| c.term == term)
                .map(|c| c.chain);
            committed_chain.or_else(|| chains.get(&(index, term)).map(|c| c.0))
        };
        let id = track.id;
        track.shadow.sync(storage, full, known_chain).map_err(|error| match error {
            SyncError::SnapshotRegressed { from, to } => Violation::new(
                Property::PersistentState,
                format!("node {id}: snapshot index went down from {from} to {to}"),
            ),
            SyncError::UnknownSnapshot { index, term } => Violation::new(
                Property::LogMatching,
                format!("node {id}: snapshot at index {index} term {term} covers an entry no log ever held"),
            ),
            SyncError::Storage(error) => {
                Violation::new(Property::NodeError, format!("node {id}: reading its storage failed: {error}"))
            }
        })
    }

    /// A leader must not lose entries of its own term's log; no node may lose a committed entry.
    fn check_truncation(&self, position: usize, change: LogChange, role: Role, term: Term) -> Check {
        let Some((index, old_chain)) = change.truncated else { return Ok(()) };
        let track = &self.nodes[position];
        if role == Role::Leader && track.leader_term == Some(term) {
            return Err(Violation::new(
                Property::LeaderAppendOnly,
                format!("node {}, leader of term {term}, removed or replaced its entries from index {index}", track.id),
            ));
        }
        let was_committed = self.committed_entry(index).is_some_and(|c| c.chain == old_chain);
        if was_committed {
            return Err(Violation::new(
                Property::CommitAgreement,
                format!(
                    "node {} removed committed entry {index} from its log (committed index {})",
                    track.id,
                    self.committed_index()
                ),
            ));
        }
        Ok(())
    }

    /// Records the chain of every new `(index, term)`; an existing one must match.
    fn register_chains(&mut self, position: usize, change: LogChange) -> Check {
        let Some(from) = change.appended_from else { return Ok(()) };
        let track = &self.nodes[position];
        for index in from..=track.shadow.last_index() {
            let Some(entry) = track.shadow.entry(index) else { break };
            match self.chains.entry((index, entry.term)) {
                MapEntry::Vacant(vacant) => {
                    vacant.insert((entry.chain, track.id));
                }
                MapEntry::Occupied(occupied) => {
                    let (chain, first_node) = *occupied.get();
                    if chain != entry.chain {
                        return Err(Violation::new(
                            Property::LogMatching,
                            format!(
                                "nodes {first_node} and {} both hold an entry at index {index} term {} but their logs differ up to it",
                                track.id, entry.term
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Terms only grow, a vote is cast once per term, the commit index only grows and stays
    /// within the log.
    fn check_hard_state(&mut self, position: usize, hard_state: HardState) -> Check {
        let track = &mut self.nodes[position];
        let (old, id) = (track.hard_state, track.id);
        let fail = |property, detail: String| Err(Violation::new(property, format!("node {id}: {detail}")));
        if hard_state.term < old.term {
            return fail(Property::VoteSafety, format!("term went down from {} to {}", old.term, hard_state.term));
        }
        if hard_state.term == old.term && old.vote != NO_NODE && hard_state.vote != old.vote {
            return fail(
                Property::VoteSafety,
                format!("voted for {} and then {} in term {}", old.vote, hard_state.vote, old.term),
            );
        }
        if hard_state.commit < old.commit {
            return fail(
                Property::PersistentState,
                format!("commit index went down from {} to {}", old.commit, hard_state.commit),
            );
        }
        if hard_state.commit > track.shadow.last_index() {
            return fail(
                Property::PersistentState,
                format!("commit index {} is past its last index {}", hard_state.commit, track.shadow.last_index()),
            );
        }
        track.hard_state = hard_state;
        Ok(())
    }

    /// The node's committed prefix must agree with the global committed log; what it commits
    /// beyond extends it.
    fn extend_committed(&mut self, position: usize) -> Check {
        let track = &self.nodes[position];
        let (volatile_commit, volatile_term) = track.volatile_commit;
        let (id, commit) = (track.id, track.hard_state.commit.max(volatile_commit));
        let known = self.committed_index();
        // The shadow holds chains for [snapshot_index, last_index], and commit >= snapshot_index.
        let check_at = commit.min(known).max(track.shadow.snapshot_index());
        if check_at > 0 && check_at <= known {
            let expected = self.committed[(check_at - 1) as usize];
            if track.shadow.chain(check_at) != Some(expected.chain) {
                return Err(Violation::new(
                    Property::CommitAgreement,
                    format!(
                        "node {id} committed index {check_at} (commit {commit}) with a log that differs from the committed log (term {} there)",
                        expected.term
                    ),
                ));
            }
        }
        if commit <= known {
            return Ok(());
        }
        // An upper bound of the term the entries were committed in.
        let commit_term = track.hard_state.term.max(volatile_term);
        for index in known + 1..=commit {
            let (Some(term), Some(chain)) = (track.shadow.term(index), track.shadow.chain(index)) else {
                return Err(Violation::new(
                    Property::CommitAgreement,
                    format!(
                        "node {id} has a snapshot at {} past the highest index known committed ({known})",
                        track.shadow.snapshot_index()
                    ),
                ));
            };
            self.committed.push(CommittedEntry { term, chain, commit_term });
        }
        Ok(())
    }

    /// One leader per term; a new leader holds every entry committed in earlier terms.
    fn check_leader(&mut self, position: usize, role: Role, term: Term) -> Check {
        let id = self.nodes[position].id;
        if role != Role::Leader {
            self.nodes[position].leader_term = None;
            return Ok(());
        }
        match self.leaders.entry(term) {
            MapEntry::Vacant(vacant) => {
                vacant.insert(id);
            }
            MapEntry::Occupied(occupied) if *occupied.get() != id => {
                return Err(Violation::new(
                    Property::ElectionSafety,
                    format!("nodes {} and {id} were both leader of term {term}", occupied.get()),
                ));
            }
            MapEntry::Occupied(_) => {}
        }
        if self.nodes[position].leader_term != Some(term) {
            self.check_leader_completeness(position, term)?;
        }
        self.nodes[position].leader_term = Some(term);
        Ok(())
    }

    fn check_leader_completeness(&self, position: usize, term: Term) -> Check {
        let track = &self.nodes[position];
        // The highest index surely committed before `term`: commit terms are upper bounds.
        let Some(offset) = self.committed.iter().rposition(|c| c.commit_term < term) else { return Ok(()) };
        let index = offset as Index + 1;
        let expected = self.committed[offset];
        let shadow = &track.shadow;
        let holds = if index < shadow.snapshot_index() {
            // The snapshot covers `index`; it agrees with the committed log if its own chain does.
            self.committed_entry(shadow.snapshot_index())
                .is_none_or(|c| Some(c.chain) == shadow.chain(shadow.snapshot_index()))
        } else {
            shadow.chain(index) == Some(expected.chain)
        };
        if holds {
            return Ok(());
        }
        Err(Violation::new(
            Property::LeaderCompleteness,
            format!(
                "node {} became leader of term {term} without committed entry {index} (term {}, committed by term {}); its last index is {}",
                track.id,
                expected.term,
                expected.commit_term,
                shadow.last_index()
            ),
        ))
    }

    /// Checks one committed entry node `id` applies, in order.
    pub fn observe_apply(&mut self, id: NodeId, entry: &Entry) -> Check {
        let position = self.known_position(id)?;
        let index = entry.index;
        let expected_index = self.nodes[position].app.applied_index + 1;
        if index != expected_index {
            return Err(Violation::new(
                Property::AppliedOrder,
                format!("node {id} applied index {index} when {expected_index} was next"),
            ));
        }
        self.check_applied_is_committed(id, entry)?;
        let track = &mut self.nodes[position];
        track.app.apply(entry);
        let fingerprint = track.app.fingerprint;
        match self.applied.get((index - 1) as usize) {
            Some(global) if global.fingerprint != fingerprint => Err(Violation::new(
                Property::StateMachineSafety,
                format!(
                    "nodes {} and {id} applied different entries at index {index} (this one has term {})",
                    global.first_node, entry.term
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.applied.push(AppliedIndex { fingerprint, first_node: id });
                Ok(())
            }
        }
    }

    /// An applied entry must be exactly the committed entry at its index.
    fn check_applied_is_committed(&self, id: NodeId, entry: &Entry) -> Check {
        let index = entry.index;
        let Some(committed) = self.committed_entry(index) else {
            return Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {id} applied index {index} beyond the committed index {}", self.committed_index()),
            ));
        };
        let previous = self.committed_entry(index - 1).map_or(Fingerprint::default(), |c| c.chain);
        if chain_after(previous, index, entry_content(entry)) != committed.chain {
            return Err(Violation::new(
                Property::StateMachineSafety,
                format!(
                    "node {id} applied at index {index} an entry of term {} that is not the committed one (term {})",
                    entry.term, committed.term
                ),
            ));
        }
        Ok(())
    }

    /// Checks a snapshot node `id` restores its application from.
    pub fn observe_restore(&mut self, id: NodeId, snapshot: &Snapshot) -> Check {
        let position = self.known_position(id)?;
        let index = snapshot.meta.index;
        let Some(app) = AppState::decode(&snapshot.data) else {
            return Err(Violation::new(
                Property::NodeError,
                format!("node {id} got a snapshot at index {index} whose data is not an application state"),
            ));
        };
        if app.applied_index != index {
            return Err(Violation::new(
                Property::NodeError,
                format!("node {id} got a snapshot at index {index} holding the state at {}", app.applied_index),
            ));
        }
        let applied = self.nodes[position].app.applied_index;
        if index < applied {
            return Err(Violation::new(
                Property::AppliedOrder,
                format!("node {id} restored a snapshot at index {index} after applying up to {applied}"),
            ));
        }
        self.check_app_state(id, &app, "restored from a snapshot")?;
        self.nodes[position].app = app;
        Ok(())
    }

    /// Records that node `id` restarted with its application at `app` (kept or rebuilt).
    pub fn observe_restart(&mut self, id: NodeId, app: AppState) -> Check {
        let position = self.known_position(id)?;
        self.check_app_state(id, &app, "restarted")?;
        let track = &mut self.nodes[position];
        track.app = app;
        track.leader_term = None;
        track.syncs_until_audit = 0;
        track.volatile_commit = (0, 0);
        Ok(())
    }

    /// An application state at index `i` must equal the global applied state at `i`.
    fn check_app_state(&self, id: NodeId, app: &AppState, how: &str) -> Check {
        let index = app.applied_index;
        if index == 0 {
            return Ok(());
        }
        match self.applied.get((index - 1) as usize) {
            Some(global) if global.fingerprint == app.fingerprint => Ok(()),
            Some(global) => Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {id} {how} at index {index} with a state that differs from node {}'s", global.first_node),
            )),
            None => Err(Violation::new(
                Property::StateMachineSafety,
                format!("node {id} {how} at index {index}, past every applied index ({})", self.applied.len()),
            )),
        }
    }

    /// Records a read request issued now under `request_id`.
    pub fn observe_read_issued(&mut self, request_id: u64) {
        self.reads_issued.insert(request_id, self.committed_index());
    }

    /// A confirmed read must cover every entry committed before it was issued, and no more
    /// than is committed.
    pub fn observe_read_state(&self, id: NodeId, read: &ReadState) -> Check {
        let Some(&committed_then) = self.reads_issued.get(&read.request_id) else {
            return Err(Violation::new(
                Property::ReadIndex,
                format!("node {id} confirmed read {} that was never issued", read.request_id),
            ));
        };
        if read.index < committed_then || read.index > self.committed_index() {
            return Err(Violation::new(
                Property::ReadIndex,
                format!(
                    "node {id} confirmed read {} at index {}; index {committed_then} was committed when it was issued and {} is now",
                    read.request_id,
                    read.index,
                    self.committed_index()
                ),
            ));
        }
        Ok(())
    }

    fn committed_entry(&self, index: Index) -> Option<CommittedEntry> {
        let offset = index.checked_sub(1)?;
        self.committed.get(offset as usize).copied()
    }

    fn position(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|t| t.id == id)
    }

    fn known_position(&self, id: NodeId) -> Result<usize, Violation> {
        self.position(id)
            .ok_or_else(|| Violation::new(Property::NodeError, format!("node {id} is not a member of the cluster")))
    }

    fn track(&self, id: NodeId) -> Option<&NodeTrack> {
        self.position(id).map(|p| &self.nodes[p])
    }
}

impl SafetyChecker for Checker {
    fn steps_checked(&self) -> u64 {
        Checker::steps_checked(self)
    }

    fn committed_index(&self) -> Index {
        Checker::committed_index(self)
    }

    fn leader_terms(&self) -> usize {
        Checker::leader_terms(self)
    }

    fn request_audit(&mut self, id: NodeId) {
        Checker::request_audit(self, id);
    }

    fn observe_apply(&mut self, id: NodeId, entry: &Entry) -> Check {
        Checker::observe_apply(self, id, entry)
    }

    fn observe_restore(&mut self, id: NodeId, snapshot: &Snapshot) -> Check {
        Checker::observe_restore(self, id, snapshot)
    }

    fn observe_restart(&mut self, id: NodeId, app: AppState) -> Check {
        Checker::observe_restart(self, id, app)
    }

    fn observe_read_issued(&mut self, request_id: u64) {
        Checker::observe_read_issued(self, request_id);
    }

    fn observe_read_state(&self, id: NodeId, read: &ReadState) -> Check {
        Checker::observe_read_state(self, id, read)
    }
}
