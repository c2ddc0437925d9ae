//! The generic cell rate algorithm: one theoretical arrival time per key, exact, no refill task.

use std::time::Duration;

use super::Quota;

/// The outcome of one rate-limit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through; `remaining` more would pass right now.
    Allow {
        /// Requests that would still be allowed at this instant.
        remaining: u32,
    },
    /// Refuse it; a request would pass after `retry_after`.
    Deny {
        /// How long until a request would be allowed.
        retry_after: Duration,
    },
}

/// GCRA over a quota. Times are durations since any fixed epoch the caller chooses.
#[derive(Debug, Clone, Copy)]
pub struct Gcra {
    interval: Duration,
    tolerance: Duration,
}

impl Gcra {
    /// How far ahead of this clock another environment's clock may run before its arrival
    /// times are treated as coming from a broken clock.
    pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(1);

    /// The algorithm for one quota.
    #[must_use]
    pub fn new(quota: Quota) -> Gcra {
        let interval = quota.emission_interval();
        Gcra { interval, tolerance: interval * quota.burst }
    }

    /// The time between two requests at the sustained rate.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How far ahead of `now` the arrival time may run: `interval × burst`.
    #[must_use]
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Decides one request at `now` given the key's stored theoretical arrival time.
    ///
    /// Returns the decision and the arrival time to store (unchanged on a denial).
    ///
    /// An allowed request never stores an arrival time past `now + tolerance`, so one found
    /// further ahead was written by a clock running ahead of ours (another environment, or a
    /// clock stepped back). Up to [`Gcra::MAX_CLOCK_SKEW`] beyond that is honoured: the slower
    /// clock just waits the skew out, which keeps the limit exact. Anything further is a broken
    /// clock, and is read (and stored back, even on a denial) as `now + tolerance +
    /// MAX_CLOCK_SKEW`, so such a clock cannot shut a key for longer than an interval plus the
    /// allowance. On agreeing clocks the clamp never changes a decision. The Redis script does
    /// the same.
    #[must_use]
    pub fn decide(&self, stored_tat: Option<Duration>, now: Duration) -> (Decision, Option<Duration>) {
        let stored_tat = stored_tat.map(|tat| tat.min(now + self.tolerance + Gcra::MAX_CLOCK_SKEW));
        let tat = stored_tat.map_or(now, |tat| tat.max(now));
        let new_tat = tat + self.interval;
        let allow_at = new_tat.saturating_sub(self.tolerance);
        if now < allow_at {
            return (Decision::Deny { retry_after: allow_at - now }, stored_tat);
        }
        let used = new_tat - now;
        let remaining = (self.tolerance.saturating_sub(used).as_nanos() / self.interval.as_nanos().max(1)) as u32;
        (Decision::Allow { remaining }, Some(new_tat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn burst_then_sustained_rate() {
        let gcra = Gcra::new(Quota::parse("2/m").expect("valid"));
        let (first, tat) = gcra.decide(None, secs(100));
        assert_eq!(first, Decision::Allow { remaining: 1 });
        let (second, tat) = gcra.decide(tat, secs(100));
        assert_eq!(second, Decision::Allow { remaining: 0 });
        let (third, same) = gcra.decide(tat, secs(100));
        assert_eq!(third, Decision::Deny { retry_after: secs(30) });
        assert_eq!(same, tat, "a denial stores nothing new");
        let (later, _) = gcra.decide(tat, secs(130));
        assert_eq!(later, Decision::Allow { remaining: 0 });
    }

    #[test]
    fn idle_key_refills_to_full_burst() {
        let gcra = Gcra::new(Quota::parse("5/s").expect("valid"));
        let mut tat = None;
        for _ in 0..5 {
            let (decision, next) = gcra.decide(tat, secs(10));
            assert!(matches!(decision, Decision::Allow { .. }));
            tat = next;
        }
        assert!(matches!(gcra.decide(tat, secs(10)).0, Decision::Deny { .. }));
        assert_eq!(gcra.decide(tat, secs(60)).0, Decision::Allow { remaining: 4 });
    }

    #[test]
    fn arrival_time_from_a_broken_clock_is_clamped() {
        let gcra = Gcra::new(Quota::parse("1/s").expect("valid").with_burst(2));
        // Written by a clock an hour ahead: without the clamp this key would be shut for an hour.
        let (decision, kept) = gcra.decide(Some(secs(3600)), secs(10));
        assert_eq!(decision, Decision::Deny { retry_after: secs(2) });
        assert_eq!(kept, Some(secs(13)), "the clamped time is stored back");
        assert!(matches!(gcra.decide(kept, secs(12)).0, Decision::Allow { .. }));
        // Within the skew allowance nothing is clamped: the behind clock waits.
        let (_, kept) = gcra.decide(Some(secs(12) + Duration::from_millis(500)), secs(10));
        assert_eq!(kept, Some(secs(12) + Duration::from_millis(500)));
    }

    #[test]
    fn burst_one_spaces_requests_evenly() {
        let gcra = Gcra::new(Quota::parse("10/s").expect("valid").with_burst(1));
        let (_, tat) = gcra.decide(None, Duration::ZERO);
        let (denied, _) = gcra.decide(tat, Duration::from_millis(50));
        assert_eq!(denied, Decision::Deny { retry_after: Duration::from_millis(50) });
        assert!(matches!(gcra.decide(tat, Duration::from_millis(100)).0, Decision::Allow { .. }));
    }
}
