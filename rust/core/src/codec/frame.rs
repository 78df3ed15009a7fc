//! Peer frames. (Skeleton: the codec helper fills this in.)

use crate::raft::message::Message;
use bytes::Bytes;
use thiserror::Error;

pub const FRAME_VERSION: u8 = 1;
pub const FRAME_HEADER_BYTES: usize = 9;
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 << 20;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame truncated")]
    Truncated,
}

/// Appends one complete frame holding `msg` to `out`.
pub fn encode_message(_msg: &Message, _out: &mut Vec<u8>) {
    todo!()
}

/// Decodes the first frame of `buf`: `Ok(None)` when `buf` holds only part of a frame,
/// else the message and the bytes consumed.
pub fn decode_message(_buf: &Bytes, _max_frame_bytes: usize) -> Result<Option<(Message, usize)>, DecodeError> {
    todo!()
}

/// Decodes every frame in `buf`; a trailing partial frame is `Truncated`.
pub fn decode_all(_buf: &Bytes, _max_frame_bytes: usize) -> Result<Vec<Message>, DecodeError> {
    todo!()
}
