//! The sequential specification the checker holds a history to.

use super::history::Operation;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of one object: its initial state and how each operation moves
/// it, given the output the client saw.
///
/// A history is linearizable when every operation can be placed at one instant inside its
/// interval so that stepping the model through them in that order accepts every output. The
/// checker splits a history by key and checks each key's operations alone against a fresh
/// [`Model::init`] (linearizability is local: Herlihy and Wing, 1990), so a model describes
/// one key's object, never the whole store.
///
/// # Adding a model
///
/// 1. Write a type implementing `Model` in its own file under `check/`: pick `State` small
///    (the search clones it at each step and keeps one copy per memoized configuration) and
///    make `step` pure: same state, input and output, same answer.
/// 2. To read it from history files and Python, implement [`crate::check::RecordModel`]
///    (decode a record's `kind`, `input` and `output`, naming the field that is wrong).
/// 3. Add a variant to [`crate::check::ModelKind`] with its name; `senate check`, the
///    `model` line of a history file and `senate.check` then accept it.
/// 4. Test it with a history it must accept and one it must refuse (see `tests/check.rs`).
pub trait Model: Sync {
    /// What the client asked for (the operation and its arguments). Equal inputs of two
    /// indeterminate operations make them interchangeable (see `search.rs`).
    type Input: Sync + Debug + Eq + Hash;
    /// What the client got back.
    type Output: Sync + Debug;
    /// The object's state. Equal states must behave the same from then on: the memo treats
    /// two configurations with equal linearized sets and equal states as one.
    type State: Clone + Eq + Hash + Send + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after applying `input` to `state`, if the object could have answered
    /// `output`; `None` if it could not. `output` is `None` for an indeterminate operation
    /// (nobody saw it), which should then be accepted in any state where it can apply.
    fn step(&self, state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Option<Self::State>;

    /// A short human-readable form of `state`, for reports.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// An operation of a history checked against the model `M`.
pub type ModelOperation<M> = Operation<<M as Model>::Input, <M as Model>::Output>;
