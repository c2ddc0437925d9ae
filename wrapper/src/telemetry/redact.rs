//! Redaction: credentials and configured fields never reach a span, a log line or a metric.
//!
//! Two nets: fields and headers are redacted by name (`Authorization`, cookies, API key
//! headers, anything token- or secret-like, `INTERCEPT_REDACT`), and the values the current
//! invocation carried in such headers are scrubbed from every log line written while it runs,
//! so a handler that logs its whole event leaks nothing either.

use std::borrow::Cow;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use crate::invocation::Invocation;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Names always treated as sensitive, compared case-insensitively.
const ALWAYS: &[&str] =
    &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-amz-security-token"];

/// Parts of a name that make it sensitive wherever they appear (`access_token`, `client_secret`).
const PARTS: &[&str] =
    &["token", "secret", "password", "passwd", "api-key", "api_key", "apikey", "credential", "session"];

/// Values shorter than this are not scrubbed from free text (they would match everywhere).
const MIN_SCRUBBED_LEN: usize = 8;

/// Authorization schemes whose credentials follow them after a space (`Bearer abc.def`) in the
/// value of a sensitive name.
const SCHEMES: &[&str] = &["bearer", "basic", "digest", "negotiate", "token", "apikey"];

/// The scheme whose credentials are scrubbed wherever they appear: the others are also
/// everyday words ("basic settings", "token received").
const FREE_SCHEMES: &[&str] = &["bearer"];

/// Decides which names are sensitive; built once from the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    extra: Vec<String>,
}

impl Redactor {
    /// A redactor for the built-in names plus `extra` (API key header, `INTERCEPT_REDACT` fields).
    #[must_use]
    pub fn new(extra: impl IntoIterator<Item = String>) -> Self {
        Redactor { extra: extra.into_iter().map(|name| name.to_ascii_lowercase()).collect() }
    }

    /// This redactor with more names (a policy route's `telemetry.redact`).
    #[must_use]
    pub(crate) fn with_extra(&self, more: impl IntoIterator<Item = String>) -> Self {
        let mut extra = self.extra.clone();
        extra.extend(more.into_iter().map(|name| name.to_ascii_lowercase()));
        extra.sort();
        extra.dedup();
        Redactor { extra }
    }

    /// Whether a header or field of this name must not be recorded.
    #[must_use]
    pub fn is_sensitive(&self, name: &str) -> bool {
        let lower: Cow<'_, str> =
            if name.bytes().any(|b| b.is_ascii_uppercase()) { name.to_ascii_lowercase().into() } else { name.into() };
        ALWAYS.contains(&lower.as_ref())
            || PARTS.iter().any(|part| lower.contains(part))
            || self.extra.iter().any(|extra| *extra == lower)
    }

    /// `value`, or the marker when `name` is sensitive.
    #[must_use]
    pub fn value<'a>(&self, name: &str, value: &'a str) -> &'a str {
        if self.is_sensitive(name) { REDACTED } else { value }
    }

    /// The secret values an invocation carries in sensitive headers: whole values, bearer
    /// tokens without their scheme, and each cookie's value (as sent and as cookie libraries
    /// decode it), longest first so a whole value is replaced before a part of it.
    ///
    /// At most 32 are kept, so scrubbing a line stays cheap, and the credentials
    /// go first: the sensitive headers' values, then the cookies whose names are sensitive
    /// (`session`, `sid`, ...), then the other cookies. A session id is never crowded out by
    /// long tracking cookies.
    #[must_use]
    pub fn secrets_of(&self, invocation: &Invocation) -> Vec<String> {
        // (priority, value): 0 the headers' credentials, 1 sensitive cookies, 2 other cookies.
        let mut found: Vec<(u8, String)> = Vec::new();
        for (name, value) in invocation.headers() {
            if !self.is_sensitive(name) {
                continue;
            }
            let value = value.trim();
            let is_cookie = name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("set-cookie");
            if !is_cookie {
                push_secret(&mut found, 0, value);
                if let Some((_, credentials)) = value.split_once(' ') {
                    push_secret(&mut found, 0, credentials.trim());
                }
            }
            // Basic credentials as the handler decodes them: `user:password`, and the password.
            if let Some((scheme, credentials)) = value.split_once(' ')
                && scheme.eq_ignore_ascii_case("basic")
                && let Ok(decoded) =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, credentials.trim())
                && let Ok(decoded) = String::from_utf8(decoded)
            {
                push_secret(&mut found, 0, &decoded);
                if let Some((_, password)) = decoded.split_once(':') {
                    push_secret(&mut found, 0, password);
                }
            }
            if is_cookie {
                push_secret(&mut found, 2, value);
                for cookie in value.split(';') {
                    if let Some((cookie_name, cookie_value)) = cookie.split_once('=') {
                        let cookie_value = cookie_value.trim();
                        let priority =
                            if self.is_sensitive(cookie_name.trim()) || is_session_cookie(cookie_name) { 1 } else { 2 };
                        push_secret(&mut found, priority, cookie_value);
                        // As cookie libraries hand it to the handler (`s%3Aabc` is `s:abc`).
                        if let Ok(decoded) = percent_encoding::percent_decode_str(cookie_value).decode_utf8() {
                            push_secret(&mut found, priority, &decoded);
                        }
                    }
                }
            }
        }
        found.sort_by_key(|(priority, _)| *priority);
        found.truncate(MAX_SECRETS);
        let mut secrets: Vec<String> = found.into_iter().map(|(_, secret)| secret).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }
}

