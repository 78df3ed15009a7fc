//! Structural checks of a message from a peer, before it touches any state. A correct peer
//! never fails them; a buggy or corrupted one gets a typed error (the caller drops that
//! connection) instead of a panic or a corrupted log.

use crate::codec::decode_conf_change;
use crate::raft::message::{EntryKind, Index, Message, MessageType, Term};

/// The largest term or index a message may carry. Real values never come near it (one
/// election per nanosecond would take centuries); the headroom keeps `+ 1` arithmetic on
/// terms and indexes free of overflow whatever a peer sends.
pub const MAX_TERM_OR_INDEX: u64 = u64::MAX >> 2;

/// Checks what a message says about itself. `Err` carries the problem in words.
pub fn check_message(m: &Message) -> Result<(), String> {
    let fields: [(&str, u64); 5] = [
        ("term", m.term),
        ("log_term", m.log_term),
        ("index", m.index),
        ("commit", m.commit),
        ("reject_hint", m.reject_hint),
    ];
    if let Some((name, value)) = fields.iter().find(|(_, v)| *v > MAX_TERM_OR_INDEX) {
        return Err(format!("{name} {value} above the maximum {MAX_TERM_OR_INDEX}"));
    }
    if let Some(s) = &m.snapshot {
        check_position(s.meta.index, s.meta.term)?;
    }
    for e in &m.entries {
        check_position(e.index, e.term)?;
        if e.kind == EntryKind::ConfChange {
            // Every node applies a committed change alike: one that does not decode never
            // enters a log.
            decode_conf_change(&e.data)
                .map_err(|error| format!("entry {}: bad membership change: {error}", e.index))?;
        }
    }
    match m.msg_type {
        MessageType::Append => check_append(m),
        MessageType::Snapshot => match &m.snapshot {
            None => Err("Snapshot message without a snapshot".into()),
            Some(s) if s.meta.index == 0 => Err("Snapshot at index 0".into()),
            Some(s) if s.meta.term > m.term => {
                Err(format!("snapshot term {} above the message term {}", s.meta.term, m.term))
            }
            Some(_) => Ok(()),
        },
        MessageType::Vote | MessageType::PreVote if m.log_term > m.term => {
            Err(format!("candidate's last log term {} above its term {}", m.log_term, m.term))
        }
        _ => Ok(()),
    }
}

fn check_position(index: Index, term: Term) -> Result<(), String> {
    if index > MAX_TERM_OR_INDEX || term > MAX_TERM_OR_INDEX {
        return Err(format!("entry or snapshot at ({index}, {term}) above the maximum {MAX_TERM_OR_INDEX}"));
    }
    Ok(())
}

/// Entries follow `(index, log_term)` contiguously, with terms that never decrease, never go
/// below `log_term` and never exceed the leader's term.
fn check_append(m: &Message) -> Result<(), String> {
    if m.log_term > m.term {
        return Err(format!("prev log term {} above the message term {}", m.log_term, m.term));
    }
    let (mut prev_index, mut prev_term) = (m.index, m.log_term);
    for e in &m.entries {
        if prev_index.checked_add(1) != Some(e.index) {
            return Err(format!("entry index {} does not follow {prev_index}", e.index));
        }
        if e.term < prev_term || e.term > m.term {
            return Err(format!("entry {} has term {} outside [{prev_term}, {}]", e.index, e.term, m.term));
        }
        (prev_index, prev_term) = (e.index, e.term);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::message::{Entry, EntryKind};
    use bytes::Bytes;

    fn append(index: u64, log_term: u64, entries: &[(u64, u64)]) -> Message {
        let mut m = Message::new(MessageType::Append, 1, 2, 5);
        m.index = index;
        m.log_term = log_term;
        m.entries = entries
            .iter()
            .map(|&(index, term)| Entry { index, term, kind: EntryKind::Normal, data: Bytes::new() })
            .collect();
        m
    }

    #[test]
    fn well_formed_appends_pass() {
        assert_eq!(check_message(&append(3, 2, &[])), Ok(()));
        assert_eq!(check_message(&append(3, 2, &[(4, 2), (5, 3), (6, 5)])), Ok(()));
    }

    #[test]
    fn malformed_appends_fail() {
        assert!(check_message(&append(3, 2, &[(5, 2)])).is_err(), "gap after prev");
        assert!(check_message(&append(3, 2, &[(4, 2), (4, 2)])).is_err(), "repeated index");
        assert!(check_message(&append(3, 2, &[(4, 1)])).is_err(), "term below prev term");
        assert!(check_message(&append(3, 2, &[(4, 6)])).is_err(), "term above the leader's");
        assert!(check_message(&append(3, 6, &[])).is_err(), "prev term above the leader's");
        assert!(check_message(&append(u64::MAX, 2, &[(0, 2)])).is_err(), "index overflow");
        let mut huge_term = append(3, 2, &[]);
        huge_term.term = u64::MAX;
        assert!(check_message(&huge_term).is_err(), "term without headroom");
    }

    #[test]
    fn snapshot_message_needs_a_snapshot() {
        let m = Message::new(MessageType::Snapshot, 1, 2, 5);
        assert!(check_message(&m).is_err());
    }
}
