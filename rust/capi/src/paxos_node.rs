//! `senate_paxos_node`: a Multi-Paxos node over an in-memory log, with the surface of
//! `senate_raft_node` (tick, step, propose, read index, ready, advance, status): the same
//! Readies (`senate_ready`), frames of its own protocol.

use crate::call::{buffers, call, input, out, slice};
use crate::code::{senate_code, Result};
use crate::handle::{self, opaque_handle};
use crate::ready::{hand_out, senate_ready};
use crate::status::senate_role;
use crate::wal::{senate_wal, take_storage};
use bytes::Bytes;
use senate_core::driver::NodeRole;
use senate_core::paxos::{PaxosConfig, PaxosNode, PaxosStatus};
use senate_core::{PersistMode, ProtocolId, RaftError};

/// A Multi-Paxos node over an in-memory log (the core's `PaxosNode`). Not thread-safe: use it
/// from one thread at a time (it may move between threads).
#[allow(non_camel_case_types)]
pub struct senate_paxos_node {
    _opaque: [u8; 0],
}

opaque_handle!(senate_paxos_node, PaxosNode, 6);

/// The settings of a Multi-Paxos node. Fill it with `senate_paxos_config_default`, then
/// change what you need. Times are in ticks.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_paxos_config {
    /// This node's id, > 0.
    pub id: u64,
    /// Ticks without a leader before a node runs phase 1 (randomised in `[t, 2t)`).
    pub election_timeout_ticks: u32,
    /// Ticks between a leader's heartbeats; below `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
    /// Acceptors whose promises elect a leader (Flexible Paxos); 0: a majority.
    pub phase1_quorum: usize,
    /// Acceptors whose acceptances choose a slot; 0: a majority. Quorums must intersect:
    /// `phase1_quorum + phase2_quorum > voters`.
    pub phase2_quorum: usize,
    /// Serve reads from the leader's lease (the longest safe one) instead of a quorum round.
    pub lease_reads: bool,
    /// A follower forwards proposals and reads to the leader instead of refusing them.
    pub forward_proposals: bool,
    /// The slot already applied to the application's state (0 at first boot).
    pub applied: u64,
    /// The seed of the randomised election timeout; `senate_paxos_config_default` sets the id.
    pub seed: u64,
    /// Entries per accept message.
    pub max_entries_per_msg: usize,
    /// Bytes per accept message.
    pub max_bytes_per_msg: usize,
    /// Accept messages in flight per acceptor.
    pub max_inflight_msgs: usize,
    /// Bytes in flight per acceptor.
    pub max_inflight_bytes: usize,
    /// Unchosen bytes a leader holds before it drops proposals.
    pub max_uncommitted_bytes: usize,
    /// Chosen entries per Ready.
    pub max_committed_entries_per_ready: usize,
    /// Chosen bytes per Ready.
    pub max_committed_bytes_per_ready: usize,
    /// Read-index requests pending at once.
    pub max_pending_reads: usize,
    /// The largest frame accepted from a peer; a proposal may be half of it.
    pub max_frame_bytes: usize,
}

impl senate_paxos_config {
    fn to_core(self, voters: Vec<u64>) -> PaxosConfig {
        let mut config = PaxosConfig::new(self.id, voters);
        config.election_timeout_ticks = self.election_timeout_ticks;
        config.heartbeat_interval_ticks = self.heartbeat_interval_ticks;
        config.phase1_quorum = (self.phase1_quorum != 0).then_some(self.phase1_quorum);
        config.phase2_quorum = (self.phase2_quorum != 0).then_some(self.phase2_quorum);
        if self.lease_reads {
            config.enable_lease_reads();
        }
        config.forward_proposals = self.forward_proposals;
        config.applied = self.applied;
        config.seed = self.seed;
        config.max_entries_per_msg = self.max_entries_per_msg;
        config.max_bytes_per_msg = self.max_bytes_per_msg;
        config.max_inflight_msgs = self.max_inflight_msgs;
        config.max_inflight_bytes = self.max_inflight_bytes;
        config.max_uncommitted_bytes = self.max_uncommitted_bytes;
        config.max_committed_entries_per_ready = self.max_committed_entries_per_ready;
        config.max_committed_bytes_per_ready = self.max_committed_bytes_per_ready;
        config.max_pending_reads = self.max_pending_reads;
        config.max_frame_bytes = self.max_frame_bytes;
        config
    }
}

