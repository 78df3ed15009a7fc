//! Membership changes during the faults (`SimOptions::membership`): the run's nodes are a pool
//! of ids; the first few start as the voters, and now and then, at the node that leads, the
//! run adds a learner from the ids never used, promotes a learner once it holds every
//! committed entry, removes a member, replaces a voter in one joint change (left by the leader
//! on its own, or, for `Explicit` changes, by the run), as an operator replacing machines
//! would. A node whose removal is in force at a leader is shut down for good (retired), and no
//! id is ever used twice: a machine that left does not come back with its old log.
//!
//! The checker is the same as for fixed clusters: at most one leader per term and one
//! committed log across every configuration, and nothing committed is ever lost.
//!
//! Liveness misses about one run in a hundred (docs/simulation.md), mostly a member still
//! catching up when the bound expires. One cause is closed: configurations take effect when
//! applied, so a voter left alone by a removal that it does not know committed still needs the
//! removed node's vote; when that node holds a longer log it refuses and, being no voter, never
//! campaigned itself (etcd's gap). Now it campaigns to hand over (`raft::election`).

use super::{tolerate, SimCluster};
use crate::driver::Consensus;
use crate::raft::conf_change::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType};
use crate::raft::message::{ConfState, Index, NodeId};
use crate::sim::checker::Check;
use crate::sim::faults::chance;
use crate::sim::protocol::SimProtocol;
use crate::sim::trace::Event;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Chance per tick that the run asks the leader for a membership change.
pub const CONF_CHANGE_PER_MILLE: u32 = 15;

/// The voters a membership run starts with, out of a pool of `nodes`: three when the pool
/// leaves two or more ids to add, else all but one (one node: itself).
pub fn initial_voters(nodes: usize) -> usize {
    match nodes {
        0 | 1 => nodes,
        2..=4 => nodes - 1,
        _ => 3,
    }
}

/// What the run knows of the membership, besides what the nodes hold.
#[derive(Clone, Debug, Default)]
pub(super) struct MembershipPlan {
    pub enabled: bool,
    /// Ids never proposed for addition, ascending.
    fresh: Vec<NodeId>,
    /// By position: the node was a member of the latest configuration seen.
    ever_member: Vec<bool>,
    /// The latest configuration in force at any node: the one whose change has the highest
    /// index (configurations are a function of the committed log, so all nodes agree on it).
    latest: Option<(Index, ConfState)>,
    pub proposed: u64,
    pub retired: u64,
}

impl MembershipPlan {
    pub fn new(enabled: bool, nodes: usize) -> MembershipPlan {
        if !enabled {
            return MembershipPlan { ever_member: vec![true; nodes], ..MembershipPlan::default() };
        }
        let voters = initial_voters(nodes);
        MembershipPlan {
            enabled,
            fresh: (voters as NodeId + 1..=nodes as NodeId).collect(),
            ever_member: (0..nodes).map(|position| position < voters).collect(),
            latest: None,
            proposed: 0,
            retired: 0,
        }
    }

    /// Whether node `id` at `position` must apply what is committed for the run to be live: it
    /// is a member of the latest configuration (the initial one until a change took effect).
    pub fn counts_for_liveness(&self, position: usize, id: NodeId) -> bool {
        match &self.latest {
            Some((_, conf)) if self.enabled => conf.is_member(id),
            _ => self.ever_member[position],
        }
    }
}

