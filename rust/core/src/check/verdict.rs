//! What a check concludes.

use super::history::OpId;

/// The answer for a whole history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every part is linearizable.
    Ok,
    /// A part is not: the first such part in key order.
    Illegal(Illegal),
    /// No part is illegal, but the search of these parts (in key order) ran out of budget.
    Unknown { keys: Vec<String> },
}

/// Why a part is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Illegal {
    /// The part's key.
    pub key: String,
    /// The longest linearization of some of the part's operations the search found, in order.
    pub prefix: Vec<OpId>,
    /// The operation that then had to take effect and could not, whatever came next.
    pub blocked: OpId,
    /// The object's state after `prefix`, described by the model.
    pub state: String,
}

/// A linearization of one part: its operations in the order they took effect. Indeterminate
/// operations left out did not take effect (or took effect without anyone seeing it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linearization {
    pub key: String,
    pub order: Vec<OpId>,
}

/// A check's verdict, with what supports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub verdict: Verdict,
    /// The linearizations found, in key order: of every part when the verdict is `Ok`, of the
    /// parts before the illegal one when it is `Illegal`, of the parts not unknown otherwise.
    pub linearizations: Vec<Linearization>,
    /// Parts (keys) in the history.
    pub parts: usize,
    /// Model steps taken by the parts the verdict rests on (those `linearizations` covers, and
    /// the illegal or unknown ones): the same on every run.
    pub steps: u64,
}

impl CheckResult {
    pub fn is_ok(&self) -> bool {
        self.verdict == Verdict::Ok
    }
}
