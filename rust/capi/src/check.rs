//! The linearizability checker through the C ABI: `senate_check_history` over an array of
//! `senate_operation` (the fields of a history file's operation lines), and its report
//! (`senate_check_report`), as `senate._core.check_history` and its `CheckReport`.

use crate::call::{call, input, out, slice, string};
use crate::code::{senate_code, Error, Result};
use crate::handle::{self, opaque_handle};
use bytes::Bytes;
use senate_core::check::{self as core, CheckError, CheckOptions, ModelKind, RawValue, Record, RecordOutcome, Verdict};
use std::ffi::{c_char, CString};

/// What a `senate_value` holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_value_kind {
    /// No value (JSON `null`).
    Null = 0,
    /// `int_value` is 0 or 1.
    Bool = 1,
    /// `int_value`.
    Int = 2,
    /// `len` bytes at `data` (a string value).
    Str = 3,
    /// An error reply whose text is the `len` UTF-8 bytes at `data`.
    Error = 4,
}

/// An operation's input or output.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_value {
    /// A `senate_value_kind` value.
    pub kind: u32,
    pub int_value: i64,
    /// The bytes of a string or of an error's text (NULL when `len` is 0).
    pub data: *const u8,
    pub len: usize,
}

/// How an operation ended, for the client that invoked it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_outcome {
    /// It took effect and returned `output`.
    Ok = 0,
    /// It is known not to have taken effect.
    Failed = 1,
    /// It may have taken effect at any time after its invocation, or never.
    Indeterminate = 2,
}

/// One operation of a history: the fields of an operation line of a history file (see
/// docs/check.md). The strings are NUL-terminated UTF-8.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_operation {
    pub id: u64,
    /// The client (a sequential process) that invoked it.
    pub client_id: u64,
    pub key: *const c_char,
    /// The operation, as the model names it (kv: get, set, incr, append, delete,
    /// set_if_absent; counter: add, read).
    pub kind: *const c_char,
    pub input: senate_value,
    /// Read only for `SENATE_OUTCOME_OK`.
    pub output: senate_value,
    pub invoke_ns: u64,
    /// Whether `complete_ns` is set (required for `SENATE_OUTCOME_OK`).
    pub completed: bool,
    pub complete_ns: u64,
    /// A `senate_outcome` value.
    pub outcome: u32,
}

/// The search's limits; `senate_check_options_default` fills the defaults.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_check_options {
    /// The budget of each key's search, in model steps; past it the answer is unknown.
    pub max_steps_per_part: u64,
    /// Keys searched at once, each on its own thread; 0: the machine's parallelism. The
    /// answer does not depend on it.
    pub threads: usize,
}

/// The verdict of a check.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_check_status {
    /// Linearizable.
    Ok = 0,
    /// Not linearizable: `key`, `blocked` and `state` say where.
    Illegal = 1,
    /// A key's search ran out of its budget: not a pass.
    Unknown = 2,
}

/// What a report says, in one call; the strings are borrowed from the report.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_check_info {
    pub status: senate_check_status,
    /// Illegal: the key whose operations no order explains; else NULL.
    pub key: *const c_char,
    /// Illegal: the operation that cannot be placed after the longest linearizable prefix.
    pub blocked: u64,
    /// Illegal: the model's state after that prefix, as text; else NULL.
    pub state: *const c_char,
    /// Illegal: the number of operations of that prefix (`senate_check_report_prefix`).
    pub prefix_len: usize,
    /// Unknown: the number of keys whose search ran out (`senate_check_report_unknown_key`).
    pub unknown_key_count: usize,
    /// The parts (keys) checked.
    pub parts: usize,
    /// Model steps taken in all.
    pub steps: u64,
}

/// A check's report: what `senate_check_info` and the listed parts read.
pub struct Report {
    status: senate_check_status,
    key: Option<CString>,
    prefix: Vec<u64>,
    blocked: u64,
    state: Option<CString>,
    unknown_keys: Vec<CString>,
    parts: usize,
    steps: u64,
}

/// The report of a linearizability check. Immutable: several threads may read it at once.
#[allow(non_camel_case_types)]
pub struct senate_check_report {
    _opaque: [u8; 0],
}

opaque_handle!(senate_check_report, Report, 8);

/// Fills `*options` with the defaults. Thread-safe.
///
/// # Safety
/// `options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_check_options_default(options: *mut senate_check_options) -> senate_code {
    call(|| {
        let d = CheckOptions::default();
        *out(options, "options")? =
            senate_check_options { max_steps_per_part: d.max_steps_per_part, threads: d.threads };
        Ok(())
    })
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NULs were replaced")
}

unsafe fn value(value: &senate_value, index: usize, name: &'static str) -> Result<RawValue> {
    let bytes = || slice(value.data, value.len, name);
    Ok(match value.kind {
        0 => RawValue::Null,
        1 => RawValue::Bool(value.int_value != 0),
        2 => RawValue::Int(value.int_value),
        3 => RawValue::Str(Bytes::copy_from_slice(bytes()?)),
        4 => RawValue::Error(
            String::from_utf8(bytes()?.to_vec()).map_err(|_| bad(index, name, "error text is not UTF-8"))?,
        ),
        other => return Err(bad(index, name, &format!("kind {other} is not a senate_value_kind"))),
    })
}

fn bad(index: usize, field: &str, problem: &str) -> Error {
    Error::new(senate_code::InvalidArgument, format!("operation {index}: {field}: {problem}"))
}

