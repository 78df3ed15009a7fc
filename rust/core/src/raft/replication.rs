//! Log replication: proposals, AppendEntries with flow control, commit, heartbeats and
//! snapshots (Raft paper sections 5.3, 5.4 and 7; thesis chapter 5 for snapshots).

use crate::error::{DropReason, RaftError, Result};
use crate::raft::core::Raft;
use crate::raft::message::{
    Entry, EntryKind, Index, Message, MessageType, NodeId, Snapshot, ENTRY_OVERHEAD_BYTES, NO_NODE,
};
use crate::raft::progress::ProgressState;
use crate::raft::ready::Role;
use crate::raft::storage::Storage;
use bytes::Bytes;

/// Checks a proposed batch; returns the bytes it counts against limits.
fn check_proposal(data: &[Bytes], max_proposal_bytes: usize) -> Result<usize> {
    if data.is_empty() {
        return Err(RaftError::ProposalDropped { reason: DropReason::Empty });
    }
    let batch_bytes: usize = data.iter().map(|d| d.len() + ENTRY_OVERHEAD_BYTES).sum();
    if batch_bytes > max_proposal_bytes {
        return Err(RaftError::ProposalDropped { reason: DropReason::TooLarge });
    }
    Ok(batch_bytes)
}

impl<S: Storage> Raft<S> {
    /// Proposes a batch of commands. At a follower the batch is forwarded to the leader.
    pub fn propose(&mut self, data: Vec<Bytes>) -> Result<()> {
        let batch_bytes = check_proposal(&data, self.cfg.max_proposal_bytes())?;
        if self.role != Role::Leader {
            let entries = data.into_iter().map(|d| Entry { term: 0, index: 0, kind: EntryKind::Normal, data: d });
            return self.forward_to_leader(MessageType::Propose, |m| m.entries = entries.collect());
        }
        if self.lead_transferee != NO_NODE {
            return Err(RaftError::ProposalDropped { reason: DropReason::Transferring });
        }
        let limit = self.cfg.max_uncommitted_bytes;
        if limit > 0 && self.uncommitted_bytes + batch_bytes > limit {
            // A batch that could never fit is a caller error, not back-pressure.
            let reason = if batch_bytes > limit { DropReason::TooLarge } else { DropReason::UncommittedLimit };
            return Err(RaftError::ProposalDropped { reason });
        }
        let (term, first) = (self.term, self.log.last_index() + 1);
        let entries: Vec<Entry> = data
            .into_iter()
            .enumerate()
            .map(|(i, d)| Entry { term, index: first + i as Index, kind: EntryKind::Normal, data: d })
            .collect();
        self.uncommitted_bytes += batch_bytes;
        self.append_as_leader(&entries);
        Ok(())
    }

    pub fn append_noop(&mut self) {
        let e = Entry { term: self.term, index: self.log.last_index() + 1, kind: EntryKind::NoOp, data: Bytes::new() };
        self.append_as_leader(&[e]);
    }

    pub(crate) fn append_as_leader(&mut self, entries: &[Entry]) {
        self.log.append(entries);
        // The leader counts itself only once its own append is durable (`on_persisted`), so
        // followers can be sent the entries at once, in parallel with the local fsync.
        if self.peers.is_empty() {
            return;
        }
        self.bcast_append();
    }

    pub fn bcast_append(&mut self) {
        for i in 0..self.peers.len() {
            let to = self.peers[i];
            self.send_append(to, true);
        }
    }

