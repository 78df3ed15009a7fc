//! Snapshot files: `{index:016x}.snap`, one per snapshot, written atomically.
//!
//! ```text
//! offset 0   magic         8 bytes  SNAPSHOT_MAGIC
//! offset 8   version       u32 LE   SNAPSHOT_VERSION
//! offset 12  index         u64 LE
//! offset 20  term          u64 LE
//! offset 28  voter_count   u32 LE
//! offset 32  voters        voter_count x u64 LE
//! then       data_bytes    u64 LE
//! then       data          data_bytes bytes
//! then       crc32c        u32 LE   CRC32C of every byte before it
//! ```
//!
//! The whole file is read, then the checksum checked, then every stated count compared with the
//! bytes present before anything is allocated for it. A file failing any check is skipped:
//! recovery falls back to an older snapshot, and fails if the log needs the newer one.

use super::file_system::FileSystem;
use super::fs::write_file_atomically;
use super::record::read_u64;
use super::segment::parse_hex_name;
use crate::raft::message::{ConfState, Index, Snapshot, SnapshotMeta};
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// The first bytes of every snapshot file.
pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"senasnap";
/// The version of the snapshot file layout.
pub(crate) const SNAPSHOT_VERSION: u32 = 1;

const SNAPSHOT_EXTENSION: &str = ".snap";
/// Bytes before the voters: magic, version, index, term, voter count.
const FIXED_HEAD_BYTES: usize = 32;
const VOTER_BYTES: usize = 8;
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

/// The file contents holding `snapshot`.
pub(crate) fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let voters = &snapshot.meta.conf_state.voters;
    let total_bytes =
        FIXED_HEAD_BYTES + voters.len() * VOTER_BYTES + DATA_BYTES_FIELD_BYTES + snapshot.data.len() + CRC32C_BYTES;
    let mut out = Vec::with_capacity(total_bytes);
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&snapshot.meta.index.to_le_bytes());
    out.extend_from_slice(&snapshot.meta.term.to_le_bytes());
    let voter_count = u32::try_from(voters.len()).expect("voter count fits in u32");
    out.extend_from_slice(&voter_count.to_le_bytes());
    for voter in voters {
        out.extend_from_slice(&voter.to_le_bytes());
    }
    out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot.data);
    let crc32c = crc32c::crc32c(&out);
    out.extend_from_slice(&crc32c.to_le_bytes());
    assert_eq!(out.len(), total_bytes, "snapshot file length");
    out
}

/// Decodes snapshot file contents, or `None` if they are damaged in any way.
pub(crate) fn decode_snapshot(file: Bytes) -> Option<Snapshot> {
    let body_bytes = file.len().checked_sub(CRC32C_BYTES)?;
    let stated: [u8; 4] = file[body_bytes..].try_into().ok()?;
    if crc32c::crc32c(&file[..body_bytes]) != u32::from_le_bytes(stated) || body_bytes < FIXED_HEAD_BYTES {
        return None;
    }
    let body = &file[..body_bytes];
    if body[..8] != SNAPSHOT_MAGIC || body[8..12] != SNAPSHOT_VERSION.to_le_bytes() {
        return None;
    }
    let (index, term) = (read_u64(body, 12), read_u64(body, 20));
    let voter_count = u32::from_le_bytes(body[28..32].try_into().ok()?) as usize;
    let voters_end = FIXED_HEAD_BYTES.checked_add(voter_count.checked_mul(VOTER_BYTES)?)?;
    if voters_end.checked_add(DATA_BYTES_FIELD_BYTES)? > body_bytes {
        return None;
    }
    let voters = (0..voter_count).map(|i| read_u64(body, FIXED_HEAD_BYTES + i * VOTER_BYTES)).collect();
    let data_bytes = read_u64(body, voters_end);
    let data_start = voters_end + DATA_BYTES_FIELD_BYTES;
    if data_bytes != (body_bytes - data_start) as u64 {
        return None;
    }
    let meta = SnapshotMeta { index, term, conf_state: ConfState { voters } };
    Some(Snapshot { meta, data: file.slice(data_start..body_bytes) })
}

/// Writes `snapshot` to its file in `dir`, durably when `fsync` (see `write_file_atomically`).
pub(crate) fn write_snapshot_file<F: FileSystem>(
    fs: &F,
    dir: &Path,
    snapshot: &Snapshot,
    fsync: bool,
) -> Result<PathBuf, crate::wal::WalError> {
    write_file_atomically(fs, dir, &snapshot_file_name(snapshot.meta.index), &encode_snapshot(snapshot), 0, fsync)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            meta: SnapshotMeta { index: 9, term: 4, conf_state: ConfState { voters: vec![1, 2, 3] } },
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
