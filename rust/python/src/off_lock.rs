//! Large `bytes` built without holding the interpreter lock.
//!
//! `PyBytes::new` copies, and `PyBytes::new_with` zero-fills, with the lock held: for a
//! snapshot of hundreds of MB that is tens of milliseconds of page faults during which the
//! event loop thread cannot run, even when the copy is made in a worker thread.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A new `bytes` of `len` bytes, filled by `fill` with the interpreter lock released.
pub fn bytes_filled_off_lock<'py>(
    py: Python<'py>,
    len: usize,
    fill: impl FnOnce(&mut [u8]) + Send,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err(format!("{len} bytes do not fit a bytes object")))?;
    // SAFETY: a null source asks CPython for an uninitialised object of `size` bytes; it is
    // owned here and nobody else can see it until it is returned, so writing its buffer
    // without the lock is sound, and `fill` writes every byte before that.
    unsafe {
        let object = Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))?;
        let buffer = std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(object.as_ptr()).cast::<u8>(), len);
        py.detach(|| fill(buffer));
        Ok(object.cast_into_unchecked::<PyBytes>())
    }
}
