//! The incremental request parser. [`parse_command`] looks at the start of the unparsed bytes
//! and either finds one complete command (its arguments as ranges of those bytes, nothing
//! copied), or says how many bytes to skip, or that more bytes are needed (nothing consumed:
//! the caller keeps the tail and calls again with more).

use super::{RespError, RespLimits};
use std::ops::Range;

/// The most argument slots reserved up front, whatever a multibulk header states.
pub const MAX_ARGS_RESERVED: usize = 1024;

/// What the start of the buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseStep {
    /// Not one whole command yet; nothing consumed.
    Incomplete,
    /// `used` bytes hold no command (a blank inline line, `*0`): drop them.
    Skipped { used: usize },
    /// One command in the first `used` bytes; its arguments were written to `args`.
    Command { used: usize },
    /// The first `used` bytes end with the header of a bulk string longer than
    /// `max_value_bytes`: the next `skip_bytes` bytes (its data and CRLF) and then `args_left`
    /// more bulk strings belong to a command that is answered with an error and never run.
    Oversized { used: usize, skip_bytes: u64, args_left: usize },
}

/// Parses one command at the start of `buf` (see [`ParseStep`]); `args` is cleared first and
/// receives the ranges of the arguments in `buf` when a command is found.
pub fn parse_command(buf: &[u8], limits: &RespLimits, args: &mut Vec<Range<usize>>) -> Result<ParseStep, RespError> {
    args.clear();
    match buf.first() {
        None => Ok(ParseStep::Incomplete),
        Some(b'*') => parse_multibulk(buf, limits, args),
        Some(_) => parse_inline(buf, limits, args),
    }
}

/// Parses `$<len>\r\n` at the start of `buf`: `Ok(Some((len, used)))`, `Ok(None)` when the
/// line is not complete yet. `len` is checked against `max_bulk_bytes`.
pub fn parse_bulk_header(buf: &[u8], limits: &RespLimits) -> Result<Option<(usize, usize)>, RespError> {
    match buf.first() {
        None => return Ok(None),
        Some(b'$') => {}
        Some(&got) => return Err(RespError::Expected { expected: '$', got }),
    }
    let Some((line, used)) = line_at(buf, 1) else {
        return if buf.len() > limits.max_inline_bytes { Err(RespError::InvalidBulkLength) } else { Ok(None) };
    };
    match parse_i64(line) {
        Some(len) if len >= 0 && len as u64 <= limits.max_bulk_bytes as u64 => Ok(Some((len as usize, used))),
        _ => Err(RespError::InvalidBulkLength),
    }
}

fn parse_multibulk(buf: &[u8], limits: &RespLimits, args: &mut Vec<Range<usize>>) -> Result<ParseStep, RespError> {
    let Some((line, mut pos)) = line_at(buf, 1) else {
        return if buf.len() > limits.max_inline_bytes {
            Err(RespError::InvalidMultibulkLength)
        } else {
            Ok(ParseStep::Incomplete)
        };
    };
    let count = match parse_i64(line) {
        Some(n) if n >= 0 && n as u64 <= limits.max_args as u64 => n as usize,
        _ => return Err(RespError::InvalidMultibulkLength),
    };
    if count == 0 {
        return Ok(ParseStep::Skipped { used: pos });
    }
    args.reserve(count.min(MAX_ARGS_RESERVED));
    for arg_index in 0..count {
        let Some((len, header_bytes)) = parse_bulk_header(&buf[pos..], limits)? else {
            return Ok(ParseStep::Incomplete);
        };
        pos += header_bytes;
        if len > limits.max_value_bytes {
            let skip_bytes = len as u64 + 2;
            return Ok(ParseStep::Oversized { used: pos, skip_bytes, args_left: count - arg_index - 1 });
        }
        // The CRLF after the data is skipped unchecked, as Redis does.
        let end = pos + len;
        if buf.len() < end + 2 {
            return Ok(ParseStep::Incomplete);
        }
        args.push(pos..end);
        pos = end + 2;
    }
    Ok(ParseStep::Command { used: pos })
}

/// An inline command: one line, arguments separated by blanks. A double- or single-quoted
/// argument may hold blanks; escapes inside quotes are not interpreted (the argument is a
/// range of the input, never a copy).
fn parse_inline(buf: &[u8], limits: &RespLimits, args: &mut Vec<Range<usize>>) -> Result<ParseStep, RespError> {
    let Some(newline) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > limits.max_inline_bytes {
            Err(RespError::TooBigInline)
        } else {
            Ok(ParseStep::Incomplete)
        };
    };
    if newline > limits.max_inline_bytes {
        return Err(RespError::TooBigInline);
    }
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
    split_inline(&buf[..line_end], args)?;
    if args.len() > limits.max_args {
        return Err(RespError::InvalidMultibulkLength);
    }
    let used = newline + 1;
    Ok(if args.is_empty() { ParseStep::Skipped { used } } else { ParseStep::Command { used } })
}

fn split_inline(line: &[u8], args: &mut Vec<Range<usize>>) -> Result<(), RespError> {
    let is_blank = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c');
    let mut pos = 0;
    while pos < line.len() {
        if is_blank(line[pos]) {
            pos += 1;
            continue;
        }
        let quote = line[pos];
        if quote == b'"' || quote == b'\'' {
            let Some(close) = memchr::memchr(quote, &line[pos + 1..]) else {
                return Err(RespError::UnbalancedQuotes);
            };
            let end = pos + 1 + close;
            // A closing quote must be followed by a blank or the end of the line.
            if line.get(end + 1).is_some_and(|&b| !is_blank(b)) {
                return Err(RespError::UnbalancedQuotes);
            }
            args.push(pos + 1..end);
            pos = end + 1;
        } else {
            let end = line[pos..].iter().position(|&b| is_blank(b)).map_or(line.len(), |n| pos + n);
            args.push(pos..end);
            pos = end;
        }
    }
    Ok(())
}

/// The line starting at `start` up to (excluding) its `\r`, and the offset after the `\n`;
/// `None` while the `\r\n` has not arrived. Like Redis, the byte after `\r` is not checked.
#[inline]
fn line_at(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(start..)?;
    let cr = memchr::memchr(b'\r', rest)?;
    if cr + 1 >= rest.len() {
        return None;
    }
    Some((&rest[..cr], start + cr + 2))
}

/// A signed decimal integer as Redis's `string2ll` accepts it: an optional `-`, digits, no
/// leading zeros, no blanks or `+`, within `i64`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}
