//! [`RecoveryMeter`]: whether, and how fast, a cluster commits again after the cut, and how
//! much leadership churned meanwhile. It sees the cluster only through what any protocol
//! shows (who claims to lead in which epoch, which entries get applied), so it measures every
//! protocol alike.
//!
//! After the cut, a client proposes a *probe* (an entry with a recognizable payload carrying a
//! sequence number) every tick at the node claiming leadership in the highest epoch. The
//! cluster has recovered at the first tick at which any node applies a probe: a node applies
//! only committed entries, so a leader that reaches a quorum has committed a proposal made
//! after the cut. Probes made to a leader that lost its quorum may never commit; that is why
//! the measure is the first probe committed, not the first probe proposed.

use crate::raft::message::NodeId;
use bytes::Bytes;
use std::collections::BTreeSet;

/// The first bytes of every probe's payload; a sequence number (u64, little-endian) follows.
pub const PROBE_PREFIX: &[u8; 8] = b"cutprobe";
/// Bytes of a probe's payload.
pub const PROBE_BYTES: usize = PROBE_PREFIX.len() + 8;

/// The payload of probe number `sequence`.
pub fn probe_payload(sequence: u64) -> Bytes {
    let mut payload = Vec::with_capacity(PROBE_BYTES);
    payload.extend_from_slice(PROBE_PREFIX);
    payload.extend_from_slice(&sequence.to_le_bytes());
    Bytes::from(payload)
}

/// The sequence number of a probe's payload; `None` for any other payload.
pub fn probe_sequence(data: &[u8]) -> Option<u64> {
    let rest = data.strip_prefix(PROBE_PREFIX.as_slice())?;
    Some(u64::from_le_bytes(rest.try_into().ok()?))
}

/// What the meter found, at the end of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// A probe committed by the deadline.
    pub recovered: bool,
    /// Ticks from the cut to the first probe committed (`None`: none was).
    pub ticks_to_recover: Option<u64>,
    /// Leaderships begun after the cut: distinct (epoch, leader) pairs seen, the leadership in
    /// office at the cut not counted. A livelock shows as many.
    pub leader_changes: u64,
    /// How far the highest epoch (Raft's term) any node reached rose after the cut; elections
    /// that no one wins raise it too.
    pub epoch_changes: u64,
    pub probes_proposed: u64,
    /// Distinct probes committed by the deadline.
    pub probes_committed: u64,
}

/// Watches one run from the cut to the deadline.
#[derive(Clone, Debug)]
pub struct RecoveryMeter {
    cut_tick: u64,
    /// Invariant: > 0.
    deadline_ticks: u64,
    /// The leadership in office at the cut, as (epoch, leader id).
    incumbent: (u64, NodeId),
    /// Leaderships seen after the cut, the incumbent excluded.
    leaderships: BTreeSet<(u64, NodeId)>,
    /// The highest epoch of any node at the cut. Invariant: `<= highest_epoch`.
    epoch_at_cut: u64,
    highest_epoch: u64,
    probes_proposed: u64,
    /// Sequence numbers of the probes committed by the deadline.
    probes_committed: BTreeSet<u64>,
    /// Invariant: in `(cut_tick, cut_tick + deadline_ticks]` when set.
    first_commit_tick: Option<u64>,
}

impl RecoveryMeter {
    /// A meter for a cut at `cut_tick`, with `incumbent` leading and `epoch_at_cut` the highest
    /// epoch of any node then.
    pub fn new(cut_tick: u64, deadline_ticks: u64, incumbent: (u64, NodeId), epoch_at_cut: u64) -> RecoveryMeter {
        assert!(deadline_ticks > 0, "a recovery deadline of 0 ticks");
        RecoveryMeter {
            cut_tick,
            deadline_ticks,
            incumbent,
            leaderships: BTreeSet::new(),
            epoch_at_cut,
            highest_epoch: epoch_at_cut,
            probes_proposed: 0,
            probes_committed: BTreeSet::new(),
            first_commit_tick: None,
        }
    }

    pub fn cut_tick(&self) -> u64 {
        self.cut_tick
    }

    /// The last tick the run is measured at.
    pub fn deadline_tick(&self) -> u64 {
        self.cut_tick + self.deadline_ticks
    }

