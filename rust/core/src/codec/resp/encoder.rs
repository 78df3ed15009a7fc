//! RESP2 reply encoders: each appends one complete reply to `out`.

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
