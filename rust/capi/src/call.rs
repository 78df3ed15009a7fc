//! The wrapper of every entry point, and the checks of the arguments C hands in.
//!
//! `call` runs an entry point's body, catches a panic (none may unwind into C: that is
//! undefined behaviour), turns an `Error` into its `senate_code` and keeps its message for
//! the thread. The argument helpers turn raw pointers into references and slices, refusing
//! NULL and impossible lengths with an error instead of undefined behaviour.

use crate::code::{senate_code, Error, Result};
use crate::last_error;
use bytes::Bytes;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body` as an entry point: its result becomes a code, a panic `SENATE_CODE_PANIC`.
pub fn call(body: impl FnOnce() -> Result<()>) -> senate_code {
    // AssertUnwindSafe: after a panic the handle the call was made on may be inconsistent;
    // the code says so, and the caller is told to only free it.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => senate_code::Ok,
        Ok(Err(err)) => {
            last_error::set(&err.message);
            err.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            last_error::set(&format!("panic inside senate (a bug; free this handle): {what}"));
            senate_code::Panic
        }
    }
}

fn null(name: &str) -> Error {
    Error::new(senate_code::NullArgument, format!("{name} is NULL"))
}

/// The place an out-parameter points to. Writing through it with `=` is fine: every
/// out-parameter type is `Copy` (no destructor runs on the old bytes).
///
/// # Safety
/// `ptr` is NULL or valid for writes of one `T`.
pub unsafe fn out<'a, T: Copy>(ptr: *mut T, name: &str) -> Result<&'a mut T> {
    ptr.as_mut().ok_or_else(|| null(name))
}

/// A struct the caller passed by pointer.
///
/// # Safety
/// `ptr` is NULL or valid for reads of one `T` (fully initialised).
pub unsafe fn input<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    ptr.as_ref().ok_or_else(|| null(name))
}

/// `len` elements at `ptr`. NULL with length 0 is the empty slice; NULL with a length is an
/// error, and so is a length whose bytes exceed `isize::MAX` (no buffer is that large).
///
/// # Safety
/// When `len > 0` and `ptr` is not NULL, `ptr` is valid for reads of `len` elements.
pub unsafe fn slice<'a, T>(ptr: *const T, len: usize, name: &str) -> Result<&'a [T]> {
    let max_len = isize::MAX as usize / std::mem::size_of::<T>().max(1);
    if len > max_len {
        return Err(Error::new(
            senate_code::InvalidArgument,
            format!("{name}: length {len} is larger than any buffer"),
        ));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(name));
    }
    if !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return Err(Error::new(senate_code::InvalidArgument, format!("{name} is not aligned")));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub unsafe fn string<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(null(name));
    }
    CStr::from_ptr(ptr)
        .to_str()
        .map_err(|e| Error::new(senate_code::InvalidArgument, format!("{name} is not UTF-8: {e}")))
}

/// `count` buffers, buffer `i` being `lens[i]` bytes at `pointers[i]`, copied.
///
/// # Safety
/// `pointers` and `lens` hold `count` elements each (or are NULL); `pointers[i]` holds
/// `lens[i]` bytes.
pub unsafe fn buffers(pointers: *const *const u8, lens: *const usize, count: usize, name: &str) -> Result<Vec<Bytes>> {
    let pointers = slice(pointers, count, name)?;
    let lens = slice(lens, count, "lens")?;
    let mut copied = Vec::with_capacity(count);
    for (i, (&ptr, &len)) in pointers.iter().zip(lens).enumerate() {
        copied.push(Bytes::copy_from_slice(slice(ptr, len, &format!("{name}[{i}]"))?));
    }
    Ok(copied)
}
