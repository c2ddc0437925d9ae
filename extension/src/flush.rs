//! When to flush: `INTERCEPT_FLUSH` = `end`, `periodic,<ms>` or `adaptive`, and the adaptive
//! policy that moves flushing off the response path when invocations are frequent.

use std::time::{Duration, Instant};

use crate::config::ConfigError;

/// The flush strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushMode {
    /// At the end of each invocation, before the extension calls `next`.
    End,
    /// In the background every interval while the environment is thawed.
    Periodic(Duration),
    /// At the end while invocations are sparse, in the background once they are frequent.
    Adaptive,
}

impl FlushMode {
    pub(crate) fn parse(text: &str) -> Result<FlushMode, ConfigError> {
        let bad = || ConfigError {
            setting: "INTERCEPT_FLUSH",
            problem: format!("`{text}` is not `end`, `periodic,<ms>` (at least 10) or `adaptive`"),
        };
        match text.trim() {
            "end" => Ok(FlushMode::End),
            "adaptive" => Ok(FlushMode::Adaptive),
            other => {
                let ms = other
                    .strip_prefix("periodic,")
                    .and_then(|ms| ms.trim().parse::<u64>().ok())
                    .filter(|ms| *ms >= 10)
                    .ok_or_else(bad)?;
                Ok(FlushMode::Periodic(Duration::from_millis(ms)))
            }
        }
    }
}

/// What to do at the end of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtInvoke {
    /// Wait for the runtime to be done and flush before calling `next`.
    FlushAtEnd,
    /// Call `next` at once; the background flusher sends the data.
    Background,
}

/// Invocations closer together than this (on average) are frequent.
const FREQUENT_BELOW: Duration = Duration::from_millis(1_000);
/// Frequent traffic becomes sparse again once the average gap grows past this (hysteresis,
/// so a steady rate near the threshold does not flip the mode on every invocation).
const SPARSE_ABOVE: Duration = Duration::from_millis(2_000);
/// Interval of the background flusher in adaptive mode.
pub(crate) const ADAPTIVE_INTERVAL: Duration = Duration::from_millis(500);

/// Decides, invocation by invocation, where the flush goes. Time comes from the caller, so the
/// policy is tested without a clock.
#[derive(Debug)]
pub struct FlushPolicy {
    mode: FlushMode,
    last_invoke: Option<Instant>,
    /// Moving average of the gap between invocations (weight 1/4 on the newest gap).
    average_gap: Option<Duration>,
    frequent: bool,
}

impl FlushPolicy {
    /// A policy for `mode`, starting sparse.
    #[must_use]
    pub fn new(mode: FlushMode) -> Self {
        FlushPolicy { mode, last_invoke: None, average_gap: None, frequent: false }
    }

    /// The background flusher's interval, if this mode has one.
    #[must_use]
    pub fn background_interval(&self) -> Option<Duration> {
        match self.mode {
            FlushMode::End => None,
            FlushMode::Periodic(every) => Some(every),
            FlushMode::Adaptive => Some(ADAPTIVE_INTERVAL),
        }
    }

    /// Whether the background flusher should flush now.
    #[must_use]
    pub fn background_active(&self) -> bool {
        match self.mode {
            FlushMode::End => false,
            FlushMode::Periodic(_) => true,
            FlushMode::Adaptive => self.frequent,
        }
    }

    /// Records an INVOKE at `now` and says what to do at its end.
    pub fn on_invoke(&mut self, now: Instant) -> AtInvoke {
        if let Some(last) = self.last_invoke {
            let gap = now.saturating_duration_since(last);
            let average = match self.average_gap {
                Some(average) => (average * 3 + gap) / 4,
                None => gap,
            };
            self.average_gap = Some(average);
            if self.frequent && (average > SPARSE_ABOVE || gap > SPARSE_ABOVE * 4) {
                self.frequent = false;
            } else if !self.frequent && average < FREQUENT_BELOW {
                self.frequent = true;
            }
        }
        self.last_invoke = Some(now);
        match self.mode {
            FlushMode::End => AtInvoke::FlushAtEnd,
            FlushMode::Periodic(_) => AtInvoke::Background,
            FlushMode::Adaptive if self.frequent => AtInvoke::Background,
            FlushMode::Adaptive => AtInvoke::FlushAtEnd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_modes() {
        assert_eq!(FlushMode::parse("end"), Ok(FlushMode::End));
        assert_eq!(FlushMode::parse(" adaptive "), Ok(FlushMode::Adaptive));
        assert_eq!(FlushMode::parse("periodic,250"), Ok(FlushMode::Periodic(Duration::from_millis(250))));
        for bad in ["periodic", "periodic,5", "periodic,x", "sometimes"] {
            assert_eq!(FlushMode::parse(bad).expect_err(bad).setting, "INTERCEPT_FLUSH");
        }
    }

    #[test]
    fn adaptive_goes_to_the_background_under_traffic_and_back_when_it_falls() {
        let mut policy = FlushPolicy::new(FlushMode::Adaptive);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(policy.on_invoke(at(0)), AtInvoke::FlushAtEnd, "a cold start is sparse");
        assert_eq!(policy.on_invoke(at(5_000)), AtInvoke::FlushAtEnd);
        let mut now = 5_000;
        let mut decisions = Vec::new();
        for _ in 0..6 {
            now += 50;
            decisions.push(policy.on_invoke(at(now)));
        }
        assert_eq!(decisions.last(), Some(&AtInvoke::Background), "{decisions:?}");
        assert!(policy.background_active());
        assert_eq!(policy.on_invoke(at(now + 1_500)), AtInvoke::Background, "one slower gap does not flip it back");
        assert_eq!(policy.on_invoke(at(now + 60_000)), AtInvoke::FlushAtEnd, "traffic fell");
        assert!(!policy.background_active());
    }

    #[test]
    fn end_and_periodic_do_not_adapt() {
        let start = Instant::now();
        let mut end = FlushPolicy::new(FlushMode::End);
        let mut periodic = FlushPolicy::new(FlushMode::Periodic(Duration::from_millis(100)));
        for ms in [0, 10, 20, 30, 40] {
            let now = start + Duration::from_millis(ms);
            assert_eq!(end.on_invoke(now), AtInvoke::FlushAtEnd);
            assert_eq!(periodic.on_invoke(now), AtInvoke::Background);
        }
        assert_eq!(end.background_interval(), None);
        assert_eq!(periodic.background_interval(), Some(Duration::from_millis(100)));
    }
}