    /// Sends one AppendEntries (or a snapshot) to `to` if its flow control allows. With
    /// `send_if_empty` false, nothing goes out when there are no new entries.
    /// Returns whether a message went out.
    pub fn send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let Some(pr) = self.progress(to) else { return false };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next_index;
        let prev_index = next - 1;
        let prev_term = self.log.term(prev_index);
        let entries = self.log.entries(next, self.cfg.max_entries_per_msg, self.cfg.max_bytes_per_msg);
        let (prev_term, entries) = match (prev_term, entries) {
            (Ok(t), Ok(e)) => (t, e),
            _ => return self.send_snapshot(to),
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let committed = self.log.committed;
        let pr = self.progress_mut(to).expect("progress exists: checked above");
        pr.sent_commit = pr.sent_commit.max(committed);
        if let Some(last) = entries.last() {
            match pr.state {
                ProgressState::Replicate => {
                    let bytes = entries.iter().map(Entry::size_bytes).sum();
                    pr.optimistic_update(last.index);
                    pr.inflights.add(last.index, bytes);
                }
                ProgressState::Probe => pr.probe_sent = true,
                ProgressState::Snapshot => unreachable!("send_append: paused in snapshot state"),
            }
        }
        let mut m = Message::new(MessageType::Append, self.id, to, self.term);
        m.index = prev_index;
        m.log_term = prev_term;
        m.commit = committed;
        m.entries = entries;
        self.send(m);
        true
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let snapshot = self.log.snapshot();
        if snapshot.is_empty() {
            // Entries are missing but no snapshot exists yet: the application is installing
            // one; try again later.
            return false;
        }
        let pr = self.progress_mut(to).expect("send_snapshot: progress exists");
        pr.become_snapshot(snapshot.meta.index);
        let mut m = Message::new(MessageType::Snapshot, self.id, to, self.term);
        m.snapshot = Some(snapshot);
        self.send(m);
        true
    }

    /// A follower in snapshot state for an election timeout is probed again: the snapshot
    /// or its acknowledgement may have been lost.
    pub fn tick_snapshot_progress(&mut self) {
        let timeout = self.cfg.election_timeout_ticks;
        for (_, pr) in self.progress.iter_mut() {
            if pr.state == ProgressState::Snapshot {
                pr.snapshot_elapsed_ticks += 1;
                if pr.snapshot_elapsed_ticks >= timeout {
                    pr.become_probe();
                }
            }
        }
    }

    /// A periodic heartbeat. Every broadcast opens a new round: its acknowledgements confirm
    /// the reads that arrived before it and extend the leader lease from the time it was sent.
    pub fn bcast_heartbeat(&mut self) {
        let round = self.read_only.start_round(self.now_ticks);
        self.bcast_heartbeat_with(round);
    }

    /// Heartbeats carrying read round `round` (0: none).
    pub fn bcast_heartbeat_with(&mut self, round: u64) {
        for i in 0..self.peers.len() {
            let to = self.peers[i];
            let committed = self.log.committed;
            let Some(pr) = self.progress_mut(to) else { continue };
            // Never tell a follower to commit past what it is known to hold.
            let commit = committed.min(pr.match_index);
            pr.sent_commit = pr.sent_commit.max(commit);
            let mut m = Message::new(MessageType::Heartbeat, self.id, to, self.term);
            m.commit = commit;
            // Our whole commit index: equal to `commit`, it tells the follower its log matches
            // ours up to there (a node back with an empty disk waits for that, `empty_disk`).
            m.index = committed;
            m.context = round;
            self.send(m);
        }
    }

    /// Commits the highest index a quorum holds, if of this term. On success the followers
    /// learn the new commit index at once.
    pub fn maybe_commit(&mut self) -> bool {
        let index = self.quorum_index(|id| self.progress(id).map_or(0, |p| p.match_index));
        let term = self.term;
        if self.log.maybe_commit(index, term) {
            self.on_commit_advanced();
            return true;
        }
        false
    }

    /// A new commit index goes at once only to followers waiting for it (see
    /// `Progress::commit_wanted`) and with entries that are ready to go. Everyone else learns
    /// it from the next append, or at the next tick (`bcast_commit`): a commit-only append
    /// to every follower after every commit would double the messages, follower Readies and
    /// replies of each call, which costs more than the follower's apply lag of at most a tick
    /// is worth (etcd sends it at once).
    fn on_commit_advanced(&mut self) {
        self.release_reads_waiting_for_commit();
        for i in 0..self.peers.len() {
            let to = self.peers[i];
            if !self.send_append(to, false) {
                self.send_commit_if_wanted(to);
            }
        }
    }

