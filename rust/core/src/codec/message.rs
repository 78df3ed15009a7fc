//! The body of a peer frame: one [`Message`] in a compact, canonical layout.
//!
//! ```text
//! msg_type u8 | from | to | term | log_term | index | commit          varints
//! reject flag u8 (0|1) | reject_hint | context                       varints
//! entry_count, then per entry:
//!     term    zigzag(term - previous entry's term; the first: - log_term)
//!     index   zigzag(index - previous entry's index; the first: - msg.index)
//!     kind u8 | data_len | data
//! snapshot flag u8: 0 none; 1 a snapshot whose configuration is voters alone:
//!     index | term | voter_count | voters... | data_len | data
//! 2 a snapshot of any other configuration (learners, or a joint one):
//!     index | term | voter_count | voters... | outgoing_count | voters_outgoing...
//!     | learner_count | learners... | auto_leave u8 (0|1) | data_len | data
//! ```
//!
//! Flag 1 is the layout of the nodes that predate membership changes, so those still read the
//! snapshots of a cluster that never changed; flag 2 is used only when flag 1 cannot say it.
//!
//! Integers are LEB128 varints and differences wrap, so every `u64` round-trips. The deltas
//! make the common AppendEntries (consecutive indexes, one term) cost 4 bytes per entry plus
//! its data. Every value has exactly one encoding: a body that decodes re-encodes to itself.

use super::error::DecodeError;
use super::reader::BodyReader;
use super::varint::{put_varint, unzigzag, zigzag, MAX_VARINT_BYTES};
use crate::raft::message::{
    ConfState, Entry, EntryKind, Index, Message, MessageType, NodeId, Snapshot, SnapshotMeta, Term,
};
use bytes::Bytes;

/// The fewest bytes one entry can take: term delta, index delta, kind, data length.
const MIN_ENTRY_BYTES: usize = 4;
/// The fewest bytes one node id (voter or learner) can take.
const MIN_VOTER_BYTES: usize = 1;

/// Bytes of the fixed fields at most: type, six varints, reject, two varints, entry count,
/// snapshot flag.
const MAX_FIXED_FIELDS_BYTES: usize = 1 + 6 * MAX_VARINT_BYTES + 1 + 3 * MAX_VARINT_BYTES + 1;
/// Bytes of one entry at most, besides its data: two deltas, kind, data length.
const MAX_ENTRY_OVERHEAD_BYTES: usize = 3 * MAX_VARINT_BYTES + 1;

/// An upper bound of the encoded body length of `msg`, to reserve the output once.
pub(super) fn max_body_bytes(msg: &Message) -> usize {
    let entries_bytes: usize = msg.entries.iter().map(|entry| MAX_ENTRY_OVERHEAD_BYTES + entry.data.len()).sum();
    let snapshot_bytes = msg.snapshot.as_ref().map_or(0, |snapshot| {
        (7 + snapshot.meta.conf_state.listed_id_count()) * MAX_VARINT_BYTES + snapshot.data.len()
    });
    MAX_FIXED_FIELDS_BYTES + entries_bytes + snapshot_bytes
}

/// Appends the body of `msg` to `out`.
pub(super) fn encode_body(msg: &Message, out: &mut Vec<u8>) {
    out.push(msg.msg_type as u8);
    for value in [msg.from, msg.to, msg.term, msg.log_term, msg.index, msg.commit] {
        put_varint(value, out);
    }
    out.push(u8::from(msg.reject));
    put_varint(msg.reject_hint, out);
    put_varint(msg.context, out);
    encode_entries(&msg.entries, msg.log_term, msg.index, out);
    encode_snapshot(msg.snapshot.as_ref(), out);
}

/// Each entry's term and index are sent as differences from the previous entry's, starting
/// from the message's `log_term` and `index` (the entry before the first, in AppendEntries).
fn encode_entries(entries: &[Entry], log_term: Term, index: Index, out: &mut Vec<u8>) {
    put_varint(entries.len() as u64, out);
    let (mut previous_term, mut previous_index) = (log_term, index);
    for entry in entries {
        put_varint(zigzag(entry.term.wrapping_sub(previous_term) as i64), out);
        put_varint(zigzag(entry.index.wrapping_sub(previous_index) as i64), out);
        out.push(entry.kind as u8);
        put_bytes(&entry.data, out);
        (previous_term, previous_index) = (entry.term, entry.index);
    }
}

