//! The compile-time checks of `#[intercept::main]`'s setting values.
//!
//! What is accepted is decided by `intercept_settings::grammar`, which the core's parsers use
//! too; this file only words the macro's messages (quoting the accepted forms). `intercept`
//! compiles this very file in a unit test and checks it agrees with the runtime parsers on a
//! table of values.

use intercept_settings::grammar::{self as shared, RateError};

/// The accepted forms of a rate, quoted in every error about one.
pub(crate) const RATE_FORMS: &str = "expected `N/s`, `N/m`, `N/h` or `N/d` (N a whole number above 0), \
     optionally followed by `key=...`, `burst=N` or `name=...`, several rules separated by commas, \
     e.g. \"100/s\" or \"100/m, 20/s key=principal burst=40\"";

/// Checks an `INTERCEPT_RATE_LIMIT` value: comma separated rules, each a rate and attributes.
/// `default_key` is the key of rules without `key=`, when known at compile time (otherwise
/// the environment decides it, and only names that certainly collide are reported).
pub(crate) fn check_rate_limit(value: &str, default_key: Option<&str>) -> Result<(), String> {
    let mut names: Vec<String> = Vec::new();
    for entry in value.split(',') {
        let mut words = entry.split_whitespace();
        let Some(rate) = words.next() else {
            return Err(format!("a rule is empty; {RATE_FORMS}"));
        };
        check_rate(rate)?;
        let mut name = None;
        // A name no rule can be given (`\0` is not a token character) stands for an unknown default key.
        let mut key = default_key.unwrap_or("\0default").to_owned();
        for word in words {
            let Some((attribute, attribute_value)) = word.split_once('=') else {
                return Err(format!("`{word}` is not an attribute; {RATE_FORMS}"));
            };
            match attribute {
                "key" => {
                    check_limit_key(attribute_value)?;
                    key = attribute_value.to_owned();
                }
                "burst" => check_burst(attribute_value)?,
                "name" if shared::is_rule_name(attribute_value) => name = Some(attribute_value.to_owned()),
                "name" => {
                    return Err(format!(
                        "`{attribute_value}` is not a rule name; use letters, digits, `-`, `_` and `.`"
                    ));
                }
                other => return Err(format!("unknown attribute `{other}`; {RATE_FORMS}")),
            }
        }
        let name = name.unwrap_or(key);
        if names.contains(&name) {
            let named = if name.starts_with('\0') { "after the default key".to_owned() } else { format!("`{name}`") };
            return Err(format!("two rules are named {named}; give one a `name=` attribute"));
        }
        names.push(name);
    }
    Ok(())
}

fn check_rate(rate: &str) -> Result<(), String> {
    match shared::parse_rate(rate) {
        Ok(_) => Ok(()),
        Err(RateError::NotARate) => Err(format!("`{rate}` is not a rate; {RATE_FORMS}")),
        Err(RateError::BadCount) => Err(format!("`{rate}` needs a whole number of requests above 0; {RATE_FORMS}")),
        Err(RateError::UnknownPeriod) => {
            let unit = rate.split_once('/').map_or("", |(_, unit)| unit);
            Err(format!("`{rate}` has an unknown period `{unit}`; {RATE_FORMS}"))
        }
    }
}

/// Checks a burst: a whole number above 0.
pub(crate) fn check_burst(value: &str) -> Result<(), String> {
    match shared::parse_burst(value) {
        Some(_) => Ok(()),
        None => Err(format!("`{value}` is not a burst; expected a whole number above 0")),
    }
}

/// Checks a rate-limit key name.
pub(crate) fn check_limit_key(value: &str) -> Result<(), String> {
    if shared::is_limit_key(value) {
        Ok(())
    } else {
        Err(format!("`{value}` is not a rate-limit key; expected one of {}", shared::LIMIT_KEYS.join(", ")))
    }
}

/// Checks an `INTERCEPT_AUTH` value: `jwt`, `api-key`, `none` or a comma list of them.
pub(crate) fn check_auth(value: &str) -> Result<(), String> {
    shared::parse_schemes(value).map(|_| ()).map_err(|scheme| {
        format!(
            "`{scheme}` is not an authentication scheme; expected \"jwt\", \"api-key\", \"jwt,api-key\" or \"none\""
        )
    })
}