/// A config error naming the C field that set the bad value.
fn c_field_name(err: RaftError) -> RaftError {
    match err {
        RaftError::InvalidConfig { field: "lease_ticks", problem } => {
            RaftError::InvalidConfig { field: "lease_reads", problem }
        }
        other => other,
    }
}

/// A Multi-Paxos node's state at the moment `senate_paxos_node_status` was called. Node ids
/// are > 0; 0 means "none".
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_paxos_status {
    pub id: u64,
    /// Follower, candidate (phase 1) or leader; never `SENATE_ROLE_PRE_CANDIDATE`.
    pub role: senate_role,
    /// The known leader, or 0.
    pub leader: u64,
    /// The promised ballot (the leader's own while it leads): its round ...
    pub ballot_round: u64,
    /// ... and the node that owns it. Ballots order by round, then node.
    pub ballot_node: u64,
    /// The highest slot known chosen.
    pub chosen: u64,
    /// The highest slot handed out to apply.
    pub applying: u64,
    /// The first slot still in the log (after the snapshot).
    pub first_slot: u64,
    /// The last slot in the log.
    pub last_slot: u64,
    /// Peers heard from within the election timeout.
    pub connected_peers: usize,
}

impl senate_paxos_status {
    fn from_core(status: &PaxosStatus) -> senate_paxos_status {
        senate_paxos_status {
            id: status.id,
            role: match status.role {
                NodeRole::Follower => senate_role::Follower,
                NodeRole::Candidate => senate_role::Candidate,
                NodeRole::Leader => senate_role::Leader,
            },
            leader: status.leader.unwrap_or(0),
            ballot_round: status.promised.round,
            ballot_node: status.promised.node,
            chosen: status.chosen,
            applying: status.applying,
            first_slot: status.first_slot,
            last_slot: status.last_slot,
            connected_peers: status.connected_peers,
        }
    }
}

/// Fills `*config` with the defaults for node `id`, those of the Python binding (the seed is
/// the id). Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_config_default(id: u64, config: *mut senate_paxos_config) -> senate_code {
    call(|| {
        let d = PaxosConfig::new(id, vec![id]);
        *out(config, "config")? = senate_paxos_config {
            id,
            election_timeout_ticks: senate_core::DEFAULT_ELECTION_TIMEOUT_TICKS,
            heartbeat_interval_ticks: senate_core::DEFAULT_HEARTBEAT_INTERVAL_TICKS,
            phase1_quorum: 0,
            phase2_quorum: 0,
            lease_reads: false,
            forward_proposals: d.forward_proposals,
            applied: d.applied,
            seed: d.seed,
            max_entries_per_msg: d.max_entries_per_msg,
            max_bytes_per_msg: d.max_bytes_per_msg,
            max_inflight_msgs: d.max_inflight_msgs,
            max_inflight_bytes: d.max_inflight_bytes,
            max_uncommitted_bytes: d.max_uncommitted_bytes,
            max_committed_entries_per_ready: d.max_committed_entries_per_ready,
            max_committed_bytes_per_ready: d.max_committed_bytes_per_ready,
            max_pending_reads: d.max_pending_reads,
            max_frame_bytes: d.max_frame_bytes,
        };
        Ok(())
    })
}

