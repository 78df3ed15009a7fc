//! Counting whole RESP2 replies, so that a load generator can match pipelined replies to the
//! requests it sent without building a Python object per reply.

use super::parser::parse_i64;
use super::RespError;

/// Deepest array nesting accepted (the counter keeps a stack of this many counts at most).
const MAX_NESTING: usize = 1024;

/// Counts the complete top-level replies at the start of `buf`: `(replies, used_bytes,
/// error_replies)`. A nested array counts as one reply; counting stops before an incomplete
/// reply. Bytes that are no RESP2 reply are an error.
pub fn count_replies(buf: &[u8]) -> Result<(usize, usize, usize), RespError> {
    let mut replies = 0;
    let mut errors = 0;
    let mut used = 0;
    loop {
        match reply_at(buf, used)? {
            None => return Ok((replies, used, errors)),
            Some((end, is_error)) => {
                replies += 1;
                errors += usize::from(is_error);
                used = end;
            }
        }
    }
}

/// The end of the complete reply starting at `start` and whether it is an error reply.
fn reply_at(buf: &[u8], start: usize) -> Result<Option<(usize, bool)>, RespError> {
    if start >= buf.len() {
        return Ok(None);
    }
    let is_error = buf[start] == b'-';
    // Elements still expected by each open array, innermost last.
    let mut open: Vec<u64> = Vec::new();
    let mut pos = start;
    loop {
        let Some((element_end, elements)) = element_at(buf, pos)? else {
            return Ok(None);
        };
        pos = element_end;
        if elements > 0 {
            if open.len() == MAX_NESTING {
                return Err(RespError::MalformedReply("arrays nested too deep"));
            }
            open.push(elements);
            continue;
        }
        // A complete element: close every array it completes.
        loop {
            match open.last_mut() {
                None => return Ok(Some((pos, is_error))),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// One element header (and its data for a bulk string) at `pos`: its end and, for an array,
/// how many elements follow (0 for anything complete in itself).
fn element_at(buf: &[u8], pos: usize) -> Result<Option<(usize, u64)>, RespError> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(cr) = memchr::memchr(b'\r', &buf[pos..]) else {
        return Ok(None);
    };
    let line_end = pos + cr;
    match buf.get(line_end + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(RespError::MalformedReply("CR not followed by LF")),
    }
    let line = &buf[pos + 1..line_end];
    let after = line_end + 2;
    match kind {
        b'+' | b'-' => Ok(Some((after, 0))),
        b':' => parse_i64(line).map(|_| Some((after, 0))).ok_or(RespError::MalformedReply("bad integer")),
        b'$' => match parse_i64(line) {
            Some(-1) => Ok(Some((after, 0))),
            Some(len) if len >= 0 => {
                let end = (after as u64).saturating_add(len as u64).saturating_add(2);
                if end > buf.len() as u64 {
                    return Ok(None);
                }
                let end = end as usize;
                if &buf[end - 2..end] != b"\r\n" {
                    return Err(RespError::MalformedReply("bulk string not followed by CRLF"));
                }
                Ok(Some((end, 0)))
            }
            _ => Err(RespError::MalformedReply("bad bulk length")),
        },
        b'*' => match parse_i64(line) {
            Some(-1 | 0) => Ok(Some((after, 0))),
            Some(n) if n > 0 => Ok(Some((after, n as u64))),
            _ => Err(RespError::MalformedReply("bad array length")),
        },
        _ => Err(RespError::MalformedReply("unknown reply type byte")),
    }
}