    /// The payload of the next probe; the caller proposes it.
    pub fn next_probe(&mut self) -> Bytes {
        let payload = probe_payload(self.probes_proposed);
        self.probes_proposed += 1;
        payload
    }

    /// Node `id` leads in `epoch`.
    pub fn observe_leader(&mut self, epoch: u64, id: NodeId) {
        self.observe_epoch(epoch);
        if (epoch, id) != self.incumbent {
            self.leaderships.insert((epoch, id));
        }
    }

    /// Some node reached `epoch`.
    pub fn observe_epoch(&mut self, epoch: u64) {
        self.highest_epoch = self.highest_epoch.max(epoch);
    }

    /// Some node applied an entry with payload `data` at `tick`.
    pub fn observe_applied(&mut self, tick: u64, data: &[u8]) {
        let Some(sequence) = probe_sequence(data) else { return };
        assert!(sequence < self.probes_proposed, "probe {sequence} applied before it was proposed");
        assert!(tick > self.cut_tick, "probe {sequence} applied at tick {tick}, not after the cut");
        if tick > self.deadline_tick() {
            return;
        }
        self.probes_committed.insert(sequence);
        self.first_commit_tick.get_or_insert(tick);
    }

    pub fn outcome(&self) -> Recovery {
        let ticks_to_recover = self.first_commit_tick.map(|tick| tick - self.cut_tick);
        Recovery {
            recovered: ticks_to_recover.is_some(),
            ticks_to_recover,
            leader_changes: self.leaderships.len() as u64,
            epoch_changes: self.highest_epoch - self.epoch_at_cut,
            probes_proposed: self.probes_proposed,
            probes_committed: self.probes_committed.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_recognized_and_nothing_else_is() {
        for sequence in [0, 1, 255, u64::MAX] {
            assert_eq!(probe_sequence(&probe_payload(sequence)), Some(sequence));
        }
        assert_eq!(probe_sequence(b""), None);
        assert_eq!(probe_sequence(b"cutprobe"), None);
        assert_eq!(probe_sequence(b"cutprobe123456789"), None);
        assert_eq!(probe_sequence(b"liveness-marker/1"), None);
    }

    #[test]
    fn recovery_is_the_first_probe_committed() {
        let mut meter = RecoveryMeter::new(100, 50, (3, 1), 3);
        let (first, second) = (meter.next_probe(), meter.next_probe());
        // The first probe went to a leader without a quorum and never commits; the second one
        // commits at tick 130, and again on another node later (counted once).
        meter.observe_applied(101, b"an older entry");
        meter.observe_applied(130, &second);
        meter.observe_applied(131, &second);
        let outcome = meter.outcome();
        assert!(outcome.recovered);
        assert_eq!(outcome.ticks_to_recover, Some(30));
        assert_eq!((outcome.probes_proposed, outcome.probes_committed), (2, 1));
        drop(first);
    }

    #[test]
    fn a_commit_after_the_deadline_is_no_recovery() {
        let mut meter = RecoveryMeter::new(10, 20, (1, 2), 1);
        let probe = meter.next_probe();
        assert_eq!(meter.deadline_tick(), 30);
        meter.observe_applied(31, &probe);
        let outcome = meter.outcome();
        assert!(!outcome.recovered);
        assert_eq!(outcome.ticks_to_recover, None);
        assert_eq!(outcome.probes_committed, 0);
    }

    #[test]
    fn leader_changes_count_new_leaderships_and_epochs_count_every_rise() {
        let mut meter = RecoveryMeter::new(0, 10, (2, 1), 2);
        meter.observe_leader(2, 1); // the incumbent, still in office
        meter.observe_epoch(3); // an election no one won
        meter.observe_leader(4, 3);
        meter.observe_leader(4, 3); // seen again: the same leadership
        meter.observe_leader(5, 1); // the old leader back, in a new epoch
        let outcome = meter.outcome();
        assert_eq!(outcome.leader_changes, 2);
        assert_eq!(outcome.epoch_changes, 3);
        assert!(!outcome.recovered);
    }

    #[test]
    #[should_panic(expected = "before it was proposed")]
    fn a_probe_never_proposed_is_a_bug() {
        let mut meter = RecoveryMeter::new(0, 10, (1, 1), 1);
        meter.observe_applied(1, &probe_payload(0));
    }
}
