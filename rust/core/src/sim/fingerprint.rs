//! A small deterministic 64-bit hash: the fingerprints of log prefixes, application states and
//! event traces.
//!
//! It is not cryptographic. It only has to make accidental collisions negligible within one
//! run, be identical on every platform and in every build (no per-process random keys, unlike
//! `std`'s `RandomState`), and be cheap in debug builds.

/// A running 64-bit fingerprint. `Fingerprint::default()` is the fingerprint of nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The raw 64-bit value (for reports and snapshot encoding).
    pub fn value(self) -> u64 {
        self.0
    }

    /// A fingerprint restored from its raw value.
    pub fn from_value(value: u64) -> Fingerprint {
        Fingerprint(value)
    }

    /// Folds one integer into the fingerprint. Order matters: `a.with_u64(x).with_u64(y)`
    /// differs from `a.with_u64(y).with_u64(x)` (with overwhelming probability).
    #[must_use]
    pub fn with_u64(self, value: u64) -> Fingerprint {
        Fingerprint(mix(self.0.rotate_left(23) ^ value))
    }

    /// Folds a byte string into the fingerprint: its length first, so that `"ab" + "c"` and
    /// `"a" + "bc"` fingerprint differently.
    #[must_use]
    pub fn with_bytes(self, bytes: &[u8]) -> Fingerprint {
        let mut fingerprint = self.with_u64(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            fingerprint = fingerprint.with_u64(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            fingerprint = fingerprint.with_u64(u64::from_le_bytes(word));
        }
        fingerprint
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The SplitMix64 finalizer: a bijection on `u64` with full avalanche.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_boundaries_change_the_fingerprint() {
        let empty = Fingerprint::default();
        assert_ne!(empty.with_u64(1).with_u64(2), empty.with_u64(2).with_u64(1));
        assert_ne!(empty.with_bytes(b"ab").with_bytes(b"c"), empty.with_bytes(b"a").with_bytes(b"bc"));
        assert_ne!(empty.with_bytes(b""), empty);
        assert_eq!(empty.with_bytes(b"same"), empty.with_bytes(b"same"));
    }
}
