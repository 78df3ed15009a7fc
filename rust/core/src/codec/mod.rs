//! Wire codecs. `frame`: the peer protocol (Raft messages in versioned, length-prefixed,
//! checksummed frames).

mod frame;

pub use frame::{decode_all, decode_message, encode_message, DecodeError, DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FRAME_VERSION};
