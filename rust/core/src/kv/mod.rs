//! The core of a replicated, Redis-compatible (RESP2 and RESP3) key-value service.
//!
//! A [`RespSession`] turns a client's bytes into [`Group`]s: replies it can give at once, and
//! batches of commands ([`batch`] format) for the server to replicate through the log (writes)
//! or to run after a read barrier (reads). Every replica applies the same log batches to its
//! [`KvStore`] with [`apply_batch`], at the clock the proposer wrote into each batch, so all
//! replicas hold the same keys and expire the same ones at the same log positions. Each batch
//! also names its connection's protocol (RESP3 after `HELLO 3`), so that every replica encodes
//! the replies of a log batch as that client expects them.
//! [`encode_snapshot`] and [`decode_snapshot`] turn a whole store into bytes and back.
//! [`client_sessions`] make writes exactly once: a write wrapped in `SENATE.EXEC` with its
//! client's session and sequence number runs at most once, whatever the retries.
//! [`acl`] users (Redis 6 ACLs: AUTH, `+@read -@dangerous`, ...) decide what each session may
//! run; with none configured every connection is Redis's `nopass` default user.
//! [`transaction`]s (MULTI ... EXEC) run as one batch of their own.

pub mod acl;
pub mod acl_category;
mod acl_command;
pub mod acl_rules;
mod answer;
pub mod batch;
pub mod client_sessions;
pub mod command;
mod error;
mod exec;
mod exec_connection;
mod expiry;
pub mod glob;
mod hash_value;
mod hashes;
pub mod key_specs;
mod keyspace;
mod session;
mod snapshot;
mod store;
mod strings;
mod tombstones;
pub mod transaction;

pub use acl::{AclError, User, Users};
pub use answer::REDIS_COMPAT_VERSION;
pub use batch::{decode_batch, encode_batch, encode_batch_for, encode_transaction, BatchBuilder, BatchReader, Watch};
pub use client_sessions::{ClientSessions, Session, SessionLimits, Verdict};
pub use error::{KvError, Result};
pub use exec::{apply_batch, execute, execute_read, read_batch};
pub use hash_value::HashValue;
pub use session::{
    Group, RespSession, DEFAULT_MAX_BATCH_COMMANDS, GROUP_CLOSE, GROUP_EXEC_LOG, GROUP_EXEC_NODE, GROUP_EXEC_READ,
    GROUP_LOG, GROUP_NODE, GROUP_READ, GROUP_REPLY, GROUP_STALE_READ, GROUP_WATCH, MAX_BATCH_COMMANDS,
    MAX_WATCHED_KEYS, OOM_ERROR,
};
pub use snapshot::{decode_snapshot, encode_snapshot};
pub use store::{Data, KvStore, Retired, Value, WrongType, DEFAULT_MAX_KEYS_RESULT, MAX_EXPIRED_PER_BATCH};

/// Encodes one command as a RESP multibulk request (clients, tests).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let total: usize = args.iter().map(|a| a.as_ref().len() + 16).sum();
    let mut out = Vec::with_capacity(total + 16);
    crate::codec::resp::put_array_header(&mut out, args.len());
    for arg in args {
        crate::codec::resp::put_bulk(&mut out, arg.as_ref());
    }
    out
}
