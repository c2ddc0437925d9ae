//! Where a request carries its credentials: `Authorization: Bearer`, a named header or cookie.

use super::AuthError;
use super::settings::TokenLocation;
use crate::invocation::Invocation;

/// Reads the bearer token from an `Authorization` header value.
///
/// # Errors
/// [`AuthError::MissingToken`] when there is no bearer token.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::MissingToken)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() { Err(AuthError::MissingToken) } else { Ok(token) }
}

/// The token from the first place that has one: `Authorization`, then the configured
/// header (its whole value, or `Bearer <token>`), then the configured cookie. Any of those
/// headers given more than once refuses the request: which copy counts would be a guess.
pub(crate) fn find_token<'a>(invocation: &'a Invocation, location: &TokenLocation) -> Result<&'a str, AuthError> {
    single(invocation, "Authorization")?;
    if let Some(name) = &location.header {
        single(invocation, name)?;
    }
    if location.cookie.is_some() {
        single(invocation, "Cookie")?;
    }
    if let Ok(token) = bearer_token(invocation.header("authorization")) {
        return Ok(token);
    }
    if let Some(name) = &location.header
        && let Some(value) = invocation.header(name)
    {
        let token = bearer_token(Some(value)).unwrap_or(value.trim());
        if !token.is_empty() {
            return Ok(token);
        }
    }
    if let Some(name) = &location.cookie
        && let Some(token) = invocation.header("cookie").and_then(|cookies| cookie(cookies, name))
    {
        return Ok(token);
    }
    Err(AuthError::MissingToken)
}

/// Refuses a credential header that appears more than once.
pub(crate) fn single(invocation: &Invocation, name: &str) -> Result<(), AuthError> {
    if invocation.header_is_repeated(name) { Err(AuthError::DuplicateHeader(name.to_owned())) } else { Ok(()) }
}

fn cookie<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens_only() {
        assert_eq!(bearer_token(Some("Bearer abc.def.ghi")), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(Some("bearer   abc ")), Ok("abc"));
        for bad in [None, Some(""), Some("Bearer"), Some("Bearer  "), Some("Basic dXNlcjpwYXNz"), Some("abc")] {
            assert_eq!(bearer_token(bad), Err(AuthError::MissingToken), "{bad:?}");
        }
    }

    #[test]
    fn finds_a_named_cookie() {
        assert_eq!(cookie("a=1; session=tok.en.sig; b=2", "session"), Some("tok.en.sig"));
        assert_eq!(cookie("a=1; sessionx=no", "session"), None);
        assert_eq!(cookie("session=", "session"), None);
    }
}
