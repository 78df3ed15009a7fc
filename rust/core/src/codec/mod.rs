//! Wire codecs. The peer protocol: versioned, protocol-tagged, length-prefixed,
//! CRC32C-checksummed frames (`frame`), shared by every consensus protocol; a Raft frame holds
//! one [`Message`](crate::raft::message::Message) in a compact varint encoding (`message`), a
//! Multi-Paxos frame one [`PaxosMessage`](crate::paxos::message::PaxosMessage) (`paxos`).
//!
//! The client protocol: RESP requests parsed and RESP2/RESP3 replies encoded (`resp`).
//!
//! The data of a membership-change entry, versioned (`conf_change`).
//!
//! The node's snapshot envelope: a MessagePack array of binary strings (`bin_array`).
//!
//! Decoding is safe against any input: it never panics, checks every stated length and count
//! against the bytes actually present before allocating, refuses non-canonical encodings, and
//! hands out entry and snapshot data as zero-copy slices of the received buffer.

mod bin_array;
mod conf_change;
mod error;
mod frame;
mod message;
mod paxos;
mod reader;
pub mod resp;
mod varint;

pub use bin_array::{
    bin_array_bytes, decode_bin_array, encode_bin_array, write_bin_array, BinArrayTooLarge, MalformedBinArray,
    MAX_BIN_ARRAY_LEN,
};
pub use conf_change::{
    decode_conf_change, encode_conf_change, CONF_CHANGE_VERSION, CONF_CHANGE_VERSION_WITHOUT_ADDRESSES,
};
pub use error::DecodeError;
pub use frame::{
    decode_all, decode_frame, decode_message, encode_frame, encode_message, DEFAULT_MAX_FRAME_BYTES,
    FRAME_BODY_BYTES_END, FRAME_BODY_BYTES_OFFSET, FRAME_HEADER_BYTES, FRAME_VERSION,
};
pub use paxos::{decode_paxos_body, decode_paxos_message, encode_paxos_body, encode_paxos_message, PAXOS_BODY_VERSION};
pub use resp::{count_replies, RespError, RespLimits};
pub(crate) use varint::{get_varint, put_varint};
