//! The memo of configurations the search has already explored: a configuration is the set of
//! operations linearized and the model state they led to. Reaching one again (by linearizing
//! the same operations in another order that ends in an equal state) can lead nowhere new, so
//! the search skips it. This is what makes the Wing-Gong search practical (Lowe, "Testing for
//! linearizability", 2017).

use super::linearized::Linearized;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// What the search asks of a memo.
pub(crate) trait Memo<S> {
    /// Records the configuration (`linearized`, `state`); false if it was recorded before.
    fn insert(&mut self, linearized: &Linearized, state: &S) -> bool;
}

/// A hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in, FNV-1a style, to stay correct.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// No chain continues past this entry.
const END: u32 = u32::MAX;

/// Every configuration recorded, in arenas (no allocation per entry): entry `i` has the bits
/// `words[i * words_per_entry ..][.. words_per_entry]`, the state `states[i]`, and the next
/// entry with the same hash `chain[i]` (or `END`).
pub(crate) struct SeenConfigurations<S> {
    /// Combined hash -> first entry with it.
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    words: Vec<u64>,
    states: Vec<S>,
    chain: Vec<u32>,
    words_per_entry: usize,
}

impl<S: Clone + Eq + Hash> SeenConfigurations<S> {
    pub(crate) fn new(ops: usize) -> SeenConfigurations<S> {
        SeenConfigurations {
            heads: HashMap::default(),
            words: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            words_per_entry: ops.div_ceil(64),
        }
    }

    fn bits(&self, entry: u32) -> &[u64] {
        let start = entry as usize * self.words_per_entry;
        &self.words[start..start + self.words_per_entry]
    }
}

/// The state's hash, with a fixed-key hasher: the same on every run of one build.
fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    state.hash(&mut hasher);
    hasher.finish()
}

impl<S: Clone + Eq + Hash> Memo<S> for SeenConfigurations<S> {
    fn insert(&mut self, linearized: &Linearized, state: &S) -> bool {
        let hash = linearized.hash() ^ state_hash(state);
        let head = self.heads.get(&hash).copied().unwrap_or(END);
        let mut entry = head;
        while entry != END {
            if self.bits(entry) == linearized.words() && self.states[entry as usize] == *state {
                return false;
            }
            entry = self.chain[entry as usize];
        }
        assert!(self.states.len() < END as usize, "the memo outgrew u32 entries");
        let new = self.states.len() as u32;
        self.words.extend_from_slice(linearized.words());
        self.states.push(state.clone());
        self.chain.push(head);
        self.heads.insert(hash, new);
        true
    }
}

/// No memo at all: every configuration is new. Only for measuring what the memo is worth.
pub(crate) struct Forgetful;

impl<S> Memo<S> for Forgetful {
    fn insert(&mut self, _linearized: &Linearized, _state: &S) -> bool {
        true
    }
}
