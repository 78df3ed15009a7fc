//! # The linearizability checker
//!
//! Checks a recorded history of operations on a replicated object (what real clients invoked,
//! when, and what came back) against a sequential model, as Porcupine and Knossos do for
//! Jepsen and etcd's robustness tests. A history is *linearizable* when each operation can be
//! placed at one instant between its invocation and its completion so that the model, stepped
//! through them in that order, gives every client the output it saw.
//!
//! * **Parts.** Linearizability is local: the history is split by [`Operation::key`] and each
//!   key's sub-history is checked alone (Porcupine's P-compositionality), parts in parallel on
//!   scoped threads. This and the WAL's writer are the only places the core starts threads;
//!   they are joined before [`check`] returns.
//! * **Search.** Each part gets the Wing-Gong search as Lowe improved it: depth first over a
//!   linked list of call and return entries, with a memo of the configurations seen (the set of
//!   operations linearized, as a bitset with an incremental Zobrist hash, and the model state).
//! * **Outcomes.** An operation is `Ok` (took effect once in its interval, output known),
//!   `Failed` (known not to have taken effect: left out) or `Indeterminate` (a timeout or lost
//!   connection: it may have taken effect at any time after its invocation, or never; its
//!   output is unknown). An indeterminate operation gets an unbounded completion, so the search
//!   may place it anywhere after its invocation or leave it out.
//! * **Budget and verdict.** Each part may take [`CheckOptions::max_steps_per_part`] model
//!   steps. The [`Verdict`] is `Ok`, `Illegal` (the first illegal part in key order, with the
//!   longest linearizable prefix found and the operation that cannot be placed after it), or
//!   `Unknown` (some part ran out of budget, none is illegal). A budget in steps, not seconds,
//!   and a report that reads parts in key order make the verdict the same on every run,
//!   whatever the threads do.
//!
//! Models: [`KvRegister`] (GET, SET, INCRBY, APPEND, DEL, SET NX on one key) and [`Counter`].
//! [`Model`] says how to add one. [`check_records`] checks model-neutral [`Record`]s (what a
//! history file holds: `docs/check.md` documents the format) against a model named by
//! [`ModelKind`].

mod checker;
mod counter;
mod entries;
mod history;
mod kv_register;
mod linearized;
mod memo;
mod model;
mod model_kind;
mod options;
mod partition;
mod record;
mod search;
mod verdict;

pub use checker::{check, CheckError};
pub use counter::{Counter, CounterInput, CounterOutput};
pub use history::{validate, ClientId, HistoryError, OpId, Operation, Outcome};
pub use kv_register::{KvInput, KvOutput, KvRegister};
pub use model::{Model, ModelOperation};
pub use model_kind::{check_records, ModelKind};
pub use options::{
    CheckOptions, InvalidCheckOptions, DEFAULT_MAX_STEPS_PER_PART, MAX_CHECK_THREADS, MAX_STEPS_PER_PART,
};
pub use record::{decode_records, FieldProblem, RawValue, Record, RecordModel, RecordOutcome};
pub use verdict::{CheckResult, Illegal, Linearization, Verdict};