    /// `to` waits to see `index` committed before it answers a caller (a forwarded proposal
    /// ends there, or a read was answered at it).
    pub fn want_commit(&mut self, to: NodeId, index: Index) {
        let Some(pr) = self.progress_mut(to) else { return };
        pr.commit_wanted = pr.commit_wanted.max(index);
        self.send_commit_if_wanted(to);
    }

    /// Sends `to` the commit index now if it waits for a committed index it was not sent.
    fn send_commit_if_wanted(&mut self, to: NodeId) {
        let committed = self.log.committed;
        if self.progress(to).is_some_and(|p| p.sent_commit < p.commit_wanted.min(committed)) {
            self.send_append(to, true);
        }
    }

    /// Once per tick: every follower not yet sent the current commit index is sent it, with
    /// whatever entries it is due. Bounds a follower's apply lag to a tick when no appends flow.
    pub fn bcast_commit(&mut self) {
        let committed = self.log.committed;
        for i in 0..self.peers.len() {
            let to = self.peers[i];
            if self.progress(to).is_some_and(|p| p.sent_commit < committed) {
                self.send_append(to, true);
            }
        }
    }

    /// The local log is durable up to `index` (reported by `advance`).
    pub fn on_persisted(&mut self, index: Index) {
        if self.role != Role::Leader {
            return;
        }
        let id = self.id;
        let updated = self.progress_mut(id).is_some_and(|p| p.maybe_update(index));
        if updated {
            self.maybe_commit();
        }
    }

    pub fn handle_append(&mut self, m: &Message) -> Result<()> {
        let mut resp = Message::new(MessageType::AppendResp, self.id, m.from, self.term);
        if m.index < self.log.committed {
            // Everything up to our commit index matches the leader's log already.
            resp.index = self.log.committed;
            self.send(resp);
            return Ok(());
        }
        match self.log.maybe_append(m.index, m.log_term, m.commit, &m.entries) {
            Ok(Some(last_new)) => resp.index = last_new,
            Ok(None) => {
                // Fast backtracking (thesis 5.3 / etcd): tell the leader the last index at or
                // below the rejected one whose term is at most the leader's prev term.
                let hint_index = self.log.find_conflict_by_term(m.index.min(self.log.last_index()), m.log_term);
                resp.index = m.index;
                resp.reject = true;
                resp.reject_hint = hint_index;
                resp.log_term = self.log.term_or_zero(hint_index);
            }
            Err(conflict) => {
                let problem =
                    format!("entry {conflict} would replace a committed entry (commit {})", self.log.committed);
                return Err(RaftError::InvalidMessage { from: m.from, problem });
            }
        }
        self.send(resp);
        Ok(())
    }

    pub fn handle_heartbeat(&mut self, m: &Message) {
        let last_index = self.log.last_index();
        self.log.commit_to(m.commit.min(last_index));
        let mut resp = Message::new(MessageType::HeartbeatResp, self.id, m.from, self.term);
        resp.context = m.context;
        self.send(resp);
        if m.commit > last_index {
            // The leader sends at most what we acknowledged: we lost entries we had (an empty
            // disk, `empty_disk.rs`). Tell it what we hold, as a rejected append would.
            let mut lost = Message::new(MessageType::AppendResp, self.id, m.from, self.term);
            lost.index = m.commit;
            lost.reject = true;
            lost.reject_hint = last_index;
            lost.log_term = self.log.term_or_zero(last_index);
            self.send(lost);
        }
    }

    pub fn handle_snapshot(&mut self, m: Message) {
        let Some(snapshot) = m.snapshot else { return };
        let mut resp = Message::new(MessageType::AppendResp, self.id, m.from, self.term);
        resp.index = if self.restore(snapshot) { self.log.last_index() } else { self.log.committed };
        self.send(resp);
    }

