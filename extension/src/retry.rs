//! How an export attempt's answer is judged and how long to wait before the next attempt.

use std::time::Duration;

/// The first retry waits about this long; each later one twice as long.
const BACKOFF_BASE: Duration = Duration::from_millis(20);
/// No wait between attempts is longer.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// What to do after a collector's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted.
    Sent,
    /// Worth another attempt, after the collector's `Retry-After` when it gave one.
    Retry(Option<Duration>),
    /// Refused for good (a 4xx other than 408/429): retrying would loop forever.
    Rejected,
}

/// Judges an HTTP status as OTLP/HTTP says: 2xx sent; 429, 502, 503, 504 (and any other 5xx,
/// and 408) retried, honouring `Retry-After` on 429 and 503; other 4xx rejected.
pub(crate) fn classify(status: u16, retry_after: Option<&str>) -> Verdict {
    match status {
        200..=299 => Verdict::Sent,
        429 | 503 => Verdict::Retry(retry_after.and_then(parse_retry_after)),
        408 | 500..=599 => Verdict::Retry(None),
        _ => Verdict::Rejected,
    }
}

/// `Retry-After` in delay-seconds. (The HTTP-date form is not honoured: collectors send
/// seconds, and a date would need the clock of the collector; the backoff applies instead.)
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The wait before retry number `attempt` (0 for the first retry): exponential, capped, with
/// jitter in [50%, 100%] of the step so that environments do not retry in lockstep.
/// `jitter` is in [0, 1).
pub(crate) fn backoff(attempt: u32, jitter: f64) -> Duration {
    let step = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(16)).min(BACKOFF_CAP);
    step.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_judged_as_otlp_says() {
        assert_eq!(classify(200, None), Verdict::Sent);
        assert_eq!(classify(429, Some("3")), Verdict::Retry(Some(Duration::from_secs(3))));
        assert_eq!(classify(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")), Verdict::Retry(None));
        assert_eq!(classify(500, Some("3")), Verdict::Retry(None), "Retry-After only on 429/503");
        assert_eq!(classify(400, None), Verdict::Rejected);
        assert_eq!(classify(413, None), Verdict::Rejected);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(10));
        assert_eq!(backoff(0, 0.999_999).as_millis(), 19);
        assert_eq!(backoff(2, 0.0), Duration::from_millis(40));
        assert_eq!(backoff(30, 0.999_999).as_millis(), 1_999);
        let spread: std::collections::HashSet<u128> =
            [0.0, 0.3, 0.6, 0.9].iter().map(|j| backoff(3, *j).as_micros()).collect();
        assert_eq!(spread.len(), 4, "jitter spreads the waits");
    }
}
