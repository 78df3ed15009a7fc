//! [`PaxosProtocol`]: Multi-Paxos, as `PaxosNode` runs it, in both simulators, checked by the
//! [`PaxosChecker`].

use crate::codec::{decode_paxos_message, DecodeError, DEFAULT_MAX_FRAME_BYTES};
use crate::error::RaftError;
use crate::paxos::ballot::Ballot;
use crate::paxos::config::PaxosConfig;
use crate::paxos::message::{Body, PaxosMessage};
use crate::paxos::node::PaxosNode;
use crate::raft::mem_node::{PersistMode, StepError};
use crate::raft::message::{Entry, Index, NodeId};
use crate::raft::storage::MemStorage;
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Property, Violation};
use crate::sim::cluster::{ELECTION_TIMEOUT_TICKS, HEARTBEAT_INTERVAL_TICKS};
use crate::sim::paxos_checker::PaxosChecker;
use crate::sim::protocol::flow_limits::FlowLimits;
use crate::sim::protocol::{CoreView, SimProtocol, SimSetup};
use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Multi-Paxos with majority quorums for the scenarios; the fault simulation draws flexible
/// quorums and flow-control limits per seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaxosProtocol;

impl SimProtocol for PaxosProtocol {
    type Core = PaxosNode;
    type Checker = PaxosChecker;

    fn name(&self) -> &'static str {
        "paxos"
    }

    fn start(&self, id: NodeId, voters: &[NodeId], seed: u64) -> Result<PaxosNode, RaftError> {
        let mut config = PaxosConfig::new(id, voters.to_vec());
        config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
        config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
        config.seed = seed;
        config.validate()?;
        PaxosNode::with_mode(&config, MemStorage::new(voters.to_vec()), PersistMode::ByCaller)
    }

    fn draw_setup(&self, nodes: usize, rng: &mut ChaCha8Rng) -> Result<SimSetup<PaxosNode>, Violation> {
        start_all(&draw_configs(nodes, rng))
    }

    /// The nodes of a membership run: drawn as `draw_setup` draws them (the same draws of the
    /// seed), but with majority quorums (membership changes need them), the first `voters`
    /// ids as the initial configuration, and α drawn from a value already drawn.
    fn draw_setup_members(
        &self,
        nodes: usize,
        voters: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<SimSetup<PaxosNode>, Violation> {
        let mut configs = draw_configs(nodes, rng);
        let initial: Vec<NodeId> = (1..=voters as NodeId).collect();
        let window_slots = MEMBERSHIP_WINDOW_SLOTS[(configs[0].seed % MEMBERSHIP_WINDOW_SLOTS.len() as u64) as usize];
        for config in &mut configs {
            config.voters = initial.clone();
            config.phase1_quorum = None;
            config.phase2_quorum = None;
            config.conf_window_slots = window_slots;
        }
        let mut setup = start_all(&configs)?;
        setup.summary =
            format!("{} (membership: {voters} voters at first, window {window_slots} slots)", setup.summary);
        Ok(setup)
    }

    fn conf_index(&self, core: &PaxosNode) -> Index {
        core.conf_index()
    }

    fn caught_up(&self, core: &PaxosNode, id: NodeId) -> bool {
        core.matched(id).is_some_and(|matched| matched >= core.chosen())
    }

    fn checker(&self, cores: &[&PaxosNode]) -> PaxosChecker {
        let ids: Vec<NodeId> = cores.iter().map(|core| core.id()).collect();
        let Some(config) = cores.first().map(|core| core.config()) else { return PaxosChecker::new(&ids, 1) };
        if config.voters.len() < ids.len() {
            // A membership run: some nodes wait to be added.
            return PaxosChecker::with_membership(&ids, &config.voters, config.conf_window_slots);
        }
        PaxosChecker::new(&ids, config.q2())
    }

    fn sync_checker(&self, checker: &mut PaxosChecker, core: &PaxosNode) -> Check {
        checker.sync_node(core.id(), core.storage(), core.role(), core.promised().to_u64())
    }

    fn view(&self, core: &PaxosNode) -> CoreView {
        let role = core.role();
        CoreView { role, role_code: role as u64, epoch: core.promised().to_u64(), commit: core.chosen() }
    }

    fn epoch_number(&self, epoch: u64) -> u64 {
        Ballot::from_u64(epoch).round
    }

    fn step_frames(&self, core: &mut PaxosNode, frames: &Bytes) -> Result<usize, StepError> {
        core.step_frames(frames)
    }

    fn frame_bytes(&self, buf: &Bytes) -> Result<Option<usize>, DecodeError> {
        Ok(decode_paxos_message(buf, DEFAULT_MAX_FRAME_BYTES)?.map(|(_, consumed)| consumed))
    }

    fn describe_frame(&self, frame: &Bytes) -> String {
        match decode_paxos_message(frame, DEFAULT_MAX_FRAME_BYTES) {
            Ok(Some((m, _))) => describe_message(&m),
            _ => "undecodable frame".to_string(),
        }
    }

    fn crash_input(&self, core: &mut PaxosNode, payload: Bytes) {
        let _outcome_lost_in_crash = core.propose(payload);
        core.tick();
    }

    fn campaign(&self, core: &mut PaxosNode) {
        core.campaign();
    }

    fn crash_restart(&self, core: &mut PaxosNode, applied: Index) -> Result<(), RaftError> {
        core.crash_restart(applied)
    }

    fn storage<'c>(&self, core: &'c PaxosNode) -> &'c MemStorage {
        core.storage()
    }

    fn apply(&self, app: &mut AppState, entry: &Entry) {
        app.apply_value(entry);
    }

    fn describe_node(&self, core: &PaxosNode) -> String {
        let s = core.status();
        let conf = core.latest_conf_state();
        format!(
            "{} promised {} chosen {} slots {}..={} connected {} voters {:?} learners {:?}",
            s.role.as_str(),
            s.promised,
            s.chosen,
            s.first_slot,
            s.last_slot,
            s.connected_peers,
            conf.voters,
            conf.learners
        )
    }
}

