//! Redaction: credentials and configured fields never reach a span, a log line or a metric.
//!
//! Two nets: fields and headers are redacted by name (`Authorization`, cookies, API key
//! headers, anything token- or secret-like, `INTERCEPT_REDACT`), and the values the current
//! invocation carried in such headers are scrubbed from every log line written while it runs,
//! so a handler that logs its whole event leaks nothing either.

use std::borrow::Cow;
use std::future::Future;
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
const MIN_SCRUBBED_LEN: usize = 6;

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
    /// tokens without their scheme, and each cookie's value.
    #[must_use]
    pub fn secrets_of(&self, invocation: &Invocation) -> Vec<String> {
        let mut secrets = Vec::new();
        for (name, value) in invocation.headers() {
            if !self.is_sensitive(name) {
                continue;
            }
            let value = value.trim();
            push_secret(&mut secrets, value);
            if let Some((_, credentials)) = value.split_once(' ') {
                push_secret(&mut secrets, credentials.trim());
            }
            if name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("set-cookie") {
                for cookie in value.split(';') {
                    if let Some((_, cookie_value)) = cookie.split_once('=') {
                        push_secret(&mut secrets, cookie_value.trim());
                    }
                }
            }
        }
        // Longest first, so a whole value is replaced before a part of it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }
}

fn push_secret(secrets: &mut Vec<String>, value: &str) {
    if value.len() >= MIN_SCRUBBED_LEN && !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_owned());
    }
}

/// `text` with every one of `secrets` replaced by the marker.
#[must_use]
pub(crate) fn scrub<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
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

/// `text` scrubbed of the current invocation's secrets, when there is an invocation.
pub(crate) fn scrub_current(text: &str) -> Cow<'_, str> {
    SECRETS
        .try_with(|secrets| match scrub(text, secrets) {
            Cow::Borrowed(_) => None,
            Cow::Owned(owned) => Some(owned),
        })
        .ok()
        .flatten()
        .map_or(Cow::Borrowed(text), Cow::Owned)
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
        let scrubbed = scrub(text, &secrets);
        assert!(!scrubbed.contains("abc.def.ghi") && !scrubbed.contains("s3ss10n-value"), "{scrubbed}");
        assert!(scrubbed.contains("curl/8") && scrubbed.contains(REDACTED), "{scrubbed}");
        // Short values ("dark") are not scrubbed from free text.
        assert!(!secrets.iter().any(|s| s == "dark"), "{secrets:?}");
    }
}
