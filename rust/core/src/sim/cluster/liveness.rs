//! The end of a run: every fault heals, a marker entry must then be applied on every node
//! within [`LIVENESS_BOUND_TICKS`], and every log gets a full audit.

use super::{tolerate, SimCluster, ELECTION_TIMEOUT_TICKS, LIVENESS_BOUND_TICKS};
use crate::driver::NodeRole;
use crate::sim::checker::{Check, Property, Violation};
use crate::sim::protocol::{SafetyChecker, SimProtocol};
use rand::Rng;

impl<P: SimProtocol> SimCluster<'_, P> {
    /// Ends every fault, then proposes the marker (again every two election timeouts until some
    /// node applies it) and waits for every node to apply it.
    pub(super) fn heal_and_await_liveness(&mut self) -> Check {
        let mut heals = Vec::new();
        self.schedule.heal(&mut heals);
        for heal in heals {
            self.apply_fault(heal)?;
        }
        self.network.heal();
        let healed_tick = self.tick;
        let mut next_marker_tick = self.tick;
        while self.tick < healed_tick + LIVENESS_BOUND_TICKS {
            if self.marker_index.is_none() && self.tick >= next_marker_tick {
                self.propose_marker()?;
                next_marker_tick = self.tick + 2 * ELECTION_TIMEOUT_TICKS;
            }
            self.begin_tick();
            self.tick_nodes()?;
            self.deliver_due()?;
            self.retire_removed();
            if self.marker_applied_everywhere() {
                return Ok(());
            }
        }
        Err(self.liveness_violation(healed_tick))
    }

    /// Proposes the marker at the node claiming leadership in the highest term, or at a random
    /// node (which forwards it) when none does.
    pub(super) fn propose_marker(&mut self) -> Check {
        let leader = (0..self.nodes.len())
            .filter(|&p| !self.nodes[p].down)
            .filter(|&p| self.protocol.view(self.nodes[p].driver.core()).role == NodeRole::Leader)
            .max_by_key(|&p| self.protocol.view(self.nodes[p].driver.core()).epoch);
        let position = leader.unwrap_or_else(|| self.rng.gen_range(0..self.nodes.len()));
        if self.nodes[position].down {
            // A retired node (membership runs): the next attempt draws again.
            return Ok(());
        }
        let id = self.nodes[position].id;
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: propose the liveness marker at node {id}"));
        let outcome = self.nodes[position].driver.propose_batch(vec![self.marker.clone()]);
        tolerate(id, "the liveness marker", outcome)?;
        self.drain(position)
    }

    pub(super) fn marker_applied_everywhere(&self) -> bool {
        self.marker_index.is_some_and(|m| {
            self.nodes.iter().enumerate().all(|(position, n)| {
                n.retired || !self.membership.counts_for_liveness(position, n.id) || n.app.applied_index >= m
            })
        })
    }

    pub(super) fn liveness_violation(&self, healed_tick: u64) -> Violation {
        let marker = match self.marker_index {
            Some(index) => format!("the marker (index {index}) was not applied everywhere"),
            None => "the marker was never committed".to_string(),
        };
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!("{}: {} applied {}", n.id, self.protocol.describe_node(n.driver.core()), n.app.applied_index)
            })
            .collect();
        Violation::new(
            Property::Liveness,
            format!(
                "healed at tick {healed_tick}, {marker} within {LIVENESS_BOUND_TICKS} ticks; nodes [{}]",
                nodes.join("; ")
            ),
        )
    }

    /// A full comparison of every node's log with its shadow, at the end of the run, then
    /// what the checker could only judge at the end.
    pub(super) fn final_audit(&mut self) -> Check {
        for position in 0..self.nodes.len() {
            self.checker.request_audit(self.nodes[position].id);
            self.sync_checker(position)?;
        }
        self.checker.finish()
    }
}
