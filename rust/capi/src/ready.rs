//! `senate_ready`: the work a node hands its caller after some input, read part by part.
//!
//! A Ready owns its data: the buffers its accessors hand out (frames, entry data, snapshot
//! data) are borrowed from it and stay valid until `senate_ready_free`, even after the node is
//! freed. Reading a Ready changes nothing, so the accessors take a `const` handle.

use crate::call::{call, out};
use crate::code::{senate_code, Error, Result};
use crate::handle::{self, opaque_handle};
use crate::status::senate_role;
use senate_core::{EncodedReady, EntryKind, NO_NODE};

/// One Ready of a node (the core's `EncodedReady`). Immutable once handed out: reading it
/// from several threads at once is safe; freeing it is not concurrent with reading.
#[allow(non_camel_case_types)]
pub struct senate_ready {
    _opaque: [u8; 0],
}

opaque_handle!(senate_ready, EncodedReady, 2);

/// What a Ready holds, in one call: the fixed-size parts and the number of each listed part.
/// Indexes are > 0; 0 means "none".
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_ready_info {
    /// True when the role or the leader changed since the last Ready; only then are `role`
    /// and `leader` set.
    pub soft_state_changed: bool,
    pub role: senate_role,
    /// The known leader, or 0.
    pub leader: u64,
    /// True when the term, vote or commit index changed; only then are they set.
    pub hard_state_changed: bool,
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
    /// True when the Ready carries a snapshot to restore the application from
    /// (`senate_ready_snapshot`).
    pub has_snapshot: bool,
    /// True when the Ready carries entries, a hard state or a snapshot to make durable.
    pub must_persist: bool,
    /// True when persisting it needs an fsync (entries, a snapshot, a new term or vote).
    pub must_sync: bool,
    /// The index of the first entry to persist, or 0 when it carries none.
    pub first_persist_index: u64,
    /// Messages that may be sent at once: one buffer of frames per destination.
    pub message_count: usize,
    /// Messages to send only once this Ready is durable (0 over an in-memory log).
    pub persisted_message_count: usize,
    /// Committed entries to apply, in index order.
    pub committed_count: usize,
    /// The index of the last committed entry, or 0 when there is none.
    pub committed_index: u64,
    /// Confirmed reads (`senate_ready_read_state`).
    pub read_state_count: usize,
}

/// A committed entry; `data` is borrowed from the Ready.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_entry {
    pub index: u64,
    pub term: u64,
    /// The entry's bytes (NULL when `len` is 0); valid until the Ready is freed.
    pub data: *const u8,
    pub len: usize,
    /// The empty entry a new leader appends at the start of its term: apply it as nothing,
    /// but count its index as applied.
    pub is_noop: bool,
}

/// Hands a Ready out as a handle (NULL when there is none).
pub fn hand_out(ready: Option<EncodedReady>, out_ready: &mut *mut senate_ready) {
    *out_ready = ready.map_or(std::ptr::null_mut(), handle::into_raw::<senate_ready>);
}

/// Frees a Ready; NULL is a no-op. Every buffer borrowed from it becomes invalid.
///
/// # Safety
/// `ready` is NULL or a live Ready handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_free(ready: *mut senate_ready) -> senate_code {
    call(|| handle::free(ready, "ready"))
}

/// Fills `*info` with what the Ready holds.
///
/// # Safety
/// `ready` is NULL or a live Ready handle; `info` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_get_info(
    ready: *const senate_ready,
    info: *mut senate_ready_info,
) -> senate_code {
    call(|| {
        let info = out(info, "info")?;
        let ready = handle::get(ready, "ready")?;
        let soft = ready.soft_state;
        let hard = ready.hard_state;
        *info = senate_ready_info {
            soft_state_changed: soft.is_some(),
            role: soft.map_or(senate_role::Follower, |s| senate_role::from_core(s.role)),
            leader: soft.map_or(NO_NODE, |s| s.leader),
            hard_state_changed: hard.is_some(),
            term: hard.map_or(0, |h| h.term),
            vote: hard.map_or(0, |h| h.vote),
            commit: hard.map_or(0, |h| h.commit),
            has_snapshot: ready.snapshot.is_some(),
            must_persist: ready.persist.is_some(),
            must_sync: ready.persist.as_ref().is_some_and(|batch| batch.must_sync),
            first_persist_index: ready.persist.as_ref().and_then(|b| b.entries.first()).map_or(0, |e| e.index),
            message_count: ready.messages.len(),
            persisted_message_count: ready.persisted_messages.len(),
            committed_count: ready.committed_entries.len(),
            committed_index: ready.committed_entries.last().map_or(0, |e| e.index),
            read_state_count: ready.read_states.len(),
        };
        Ok(())
    })
}

