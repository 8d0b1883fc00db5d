//! Reconnect pacing ("Establishing Connection": exponential backoff with
//! jitter; "Throttling": honour the server's hints).

use std::time::Duration;

use super::rng::SplitMix64;

/// The floor the spec recommends for any server-requested retry ("The
/// minimum recommended retry interval is 30 seconds", under "Throttling").
pub const THROTTLE_FLOOR: Duration = Duration::from_secs(30);

/// How reconnect delays grow and when they start over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Ceiling of the first delay.
    pub initial: Duration,
    /// Largest ceiling; also the delay after an authentication failure.
    pub max: Duration,
    /// A connection must stay up this long, and have completed an exchange
    /// with the server, before the delays start over. Without both, a
    /// server that accepts and immediately drops us would see a tight loop.
    pub stable_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            stable_after: Duration::from_secs(30),
        }
    }
}

/// Exponential backoff with "full jitter": each delay is uniform in
/// `[0, min(max, initial * 2^failures)]`, which spreads a fleet of agents
/// that lost the same server instead of having them return in lockstep.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    cfg: BackoffConfig,
    failures: u32,
    rng: SplitMix64,
}

impl Backoff {
    pub(crate) fn new(cfg: BackoffConfig, seed: u64) -> Self {
        Self {
            cfg,
            failures: 0,
            rng: SplitMix64::new(seed),
        }
    }

    pub(crate) fn config(&self) -> &BackoffConfig {
        &self.cfg
    }

    /// Upper bound of the next delay.
    pub(crate) fn ceiling(&self) -> Duration {
        // 2^31 s already exceeds any sane cap; stop doubling before overflow.
        let factor = 1u32 << self.failures.min(31);
        self.cfg
            .initial
            .checked_mul(factor)
            .unwrap_or(self.cfg.max)
            .min(self.cfg.max)
    }

    /// Picks the next delay and counts one more failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        scale(ceiling, self.rng.next_u64())
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    #[cfg(test)]
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

/// `d * r / 2^64`, i.e. a uniform point in `[0, d)` for uniform `r`.
/// Durations past u64 nanoseconds (584 years) are clamped first so the
/// product fits in u128.
fn scale(d: Duration, r: u64) -> Duration {
    let d = d.as_nanos().min(u128::from(u64::MAX));
    let nanos = (d * u128::from(r)) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            stable_after: Duration::from_secs(30),
        }
    }

    /// "Establishing Connection": exponential growth, capped.
    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let mut b = Backoff::new(cfg(), 7);
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.push(b.ceiling().as_secs());
            b.next_delay();
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    /// "Establishing Connection": jitter keeps every delay within its
    /// ceiling, and the delays really are spread (not all equal to it).
    #[test]
    fn full_jitter_stays_within_the_ceiling_and_varies() {
        for seed in 0..50 {
            let mut b = Backoff::new(cfg(), seed);
            for _ in 0..15 {
                let ceiling = b.ceiling();
                let d = b.next_delay();
                assert!(d <= ceiling, "seed {seed}: {d:?} > {ceiling:?}");
            }
        }
        let mut b = Backoff::new(cfg(), 1);
        for _ in 0..9 {
            b.next_delay();
        }
        let capped: Vec<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(capped.iter().any(|d| *d < Duration::from_secs(150)));
        assert!(capped.iter().any(|d| *d > Duration::from_secs(150)));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(cfg(), 3);
        for _ in 0..5 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(32));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
        assert_eq!(b.failures(), 0);
    }

    /// Thousands of failures must neither overflow nor exceed the cap.
    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(cfg(), 9);
        for _ in 0..10_000 {
            assert!(b.next_delay() <= Duration::from_secs(300));
        }
        let huge = BackoffConfig {
            initial: Duration::from_secs(u64::MAX / 4),
            max: Duration::MAX,
            stable_after: Duration::ZERO,
        };
        let mut b = Backoff::new(huge, 1);
        for _ in 0..40 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::MAX);
    }

    #[test]
    fn scale_maps_the_random_range_onto_the_duration() {
        let d = Duration::from_secs(10);
        assert_eq!(scale(d, 0), Duration::ZERO);
        assert_eq!(scale(d, 1 << 63), Duration::from_secs(5));
        assert!(scale(d, u64::MAX) < d);
    }
}
