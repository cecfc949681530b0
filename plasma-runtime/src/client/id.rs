//! Ids that sort by creation time: 48 bits of milliseconds then 80 random
//! bits, in Crockford base32 (26 characters, the ULID layout). Within one
//! millisecond the random part counts up, so ids from one generator are
//! strictly increasing even when the clock stalls or steps back.
//!
//! Hand-written rather than the `ulid` crate so randomness and time come from
//! the client's [`Platform`](crate::client::platform::Platform) on every
//! target, including wasm32, without extra feature flags.

use std::sync::Mutex;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_BITS: u32 = 80;
const RANDOM_MASK: u128 = (1 << RANDOM_BITS) - 1;

/// Generates time-sortable unique ids.
#[derive(Debug, Default)]
pub struct IdGenerator {
    last: Mutex<u128>,
}

impl IdGenerator {
    /// A generator with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id for wall-clock time `now_ms`, with `random` supplying entropy.
    pub fn next(&self, now_ms: i64, random: impl FnOnce() -> u128) -> String {
        let time = (now_ms.max(0) as u128) & ((1 << 48) - 1);
        let fresh = (time << RANDOM_BITS) | (random() & RANDOM_MASK);
        let mut last = match self.last.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Same or earlier millisecond: count up from the last id instead.
        let value = if fresh > *last { fresh } else { last.wrapping_add(1) };
        *last = value;
        encode(value)
    }
}

fn encode(mut value: u128) -> String {
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_never_repeat() {
        let ids = IdGenerator::new();
        let mut seen = Vec::new();
        // Same millisecond, a clock stepping back, and a later millisecond.
        for (now, random) in [(1_000, 5u128), (1_000, 3), (999, 0), (1_001, 0), (1_001, u128::MAX)] {
            seen.push(ids.next(now, || random));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "ids must be unique and increasing: {seen:?}");
        assert!(seen.iter().all(|id| id.len() == 26));
        // Later milliseconds sort later even from a fresh generator with more random bits.
        let (early, late) = (IdGenerator::new(), IdGenerator::new());
        assert!(late.next(2_000, || 0) > early.next(1_999, || RANDOM_MASK));
    }

    #[test]
    fn encoding_is_crockford_base32() {
        assert_eq!(encode(0), "00000000000000000000000000");
        assert_eq!(encode(31), "0000000000000000000000000Z");
        assert_eq!(encode(32), "00000000000000000000000010");
    }
}
