//! [`ProtocolId`]: which consensus protocol a peer frame or a log record belongs to.
//!
//! The frame layer, the write-ahead log (its recovery and group commit) and the runtime are
//! shared by every protocol the core speaks; the tag keeps their bytes apart. A frame or a
//! record is read only by the protocol that wrote it: a Raft node refuses a Paxos frame, a
//! Raft log refuses a Paxos record, so a misrouted connection or a data directory handed to
//! the wrong protocol is an error, never a misread.

use thiserror::Error;

/// A consensus protocol, as tagged in frames and log records (one byte on the wire and on
/// disk; the values are part of both formats and never reused).
///
/// The default is Raft, as everywhere a protocol may go unnamed (node and cluster configs,
/// `senate bench`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProtocolId {
    /// Raft (`raft/`).
    #[default]
    Raft = 1,
    /// Multi-Paxos (`paxos/`): the frames of a `PaxosNode` (bodies in `codec/paxos.rs`) and
    /// the records of a log opened with this protocol. A Raft node or log refuses them, and a
    /// Paxos node or log refuses Raft's.
    Paxos = 2,
}

/// A protocol tag this build does not know.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("unknown protocol tag {tag}")]
pub struct UnknownProtocol {
    pub tag: u8,
}

impl ProtocolId {
    /// The byte that stands for this protocol in frames and records.
    pub const fn tag(self) -> u8 {
        self as u8
    }

    /// The protocol `tag` stands for.
    pub const fn from_tag(tag: u8) -> Result<ProtocolId, UnknownProtocol> {
        match tag {
            1 => Ok(ProtocolId::Raft),
            2 => Ok(ProtocolId::Paxos),
            _ => Err(UnknownProtocol { tag }),
        }
    }
}

impl std::fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ProtocolId::Raft => "Raft",
            ProtocolId::Paxos => "Multi-Paxos",
        };
        write!(f, "{name} (tag {})", self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_round_trips_and_the_others_are_unknown() {
        for tag in 0..=u8::MAX {
            match ProtocolId::from_tag(tag) {
                Ok(protocol) => assert_eq!(protocol.tag(), tag),
                Err(err) => {
                    assert!(![1, 2].contains(&tag), "tag {tag} is known");
                    assert_eq!(err, UnknownProtocol { tag });
                    assert_eq!(err.to_string(), format!("unknown protocol tag {tag}"));
                }
            }
        }
        assert_eq!(ProtocolId::from_tag(1), Ok(ProtocolId::Raft));
        assert_eq!(ProtocolId::from_tag(2), Ok(ProtocolId::Paxos));
    }
}
