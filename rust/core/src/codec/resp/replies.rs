//! Counting whole RESP2 and RESP3 replies, so that a load generator can match pipelined
//! replies to the requests it sent without building a Python object per reply.

use super::parser::parse_i64;
use super::RespError;

/// Deepest aggregate nesting accepted (the counter keeps a stack of this many counts at most).
const MAX_NESTING: usize = 1024;

/// Counts the complete top-level replies at the start of `buf`: `(replies, used_bytes,
/// error_replies)`. An aggregate (array, map, set) counts as one reply, errors are `-` and
/// `!` replies; counting stops before an incomplete reply. A RESP3 push (`>`) is out of band,
/// no reply to a request: its bytes are used but not counted. Attributes (`|`) belong to the
/// reply they precede. Bytes that are no RESP2 or RESP3 reply are an error.
pub fn count_replies(buf: &[u8]) -> Result<(usize, usize, usize), RespError> {
    let mut replies = 0;
    let mut errors = 0;
    let mut used = 0;
    loop {
        match reply_at(buf, used)? {
            None => return Ok((replies, used, errors)),
            Some((end, kind)) => {
                replies += usize::from(kind != TopLevel::Push);
                errors += usize::from(kind == TopLevel::Error);
                used = end;
            }
        }
    }
}

/// The end of the complete reply (an element with all it contains) that starts at `start`;
/// None if it is cut short.
pub fn reply_end(buf: &[u8], start: usize) -> Result<Option<usize>, RespError> {
    Ok(reply_at(buf, start)?.map(|(end, _)| end))
}

/// What a complete top-level reply is, for the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TopLevel {
    Reply,
    Error,
    Push,
}

/// One element's header (and its data, for a string) as read at some position.
#[derive(Clone, Copy, Debug)]
struct Element {
    /// The position after the header or the string.
    end: usize,
    /// Elements that follow as its content: 0 for an element complete in itself.
    children: u64,
    /// An attribute: its content annotates the element after it and completes nothing.
    attribute: bool,
}

/// An aggregate still open: elements it still expects (at least 1) and whether it is an
/// attribute.
#[derive(Clone, Copy, Debug)]
struct OpenAggregate {
    left: u64,
    attribute: bool,
}

/// The end and kind of the complete reply starting at `start`.
fn reply_at(buf: &[u8], start: usize) -> Result<Option<(usize, TopLevel)>, RespError> {
    // Open aggregates, innermost last.
    let mut open: Vec<OpenAggregate> = Vec::new();
    let mut kind = TopLevel::Reply;
    let mut pos = start;
    loop {
        if open.is_empty() {
            // The reply itself starts here (after any attributes of it).
            kind = match buf.get(pos) {
                None => return Ok(None),
                Some(b'-' | b'!') => TopLevel::Error,
                Some(b'>') => TopLevel::Push,
                Some(_) => TopLevel::Reply,
            };
        }
        let Some(element) = element_at(buf, pos)? else {
            return Ok(None);
        };
        pos = element.end;
        if element.children > 0 {
            if open.len() == MAX_NESTING {
                return Err(RespError::MalformedReply("aggregates nested too deep"));
            }
            open.push(OpenAggregate { left: element.children, attribute: element.attribute });
            continue;
        }
        if element.attribute {
            // An empty attribute: the element it annotates follows.
            continue;
        }
        // A complete element: close every aggregate it completes.
        loop {
            match open.last_mut() {
                None => return Ok(Some((pos, kind))),
                Some(aggregate) => {
                    aggregate.left -= 1;
                    if aggregate.left > 0 {
                        break;
                    }
                    let closed = open.pop();
                    if closed.is_some_and(|a| a.attribute) {
                        // A complete attribute completes nothing: its element follows.
                        break;
                    }
                }
            }
        }
    }
}

/// One element at `pos`: its header, and its data for a string.
fn element_at(buf: &[u8], pos: usize) -> Result<Option<Element>, RespError> {
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
    let complete = |end| Ok(Some(Element { end, children: 0, attribute: false }));
    let aggregate = |children, attribute| Ok(Some(Element { end: after, children, attribute }));
    match kind {
        b'+' | b'-' => complete(after),
        b':' => parse_i64(line).map_or(Err(RespError::MalformedReply("bad integer")), |_| complete(after)),
        b'_' if line.is_empty() => complete(after),
        b'_' => Err(RespError::MalformedReply("bad null")),
        b'#' if line == b"t" || line == b"f" => complete(after),
        b'#' => Err(RespError::MalformedReply("bad boolean")),
        b',' if !line.is_empty() => complete(after),
        b',' => Err(RespError::MalformedReply("bad double")),
        b'(' if is_big_number(line) => complete(after),
        b'(' => Err(RespError::MalformedReply("bad big number")),
        b'$' | b'!' | b'=' => match parse_i64(line) {
            Some(-1) if kind == b'$' => complete(after),
            Some(len) if len >= 0 => match string_end(buf, after, len as u64)? {
                Some(end) => complete(end),
                None => Ok(None),
            },
            _ => Err(RespError::MalformedReply("bad string length")),
        },
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let pairs = kind == b'%' || kind == b'|';
            match parse_i64(line) {
                Some(-1) if kind == b'*' => complete(after),
                // At most 2 × i64::MAX elements: no overflow in u64.
                Some(n) if n >= 0 => aggregate(n as u64 * if pairs { 2 } else { 1 }, kind == b'|'),
                _ => Err(RespError::MalformedReply("bad aggregate length")),
            }
        }
        _ => Err(RespError::MalformedReply("unknown reply type byte")),
    }
}

/// The end of a string of `len` bytes starting at `start`, once all of it and its CRLF are
/// in `buf`.
fn string_end(buf: &[u8], start: usize, len: u64) -> Result<Option<usize>, RespError> {
    let end = (start as u64).saturating_add(len).saturating_add(2);
    if end > buf.len() as u64 {
        return Ok(None);
    }
    let end = end as usize;
    if &buf[end - 2..end] != b"\r\n" {
        return Err(RespError::MalformedReply("string not followed by CRLF"));
    }
    Ok(Some(end))
}

/// `[-+]?[0-9]+`.
fn is_big_number(line: &[u8]) -> bool {
    let digits = line.strip_prefix(b"-").or_else(|| line.strip_prefix(b"+")).unwrap_or(line);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}
