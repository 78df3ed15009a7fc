//! `senate_code`: the status every entry point returns, and the mapping of the core's typed
//! errors onto it.

use senate_core::balance::BalanceError;
use senate_core::codec::DecodeError;
use senate_core::raft::mem_node::StepError;
use senate_core::{DetectError, RaftError, WalError};

/// What a call did. `SENATE_CODE_OK` (0) is success; every other value is an error, whose
/// message `senate_last_error_message` returns on the same thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum senate_code {
    /// Success.
    Ok = 0,
    /// A pointer that must not be NULL was NULL (a handle, an out-parameter, or a buffer
    /// whose length is not 0).
    NullArgument = 1,
    /// A handle of another kind, or one already freed (detected on a best-effort basis only:
    /// using a freed handle is undefined behaviour).
    BadHandle = 2,
    /// An argument is out of its range: a length above `PTRDIFF_MAX`, an index past the end,
    /// a string that is not UTF-8, an unknown enum value.
    InvalidArgument = 3,
    /// A configuration or option value is invalid; the message names the field.
    InvalidConfig = 4,
    /// This node is not the leader and cannot forward the request.
    NotLeader = 5,
    /// The leader refused the proposal (a transfer runs, a limit is reached, it is empty or
    /// too large); the message says which.
    ProposalDropped = 6,
    /// A frame could not be decoded (truncated, too large, bad checksum, another protocol):
    /// drop that connection, framing is lost.
    MalformedFrame = 7,
    /// A peer sent a message no correct node sends; it was ignored.
    InvalidMessage = 8,
    /// `ready` was called while the limit of Readies handed out and not advanced was reached.
    ReadyNotAdvanced = 9,
    /// A message or request named a node that is not a member.
    UnknownPeer = 10,
    /// The log storage refused (compacted or unavailable index, outdated snapshot).
    Storage = 11,
    /// No backend is eligible: none is left, or all are down.
    NoBackend = 12,
    /// No backend has that name.
    UnknownBackend = 13,
    /// A backend of that name is present already.
    DuplicateBackend = 14,
    /// `finish` was called for a backend with no request in flight.
    NotInFlight = 15,
    /// A time went backwards or is not finite.
    InvalidTime = 16,
    /// The call does not apply to this handle (a Maglev-only call on another balancer).
    Unsupported = 17,
    /// An operating-system call of the durable log failed (the message names the file).
    /// After a failed write the log refuses every later call: free it and open it again.
    Io = 18,
    /// The durable log holds data no correct run writes (the message names the file and byte
    /// offset); it refuses to open rather than serve a damaged log.
    Corrupt = 19,
    /// Another open log (in this process or another) holds the directory.
    Locked = 20,
    /// A bug: the call panicked inside the library. The panic was caught; the handle it was
    /// made on may be inconsistent and should only be freed.
    Panic = 99,
}

/// An error on its way to C: the code returned and the message kept for the thread.
#[derive(Debug)]
pub struct Error {
    pub code: senate_code,
    pub message: String,
}

impl Error {
    pub fn new(code: senate_code, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<RaftError> for Error {
    fn from(err: RaftError) -> Error {
        let code = match &err {
            RaftError::NotLeader { .. } => senate_code::NotLeader,
            RaftError::ProposalDropped { .. } => senate_code::ProposalDropped,
            RaftError::InvalidConfig { .. } => senate_code::InvalidConfig,
            RaftError::InvalidMessage { .. } => senate_code::InvalidMessage,
            RaftError::ReadyNotAdvanced { .. } => senate_code::ReadyNotAdvanced,
            RaftError::UnknownPeer { .. } => senate_code::UnknownPeer,
            RaftError::Storage(_) => senate_code::Storage,
        };
        Error::new(code, err.to_string())
    }
}

impl From<DecodeError> for Error {
    fn from(err: DecodeError) -> Error {
        Error::new(senate_code::MalformedFrame, err.to_string())
    }
}

impl From<StepError> for Error {
    fn from(err: StepError) -> Error {
        match err {
            StepError::Decode(err) => err.into(),
            StepError::Raft(err) => err.into(),
        }
    }
}

impl From<BalanceError> for Error {
    fn from(err: BalanceError) -> Error {
        let code = match &err {
            BalanceError::DuplicateBackend { .. } => senate_code::DuplicateBackend,
            BalanceError::UnknownBackend { .. } => senate_code::UnknownBackend,
            BalanceError::NotInFlight { .. } => senate_code::NotInFlight,
            BalanceError::InvalidOption { .. } => senate_code::InvalidConfig,
        };
        Error::new(code, err.to_string())
    }
}

impl From<DetectError> for Error {
    fn from(err: DetectError) -> Error {
        let code = match &err {
            DetectError::InvalidConfig { .. } => senate_code::InvalidConfig,
            DetectError::InvalidTime { .. } => senate_code::InvalidTime,
        };
        Error::new(code, err.to_string())
    }
}

impl From<WalError> for Error {
    fn from(err: WalError) -> Error {
        let code = match &err {
            WalError::Corrupt { .. } => senate_code::Corrupt,
            WalError::Locked { .. } => senate_code::Locked,
            WalError::RecordTooLarge { .. } => senate_code::InvalidArgument,
            WalError::SnapshotOutOfDate { .. } => senate_code::Storage,
            WalError::InvalidOptions { .. } => senate_code::InvalidConfig,
            _ => senate_code::Io,
        };
        Error::new(code, err.to_string())
    }
}
