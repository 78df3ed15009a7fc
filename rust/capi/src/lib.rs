//! # senate-capi
//!
//! The C ABI of senate's core: `include/senate.h` (generated from this crate by cbindgen)
//! and `libsenate_capi.so` / `libsenate_capi.a`. A thin layer like the Python binding
//! (`rust/python`): every function forwards to `senate-core`; no protocol logic lives here.
//!
//! ## Conventions (as hyper's, rure's and wasmtime's C APIs)
//!
//! * **Handles** are opaque pointers made by `senate_X_new` and freed by `senate_X_free`
//!   (NULL frees nothing). Each handle starts with a word naming its kind, so a handle of
//!   another kind gives `SENATE_CODE_BAD_HANDLE`; a freed one does too on a best-effort
//!   basis, but using a freed handle is undefined behaviour, as in any C API.
//! * **Every function returns a `senate_code`**; results go to out-parameters. On an error,
//!   `senate_last_error_message()` returns its message, kept per thread.
//! * **No panic crosses the boundary**: each entry point runs inside [`call::call`], which
//!   catches a panic and returns `SENATE_CODE_PANIC`.
//! * **NULL and bad lengths are errors**, not crashes: a NULL handle or out-parameter gives
//!   `SENATE_CODE_NULL_ARGUMENT`; a NULL buffer with a nonzero length too; a length above
//!   `PTRDIFF_MAX` or an index past the end gives `SENATE_CODE_INVALID_ARGUMENT`. A length
//!   larger than the buffer it describes cannot be detected (undefined behaviour).
//! * **Ownership** is written next to each function: buffers handed out are either borrowed
//!   from a handle (valid until that handle changes or is freed, as each function says) or
//!   owned by the caller as a `senate_bytes` (freed by `senate_bytes_free`).
//! * **Threads**: functions that make no handle use (`*_default`, `*_new`, `senate_wal_open`,
//!   `senate_check_history`, `senate_last_error_message`, `senate_version`,
//!   `senate_encode_snapshot_envelope`) are thread-safe. A handle is not synchronised: use it
//!   from one thread at a time (it may move between threads); distinct handles are
//!   independent. A Ready or a check's report (immutable once handed out) may be read from
//!   several threads at once.

mod balancer;
mod bytes;
mod call;
mod check;
mod code;
mod detect;
mod handle;
mod last_error;
mod paxos_node;
mod raft_node;
mod ready;
mod status;
mod wal;

pub use balancer::*;
pub use bytes::*;
pub use check::*;
pub use code::senate_code;
pub use detect::*;
pub use last_error::senate_last_error_message;
pub use paxos_node::*;
pub use raft_node::*;
pub use ready::*;
pub use status::*;
pub use wal::*;

use std::ffi::c_char;

/// The version of the library (the Cargo workspace's), a static NUL-terminated string.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn senate_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

// Handles may move between threads: what they hold must be `Send`; the immutable ones may be
// read from several threads at once: `Sync`.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    sync::<senate_core::EncodedReady>();
    sync::<check::Report>();
    send::<senate_core::MemNode>();
    send::<senate_core::paxos::PaxosNode>();
    send::<senate_core::EncodedReady>();
    send::<senate_core::PhiAccrualDetector>();
    send::<senate_core::HeartbeatDetector>();
    send::<balancer::BalancerState>();
    send::<wal::WalState>();
    send::<check::Report>();
};
