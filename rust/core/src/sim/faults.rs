//! The fault schedule: how hostile one seeded run is, and which faults strike at which tick.
//!
//! Link faults (loss, delay, duplication, corruption) are decided per packet; node faults
//! (partitions, crashes, slow periods) start at random ticks and end after a random duration.
//! Each seed draws its own intensities, so some runs are calm and some are storms.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Longest extra delay of a delayed packet, in ticks (two election timeouts: long enough to
/// arrive after a leader change).
pub const MAX_EXTRA_DELAY_TICKS: u64 = 20;
/// Longest partition, crash or slow period, in ticks.
pub const MAX_FAULT_TICKS: u64 = 80;
/// Longest short fault, in ticks (two election timeouts).
pub const SHORT_FAULT_TICKS: u64 = 20;

/// Fault intensities of one run. Rates are per mille.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultProfile {
    /// Chance that a packet is lost.
    pub drop_per_mille: u32,
    /// Chance that a packet arrives twice.
    pub duplicate_per_mille: u32,
    /// Chance that a packet is held up to `max_extra_delay_ticks` beyond the base latency
    /// (which reorders it behind later packets).
    pub delay_per_mille: u32,
    pub max_extra_delay_ticks: u64,
    /// Chance that one bit of a packet flips.
    pub corrupt_per_mille: u32,
    /// Chance per tick that a partition starts when none is active.
    pub partition_per_mille: u32,
    /// Chance per tick that one node crashes.
    pub crash_per_mille: u32,
    /// Chance per tick that one node turns slow.
    pub slow_per_mille: u32,
}

impl FaultProfile {
    /// No faults at all (the heal phase and throughput runs).
    pub fn calm() -> FaultProfile {
        FaultProfile::default()
    }

    /// Intensities drawn for one run: one level of hostility, then each rate within it.
    pub fn draw(rng: &mut ChaCha8Rng) -> FaultProfile {
        // One run in eight is calm (no faults: a baseline), the rest are light to heavy.
        const LEVELS: [u32; 8] = [0, 1, 1, 2, 2, 3, 3, 3];
        let level = LEVELS[rng.gen_range(0..LEVELS.len())];
        let rate = |rng: &mut ChaCha8Rng, max: u32| if max == 0 { 0 } else { rng.gen_range(0..=max) };
        FaultProfile {
            drop_per_mille: rate(rng, 50 * level),
            duplicate_per_mille: rate(rng, 20 * level),
            delay_per_mille: rate(rng, 100 * level),
            max_extra_delay_ticks: rng.gen_range(1..=MAX_EXTRA_DELAY_TICKS),
            corrupt_per_mille: rate(rng, level),
            partition_per_mille: rate(rng, 10 * level),
            crash_per_mille: rate(rng, 15 * level),
            slow_per_mille: rate(rng, 8 * level),
        }
    }
}

/// Faults injected, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub drops: u64,
    pub duplicates: u64,
    pub delays: u64,
    pub corruptions: u64,
    pub partitions: u64,
    pub one_way_partitions: u64,
    pub crashes: u64,
    pub slow_periods: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.drops
            + self.duplicates
            + self.delays
            + self.corruptions
            + self.partitions
            + self.one_way_partitions
            + self.crashes
            + self.slow_periods
    }
}

/// True with probability `per_mille / 1000`; draws nothing when `per_mille` is 0, so a calm
/// profile does not shift the random sequence of the rest of the run.
pub fn chance(rng: &mut ChaCha8Rng, per_mille: u32) -> bool {
    per_mille > 0 && rng.gen_range(0..1000) < per_mille
}

/// What happens to one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketFate {
    pub dropped: bool,
    /// Ticks until delivery (0: later in the same tick).
    pub delay_ticks: u64,
    pub extra_delay: bool,
    /// A second copy arrives after this many ticks.
    pub duplicate_delay_ticks: Option<u64>,
    pub corrupted: bool,
}

impl PacketFate {
    /// Draws the fate of one packet under `profile`. The base latency is 0 or 1 tick.
    pub fn draw(profile: &FaultProfile, rng: &mut ChaCha8Rng) -> PacketFate {
        if chance(rng, profile.drop_per_mille) {
            return PacketFate { dropped: true, ..PacketFate::default() };
        }
        let extra_delay = chance(rng, profile.delay_per_mille);
        let duplicated = chance(rng, profile.duplicate_per_mille);
        let corrupted = chance(rng, profile.corrupt_per_mille);
        let max_extra = profile.max_extra_delay_ticks.max(1);
        let mut delay_ticks = rng.gen_range(0..=1);
        if extra_delay {
            delay_ticks += rng.gen_range(1..=max_extra);
        }
        let duplicate_delay_ticks = duplicated.then(|| rng.gen_range(0..=max_extra));
        PacketFate { dropped: false, delay_ticks, extra_delay, duplicate_delay_ticks, corrupted }
    }
}

/// How long a partition, crash or slow period lasts: half the time shorter than two election
/// timeouts (a blip that races the election it triggers), else up to `MAX_FAULT_TICKS`.
fn fault_duration_ticks(rng: &mut ChaCha8Rng) -> u64 {
    let short = rng.gen_bool(0.5);
    rng.gen_range(1..=if short { SHORT_FAULT_TICKS } else { MAX_FAULT_TICKS })
}

/// Where in its input handling a node crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// Between inputs: everything it produced was persisted, sent and applied.
    Idle,
    /// Right after an input, before its `Ready` is persisted: that input's effects are lost.
    BeforePersist,
    /// After its `Ready` was persisted but before its messages went out and its committed
    /// entries were applied.
    AfterPersist,
}

