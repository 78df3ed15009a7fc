//! `Status`: a read-only view of a node.

use pyo3::prelude::*;
use senate_core::{ProgressState, NO_NODE};

/// A node's state at the moment `RaftNode.status()` was called.
#[pyclass(frozen, module = "senate._core")]
pub struct Status {
    #[pyo3(get)]
    id: u64,
    #[pyo3(get)]
    role: &'static str,
    #[pyo3(get)]
    term: u64,
    /// The node voted for in `term`, or `None`.
    #[pyo3(get)]
    vote: Option<u64>,
    /// The known leader, or `None`.
    #[pyo3(get)]
    leader: Option<u64>,
    #[pyo3(get)]
    commit: u64,
    #[pyo3(get)]
    applied: u64,
    #[pyo3(get)]
    first_index: u64,
    #[pyo3(get)]
    last_index: u64,
    /// At the leader: `(id, match_index, next_index, state, recent_active)` per follower.
    #[pyo3(get)]
    peers: Vec<(u64, u64, u64, &'static str, bool)>,
    /// The transfer target while a leadership transfer runs, else `None`.
    #[pyo3(get)]
    lead_transferee: Option<u64>,
    /// "no", "abstaining" or "recovered": whether this node came back with an empty disk.
    #[pyo3(get)]
    empty_disk: &'static str,
    /// At the leader: `(id, match_index_lost)` per follower found to have lost its log.
    #[pyo3(get)]
    lost_logs: Vec<(u64, u64)>,
}

fn some_node(id: u64) -> Option<u64> {
    (id != NO_NODE).then_some(id)
}

fn progress_state_name(state: ProgressState) -> &'static str {
    match state {
        ProgressState::Probe => "probe",
        ProgressState::Replicate => "replicate",
        ProgressState::Snapshot => "snapshot",
    }
}

impl Status {
    pub fn from_core(status: senate_core::Status) -> Status {
        Status {
            id: status.id,
            role: status.role.as_str(),
            term: status.term,
            vote: some_node(status.vote),
            leader: some_node(status.leader),
            commit: status.commit,
            applied: status.applied,
            first_index: status.first_index,
            last_index: status.last_index,
            peers: status
                .peers
                .iter()
                .map(|p| (p.id, p.match_index, p.next_index, progress_state_name(p.state), p.recent_active))
                .collect(),
            lead_transferee: some_node(status.lead_transferee),
            empty_disk: status.empty_disk.as_str(),
            lost_logs: status.peers.iter().filter(|p| p.lost_log_at > 0).map(|p| (p.id, p.lost_log_at)).collect(),
        }
    }
}

#[pymethods]
impl Status {
    fn __repr__(&self) -> String {
        format!(
            "Status(id={}, role='{}', term={}, leader={}, commit={}, applied={}, first_index={}, last_index={})",
            self.id,
            self.role,
            self.term,
            self.leader.map_or("None".to_string(), |id| id.to_string()),
            self.commit,
            self.applied,
            self.first_index,
            self.last_index
        )
    }
}
