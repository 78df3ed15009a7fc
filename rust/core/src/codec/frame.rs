//! Peer frames: versioned, protocol-tagged, length-prefixed and checksummed. A Raft frame
//! holds one [`Message`]; another protocol puts its own body in the same frame.
//!
//! ```text
//! offset 0   version      u8       FRAME_VERSION
//! offset 1   protocol     u8       ProtocolId tag: 1 Raft, 2 Multi-Paxos
//! offset 2   body_bytes   u32 LE   length of the body alone
//! offset 6   body_crc32c  u32 LE   CRC32C (Castagnoli) of the body
//! offset 10  body         body_bytes bytes; a Raft body is in `message.rs`
//! ```
//!
//! A receiver rejects a bad version from the first byte, a frame of an unknown protocol or of
//! another protocol than its own from the second, and an oversized frame from the first six,
//! before it waits for or allocates anything more. Version 1 had no protocol byte (its length
//! field started at offset 1); a version 1 peer is refused by the version byte.

use super::error::DecodeError;
use super::message::{decode_body, encode_body, max_body_bytes};
use crate::protocol_id::ProtocolId;
use crate::raft::message::Message;
use bytes::Bytes;

/// The version of the frame layout and body encoding this build speaks.
pub const FRAME_VERSION: u8 = 2;
/// Bytes of the fixed header: version, protocol, body length, body checksum.
pub const FRAME_HEADER_BYTES: usize = 10;
/// The default limit of one frame, header included (64 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 << 20;
/// Where the body length field (`u32` LE) starts: a stream reader needs only it, its end and
/// the header length to know how long a frame is.
pub const FRAME_BODY_BYTES_OFFSET: usize = 2;
/// Where the body length field ends: the field is `[FRAME_BODY_BYTES_OFFSET, FRAME_BODY_BYTES_END)`.
pub const FRAME_BODY_BYTES_END: usize = FRAME_BODY_BYTES_OFFSET + 4;

const PROTOCOL_OFFSET: usize = 1;
const BODY_CRC32C_OFFSET: usize = FRAME_BODY_BYTES_END;

/// Appends one complete Raft frame holding `msg` to `out`.
///
/// # Panics
/// If the body exceeds `u32::MAX` bytes: the sender must bound its batches and snapshot
/// chunks far below that (receivers refuse anything above their `max_frame_bytes`).
pub fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    encode_frame(ProtocolId::Raft, max_body_bytes(msg), out, |out| encode_body(msg, out));
}

/// Appends one complete frame of `protocol` to `out`, its body written by `write_body`
/// (about `body_capacity_bytes`, reserved ahead).
///
/// # Panics
/// If the body exceeds `u32::MAX` bytes (see [`encode_message`]).
pub fn encode_frame(
    protocol: ProtocolId,
    body_capacity_bytes: usize,
    out: &mut Vec<u8>,
    write_body: impl FnOnce(&mut Vec<u8>),
) {
    out.reserve(FRAME_HEADER_BYTES + body_capacity_bytes);
    let frame_start = out.len();
    out.push(FRAME_VERSION);
    out.push(protocol.tag());
    // Length and checksum are known only after the body is written in place; patched below.
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES - FRAME_BODY_BYTES_OFFSET]);
    let body_start = out.len();
    write_body(out);
    let body = &out[body_start..];
    let body_bytes =
        u32::try_from(body.len()).unwrap_or_else(|_| panic!("frame body of {} bytes exceeds u32::MAX", body.len()));
    let body_crc32c = crc32c::crc32c(body);
    let length_field = frame_start + FRAME_BODY_BYTES_OFFSET..frame_start + FRAME_BODY_BYTES_END;
    out[length_field].copy_from_slice(&body_bytes.to_le_bytes());
    out[frame_start + BODY_CRC32C_OFFSET..body_start].copy_from_slice(&body_crc32c.to_le_bytes());
}

/// Decodes the first frame of `buf` as a Raft message: `Ok(None)` when `buf` holds only part
/// of a frame whose stated length (if already known) is within `max_frame_bytes`, else the
/// message and the bytes consumed. `max_frame_bytes` bounds the whole frame, header included.
/// A frame of another protocol is [`DecodeError::WrongProtocol`].
pub fn decode_message(buf: &Bytes, max_frame_bytes: usize) -> Result<Option<(Message, usize)>, DecodeError> {
    decode_message_at(buf, 0, max_frame_bytes)
}

