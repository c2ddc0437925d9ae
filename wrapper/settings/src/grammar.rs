//! The grammar of the values both `#[intercept::main]` (at compile time) and the core (at init)
//! read: rates, bursts, rate-limit keys and rule names, authentication schemes. Each side words
//! its own messages (the macro quotes the accepted forms, the core names the setting); what is
//! accepted is decided here, once.

/// The names a rate-limit key may have (`INTERCEPT_RATE_LIMIT_KEY`, a rule's `key=`).
pub const LIMIT_KEYS: [&str; 5] = ["source-ip", "principal", "api-key", "route", "global"];

/// The authentication schemes (`INTERCEPT_AUTH`), alone or as a comma list.
pub const AUTH_SCHEMES: [&str; 3] = ["jwt", "api-key", "none"];

/// What is wrong with a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateError {
    /// No `/`.
    NotARate,
    /// The count is not a whole number above 0.
    BadCount,
    /// The period is not one of `s`, `m`, `h`, `d` (or their long forms).
    UnknownPeriod,
}

/// A rate `N/unit`: the count and the period in seconds. Spaces around either part are allowed.
///
/// # Errors
/// Which part is wrong.
pub fn parse_rate(text: &str) -> Result<(u32, u64), RateError> {
    let (count, unit) = text.trim().split_once('/').ok_or(RateError::NotARate)?;
    let count = count.trim().parse::<u32>().ok().filter(|c| *c > 0).ok_or(RateError::BadCount)?;
    let period = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return Err(RateError::UnknownPeriod),
    };
    Ok((count, period))
}

/// A burst: a whole number above 0.
#[must_use]
pub fn parse_burst(value: &str) -> Option<u32> {
    value.parse().ok().filter(|burst| *burst > 0)
}

/// Whether `value` names a rate-limit key.
#[must_use]
pub fn is_limit_key(value: &str) -> bool {
    LIMIT_KEYS.contains(&value)
}

/// Whether `name` may name a rule: letters, digits, `-`, `_` and `.`.
#[must_use]
pub fn is_rule_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The schemes an `INTERCEPT_AUTH` value turns on, `(jwt, api_key)`.
///
/// # Errors
/// The first word that is not a scheme.
pub fn parse_schemes(value: &str) -> Result<(bool, bool), &str> {
    let (mut jwt, mut api_key) = (false, false);
    for scheme in value.split(',').map(str::trim) {
        match scheme {
            "none" => {}
            "jwt" => jwt = true,
            "api-key" => api_key = true,
            other => return Err(other),
        }
    }
    Ok((jwt, api_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_bursts_keys_and_schemes() {
        assert_eq!(parse_rate(" 2 / h "), Ok((2, 3600)));
        assert_eq!(parse_rate("6000/minute"), Ok((6000, 60)));
        assert_eq!(parse_rate("5"), Err(RateError::NotARate));
        for bad in ["0/s", "-1/s", "1.5/s", "five/s", "/s"] {
            assert_eq!(parse_rate(bad), Err(RateError::BadCount), "{bad}");
        }
        assert_eq!(parse_rate("5/fortnight"), Err(RateError::UnknownPeriod));
        assert_eq!((parse_burst("40"), parse_burst("0"), parse_burst("x")), (Some(40), None, None));
        assert!(is_limit_key("principal") && !is_limit_key("user"));
        assert!(is_rule_name("a-b_c.1") && !is_rule_name("a b") && !is_rule_name(""));
        assert_eq!(parse_schemes("jwt, api-key"), Ok((true, true)));
        assert_eq!(parse_schemes("none"), Ok((false, false)));
        assert_eq!(parse_schemes("jwt,saml"), Err("saml"));
    }
}
