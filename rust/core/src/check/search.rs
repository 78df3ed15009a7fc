//! The Wing-Gong-Lowe search for a linearization of one part of a history.
//!
//! Depth first: walk the entry list from its head; at a call entry, try to linearize that
//! operation next (the model accepts its output, and the configuration it leads to is new);
//! on success lift it from the list and start again from the head; on failure try the next
//! entry. Reaching a return entry means its operation had to be linearized before anything
//! later and was not: undo the last choice and try the entry after it. The history is
//! linearizable when every operation with a known outcome is placed; indeterminate ones may
//! be placed (they took effect) or left out (they did not), which the unbounded return they
//! get in the list allows.
//!
//! Symmetry: indeterminate operations with equal inputs are interchangeable (nobody saw
//! their outputs, and each may take effect any time after its invocation), so the search
//! places them in invocation order only. A linearization that places a later one first (or
//! alone) becomes one that places the earlier one there by swapping the two: the earlier one
//! was invoked before that point too. Without this, `k` timed-out INCRs of one counter make
//! the memo tell apart every subset of them that took effect: `2^k` configurations where
//! `k + 1` say the same.

use super::entries::{EntryList, Interval, TAIL};
use super::history::{Operation, Outcome};
use super::linearized::Linearized;
use super::memo::Memo;
use super::model::Model;
use std::collections::HashMap;
use std::hash::Hash;

/// The search polls for cancellation once per this many steps.
const CANCEL_POLL_STEPS: u64 = 1024;

/// How the search of one part ended. Operations are named by their index in the part.
#[derive(Debug)]
pub(crate) enum SearchOutcome<S> {
    /// This order of operations is a linearization (indeterminate operations not in it did not
    /// take effect, or took effect unobserved).
    Linearizable { order: Vec<usize> },
    /// No linearization exists. `prefix` is the longest linearization of a part of the
    /// history the search found, which leaves the object in `state`; `blocked` is the
    /// operation that then had to be placed and could not be.
    Illegal { prefix: Vec<usize>, blocked: usize, state: S },
    /// The step budget ran out first.
    Unknown,
    /// The caller's `cancelled` said to stop.
    Cancelled,
}

/// What a search did: its outcome and the model steps it took, `<= max_steps`.
#[derive(Debug)]
pub(crate) struct Searched<S> {
    pub outcome: SearchOutcome<S>,
    pub steps: u64,
}

/// The longest prefix seen when backtracking, and what blocked it.
struct Longest<S> {
    prefix: Vec<usize>,
    blocked: usize,
    state: S,
}

/// Searches for a linearization of `ops` (one key's operations, none `Failed`) with at most
/// `max_steps` model steps, polling `cancelled` now and then.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    memo: &mut impl Memo<M::State>,
    max_steps: u64,
    cancelled: &dyn Fn() -> bool,
) -> Searched<M::State> {
    let intervals: Vec<Interval> = ops
        .iter()
        .map(|op| Interval {
            invoke_ns: op.invoke_ns,
            complete_ns: match op.outcome {
                Outcome::Ok(_) => op.complete_ns,
                Outcome::Failed | Outcome::Indeterminate => None,
            },
        })
        .collect();
    let output = |op: usize| match &ops[op].outcome {
        Outcome::Ok(output) => Some(output),
        Outcome::Failed | Outcome::Indeterminate => None,
    };
    let earlier_twin = earlier_twins(ops);
    let mut list = EntryList::new(&intervals);
    let mut linearized = Linearized::new(ops.len());
    let mut state = model.init();
    // The operations linearized, in order, each with its entry and the state before it.
    let mut calls: Vec<(u32, M::State)> = Vec::new();
    // Operations with a known outcome not yet linearized; the search succeeds at 0.
    let mut unplaced = (0..ops.len()).filter(|&op| output(op).is_some()).count();
    let mut longest: Option<Longest<M::State>> = None;
    let mut steps = 0u64;
    let mut entry = list.first();
    let outcome = loop {
        if unplaced == 0 {
            break SearchOutcome::Linearizable { order: calls.iter().map(|&(call, _)| list.op(call)).collect() };
        }
        // A known-outcome operation is unplaced, so its return lies ahead of every unbounded
        // one: the walk meets a return entry before it could reach the tail.
        debug_assert!(entry != TAIL, "the walk ran off the entry list");
        let op = list.op(entry);
        if list.is_call(entry) {
            if steps == max_steps {
                break SearchOutcome::Unknown;
            }
            steps += 1;
            if steps.is_multiple_of(CANCEL_POLL_STEPS) && cancelled() {
                break SearchOutcome::Cancelled;
            }
            if earlier_twin[op].is_some_and(|twin| !linearized.contains(twin)) {
                entry = list.next(entry); // the twin goes first (see the module docs)
                continue;
            }
            let Some(next) = model.step(&state, &ops[op].input, output(op)) else {
                entry = list.next(entry);
                continue;
            };
            linearized.insert(op);
            if memo.insert(&linearized, &next) {
                calls.push((entry, std::mem::replace(&mut state, next)));
                list.lift(entry);
                unplaced -= usize::from(output(op).is_some());
                entry = list.first();
            } else {
                linearized.remove(op);
                entry = list.next(entry);
            }
        } else {
            // `op` had to take effect by now and could not: backtrack.
            if longest.as_ref().is_none_or(|l| calls.len() > l.prefix.len()) {
                let prefix = calls.iter().map(|&(call, _)| list.op(call)).collect();
                longest = Some(Longest { prefix, blocked: op, state: state.clone() });
            }
            let Some((call, before)) = calls.pop() else {
                let l = longest.take().expect("recorded just above");
                break SearchOutcome::Illegal { prefix: l.prefix, blocked: l.blocked, state: l.state };
            };
            let undone = list.op(call);
            linearized.remove(undone);
            state = before;
            list.unlift(call);
            unplaced += usize::from(output(undone).is_some());
            entry = list.next(call);
        }
    };
    Searched { outcome, steps }
}

/// For each indeterminate operation, the indeterminate one with an equal input invoked last
/// before it (invocation time, then index), if any; `None` for the others.
fn earlier_twins<I: Eq + Hash, O>(ops: &[&Operation<I, O>]) -> Vec<Option<usize>> {
    let mut indeterminate: Vec<usize> =
        (0..ops.len()).filter(|&op| matches!(ops[op].outcome, Outcome::Indeterminate)).collect();
    indeterminate.sort_by_key(|&op| (ops[op].invoke_ns, op));
    let mut twins = vec![None; ops.len()];
    let mut last_with_input: HashMap<&I, usize> = HashMap::with_capacity(indeterminate.len());
    for op in indeterminate {
        twins[op] = last_with_input.insert(&ops[op].input, op);
    }
    twins
}
