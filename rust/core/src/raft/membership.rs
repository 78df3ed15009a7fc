//! Membership changes in the state machine: proposing one, applying committed ones, entering
//! and leaving joint configurations, and who may campaign (etcd raft's `applyConfChange`,
//! `switchToConfig` and auto-leave). What a change does to a configuration is
//! `conf_change.rs`.

use crate::codec::{decode_conf_change, encode_conf_change};
use crate::error::{DropReason, RaftError, Result};
use crate::raft::conf_change::{apply_conf_change, ConfChange};
use crate::raft::core::Raft;
use crate::raft::message::{ConfState, Entry, EntryKind, Index, NodeId, ENTRY_OVERHEAD_BYTES, NO_NODE};
use crate::raft::progress::Progress;
use crate::raft::quorum::{JointConfig, MajorityConfig};
use crate::raft::ready::Role;
use crate::raft::storage::Storage;

/// Entries read at once when the configuration is replayed from the log.
const REPLAY_CHUNK_ENTRIES: usize = 4096;

impl<S: Storage> Raft<S> {
    /// Proposes a membership change. Only the leader takes one (it checks the change against
    /// the configuration in force, which no other change may be about to move: at most one is
    /// uncommitted or unapplied at a time, etcd's `pendingConfIndex`).
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        if self.role != Role::Leader {
            return Err(self.not_leader());
        }
        if self.lead_transferee != NO_NODE {
            return Err(RaftError::ProposalDropped { reason: DropReason::Transferring });
        }
        if self.pending_conf_index > self.log.applying {
            return Err(RaftError::ProposalDropped { reason: DropReason::ConfChangePending });
        }
        apply_conf_change(&self.conf_state, change)
            .map_err(|problem| RaftError::InvalidConfig { field: "conf_change", problem })?;
        let data = encode_conf_change(change);
        self.uncommitted_bytes += data.len() + ENTRY_OVERHEAD_BYTES;
        let entry = Entry { term: self.term, index: self.log.last_index() + 1, kind: EntryKind::ConfChange, data };
        self.pending_conf_index = entry.index;
        self.append_as_leader(&[entry]);
        self.refresh_pending_confs();
        Ok(())
    }

    /// The changes among `entries` (handed out to apply, so committed) take effect, in order.
    /// Returns whether the configuration moved. A change at or below `conf_applied_index` took
    /// effect already (when the configuration was replayed at start); a change that does not
    /// apply is skipped, by every node alike (see `conf_change.rs`).
    pub fn apply_conf_entries(&mut self, entries: &[Entry]) -> bool {
        if !self.conf_state.auto_leave && entries.iter().all(|entry| entry.kind != EntryKind::ConfChange) {
            return false;
        }
        let (mut changed, mut skipped) = (false, false);
        for entry in entries {
            if entry.kind != EntryKind::ConfChange || entry.index <= self.conf_applied_index {
                continue;
            }
            self.conf_applied_index = entry.index;
            let next = decode_conf_change(&entry.data)
                .ok()
                .and_then(|change| apply_conf_change(&self.conf_state, &change).ok());
            match next {
                Some(next) => {
                    self.switch_to_conf(next);
                    changed = true;
                }
                None => skipped = true,
            }
        }
        if skipped && self.role == Role::Leader {
            // A skipped change no longer bounds the commit index.
            self.refresh_pending_confs();
            self.maybe_commit();
        }
        self.maybe_auto_leave();
        changed
    }

    /// A leader in a joint configuration that leaves by itself proposes the leave once the
    /// change that entered it is applied (etcd's auto-leave). A refusal (a transfer under way)
    /// is retried at the next tick or apply.
    pub fn maybe_auto_leave(&mut self) {
        let due = self.role == Role::Leader
            && self.conf_state.auto_leave
            && self.conf_state.is_joint()
            && self.pending_conf_index <= self.log.applying;
        if due {
            let _retried_later = self.propose_conf_change(&ConfChange::leave_joint());
        }
    }

    /// Makes `conf` the configuration in force: quorums, peers, and at a leader the progress of
    /// members that joined (probed at once) or left. A leader that is no longer a voter steps
    /// down (it stopped counting itself already: the quorums no longer name it).
    pub fn switch_to_conf(&mut self, conf: ConfState) {
        self.conf = JointConfig {
            incoming: MajorityConfig::new(conf.voters.clone()),
            outgoing: MajorityConfig::new(conf.voters_outgoing.clone()),
        };
        let id = self.id;
        self.peers = conf.members().into_iter().filter(|&member| member != id).collect();
        self.conf_state = conf;
        self.conf_switches += 1;
        if self.role != Role::Leader {
            return;
        }
        self.refresh_pending_confs();
        if self.lead_transferee != NO_NODE && !self.conf_state.is_voter(self.lead_transferee) {
            self.lead_transferee = NO_NODE;
        }
        if !self.conf_state.is_voter(id) {
            self.hand_over_leadership();
            return;
        }
        if self.maybe_commit() {
            // on_commit_advanced sent the new commit index and entries.
        } else {
            for i in 0..self.peers.len() {
                let to = self.peers[i];
                self.send_append(to, false);
            }
        }
    }

    /// A leader that is no longer a voter steps down by handing leadership over to the voter
    /// that holds the most of its log (etcd leaves this as a TODO): the target is caught up
    /// first, so it learns that the change committed and counts by the new configuration,
    /// then told to campaign. Stepping down at once could leave the new voters unable to elect
    /// anyone: one that does not know the change committed still counts by the old
    /// configuration, whose other voters (this node among them) may hold a longer log than it
    /// and refuse it. Until the transfer ends the node refuses proposals (`Transferring`) and
    /// leads without counting itself (thesis 4.2.2); an unfinished transfer is started again
    /// after an election timeout (`tick_leader`), and check-quorum still deposes it when the
    /// new voters are out of reach. A node without a voter to hand over to steps down at once.
    pub fn hand_over_leadership(&mut self) {
        let id = self.id;
        let successor = self
            .progress
            .iter()
            .filter(|(member, _)| *member != id && self.conf_state.is_voter(*member))
            .max_by_key(|(member, p)| (p.match_index, std::cmp::Reverse(*member)))
            .map(|(member, _)| *member);
        match successor {
            Some(to) if self.lead_transferee == NO_NODE => {
                // Tell it the commit index first: the change is committed, so the target
                // campaigns by the new configuration when the commit arrives before TimeoutNow.
                let committed = self.log.committed;
                self.want_commit(to, committed);
                let _voter_checked_above = self.handle_transfer_leader(to);
            }
            Some(_) => {}
            None => {
                let term = self.term;
                self.become_follower(term, NO_NODE);
            }
        }
    }

    /// Progress for every one of `members` (ascending), and no one else: members that left lose theirs, new ones start
    /// probing right after the leader's log (and count as recently active, so a check-quorum
    /// right after the change does not depose the leader for a node it never heard from).
    fn track_members(&mut self, members: Vec<NodeId>) {
        let next_index = self.log.last_index() + 1;
        let (max_msgs, max_bytes) = (self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        let mut old = std::mem::take(&mut self.progress).into_iter().peekable();
        let mut progress = Vec::with_capacity(members.len());
        for member in members {
            while old.next_if(|(id, _)| *id < member).is_some() {}
            let kept = old.next_if(|(id, _)| *id == member).map(|(_, p)| p);
            let p = kept.unwrap_or_else(|| {
                let mut p = Progress::new(next_index, max_msgs, max_bytes);
                p.recent_active = true;
                p
            });
            progress.push((member, p));
        }
        self.progress = progress;
    }

    /// This node may campaign: it is a voter of the configuration in force (etcd's
    /// `promotable`). Not of the one its log leads to: a change appended and never committed
    /// (a leader that proposed its own removal and lost its leadership) would otherwise keep a
    /// node whose log is the most up to date from ever campaigning, and no one else could win.
    pub fn promotable(&self) -> bool {
        self.conf_state.is_voter(self.id)
    }

    /// The configuration after every change in the log past the one in force, committed or
    /// not. Read at campaigns and at elections only (the unapplied suffix is short).
    fn latest_log_conf(&self) -> ConfState {
        let mut conf = self.conf_state.clone();
        // Changes up to `applying` were handed out, so put in force, already.
        let lo = self.conf_applied_index.max(self.log.applying).max(self.log.first_index() - 1) + 1;
        let hi = self.log.last_index() + 1;
        self.for_each_conf_change(lo, hi, |entry| {
            if let Some(next) =
                decode_conf_change(&entry.data).ok().and_then(|change| apply_conf_change(&conf, &change).ok())
            {
                conf = next;
            }
        });
        conf
    }

    /// The quorums a campaign needs besides those of the configuration in force: those of the
    /// configuration its log leads to, when changes are appended and not yet in force (empty,
    /// so neutral, otherwise). Configurations take effect when applied (etcd), which lags: a
    /// candidate that holds a change it does not know committed would otherwise count by the
    /// older configuration while the newer one elects another leader in the same term, and
    /// a leader so elected could commit by a quorum the newer configuration does not meet.
    /// Needing both quorums keeps every election within reach of the configuration that
    /// commits next (the quorums of adjacent configurations always meet).
    pub fn latest_log_conf_quorums(&self) -> JointConfig {
        let latest = self.latest_log_conf();
        if latest == self.conf_state {
            return JointConfig::default();
        }
        JointConfig {
            incoming: MajorityConfig::new(latest.voters),
            outgoing: MajorityConfig::new(latest.voters_outgoing),
        }
    }

    /// Everyone a campaign asks for a vote: the voters of both configurations but this node.
    pub fn election_voters(&self) -> Vec<NodeId> {
        let id = self.id;
        let mut voters = self.conf.ids();
        voters.extend(self.election_conf.ids());
        voters.sort_unstable();
        voters.dedup();
        voters.retain(|&voter| voter != id);
        voters
    }

    /// At a leader: what the changes in its log not yet in force bound. Configurations take
    /// effect when applied, so a leader counts by the configuration in force while changes it
    /// holds are committed or on their way. Counting so is safe up to the second such change:
    /// an entry committed by the quorums in force before a change meets the quorums of the
    /// configuration that change makes (adjacent configurations always share a voter of every
    /// quorum), but not those of the one after. Past the second, an entry also needs the
    /// quorums of the configuration the log leads to (`conf_commit_bound`,
    /// `latest_conf_quorums`), and the leader replicates to every member of that one too.
    /// (Two changes wait only at a new leader: a leader proposes one at a time.)
    pub fn refresh_pending_confs(&mut self) {
        let lo = self.log.applying.max(self.conf_applied_index) + 1;
        let hi = self.log.last_index() + 1;
        let (mut pending, mut latest) = (Vec::new(), self.conf_state.clone());
        self.for_each_conf_change(lo, hi, |entry| {
            pending.push(entry.index);
            if let Some(next) =
                decode_conf_change(&entry.data).ok().and_then(|change| apply_conf_change(&latest, &change).ok())
            {
                latest = next;
            }
        });
        if let Some(&second) = pending.get(1) {
            self.conf_commit_bound = second - 1;
            self.latest_conf_quorums = JointConfig {
                incoming: MajorityConfig::new(latest.voters.clone()),
                outgoing: MajorityConfig::new(latest.voters_outgoing.clone()),
            };
        } else {
            self.conf_commit_bound = Index::MAX;
            self.latest_conf_quorums = JointConfig::default();
        }
        if self.role == Role::Leader {
            let mut members = self.conf_state.members();
            members.extend(latest.members());
            members.sort_unstable();
            members.dedup();
            let id = self.id;
            self.peers = members.iter().copied().filter(|&member| member != id).collect();
            self.track_members(members);
        }
    }

    /// The highest index a quorum holds, given each member's acknowledged index: by the
    /// configuration in force, and past `conf_commit_bound` by the latest one too.
    pub fn quorum_index(&self, acked: impl Fn(NodeId) -> Index) -> Index {
        let index = self.conf.committed_index(&acked);
        if index <= self.conf_commit_bound {
            return index;
        }
        self.conf_commit_bound.max(index.min(self.latest_conf_quorums.committed_index(&acked)))
    }

    /// Replays the changes in the log up to `committed` onto the configuration of the
    /// snapshot, at start: a committed change is in force whether or not the application
    /// applied it before the restart.
    pub fn replay_conf_changes(&mut self, committed: Index) {
        let (lo, hi) = (self.log.first_index(), committed + 1);
        let mut conf = self.conf_state.clone();
        let mut last = self.conf_applied_index;
        self.for_each_conf_change(lo, hi, |entry| {
            last = entry.index;
            if let Some(next) =
                decode_conf_change(&entry.data).ok().and_then(|change| apply_conf_change(&conf, &change).ok())
            {
                conf = next;
            }
        });
        self.conf_applied_index = last;
        self.switch_to_conf(conf);
    }

    /// Calls `visit` with every membership-change entry in `[lo, hi)`, read in bounded chunks.
    fn for_each_conf_change(&self, lo: Index, hi: Index, mut visit: impl FnMut(&Entry)) {
        let mut next = lo;
        while next < hi {
            let chunk_hi = hi.min(next + REPLAY_CHUNK_ENTRIES as Index);
            let entries = self
                .log
                .slice(next, chunk_hi, usize::MAX)
                .unwrap_or_else(|e| panic!("for_each_conf_change: [{next}, {chunk_hi}) unreadable: {e}"));
            let Some(last) = entries.last() else { return };
            next = last.index + 1;
            entries.iter().filter(|entry| entry.kind == EntryKind::ConfChange).for_each(&mut visit);
        }
    }

    /// A snapshot from the leader replaces the log: its configuration is the one in force.
    pub fn restore_conf(&mut self, conf: ConfState, index: Index) {
        if conf.voters.is_empty() {
            return;
        }
        self.conf_applied_index = index;
        self.switch_to_conf(conf);
    }
}
