//! The ways a peer frame can be malformed. Every one of them is an operating error (a bad or
//! hostile peer, a corrupted stream): the caller closes that connection, it never panics.

use crate::protocol_id::ProtocolId;
use thiserror::Error;

/// Why bytes received from a peer are not a well-formed frame.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends inside a frame where a whole frame was required (`decode_all`).
    #[error("frame truncated: the buffer ends inside a frame")]
    Truncated,
    #[error("unsupported frame version {found} (this build speaks version {supported})")]
    BadVersion { found: u8, supported: u8 },
    /// The protocol byte names no protocol this build knows.
    #[error("frame of unknown protocol tag {tag}")]
    UnknownProtocol { tag: u8 },
    /// The frame belongs to another protocol than the receiver's (a misrouted connection).
    #[error("frame of protocol {found} where {expected} was expected")]
    WrongProtocol { found: ProtocolId, expected: ProtocolId },
    /// Raised from the header alone, before the body is awaited or anything is allocated.
    #[error("frame of {frame_bytes} bytes exceeds the limit of {max_frame_bytes} bytes")]
    FrameTooLarge { frame_bytes: u64, max_frame_bytes: usize },
    #[error("frame body checksum mismatch: header states {stated:#010x}, body has {computed:#010x}")]
    ChecksumMismatch { stated: u32, computed: u32 },
    /// The body passed its checksum but ends inside a field: the sender encoded it wrongly.
    #[error("frame body ends inside a field")]
    BodyTruncated,
    /// The body's own layout version (a protocol that versions its bodies apart from the
    /// frame, as Multi-Paxos does) is not one this build reads.
    #[error("unsupported {protocol} body version {found} (this build speaks version {supported})")]
    BadBodyVersion { protocol: ProtocolId, found: u8, supported: u8 },
    #[error("unknown message type tag {0}")]
    UnknownMessageType(u8),
    #[error("unknown entry kind tag {0}")]
    UnknownEntryKind(u8),
    #[error("flag `{field}` is {found}, expected 0 or 1")]
    BadFlag { field: &'static str, found: u8 },
    /// Ten bytes without an end, or a tenth byte carrying bits beyond the 64th.
    #[error("varint does not fit in 64 bits")]
    VarintOverflow,
    /// A varint with superfluous trailing zero groups: each value has one encoding only.
    #[error("varint is not in its shortest form")]
    NonCanonicalVarint,
    #[error("`{field}` states {len} bytes but only {remaining_bytes} remain in the body")]
    LengthOutOfBounds { field: &'static str, len: u64, remaining_bytes: usize },
    /// A count that the remaining bytes cannot hold, even at the smallest size per item:
    /// refused before anything is allocated for it.
    #[error("`{field}` states {count} items but only {remaining_bytes} bytes remain in the body")]
    TooManyItems { field: &'static str, count: u64, remaining_bytes: usize },
    /// A membership change encoded in a layout this build does not read.
    #[error("unsupported conf change version {found} (this build speaks version {supported})")]
    BadConfChangeVersion { found: u8, supported: u8 },
    /// A one-byte tag (a conf change's type or transition) names nothing this build knows.
    #[error("unknown {field} tag {tag}")]
    UnknownTag { field: &'static str, tag: u8 },
    /// A value encoded in a longer form than its one canonical encoding.
    #[error("`{field}` is not in its canonical encoding")]
    NonCanonical { field: &'static str },
    #[error("{count} trailing bytes after the message in the frame body")]
    TrailingBytes { count: usize },
    /// The head of a snapshot sent out of band (`raft::snapshot_send`) is not a snapshot
    /// message whose snapshot holds no data.
    #[error("not the head of a snapshot sent out of band: {problem}")]
    NotASnapshotHead { problem: &'static str },
}
