//! What happens to the cluster from outside: faults strike and heal, clients make requests,
//! the application compacts its log.

use super::{tolerate, SimCluster};
use crate::driver::Consensus;
use crate::raft::storage::Storage;
use crate::sim::app::AppState;
use crate::sim::checker::{Check, Property, Violation};
use crate::sim::client::ClientAction;
use crate::sim::faults::{CrashPoint, FaultAction};
use crate::sim::protocol::{SafetyChecker, SimProtocol};
use crate::sim::trace::Event;

impl<P: SimProtocol> SimCluster<'_, P> {
    pub(super) fn apply_fault(&mut self, fault: FaultAction) -> Check {
        self.trace.record_bytes(format!("{fault:?}").as_bytes());
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: fault {fault:?}"));
        match fault {
            FaultAction::Partition { side_a, both_ways } => {
                self.network.partition(&side_a, both_ways);
                if both_ways {
                    self.faults.partitions += 1;
                } else {
                    self.faults.one_way_partitions += 1;
                }
                Ok(())
            }
            FaultAction::HealPartition => {
                self.network.heal();
                Ok(())
            }
            FaultAction::Crash { position, point } => self.crash(position, point),
            FaultAction::Restart { position, keep_app } => self.restart(position, keep_app),
            FaultAction::SlowStart { position } => {
                self.nodes[position].slow = true;
                self.faults.slow_periods += 1;
                Ok(())
            }
            FaultAction::SlowEnd { position } => {
                self.nodes[position].slow = false;
                Ok(())
            }
        }
    }

    pub(super) fn crash(&mut self, position: usize, point: CrashPoint) -> Check {
        if self.nodes[position].down {
            return Ok(());
        }
        if point != CrashPoint::Idle {
            // One more input whose outcome dies with the node: a proposal and a tick.
            let payload = self.workload.payload(&mut self.rng);
            self.protocol.crash_input(self.nodes[position].driver.core_mut(), payload);
        }
        if point == CrashPoint::AfterPersist {
            // Every write in flight became durable, and so did the write of a Ready taken for
            // the input, but nothing that waited for them was sent or applied.
            let now_ns = self.now_ns();
            let sim = &mut self.nodes[position];
            let mut lost = Vec::new();
            if let Some(id) = sim.disk.complete_all() {
                sim.driver.writes_done(id, now_ns, &mut lost);
            }
            let _lost_in_crash = sim.driver.poll(now_ns, &mut lost);
            let last_write = lost.iter().rev().find_map(|a| match a {
                crate::driver::Action::Write { id, .. } => Some(*id),
                _ => None,
            });
            if let Some(id) = last_write {
                sim.driver.writes_done(id, now_ns, &mut Vec::new());
            }
            // Advances the core past them: the storage, the disk here, now holds them.
            let _advanced = sim.driver.poll(now_ns, &mut Vec::new());
            self.sync_checker(position)?;
        }
        // Writes still in flight are lost with the process.
        self.nodes[position].disk.lose_pending();
        self.nodes[position].snapshot = None;
        self.nodes[position].restore = None;
        self.nodes[position].down = true;
        if self.leader_hint == Some(position) {
            self.leader_hint = None;
        }
        self.faults.crashes += 1;
        Ok(())
    }

    /// Restarts a crashed node from its storage. Its application either survived (`keep_app`)
    /// or is rebuilt from the latest snapshot.
    pub(super) fn restart(&mut self, position: usize, keep_app: bool) -> Check {
        let protocol = self.protocol;
        let sim = &mut self.nodes[position];
        if !sim.down || sim.retired {
            return Ok(());
        }
        let id = sim.id;
        // An application that survived the crash but is older than the snapshot the log holds
        // (the crash came after a snapshot from the leader was persisted and before it was
        // restored) is rebuilt from that snapshot, as the runtime does at every start.
        let stored_snapshot_index = protocol.storage(sim.driver.core()).snapshot().meta.index;
        if !keep_app || sim.app.applied_index < stored_snapshot_index {
            let snapshot = protocol.storage(sim.driver.core()).snapshot();
            sim.app = if snapshot.is_empty() {
                AppState::default()
            } else {
                AppState::decode(&snapshot.data).ok_or_else(|| {
                    Violation::new(
                        Property::NodeError,
                        format!("node {id}: stored snapshot at {} has no application state", snapshot.meta.index),
                    )
                })?
            };
        }
        protocol
            .crash_restart(sim.driver.core_mut(), sim.app.applied_index)
            .map_err(|error| Violation::new(Property::NodeError, format!("node {id} failed to restart: {error}")))?;
        let now_ns = self.tick * super::SIM_TICK_NS;
        sim.driver.crash(sim.app.applied_index, now_ns);
        sim.down = false;
        let app = sim.app;
        self.checker.observe_restart(id, app)?;
        self.sync_checker(position)?;
        self.drain(position)
    }

    pub(super) fn apply_request(&mut self, request: ClientAction) -> Check {
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: client {}", super::describe::describe_request(&request)));
        let position = match &request {
            ClientAction::Propose { position, .. }
            | ClientAction::ReadIndex { position, .. }
            | ClientAction::TransferLeader { position, .. }
            | ClientAction::Campaign { position }
            | ClientAction::Compact { position } => *position,
        };
        if self.nodes[position].down {
            return Ok(());
        }
        let id = self.nodes[position].id;
        let driver = &mut self.nodes[position].driver;
        let outcome = match request {
            ClientAction::Propose { payloads, .. } => {
                let outcome = driver.propose_batch(payloads);
                self.stats.proposals_accepted += outcome.is_ok() as u64;
                tolerate(id, "a proposal", outcome)
            }
            ClientAction::ReadIndex { .. } => {
                // Reads join the node's open batch; the checker knows the batch by its key, at
                // the commit index of the latest read that joined it.
                let batch = driver.request_read();
                self.checker.observe_read_issued(super::read_key(id, batch));
                Ok(())
            }
            ClientAction::TransferLeader { to, .. } => match driver.core_mut().transfer_leader(to) {
                // With membership changes the target may not be a voter (any more, or yet).
                Err(crate::error::RaftError::UnknownPeer { .. }) if self.membership.enabled => Ok(()),
                outcome => tolerate(id, "a leadership transfer", outcome),
            },
            ClientAction::Campaign { .. } => {
                self.protocol.campaign(driver.core_mut());
                Ok(())
            }
            ClientAction::Compact { .. } => {
                driver.snapshot_now();
                Ok(())
            }
        };
        self.trace.record(Event::Client, &[id, outcome.is_ok() as u64]);
        outcome?;
        self.drain(position)
    }
}
