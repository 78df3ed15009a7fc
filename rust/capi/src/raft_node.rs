//! `senate_raft_node`: a Raft node over an in-memory log whose messages travel as encoded
//! frames, driven as from Python (`senate._core.RaftNode`): tick, step, propose, read index,
//! ready, advance, status.

use crate::call::{buffers, call, input, out, slice};
use crate::code::{senate_code, Result};
use crate::handle::{self, opaque_handle};
use crate::ready::{hand_out, senate_ready};
use crate::status::{senate_peer_status, senate_raft_status};
use crate::wal::{senate_wal, take_storage};
use bytes::Bytes;
use senate_core::{Config, MemNode, PersistMode, ProtocolId, RaftError, ReadOnlyOption};

/// A Raft node over an in-memory log (the core's `MemNode`). Not thread-safe: use it from
/// one thread at a time (it may move between threads).
#[allow(non_camel_case_types)]
pub struct senate_raft_node {
    _opaque: [u8; 0],
}

opaque_handle!(senate_raft_node, MemNode, 1);

/// The settings of a Raft node. Fill it with `senate_raft_config_default`, then change what
/// you need. Times are in ticks (`senate_raft_node_tick`).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct senate_raft_config {
    /// This node's id, > 0.
    pub id: u64,
    /// Ticks without a leader before a follower campaigns (randomised in `[t, 2t)`).
    pub election_timeout_ticks: u32,
    /// Ticks between a leader's heartbeats; below `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
    /// Run a pre-vote round before a real election (no term bump by a partitioned node).
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down.
    pub check_quorum: bool,
    /// Serve reads from the leader's lease instead of a quorum round (needs `check_quorum`).
    pub lease_reads: bool,
    /// A follower forwards proposals and reads to the leader instead of refusing them.
    pub forward_proposals: bool,
    /// The index already applied to the application's state (0 at first boot).
    pub applied: u64,
    /// The seed of the randomised election timeout; `senate_raft_config_default` sets the id.
    pub seed: u64,
    /// Entries per AppendEntries.
    pub max_entries_per_msg: usize,
    /// Bytes per AppendEntries.
    pub max_bytes_per_msg: usize,
    /// AppendEntries in flight per follower.
    pub max_inflight_msgs: usize,
    /// Bytes in flight per follower.
    pub max_inflight_bytes: usize,
    /// Uncommitted bytes a leader holds before it drops proposals.
    pub max_uncommitted_bytes: usize,
    /// Committed entries per Ready.
    pub max_committed_entries_per_ready: usize,
    /// Committed bytes per Ready.
    pub max_committed_bytes_per_ready: usize,
    /// Read-index requests pending at once.
    pub max_pending_reads: usize,
    /// The largest frame accepted from a peer; a proposal may be half of it.
    pub max_frame_bytes: usize,
}

impl senate_raft_config {
    fn from_core(config: &Config) -> senate_raft_config {
        senate_raft_config {
            id: config.id,
            election_timeout_ticks: config.election_timeout_ticks,
            heartbeat_interval_ticks: config.heartbeat_interval_ticks,
            pre_vote: config.pre_vote,
            check_quorum: config.check_quorum,
            lease_reads: config.read_only == ReadOnlyOption::LeaseBased,
            forward_proposals: config.forward_proposals,
            applied: config.applied,
            seed: config.seed,
            max_entries_per_msg: config.max_entries_per_msg,
            max_bytes_per_msg: config.max_bytes_per_msg,
            max_inflight_msgs: config.max_inflight_msgs,
            max_inflight_bytes: config.max_inflight_bytes,
            max_uncommitted_bytes: config.max_uncommitted_bytes,
            max_committed_entries_per_ready: config.max_committed_entries_per_ready,
            max_committed_bytes_per_ready: config.max_committed_bytes_per_ready,
            max_pending_reads: config.max_pending_reads,
            max_frame_bytes: config.max_frame_bytes,
        }
    }

    fn to_core(self, voters: Vec<u64>) -> Config {
        let mut config = Config::new(self.id, voters);
        config.election_timeout_ticks = self.election_timeout_ticks;
        config.heartbeat_interval_ticks = self.heartbeat_interval_ticks;
        config.pre_vote = self.pre_vote;
        config.check_quorum = self.check_quorum;
        config.read_only = if self.lease_reads { ReadOnlyOption::LeaseBased } else { ReadOnlyOption::Safe };
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
        RaftError::InvalidConfig { field: "read_only", problem } => {
            RaftError::InvalidConfig { field: "lease_reads", problem }
        }
        other => other,
    }
}

/// Fills `*config` with the defaults for node `id`, those of the Python binding (the seed is
/// the id). Thread-safe.
///
/// # Safety
/// `out` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_config_default(id: u64, config: *mut senate_raft_config) -> senate_code {
    call(|| {
        let mut defaults = Config::new(id, vec![id]);
        defaults.election_timeout_ticks = senate_core::DEFAULT_ELECTION_TIMEOUT_TICKS;
        defaults.heartbeat_interval_ticks = senate_core::DEFAULT_HEARTBEAT_INTERVAL_TICKS;
        *out(config, "config")? = senate_raft_config::from_core(&defaults);
        Ok(())
    })
}

