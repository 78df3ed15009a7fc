//! The linearizability checker: `check_history` and its `CheckReport`. Conversion only: the
//! records are read from the objects `senate.check` builds (any object with the fields of an
//! `Operation`), and the check runs without the interpreter lock.

use crate::errors::{config_error, history_error};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};
use senate_core::check::{
    self as core, CheckError, CheckOptions, HistoryError, ModelKind, RawValue, Record, RecordOutcome, Verdict,
};

/// The names of the models `check_history` knows.
pub fn model_names() -> Vec<&'static str> {
    ModelKind::ALL.iter().map(|kind| kind.name()).collect()
}

/// A `HistoryError` for the operation at `index`.
fn bad(index: usize, field: &'static str, problem: String) -> PyErr {
    history_error(HistoryError::new(index, field, problem))
}

/// The attribute `field` of the operation at `index`, or a `HistoryError` naming it.
fn field<'py, T: FromPyObjectOwned<'py>>(op: &Bound<'py, PyAny>, index: usize, field: &'static str) -> PyResult<T> {
    let value = op.getattr(field).map_err(|_| bad(index, field, "missing".into()))?;
    value.extract::<T>().map_err(|e| bad(index, field, Into::<PyErr>::into(e).to_string()))
}

/// A Python input or output: None, bool, int, str, bytes, or an error reply (an object with a
/// string attribute `error`, like `senate.check.ErrorReply`).
fn raw_value(value: &Bound<'_, PyAny>, index: usize, name: &'static str) -> PyResult<RawValue> {
    if value.is_none() {
        Ok(RawValue::Null)
    } else if let Ok(b) = value.cast::<PyBool>() {
        Ok(RawValue::Bool(b.is_true()))
    } else if let Ok(s) = value.cast::<PyString>() {
        Ok(RawValue::Str(s.to_str()?.as_bytes().to_vec().into()))
    } else if let Ok(b) = value.cast::<PyBytes>() {
        Ok(RawValue::Str(b.as_bytes().to_vec().into()))
    } else if let Ok(n) = value.extract::<i64>() {
        Ok(RawValue::Int(n))
    } else if let Ok(error) = value.getattr("error").and_then(|e| e.extract::<String>()) {
        Ok(RawValue::Error(error))
    } else {
        let type_name = value.get_type().name()?;
        Err(bad(index, name, format!("expected None, a bool, an int, a str or an error reply, got {type_name}")))
    }
}

fn record(op: &Bound<'_, PyAny>, index: usize) -> PyResult<Record> {
    let outcome: String = field(op, index, "outcome")?;
    let outcome = RecordOutcome::from_name(&outcome).ok_or_else(|| {
        bad(index, "outcome", format!("{outcome:?} is not one of {}", RecordOutcome::NAMES.join(", ")))
    })?;
    Ok(Record {
        id: field(op, index, "id")?,
        client_id: field(op, index, "client_id")?,
        key: field(op, index, "key")?,
        kind: field(op, index, "kind")?,
        input: raw_value(&op.getattr("input")?, index, "input")?,
        output: raw_value(&op.getattr("output")?, index, "output")?,
        invoke_ns: field(op, index, "invoke_ns")?,
        complete_ns: field(op, index, "complete_ns")?,
        outcome,
    })
}

/// What `check_history` found (see `_core.pyi`).
#[pyclass(frozen, get_all, module = "senate._core")]
pub struct CheckReport {
    /// "ok", "illegal" or "unknown".
    status: &'static str,
    /// The illegal part's key.
    key: Option<String>,
    /// The longest linearizable prefix of the illegal part, as operation ids.
    prefix: Vec<u64>,
    /// The operation that cannot be placed after `prefix`.
    blocked: Option<u64>,
    /// The object's state after `prefix`.
    state: Option<String>,
    /// The keys whose search ran out of budget.
    unknown_keys: Vec<String>,
    /// (key, operation ids in linearization order) per part linearized, in key order.
    linearizations: Vec<(String, Vec<u64>)>,
    parts: usize,
    steps: u64,
}

#[pymethods]
impl CheckReport {
    fn __repr__(&self) -> String {
        format!("CheckReport(status={:?}, parts={}, steps={})", self.status, self.parts, self.steps)
    }
}

#[pyfunction]
#[pyo3(signature = (model, operations, *, max_steps_per_part = core::DEFAULT_MAX_STEPS_PER_PART, threads = 0))]
pub fn check_history(
    py: Python<'_>,
    model: &str,
    operations: &Bound<'_, PyAny>,
    max_steps_per_part: u64,
    threads: usize,
) -> PyResult<CheckReport> {
    let kind = ModelKind::from_name(model)
        .ok_or_else(|| config_error("model", format!("{model:?} is not one of {}", model_names().join(", "))))?;
    let records = operations
        .try_iter()
        .map_err(|_| PyTypeError::new_err("operations must be iterable"))?
        .enumerate()
        .map(|(index, op)| record(&op?, index))
        .collect::<PyResult<Vec<Record>>>()?;
    let options = CheckOptions { max_steps_per_part, threads, ..CheckOptions::default() };
    let result = py.detach(|| core::check_records(kind, &records, &options)).map_err(|e| match e {
        CheckError::History(e) => history_error(e),
        CheckError::Options(e) => config_error(e.field, e.problem),
    })?;
    let mut report = CheckReport {
        status: "ok",
        key: None,
        prefix: Vec::new(),
        blocked: None,
        state: None,
        unknown_keys: Vec::new(),
        linearizations: result.linearizations.into_iter().map(|l| (l.key, l.order)).collect(),
        parts: result.parts,
        steps: result.steps,
    };
    match result.verdict {
        Verdict::Ok => {}
        Verdict::Illegal(illegal) => {
            report.status = "illegal";
            report.key = Some(illegal.key);
            report.prefix = illegal.prefix;
            report.blocked = Some(illegal.blocked);
            report.state = Some(illegal.state);
        }
        Verdict::Unknown { keys } => {
            report.status = "unknown";
            report.unknown_keys = keys;
        }
    }
    Ok(report)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CheckReport>()?;
    m.add_function(wrap_pyfunction!(check_history, m)?)?;
    m.add("CHECK_MODELS", pyo3::types::PyTuple::new(m.py(), model_names())?)?;
    m.add("DEFAULT_MAX_STEPS_PER_PART", core::DEFAULT_MAX_STEPS_PER_PART)?;
    m.add("MAX_CHECK_THREADS", core::MAX_CHECK_THREADS)?;
    m.add("MAX_STEPS_PER_PART", core::MAX_STEPS_PER_PART)?;
    Ok(())
}
