//! The data of a membership-change entry (`EntryKind::ConfChange`): one [`ConfChange`].
//!
//! ```text
//! version u8 | transition u8 | change_count varint
//! per change, version 1: type u8 | node_id varint
//! per change, version 2: type u8 | node_id varint | address_len varint | address (UTF-8)
//! ```
//!
//! The version byte lets a later layout be told apart from this one: an entry lives in logs
//! and snapshots for as long as the cluster does. Version 2 adds each member's address (where
//! it listens for its peers), so every node learns it from the log. A change that carries no
//! address is written in version 1, byte for byte as before, so both layouts are read and
//! every value has one encoding (a version 2 entry without any address is refused as
//! non-canonical). Decoding never panics, refuses unknown tags, counts the remaining bytes
//! cannot hold, addresses that are not UTF-8 or too long, and trailing bytes.

use super::error::DecodeError;
use super::reader::BodyReader;
use super::varint::{put_varint, MAX_VARINT_BYTES};
use crate::raft::conf_change::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, MAX_MEMBER_ADDRESS_BYTES,
};
use bytes::Bytes;

/// The layout version of an encoded `ConfChange` that carries addresses (the latest).
pub const CONF_CHANGE_VERSION: u8 = 2;
/// The layout without addresses (still written for a change that carries none).
pub const CONF_CHANGE_VERSION_WITHOUT_ADDRESSES: u8 = 1;
/// The fewest bytes one single change takes: type, node id.
const MIN_SINGLE_CHANGE_BYTES: usize = 2;

/// The entry data of `change`.
pub fn encode_conf_change(change: &ConfChange) -> Bytes {
    let with_addresses = change.changes.iter().any(|single| !single.address.is_empty());
    let address_bytes: usize = change.changes.iter().map(|single| single.address.len() + MAX_VARINT_BYTES).sum();
    let mut out =
        Vec::with_capacity(2 + MAX_VARINT_BYTES + change.changes.len() * (1 + MAX_VARINT_BYTES) + address_bytes);
    out.push(if with_addresses { CONF_CHANGE_VERSION } else { CONF_CHANGE_VERSION_WITHOUT_ADDRESSES });
    out.push(change.transition as u8);
    put_varint(change.changes.len() as u64, &mut out);
    for single in &change.changes {
        out.push(single.change_type as u8);
        put_varint(single.node_id, &mut out);
        if with_addresses {
            put_varint(single.address.len() as u64, &mut out);
            out.extend_from_slice(single.address.as_bytes());
        }
    }
    Bytes::from(out)
}

/// The `ConfChange` encoded in `data` (either layout).
pub fn decode_conf_change(data: &Bytes) -> Result<ConfChange, DecodeError> {
    let mut reader = BodyReader::new(data);
    let version = reader.read_u8()?;
    if version != CONF_CHANGE_VERSION && version != CONF_CHANGE_VERSION_WITHOUT_ADDRESSES {
        return Err(DecodeError::BadConfChangeVersion { found: version, supported: CONF_CHANGE_VERSION });
    }
    let with_addresses = version == CONF_CHANGE_VERSION;
    let tag = reader.read_u8()?;
    let transition =
        ConfChangeTransition::from_tag(tag).ok_or(DecodeError::UnknownTag { field: "conf change transition", tag })?;
    let count = reader.read_count("conf changes", MIN_SINGLE_CHANGE_BYTES)?;
    let mut changes = Vec::with_capacity(count);
    for _ in 0..count {
        let tag = reader.read_u8()?;
        let change_type =
            ConfChangeType::from_tag(tag).ok_or(DecodeError::UnknownTag { field: "conf change type", tag })?;
        let node_id = reader.read_varint()?;
        let address = if with_addresses { read_address(&mut reader)? } else { String::new() };
        changes.push(ConfChangeSingle { change_type, node_id, address });
    }
    reader.finish()?;
    if with_addresses && changes.iter().all(|single| single.address.is_empty()) {
        return Err(DecodeError::NonCanonical { field: "conf change version (no address: version 1)" });
    }
    Ok(ConfChange { transition, changes })
}

fn read_address(reader: &mut BodyReader<'_>) -> Result<String, DecodeError> {
    let bytes = reader.read_bytes("member address")?;
    if bytes.len() > MAX_MEMBER_ADDRESS_BYTES {
        return Err(DecodeError::NonCanonical { field: "member address (longer than MAX_MEMBER_ADDRESS_BYTES)" });
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NonCanonical { field: "member address (not UTF-8)" })
}
