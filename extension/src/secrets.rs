//! The credentials of recent invocations, kept so the function's log lines can be scrubbed of
//! them before they leave as OTLP log records.
//!
//! The Runtime API proxy sees each event before the handler does and records the secret values
//! it carries (bearer tokens, cookie values, API keys: [`intercept::telemetry::Redactor::secrets_of`]);
//! the Telemetry API destination scrubs every function log line with them and with the
//! redactor's names ([`intercept::telemetry::Redactor::scrub`], the same function the in-process logger
//! uses), and the OTLP receiver scrubs the log records the function's own OpenTelemetry SDK
//! exports with every kept secret (those records carry no request id). The set is small and
//! bounded: an invocation's secrets go once a later invocation has finished after it (its log
//! lines precede its `platform.runtimeDone`, give or take a batch), and at the latest after
//! Lambda's longest timeout.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intercept::Invocation;
use intercept::telemetry::Redactor;
use serde_json::value::RawValue;

/// At most this many invocations' secrets are kept.
const MAX_INVOCATIONS: usize = 16;
/// Finished invocations whose secrets are kept, for log lines delivered after their
/// `platform.runtimeDone`.
const KEEP_FINISHED: usize = 1;
/// Lambda's longest timeout, and a margin: no invocation's log lines come later than this.
const MAX_AGE: Duration = Duration::from_secs(16 * 60);

/// The secrets of the invocations whose log lines may still arrive.
#[derive(Debug)]
pub struct LogSecrets {
    redactor: Redactor,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    invocations: VecDeque<Kept>,
    /// Every kept secret, longest first (a whole value is replaced before a part of it);
    /// shared, so a large OTLP request is scrubbed without holding the lock.
    all: Arc<[String]>,
}

#[derive(Debug)]
struct Kept {
    request_id: String,
    secrets: Vec<String>,
    registered: Instant,
    finished: bool,
}

impl LogSecrets {
    /// Secrets found and names scrubbed by `redactor`.
    ///
    /// ```
    /// use intercept_extension::LogSecrets;
    ///
    /// let secrets = LogSecrets::new(intercept::telemetry::Redactor::default());
    /// let event = br#"{"version":"2.0","rawPath":"/","headers":{"x-api-key":"k3y-0f-the-partner"},
    ///     "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}"#;
    /// secrets.register("req-1", event);
    /// assert_eq!(secrets.scrub("key k3y-0f-the-partner"), "key [REDACTED]");
    /// ```
    #[must_use]
    pub fn new(redactor: Redactor) -> Self {
        LogSecrets { redactor, state: Mutex::new(State::default()) }
    }

    /// With the redactor the in-process logger builds from the same settings
    /// (`INTERCEPT_REDACT`, `INTERCEPT_API_KEY_HEADER`, `INTERCEPT_JWT_HEADER`,
    /// `INTERCEPT_JWT_COOKIE`), read from `lookup`.
    #[must_use]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        LogSecrets::new(intercept::telemetry::logging::LogConfig::from_lookup(lookup).redactor)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the secrets `event` (an event about to reach the handler) carries.
    pub fn register(&self, request_id: &str, event: &[u8]) {
        let Ok(raw) = serde_json::from_slice::<&RawValue>(event) else { return };
        // Bounded per invocation by the core (32, credentials first).
        let secrets = self.redactor.secrets_of(&Invocation::from_raw(raw));
        let mut state = self.state();
        let now = Instant::now();
        state.invocations.retain(|kept| kept.request_id != request_id && now - kept.registered < MAX_AGE);
        while state.invocations.len() >= MAX_INVOCATIONS {
            state.invocations.pop_front();
        }
        state.invocations.push_back(Kept {
            request_id: request_id.to_owned(),
            secrets,
            registered: now,
            finished: false,
        });
        state.refresh();
    }

    /// `request_id`'s `platform.runtimeDone` was processed: its log lines are in.
    pub fn finished(&self, request_id: &str) {
        let mut state = self.state();
        let Some(position) = state.invocations.iter().position(|kept| kept.request_id == request_id) else {
            return;
        };
        state.invocations[position].finished = true;
        let finished = state.invocations.iter().filter(|kept| kept.finished).count();
        let mut extra = finished.saturating_sub(KEEP_FINISHED);
        state.invocations.retain(|kept| {
            let drop = kept.finished && extra > 0;
            extra -= usize::from(drop);
            !drop
        });
        state.refresh();
    }

    /// `text` scrubbed of every kept secret and of the sensitive names' values.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // A snapshot, so `register` on the proxy's `next` path never waits for a scrub.
        self.scrubber().scrub(text)
    }

    /// The secrets kept now and the redactor's names, for scrubbing many strings (an OTLP
    /// logs request) without locking for each.
    pub(crate) fn scrubber(&self) -> Scrubber<'_> {
        Scrubber { redactor: &self.redactor, secrets: self.state().all.clone() }
    }

    /// How many invocations' secrets are kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.state().invocations.len()
    }

    /// Whether none are.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn refresh(&mut self) {
        let mut all: Vec<String> = self.invocations.iter().flat_map(|kept| kept.secrets.iter().cloned()).collect();
        all.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        all.dedup();
        self.all = all.into();
    }
}

/// A snapshot of [`LogSecrets`]: what [`LogSecrets::scrub`] does, for many strings.
pub(crate) struct Scrubber<'a> {
    redactor: &'a Redactor,
    secrets: Arc<[String]>,
}

impl Scrubber<'_> {
    /// `text` scrubbed of the kept secrets and of the sensitive names' values.
    pub(crate) fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.redactor.scrub(text, &self.secrets)
    }

    /// Whether a value recorded under `name` must not be exported.
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        self.redactor.is_sensitive(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(token: &str) -> String {
        format!(
            r#"{{"version":"2.0","rawPath":"/","headers":{{"authorization":"Bearer {token}","cookie":"sid=c00kie-{token}"}},
            "requestContext":{{"http":{{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}}}}"#
        )
    }

    #[test]
    fn an_invocations_secrets_are_scrubbed_until_a_later_one_finishes() {
        let secrets = LogSecrets::new(Redactor::default());
        secrets.register("r1", event("t0ken-one").as_bytes());
        secrets.register("r2", event("t0ken-two").as_bytes());
        let line = "saw t0ken-one and c00kie-t0ken-two";
        assert_eq!(secrets.scrub(line), "saw [REDACTED] and [REDACTED]");
        secrets.finished("r1");
        assert_eq!(secrets.scrub(line), "saw [REDACTED] and [REDACTED]", "r1's late lines are still scrubbed");
        secrets.finished("r2");
        assert_eq!(secrets.len(), 1, "only the last finished invocation is kept");
        assert_eq!(secrets.scrub(line), "saw t0ken-one and [REDACTED]");
        // Names are scrubbed whatever is registered.
        assert_eq!(secrets.scrub(r#"{"password": "hunter22"}"#), r#"{"password": "[REDACTED]"}"#);
    }

    #[test]
    fn the_set_is_bounded() {
        let secrets = LogSecrets::new(Redactor::default());
        for i in 0..100 {
            secrets.register(&format!("r{i}"), event(&format!("t0ken-{i:03}")).as_bytes());
        }
        assert_eq!(secrets.len(), MAX_INVOCATIONS);
        assert_eq!(secrets.scrub("t0ken-099 t0ken-000"), "[REDACTED] t0ken-000");
        secrets.register("not json", b"{");
        assert_eq!(secrets.len(), MAX_INVOCATIONS);
    }
}
