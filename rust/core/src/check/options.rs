//! How much work a check may do, and with how many threads.

/// Model steps the search of one part may take before it answers `unknown`. The memo keeps at
/// most one configuration per step (the linearized set, `ops / 8` bytes, and a state), so this
/// also bounds its memory: about 200 MB for a 1,000-operation part.
pub const DEFAULT_MAX_STEPS_PER_PART: u64 = 1_000_000;
/// The largest budget a part may have: the memo numbers its entries with `u32`.
pub const MAX_STEPS_PER_PART: u64 = u32::MAX as u64 - 1;
/// Threads a check starts, at most.
pub const MAX_CHECK_THREADS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// The budget of each part, in model steps: `[1, MAX_STEPS_PER_PART]`. A budget in steps, not in
    /// time, keeps the answer the same on every machine and every run.
    pub max_steps_per_part: u64,
    /// Parts searched at once, each on its own thread: `[0, MAX_CHECK_THREADS]`; 0 = the
    /// machine's available parallelism. The answer does not depend on it.
    pub threads: usize,
    /// Whether the search memoizes configurations. Turning it off only serves to measure what
    /// memoization is worth (the criterion bench): the search is then exponential.
    #[doc(hidden)]
    pub memoize: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions { max_steps_per_part: DEFAULT_MAX_STEPS_PER_PART, threads: 0, memoize: true }
    }
}

/// Options the checker cannot run with.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {field}: {problem}")]
pub struct InvalidCheckOptions {
    pub field: &'static str,
    pub problem: String,
}

impl CheckOptions {
    pub fn validate(&self) -> Result<(), InvalidCheckOptions> {
        if !(1..=MAX_STEPS_PER_PART).contains(&self.max_steps_per_part) {
            let problem = format!("{} is outside [1, {MAX_STEPS_PER_PART}]", self.max_steps_per_part);
            return Err(InvalidCheckOptions { field: "max_steps_per_part", problem });
        }
        if self.threads > MAX_CHECK_THREADS {
            let problem = format!("{} is more than {MAX_CHECK_THREADS}", self.threads);
            return Err(InvalidCheckOptions { field: "threads", problem });
        }
        Ok(())
    }

    /// Threads to start for `parts` parts: `[1, parts]` (1 for no part).
    pub(crate) fn threads_for(&self, parts: usize) -> usize {
        let wanted = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_CHECK_THREADS),
            n => n,
        };
        wanted.min(parts).max(1)
    }
}
