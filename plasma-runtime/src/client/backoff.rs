//! Exponential backoff with jitter, bounded by a maximum delay.

use std::time::Duration;

/// Retry timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay before the first retry.
    pub initial: Duration,
    /// The delay never grows beyond this.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { initial: Duration::from_millis(100), max: Duration::from_secs(30) }
    }
}

/// Successive failures double the delay up to the maximum; each delay is drawn
/// from its upper half ("equal jitter"), so clients that failed together do
/// not retry together, yet none retries much sooner than planned.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    /// A backoff with no failures yet.
    pub fn new(config: BackoffConfig) -> Self {
        Backoff { config, failures: 0 }
    }

    /// Records a failure and returns how long to wait; `random` is any 64 random bits.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let ceiling = self.config.initial.saturating_mul(1u32 << self.failures.min(20)).min(self.config.max);
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        let jitter_nanos = (half.as_nanos() as u64).checked_add(1).map_or(0, |span| random % span);
        half + Duration::from_nanos(jitter_nanos)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Forgets past failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_stay_bounded_and_reset() {
        let config = BackoffConfig { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        let mut backoff = Backoff::new(config);
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            // The largest jitter shows the ceiling.
            ceilings.push(backoff.next_delay(u64::MAX - 1).as_millis());
        }
        assert!(ceilings.windows(2).all(|w| w[0] <= w[1]), "{ceilings:?}");
        assert!(ceilings.iter().all(|&d| d <= 1000), "{ceilings:?}");
        assert!(*ceilings.last().unwrap_or(&0) >= 500, "{ceilings:?}");
        let mut fresh = Backoff::new(config);
        let low = fresh.next_delay(0);
        assert_eq!(low, Duration::from_millis(50), "jitter stays in the upper half");
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert!(backoff.next_delay(0) <= Duration::from_millis(100));
    }
}
