//! The set of operations linearized so far, as a bitset with an incremental hash.

/// One bit per operation of a part, and a Zobrist hash of the set: the XOR of a fixed random
/// key per member, kept up to date on every change, so hashing a configuration costs O(1)
/// instead of O(operations / 64).
#[derive(Clone, Debug)]
pub(crate) struct Linearized {
    words: Vec<u64>,
    hash: u64,
    /// Zobrist key of each operation, from a fixed seed: the same on every run.
    keys: Vec<u64>,
}

/// SplitMix64 (Steele, Lea and Flood): a fast generator of well-mixed 64-bit keys.
fn split_mix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Linearized {
    pub(crate) fn new(ops: usize) -> Linearized {
        let mut seed = 0x5EA7_EC4E_C0DE_u64;
        Linearized {
            words: vec![0; ops.div_ceil(64)],
            hash: 0,
            keys: (0..ops).map(|_| split_mix64(&mut seed)).collect(),
        }
    }

    /// Adds `op`, which must not be a member.
    pub(crate) fn insert(&mut self, op: usize) {
        debug_assert!(!self.contains(op), "op {op} linearized twice");
        self.words[op / 64] |= 1 << (op % 64);
        self.hash ^= self.keys[op];
    }

    /// Removes `op`, which must be a member.
    pub(crate) fn remove(&mut self, op: usize) {
        debug_assert!(self.contains(op), "op {op} removed but not linearized");
        self.words[op / 64] &= !(1 << (op % 64));
        self.hash ^= self.keys[op];
    }

    pub(crate) fn contains(&self, op: usize) -> bool {
        self.words[op / 64] & (1 << (op % 64)) != 0
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}