/// α values a membership run draws from: a change in force after two slots (windows crossed
/// all the time, with a leader short of window while phase 1 is redone) to one that takes many
/// slots of padding.
const MEMBERSHIP_WINDOW_SLOTS: [u64; 4] = [2, 4, 16, 64];

/// Starts a node per config, persisting by the caller.
fn start_all(configs: &[PaxosConfig]) -> Result<SimSetup<PaxosNode>, Violation> {
    let mut cores = Vec::with_capacity(configs.len());
    for config in configs {
        let start = |error: RaftError| {
            Violation::new(Property::NodeError, format!("node {} failed to start: {error}", config.id))
        };
        config.validate().map_err(start)?;
        let storage = MemStorage::new(config.voters.clone());
        cores.push(PaxosNode::with_mode(config, storage, PersistMode::ByCaller).map_err(start)?);
    }
    let config = &configs[0];
    let summary = format!(
        "{} nodes, phase1_quorum {}, phase2_quorum {}, lease_ticks {}, max_entries_per_msg {}, max_inflight_msgs {}",
        config.voters.len(),
        config.q1(),
        config.q2(),
        config.lease_ticks,
        config.max_entries_per_msg,
        config.max_inflight_msgs
    );
    Ok(SimSetup { cores, summary, lease_reads: config.lease_reads() })
}

fn describe_message(m: &PaxosMessage) -> String {
    let body = match &m.body {
        Body::Promise { chosen, first_slot, last_slot, entries } => {
            format!("Promise chosen {chosen} slots {first_slot}..={last_slot} entries {}", entries.len())
        }
        Body::Accept { first_slot, chosen, entries } => {
            format!("Accept first_slot {first_slot} chosen {chosen} entries {}", entries.len())
        }
        Body::Snapshot { snapshot } => format!("Snapshot {}/{}", snapshot.meta.index, snapshot.meta.term),
        Body::Propose { commands } => format!("Propose {} commands", commands.len()),
        other => format!("{other:?}"),
    };
    format!("{} {body}", m.ballot)
}

/// The configurations of one run: election timeout 10 ticks, heartbeat 1, with flexible
/// quorums (a third of the seeds: any phase 2 quorum, the phase 1 quorum that meets it), leader
/// leases (a third, as for Raft: the longest safe lease) and small flow-control limits (half of
/// them) drawn per seed.
fn draw_configs(nodes: usize, rng: &mut ChaCha8Rng) -> Vec<PaxosConfig> {
    let voters: Vec<NodeId> = (1..=nodes as NodeId).collect();
    let flexible = rng.gen_ratio(1, 3);
    let phase2_quorum = rng.gen_range(1..=nodes);
    let limits = FlowLimits::draw(rng);
    let mut configs: Vec<PaxosConfig> = voters
        .iter()
        .map(|&id| {
            let mut config = PaxosConfig::new(id, voters.clone());
            config.election_timeout_ticks = ELECTION_TIMEOUT_TICKS as u32;
            config.heartbeat_interval_ticks = HEARTBEAT_INTERVAL_TICKS as u32;
            if flexible {
                // q1 + q2 = n + 1: every phase 1 quorum meets every phase 2 quorum.
                config.phase2_quorum = Some(phase2_quorum);
                config.phase1_quorum = Some(nodes + 1 - phase2_quorum);
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
        .collect();
    // From a value already drawn rather than a draw of its own, so that every other draw of a
    // seed, and every run without leases, stays as it was.
    let lease_reads = configs[0].seed.is_multiple_of(3);
    for config in &mut configs {
        config.lease_ticks = if lease_reads { config.max_lease_ticks() } else { 0 };
    }
    configs
}