/// Makes a node of the cluster whose members are the `voter_count` ids at `voters` (this
/// node among them), over an empty in-memory log; the handle goes to `*node`. Free it with
/// `senate_raft_node_free`. `SENATE_CODE_INVALID_CONFIG` names the bad field. Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for reads; `voters` holds `voter_count` ids; `node` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_new(
    config: *const senate_raft_config,
    voters: *const u64,
    voter_count: usize,
    node: *mut *mut senate_raft_node,
) -> senate_code {
    call(|| {
        let node = out(node, "node")?;
        let config = input(config, "config")?.to_core(slice(voters, voter_count, "voters")?.to_vec());
        // Validated before anything is built; errors name the C field.
        config.validate().map_err(c_field_name)?;
        *node = handle::into_raw::<senate_raft_node>(MemNode::new(&config).map_err(c_field_name)?);
        Ok(())
    })
}

/// As `senate_raft_node_new`, but the node starts from what the log `wal` recovered (its
/// hard state, snapshot and entries; `config->applied` is raised to the snapshot's index, as
/// the application restores from it) and persists through that log: write each Ready with
/// `senate_wal_write` before sending its persisted messages and before `advance`. A log gives
/// its recovered state to one node only. Thread-safe (for distinct logs).
///
/// # Safety
/// As `senate_raft_node_new`; `wal` is NULL or a live log handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_new_from_wal(
    config: *const senate_raft_config,
    voters: *const u64,
    voter_count: usize,
    wal: *mut senate_wal,
    node: *mut *mut senate_raft_node,
) -> senate_code {
    call(|| {
        let node = out(node, "node")?;
        let mut config = input(config, "config")?.to_core(slice(voters, voter_count, "voters")?.to_vec());
        config.validate().map_err(c_field_name)?;
        let storage = take_storage(wal, ProtocolId::Raft, &config.voters, &mut config.applied)?;
        let core = MemNode::with_mode(&config, storage, PersistMode::ByCaller).map_err(c_field_name)?;
        *node = handle::into_raw::<senate_raft_node>(core);
        Ok(())
    })
}

/// Frees a node; NULL is a no-op. Readies it handed out stay valid (they own their data).
///
/// # Safety
/// `node` is NULL or a live node handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_free(node: *mut senate_raft_node) -> senate_code {
    call(|| handle::free(node, "node"))
}

unsafe fn node_mut<'a>(node: *mut senate_raft_node) -> Result<&'a mut MemNode> {
    handle::get_mut(node, "node")
}

/// Advances the node's clock by `ticks` ticks (elections and heartbeats are counted in ticks).
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_tick(node: *mut senate_raft_node, ticks: u64) -> senate_code {
    call(|| {
        let node = node_mut(node)?;
        for _ in 0..ticks {
            node.raw.tick();
        }
        Ok(())
    })
}

/// Steps every frame in the `len` bytes at `frames` (whole frames, as a peer's Ready message
/// holds them); `*stepped` (may be NULL) gets how many. Frames before a malformed one are
/// stepped; then `SENATE_CODE_MALFORMED_FRAME` is returned (drop that connection).
///
/// # Safety
/// `node` is NULL or a live node handle; `frames` holds `len` bytes; `stepped` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_step(
    node: *mut senate_raft_node,
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

/// Steps the whole frames at the start of the `len` bytes at `data` (a peer's byte stream);
/// `*consumed` gets the bytes they took: keep the rest, complete it with more input. A frame
/// whose stated length exceeds `max_frame_bytes` is refused as soon as its header is in.
///
/// # Safety
/// `node` is NULL or a live node handle; `data` holds `len` bytes; `consumed` is NULL or
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_step_stream(
    node: *mut senate_raft_node,
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
pub unsafe extern "C" fn senate_raft_node_report_unreachable(node: *mut senate_raft_node, peer: u64) -> senate_code {
    call(|| {
        node_mut(node)?.raw.report_unreachable(peer);
        Ok(())
    })
}

/// Proposes one entry of `len` bytes (copied). A follower forwards it to the leader when
/// `forward_proposals` is set; else `SENATE_CODE_NOT_LEADER`.
///
/// # Safety
/// `node` is NULL or a live node handle; `data` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_propose(
    node: *mut senate_raft_node,
    data: *const u8,
    len: usize,
) -> senate_code {
    call(|| {
        let data = Bytes::copy_from_slice(slice(data, len, "data")?);
        Ok(node_mut(node)?.raw.propose(data)?)
    })
}

/// Proposes `count` entries at once (one batch, all or none): entry `i` is `lens[i]` bytes at
/// `datas[i]` (copied).
///
/// # Safety
/// `node` is NULL or a live node handle; `datas` and `lens` hold `count` elements each;
/// `datas[i]` holds `lens[i]` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_propose_batch(
    node: *mut senate_raft_node,
    datas: *const *const u8,
    lens: *const usize,
    count: usize,
) -> senate_code {
    call(|| {
        let batch = buffers(datas, lens, count, "datas")?;
        Ok(node_mut(node)?.raw.propose_batch(batch)?)
    })
}

