//! Leadership transfer (thesis 3.10): catch the target up, then tell it to campaign at once.

use crate::error::{RaftError, Result};
use crate::raft::core::Raft;
use crate::raft::message::{Message, MessageType, NodeId};
use crate::raft::ready::Role;
use crate::raft::storage::Storage;

impl<S: Storage> Raft<S> {
    /// Asks for leadership to move to `to`. At a follower the request is forwarded.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<()> {
        if !self.conf.contains(to) {
            return Err(RaftError::UnknownPeer { id: to });
        }
        if self.role == Role::Leader {
            return self.handle_transfer_leader(to);
        }
        self.forward_to_leader(MessageType::TransferLeader, |m| m.context = to)
    }

    pub fn handle_transfer_leader(&mut self, to: NodeId) -> Result<()> {
        if !self.conf.contains(to) {
            return Err(RaftError::UnknownPeer { id: to });
        }
        if to == self.id || self.lead_transferee == to {
            // Already leader, or the same transfer is under way.
            return Ok(());
        }
        // A newer request replaces an older one; the transfer must finish within one
        // election timeout or it is abandoned (`tick_leader`).
        self.lead_transferee = to;
        self.election_elapsed_ticks = 0;
        let caught_up = self.progress(to).is_some_and(|p| p.match_index == self.log.last_index());
        if caught_up {
            self.send_timeout_now(to);
        } else {
            self.send_append(to, true);
        }
        Ok(())
    }

    /// Called after `from` acknowledged entries: if it is the transfer target and caught up,
    /// tell it to campaign.
    pub fn maybe_finish_transfer(&mut self, from: NodeId) {
        if self.lead_transferee == from && self.progress(from).is_some_and(|p| p.match_index == self.log.last_index()) {
            self.send_timeout_now(from);
        }
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        // The target may now win without waiting out the followers' lease: ours is void.
        self.timeout_now_sent = true;
        let m = Message::new(MessageType::TimeoutNow, self.id, to, self.term);
        self.send(m);
    }
}
