//! Checks of a message that decoded but that no correct peer sends: a sender or ballot owner
//! outside the cluster, a ballot that names another node than the one that must own it,
//! slots past [`MAX_SLOT`] or ranges that do not fit. Such a message is refused as
//! `RaftError::InvalidMessage` before it changes any state (the caller drops that connection).
//! A Promise that fits no page the candidate asked for (slots claimed and not reported) needs
//! the campaign's state, and is refused the same way by `Paxos::check_promise_fits`.

use crate::error::{RaftError, Result};
use crate::paxos::ballot::{Ballot, MAX_NODE_ID, MAX_ROUND};
use crate::paxos::config::PaxosConfig;
use crate::paxos::message::{Body, PaxosMessage, Slot, MAX_SLOT};
use crate::raft::message::{Entry, NodeId, NO_NODE};

fn invalid(m: &PaxosMessage, problem: impl Into<String>) -> RaftError {
    RaftError::InvalidMessage { from: m.from, problem: problem.into() }
}

/// A ballot some member may have used: `ZERO`, or one whose node id is valid and whose round
/// leaves room to outbid it (`MAX_ROUND` is 2^48 elections away: only a forged ballot gets
/// there, and a candidate could not pick a ballot above it). Any valid node: with membership
/// changes, a node removed (and forgotten after a snapshot) may own a ballot still promised.
fn member_ballot(ballot: Ballot) -> bool {
    ballot == Ballot::ZERO || valid_node(ballot.node) && ballot.round < MAX_ROUND
}

fn valid_node(id: NodeId) -> bool {
    id != NO_NODE && id <= MAX_NODE_ID
}

fn slot_ok(slot: Slot) -> bool {
    slot <= MAX_SLOT
}

/// Entries at consecutive slots from `first`, all within `[1, MAX_SLOT]`.
fn entries_fit(first: Slot, entries: &[Entry]) -> bool {
    first >= 1
        && slot_ok(first.saturating_add(entries.len() as u64))
        && entries.iter().zip(first..).all(|(e, slot)| e.index == slot)
}

/// Who must own the message's ballot: the sender (what a proposer sends) or the receiver
/// (answers to a proposer).
enum Owner {
    Sender,
    Receiver,
    Any,
}

fn owner(body: &Body) -> Owner {
    match body {
        Body::Prepare { .. } | Body::Accept { .. } | Body::TimeoutNow => Owner::Sender,
        Body::Heartbeat { leader: true, .. } | Body::ReadIndexResp { .. } => Owner::Sender,
        Body::Promise { .. } | Body::Accepted { .. } | Body::AcceptRejected { .. } | Body::HeartbeatAck { .. } => {
            Owner::Receiver
        }
        Body::Nack { .. }
        | Body::Heartbeat { leader: false, .. }
        | Body::Snapshot { .. }
        | Body::Propose { .. }
        | Body::ReadIndex { .. }
        | Body::TransferLeader { .. } => Owner::Any,
    }
}

/// Refuses `m` unless a correct node could have sent it to `cfg.id`. Any valid node id may
/// send: with membership changes (`membership.rs`) a node added by a change this node has not
/// learned yet (its new leader, say) is a correct sender, and so is a removed one that still
/// runs (its messages are answered like any, and count for nothing).
pub fn check_message(cfg: &PaxosConfig, m: &PaxosMessage) -> Result<()> {
    if m.to != cfg.id {
        return Err(RaftError::UnknownPeer { id: m.to });
    }
    if !valid_node(m.from) {
        return Err(RaftError::UnknownPeer { id: m.from });
    }
    if !member_ballot(m.ballot) {
        return Err(invalid(m, format!("ballot {} of a non-member", m.ballot)));
    }
    let owner_ok = match owner(&m.body) {
        Owner::Sender => m.ballot.node == m.from,
        Owner::Receiver => m.ballot.node == m.to,
        Owner::Any => true,
    };
    if !owner_ok {
        return Err(invalid(m, format!("ballot {} does not belong to the node that must own it", m.ballot)));
    }
    check_body(m)
}

fn check_body(m: &PaxosMessage) -> Result<()> {
    match &m.body {
        Body::Prepare { from_slot, .. } if *from_slot == 0 || !slot_ok(*from_slot) => {
            Err(invalid(m, format!("prepare from slot {from_slot}")))
        }
        // The leader that asked for a transfer ran a ballot below the one the target runs.
        Body::Prepare { transfer: Some(asked_by), .. } if !member_ballot(*asked_by) || *asked_by >= m.ballot => {
            Err(invalid(m, format!("transfer asked by ballot {asked_by} under ballot {}", m.ballot)))
        }
        Body::Promise { chosen, first_slot, last_slot, entries } => {
            check_promise(m, *chosen, *first_slot, *last_slot, entries)
        }
        Body::Nack { promised } if !member_ballot(*promised) => {
            Err(invalid(m, format!("nack names ballot {promised} of a non-member")))
        }
        Body::Accept { first_slot, chosen, entries } if !entries_fit(*first_slot, entries) || !slot_ok(*chosen) => {
            Err(invalid(m, format!("accept of {} slots from {first_slot}", entries.len())))
        }
        Body::Accepted { accepted_to: slot }
        | Body::AcceptRejected { position: slot }
        | Body::Heartbeat { chosen: slot, .. }
        | Body::HeartbeatAck { accepted_to: slot, .. }
        | Body::ReadIndexResp { index: slot, .. }
            if !slot_ok(*slot) =>
        {
            Err(invalid(m, format!("slot {slot} out of range")))
        }
        Body::Snapshot { snapshot } => {
            let index = snapshot.meta.index;
            let from_proposer = m.ballot.node == m.from || m.ballot.node == m.to;
            if index == 0 || !slot_ok(index) || !from_proposer {
                return Err(invalid(m, format!("snapshot at {index} under ballot {}", m.ballot)));
            }
            Ok(())
        }
        Body::Propose { commands } if commands.is_empty() => Err(invalid(m, "empty proposal")),
        Body::TransferLeader { target } if !valid_node(*target) => {
            Err(invalid(m, format!("transfer to non-member {target}")))
        }
        _ => Ok(()),
    }
}

fn check_promise(m: &PaxosMessage, chosen: Slot, first_slot: Slot, last_slot: Slot, entries: &[Entry]) -> Result<()> {
    let range_ok = first_slot >= 1
        && slot_ok(last_slot)
        && first_slot <= last_slot.saturating_add(1)
        && chosen <= last_slot
        && chosen.saturating_add(1) >= first_slot;
    if !range_ok {
        return Err(invalid(m, format!("promise of slots [{first_slot}, {last_slot}] chosen to {chosen}")));
    }
    if let Some(first) = entries.first() {
        let fits = first.index >= first_slot && entries_fit(first.index, entries) && {
            let last = first.index + entries.len() as u64 - 1;
            last <= last_slot
        };
        if !fits {
            return Err(invalid(
                m,
                format!("promise entries from {} outside [{first_slot}, {last_slot}]", first.index),
            ));
        }
        // Every reported slot was accepted at a member's ballot no higher than the one promised.
        let bad_ballot = |e: &&Entry| {
            let ballot = Ballot::from_u64(e.term);
            ballot == Ballot::ZERO || ballot > m.ballot || !member_ballot(ballot)
        };
        if let Some(bad) = entries.iter().find(bad_ballot) {
            return Err(invalid(
                m,
                format!("promise reports slot {} at ballot {}", bad.index, Ballot::from_u64(bad.term)),
            ));
        }
    }
    Ok(())
}
