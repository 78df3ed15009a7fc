//! Key hashing and the small integer helpers every balancer shares.
//!
//! Keys are hashed with XXH3-64 (the `xxhash-rust` crate): it is among the fastest
//! non-cryptographic hashes on short keys (a few nanoseconds for 8 to 64 bytes), passes
//! SMHasher, and its output is a frozen specification, identical on every platform, endianness
//! and release. Neither std's SipHash (slower, and its output may change between Rust
//! releases) nor aHash (different output per platform and version by design) gives that last
//! property, which consistent hashing needs: two processes must map a key to the same backend.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The hash of a key given as bytes (a Python `str` is hashed as its UTF-8 bytes).
#[inline]
pub fn key_hash_bytes(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// The hash of an integer key: XXH3-64 of its 8 little-endian bytes.
#[inline]
pub fn key_hash_u64(key: u64) -> u64 {
    xxh3_64(&key.to_le_bytes())
}

/// The hash of a backend's name under `seed` (one hash per seed: ring points, Maglev offsets).
#[inline]
pub(crate) fn name_hash(name: &str, seed: u64) -> u64 {
    xxh3_64_with_seed(name.as_bytes(), seed)
}

/// A bijective 64-bit finalizer (MurmurHash3's fmix64): full avalanche, a few cycles.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// `r` mapped onto `[0, n)` by multiply-shift (Lemire): uniform up to a bias of `n / 2^64`.
#[inline]
pub(crate) fn bounded(r: u64, n: usize) -> usize {
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// `r` (32 random bits) mapped onto `[0, n)`, `n < 2^32`.
#[inline]
pub(crate) fn bounded32(r: u32, n: usize) -> usize {
    ((u64::from(r) * n as u64) >> 32) as usize
}

/// Two distinct indexes in `[0, n)` from one 64-bit draw, for power-of-two choices; `n >= 2`.
#[inline]
pub(crate) fn two_distinct(r: u64, n: usize) -> (usize, usize) {
    debug_assert!(n >= 2);
    let first = bounded32((r >> 32) as u32, n);
    let mut second = bounded32(r as u32, n - 1);
    if second >= first {
        second += 1;
    }
    (first, second)
}
