//! Quotas (`100/s`, burst) and what a limit is counted per.

use std::time::Duration;

use crate::ParseError;

/// A rate and a burst: `count` requests per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// Requests that may arrive at once; defaults to `count`.
    pub burst: u32,
}

impl Quota {
    /// Parses `N/s`, `N/m`, `N/h` or `N/d` (also `N/second`, `N/minute`, ...).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let quota = intercept::ratelimit::Quota::parse("100/s").expect("a rate");
    /// assert_eq!((quota.count, quota.period, quota.burst), (100, Duration::from_secs(1), 100));
    /// ```
    ///
    /// # Errors
    /// A [`ParseError`] saying what was expected.
    pub fn parse(text: &str) -> Result<Quota, ParseError> {
        let expected = "expected a rate like `100/s`, `6000/m` or `10/h`";
        use intercept_settings::grammar::{RateError, parse_rate};
        let (count, seconds) = parse_rate(text).map_err(|error| match error {
            RateError::NotARate => ParseError::new(format!("`{text}` is not a rate; {expected}")),
            RateError::BadCount => {
                ParseError::new(format!("`{text}` needs a whole number of requests above 0; {expected}"))
            }
            RateError::UnknownPeriod => ParseError::new(format!("`{text}` has an unknown period; {expected}")),
        })?;
        let period = Duration::from_secs(seconds);
        Ok(Quota { count, period, burst: count })
    }

    /// Sets the burst.
    #[must_use]
    pub fn with_burst(self, burst: u32) -> Quota {
        Quota { burst, ..self }
    }

    /// The time between two requests at the sustained rate (GCRA's emission interval).
    #[must_use]
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count
    }
}

/// What a rate limit is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKey {
    /// The client's source IP (checked before authentication).
    SourceIp,
    /// The authenticated subject (checked after authentication).
    Principal,
    /// The API key the caller presented (its configured name; checked after authentication).
    ApiKey,
    /// The route template or path.
    Route,
    /// One limit for every request.
    Global,
}

impl LimitKey {
    /// Parses the `INTERCEPT_RATE_LIMIT_KEY` names.
    #[must_use]
    pub fn parse(text: &str) -> Option<LimitKey> {
        match text {
            "source-ip" => Some(LimitKey::SourceIp),
            "principal" => Some(LimitKey::Principal),
            "api-key" => Some(LimitKey::ApiKey),
            "route" => Some(LimitKey::Route),
            "global" => Some(LimitKey::Global),
            _ => None,
        }
    }

    /// The name used in settings and in `RateLimit-Policy`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            LimitKey::SourceIp => "source-ip",
            LimitKey::Principal => "principal",
            LimitKey::ApiKey => "api-key",
            LimitKey::Route => "route",
            LimitKey::Global => "global",
        }
    }

    /// Whether the key needs the authenticated principal, so the rule runs after authentication.
    #[must_use]
    pub fn after_auth(self) -> bool {
        matches!(self, LimitKey::Principal | LimitKey::ApiKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let quota = Quota::parse("100/s").expect("valid");
        assert_eq!((quota.count, quota.period, quota.burst), (100, Duration::from_secs(1), 100));
        assert_eq!(Quota::parse("6000/minute").expect("valid").emission_interval(), Duration::from_millis(10));
        assert_eq!(Quota::parse(" 2 / h ").expect("valid").period, Duration::from_secs(3600));
        for bad in ["", "5", "5/", "/s", "0/s", "-1/s", "1.5/s", "5/fortnight", "five/s"] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
    }
}
