//! Reply encoders: each appends one complete reply to `out`. Most replies are the same bytes
//! in RESP2 and RESP3; the few that differ (null, map) take the connection's [`Protocol`].

/// The reply protocol of a connection, chosen by `HELLO 2` / `HELLO 3` (RESP2 until then).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Protocol {
    #[default]
    Resp2 = 2,
    Resp3 = 3,
}

impl Protocol {
    /// The protocol numbered `version` (as HELLO and the batch header number them).
    pub fn from_version(version: i64) -> Option<Protocol> {
        match version {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => None,
        }
    }

    /// 2 or 3.
    pub fn version(self) -> u8 {
        self as u8
    }
}

/// `+<text>\r\n`; `text` must hold no CR or LF.
#[inline]
pub fn put_simple(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// `+OK\r\n`.
#[inline]
pub fn put_ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// `-<message>\r\n`, `message` starting with its code (`ERR ...`). CR and LF inside it become
/// spaces, as Redis does, so that no message can break the framing.
pub fn put_error(out: &mut Vec<u8>, message: &[u8]) {
    out.push(b'-');
    out.extend(message.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

/// `:<n>\r\n`.
#[inline]
pub fn put_integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `$<len>\r\n<bytes>\r\n`.
#[inline]
pub fn put_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// The null bulk string `$-1\r\n`.
#[inline]
pub fn put_null_bulk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*<n>\r\n`: the n elements follow.
#[inline]
pub fn put_array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The null array `*-1\r\n`.
#[inline]
pub fn put_null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// The null reply: RESP3 has one (`_\r\n`) where RESP2 has a null bulk string (`$-1\r\n`).
#[inline]
pub fn put_null(out: &mut Vec<u8>, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => put_null_bulk(out),
        Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// The null array: `*-1\r\n` in RESP2, the null `_\r\n` in RESP3.
#[inline]
pub fn put_null_aggregate(out: &mut Vec<u8>, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => put_null_array(out),
        Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// A map of `pairs` key-value pairs (the 2 × `pairs` elements follow, key first): `%<pairs>`
/// in RESP3, a flat array `*<2 × pairs>` in RESP2.
#[inline]
pub fn put_map_header(out: &mut Vec<u8>, pairs: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => put_array_header(out, pairs * 2),
        Protocol::Resp3 => {
            out.push(b'%');
            out.extend_from_slice(itoa::Buffer::new().format(pairs).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}
