//! The checker: split a history by key, search each part (in parallel), and conclude
//! deterministically whatever the threads did.

use super::history::{validate, HistoryError, Operation};
use super::memo::{Forgetful, SeenConfigurations};
use super::model::Model;
use super::options::{CheckOptions, InvalidCheckOptions};
use super::partition::{by_key, Part};
use super::search::{search, SearchOutcome, Searched};
use super::verdict::{CheckResult, Illegal, Linearization, Verdict};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a check could not run.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Options(#[from] InvalidCheckOptions),
}

/// Checks that `ops` is linearizable with respect to `model`, one part per key.
///
/// The answer depends only on `ops`, `model` and `options.max_steps_per_part`: not on the
/// number of threads or their timing. Parts are searched by up to `options.threads` scoped
/// threads (joined before this returns); once a part is found illegal, parts after it in key
/// order are abandoned, since the first illegal part in key order is the one reported.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    options: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    options.validate()?;
    validate(ops)?;
    let parts = by_key(ops);
    let searched = search_parts(model, &parts, options);
    Ok(conclude(model, &parts, searched))
}

/// One part's search, with the memo the options ask for.
fn search_part<M: Model>(
    model: &M,
    part: &Part<'_, M::Input, M::Output>,
    options: &CheckOptions,
    cancelled: &dyn Fn() -> bool,
) -> Searched<M::State> {
    let max_steps = options.max_steps_per_part;
    if options.memoize {
        let mut memo = SeenConfigurations::new(part.ops.len());
        search(model, &part.ops, &mut memo, max_steps, cancelled)
    } else {
        search(model, &part.ops, &mut Forgetful, max_steps, cancelled)
    }
}

/// The search of each part, by part index; `None` for parts abandoned after an illegal one.
fn search_parts<M: Model>(
    model: &M,
    parts: &[Part<'_, M::Input, M::Output>],
    options: &CheckOptions,
) -> Vec<Option<Searched<M::State>>> {
    // Largest parts first, so one long search does not start last; ties in key order.
    let mut queue: Vec<usize> = (0..parts.len()).collect();
    queue.sort_by_key(|&i| std::cmp::Reverse(parts[i].ops.len()));
    let next_in_queue = AtomicUsize::new(0);
    // The lowest index of a part found illegal so far (only ever decreases).
    let first_illegal = AtomicUsize::new(usize::MAX);
    let work = || {
        let mut done = Vec::new();
        loop {
            let Some(&index) = queue.get(next_in_queue.fetch_add(1, Ordering::Relaxed)) else {
                return done;
            };
            if index > first_illegal.load(Ordering::Relaxed) {
                continue;
            }
            let cancelled = || index > first_illegal.load(Ordering::Relaxed);
            let searched = search_part(model, &parts[index], options, &cancelled);
            if matches!(searched.outcome, SearchOutcome::Illegal { .. }) {
                first_illegal.fetch_min(index, Ordering::Relaxed);
            }
            done.push((index, searched));
        }
    };
    let threads = options.threads_for(parts.len());
    let done: Vec<(usize, Searched<M::State>)> = if threads == 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    };
    let mut by_index: Vec<Option<Searched<M::State>>> = (0..parts.len()).map(|_| None).collect();
    for (index, searched) in done {
        by_index[index] = Some(searched);
    }
    by_index
}

/// The verdict from the parts' searches, read in key order. Every part before the first
/// illegal one ran to its end (nothing cancels it), so what is read is the same on every run.
fn conclude<M: Model>(
    model: &M,
    parts: &[Part<'_, M::Input, M::Output>],
    searched: Vec<Option<Searched<M::State>>>,
) -> CheckResult {
    let mut linearizations = Vec::new();
    let mut unknown = Vec::new();
    let mut steps = 0;
    for (part, searched) in parts.iter().zip(searched) {
        let searched = searched.expect("every part before the first illegal one is searched");
        steps += searched.steps;
        let id = |op: usize| part.ops[op].id;
        match searched.outcome {
            SearchOutcome::Linearizable { order } => {
                linearizations
                    .push(Linearization { key: part.key.to_string(), order: order.into_iter().map(id).collect() });
            }
            SearchOutcome::Unknown => unknown.push(part.key.to_string()),
            SearchOutcome::Illegal { prefix, blocked, state } => {
                let illegal = Illegal {
                    key: part.key.to_string(),
                    prefix: prefix.into_iter().map(id).collect(),
                    blocked: id(blocked),
                    state: model.describe_state(&state),
                };
                return CheckResult { verdict: Verdict::Illegal(illegal), linearizations, parts: parts.len(), steps };
            }
            SearchOutcome::Cancelled => unreachable!("only parts after an illegal one are cancelled"),
        }
    }
    let verdict = if unknown.is_empty() { Verdict::Ok } else { Verdict::Unknown { keys: unknown } };
    CheckResult { verdict, linearizations, parts: parts.len(), steps }
}
