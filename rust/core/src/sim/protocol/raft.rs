//! [`RaftProtocol`]: Raft, as `MemNode` runs it, in both simulators.

use crate::codec::{decode_message, DecodeError, DEFAULT_MAX_FRAME_BYTES};
use crate::driver::Consensus;
use crate::error::RaftError;
use crate::raft::config::{Config, ReadOnlyOption};
use crate::raft::mem_node::{MemNode, PersistMode, StepError};
use crate::raft::message::{Entry, Index, NodeId};
use crate::raft::storage::MemStorage;
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Checker, Property, Violation};
use crate::sim::cluster::{ELECTION_TIMEOUT_TICKS, HEARTBEAT_INTERVAL_TICKS};
use crate::sim::protocol::flow_limits::FlowLimits;
use crate::sim::protocol::{CoreView, SimProtocol, SimSetup};
use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Raft with pre-vote and check-quorum as configured (both on by default, as in
/// `Config::new`) for the scenarios; the fault simulation draws both per seed instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftProtocol {
    pub pre_vote: bool,
    pub check_quorum: bool,
}

impl Default for RaftProtocol {
    fn default() -> RaftProtocol {
        let defaults = Config::new(1, vec![1]);
        RaftProtocol { pre_vote: defaults.pre_vote, check_quorum: defaults.check_quorum }
    }
}

impl SimProtocol for RaftProtocol {
    type Core = MemNode;
    type Checker = Checker;

    fn name(&self) -> &'static str {
        "raft"
    }

    fn start(&self, id: NodeId, voters: &[NodeId], seed: u64) -> Result<MemNode, RaftError> {
        let mut config = Config::new(id, voters.to_vec());
        config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
        config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
        config.pre_vote = self.pre_vote;
        config.check_quorum = self.check_quorum;
        config.seed = seed;
        MemNode::with_mode(&config, MemStorage::new(voters.to_vec()), PersistMode::ByCaller)
    }

    fn draw_setup(&self, nodes: usize, rng: &mut ChaCha8Rng) -> Result<SimSetup<MemNode>, Violation> {
        self.draw_setup_members(nodes, nodes, rng)
    }

    fn draw_setup_members(
        &self,
        nodes: usize,
        voters: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<SimSetup<MemNode>, Violation> {
        let configs = draw_configs(nodes, voters, rng);
        let mut cores = Vec::with_capacity(configs.len());
        for config in &configs {
            let storage = MemStorage::new(config.voters.clone());
            let core = MemNode::with_mode(config, storage, PersistMode::ByCaller).map_err(|error| {
                Violation::new(Property::NodeError, format!("node {} failed to start: {error}", config.id))
            })?;
            cores.push(core);
        }
        let config = &configs[0];
        let summary = format!(
            "{} nodes ({} voters), pre_vote {}, check_quorum {}, read_only {:?}, max_entries_per_msg {}, max_inflight_msgs {}",
            nodes,
            config.voters.len(),
            config.pre_vote,
            config.check_quorum,
            config.read_only,
            config.max_entries_per_msg,
            config.max_inflight_msgs
        );
        Ok(SimSetup { cores, summary, lease_reads: config.read_only == ReadOnlyOption::LeaseBased })
    }

    fn checker(&self, cores: &[&MemNode]) -> Checker {
        let ids: Vec<NodeId> = cores.iter().map(|core| core.id()).collect();
        Checker::new(&ids)
    }

    fn sync_checker(&self, checker: &mut Checker, core: &MemNode) -> Check {
        let status = core.status();
        let raw = &core.raw;
        // The commit index a node acts on is volatile; it vouches for the entries it holds
        // durably and consistently with its in-memory log.
        let commit = status.commit.min(raw.persisted_index());
        checker.sync_node_with_commit(core.id(), raw.storage(), status.role, status.term, commit)
    }

    fn conf_index(&self, core: &MemNode) -> Index {
        core.raw.conf_index()
    }

    fn caught_up(&self, core: &MemNode, id: NodeId) -> bool {
        let status = core.status();
        status.peers.iter().any(|peer| peer.id == id && peer.match_index >= status.commit)
    }

    fn view(&self, core: &MemNode) -> CoreView {
        let status = core.status();
        CoreView { role: core.role(), role_code: status.role as u64, epoch: status.term, commit: status.commit }
    }

    fn step_frames(&self, core: &mut MemNode, frames: &Bytes) -> Result<usize, StepError> {
        core.step_frames(frames)
    }

    fn frame_bytes(&self, buf: &Bytes) -> Result<Option<usize>, DecodeError> {
        Ok(decode_message(buf, DEFAULT_MAX_FRAME_BYTES)?.map(|(_, consumed)| consumed))
    }

    fn describe_frame(&self, frame: &Bytes) -> String {
        match decode_message(frame, DEFAULT_MAX_FRAME_BYTES) {
            Ok(Some((m, _))) => format!(
                "{:?} term {} log_term {} index {} commit {} entries {} reject {} hint {} context {}{}",
                m.msg_type,
                m.term,
                m.log_term,
                m.index,
                m.commit,
                m.entries.len(),
                m.reject,
                m.reject_hint,
                m.context,
                m.snapshot.as_ref().map_or(String::new(), |s| format!(" snapshot {}/{}", s.meta.index, s.meta.term))
            ),
            _ => "undecodable frame".to_string(),
        }
    }

    fn crash_input(&self, core: &mut MemNode, payload: Bytes) {
        let _outcome_lost_in_crash = core.raw.propose(payload);
        core.raw.tick();
    }

    fn campaign(&self, core: &mut MemNode) {
        core.raw.campaign();
    }

    fn crash_restart(&self, core: &mut MemNode, applied: Index) -> Result<(), RaftError> {
        core.crash_restart(applied)
    }

    fn storage<'c>(&self, core: &'c MemNode) -> &'c MemStorage {
        core.raw.storage()
    }

    fn apply(&self, app: &mut AppState, entry: &Entry) {
        app.apply(entry);
    }

    fn describe_node(&self, core: &MemNode) -> String {
        let s = core.status();
        let conf = &s.conf_state;
        let mut members = format!(" voters {:?}", conf.voters);
        if !conf.is_voters_only() {
            members += &format!(" outgoing {:?} learners {:?}", conf.voters_outgoing, conf.learners);
        }
        format!("{} term {} commit {} last {}{members}", s.role.as_str(), s.term, s.commit, s.last_index)
    }
}