/// One change drawn for a leader whose configuration is `conf`.
fn draw_change<P: SimProtocol>(
    protocol: &P,
    leader: &P::Core,
    fresh: &[NodeId],
    rng: &mut ChaCha8Rng,
) -> Option<ConfChange> {
    let conf = leader.conf_state();
    if conf.is_joint() {
        // Only the leave may follow; the leader proposes it itself under auto-leave.
        return (!conf.auto_leave).then(ConfChange::leave_joint);
    }
    let single = ConfChangeSingle::new;
    match rng.gen_range(0..4) {
        0 => fresh.first().map(|&id| ConfChange::add_learner(id)),
        1 => {
            let ready: Vec<NodeId> =
                conf.learners.iter().copied().filter(|&id| protocol.caught_up(leader, id)).collect();
            (!ready.is_empty()).then(|| ConfChange::add_voter(ready[rng.gen_range(0..ready.len())]))
        }
        2 => {
            let members = conf.members();
            let id = members[rng.gen_range(0..members.len())];
            (conf.is_learner(id) || conf.voters.len() > 1).then(|| ConfChange::remove(id))
        }
        _ => {
            let (&new, old) = (fresh.first()?, conf.voters[rng.gen_range(0..conf.voters.len())]);
            let transition =
                if rng.gen_ratio(1, 4) { ConfChangeTransition::Explicit } else { ConfChangeTransition::Auto };
            let changes = vec![single(ConfChangeType::AddVoter, new), single(ConfChangeType::RemoveNode, old)];
            Some(ConfChange { transition, changes })
        }
    }
}

impl<P: SimProtocol> SimCluster<'_, P> {
    /// Now and then, a membership change at the leader.
    pub(super) fn plan_membership(&mut self) -> Check {
        if !self.membership.enabled || !chance(&mut self.rng, CONF_CHANGE_PER_MILLE) {
            return Ok(());
        }
        let Some(position) = self.leader_hint else { return Ok(()) };
        let core = self.nodes[position].driver.core();
        let Some(change) = draw_change(self.protocol, core, &self.membership.fresh, &mut self.rng) else {
            return Ok(());
        };
        let id = self.nodes[position].id;
        let tick = self.tick;
        self.trace.note(|| format!("tick {tick}: membership change at node {id}: {}", change.describe()));
        let outcome = self.nodes[position].driver.core_mut().propose_conf_change(&change);
        self.trace.record(Event::Client, &[id, outcome.is_ok() as u64]);
        if outcome.is_ok() {
            self.membership.proposed += 1;
            for single in change.changes.iter().filter(|c| c.change_type != ConfChangeType::RemoveNode) {
                self.membership.fresh.retain(|&fresh| fresh != single.node_id);
            }
        }
        // Refusals are expected: another change pending, a transfer under way, a change that
        // no longer applies (`InvalidConfig`).
        match outcome {
            Err(crate::error::RaftError::InvalidConfig { field: "conf_change", .. }) => Ok(()),
            outcome => tolerate(id, "a membership change", outcome),
        }?;
        self.drain(position)
    }

    /// Nodes in the latest configuration in force are members; those that were and are not
    /// any more are shut down for good.
    pub(super) fn retire_removed(&mut self) {
        if !self.membership.enabled {
            return;
        }
        for sim in self.nodes.iter().filter(|sim| !sim.down) {
            let core = sim.driver.core();
            let index = self.protocol.conf_index(core);
            if self.membership.latest.as_ref().is_none_or(|(latest, _)| index > *latest) {
                self.membership.latest = Some((index, core.conf_state().clone()));
            }
        }
        let Some((index, conf)) = self.membership.latest.clone() else { return };
        // An operator shuts a removed machine down only once the configuration without it can
        // do without it: every voter holds the change durably committed (a voter that would
        // come back from a crash with an older configuration could need the removed node to
        // elect anyone).
        let durable_everywhere = self.nodes.iter().filter(|sim| conf.is_voter(sim.id)).all(|sim| {
            use crate::raft::storage::Storage as _;
            let storage = self.protocol.storage(sim.driver.core());
            storage.hard_state().commit >= index || storage.snapshot().meta.index >= index
        });
        for position in 0..self.nodes.len() {
            let id = self.nodes[position].id;
            if conf.is_member(id) {
                self.membership.ever_member[position] = true;
            } else if durable_everywhere && self.membership.ever_member[position] && !self.nodes[position].retired {
                let tick = self.tick;
                self.trace.note(|| format!("tick {tick}: node {id} is retired (removed)"));
                let sim = &mut self.nodes[position];
                sim.retired = true;
                sim.down = true;
                sim.disk.lose_pending();
                sim.snapshot = None;
                sim.restore = None;
                self.membership.retired += 1;
            }
        }
    }
}
