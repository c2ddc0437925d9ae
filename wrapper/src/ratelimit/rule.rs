//! A rate-limit rule: a named quota counted per a key.

use super::{LimitKey, Quota};

/// One limit: `quota` per `key`, named in `RateLimit-Policy` and in the store's keys.
///
/// Several rules may apply to one request; the strictest decides. Rules come from
/// `INTERCEPT_RATE_LIMIT` today and are plain data so a policy file can build them too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// The name in `RateLimit-Policy` and the store's keys; unique among the rules.
    pub(crate) name: String,
    /// Requests allowed per period, and the burst.
    pub(crate) quota: Quota,
    /// What the limit is counted per.
    pub(crate) key: LimitKey,
}

impl Rule {
    /// A rule named after its key (`source-ip`, `principal`, ...).
    #[must_use]
    pub(crate) fn new(quota: Quota, key: LimitKey) -> Rule {
        Rule { name: key.name().to_owned(), quota, key }
    }

    /// Parses one entry of `INTERCEPT_RATE_LIMIT`: a rate, then optional `key=`, `burst=` and
    /// `name=` attributes separated by spaces, e.g. `20/s key=principal burst=40`.
    /// `default_key` and `default_burst` apply where the entry sets none.
    ///
    /// # Errors
    /// A message saying what was expected.
    pub(crate) fn parse(entry: &str, default_key: LimitKey, default_burst: Option<u32>) -> Result<Rule, String> {
        let mut words = entry.split_whitespace();
        let rate = words.next().ok_or("an entry is empty; expected a rate like `100/s`")?;
        let mut quota = Quota::parse(rate).map_err(|error| error.to_string())?;
        if let Some(burst) = default_burst {
            quota = quota.with_burst(burst);
        }
        let mut rule = Rule::new(quota, default_key);
        let mut named = false;
        for word in words {
            let (attribute, value) = word
                .split_once('=')
                .ok_or_else(|| format!("`{word}` in `{entry}` is not an attribute; expected key=, burst= or name="))?;
            match attribute {
                "key" => {
                    rule.key = LimitKey::parse(value).ok_or_else(|| {
                        format!("`{value}` is not a key; expected source-ip, principal, api-key, route or global")
                    })?;
                }
                "burst" => rule.quota = rule.quota.with_burst(parse_burst(value)?),
                "name" if intercept_settings::grammar::is_rule_name(value) => {
                    rule.name = value.to_owned();
                    named = true;
                }
                "name" => {
                    return Err(format!("`{value}` is not a name; use letters, digits, `-`, `_` and `.`"));
                }
                other => {
                    return Err(format!("unknown attribute `{other}` in `{entry}`; expected key=, burst= or name="));
                }
            }
        }
        if !named {
            rule.name = rule.key.name().to_owned();
        }
        Ok(rule)
    }
}

/// Parses a burst: a whole number above zero.
pub(crate) fn parse_burst(value: &str) -> Result<u32, String> {
    intercept_settings::grammar::parse_burst(value).ok_or_else(|| format!("`{value}` is not a whole number above 0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_with_attributes() {
        let rule = Rule::parse("20/s key=principal burst=40", LimitKey::SourceIp, None).expect("valid");
        assert_eq!(rule.key, LimitKey::Principal);
        assert_eq!(rule.name, "principal");
        assert_eq!((rule.quota.count, rule.quota.burst), (20, 40));
        let named = Rule::parse("1000/h name=hourly", LimitKey::SourceIp, Some(5)).expect("valid");
        assert_eq!((named.name.as_str(), named.key, named.quota.burst), ("hourly", LimitKey::SourceIp, 5));
    }

    #[test]
    fn bad_entries_say_why() {
        for bad in [
            "",
            "-1/s",
            "0/m",
            "10/s key=user",
            "10/s burst=0",
            "10/s burst=-2",
            "10/s colour=red",
            "10/s principal",
            "10/s name=a\"b",
        ] {
            assert!(Rule::parse(bad, LimitKey::SourceIp, None).is_err(), "{bad}");
        }
    }
}
