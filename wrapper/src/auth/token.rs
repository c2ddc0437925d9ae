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

/// The token of the request: from `Authorization: Bearer`, the configured header (its whole
/// value, or `Bearer <token>`) or the configured cookie. Any of those headers given more than
/// once refuses the request, and so do two places holding different tokens: which one the
/// handler reads would be a guess, and a token no one checked must not ride along.
pub(crate) fn find_token<'a>(invocation: &'a Invocation, location: &TokenLocation) -> Result<&'a str, AuthError> {
    single(invocation, "Authorization")?;
    if let Some(name) = &location.header {
        single(invocation, name)?;
    }
    if location.cookie.is_some() {
        single(invocation, "Cookie")?;
    }
    let from_header = location.header.as_ref().and_then(|name| invocation.header(name)).and_then(|value| {
        let token = bearer_token(Some(value)).unwrap_or(value.trim());
        (!token.is_empty()).then_some(token)
    });
    let from_cookie = match &location.cookie {
        Some(name) => invocation.header("cookie").map(|cookies| cookie(cookies, name)).transpose()?.flatten(),
        None => None,
    };
    let mut found =
        [bearer_token(invocation.header("authorization")).ok(), from_header, from_cookie].into_iter().flatten();
    let token = found.next().ok_or(AuthError::MissingToken)?;
    if found.any(|other| other != token) {
        return Err(AuthError::ConflictingTokens);
    }
    Ok(token)
}

/// Refuses a credential header that appears more than once.
pub(crate) fn single(invocation: &Invocation, name: &str) -> Result<(), AuthError> {
    if invocation.header_is_repeated(name) { Err(AuthError::DuplicateHeader(name.to_owned())) } else { Ok(()) }
}

/// The named cookie's value; the name given twice (which copy the handler reads would be a
/// guess) is refused like a credential header given twice.
fn cookie<'a>(cookies: &'a str, name: &str) -> Result<Option<&'a str>, AuthError> {
    // Cookie libraries trim the name (`session =x` is `session`), so a copy written so counts.
    let mut named =
        cookies.split(';').filter_map(|pair| pair.trim().split_once('=')).filter(|(key, _)| key.trim() == name);
    let value = named.next().map(|(_, value)| value.trim().trim_matches('"')).filter(|value| !value.is_empty());
    if named.next().is_some() {
        return Err(AuthError::DuplicateCookie(name.to_owned()));
    }
    Ok(value)
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
        assert_eq!(cookie("a=1; session=tok.en.sig; b=2", "session"), Ok(Some("tok.en.sig")));
        assert_eq!(cookie("a=1; sessionx=no", "session"), Ok(None));
        assert_eq!(cookie("session=", "session"), Ok(None));
        let twice = Err(AuthError::DuplicateCookie("session".to_owned()));
        assert_eq!(cookie("session=a; theme=dark; session=b", "session"), twice);
        assert_eq!(cookie("session=a; session=", "session"), twice);
        assert_eq!(cookie("session =forged; session=good", "session"), twice);
        assert_eq!(cookie("session=good; session\t=forged", "session"), twice);
        assert_eq!(cookie("a=1; a=2; session=t", "session"), Ok(Some("t")), "other cookies may repeat");
    }
}