/// Cookie names frameworks give their session ids (`connect.sid`, `PHPSESSID`, `JSESSIONID`,
/// `sid`, `auth...`), which the sensitive-name parts do not all catch.
fn is_session_cookie(name: &str) -> bool {
    let name = name.trim().as_bytes();
    let ends_sid = name.len() >= 3 && name[name.len() - 3..].eq_ignore_ascii_case(b"sid");
    let starts_auth = name.len() >= 4 && name[..4].eq_ignore_ascii_case(b"auth");
    ends_sid || starts_auth || name.windows(3).any(|word| word.eq_ignore_ascii_case(b"jwt"))
}

/// The most secret values kept for one invocation.
pub(crate) const MAX_SECRETS: usize = 32;

fn push_secret(secrets: &mut Vec<(u8, String)>, priority: u8, value: &str) {
    if value.len() < MIN_SCRUBBED_LEN {
        return;
    }
    // As a JSON string shows it too (a quote or backslash in a cookie, say), since handlers
    // often log their event as JSON.
    let escaped = serde_json::Value::from(value).to_string();
    let escaped = &escaped[1..escaped.len() - 1];
    for form in [value, escaped] {
        match secrets.iter_mut().find(|(_, s)| s == form) {
            Some((kept, _)) => *kept = (*kept).min(priority),
            None => secrets.push((priority, form.to_owned())),
        }
    }
}