/// Asks for a linearizable read: a later Ready's read states carry `request_id` with the
/// index to wait for (serve the read once that index is applied).
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_read_index(node: *mut senate_raft_node, request_id: u64) -> senate_code {
    call(|| Ok(node_mut(node)?.raw.read_index(request_id)?))
}

/// Asks the leader to hand leadership to `peer`.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_transfer_leader(node: *mut senate_raft_node, peer: u64) -> senate_code {
    call(|| Ok(node_mut(node)?.raw.transfer_leader(peer)?))
}

/// Starts an election now (or asks the leader it may still back to hand over).
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_campaign(node: *mut senate_raft_node) -> senate_code {
    call(|| {
        node_mut(node)?.raw.campaign();
        Ok(())
    })
}

/// `*has_ready` becomes true when `senate_raft_node_ready` has work to hand out.
///
/// # Safety
/// `node` is NULL or a live node handle; `has_ready` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_has_ready(
    node: *const senate_raft_node,
    has_ready: *mut bool,
) -> senate_code {
    call(|| {
        let has_ready = out(has_ready, "has_ready")?;
        *has_ready = handle::get(node, "node")?.raw.has_ready();
        Ok(())
    })
}

/// Takes the work the node asks of its caller: `*ready` gets a Ready handle (free it with
/// `senate_ready_free`), or NULL when there is none. The node persisted it to its in-memory
/// log already: send its messages, apply its committed entries, serve its read states, then
/// call `senate_raft_node_advance`. (A node started from a log persists nothing itself: see
/// `senate_raft_node_new_from_wal`.)
///
/// # Safety
/// `node` is NULL or a live node handle; `ready` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_ready(
    node: *mut senate_raft_node,
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

/// As `senate_raft_node_ready`, but only when the Ready needs no write (a leader's reads and
/// messages between writes): `*ready` is NULL otherwise.
///
/// # Safety
/// As `senate_raft_node_ready`.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_ready_without_write(
    node: *mut senate_raft_node,
    ready: *mut *mut senate_ready,
) -> senate_code {
    call(|| {
        let ready = out(ready, "ready")?;
        *ready = std::ptr::null_mut();
        let taken = node_mut(node)?.try_ready_without_write()?;
        hand_out(taken, ready);
        Ok(())
    })
}

/// Reports the oldest Ready handed out and not yet advanced as carried out (persisted,
/// applied). Call it once per Ready, in order.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_advance(node: *mut senate_raft_node) -> senate_code {
    call(|| {
        node_mut(node)?.advance();
        Ok(())
    })
}

/// Fills `*status` with the node's state now. Its followers' progress (at a leader) is read
/// with `senate_raft_node_peers`.
///
/// # Safety
/// `node` is NULL or a live node handle; `status` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_status(
    node: *const senate_raft_node,
    status: *mut senate_raft_status,
) -> senate_code {
    call(|| {
        let status = out(status, "status")?;
        *status = senate_raft_status::from_core(&handle::get(node, "node")?.status());
        Ok(())
    })
}

/// At a leader, the progress of each follower: writes `min(capacity, n)` entries to `peers`
/// and `n` to `*count` (call with `capacity` 0 and `peers` NULL to learn `n`). `n` is 0 at a
/// node that is not the leader.
///
/// # Safety
/// `node` is NULL or a live node handle; `peers` is valid for `capacity` writes (or NULL when
/// `capacity` is 0); `count` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_peers(
    node: *const senate_raft_node,
    peers: *mut senate_peer_status,
    capacity: usize,
    count: *mut usize,
) -> senate_code {
    call(|| {
        let count = out(count, "count")?;
        let status = handle::get(node, "node")?.status();
        // Checked as a slice to refuse NULL with a capacity and impossible capacities.
        slice(peers.cast_const(), capacity, "peers")?;
        for (i, peer) in status.peers.iter().take(capacity).enumerate() {
            peers.add(i).write(senate_peer_status::from_core(peer));
        }
        *count = status.peers.len();
        Ok(())
    })
}

/// Compacts the log up to `index` (applied), keeping the `len` bytes at `data` (copied) as
/// the application's snapshot at that index, which a lagging follower is sent.
///
/// # Safety
/// `node` is NULL or a live node handle; `data` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_compact(
    node: *mut senate_raft_node,
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

/// Simulates a crash and restart: the node forgets everything but what its log persisted,
/// and restarts with `applied` as its applied index.
///
/// # Safety
/// `node` is NULL or a live node handle.
#[no_mangle]
pub unsafe extern "C" fn senate_raft_node_crash_restart(node: *mut senate_raft_node, applied: u64) -> senate_code {
    call(|| Ok(node_mut(node)?.crash_restart(applied)?))
}