/// A node fault starting or ending now. Positions index the cluster's nodes (id - 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Cut the links between `side_a` and the rest; only those leaving side A when `!both_ways`.
    Partition {
        side_a: Vec<bool>,
        both_ways: bool,
    },
    HealPartition,
    /// Crash a node at `point` of its input handling.
    Crash {
        position: usize,
        point: CrashPoint,
    },
    /// Restart a crashed node from its storage; `keep_app`: its application state survived
    /// (else it is rebuilt from the latest snapshot).
    Restart {
        position: usize,
        keep_app: bool,
    },
    SlowStart {
        position: usize,
    },
    SlowEnd {
        position: usize,
    },
}

/// The timers of the node faults in progress.
#[derive(Clone, Debug)]
pub struct FaultSchedule {
    profile: FaultProfile,
    nodes: usize,
    /// Tick at which the active partition heals.
    partition_ends_tick: Option<u64>,
    /// `down_until_tick[k]`: node k is crashed until then.
    down_until_tick: Vec<Option<u64>>,
    /// `slow_until_tick[k]`: node k is slow until then.
    slow_until_tick: Vec<Option<u64>>,
}

impl FaultSchedule {
    pub fn new(profile: FaultProfile, nodes: usize) -> FaultSchedule {
        FaultSchedule {
            profile,
            nodes,
            partition_ends_tick: None,
            down_until_tick: vec![None; nodes],
            slow_until_tick: vec![None; nodes],
        }
    }

    pub fn profile(&self) -> &FaultProfile {
        &self.profile
    }

    /// The faults that end or start at `tick`, in a fixed order: endings first. Half of the
    /// crashes, slow periods and isolations strike `leader` (the node last seen leading, if
    /// any): faults at the leader are what force new terms and diverging logs.
    pub fn plan_tick(&mut self, tick: u64, leader: Option<usize>, rng: &mut ChaCha8Rng, out: &mut Vec<FaultAction>) {
        self.plan_endings(tick, rng, out);
        let profile = self.profile;
        let start_partition = self.partition_ends_tick.is_none() && chance(rng, profile.partition_per_mille);
        let start_crash = chance(rng, profile.crash_per_mille);
        let start_slow = chance(rng, profile.slow_per_mille);
        if start_partition {
            out.push(self.start_partition(tick, leader, rng));
        }
        if start_crash {
            let position = self.victim(leader, rng);
            if self.down_until_tick[position].is_none() {
                self.down_until_tick[position] = Some(tick + fault_duration_ticks(rng));
                let point = match rng.gen_range(0..3) {
                    0 => CrashPoint::Idle,
                    1 => CrashPoint::BeforePersist,
                    _ => CrashPoint::AfterPersist,
                };
                out.push(FaultAction::Crash { position, point });
            }
        }
        if start_slow {
            let position = self.victim(leader, rng);
            if self.slow_until_tick[position].is_none() {
                self.slow_until_tick[position] = Some(tick + fault_duration_ticks(rng));
                out.push(FaultAction::SlowStart { position });
            }
        }
    }

    fn plan_endings(&mut self, tick: u64, rng: &mut ChaCha8Rng, out: &mut Vec<FaultAction>) {
        if self.partition_ends_tick.is_some_and(|end| end <= tick) {
            self.partition_ends_tick = None;
            out.push(FaultAction::HealPartition);
        }
        for position in 0..self.nodes {
            if self.down_until_tick[position].is_some_and(|end| end <= tick) {
                self.down_until_tick[position] = None;
                out.push(FaultAction::Restart { position, keep_app: rng.gen_bool(0.5) });
            }
            if self.slow_until_tick[position].is_some_and(|end| end <= tick) {
                self.slow_until_tick[position] = None;
                out.push(FaultAction::SlowEnd { position });
            }
        }
    }

    /// The leader half of the time (when there is one), else a random node.
    fn victim(&self, leader: Option<usize>, rng: &mut ChaCha8Rng) -> usize {
        let random = rng.gen_range(0..self.nodes);
        match leader {
            Some(leader) if rng.gen_bool(0.5) => leader,
            _ => random,
        }
    }

    fn start_partition(&mut self, tick: u64, leader: Option<usize>, rng: &mut ChaCha8Rng) -> FaultAction {
        self.partition_ends_tick = Some(tick + fault_duration_ticks(rng));
        // Side A is a random non-empty proper subset: often a single node (isolation), else
        // any split (a minority, a majority, or both sides without a quorum in larger clusters).
        let mut side_a = vec![false; self.nodes];
        if rng.gen_bool(0.5) {
            side_a[self.victim(leader, rng)] = true;
        } else {
            side_a.iter_mut().for_each(|s| *s = rng.gen_bool(0.5));
            side_a[0] = true;
            let last = self.nodes - 1;
            if side_a.iter().all(|&s| s) && last > 0 {
                side_a[last] = false;
            }
        }
        FaultAction::Partition { side_a, both_ways: rng.gen_ratio(3, 4) }
    }

    /// Ends every node fault now: restarts crashed nodes (keeping their application), heals the
    /// partition, speeds slow nodes up.
    pub fn heal(&mut self, out: &mut Vec<FaultAction>) {
        if self.partition_ends_tick.take().is_some() {
            out.push(FaultAction::HealPartition);
        }
        for position in 0..self.nodes {
            if self.down_until_tick[position].take().is_some() {
                out.push(FaultAction::Restart { position, keep_app: true });
            }
            if self.slow_until_tick[position].take().is_some() {
                out.push(FaultAction::SlowEnd { position });
            }
        }
        self.profile = FaultProfile::calm();
    }
}