fn encode_snapshot(snapshot: Option<&Snapshot>, out: &mut Vec<u8>) {
    let Some(snapshot) = snapshot else {
        out.push(SNAPSHOT_NONE);
        return;
    };
    let conf = &snapshot.meta.conf_state;
    let voters_only = conf.is_voters_only();
    out.push(if voters_only { SNAPSHOT_VOTERS_ONLY } else { SNAPSHOT_FULL_CONF });
    put_varint(snapshot.meta.index, out);
    put_varint(snapshot.meta.term, out);
    put_ids(&conf.voters, out);
    if !voters_only {
        put_ids(&conf.voters_outgoing, out);
        put_ids(&conf.learners, out);
        out.push(u8::from(conf.auto_leave));
    }
    put_bytes(&snapshot.data, out);
}

/// Snapshot flags: none, a configuration of voters alone, any configuration.
const SNAPSHOT_NONE: u8 = 0;
const SNAPSHOT_VOTERS_ONLY: u8 = 1;
const SNAPSHOT_FULL_CONF: u8 = 2;

fn put_ids(ids: &[NodeId], out: &mut Vec<u8>) {
    put_varint(ids.len() as u64, out);
    for &id in ids {
        put_varint(id, out);
    }
}

fn put_bytes(data: &[u8], out: &mut Vec<u8>) {
    put_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// Decodes a whole body; entry and snapshot data are slices of `body`, not copies.
pub(super) fn decode_body(body: &Bytes) -> Result<Message, DecodeError> {
    let mut reader = BodyReader::new(body);
    let mut msg = decode_fixed_fields(&mut reader)?;
    msg.entries = decode_entries(&mut reader, msg.log_term, msg.index)?;
    msg.snapshot = decode_snapshot(&mut reader)?;
    reader.finish()?;
    Ok(msg)
}

fn decode_fixed_fields(reader: &mut BodyReader<'_>) -> Result<Message, DecodeError> {
    let tag = reader.read_u8()?;
    let msg_type = MessageType::from_tag(tag).ok_or(DecodeError::UnknownMessageType(tag))?;
    // Struct literal fields are evaluated in the order written, which is the wire order.
    Ok(Message {
        msg_type,
        from: reader.read_varint()?,
        to: reader.read_varint()?,
        term: reader.read_varint()?,
        log_term: reader.read_varint()?,
        index: reader.read_varint()?,
        commit: reader.read_varint()?,
        reject: reader.read_flag("reject")?,
        reject_hint: reader.read_varint()?,
        context: reader.read_varint()?,
        entries: Vec::new(),
        snapshot: None,
    })
}

fn decode_entries(reader: &mut BodyReader<'_>, log_term: Term, index: Index) -> Result<Vec<Entry>, DecodeError> {
    let count = reader.read_count("entries", MIN_ENTRY_BYTES)?;
    let mut entries = Vec::with_capacity(count);
    let (mut previous_term, mut previous_index) = (log_term, index);
    for _ in 0..count {
        let term = previous_term.wrapping_add(unzigzag(reader.read_varint()?) as u64);
        let index = previous_index.wrapping_add(unzigzag(reader.read_varint()?) as u64);
        let kind_tag = reader.read_u8()?;
        let kind = EntryKind::from_tag(kind_tag).ok_or(DecodeError::UnknownEntryKind(kind_tag))?;
        let data = reader.read_bytes("entry data")?;
        entries.push(Entry { term, index, kind, data });
        (previous_term, previous_index) = (term, index);
    }
    Ok(entries)
}

fn decode_snapshot(reader: &mut BodyReader<'_>) -> Result<Option<Snapshot>, DecodeError> {
    let flag = reader.read_u8()?;
    if flag == SNAPSHOT_NONE {
        return Ok(None);
    }
    if flag != SNAPSHOT_VOTERS_ONLY && flag != SNAPSHOT_FULL_CONF {
        return Err(DecodeError::UnknownTag { field: "snapshot flag", tag: flag });
    }
    let index = reader.read_varint()?;
    let term = reader.read_varint()?;
    let mut conf_state = ConfState { voters: read_ids(reader, "voters")?, ..ConfState::default() };
    if flag == SNAPSHOT_FULL_CONF {
        conf_state.voters_outgoing = read_ids(reader, "outgoing voters")?;
        conf_state.learners = read_ids(reader, "learners")?;
        conf_state.auto_leave = reader.read_flag("auto_leave")?;
        if conf_state.is_voters_only() {
            return Err(DecodeError::NonCanonical { field: "snapshot configuration" });
        }
    }
    let data = reader.read_bytes("snapshot data")?;
    let meta = SnapshotMeta { index, term, conf_state };
    Ok(Some(Snapshot { meta, data }))
}

fn read_ids(reader: &mut BodyReader<'_>, field: &'static str) -> Result<Vec<NodeId>, DecodeError> {
    let count = reader.read_count(field, MIN_VOTER_BYTES)?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(reader.read_varint()?);
    }
    Ok(ids)
}