unsafe fn record(op: &senate_operation, index: usize) -> Result<Record> {
    let outcome = match op.outcome {
        0 => RecordOutcome::Ok,
        1 => RecordOutcome::Failed,
        2 => RecordOutcome::Indeterminate,
        other => return Err(bad(index, "outcome", &format!("{other} is not a senate_outcome"))),
    };
    Ok(Record {
        id: op.id,
        client_id: op.client_id,
        key: string(op.key, "key").map_err(|e| bad(index, "key", &e.message))?.to_owned(),
        kind: string(op.kind, "kind").map_err(|e| bad(index, "kind", &e.message))?.to_owned(),
        input: value(&op.input, index, "input")?,
        output: value(&op.output, index, "output")?,
        invoke_ns: op.invoke_ns,
        complete_ns: op.completed.then_some(op.complete_ns),
        outcome,
    })
}

/// Checks whether the `count` operations at `operations` are linearizable against `model`
/// ("kv" or "counter"), key by key; the report goes to `*report` (free it with
/// `senate_check_report_free`). A bad operation gives `SENATE_CODE_INVALID_ARGUMENT` naming
/// its index and field; bad options `SENATE_CODE_INVALID_CONFIG`. The operations are read
/// during the call only. Runs the search on up to `options->threads` threads and returns
/// when it is done. Thread-safe.
///
/// # Safety
/// `model` is NULL or a NUL-terminated string; `operations` holds `count` operations whose
/// pointers are valid as their fields say; `options` is NULL or valid for reads; `report` is
/// NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_check_history(
    model: *const c_char,
    operations: *const senate_operation,
    count: usize,
    options: *const senate_check_options,
    report: *mut *mut senate_check_report,
) -> senate_code {
    call(|| {
        let report = out(report, "report")?;
        let model = string(model, "model")?;
        let names = ModelKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
        let kind = ModelKind::from_name(model)
            .ok_or_else(|| Error::new(senate_code::InvalidConfig, format!("model: {model:?} is not one of {names}")))?;
        let o = input(options, "options")?;
        let options =
            CheckOptions { max_steps_per_part: o.max_steps_per_part, threads: o.threads, ..CheckOptions::default() };
        let records = slice(operations, count, "operations")?
            .iter()
            .enumerate()
            .map(|(index, op)| record(op, index))
            .collect::<Result<Vec<Record>>>()?;
        let result = core::check_records(kind, &records, &options).map_err(|e| match e {
            CheckError::History(e) => Error::new(senate_code::InvalidArgument, e.to_string()),
            CheckError::Options(e) => Error::new(senate_code::InvalidConfig, e.to_string()),
        })?;
        let mut made = Report {
            status: senate_check_status::Ok,
            key: None,
            prefix: Vec::new(),
            blocked: 0,
            state: None,
            unknown_keys: Vec::new(),
            parts: result.parts,
            steps: result.steps,
        };
        match result.verdict {
            Verdict::Ok => {}
            Verdict::Illegal(illegal) => {
                made.status = senate_check_status::Illegal;
                made.key = Some(c_string(&illegal.key));
                made.prefix = illegal.prefix;
                made.blocked = illegal.blocked;
                made.state = Some(c_string(&illegal.state));
            }
            Verdict::Unknown { keys } => {
                made.status = senate_check_status::Unknown;
                made.unknown_keys = keys.iter().map(|key| c_string(key)).collect();
            }
        }
        *report = handle::into_raw::<senate_check_report>(made);
        Ok(())
    })
}

/// Frees a report; NULL is a no-op. The strings borrowed from it become invalid.
///
/// # Safety
/// `report` is NULL or a live report handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_check_report_free(report: *mut senate_check_report) -> senate_code {
    call(|| handle::free(report, "report"))
}

fn string_or_null(text: &Option<CString>) -> *const c_char {
    text.as_ref().map_or(std::ptr::null(), |text| text.as_ptr())
}

/// Fills `*info` with what the report says.
///
/// # Safety
/// `report` is NULL or a live report handle; `info` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_check_report_get_info(
    report: *const senate_check_report,
    info: *mut senate_check_info,
) -> senate_code {
    call(|| {
        let info = out(info, "info")?;
        let r = handle::get(report, "report")?;
        *info = senate_check_info {
            status: r.status,
            key: string_or_null(&r.key),
            blocked: r.blocked,
            state: string_or_null(&r.state),
            prefix_len: r.prefix.len(),
            unknown_key_count: r.unknown_keys.len(),
            parts: r.parts,
            steps: r.steps,
        };
        Ok(())
    })
}

fn past_end(what: &str, index: usize, len: usize) -> Error {
    Error::new(senate_code::InvalidArgument, format!("{what} {index} is past the end (there are {len})"))
}

/// Illegal: `*op_id` gets operation `index` (below `prefix_len`) of the longest linearizable
/// prefix, in the order it took effect.
///
/// # Safety
/// `report` is NULL or a live report handle; `op_id` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_check_report_prefix(
    report: *const senate_check_report,
    index: usize,
    op_id: *mut u64,
) -> senate_code {
    call(|| {
        let op_id = out(op_id, "op_id")?;
        let prefix = &handle::get(report, "report")?.prefix;
        *op_id = *prefix.get(index).ok_or_else(|| past_end("prefix operation", index, prefix.len()))?;
        Ok(())
    })
}

/// Unknown: `*key` gets key `index` (below `unknown_key_count`) whose search ran out,
/// borrowed from the report.
///
/// # Safety
/// `report` is NULL or a live report handle; `key` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_check_report_unknown_key(
    report: *const senate_check_report,
    index: usize,
    key: *mut *const c_char,
) -> senate_code {
    call(|| {
        let key = out(key, "key")?;
        let keys = &handle::get(report, "report")?.unknown_keys;
        *key = keys.get(index).ok_or_else(|| past_end("unknown key", index, keys.len()))?.as_ptr();
        Ok(())
    })
}
