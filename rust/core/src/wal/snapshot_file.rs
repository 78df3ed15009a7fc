//! Snapshot files: `{index:016x}.snap`, one per snapshot, written atomically.
//!
//! ```text
//! offset 0   magic         8 bytes  SNAPSHOT_MAGIC
//! offset 8   version       u32 LE   SNAPSHOT_VERSION (2; version 1 is still read)
//! offset 12  index         u64 LE
//! offset 20  term          u64 LE
//! offset 28  voter_count   u32 LE
//! offset 32  voters        voter_count x u64 LE
//! version 2 only, the rest of the configuration:
//!            outgoing_count u32 LE, voters_outgoing  outgoing_count x u64 LE
//!            learner_count  u32 LE, learners         learner_count x u64 LE
//!            auto_leave     u8 (0|1)
//! then       data_bytes    u64 LE
//! then       data          data_bytes bytes
//! then       crc32c        u32 LE   CRC32C of every byte before it
//! ```
//!
//! Version 1 files (written before membership changes) hold voters alone; they are read as a
//! configuration of those voters, so older data directories open unchanged.
//!
//! The whole file is read, then the checksum checked, then every stated count compared with the
//! bytes present before anything is allocated for it. A file failing any check is skipped:
//! recovery falls back to an older snapshot, and fails if the log needs the newer one.

use super::file_system::FileSystem;
use super::fs::write_file_atomically;
use super::record::read_u64;
use super::segment::parse_hex_name;
use crate::raft::message::{ConfState, Index, NodeId, Snapshot, SnapshotMeta};
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// The first bytes of every snapshot file.
pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"senasnap";
/// The version of the snapshot file layout written.
pub(crate) const SNAPSHOT_VERSION: u32 = 2;
/// The layout of the files written before membership changes: voters only.
const SNAPSHOT_VERSION_VOTERS_ONLY: u32 = 1;

const SNAPSHOT_EXTENSION: &str = ".snap";
/// Bytes of magic, version, index and term.
const FIXED_HEAD_BYTES: usize = 28;
const COUNT_BYTES: usize = 4;
const ID_BYTES: usize = 8;
const FLAG_BYTES: usize = 1;
const DATA_BYTES_FIELD_BYTES: usize = 8;
const CRC32C_BYTES: usize = 4;

/// The file name of the snapshot at `index`.
pub(crate) fn snapshot_file_name(index: Index) -> String {
    format!("{index:016x}{SNAPSHOT_EXTENSION}")
}

/// The index named by a snapshot file name, or `None` for any other name.
pub(crate) fn parse_snapshot_file_name(name: &str) -> Option<Index> {
    parse_hex_name(name, SNAPSHOT_EXTENSION)
}

/// The file contents holding `snapshot`, as three parts to write one after the other: the
/// head (up to and with `data_bytes`), the snapshot's own data (not copied) and the checksum,
/// computed over the head and the data in place.
pub(crate) fn snapshot_file_parts(snapshot: &Snapshot) -> (Vec<u8>, &[u8], [u8; CRC32C_BYTES]) {
    let conf = &snapshot.meta.conf_state;
    let head_bytes =
        FIXED_HEAD_BYTES + 3 * COUNT_BYTES + conf.listed_id_count() * ID_BYTES + FLAG_BYTES + DATA_BYTES_FIELD_BYTES;
    let mut head = Vec::with_capacity(head_bytes);
    head.extend_from_slice(&SNAPSHOT_MAGIC);
    head.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    head.extend_from_slice(&snapshot.meta.index.to_le_bytes());
    head.extend_from_slice(&snapshot.meta.term.to_le_bytes());
    for ids in [&conf.voters, &conf.voters_outgoing, &conf.learners] {
        let count = u32::try_from(ids.len()).expect("member count fits in u32");
        head.extend_from_slice(&count.to_le_bytes());
        for id in ids {
            head.extend_from_slice(&id.to_le_bytes());
        }
    }
    head.push(u8::from(conf.auto_leave));
    head.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    assert_eq!(head.len(), head_bytes, "snapshot file head length");
    let crc32c = crc32c::crc32c_append(crc32c::crc32c(&head), &snapshot.data);
    (head, &snapshot.data, crc32c.to_le_bytes())
}

/// The file contents holding `snapshot`, in one buffer (tests).
#[cfg(test)]
pub(crate) fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let (head, data, crc32c) = snapshot_file_parts(snapshot);
    [&head[..], data, &crc32c[..]].concat()
}