/// Makes a node of the cluster whose members are the `voter_count` ids at `voters` (this
/// node among them), over an empty in-memory log; the handle goes to `*node`. Free it with
/// `senate_paxos_node_free`. `SENATE_CODE_INVALID_CONFIG` names the bad field. Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for reads; `voters` holds `voter_count` ids; `node` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_new(
    config: *const senate_paxos_config,
    voters: *const u64,
    voter_count: usize,
    node: *mut *mut senate_paxos_node,
) -> senate_code {
    call(|| {
        let node = out(node, "node")?;
        let config = input(config, "config")?.to_core(slice(voters, voter_count, "voters")?.to_vec());
        config.validate().map_err(c_field_name)?;
        *node = handle::into_raw::<senate_paxos_node>(PaxosNode::new(&config).map_err(c_field_name)?);
        Ok(())
    })
}

/// As `senate_paxos_node_new`, but the node starts from what the log `wal` (a Paxos log)
/// recovered and persists through it, as `senate_raft_node_new_from_wal`.
///
/// # Safety
/// As `senate_paxos_node_new`; `wal` is NULL or a live log handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_new_from_wal(
    config: *const senate_paxos_config,
    voters: *const u64,
    voter_count: usize,
    wal: *mut senate_wal,
    node: *mut *mut senate_paxos_node,
) -> senate_code {
    call(|| {
        let node = out(node, "node")?;
        let mut config = input(config, "config")?.to_core(slice(voters, voter_count, "voters")?.to_vec());
        config.validate().map_err(c_field_name)?;
        let storage = take_storage(wal, ProtocolId::Paxos, &config.voters, &mut config.applied)?;
        let core = PaxosNode::with_mode(&config, storage, PersistMode::ByCaller)?;
        *node = handle::into_raw::<senate_paxos_node>(core);
        Ok(())
    })
}

/// Frees a node; NULL is a no-op. Readies it handed out stay valid (they own their data).
///
/// # Safety
/// `node` is NULL or a live node handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_free(node: *mut senate_paxos_node) -> senate_code {
    call(|| handle::free(node, "node"))
}

unsafe fn node_mut<'a>(node: *mut senate_paxos_node) -> Result<&'a mut PaxosNode> {
    handle::get_mut(node, "node")
}

/// Advances the node's clock by `ticks` ticks.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_tick(node: *mut senate_paxos_node, ticks: u64) -> senate_code {
    call(|| {
        let node = node_mut(node)?;
        for _ in 0..ticks {
            node.tick();
        }
        Ok(())
    })
}

/// Steps every frame in the `len` bytes at `frames`; `*stepped` (may be NULL) gets how many.
/// As `senate_raft_node_step`.
///
/// # Safety
/// `node` is NULL or a live node handle; `frames` holds `len` bytes; `stepped` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_step(
    node: *mut senate_paxos_node,
    frames: *const u8,
    len: usize,
    stepped: *mut usize,
) -> senate_code {
    call(|| {
        let frames = Bytes::copy_from_slice(slice(frames, len, "frames")?);
        let count = node_mut(node)?.step_frames(&frames)?;
        if let Some(stepped) = stepped.as_mut() {
            *stepped = count;
        }
        Ok(())
    })
}

/// Steps the whole frames at the start of a peer's byte stream; `*consumed` gets the bytes
/// they took. As `senate_raft_node_step_stream`.
///
/// # Safety
/// `node` is NULL or a live node handle; `data` holds `len` bytes; `consumed` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_step_stream(
    node: *mut senate_paxos_node,
    data: *const u8,
    len: usize,
    consumed: *mut usize,
) -> senate_code {
    call(|| {
        let consumed = out(consumed, "consumed")?;
        let data = Bytes::copy_from_slice(slice(data, len, "data")?);
        *consumed = node_mut(node)?.step_stream(&data)?;
        Ok(())
    })
}

/// Tells the node that its last message to `peer` could not be delivered.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_report_unreachable(node: *mut senate_paxos_node, peer: u64) -> senate_code {
    call(|| {
        node_mut(node)?.report_unreachable(peer);
        Ok(())
    })
}

