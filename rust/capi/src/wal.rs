//! `senate_wal`: the durable log (the core's segmented write-ahead log) a node persists its
//! Readies through, and that it starts from after a restart.

use crate::call::{call, input, out, string};
use crate::code::{senate_code, Error, Result};
use crate::handle::{self, opaque_handle};
use crate::ready::senate_ready;
use senate_core::{MemStorage, ProtocolId, RaftError, Recovered, Wal, WalOptions};
use std::ffi::c_char;
use std::path::Path;

/// The consensus protocol a log belongs to: its records are tagged with it, and a node of the
/// other protocol refuses it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_protocol {
    Raft = 0,
    Paxos = 1,
}

/// What a log handle holds: the open log, and what it recovered until a node takes it.
pub struct WalState {
    wal: Wal,
    /// `None` once a node started from it.
    recovered: Option<Recovered>,
    protocol: ProtocolId,
}

/// An open durable log: a directory of segment files, locked while open. Not thread-safe:
/// one thread at a time; it may move between threads (run its writes off an event loop: they
/// block on fsync).
#[allow(non_camel_case_types)]
pub struct senate_wal {
    _opaque: [u8; 0],
}

opaque_handle!(senate_wal, WalState, 7);

/// How a log writes. Fill it with `senate_wal_options_default`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_wal_options {
    /// Make every write durable before it returns (fdatasync). False only for benchmarks.
    pub fsync: bool,
    /// Allocate segment files ahead of their records (faster syncs where supported).
    pub preallocate: bool,
    /// Roll to a new segment file past this size (bytes).
    pub max_segment_bytes: u64,
    /// The largest record written or read (bytes).
    pub max_record_bytes: usize,
    /// A `senate_protocol` value: the protocol of the node that persists through this log.
    pub protocol: u32,
}

/// Fills `*options` with the defaults (durable writes, a Raft log). Thread-safe.
///
/// # Safety
/// `options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_wal_options_default(options: *mut senate_wal_options) -> senate_code {
    call(|| {
        let d = WalOptions::default();
        *out(options, "options")? = senate_wal_options {
            fsync: d.fsync,
            preallocate: d.preallocate,
            max_segment_bytes: d.max_segment_bytes,
            max_record_bytes: d.max_record_bytes,
            protocol: senate_protocol::Raft as u32,
        };
        Ok(())
    })
}

fn protocol_of(value: u32) -> Result<ProtocolId> {
    match value {
        0 => Ok(ProtocolId::Raft),
        1 => Ok(ProtocolId::Paxos),
        other => Err(Error::new(senate_code::InvalidArgument, format!("protocol {other} is not a senate_protocol"))),
    }
}

/// Opens (or creates) the log in the directory `path` and recovers what was durable; the
/// handle goes to `*wal` (free it with `senate_wal_free`, which closes the log). A node
/// starts from what it recovered with `senate_raft_node_new_from_wal` (or the Paxos one).
/// Blocks on the disk. Thread-safe.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `options` is NULL or valid for reads; `wal` is
/// NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_wal_open(
    path: *const c_char,
    options: *const senate_wal_options,
    wal: *mut *mut senate_wal,
) -> senate_code {
    call(|| {
        let wal = out(wal, "wal")?;
        let path = string(path, "path")?;
        let o = input(options, "options")?;
        let protocol = protocol_of(o.protocol)?;
        let options = WalOptions {
            fsync: o.fsync,
            preallocate: o.preallocate,
            max_segment_bytes: o.max_segment_bytes,
            max_record_bytes: o.max_record_bytes,
            protocol,
            ..WalOptions::default()
        };
        let (opened, recovered) = Wal::open(Path::new(path), options)?;
        *wal = handle::into_raw::<senate_wal>(WalState { wal: opened, recovered: Some(recovered), protocol });
        Ok(())
    })
}

/// Closes the log and frees its handle; NULL is a no-op. Free the nodes persisting through
/// it first, or stop using them.
///
/// # Safety
/// `wal` is NULL or a live log handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_wal_free(wal: *mut senate_wal) -> senate_code {
    call(|| handle::free(wal, "wal"))
}

/// Persists what a Ready asks to (its snapshot, entries and hard state) with one fsync when it
/// needs one; nothing when it asks for nothing. Call it for every Ready of a node started from
/// a log, in order, before sending its persisted messages and before `advance`. Blocks on
/// the disk.
///
/// # Safety
/// `wal` is NULL or a live log handle; `ready` is NULL or a live Ready handle.
#[no_mangle]
pub unsafe extern "C" fn senate_wal_write(wal: *mut senate_wal, ready: *const senate_ready) -> senate_code {
    call(|| {
        let state = handle::get_mut(wal, "wal")?;
        let Some(batch) = &handle::get(ready, "ready")?.persist else { return Ok(()) };
        state.wal.write_synced(batch.snapshot.as_ref(), &batch.entries, batch.hard_state, batch.must_sync)?;
        Ok(())
    })
}

/// What a log recovered, as the in-memory log of a node starting from it (taken once), and
/// the applied index raised to its snapshot's (the application restores from the snapshot).
///
/// # Safety
/// `wal` is NULL or a live log handle.
pub unsafe fn take_storage(
    wal: *mut senate_wal,
    protocol: ProtocolId,
    voters: &[u64],
    applied: &mut u64,
) -> Result<MemStorage> {
    let state = handle::get_mut(wal, "wal")?;
    if state.protocol != protocol {
        let problem = format!("this log is a {} log, the node speaks {protocol}", state.protocol);
        return Err(Error::new(senate_code::InvalidConfig, problem));
    }
    let Some(recovered) = state.recovered.take() else {
        return Err(Error::new(senate_code::InvalidArgument, "this log's recovered state was already given to a node"));
    };
    if let Some(snapshot) = &recovered.snapshot {
        *applied = (*applied).max(snapshot.meta.index);
    }
    MemStorage::recovered(voters.to_vec(), recovered.hard_state, recovered.snapshot, recovered.entries)
        .map_err(|e| RaftError::Storage(e).into())
}