fn at<'a, T>(items: &'a [T], index: usize, what: &str) -> Result<&'a T> {
    items.get(index).ok_or_else(|| {
        Error::new(senate_code::InvalidArgument, format!("{what} {index} is past the end (there are {})", items.len()))
    })
}

unsafe fn frames_at(
    messages: &[(u64, Vec<u8>)],
    index: usize,
    what: &str,
    to: *mut u64,
    frames: *mut *const u8,
    len: *mut usize,
) -> Result<()> {
    let (to, frames, len) = (out(to, "to")?, out(frames, "frames")?, out(len, "len")?);
    let (destination, buf) = at(messages, index, what)?;
    *to = *destination;
    *frames = buf.as_ptr();
    *len = buf.len();
    Ok(())
}

/// Message `index` of those that may be sent at once: `*to` gets its destination, `*frames`
/// and `*len` its frames (borrowed from the Ready), to hand to the destination's
/// `senate_raft_node_step`. `index` is below `message_count`.
///
/// # Safety
/// `ready` is NULL or a live Ready handle; the out-pointers are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_message(
    ready: *const senate_ready,
    index: usize,
    to: *mut u64,
    frames: *mut *const u8,
    len: *mut usize,
) -> senate_code {
    call(|| frames_at(&handle::get(ready, "ready")?.messages, index, "message", to, frames, len))
}

/// As `senate_ready_message`, for the messages to send once the Ready is durable.
///
/// # Safety
/// As `senate_ready_message`.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_persisted_message(
    ready: *const senate_ready,
    index: usize,
    to: *mut u64,
    frames: *mut *const u8,
    len: *mut usize,
) -> senate_code {
    call(|| frames_at(&handle::get(ready, "ready")?.persisted_messages, index, "persisted message", to, frames, len))
}

/// Committed entry `index` (below `committed_count`), in index order; its data is borrowed
/// from the Ready.
///
/// # Safety
/// `ready` is NULL or a live Ready handle; `entry` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_committed(
    ready: *const senate_ready,
    index: usize,
    entry: *mut senate_entry,
) -> senate_code {
    call(|| {
        let entry = out(entry, "entry")?;
        let committed = at(&handle::get(ready, "ready")?.committed_entries, index, "committed entry")?;
        *entry = senate_entry {
            index: committed.index,
            term: committed.term,
            data: if committed.data.is_empty() { std::ptr::null() } else { committed.data.as_ptr() },
            len: committed.data.len(),
            is_noop: committed.kind == EntryKind::NoOp,
        };
        Ok(())
    })
}

/// Confirmed read `index` (below `read_state_count`): serve the read `*request_id` once the
/// applied index reaches `*read_index`.
///
/// # Safety
/// `ready` is NULL or a live Ready handle; the out-pointers are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_read_state(
    ready: *const senate_ready,
    index: usize,
    request_id: *mut u64,
    read_index: *mut u64,
) -> senate_code {
    call(|| {
        let (request_id, read_index) = (out(request_id, "request_id")?, out(read_index, "read_index")?);
        let read = at(&handle::get(ready, "ready")?.read_states, index, "read state")?;
        *request_id = read.request_id;
        *read_index = read.index;
        Ok(())
    })
}

/// The snapshot to restore the application from (when `has_snapshot`): its index, term and
/// data (borrowed from the Ready). `SENATE_CODE_INVALID_ARGUMENT` when there is none.
///
/// # Safety
/// `ready` is NULL or a live Ready handle; the out-pointers are NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_ready_snapshot(
    ready: *const senate_ready,
    index: *mut u64,
    term: *mut u64,
    data: *mut *const u8,
    len: *mut usize,
) -> senate_code {
    call(|| {
        let (index, term, data, len) = (out(index, "index")?, out(term, "term")?, out(data, "data")?, out(len, "len")?);
        let Some(snapshot) = &handle::get(ready, "ready")?.snapshot else {
            return Err(Error::new(senate_code::InvalidArgument, "this Ready carries no snapshot"));
        };
        *index = snapshot.meta.index;
        *term = snapshot.meta.term;
        *data = snapshot.data.as_ptr();
        *len = snapshot.data.len();
        Ok(())
    })
}
