//! The error of the public parsers of setting values ([`Quota::parse`](crate::ratelimit::Quota::parse),
//! [`ApiKeys::parse`](crate::auth::ApiKeys::parse), [`ScopeRule::parse`](crate::auth::ScopeRule::parse)).

use std::fmt;

/// A setting value that does not parse: the message says what is wrong and what was expected,
/// and never repeats a secret (an API key's entry is named, not its key).
///
/// ```
/// use intercept::ratelimit::Quota;
///
/// let error = Quota::parse("5/fortnight").unwrap_err();
/// assert_eq!(error.to_string(), "`5/fortnight` has an unknown period; expected a rate like `100/s`, `6000/m` or `10/h`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> ParseError {
        ParseError { message: message.into() }
    }

    /// What is wrong, as [`Display`](fmt::Display) writes it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}