impl Redactor {
    /// `text` (a log line) scrubbed of credentials, as every placement exports log lines:
    /// each of `secrets` (the current invocation's, from [`Redactor::secrets_of`]) is replaced
    /// by [`REDACTED`] wherever it appears, the credentials after an authorization scheme
    /// (`Bearer eyJ...`) too, and so is the value of every sensitive name written as a
    /// key/value pair (`"authorization": "..."`, `'x-api-key': '...'`, `password=...`,
    /// `Cookie: ...`). Values shorter than 8 bytes are not looked for in free text.
    ///
    /// ```
    /// use intercept::telemetry::{REDACTED, Redactor};
    ///
    /// let redactor = Redactor::new(["x-partner-key".to_owned()]);
    /// let line = r#"got {"x-partner-key": "pk_live_123", "user-agent": "curl/8"} cookie=s3ss10n-value"#;
    /// let scrubbed = redactor.scrub(line, &["s3ss10n-value".to_owned()]);
    /// assert_eq!(scrubbed, format!(r#"got {{"x-partner-key": "{REDACTED}", "user-agent": "curl/8"}} cookie={REDACTED}"#));
    /// ```
    #[must_use]
    pub fn scrub<'a>(&self, text: &'a str, secrets: &[String]) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in secrets.iter().filter(|secret| secret.len() >= MIN_SCRUBBED_LEN) {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        if let Some(scrubbed) = self.scrub_named(&out) {
            out = Cow::Owned(scrubbed);
        }
        out
    }

    /// The credentials after a scheme and the values of sensitive names, replaced; `None`
    /// when there are none.
    fn scrub_named(&self, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let mut cuts: Vec<(Range<usize>, bool)> = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            if byte == b':' || byte == b'=' {
                if let Some((name, quote)) = name_before(text, at)
                    && self.is_sensitive(name)
                    && let Some((value, requote)) = value_after(text, at + 1, quote)
                {
                    at = value.end;
                    cuts.push((value, requote));
                    continue;
                }
            } else if byte.is_ascii_alphabetic()
                && (at == 0 || !is_name_byte(bytes[at - 1]))
                && let Some(credentials) = after_scheme(text, at, FREE_SCHEMES).or_else(|| jwt_at(text, at))
            {
                at = credentials.end;
                cuts.push((credentials, false));
                continue;
            }
            at += 1;
        }
        if cuts.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        for (cut, requote) in cuts {
            out.push_str(&text[done..cut.start]);
            if requote {
                out.push('"');
                out.push_str(REDACTED);
                out.push('"');
            } else {
                out.push_str(REDACTED);
            }
            done = cut.end;
        }
        out.push_str(&text[done..]);
        Some(out)
    }
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// The name written just before the separator at `at` (`name=`, `"name":`, `'name' :`,
/// `\"name\":`), and the quote it was written in.
fn name_before(text: &str, at: usize) -> Option<(&str, Option<u8>)> {
    let bytes = text.as_bytes();
    let mut end = at;
    while end > 0 && bytes[end - 1] == b' ' {
        end -= 1;
    }
    let quote = match end.checked_sub(1).map(|i| bytes[i]) {
        Some(quote @ (b'"' | b'\'')) => {
            end -= 1;
            Some(quote)
        }
        _ => None,
    };
    if quote.is_some() && end > 0 && bytes[end - 1] == b'\\' {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && is_name_byte(bytes[start - 1]) {
        start -= 1;
    }
    (start < end).then(|| (&text[start..end], quote))
}

/// The value after a sensitive name's separator (from `from`): a quoted string's contents, a
/// scheme and its credentials, or a bare word. `true` when it is a bare JSON value (a number,
/// `null`) after a quoted name, to be replaced by a quoted marker so the JSON stays JSON.
/// `None` for an object or array (whose members are looked at one by one) or a value already
/// redacted.
fn value_after(text: &str, from: usize, name_quote: Option<u8>) -> Option<(Range<usize>, bool)> {
    let bytes = text.as_bytes();
    let mut start = from;
    while start < bytes.len() && bytes[start] == b' ' {
        start += 1;
    }
    let rest = &text[start..];
    if rest.is_empty() || rest.starts_with(['{', '[']) || rest.starts_with(REDACTED) {
        return None;
    }
    // A JSON document inside a JSON string: `\"password\": \"hunter2\"`.
    if let Some(inner) = rest.strip_prefix("\\\"") {
        let end = inner.find("\\\"").map_or(text.len(), |i| start + 2 + i);
        return (end > start + 2).then_some((start + 2..end, false));
    }
    if let Some(quote) = rest.bytes().next().filter(|b| *b == b'"' || *b == b'\'') {
        let mut end = start + 1;
        while end < bytes.len() && bytes[end] != quote {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let end = end.min(bytes.len());
        return (end > start + 1).then_some((start + 1..end, false));
    }
    if let Some(credentials) = after_scheme(text, start, SCHEMES) {
        return Some((start..credentials.end, false));
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '&' | '}' | ')' | ']' | '"' | '\'' | '\\'))
        .map_or(text.len(), |i| start + i);
    (end > start).then_some((start..end, name_quote == Some(b'"')))
}

/// The credentials after one of `schemes` starting at `at` (`Bearer eyJ...`), when they are
/// long enough to be one.
fn after_scheme(text: &str, at: usize, schemes: &[&str]) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let word_end = at + bytes[at..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let word = &text[at..word_end];
    if bytes.get(word_end) != Some(&b' ') || !schemes.iter().any(|scheme| word.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let start = word_end + 1;
    // RFC 7235's token68.
    let len = bytes[start..].iter().take_while(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(b)).count();
    (len >= MIN_SCRUBBED_LEN).then_some(start..start + len)
}

/// A JWT written bare at `at` (`eyJ...` `.` payload `.` signature, base64url): a token a
/// handler prints on its own, with no name or scheme before it, is still a credential.
fn jwt_at(text: &str, at: usize) -> Option<Range<usize>> {
    if !text[at..].starts_with("eyJ") {
        return None;
    }
    let bytes = text.as_bytes();
    let part = |from: usize| {
        from + bytes[from..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_').count()
    };
    let header_end = part(at);
    if bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload_end = part(header_end + 1);
    if payload_end == header_end + 1 || bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    Some(at..part(payload_end + 1))
}

tokio::task_local! {
    static SECRETS: Arc<[String]>;
}

/// Runs `future` with `secrets` scrubbed from every log line it writes.
pub(crate) async fn with_secrets<F: Future>(secrets: Option<Arc<[String]>>, future: F) -> F::Output {
    match secrets {
        Some(secrets) => SECRETS.scope(secrets, future).await,
        None => future.await,
    }
}

/// `text` scrubbed by `redactor` ([`Redactor::scrub`]) of the current invocation's secrets,
/// when there is an invocation, and of sensitive names' values.
pub(crate) fn scrub_current<'a>(redactor: &Redactor, text: &'a str) -> Cow<'a, str> {
    SECRETS.try_with(|secrets| redactor.scrub(text, secrets)).unwrap_or_else(|_| redactor.scrub(text, &[]))
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    #[test]
    fn sensitive_names() {
        let redactor = Redactor::new(["X-Tenant-Secret-Id".to_owned(), "ssn".to_owned()]);
        for name in ["Authorization", "cookie", "Set-Cookie", "X-API-Key", "access_token", "client_secret", "SSN"] {
            assert!(redactor.is_sensitive(name), "{name}");
        }
        for name in ["user-agent", "content-type", "traceparent", "x-request-id"] {
            assert!(!redactor.is_sensitive(name), "{name}");
        }
        assert_eq!(redactor.value("ssn", "123-45-6789"), REDACTED);
    }

    #[test]
    fn secrets_of_an_invocation_are_scrubbed_from_text() {
        let raw = RawValue::from_string(
            r#"{"version":"2.0","rawPath":"/","headers":{"authorization":"Bearer abc.def.ghi",
            "cookie":"theme=dark; session=s3ss10n-value","user-agent":"curl/8"},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}"#
                .to_owned(),
        )
        .expect("json");
        let invocation = Invocation::from_raw(&raw);
        let secrets = Redactor::default().secrets_of(&invocation);
        let text = r#"event {"authorization":"Bearer abc.def.ghi"} token abc.def.ghi cookie s3ss10n-value ua curl/8"#;
        let scrubbed = Redactor::default().scrub(text, &secrets);
        assert!(!scrubbed.contains("abc.def.ghi") && !scrubbed.contains("s3ss10n-value"), "{scrubbed}");
        assert!(scrubbed.contains("curl/8") && scrubbed.contains(REDACTED), "{scrubbed}");
        // Short values ("dark") are not scrubbed from free text.
        assert!(!secrets.iter().any(|s| s == "dark"), "{secrets:?}");
    }

    #[test]
    fn sensitive_names_values_are_scrubbed_from_free_text() {
        let redactor = Redactor::new(["x-partner".to_owned()]);
        let cases = [
            // JSON, as `json.dumps(event)` prints it.
            (
                r#"{"headers": {"Authorization": "Bearer abc.def.ghi", "x-partner": "pk_1", "accept": "*/*"}}"#,
                r#"{"headers": {"Authorization": "[REDACTED]", "x-partner": "[REDACTED]", "accept": "*/*"}}"#,
            ),
            // Python's repr, as `print(event)` prints it.
            (
                r#"{'headers': {'x-api-key': 'k3y', 'cookie': "a=b; it's"}, 'path': '/x'}"#,
                r#"{'headers': {'x-api-key': '[REDACTED]', 'cookie': "[REDACTED]"}, 'path': '/x'}"#,
            ),
            // A JSON body inside a JSON string, and a bare JSON value (kept JSON).
            (
                r#"{"body":"{\"password\": \"hunter2\", \"n\": 1}","client_secret":12345,"ok":true}"#,
                r#"{"body":"{\"password\": \"[REDACTED]\", \"n\": 1}","client_secret":"[REDACTED]","ok":true}"#,
            ),
            // Text key=value and header dumps, with schemes.
            (
                "login user=bob password=hunter2 session_id=abc&x=1 Authorization: Basic dXNlcjpwYXNz done",
                "login user=bob password=[REDACTED] session_id=[REDACTED]&x=1 Authorization: [REDACTED] done",
            ),
            // Bearer credentials anywhere; prose left alone.
            (
                "sent bearer eyJhbGciOi.eyJzdWIi.sig to upstream; basic settings, token received, Bearer token",
                "sent bearer [REDACTED] to upstream; basic settings, token received, Bearer token",
            ),
            // Nothing sensitive, or already redacted.
            (
                "GET /orders?page=2 took 12ms at 12:30:45 https://x",
                "GET /orders?page=2 took 12ms at 12:30:45 https://x",
            ),
            ("password=[REDACTED] traceId=t1", "password=[REDACTED] traceId=t1"),
        ];
        for (line, want) in cases {
            assert_eq!(redactor.scrub(line, &[]), want, "{line}");
        }
        let json = redactor.scrub(r#"{"token":null,"a":[1,{"apiKey":7}]}"#, &[]);
        let value: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
        assert_eq!((value["token"].as_str(), value["a"][1]["apiKey"].as_str()), (Some(REDACTED), Some(REDACTED)));
    }

    #[test]
    fn a_session_cookie_is_not_crowded_out_by_tracking_cookies() {
        let tracking: Vec<String> = (0..40).map(|i| format!("_track{i}={}", "t".repeat(200 + i))).collect();
        let cookie = format!("{}; connect.sid=s%3Ashort-session-id-01; theme=dark-mode-x", tracking.join("; "));
        let event = format!(
            r#"{{"version":"2.0","routeKey":"$default","rawPath":"/","headers":{{"cookie":"{cookie}",
            "authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}},"requestContext":{{"http":{{"method":"GET","path":"/"}}}}}}"#
        );
        let invocation = Invocation::from_raw(&serde_json::value::RawValue::from_string(event).expect("json"));
        let secrets = Redactor::default().secrets_of(&invocation);
        assert!(secrets.len() <= MAX_SECRETS);
        for kept in ["s%3Ashort-session-id-01", "s:short-session-id-01", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"] {
            assert!(secrets.iter().any(|s| s == kept), "{kept} kept among {} secrets", secrets.len());
        }
        assert!(secrets.windows(2).all(|pair| pair[0].len() >= pair[1].len()), "longest first");
    }

    #[test]
    fn bare_jwts_and_decoded_credentials_are_scrubbed() {
        let redactor = Redactor::new([]);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        assert_eq!(redactor.scrub(&format!("token {jwt} seen"), &[]), format!("token {REDACTED} seen"));
        assert_eq!(redactor.scrub(&format!("[{jwt}]"), &[]), format!("[{REDACTED}]"));
        assert_eq!(redactor.scrub("eyJ is not a token. eyJx.y", &[]), "eyJ is not a token. eyJx.y");
        let event = r#"{"version":"2.0","routeKey":"$default","rawPath":"/",
            "headers":{"cookie":"connect.sid=s%3AabcDEF123.sig","authorization":"Basic YWxpY2U6aHVudGVyMmh1bnRlcjI="},
            "requestContext":{"http":{"method":"GET","path":"/"}}}"#;
        let invocation =
            Invocation::from_raw(&serde_json::value::RawValue::from_string(event.to_owned()).expect("json"));
        let secrets = redactor.secrets_of(&invocation);
        for logged in ["{'connect.sid': 's:abcDEF123.sig'}", "user alice:hunter2hunter2", "pw hunter2hunter2"] {
            let scrubbed = redactor.scrub(logged, &secrets);
            assert!(!scrubbed.contains("abcDEF123") && !scrubbed.contains("hunter2hunter2"), "{logged}: {scrubbed}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_as_written_and_as_json_escapes_them() {
        let raw = RawValue::from_string(
            r#"{"version":"2.0","rawPath":"/","headers":{"cookie":"sid=ab\"cd/efgh"},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}"#
                .to_owned(),
        )
        .expect("json");
        let secrets = Redactor::default().secrets_of(&Invocation::from_raw(&raw));
        assert!(
            secrets.iter().any(|s| s == r#"ab"cd/efgh"#) && secrets.iter().any(|s| s == r#"ab\"cd/efgh"#),
            "{secrets:?}"
        );
        let logged = r#"raw ab"cd/efgh json "ab\"cd/efgh""#;
        assert_eq!(Redactor::default().scrub(logged, &secrets), r#"raw [REDACTED] json "[REDACTED]""#);
        // Below 8 bytes, a value is not looked for.
        assert_eq!(Redactor::default().scrub("seven77 seven77", &["seven77".to_owned()]), "seven77 seven77");
    }
}