/// The configurations of one run of `nodes` nodes of which the first `voters` vote: the
/// defaults of the brief (election timeout 10 ticks, heartbeat 1) with pre-vote,
/// check-quorum, lease reads and the flow-control limits varied by seed.
fn draw_configs(nodes: usize, voters: usize, rng: &mut ChaCha8Rng) -> Vec<Config> {
    let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
    let voters: Vec<NodeId> = (1..=voters as NodeId).collect();
    let pre_vote = rng.gen_ratio(3, 4);
    let check_quorum = rng.gen_ratio(3, 4);
    // Lease reads need check-quorum, and bounded clock drift: runs that use them have no slow
    // nodes (a slow node is a slow clock; see `SimCluster::new`).
    let lease_reads = check_quorum && rng.gen_ratio(1, 3);
    let limits = FlowLimits::draw(rng);
    ids.iter()
        .map(|&id| {
            let mut config = Config::new(id, voters.clone());
            config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
            config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
            config.pre_vote = pre_vote;
            config.check_quorum = check_quorum;
            if lease_reads {
                config.read_only = ReadOnlyOption::LeaseBased;
            }
            if limits.small {
                config.max_entries_per_msg = limits.max_entries_per_msg;
                config.max_inflight_msgs = limits.max_inflight_msgs;
                config.max_committed_entries_per_ready = limits.max_committed_entries_per_ready;
                config.max_committed_bytes_per_ready = limits.max_committed_bytes_per_ready;
                config.max_uncommitted_bytes = limits.max_uncommitted_bytes;
            }
            config.seed = rng.gen();
            config
        })
        .collect()
}
