//! Multi-Paxos beside Raft: ballots, the single-decree synod, and the replicated log, sans-IO
//! with the same `Ready` contract as Raft so one driver, one log and one runtime serve both.
//!
//! # The replicated log: classic Multi-Paxos with per-slot ballots
//!
//! [`PaxosNode`] has the public shape of Raft's `MemNode` and implements the driver's
//! [`Consensus`](crate::driver::Consensus) trait. Every node is an acceptor; one at a time
//! (usually) is the distinguished proposer, the leader.
//!
//! **State.** An acceptor holds a promise (a [`Ballot`]; it never decreases) and, per slot,
//! the value it accepted and the ballot it accepted it at. Slots up to its *chosen index* hold
//! chosen values and are never rewritten. Its *position* at ballot `b` is the end of the run of
//! slots after its chosen index that it accepted at `b` (its chosen index when there are none).
//!
//! **Persistence** (so the shared WAL and `MemStorage` serve unchanged): slot `s` accepted at
//! `b` with value `v` is `Entry { index: s, term: b.to_u64(), kind: Normal, data: v }` (a gap
//! filler is a `NoOp`); the promise is `HardState { term: promised.to_u64(), vote: 0, commit:
//! chosen }`. Promises and acceptances are durable before any message asserting them leaves
//! (`persisted_messages`). Because the log has Raft's append semantics (writing slot `s` drops
//! the stored slots above it), a write rewrites every slot after the ones an accept changed,
//! unchanged: an accepted value is never lost (see `log.rs`).
//!
//! **Phase 1.** A candidate takes `b = Ballot::next_after(max ballot seen, id)`, promises it
//! itself (durably) and sends `Prepare { b, from_slot: chosen + 1 }`. An acceptor whose
//! promise is below `b` raises it to `b` (durably) and answers `Promise { accepted slots in
//! [from_slot, last] with their ballots, chosen, first slot, last slot }`, cut at the message
//! limits (the candidate asks for the next page with a Prepare at the same ballot); else
//! `Nack { promised }`. With a phase 1 quorum of complete promises that includes its own
//! (counted once durable) the candidate leads: for every slot from `from_slot` to the highest slot reported
//! it adopts the value of the highest accepted ballot (a `NoOp` for a slot nobody reported),
//! slots up to the highest reported chosen index are chosen, and it proposes all of them again
//! at `b`. A promiser whose first slot is above `from_slot` compacted slots the candidate
//! lacks: the candidate gives up the campaign and catches up from the snapshot that promiser
//! sends with its promise. A candidate that would adopt more than `max_phase1_slots` gives up
//! too. Paging costs a round trip per page, so a long phase 1 must not be overtaken: an
//! acceptor that gets a Prepare at the ballot it promised (a page request, or the keep-alive a
//! candidate sends each heartbeat interval to the promisers it has done with) restarts its
//! election timer; and a candidate that hears from a promiser more than a page of chosen slots
//! ahead of it sends that promiser a `TimeoutNow`, so the most advanced node campaigns (it
//! pages only what was accepted past its chosen index) while this campaign goes on.
//!
//! **Phase 2.** The leader pipelines `Accept { b, first_slot, entries, chosen }` to each
//! follower within a window (`max_inflight_msgs`, `max_inflight_bytes`; `max_entries_per_msg`
//! and `max_bytes_per_msg` per message). An acceptor takes it if `b` is at least its promise
//! (raising the promise if needed) and `first_slot` is at most its position at `b` plus one;
//! otherwise it answers `AcceptRejected { position }` and the leader backs up and probes from
//! there. It answers `Accepted { b, accepted_to: position }` once durable. The leader chooses
//! the highest slot that a phase 2 quorum (itself included, once its own write is durable) has
//! accepted, with every slot before it, at `b`. The chosen index travels with every Accept and
//! leader heartbeat, and at once (a heartbeat of its own) to a follower that waits for it: one
//! that forwarded a proposal or was answered a read; a follower sets `chosen = max(chosen,
//! min(leader_chosen, position at b))`: only slots that hold the leader's values. A follower
//! that answers heartbeats but makes no progress for two heartbeat intervals gets its
//! outstanding slots again; one the transport reports unreachable is probed (one Accept until
//! it answers) instead of pipelined into.
//!
//! **Leader election under partial connectivity** (OmniPaxos's quorum-connected
//! heartbeats, `election.rs`). Every node heartbeats every peer each heartbeat interval and
//! records whom it heard from. A follower that has not heard from a leader within its
//! randomized election timeout (in `[et, 2·et)`, seeded RNG) campaigns only if it heard from
//! enough peers within `et` to form a phase 1 quorum with itself. A leader that cannot form a
//! phase 2 quorum with the peers it heard from steps down at the end of each election timeout
//! (check-quorum). An acceptor that heard from its leader within `et` refuses a Prepare (a
//! `Nack`, without raising its promise) unless the Prepare is a leadership transfer or comes
//! from that leader: a node that only lost its own link to the leader cannot depose it.
//!
//! **Forwarding, reads, transfer.** A follower forwards proposals, read requests and transfer
//! requests to its leader. A read gets the highest slot the leader has assigned as its index
//! and is confirmed once a phase 2 quorum acknowledged a heartbeat round at `b` issued after it
//! (`read_index.rs`); read states come out in `Ready.read_states`. `transfer_leader(to)` sends
//! `to` a `TimeoutNow`; it campaigns at once with a Prepare naming the ballot that asked.
//!
//! **Leader leases** (opt-in, `lease_ticks`; `lease.rs`). A leader answers reads at once for
//! `lease_ticks` after a heartbeat round a phase 2 quorum acknowledged; the acknowledging
//! acceptors refuse other candidates for an election timeout after the heartbeat, so no higher
//! ballot chooses anything meanwhile. The lease is shorter than that by a drift margin, void
//! after a TimeoutNow, and a restarted acceptor refuses for its first election timeout.
//!
//! **Catch-up.** A follower behind the leader's first slot gets the leader's snapshot; it is
//! installed (slots after it are kept), persisted and handed out in `Ready.snapshot` for the
//! application to restore, as with Raft. `compact` snapshots chosen and applied slots only.
//! With `PaxosNode::stream_snapshots` a snapshot leaves out of band (`snapshot_send.rs`).
//!
//! **Flexible quorums.** `phase1_quorum` and `phase2_quorum` (majorities by default) must
//! intersect: `q1 + q2 > n`, checked by `PaxosConfig::validate`.
//!
//! **Roles and epoch.** Follower, Candidate (phase 1), Leader map to `NodeRole`; the epoch is
//! the promised ballot's `to_u64`, which grows with every leadership.
//!
//! **Membership changes** (`membership.rs`): a `ConfChange` is chosen in a slot `s` like any
//! command and governs the slots from `s + α` on (Lamport's α, `conf_window_slots`); a leader
//! keeps its log within α slots of its chosen index, and phase 1 needs a majority of every
//! configuration that governs a slot the candidate may propose. One log, no new instance.

pub mod acceptor;
pub mod ballot;
pub mod candidate;
pub mod config;
pub mod consensus;
pub mod core;
pub mod election;
pub mod lease;
pub mod log;
pub mod membership;
pub mod message;
pub mod node;
pub mod read_index;
pub mod replication;
pub mod snapshot_send;
pub mod synod;
pub mod validate;

pub use ballot::{Ballot, MAX_NODE_ID, MAX_ROUND};
pub use config::PaxosConfig;
pub use message::{Body, PaxosMessage, Slot, MAX_SLOT};
pub use node::{PaxosNode, PaxosStatus};
