//! The data of a membership-change entry (`EntryKind::ConfChange`): one [`ConfChange`].
//!
//! ```text
//! version u8 (CONF_CHANGE_VERSION) | transition u8 | change_count varint
//! per change: type u8 | node_id varint
//! ```
//!
//! The version byte lets a later layout be told apart from this one: an entry lives in logs
//! and snapshots for as long as the cluster does. Decoding never panics, refuses unknown tags,
//! counts the remaining bytes cannot hold and trailing bytes, so every value has one encoding.

use super::error::DecodeError;
use super::reader::BodyReader;
use super::varint::{put_varint, MAX_VARINT_BYTES};
use crate::raft::conf_change::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType};
use bytes::Bytes;

/// The layout version of an encoded `ConfChange`.
pub const CONF_CHANGE_VERSION: u8 = 1;
/// The fewest bytes one single change takes: type, node id.
const MIN_SINGLE_CHANGE_BYTES: usize = 2;

/// The entry data of `change`.
pub fn encode_conf_change(change: &ConfChange) -> Bytes {
    let mut out = Vec::with_capacity(2 + MAX_VARINT_BYTES + change.changes.len() * (1 + MAX_VARINT_BYTES));
    out.push(CONF_CHANGE_VERSION);
    out.push(change.transition as u8);
    put_varint(change.changes.len() as u64, &mut out);
    for single in &change.changes {
        out.push(single.change_type as u8);
        put_varint(single.node_id, &mut out);
    }
    Bytes::from(out)
}

/// The `ConfChange` encoded in `data`.
pub fn decode_conf_change(data: &Bytes) -> Result<ConfChange, DecodeError> {
    let mut reader = BodyReader::new(data);
    let version = reader.read_u8()?;
    if version != CONF_CHANGE_VERSION {
        return Err(DecodeError::BadConfChangeVersion { found: version, supported: CONF_CHANGE_VERSION });
    }
    let tag = reader.read_u8()?;
    let transition =
        ConfChangeTransition::from_tag(tag).ok_or(DecodeError::UnknownTag { field: "conf change transition", tag })?;
    let count = reader.read_count("conf changes", MIN_SINGLE_CHANGE_BYTES)?;
    let mut changes = Vec::with_capacity(count);
    for _ in 0..count {
        let tag = reader.read_u8()?;
        let change_type =
            ConfChangeType::from_tag(tag).ok_or(DecodeError::UnknownTag { field: "conf change type", tag })?;
        changes.push(ConfChangeSingle { change_type, node_id: reader.read_varint()? });
    }
    reader.finish()?;
    Ok(ConfChange { transition, changes })
}
