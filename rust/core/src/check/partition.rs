//! P-compositionality: a history is linearizable iff the sub-history of each key is (Herlihy
//! and Wing's locality), so each key's operations are checked alone, and in parallel.

use super::history::{Operation, Outcome};
use std::collections::BTreeMap;

/// One key's operations, in history order, without the failed ones (known not applied).
pub(crate) struct Part<'a, I, O> {
    pub key: &'a str,
    pub ops: Vec<&'a Operation<I, O>>,
}

/// The parts of `ops`, in key order (bytewise). A key whose operations all failed still has a
/// part (an empty one).
pub(crate) fn by_key<I, O>(ops: &[Operation<I, O>]) -> Vec<Part<'_, I, O>> {
    let mut parts: BTreeMap<&str, Vec<&Operation<I, O>>> = BTreeMap::new();
    for op in ops {
        let part = parts.entry(op.key.as_str()).or_default();
        if !matches!(op.outcome, Outcome::Failed) {
            part.push(op);
        }
    }
    parts.into_iter().map(|(key, ops)| Part { key, ops }).collect()
}
