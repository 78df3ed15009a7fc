//! A MessagePack array of binary strings, written the way `msgpack.packb(list_of_bytes)` writes
//! it (the smallest header that fits each length). The node runtime's snapshot is such an
//! array, one element per state machine; building it here lets a large snapshot be copied
//! once, off the interpreter lock, instead of through `msgpack.packb`.
//!
//! ```text
//! array header  0x90|n (n < 16) | 0xdc u16 BE | 0xdd u32 BE
//! each element  0xc4 u8 len | 0xc5 u16 BE len | 0xc6 u32 BE len, then the bytes
//! ```

use thiserror::Error;

/// The largest element or element count MessagePack can state (`u32::MAX`).
pub const MAX_BIN_ARRAY_LEN: usize = u32::MAX as usize;

/// An element or the element count is beyond what MessagePack can state.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{what} of {len} is above MessagePack's limit of {MAX_BIN_ARRAY_LEN}")]
pub struct BinArrayTooLarge {
    pub what: &'static str,
    pub len: usize,
}

fn array_header_bytes(count: usize) -> usize {
    match count {
        0..16 => 1,
        16..=0xffff => 3,
        _ => 5,
    }
}

fn bin_header_bytes(len: usize) -> usize {
    match len {
        0..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

/// Bytes of the encoding of `lens.len()` elements of these lengths, or the first length
/// MessagePack cannot state.
pub fn bin_array_bytes(lens: &[usize]) -> Result<usize, BinArrayTooLarge> {
    if lens.len() > MAX_BIN_ARRAY_LEN {
        return Err(BinArrayTooLarge { what: "element count", len: lens.len() });
    }
    let mut total = array_header_bytes(lens.len());
    for &len in lens {
        if len > MAX_BIN_ARRAY_LEN {
            return Err(BinArrayTooLarge { what: "element length", len });
        }
        total += bin_header_bytes(len) + len;
    }
    Ok(total)
}

/// Writes the array of `parts` into `out`, which must be exactly `bin_array_bytes` long (the
/// caller sized it with that, and it checked the lengths).
///
/// # Panics
/// If `out` has another length, or a length is beyond MessagePack's limit.
pub fn write_bin_array(parts: &[&[u8]], out: &mut [u8]) {
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    let total = bin_array_bytes(&lens).expect("write_bin_array: lengths checked by the caller");
    assert_eq!(out.len(), total, "write_bin_array: output sized by bin_array_bytes");
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    let array_tags = HeaderTags { small: Some(0x90), u8: None, u16: 0xdc, u32: 0xdd };
    put_header(&mut put, &array_tags, parts.len());
    let bin_tags = HeaderTags { small: None, u8: Some(0xc4), u16: 0xc5, u32: 0xc6 };
    for part in parts {
        put_header(&mut put, &bin_tags, part.len());
        put(part);
    }
}

/// The type bytes of one MessagePack family: `small` holds a length below 16 in its low bits
/// (fixarray); the others are followed by the length as u8, u16 or u32 big-endian.
struct HeaderTags {
    small: Option<u8>,
    u8: Option<u8>,
    u16: u8,
    u32: u8,
}

/// Writes the smallest header of `tags` that states `len` (checked to fit a u32).
fn put_header(put: &mut impl FnMut(&[u8]), tags: &HeaderTags, len: usize) {
    match (tags.small, tags.u8) {
        (Some(small), _) if len < 16 => put(&[small | len as u8]),
        (_, Some(tag)) if len <= 0xff => put(&[tag, len as u8]),
        _ if len <= 0xffff => {
            put(&[tags.u16]);
            put(&(len as u16).to_be_bytes());
        }
        _ => {
            put(&[tags.u32]);
            put(&(len as u32).to_be_bytes());
        }
    }
}

/// The array of `parts` as a new vector.
pub fn encode_bin_array(parts: &[&[u8]]) -> Result<Vec<u8>, BinArrayTooLarge> {
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    let mut out = vec![0; bin_array_bytes(&lens)?];
    write_bin_array(parts, &mut out);
    Ok(out)
}

/// Bytes that are not one MessagePack array of binary strings, with the offset of the problem.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not an array of binary strings at byte {at}: {problem}")]
pub struct MalformedBinArray {
    pub at: usize,
    pub problem: &'static str,
}

/// The elements of the array `data` holds, as ranges of `data` (so a caller holding shared
/// bytes slices them without a copy). Reads every header this module writes (any size of
/// each) and refuses anything else, a truncated element, or bytes after the array.
pub fn decode_bin_array(data: &[u8]) -> Result<Vec<std::ops::Range<usize>>, MalformedBinArray> {
    let mut at: usize = 0;
    let mut take = |n: usize, problem: &'static str| -> Result<std::ops::Range<usize>, MalformedBinArray> {
        // A 32-bit length read on a 32-bit target may overflow `at + n`: too long all the same.
        let end = at.checked_add(n).filter(|&end| end <= data.len()).ok_or(MalformedBinArray { at, problem })?;
        let range = at..end;
        at = end;
        Ok(range)
    };
    let uint = |range: std::ops::Range<usize>| data[range].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
    let tag = data[take(1, "empty")?.start];
    let count = match tag {
        0x90..=0x9f => (tag & 0x0f) as usize,
        0xdc => uint(take(2, "truncated array header")?),
        0xdd => uint(take(4, "truncated array header")?),
        _ => return Err(MalformedBinArray { at: 0, problem: "not an array" }),
    };
    // Each element takes two bytes at least: a count beyond that is a lie, not an allocation.
    if count > (data.len() - 1) / 2 {
        return Err(MalformedBinArray { at: 0, problem: "more elements than bytes" });
    }
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        let header = take(1, "truncated element")?;
        let len = match data[header.start] {
            0xc4 => uint(take(1, "truncated element header")?),
            0xc5 => uint(take(2, "truncated element header")?),
            0xc6 => uint(take(4, "truncated element header")?),
            _ => return Err(MalformedBinArray { at: header.start, problem: "not a binary string" }),
        };
        parts.push(take(len, "truncated element")?);
    }
    if at != data.len() {
        return Err(MalformedBinArray { at, problem: "bytes after the array" });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader of exactly this subset of MessagePack, for the round trip.
    fn decode(mut buf: &[u8]) -> Vec<Vec<u8>> {
        fn take<'a>(buf: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (head, rest) = buf.split_at(n);
            *buf = rest;
            head
        }
        fn uint(bytes: &[u8]) -> usize {
            bytes.iter().fold(0, |acc, &b| (acc << 8) | b as usize)
        }
        let tag = take(&mut buf, 1)[0];
        let count = match tag {
            0x90..=0x9f => (tag & 0x0f) as usize,
            0xdc => uint(take(&mut buf, 2)),
            0xdd => uint(take(&mut buf, 4)),
            _ => panic!("not an array: {tag:#x}"),
        };
        let mut parts = Vec::new();
        for _ in 0..count {
            let len = match take(&mut buf, 1)[0] {
                0xc4 => uint(take(&mut buf, 1)),
                0xc5 => uint(take(&mut buf, 2)),
                0xc6 => uint(take(&mut buf, 4)),
                other => panic!("not a bin: {other:#x}"),
            };
            parts.push(take(&mut buf, len).to_vec());
        }
        assert!(buf.is_empty(), "trailing bytes");
        parts
    }

    #[test]
    fn headers_are_the_smallest_that_fit() {
        assert_eq!(encode_bin_array(&[]).unwrap(), [0x90]);
        assert_eq!(encode_bin_array(&[b"ab"]).unwrap(), [0x91, 0xc4, 2, b'a', b'b']);
        let medium = vec![1; 300];
        assert_eq!(encode_bin_array(&[&medium]).unwrap()[..4], [0x91, 0xc5, 0x01, 0x2c]);
        let large = vec![2; 70_000];
        assert_eq!(encode_bin_array(&[&large]).unwrap()[..6], [0x91, 0xc6, 0, 1, 0x11, 0x70]);
        let many: Vec<&[u8]> = vec![b""; 20];
        assert_eq!(encode_bin_array(&many).unwrap()[..3], [0xdc, 0, 20]);
    }

    #[test]
    fn what_is_not_an_array_of_binary_strings_is_refused() {
        assert_eq!(decode_bin_array(&[]), Err(MalformedBinArray { at: 0, problem: "empty" }));
        assert_eq!(decode_bin_array(&[0xc4, 0]), Err(MalformedBinArray { at: 0, problem: "not an array" }));
        assert_eq!(
            decode_bin_array(&[0x91, 0xa1, b'x']),
            Err(MalformedBinArray { at: 1, problem: "not a binary string" })
        );
        assert_eq!(decode_bin_array(&[0xdd, 0xff, 0xff, 0xff, 0xff]).unwrap_err().problem, "more elements than bytes");
        assert_eq!(decode_bin_array(&[0x90]), Ok(vec![]));
    }

    #[test]
    fn lengths_beyond_messagepack_are_refused() {
        let too_long = MAX_BIN_ARRAY_LEN + 1;
        assert_eq!(bin_array_bytes(&[1, too_long]), Err(BinArrayTooLarge { what: "element length", len: too_long }));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn round_trips(parts in proptest::collection::vec(
            prop_oneof![
                9 => proptest::collection::vec(any::<u8>(), 0..300),
                1 => proptest::collection::vec(Just(7u8), 65_530..65_540),
            ],
            0..20,
        )) {
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let encoded = encode_bin_array(&slices).unwrap();
            let lens: Vec<usize> = parts.iter().map(Vec::len).collect();
            prop_assert_eq!(encoded.len(), bin_array_bytes(&lens).unwrap());
            prop_assert_eq!(decode(&encoded), parts.clone());
            let ranges = decode_bin_array(&encoded).unwrap();
            let decoded: Vec<Vec<u8>> = ranges.into_iter().map(|r| encoded[r].to_vec()).collect();
            prop_assert_eq!(decoded, parts);
        }

        #[test]
        fn any_bytes_decode_or_are_refused_without_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(ranges) = decode_bin_array(&data) {
                prop_assert!(ranges.iter().all(|r| r.end <= data.len()));
            }
        }

        #[test]
        fn a_cut_array_is_refused(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5),
                                  cut in any::<proptest::sample::Index>()) {
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let encoded = encode_bin_array(&slices).unwrap();
            let cut = cut.index(encoded.len());
            prop_assert!(decode_bin_array(&encoded[..cut]).is_err());
            let mut longer = encoded.clone();
            longer.push(0);
            prop_assert_eq!(decode_bin_array(&longer), Err(MalformedBinArray { at: encoded.len(), problem: "bytes after the array" }));
        }
    }
}
