//! Opaque handles: what C holds is a pointer to a `Tagged` value, whose first word names its
//! kind, so a handle of another kind (or, on a best-effort basis, one already freed) is
//! refused with `SENATE_CODE_BAD_HANDLE` instead of being misread.
//!
//! The C side sees each kind as an incomplete struct type (`senate_raft_node`, ...): the
//! Rust marker types exist only to give the header those names.

use crate::code::{senate_code, Error, Result};

/// A live value of a handle kind. `repr(C)` puts `kind` at offset 0 for every `T`, so it can
/// be read through a pointer of any handle kind.
#[repr(C)]
struct Tagged<T> {
    /// `H::KIND` while live; `FREED` once freed.
    kind: u64,
    value: T,
}

/// The kind word of a freed handle.
const FREED: u64 = 0x5345_4e41_5445_0000; // "SENATE\0\0"

/// A handle type as C sees it: a marker type whose pointers point to `Tagged<Self::Inner>`.
pub trait Handle: Sized {
    type Inner;
    /// The kind word, unique per handle type, never `FREED`.
    const KIND: u64;
    /// The C type's name, for error messages.
    const NAME: &'static str;
}

/// Makes a marker type a handle kind. The marker itself is written out where it is declared,
/// as `pub struct name { _opaque: [u8; 0] }`: cbindgen does not expand macros, and a struct
/// without `repr(C)` becomes an incomplete type in the header.
macro_rules! opaque_handle {
    ($name:ident, $inner:ty, $kind:expr) => {
        impl $crate::handle::Handle for $name {
            type Inner = $inner;
            const KIND: u64 = 0x5345_4e41_5445_0000 | $kind;
            const NAME: &'static str = stringify!($name);
        }
    };
}
pub(crate) use opaque_handle;

/// Moves `value` to the heap and hands out its handle (to be freed by `free`).
pub fn into_raw<H: Handle>(value: H::Inner) -> *mut H {
    Box::into_raw(Box::new(Tagged { kind: H::KIND, value })).cast()
}

fn check<H: Handle>(ptr: *const H, name: &str) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::new(senate_code::NullArgument, format!("{name} is NULL")));
    }
    if !(ptr as usize).is_multiple_of(std::mem::align_of::<Tagged<u64>>()) {
        return Err(Error::new(senate_code::BadHandle, format!("{name} is not a {} (misaligned)", H::NAME)));
    }
    // SAFETY: the caller promises a pointer handed out by this library and not freed; every
    // handle starts with its kind word (`Tagged` is `repr(C)`).
    let kind = unsafe { *ptr.cast::<u64>() };
    if kind == H::KIND {
        Ok(())
    } else if kind == FREED {
        Err(Error::new(senate_code::BadHandle, format!("{name} was freed already")))
    } else {
        Err(Error::new(senate_code::BadHandle, format!("{name} is not a {}", H::NAME)))
    }
}

/// The value behind a handle, for reading.
///
/// # Safety
/// `ptr` is NULL or a handle this library handed out and did not free (of any kind).
pub unsafe fn get<'a, H: Handle>(ptr: *const H, name: &str) -> Result<&'a H::Inner> {
    check(ptr, name)?;
    Ok(&(*ptr.cast::<Tagged<H::Inner>>()).value)
}

/// The value behind a handle, for changing.
///
/// # Safety
/// As `get`, and no other reference to the value is alive (one thread at a time).
pub unsafe fn get_mut<'a, H: Handle>(ptr: *mut H, name: &str) -> Result<&'a mut H::Inner> {
    check(ptr, name)?;
    Ok(&mut (*ptr.cast::<Tagged<H::Inner>>()).value)
}

/// Frees a handle; NULL is a no-op (as `free(NULL)`).
///
/// # Safety
/// As `get_mut`; the handle is not used again.
pub unsafe fn free<H: Handle>(ptr: *mut H, name: &str) -> Result<()> {
    if ptr.is_null() {
        return Ok(());
    }
    check(ptr, name)?;
    let tagged = ptr.cast::<Tagged<H::Inner>>();
    // Marks it freed first: a second free of memory not yet reused is then refused.
    (*tagged).kind = FREED;
    drop(Box::from_raw(tagged));
    Ok(())
}
