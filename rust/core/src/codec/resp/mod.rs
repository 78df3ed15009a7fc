//! RESP, the client protocol of Redis: an incremental request parser (`parser`), reply
//! encoders for RESP2 and RESP3 (`encoder`) and a reply counter for load generators
//! (`replies`). Requests are the same in both protocol versions.
//!
//! The parser never allocates from a stated count or length: a `*1000000` header reserves at
//! most [`MAX_ARGS_RESERVED`] slots, and a bulk string is only ever a range of the bytes that
//! actually arrived. Every protocol error carries the exact text Redis sends for it.

mod encoder;
mod parser;
mod replies;

pub use encoder::{
    put_array_header, put_bulk, put_error, put_integer, put_map_header, put_null, put_null_aggregate, put_null_array,
    put_null_bulk, put_ok, put_simple, Protocol,
};
pub use parser::{parse_bulk_header, parse_command, parse_i64, ParseStep, MAX_ARGS_RESERVED};
pub use replies::{count_replies, reply_end};

use thiserror::Error;

/// The protocol's own limit on one bulk string (Redis's `proto-max-bulk-len` default, 512 MiB).
pub const DEFAULT_MAX_BULK_BYTES: usize = 512 << 20;
/// Default largest value a command may carry (buffered); larger ones are skipped.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 512 << 20;
/// Default largest number of arguments of one command.
pub const DEFAULT_MAX_ARGS: usize = 65_536;
/// Default longest inline command line (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const DEFAULT_MAX_INLINE_BYTES: usize = 64 << 10;

/// Named limits of the request parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RespLimits {
    /// A bulk string stating more bytes than this is a protocol error (connection closed).
    pub max_bulk_bytes: usize,
    /// A bulk string of more bytes than this (but within `max_bulk_bytes`) is skipped as it
    /// arrives and its command answered `-ERR value too large`. Invariant: `<= max_bulk_bytes`.
    pub max_value_bytes: usize,
    /// Arguments of one command, in `[1, ..]`.
    pub max_args: usize,
    /// Bytes of an inline command line, and of a header line waiting for its end.
    pub max_inline_bytes: usize,
}

impl Default for RespLimits {
    fn default() -> RespLimits {
        RespLimits {
            max_bulk_bytes: DEFAULT_MAX_BULK_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_args: DEFAULT_MAX_ARGS,
            max_inline_bytes: DEFAULT_MAX_INLINE_BYTES,
        }
    }
}

impl RespLimits {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), RespError> {
        let bad = |field: &'static str, problem: &'static str| Err(RespError::InvalidLimits { field, problem });
        // Lengths travel as i64 and `len + 2` must not overflow anywhere.
        if self.max_bulk_bytes == 0 || self.max_bulk_bytes > (i64::MAX as usize) / 2 {
            return bad("max_bulk_bytes", "must be in [1, 2^62)");
        }
        if self.max_value_bytes > self.max_bulk_bytes {
            return bad("max_value_bytes", "must be at most max_bulk_bytes");
        }
        if self.max_args == 0 || self.max_args > i32::MAX as usize {
            return bad("max_args", "must be in [1, 2^31)");
        }
        if self.max_inline_bytes < 64 {
            return bad("max_inline_bytes", "must be at least 64");
        }
        Ok(())
    }
}

/// A malformed request or reply stream, or bad limits. The `Display` text of the protocol
/// errors is what Redis replies after `-ERR `.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RespError {
    /// `got` is the offending byte, shown as a character when printable.
    #[error("Protocol error: expected '{expected}', got '{}'", shown(*got))]
    Expected { expected: char, got: u8 },
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// `count_replies` met bytes that are no RESP2 or RESP3 reply.
    #[error("malformed reply: {0}")]
    MalformedReply(&'static str),
    #[error("invalid {field}: {problem}")]
    InvalidLimits { field: &'static str, problem: &'static str },
}

fn shown(byte: u8) -> char {
    if byte.is_ascii_graphic() || byte == b' ' {
        char::from(byte)
    } else {
        '?'
    }
}
