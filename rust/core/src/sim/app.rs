//! The simulated application: the state machine each node applies committed entries to.
//!
//! Its whole state is a fingerprint of the applied sequence, so two nodes that applied the same
//! entries in the same order have equal states, and a snapshot of it is 24 bytes that restore
//! exactly (restoring from a snapshot's data is how a lagging or rebuilt node catches up).

use crate::raft::message::{Entry, EntryKind, Index};
use crate::sim::fingerprint::Fingerprint;
use bytes::Bytes;

/// Bytes of an encoded [`AppState`]: applied index, fingerprint, payload count (u64 LE each).
pub const APP_SNAPSHOT_BYTES: usize = 24;

/// What one node's application has applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppState {
    /// Index of the last applied entry; 0 before any.
    pub applied_index: Index,
    /// Fingerprint of every applied entry, in order: index, term, kind and data of each.
    pub fingerprint: Fingerprint,
    /// Client payloads (normal entries) applied so far.
    pub payload_count: u64,
}

impl AppState {
    /// Applies `entry`. The caller guarantees order; the checker verifies it independently.
    pub fn apply(&mut self, entry: &Entry) {
        self.applied_index = entry.index;
        self.fingerprint = fold_entry(self.fingerprint, entry);
        if entry.kind == EntryKind::Normal {
            self.payload_count += 1;
        }
    }

    /// Applies `entry` by its value alone (slot, kind, data): Multi-Paxos replicas hold one
    /// chosen value per slot, each accepted at whatever ballot reached that replica, so the
    /// ballot (the entry's term) is no part of the replicated state.
    pub fn apply_value(&mut self, entry: &Entry) {
        self.applied_index = entry.index;
        self.fingerprint = fold_value(self.fingerprint, entry);
        if entry.kind == EntryKind::Normal {
            self.payload_count += 1;
        }
    }

    /// The snapshot data of this state.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(APP_SNAPSHOT_BYTES);
        out.extend_from_slice(&self.applied_index.to_le_bytes());
        out.extend_from_slice(&self.fingerprint.value().to_le_bytes());
        out.extend_from_slice(&self.payload_count.to_le_bytes());
        Bytes::from(out)
    }

    /// The state encoded in `data`, or `None` when `data` is not an encoded state.
    pub fn decode(data: &[u8]) -> Option<AppState> {
        if data.len() != APP_SNAPSHOT_BYTES {
            return None;
        }
        let word = |k: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&data[8 * k..8 * (k + 1)]);
            u64::from_le_bytes(bytes)
        };
        Some(AppState { applied_index: word(0), fingerprint: Fingerprint::from_value(word(1)), payload_count: word(2) })
    }
}

/// The application fingerprint after applying `entry` on top of `state`.
pub fn fold_entry(state: Fingerprint, entry: &Entry) -> Fingerprint {
    state.with_u64(entry.index).with_u64(entry.term).with_u64(entry.kind as u64).with_bytes(&entry.data)
}

/// The application fingerprint after applying `entry`'s value (its term taken as 0) on top of
/// `state`.
pub fn fold_value(state: Fingerprint, entry: &Entry) -> Fingerprint {
    state.with_u64(entry.index).with_u64(0).with_u64(entry.kind as u64).with_bytes(&entry.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_data_round_trips() {
        let mut app = AppState::default();
        app.apply(&Entry { term: 1, index: 1, kind: EntryKind::NoOp, data: Bytes::new() });
        app.apply(&Entry { term: 1, index: 2, kind: EntryKind::Normal, data: Bytes::from_static(b"x") });
        assert_eq!(AppState::decode(&app.encode()), Some(app));
        assert_eq!(app.payload_count, 1);
        assert_eq!(AppState::decode(b"short"), None);
    }
}
