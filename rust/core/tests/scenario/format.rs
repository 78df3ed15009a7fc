//! One-line renderings of messages, entries and states for scenario output. Positions are
//! written `index/term` for entries and `(index,term)` for log positions.

use senate_core::raft::message::CAMPAIGN_TRANSFER;
use senate_core::{Entry, EntryKind, Message, MessageType, ReadState, Snapshot};
use std::fmt::Write as _;

pub fn data(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

pub fn entry(e: &Entry) -> String {
    match e.kind {
        EntryKind::NoOp => format!("{}/{} NoOp", e.index, e.term),
        EntryKind::Normal => format!("{}/{} {}", e.index, e.term, data(&e.data)),
        EntryKind::ConfChange => match senate_core::codec::decode_conf_change(&e.data) {
            Ok(change) => format!("{}/{} ConfChange {}", e.index, e.term, change.describe()),
            Err(error) => format!("{}/{} ConfChange undecodable: {error}", e.index, e.term),
        },
    }
}

pub fn entries(es: &[Entry]) -> String {
    let parts: Vec<String> = es.iter().map(entry).collect();
    format!("[{}]", parts.join(", "))
}

pub fn snapshot(s: &Snapshot) -> String {
    format!("({},{}) voters={:?}", s.meta.index, s.meta.term, s.meta.conf_state.voters)
}

pub fn read_state(rs: &ReadState) -> String {
    format!("req={} index={}", rs.request_id, rs.index)
}

/// The message type named `name` (its Rust name: `Append`, `VoteResp`, ...).
pub fn parse_msg_type(name: &str) -> Option<MessageType> {
    MessageType::ALL.into_iter().find(|t| format!("{t:?}") == name)
}

/// `1->2 Append term=2 prev=(5,1) entries=[6/2 NoOp] commit=5`: the fields the type uses.
pub fn message(m: &Message) -> String {
    use MessageType::*;
    let mut s = format!("{}->{} {:?}", m.from, m.to, m.msg_type);
    if m.term != 0 {
        let _ = write!(s, " term={}", m.term);
    }
    match m.msg_type {
        Vote | PreVote => {
            let _ = write!(s, " last=({},{})", m.index, m.log_term);
            if m.context == CAMPAIGN_TRANSFER {
                s.push_str(" transfer");
            }
        }
        VoteResp | PreVoteResp => {}
        Append => {
            let _ = write!(s, " prev=({},{}) entries={} commit={}", m.index, m.log_term, entries(&m.entries), m.commit);
        }
        AppendResp => {
            let _ = write!(s, " index={}", m.index);
            if m.reject {
                let _ = write!(s, " hint=({},{})", m.reject_hint, m.log_term);
            }
        }
        Heartbeat => {
            let _ = write!(s, " commit={}", m.commit);
            if m.context != 0 {
                let _ = write!(s, " round={}", m.context);
            }
        }
        HeartbeatResp => {
            if m.context != 0 {
                let _ = write!(s, " round={}", m.context);
            }
        }
        Snapshot => match &m.snapshot {
            Some(snap) => {
                let _ = write!(s, " snapshot={}", snapshot(snap));
            }
            None => s.push_str(" snapshot=none"),
        },
        TimeoutNow => {}
        Propose => {
            let parts: Vec<String> = m.entries.iter().map(|e| data(&e.data)).collect();
            let _ = write!(s, " data=[{}]", parts.join(", "));
        }
        ReadIndex => {
            let _ = write!(s, " req={}", m.context);
        }
        ReadIndexResp => {
            let _ = write!(s, " index={} req={}", m.index, m.context);
        }
        TransferLeader => {
            let _ = write!(s, " to={}", m.context);
        }
    }
    if m.reject {
        s.push_str(" REJECTED");
    }
    s
}
