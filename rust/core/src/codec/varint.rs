//! LEB128 varints: 7 bits per byte, least significant group first, the high bit set on every
//! byte but the last. Only the shortest form of a value is accepted, so that every value has
//! exactly one encoding and a decoded body re-encodes to the very same bytes.
//!
//! Signed deltas travel zigzag-mapped (0, -1, 1, -2, ... → 0, 1, 2, 3, ...) so that small
//! deltas of either sign take one byte.

use super::error::DecodeError;

/// The longest encoding of a `u64`: ceil(64 / 7) groups.
pub(crate) const MAX_VARINT_BYTES: usize = 10;

const CONTINUATION_BIT: u8 = 0x80;
const GROUP_MASK: u8 = 0x7f;

/// Appends the shortest encoding of `value` to `out`.
#[inline]
pub(crate) fn put_varint(value: u64, out: &mut Vec<u8>) {
    let mut rest = value;
    while rest >= u64::from(CONTINUATION_BIT) {
        // Truncation to the low byte is the point: the group is the low 7 bits.
        out.push(rest as u8 | CONTINUATION_BIT);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Decodes the varint at the start of `src`: the value and the bytes it took.
/// Running out of input is [`DecodeError::BodyTruncated`]: varints only occur in bodies.
#[inline]
pub(crate) fn get_varint(src: &[u8]) -> Result<(u64, usize), DecodeError> {
    // Fast path: most fields (flags, deltas, small ids and lengths) fit in one byte.
    match src.first() {
        Some(&byte) if byte & CONTINUATION_BIT == 0 => Ok((u64::from(byte), 1)),
        Some(_) => get_multi_byte_varint(src),
        None => Err(DecodeError::BodyTruncated),
    }
}

fn get_multi_byte_varint(src: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut value = 0u64;
    for (group_index, &byte) in src.iter().take(MAX_VARINT_BYTES).enumerate() {
        let is_last_byte = byte & CONTINUATION_BIT == 0;
        // The tenth group holds bit 63 alone; anything more (or a continuation) overflows.
        if group_index == MAX_VARINT_BYTES - 1 && byte > 1 {
            return Err(DecodeError::VarintOverflow);
        }
        value |= u64::from(byte & GROUP_MASK) << (7 * group_index);
        if is_last_byte {
            // A zero final group after other groups could have been left off.
            if byte == 0 {
                return Err(DecodeError::NonCanonicalVarint);
            }
            return Ok((value, group_index + 1));
        }
    }
    Err(DecodeError::BodyTruncated)
}

/// Maps a signed delta to an unsigned value whose magnitude is about twice the delta's.
#[inline]
pub(crate) fn zigzag(delta: i64) -> u64 {
    ((delta << 1) ^ (delta >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(value, &mut out);
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encoded(0), [0x00]);
        assert_eq!(encoded(127), [0x7f]);
        assert_eq!(encoded(128), [0x80, 0x01]);
        assert_eq!(encoded(300), [0xac, 0x02]);
        assert_eq!(encoded(u64::MAX).len(), MAX_VARINT_BYTES);
        assert_eq!(encoded(u64::MAX)[MAX_VARINT_BYTES - 1], 0x01);
    }

    #[test]
    fn rejects_eleven_bytes() {
        let mut src = vec![0xff; MAX_VARINT_BYTES];
        src.push(0x00);
        assert_eq!(get_varint(&src), Err(DecodeError::VarintOverflow));
    }

    #[test]
    fn rejects_bits_beyond_64() {
        let mut src = vec![0xff; MAX_VARINT_BYTES - 1];
        src.push(0x02);
        assert_eq!(get_varint(&src), Err(DecodeError::VarintOverflow));
    }

    #[test]
    fn rejects_overlong_forms() {
        assert_eq!(get_varint(&[0x80, 0x00]), Err(DecodeError::NonCanonicalVarint));
        assert_eq!(get_varint(&[0x81, 0x80, 0x00]), Err(DecodeError::NonCanonicalVarint));
    }

    #[test]
    fn running_out_is_body_truncated() {
        assert_eq!(get_varint(&[]), Err(DecodeError::BodyTruncated));
        assert_eq!(get_varint(&[0x80]), Err(DecodeError::BodyTruncated));
        assert_eq!(get_varint(&[0xff; 9]), Err(DecodeError::BodyTruncated));
    }

    #[test]
    fn zigzag_small_deltas_are_small() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    proptest! {
        #[test]
        fn varint_round_trips(value: u64, suffix in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut src = encoded(value);
            let encoded_bytes = src.len();
            src.extend_from_slice(&suffix);
            prop_assert_eq!(get_varint(&src), Ok((value, encoded_bytes)));
        }

        #[test]
        fn decoded_varints_are_canonical(src in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok((value, len)) = get_varint(&src) {
                prop_assert_eq!(encoded(value), &src[..len]);
            }
        }

        #[test]
        fn zigzag_round_trips(delta: i64) {
            prop_assert_eq!(unzigzag(zigzag(delta)), delta);
        }
    }
}
