//! A history: the operations clients invoked, each with its interval and what came back.

use thiserror::Error;

/// Names one operation; unique within a history.
pub type OpId = u64;
/// Names the client (a sequential process) that invoked an operation.
pub type ClientId = u64;

/// What a client learned of an operation it invoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    /// It took effect, once, somewhere in its interval, and returned this output.
    Ok(O),
    /// It is known not to have taken effect (refused before it could apply): the checker
    /// leaves it out.
    Failed,
    /// Nobody knows (a timeout, a lost connection): it may or may not have taken effect, at any
    /// time after its invocation (its completion is unbounded), and its output is unknown.
    Indeterminate,
}

/// One operation of a history on the object named `key`.
///
/// Intervals are closed: an operation completed at `t` is concurrent with one invoked at `t`
/// (a monotonic clock can give both the same reading).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    pub id: OpId,
    pub client_id: ClientId,
    /// The object the operation acts on; operations on different keys are independent.
    pub key: String,
    pub input: I,
    pub outcome: Outcome<O>,
    /// When the client invoked it, in nanoseconds of one clock shared by all clients.
    pub invoke_ns: u64,
    /// When the client learned its outcome: required for `Ok`; `invoke_ns <= complete_ns`.
    /// An indeterminate operation's is only shown (the client gave up then), never used.
    pub complete_ns: Option<u64>,
}

/// A history the checker cannot read: `index` is the operation's position (0-based) in the
/// sequence given, `field` names the offending field.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("operation {index}: `{field}`: {problem}")]
pub struct HistoryError {
    pub index: usize,
    pub field: &'static str,
    pub problem: String,
}

impl HistoryError {
    pub fn new(index: usize, field: &'static str, problem: impl Into<String>) -> HistoryError {
        HistoryError { index, field, problem: problem.into() }
    }
}

/// Checks what the search relies on: ids are unique, and a completed operation's interval is
/// well formed. Returns the first problem, in history order.
pub fn validate<I, O>(ops: &[Operation<I, O>]) -> Result<(), HistoryError> {
    let mut seen = std::collections::HashSet::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        if !seen.insert(op.id) {
            return Err(HistoryError::new(index, "id", format!("id {} is used twice", op.id)));
        }
        match (&op.outcome, op.complete_ns) {
            (Outcome::Ok(_), None) => {
                return Err(HistoryError::new(index, "complete_ns", "an ok operation needs its completion time"));
            }
            (_, Some(complete_ns)) if complete_ns < op.invoke_ns => {
                let problem = format!("{complete_ns} is before invoke_ns {}", op.invoke_ns);
                return Err(HistoryError::new(index, "complete_ns", problem));
            }
            _ => {}
        }
    }
    Ok(())
}