/// Decodes every frame in `buf` as Raft messages; a trailing partial frame is
/// [`DecodeError::Truncated`].
pub fn decode_all(buf: &Bytes, max_frame_bytes: usize) -> Result<Vec<Message>, DecodeError> {
    let mut messages = Vec::new();
    let mut frame_start = 0;
    while frame_start < buf.len() {
        let Some((msg, frame_bytes)) = decode_message_at(buf, frame_start, max_frame_bytes)? else {
            return Err(DecodeError::Truncated);
        };
        messages.push(msg);
        frame_start += frame_bytes;
    }
    Ok(messages)
}

/// Decodes the first frame of `buf`, which must be of `protocol`: `Ok(None)` when only part
/// of it is there (as [`decode_message`]), else its checked body (a zero-copy slice of `buf`)
/// and the bytes the frame takes.
pub fn decode_frame(
    buf: &Bytes,
    protocol: ProtocolId,
    max_frame_bytes: usize,
) -> Result<Option<(Bytes, usize)>, DecodeError> {
    decode_frame_at(buf, 0, protocol, max_frame_bytes)
}

fn decode_message_at(
    buf: &Bytes,
    frame_start: usize,
    max_frame_bytes: usize,
) -> Result<Option<(Message, usize)>, DecodeError> {
    let Some((body, frame_bytes)) = decode_frame_at(buf, frame_start, ProtocolId::Raft, max_frame_bytes)? else {
        return Ok(None);
    };
    Ok(Some((decode_body(&body)?, frame_bytes)))
}

/// The header fields of a frame whose length is within the limit.
struct FrameHeader {
    /// Invariant: `FRAME_HEADER_BYTES + body_bytes <= max_frame_bytes`.
    body_bytes: usize,
    body_crc32c: u32,
}

impl FrameHeader {
    fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.body_bytes
    }
}

/// Decodes the frame starting at `frame_start` (`<= buf.len()`) without re-slicing `buf`
/// per frame.
fn decode_frame_at(
    buf: &Bytes,
    frame_start: usize,
    protocol: ProtocolId,
    max_frame_bytes: usize,
) -> Result<Option<(Bytes, usize)>, DecodeError> {
    let available = &buf[frame_start..];
    let Some(header) = parse_header(available, protocol, max_frame_bytes)? else {
        return Ok(None);
    };
    let frame_bytes = header.frame_bytes();
    if available.len() < frame_bytes {
        return Ok(None);
    }
    let body = buf.slice(frame_start + FRAME_HEADER_BYTES..frame_start + frame_bytes);
    let computed = crc32c::crc32c(&body);
    if computed != header.body_crc32c {
        return Err(DecodeError::ChecksumMismatch { stated: header.body_crc32c, computed });
    }
    Ok(Some((body, frame_bytes)))
}

/// Parses as much of the header as `available` holds: each check runs as soon as the bytes
/// it needs have arrived, `Ok(None)` means "wait for more".
fn parse_header(
    available: &[u8],
    protocol: ProtocolId,
    max_frame_bytes: usize,
) -> Result<Option<FrameHeader>, DecodeError> {
    let Some(&version) = available.first() else {
        return Ok(None);
    };
    if version != FRAME_VERSION {
        return Err(DecodeError::BadVersion { found: version, supported: FRAME_VERSION });
    }
    let Some(&protocol_tag) = available.get(PROTOCOL_OFFSET) else {
        return Ok(None);
    };
    let found = ProtocolId::from_tag(protocol_tag).map_err(|e| DecodeError::UnknownProtocol { tag: e.tag })?;
    if found != protocol {
        return Err(DecodeError::WrongProtocol { found, expected: protocol });
    }
    let Some(body_bytes) = read_u32_le(available, FRAME_BODY_BYTES_OFFSET) else {
        return Ok(None);
    };
    let frame_bytes = FRAME_HEADER_BYTES as u64 + u64::from(body_bytes);
    if frame_bytes > max_frame_bytes as u64 {
        return Err(DecodeError::FrameTooLarge { frame_bytes, max_frame_bytes });
    }
    let Some(body_crc32c) = read_u32_le(available, BODY_CRC32C_OFFSET) else {
        return Ok(None);
    };
    // Fits in usize: it is at most max_frame_bytes.
    Ok(Some(FrameHeader { body_bytes: body_bytes as usize, body_crc32c }))
}

fn read_u32_le(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..)?.first_chunk::<4>()?;
    Some(u32::from_le_bytes(*field))
}
