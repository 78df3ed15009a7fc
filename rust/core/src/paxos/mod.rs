//! Multi-Paxos beside Raft: ballots, the single-decree synod, and the replicated log, sans-IO
//! with the same `Ready` contract as Raft so one driver, one log and one runtime serve both.

pub mod ballot;
pub mod synod;

pub use ballot::{Ballot, MAX_NODE_ID, MAX_ROUND};
