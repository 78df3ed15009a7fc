//! A member that comes back with an empty disk (issue 21, "replacing a dead machine").
//!
//! Raft's safety rests on what a node made durable: its vote (one per term) and the entries it
//! acknowledged. A node restarted under its old id with an empty disk has forgotten both: it
//! could vote a second time in a term it voted in, and its acknowledgements, counted by the
//! leader for commits, are gone. Two rules, each checkable by one node alone:
//!
//! - **The node abstains** (with `Config::empty_disk_guard`). A node that started blank (term
//!   0, no vote, no entry, no snapshot) cannot tell a first boot from a wiped disk by itself;
//!   the cluster tells it: a message that shows the cluster has a log (an index, a log term or
//!   a commit index above 0, or a snapshot) proves it is not in a new cluster's first
//!   election. From then on ([`EmptyDisk::Abstaining`]) it grants no vote and never
//!   campaigns, until it holds every committed entry again ([`EmptyDisk::Recovered`]): until
//!   a message from the leader of its term `t` states a commit index of an entry of term `t`
//!   (which covers all that earlier leaders committed) and its log matches the leader's up to
//!   there. Any part of the log is not enough: appends are capped in entries and bytes, and a
//!   snapshot may end below the commit index; a node holding a prefix would vote for a
//!   candidate lacking the rest, which may have been committed with the acknowledgements it
//!   lost. A heartbeat counts only if its commit index is not capped at what the follower
//!   acknowledged (it then equals the leader's whole one, which heartbeats carry in `index`);
//!   a snapshot alone does not count: a leader follows an acknowledged snapshot with an
//!   append, even an empty one, to state its commit index. Recovering from the leader of `t`
//!   counts as the node's vote in `t` (for that leader, which has won `t` already): it cannot
//!   then vote for another candidate in `t`, in which it may have voted before its disk was
//!   lost.
//! - **The leader notices.** A heartbeat tells a follower the commit index up to what the
//!   follower acknowledged (`min(commit, match)`); a follower holding less than that lost
//!   entries it acknowledged, and says so (an append rejection hinting its last index). A
//!   leader that hears a follower hint below its match index records the loss
//!   (`Progress::lost_log_at`) and replicates to it from its real log (by snapshot if need
//!   be): without this it would send it nothing, since it never lowers a match index.
//!
//! What is left open: a node wiped during a new cluster's very first election, before any
//! entry was written anywhere, looks like a first boot (no message can show it otherwise).
//! And the other way round, a new cluster's node that missed every entry (down since the
//! start) looks like a wiped one: it abstains too, which costs liveness (not safety) when a
//! majority of such nodes is left without the leader, as in the property test of
//! `async_persist.rs`, which crashes nodes before their first write (the guard is off there).
//! And under message reordering (not over one TCP connection) an old rejection can look like
//! a loss: the leader then only replicates again what the follower holds.
//!
//! The abstention is durable: it is in the hard state (`HardState::abstaining`), so a node
//! that crashes again while abstaining, with a part of the log on disk, comes back abstaining
//! (it no longer starts blank); recovering clears it with the vote it counts as, in one hard
//! state. The message that shows a log is not taken further when it carries entries or a
//! snapshot (the sender sends them again): the Ready that makes the abstention durable comes
//! before any that writes a part of the log, and the log (`wal`) writes a group's records
//! before a snapshot file of a later batch in it, so no crash keeps log without abstention.

use crate::raft::core::Raft;
use crate::raft::message::{Index, Message, NodeId, NO_NODE};
use crate::raft::storage::Storage;

/// Whether this node came back with an empty disk into a cluster that has a log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EmptyDisk {
    /// It did not start blank, or nothing showed it a cluster with a log while it was.
    #[default]
    No,
    /// It started blank in a cluster that has a log: it neither votes nor campaigns.
    Abstaining,
    /// It was `Abstaining` and holds every committed entry again, as a leader told it: it votes
    /// again.
    Recovered,
}

impl EmptyDisk {
    pub fn as_str(self) -> &'static str {
        match self {
            EmptyDisk::No => "no",
            EmptyDisk::Abstaining => "abstaining",
            EmptyDisk::Recovered => "recovered",
        }
    }
}

/// Whether `m` shows that its sender's cluster has a log (so this is no first boot).
pub fn shows_a_log(m: &Message) -> bool {
    m.index > 0 || m.log_term > 0 || m.commit > 0 || m.snapshot.is_some()
}

impl<S: Storage> Raft<S> {
    /// Looks at every message while this node is blank: one that shows a log makes it abstain.
    /// Returns whether it began to abstain now (the caller then takes no part of the log
    /// from `m`: the abstention is made durable first).
    pub(crate) fn note_history(&mut self, m: &Message) -> bool {
        let begins = self.cfg.empty_disk_guard
            && self.started_blank
            && self.empty_disk == EmptyDisk::No
            && self.log.last_index() == 0
            && shows_a_log(m);
        if begins {
            self.empty_disk = EmptyDisk::Abstaining;
        }
        begins
    }

    /// Whether this node must neither vote nor campaign now.
    pub fn abstains(&self) -> bool {
        self.empty_disk == EmptyDisk::Abstaining
    }

    /// After stepping an append, or a heartbeat not capped, from `leader`, this term's leader,
    /// stating its commit index `leader_commit`: an abstaining node that holds the leader's
    /// log up to there (`committed` reaches it only where the log matches the leader's), an
    /// index of an entry of this term, votes again, its vote in this term given to `leader`.
    pub(crate) fn note_log_received(&mut self, leader: NodeId, leader_commit: Index) {
        if self.empty_disk != EmptyDisk::Abstaining
            || self.log.committed < leader_commit
            || !self.log.match_term(leader_commit, self.term)
        {
            return;
        }
        self.empty_disk = EmptyDisk::Recovered;
        if self.vote == NO_NODE {
            self.vote = leader;
        }
    }
}
