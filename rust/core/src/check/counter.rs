//! A counter: one integer that clients add to and read.

use super::model::Model;
use super::record::{FieldProblem, RawValue, RecordModel};

/// An operation on the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterInput {
    /// Adds the amount (wrapping at the ends of `i64`); returns nothing.
    Add(i64),
    /// Returns the count.
    Read,
}

/// What a counter operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterOutput {
    Done,
    Value(i64),
}

/// The counter model; its state is the count, from 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter;

impl Model for Counter {
    type Input = CounterInput;
    type Output = CounterOutput;
    type State = i64;

    fn init(&self) -> i64 {
        0
    }

    fn step(&self, state: &i64, input: &CounterInput, output: Option<&CounterOutput>) -> Option<i64> {
        match (input, output) {
            (CounterInput::Add(n), _) => Some(state.wrapping_add(*n)),
            (CounterInput::Read, Some(CounterOutput::Value(seen))) if seen != state => None,
            (CounterInput::Read, _) => Some(*state),
        }
    }

    fn describe_state(&self, state: &i64) -> String {
        state.to_string()
    }
}

impl RecordModel for Counter {
    const KINDS: &'static [&'static str] = &["add", "read"];

    fn decode_input(&self, kind: &str, input: &RawValue) -> Result<CounterInput, FieldProblem> {
        match (kind, input) {
            ("add", RawValue::Int(n)) => Ok(CounterInput::Add(*n)),
            ("add", other) => Err(FieldProblem::expected("input", "an integer", other)),
            ("read", RawValue::Null) => Ok(CounterInput::Read),
            ("read", other) => Err(FieldProblem::expected("input", "null", other)),
            (other, _) => Err(FieldProblem::new("kind", format!("unknown kind {other:?}"))),
        }
    }

    fn decode_output(&self, input: &CounterInput, output: &RawValue) -> Result<CounterOutput, FieldProblem> {
        match (input, output) {
            (CounterInput::Add(_), RawValue::Null) => Ok(CounterOutput::Done),
            (CounterInput::Add(_), other) => Err(FieldProblem::expected("output", "null", other)),
            (CounterInput::Read, RawValue::Int(n)) => Ok(CounterOutput::Value(*n)),
            (CounterInput::Read, other) => Err(FieldProblem::expected("output", "an integer", other)),
        }
    }
}