    /// Installs `snapshot` unless the log already covers it. Returns whether it was installed.
    fn restore(&mut self, snapshot: Snapshot) -> bool {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if index <= self.log.committed {
            return false;
        }
        if self.log.match_term(index, term) {
            // Our log already has the snapshot's last entry: just fast-forward the commit.
            self.log.commit_to(index);
            return false;
        }
        let conf = snapshot.meta.conf_state.clone();
        self.log.restore(snapshot);
        self.restore_conf(conf, index);
        true
    }

    pub fn handle_append_resp(&mut self, m: &Message) -> Result<()> {
        let from = m.from;
        let last_index = self.log.last_index();
        let Some(pr) = self.progress_mut(from) else { return Ok(()) };
        pr.recent_active = true;
        if m.reject {
            self.handle_append_reject(m);
            return Ok(());
        }
        if m.index > last_index {
            // A leader never shortens its log within its term: no follower can hold more.
            let problem = format!("acknowledges index {} beyond the leader's last index {last_index}", m.index);
            return Err(RaftError::InvalidMessage { from, problem });
        }
        let was_paused = pr.is_paused();
        if !pr.maybe_update(m.index) {
            return Ok(());
        }
        let mut snapshot_done = false;
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.match_index >= pr.pending_snapshot => {
                pr.become_probe();
                pr.become_replicate();
                snapshot_done = true;
            }
            ProgressState::Snapshot => {}
            ProgressState::Replicate => pr.inflights.free_le(m.index),
        }
        if self.maybe_commit() {
            // on_commit_advanced sent entries, and the commit index where it is waited for.
        } else if was_paused {
            // The follower may have missed the latest commit index while it was paused:
            // send even an empty append, if it was not sent that index yet, so it learns it
            // now rather than at the leader's next tick.
            // After a snapshot, send one even so: it states our commit index with a log the
            // follower can match, which a node back with an empty disk waits for (`empty_disk`).
            let stale_commit = self.progress(from).is_some_and(|p| p.sent_commit < self.log.committed);
            self.send_append(from, stale_commit || snapshot_done);
        }
        // Keep the pipeline full: send while the window and the log allow.
        while self.send_append(from, false) {}
        self.maybe_finish_transfer(from);
        Ok(())
    }

    fn handle_append_reject(&mut self, m: &Message) {
        let mut next_probe_index = m.reject_hint;
        if m.log_term > 0 {
            next_probe_index = self.log.find_conflict_by_term(m.reject_hint, m.log_term);
        }
        let pr = self.progress_mut(m.from).expect("handle_append_reject: progress exists");
        if m.reject_hint < pr.match_index {
            // In our term the follower held `match_index` entries of our log and no leader of
            // this term shortens it: it lost what it acknowledged (`empty_disk.rs`).
            pr.lost_log(m.reject_hint);
            self.lost_logs_seen += 1;
            self.last_lost_log_peer = m.from;
            self.send_append(m.from, true);
            return;
        }
        if pr.maybe_decr_to(m.index, next_probe_index) {
            if pr.state == ProgressState::Replicate {
                pr.become_probe();
            }
            self.send_append(m.from, true);
        }
    }

    pub fn handle_heartbeat_resp(&mut self, m: &Message) {
        let last_index = self.log.last_index();
        let Some(pr) = self.progress_mut(m.from) else { return };
        pr.recent_active = true;
        pr.probe_sent = false;
        if pr.state == ProgressState::Replicate && pr.inflights.full() {
            pr.inflights.free_first_one();
        }
        let behind = pr.match_index < last_index;
        if behind {
            self.send_append(m.from, true);
        }
        if m.context != 0 {
            self.handle_read_ack(m.from, m.context);
        }
    }

    /// The transport could not deliver to `id`: stop streaming to it and probe again.
    pub fn report_unreachable(&mut self, id: NodeId) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(pr) = self.progress_mut(id) {
            if pr.state == ProgressState::Replicate {
                pr.become_probe();
            }
        }
    }
}
