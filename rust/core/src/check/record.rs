//! Model-neutral operation records, as a history file or Python hands them over, and their
//! decoding into a model's typed operations.

use super::history::{ClientId, HistoryError, OpId, Operation, Outcome};
use super::model::{Model, ModelOperation};
use bytes::Bytes;

/// A JSON-like value of a record's `input` or `output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    Str(Bytes),
    /// An error reply (`{"error": "..."}` in a history file), with its text.
    Error(String),
}

impl RawValue {
    /// What kind of value this is, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            RawValue::Null => "null",
            RawValue::Bool(_) => "a boolean",
            RawValue::Int(_) => "an integer",
            RawValue::Str(_) => "a string",
            RawValue::Error(_) => "an error",
        }
    }
}

/// How a record says its outcome: `ok`, `failed` or `indeterminate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Ok,
    Failed,
    Indeterminate,
}

impl RecordOutcome {
    pub const NAMES: [&'static str; 3] = ["ok", "failed", "indeterminate"];

    pub fn from_name(name: &str) -> Option<RecordOutcome> {
        match name {
            "ok" => Some(RecordOutcome::Ok),
            "failed" => Some(RecordOutcome::Failed),
            "indeterminate" => Some(RecordOutcome::Indeterminate),
            _ => None,
        }
    }
}

/// One operation as recorded, before a model gives `kind`, `input` and `output` a meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: OpId,
    pub client_id: ClientId,
    pub key: String,
    pub kind: String,
    pub input: RawValue,
    /// Read only for an `ok` outcome.
    pub output: RawValue,
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
    pub outcome: RecordOutcome,
}

/// Which field of a record is wrong, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub problem: String,
}

impl FieldProblem {
    pub fn new(field: &'static str, problem: impl Into<String>) -> FieldProblem {
        FieldProblem { field, problem: problem.into() }
    }

    /// `field` should have held `expected` but held `got`.
    pub fn expected(field: &'static str, expected: &str, got: &RawValue) -> FieldProblem {
        FieldProblem::new(field, format!("expected {expected}, got {}", got.type_name()))
    }
}

/// A model whose operations can be read from records.
pub trait RecordModel: Model {
    /// The `kind` names this model knows, for error messages and docs.
    const KINDS: &'static [&'static str];

    /// The input of an operation of `kind` with the record's `input`.
    fn decode_input(&self, kind: &str, input: &RawValue) -> Result<Self::Input, FieldProblem>;

    /// The output of a completed operation with `input`, from the record's `output`.
    fn decode_output(&self, input: &Self::Input, output: &RawValue) -> Result<Self::Output, FieldProblem>;
}

/// The model's operations for `records`, in the same order; the first bad record is an error
/// naming its position and field.
pub fn decode_records<M: RecordModel>(model: &M, records: &[Record]) -> Result<Vec<ModelOperation<M>>, HistoryError> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let at = |p: FieldProblem| HistoryError::new(index, p.field, p.problem);
            if !M::KINDS.contains(&record.kind.as_str()) {
                let problem = format!("unknown kind {:?}: expected one of {}", record.kind, M::KINDS.join(", "));
                return Err(HistoryError::new(index, "kind", problem));
            }
            let input = model.decode_input(&record.kind, &record.input).map_err(at)?;
            let outcome = match record.outcome {
                RecordOutcome::Ok => Outcome::Ok(model.decode_output(&input, &record.output).map_err(at)?),
                RecordOutcome::Failed => Outcome::Failed,
                RecordOutcome::Indeterminate => Outcome::Indeterminate,
            };
            Ok(Operation {
                id: record.id,
                client_id: record.client_id,
                key: record.key.clone(),
                input,
                outcome,
                invoke_ns: record.invoke_ns,
                complete_ns: record.complete_ns,
            })
        })
        .collect()
}
