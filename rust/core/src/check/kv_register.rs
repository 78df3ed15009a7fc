//! The key-value register: one key of senate's store (or Redis), with GET, SET, INCRBY,
//! APPEND, DEL and SET NX.

use super::model::Model;
use super::record::{FieldProblem, RawValue, RecordModel};
use crate::codec::resp::parse_i64;
use bytes::{Bytes, BytesMut};

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// GET: returns the value, or nil.
    Get,
    /// SET: stores the value, returns OK.
    Set(Bytes),
    /// INCRBY (INCR is 1, DECR is -1): returns the new value, or an error if the stored value
    /// is not a decimal integer or the sum overflows `i64` (the value is then unchanged).
    Incr(i64),
    /// APPEND (to nil appends to the empty string): returns the new length in bytes.
    Append(Bytes),
    /// DEL: returns the number of keys removed (0 or 1).
    Delete,
    /// SET NX: stores the value only if the key has none; returns whether it stored it.
    SetIfAbsent(Bytes),
}

/// What an operation on one key returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// GET's value (`None`: nil).
    Value(Option<Bytes>),
    /// SET's OK.
    Done,
    /// INCRBY's new value, APPEND's new length, DEL's count.
    Int(i64),
    /// SET NX: whether it stored the value.
    Stored(bool),
    /// An error reply (INCRBY of a value that is not an integer, or overflow).
    Error,
}

/// The register model; its state is the key's value (`None`: absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvRegister;

/// Bytes of a value `describe_state` shows before it elides the rest.
const DESCRIBED_VALUE_BYTES: usize = 48;

impl KvRegister {
    /// What `input` does to `state`: the new state and the output the store gives.
    fn apply(state: &Option<Bytes>, input: &KvInput) -> (Option<Bytes>, KvOutput) {
        match input {
            KvInput::Get => (state.clone(), KvOutput::Value(state.clone())),
            KvInput::Set(value) => (Some(value.clone()), KvOutput::Done),
            KvInput::Incr(by) => {
                let current = match state {
                    None => Some(0),
                    Some(value) => parse_i64(value),
                };
                match current.and_then(|n| n.checked_add(*by)) {
                    Some(new) => (Some(Bytes::from(new.to_string())), KvOutput::Int(new)),
                    None => (state.clone(), KvOutput::Error),
                }
            }
            KvInput::Append(suffix) => {
                let mut value = BytesMut::from(state.as_deref().unwrap_or_default());
                value.extend_from_slice(suffix);
                let len = value.len() as i64;
                (Some(value.freeze()), KvOutput::Int(len))
            }
            KvInput::Delete => (None, KvOutput::Int(i64::from(state.is_some()))),
            KvInput::SetIfAbsent(value) => match state {
                None => (Some(value.clone()), KvOutput::Stored(true)),
                Some(_) => (state.clone(), KvOutput::Stored(false)),
            },
        }
    }
}

impl Model for KvRegister {
    type Input = KvInput;
    type Output = KvOutput;
    type State = Option<Bytes>;

    fn init(&self) -> Option<Bytes> {
        None
    }

    fn step(&self, state: &Option<Bytes>, input: &KvInput, output: Option<&KvOutput>) -> Option<Option<Bytes>> {
        let (next, expected) = KvRegister::apply(state, input);
        match output {
            Some(seen) if *seen != expected => None,
            _ => Some(next),
        }
    }

    fn describe_state(&self, state: &Option<Bytes>) -> String {
        match state {
            None => "nil".to_string(),
            Some(value) if value.len() > DESCRIBED_VALUE_BYTES => {
                let head = String::from_utf8_lossy(&value[..DESCRIBED_VALUE_BYTES]);
                format!("{head:?}... ({} bytes)", value.len())
            }
            Some(value) => format!("{:?}", String::from_utf8_lossy(value)),
        }
    }
}

fn string(field: &'static str, value: &RawValue) -> Result<Bytes, FieldProblem> {
    match value {
        RawValue::Str(bytes) => Ok(bytes.clone()),
        other => Err(FieldProblem::expected(field, "a string", other)),
    }
}

fn integer(field: &'static str, value: &RawValue) -> Result<i64, FieldProblem> {
    match value {
        RawValue::Int(n) => Ok(*n),
        other => Err(FieldProblem::expected(field, "an integer", other)),
    }
}

fn null(field: &'static str, value: &RawValue) -> Result<(), FieldProblem> {
    match value {
        RawValue::Null => Ok(()),
        other => Err(FieldProblem::expected(field, "null", other)),
    }
}

impl RecordModel for KvRegister {
    const KINDS: &'static [&'static str] = &["get", "set", "incr", "append", "delete", "set_if_absent"];

    fn decode_input(&self, kind: &str, input: &RawValue) -> Result<KvInput, FieldProblem> {
        Ok(match kind {
            "get" => null("input", input).map(|()| KvInput::Get)?,
            "set" => KvInput::Set(string("input", input)?),
            "incr" => KvInput::Incr(integer("input", input)?),
            "append" => KvInput::Append(string("input", input)?),
            "delete" => null("input", input).map(|()| KvInput::Delete)?,
            "set_if_absent" => KvInput::SetIfAbsent(string("input", input)?),
            other => return Err(FieldProblem::new("kind", format!("unknown kind {other:?}"))),
        })
    }

    fn decode_output(&self, input: &KvInput, output: &RawValue) -> Result<KvOutput, FieldProblem> {
        Ok(match (input, output) {
            (KvInput::Get, RawValue::Null) => KvOutput::Value(None),
            (KvInput::Get, RawValue::Str(value)) => KvOutput::Value(Some(value.clone())),
            (KvInput::Get, other) => return Err(FieldProblem::expected("output", "a string or null", other)),
            (KvInput::Set(_), other) => null("output", other).map(|()| KvOutput::Done)?,
            (KvInput::Incr(_), RawValue::Error(_)) => KvOutput::Error,
            (KvInput::Incr(_), other) => KvOutput::Int(
                integer("output", other)
                    .map_err(|_| FieldProblem::expected("output", "an integer or an error", other))?,
            ),
            (KvInput::Append(_), other) => KvOutput::Int(integer("output", other)?),
            (KvInput::Delete, RawValue::Int(n @ (0 | 1))) => KvOutput::Int(*n),
            (KvInput::Delete, other) => return Err(FieldProblem::expected("output", "0 or 1", other)),
            (KvInput::SetIfAbsent(_), RawValue::Bool(stored)) => KvOutput::Stored(*stored),
            (KvInput::SetIfAbsent(_), other) => return Err(FieldProblem::expected("output", "a boolean", other)),
        })
    }
}
