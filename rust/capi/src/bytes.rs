//! `senate_bytes`: a buffer the library hands out and the caller owns, freed by
//! `senate_bytes_free`; and the one producer of such buffers without a handle, the snapshot
//! envelope.

use crate::call::{call, out, slice};
use crate::code::{senate_code, Error};

/// A buffer owned by the caller: `len` bytes at `data` (NULL when `len` is 0). Free it with
/// `senate_bytes_free`, once.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_bytes {
    /// The first byte; NULL when `len` is 0.
    pub data: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

impl senate_bytes {
    const EMPTY: senate_bytes = senate_bytes { data: std::ptr::null_mut(), len: 0 };

    fn from_vec(bytes: Vec<u8>) -> senate_bytes {
        if bytes.is_empty() {
            return senate_bytes::EMPTY;
        }
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        senate_bytes { data: Box::into_raw(boxed).cast(), len }
    }
}

/// Frees the buffer `bytes` describes and sets it to `{NULL, 0}`, so a second call is a no-op.
/// NULL, and a buffer of length 0, are no-ops.
///
/// `*bytes` must be exactly what the library handed out (not a part of it).
///
/// # Safety
/// `bytes` is NULL or points to a `senate_bytes` from this library, not freed since.
#[no_mangle]
pub unsafe extern "C" fn senate_bytes_free(bytes: *mut senate_bytes) -> senate_code {
    call(|| {
        let Some(bytes) = bytes.as_mut() else { return Ok(()) };
        if bytes.len > 0 && !bytes.data.is_null() {
            // SAFETY: `data`/`len` came from `from_vec`'s boxed slice (the caller promises).
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes.data, bytes.len)));
        }
        *bytes = senate_bytes::EMPTY;
        Ok(())
    })
}

/// Encodes the node runtime's snapshot envelope: a MessagePack array of `count` binary
/// strings, part `i` being `lens[i]` bytes at `parts[i]`. The result goes to `*out`, owned by
/// the caller (free it with `senate_bytes_free`). Thread-safe (touches no handle).
///
/// # Safety
/// `parts` and `lens` each hold `count` elements; `parts[i]` is valid for `lens[i]` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_encode_snapshot_envelope(
    parts: *const *const u8,
    lens: *const usize,
    count: usize,
    out_bytes: *mut senate_bytes,
) -> senate_code {
    call(|| {
        let out_bytes = out(out_bytes, "out")?;
        let pointers = slice(parts, count, "parts")?;
        let lens = slice(lens, count, "lens")?;
        let parts = pointers
            .iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (&ptr, &len))| slice(ptr, len, &format!("parts[{i}]")))
            .collect::<Result<Vec<&[u8]>, Error>>()?;
        let total = senate_core::codec::bin_array_bytes(lens)
            .map_err(|e| Error::new(senate_code::InvalidArgument, e.to_string()))?;
        let mut buf = vec![0; total];
        senate_core::codec::write_bin_array(&parts, &mut buf);
        *out_bytes = senate_bytes::from_vec(buf);
        Ok(())
    })
}