/// Decodes snapshot file contents (either version), or `None` if they are damaged in any way.
pub(crate) fn decode_snapshot(file: Bytes) -> Option<Snapshot> {
    let body_bytes = file.len().checked_sub(CRC32C_BYTES)?;
    let stated: [u8; 4] = file[body_bytes..].try_into().ok()?;
    if crc32c::crc32c(&file[..body_bytes]) != u32::from_le_bytes(stated) || body_bytes < FIXED_HEAD_BYTES {
        return None;
    }
    let body = &file[..body_bytes];
    let version = u32::from_le_bytes(body[8..12].try_into().ok()?);
    if body[..8] != SNAPSHOT_MAGIC || !(version == SNAPSHOT_VERSION || version == SNAPSHOT_VERSION_VOTERS_ONLY) {
        return None;
    }
    let (index, term) = (read_u64(body, 12), read_u64(body, 20));
    let mut offset = FIXED_HEAD_BYTES;
    let mut conf_state = ConfState { voters: read_ids(body, &mut offset)?, ..ConfState::default() };
    if version == SNAPSHOT_VERSION {
        conf_state.voters_outgoing = read_ids(body, &mut offset)?;
        conf_state.learners = read_ids(body, &mut offset)?;
        conf_state.auto_leave = match *body.get(offset)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        offset += FLAG_BYTES;
    }
    if offset.checked_add(DATA_BYTES_FIELD_BYTES)? > body_bytes {
        return None;
    }
    let data_bytes = read_u64(body, offset);
    let data_start = offset + DATA_BYTES_FIELD_BYTES;
    if data_bytes != (body_bytes - data_start) as u64 {
        return None;
    }
    let meta = SnapshotMeta { index, term, conf_state };
    Some(Snapshot { meta, data: file.slice(data_start..body_bytes) })
}

/// A u32 count and that many u64 ids at `offset`, which moves past them; `None` when the body
/// cannot hold them (checked before anything is allocated).
fn read_ids(body: &[u8], offset: &mut usize) -> Option<Vec<NodeId>> {
    let count_end = offset.checked_add(COUNT_BYTES)?;
    let count = u32::from_le_bytes(body.get(*offset..count_end)?.try_into().ok()?) as usize;
    let ids_end = count_end.checked_add(count.checked_mul(ID_BYTES)?)?;
    if ids_end > body.len() {
        return None;
    }
    let ids = (0..count).map(|i| read_u64(body, count_end + i * ID_BYTES)).collect();
    *offset = ids_end;
    Some(ids)
}

/// Writes `snapshot` to its file in `dir`, durably when `fsync` (see `write_file_atomically`),
/// its data from where it lies: the log holds no second copy of the snapshot meanwhile.
pub(crate) fn write_snapshot_file<F: FileSystem>(
    fs: &F,
    dir: &Path,
    snapshot: &Snapshot,
    fsync: bool,
) -> Result<PathBuf, crate::wal::WalError> {
    let (head, data, crc32c) = snapshot_file_parts(snapshot);
    write_file_atomically(fs, dir, &snapshot_file_name(snapshot.meta.index), &[&head, data, &crc32c], 0, fsync)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            meta: SnapshotMeta { index: 9, term: 4, conf_state: ConfState::from_voters(vec![1, 2, 3]) },
            data: Bytes::from_static(b"state machine"),
        }
    }

    #[test]
    fn round_trips() {
        let file = encode_snapshot(&snapshot());
        assert_eq!(decode_snapshot(Bytes::from(file)), Some(snapshot()));
        assert_eq!(parse_snapshot_file_name(&snapshot_file_name(9)), Some(9));
    }

    #[test]
    fn a_joint_configuration_with_learners_round_trips() {
        let mut joint = snapshot();
        joint.meta.conf_state =
            ConfState { voters: vec![2, 3, 4], voters_outgoing: vec![1, 2, 3], learners: vec![5], auto_leave: true };
        let file = encode_snapshot(&joint);
        assert_eq!(decode_snapshot(Bytes::from(file)), Some(joint));
    }

    /// A file in the layout of version 1 (voters only), as older builds wrote it.
    fn version_one_file(snapshot: &Snapshot) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION_VOTERS_ONLY.to_le_bytes());
        out.extend_from_slice(&snapshot.meta.index.to_le_bytes());
        out.extend_from_slice(&snapshot.meta.term.to_le_bytes());
        out.extend_from_slice(&(snapshot.meta.conf_state.voters.len() as u32).to_le_bytes());
        for voter in &snapshot.meta.conf_state.voters {
            out.extend_from_slice(&voter.to_le_bytes());
        }
        out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&snapshot.data);
        let crc32c = crc32c::crc32c(&out);
        out.extend_from_slice(&crc32c.to_le_bytes());
        out
    }

    #[test]
    fn version_one_files_are_still_read() {
        let file = version_one_file(&snapshot());
        assert_eq!(decode_snapshot(Bytes::from(file)), Some(snapshot()));
    }

    #[test]
    fn any_damage_or_cut_is_refused() {
        let file = encode_snapshot(&snapshot());
        for byte in 0..file.len() {
            let mut damaged = file.clone();
            damaged[byte] ^= 0x10;
            assert_eq!(decode_snapshot(Bytes::from(damaged)), None, "byte {byte}");
            assert_eq!(decode_snapshot(Bytes::copy_from_slice(&file[..byte])), None, "len {byte}");
        }
    }
}
