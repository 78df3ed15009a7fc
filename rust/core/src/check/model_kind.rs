//! The models a history file or Python can name, and checking records against one of them.

use super::checker::{check, CheckError};
use super::counter::Counter;
use super::kv_register::KvRegister;
use super::options::CheckOptions;
use super::record::{decode_records, Record, RecordModel};
use super::verdict::CheckResult;

/// A model by name. To add one, add a variant here (see [`Model`](super::Model)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// `kv`: [`KvRegister`] per key.
    KvRegister,
    /// `counter`: [`Counter`] per key.
    Counter,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::KvRegister, ModelKind::Counter];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::KvRegister => "kv",
            ModelKind::Counter => "counter",
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The operation kinds the model knows.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            ModelKind::KvRegister => KvRegister::KINDS,
            ModelKind::Counter => Counter::KINDS,
        }
    }
}

fn decode_and_check<M: RecordModel>(
    model: &M,
    records: &[Record],
    options: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    let ops = decode_records(model, records)?;
    check::<M>(model, &ops, options)
}

/// Decodes `records` for the model `kind` and checks them (see [`check`]).
pub fn check_records(kind: ModelKind, records: &[Record], options: &CheckOptions) -> Result<CheckResult, CheckError> {
    match kind {
        ModelKind::KvRegister => decode_and_check(&KvRegister, records, options),
        ModelKind::Counter => decode_and_check(&Counter, records, options),
    }
}
