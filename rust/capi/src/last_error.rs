//! The message of the last failed call, kept per thread (as `errno`, but a string).

use std::cell::RefCell;
use std::ffi::{c_char, CString};

thread_local! {
    /// The message of the last call that failed on this thread; `None` until one fails.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Keeps `message` as this thread's last error. An interior NUL (a backend name may hold
/// one only if the caller passed it) is replaced so the C string stays whole.
pub fn set(message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = Some(message));
}

/// The message of the last call that failed on the calling thread, as a NUL-terminated UTF-8
/// string, or NULL when no call failed on this thread yet.
///
/// Successful calls leave it unchanged (as `errno`): read it right after the call that
/// returned an error. The string belongs to the library and stays valid until the next
/// failing call on the same thread; copy it to keep it. Thread-safe: each thread has its own.
#[no_mangle]
pub extern "C" fn senate_last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ref().map_or(std::ptr::null(), |message| message.as_ptr()))
}