/// Proposes one entry of `len` bytes (copied).
///
/// # Safety
/// `node` is NULL or a live node handle; `data` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_propose(
    node: *mut senate_paxos_node,
    data: *const u8,
    len: usize,
) -> senate_code {
    call(|| {
        let data = Bytes::copy_from_slice(slice(data, len, "data")?);
        Ok(node_mut(node)?.propose(data)?)
    })
}

/// Proposes `count` entries at once: entry `i` is `lens[i]` bytes at `datas[i]` (copied).
///
/// # Safety
/// `node` is NULL or a live node handle; `datas` and `lens` hold `count` elements each;
/// `datas[i]` holds `lens[i]` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_propose_batch(
    node: *mut senate_paxos_node,
    datas: *const *const u8,
    lens: *const usize,
    count: usize,
) -> senate_code {
    call(|| {
        let batch = buffers(datas, lens, count, "datas")?;
        Ok(node_mut(node)?.propose_batch(batch)?)
    })
}

/// Asks for a linearizable read; a later Ready's read states carry `request_id`.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_read_index(node: *mut senate_paxos_node, request_id: u64) -> senate_code {
    call(|| Ok(node_mut(node)?.read_index(request_id)?))
}

/// Asks the leader to hand leadership to `peer`.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_transfer_leader(node: *mut senate_paxos_node, peer: u64) -> senate_code {
    call(|| Ok(node_mut(node)?.transfer_leader(peer)?))
}

/// Runs for leadership now (phase 1 with a higher ballot).
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_campaign(node: *mut senate_paxos_node) -> senate_code {
    call(|| {
        node_mut(node)?.campaign();
        Ok(())
    })
}

/// `*has_ready` becomes true when `senate_paxos_node_ready` has work to hand out.
///
/// # Safety
/// `node` is NULL or a live node handle; `has_ready` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_has_ready(
    node: *const senate_paxos_node,
    has_ready: *mut bool,
) -> senate_code {
    call(|| {
        let has_ready = out(has_ready, "has_ready")?;
        *has_ready = handle::get(node, "node")?.has_ready();
        Ok(())
    })
}

/// Takes the work the node asks of its caller, as `senate_raft_node_ready`: `*ready` gets a
/// Ready handle (free it with `senate_ready_free`), or NULL when there is none.
///
/// # Safety
/// `node` is NULL or a live node handle; `ready` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_ready(
    node: *mut senate_paxos_node,
    ready: *mut *mut senate_ready,
) -> senate_code {
    call(|| {
        let ready = out(ready, "ready")?;
        *ready = std::ptr::null_mut();
        let taken = node_mut(node)?.try_ready()?;
        hand_out(taken, ready);
        Ok(())
    })
}

/// Reports the oldest Ready handed out and not yet advanced as carried out.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_advance(node: *mut senate_paxos_node) -> senate_code {
    call(|| {
        node_mut(node)?.advance();
        Ok(())
    })
}

/// Fills `*status` with the node's state now.
///
/// # Safety
/// `node` is NULL or a live node handle; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_status(
    node: *const senate_paxos_node,
    status: *mut senate_paxos_status,
) -> senate_code {
    call(|| {
        let status = out(status, "status")?;
        *status = senate_paxos_status::from_core(&handle::get(node, "node")?.status());
        Ok(())
    })
}

/// Compacts the log up to slot `index` (applied), keeping the `len` bytes at `data` (copied)
/// as the application's snapshot at that slot.
///
/// # Safety
/// `node` is NULL or a live node handle; `data` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_paxos_node_compact(
    node: *mut senate_paxos_node,
    index: u64,
    data: *const u8,
    len: usize,
) -> senate_code {
    call(|| {
        let data = Bytes::copy_from_slice(slice(data, len, "data")?);
        node_mut(node)?.compact(index, data)?;
        Ok(())
    })
}
