//! A bounds-checked cursor over one frame body that hands out zero-copy slices of it.
//!
//! Every read checks the remaining bytes once and fails with a [`DecodeError`] instead of
//! panicking; counts and lengths are checked against the remaining bytes before anything is
//! allocated for them, so a body never costs more memory than a small multiple of its length.

use super::error::DecodeError;
use super::varint::get_varint;
use bytes::Bytes;

pub(super) struct BodyReader<'a> {
    body: &'a Bytes,
    /// The unread bytes. Invariant: a suffix of `body`.
    rest: &'a [u8],
}

impl<'a> BodyReader<'a> {
    pub(super) fn new(body: &'a Bytes) -> BodyReader<'a> {
        BodyReader { body, rest: body.as_ref() }
    }

    fn remaining_bytes(&self) -> usize {
        self.rest.len()
    }

    #[inline]
    pub(super) fn read_u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self.rest.split_first().ok_or(DecodeError::BodyTruncated)?;
        self.rest = rest;
        Ok(byte)
    }

    #[inline]
    pub(super) fn read_varint(&mut self) -> Result<u64, DecodeError> {
        let (value, len_bytes) = get_varint(self.rest)?;
        // get_varint consumed `len_bytes <= rest.len()` bytes, so this cannot go out of range.
        self.rest = &self.rest[len_bytes..];
        Ok(value)
    }

    /// A boolean stored as one byte that must be exactly 0 or 1.
    pub(super) fn read_flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            found => Err(DecodeError::BadFlag { field, found }),
        }
    }

    /// An item count, refused unless the remaining bytes could hold that many items of at
    /// least `min_item_bytes` each. The result is therefore safe to pass to `with_capacity`.
    pub(super) fn read_count(&mut self, field: &'static str, min_item_bytes: usize) -> Result<usize, DecodeError> {
        debug_assert!(min_item_bytes >= 1, "a zero-byte item would make any count plausible");
        let count = self.read_varint()?;
        let max_count = self.remaining_bytes() / min_item_bytes;
        match usize::try_from(count) {
            Ok(count) if count <= max_count => Ok(count),
            _ => Err(DecodeError::TooManyItems { field, count, remaining_bytes: self.remaining_bytes() }),
        }
    }

    /// A length-prefixed byte string, returned as a slice sharing the body's buffer.
    #[inline]
    pub(super) fn read_bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.read_varint()?;
        match usize::try_from(len) {
            Ok(len_bytes) if len_bytes <= self.remaining_bytes() => {
                let start = self.body.len() - self.remaining_bytes();
                self.rest = &self.rest[len_bytes..];
                Ok(self.body.slice(start..start + len_bytes))
            }
            _ => Err(DecodeError::LengthOutOfBounds { field, len, remaining_bytes: self.remaining_bytes() }),
        }
    }

    /// Ends the read: the whole body must have been consumed.
    pub(super) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining_bytes() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}
