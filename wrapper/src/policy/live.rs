//! Live policy: the source `INTERCEPT_POLICY` names is read again in the background every
//! `INTERCEPT_POLICY_POLL_SECONDS`, never on the request path; a new version is parsed and
//! resolved with the same checks as init (and `intercept-sam policy check`), its filters built,
//! then swapped in whole between two invocations. An invalid or unreachable version keeps the
//! last good one, logs one line and counts in `intercept.policy.errors`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use intercept_settings as settings;

use super::source::{PolicySource, Reader};
use super::{EffectivePolicy, Policy};
use crate::config::ConfigError;
use crate::interceptor::Interceptor;

/// `INTERCEPT_POLICY_POLL_SECONDS` when it is not set.
pub(crate) const DEFAULT_POLL_SECONDS: u64 = 30;

/// The lookup of variables every new version is resolved against (the one init used).
type Env = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The watched source of one environment.
pub(crate) struct Live {
    reader: Reader,
    env: Env,
    poll: Option<Duration>,
    /// One refresh at a time (the poll and the between-invocations file check).
    refreshing: tokio::sync::Mutex<State>,
    /// Versions that could not be used (unreadable, invalid), since init.
    errors: AtomicU64,
    /// The local file's (modification time, size) when last read.
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("reader", &self.reader).field("poll", &self.poll).finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// SHA-256 of the text last read, good or bad: an unchanged text is not parsed again.
    text: Option<String>,
    /// The last error logged, so an outage is one line, not one per poll.
    last_error: Option<String>,
}

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// The source says what is in force already.
    Unchanged,
    /// A new version is in force, with this effective digest.
    Swapped(String),
    /// The new version could not be used; the last good one stays.
    Failed(String),
}

/// `INTERCEPT_POLICY_POLL_SECONDS`: `None` when polling is off (0).
pub(crate) fn poll_interval(value: Option<String>) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(Some(Duration::from_secs(DEFAULT_POLL_SECONDS)));
    };
    match text.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(seconds) if seconds <= 86_400 => Ok(Some(Duration::from_secs(seconds))),
        _ => Err(ConfigError::new(
            settings::POLICY_POLL_SECONDS,
            format!("`{text}` is not a number of seconds from 0 (off) to 86400"),
        )),
    }
}

/// How long a policy file must have been left alone before a new version of it is read.
const QUIET: Duration = Duration::from_secs(1);

fn file_stamp(source: &PolicySource) -> Option<(SystemTime, u64)> {
    let PolicySource::File(path) = source else { return None };
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Live {
    /// Reads a new version of the policy and puts it in force if it differs and holds.
    async fn refresh(&self, interceptor: &Interceptor) -> Refresh {
        let mut state = self.refreshing.lock().await;
        let source = self.reader.source().to_string();
        let stamp = file_stamp(self.reader.source());
        // A file still being written (modified within the last QUIET) is left for a later check:
        // cut at a line boundary it is often valid YAML with rules missing. The stamp is not
        // recorded, so the next check after each response, or the next poll, tries again.
        if let Some((modified, _)) = stamp
            && SystemTime::now().duration_since(modified).map_or(true, |age| age < QUIET)
        {
            return Refresh::Unchanged;
        }
        let text = match self.reader.read().await {
            Ok(text) => text,
            Err(error) => return self.failed(&mut state, interceptor, &source, error.0),
        };
        if file_stamp(self.reader.source()) != stamp {
            // Written while it was read: not one version; read again when it has settled.
            return Refresh::Unchanged;
        }
        *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) = stamp;
        if is_blank(&text) {
            // A truncated upload, an object overwritten with nothing, a half-saved file: as a
            // policy it would be valid and drop every rule of the file (the variables alone would
            // decide). A new version must say something; `version: 1` is a policy with no rules.
            return self.failed(
                &mut state,
                interceptor,
                &source,
                "invalid: the new version is empty (no YAML content); the last good policy stays \
                 (write `version: 1` for a policy with no rules)"
                    .to_owned(),
            );
        }
        let digest = super::audit::sha256(&text);
        if state.text.as_deref() == Some(digest.as_str()) && state.last_error.is_none() {
            return Refresh::Unchanged;
        }
        if state.text.as_deref() == Some(digest.as_str()) {
            // The same broken text again (or readable again after an outage, unchanged).
            if let Some(error) = &state.last_error
                && error.starts_with("invalid:")
            {
                return Refresh::Unchanged;
            }
        }
        state.text = Some(digest);
        let env = &self.env;
        let resolved = Policy::parse(&source, &text)
            .map_err(|errors| format!("invalid: {}", one_line(&errors.to_string())))
            .and_then(|policy| policy.resolve(|name| env(name)).map_err(|error| format!("invalid: {error}")));
        let policy = match resolved {
            Ok(policy) => policy,
            Err(error) => return self.failed(&mut state, interceptor, &source, error),
        };
        let recovered = state.last_error.take().is_some();
        let current = interceptor.policy();
        if policy.digest() == current.digest() {
            if recovered {
                // The error line an operator saw gets its answer.
                tracing::info!(
                    digest = current.digest(),
                    "policy source {source} is usable again; the policy in force is unchanged"
                );
            }
            return Refresh::Unchanged;
        }
        let digest = policy.digest().to_owned();
        let audit = policy.audit();
        let warning = policy.disabled().names();
        match interceptor.prepare(policy).await {
            Ok(active) => {
                interceptor.swap(active);
                tracing::info!(previous = current.digest(), "policy updated from {source}: {audit}");
                if !warning.is_empty() {
                    tracing::warn!(
                        disabled = ?warning,
                        "KILL SWITCH: {} OFF for every route (the policy's `disable` or INTERCEPT_DISABLE)",
                        warning.join(" and ")
                    );
                }
                Refresh::Swapped(digest)
            }
            Err(error) => {
                // Keys or store of the new version unreachable: try it again at the next poll.
                state.text = None;
                self.failed(&mut state, interceptor, &source, format!("cannot build its filters: {error}"))
            }
        }
    }

    fn failed(&self, state: &mut State, interceptor: &Interceptor, source: &str, error: String) -> Refresh {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Some(exporter) = interceptor.exporter() {
            exporter.policy_error();
        }
        if state.last_error.as_deref() != Some(error.as_str()) {
            tracing::error!(
                source,
                digest = interceptor.policy().digest(),
                "intercept.policy.errors: a new policy version is not used, the last good one stays: {}",
                error.strip_prefix("invalid: ").unwrap_or(&error)
            );
        }
        state.last_error = Some(error.clone());
        Refresh::Failed(error)
    }
}

impl EffectivePolicy {
    /// What the defaults and each route enforce, without any secret (key sources by kind and
    /// name, store URLs without credentials), for reviewing a change (`intercept-sam policy
    /// diff`): `("defaults", ...)`, then `("METHOD /path", ...)` per route, most specific first,
    /// then `("disable", [...])`.
    #[must_use]
    pub fn summary(&self) -> Vec<(String, serde_json::Value)> {
        let route = |policy: &super::RoutePolicy| {
            let mut value = super::audit::route_json(policy);
            if let Some(object) = value.as_object_mut() {
                object.remove("route");
            }
            value
        };
        std::iter::once(("defaults".to_owned(), route(&self.defaults)))
            .chain(self.routes.iter().map(|r| (r.route.clone().unwrap_or_default(), route(r))))
            .chain(std::iter::once(("disable".to_owned(), serde_json::json!(self.disabled.names()))))
            .collect()
    }
}

/// Whether a policy text holds no YAML content: only blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}

/// The errors of a policy file, on one line (`file:line:col: error: ...; ...`).
fn one_line(errors: &str) -> String {
    errors.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

impl Interceptor {
    /// Watches the policy source `INTERCEPT_POLICY` names (in `lookup`, the variables read at
    /// init): every `INTERCEPT_POLICY_POLL_SECONDS` (default 30, 0 = off) a background task
    /// reads it again and puts a changed, valid version in force for the invocations that
    /// start after it. Nothing happens without `INTERCEPT_POLICY`.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use intercept::{Config, Interceptor};
    ///
    /// # async fn init() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = |name: &str| std::env::var(name).ok();
    /// intercept::policy::prefetch(&env).await?;
    /// let interceptor = Arc::new(Interceptor::connect(&Config::from_env()?).await?);
    /// interceptor.watch_policy(env)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming `INTERCEPT_POLICY_POLL_SECONDS` when it is malformed, or the
    /// variable a remote source needs.
    pub fn watch_policy(
        self: &Arc<Self>,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<(), ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let poll = poll_interval(get(settings::POLICY_POLL_SECONDS))?;
        let Some(value) = get(settings::POLICY) else { return Ok(()) };
        let source = PolicySource::parse(&value)?;
        let reader = Reader::new(source, &lookup)?;
        let env: Env = Box::new(lookup);
        let stamp = file_stamp(reader.source());
        let live = Live {
            reader,
            env,
            poll,
            refreshing: tokio::sync::Mutex::new(State::default()),
            errors: AtomicU64::new(0),
            stamp: Mutex::new(stamp),
        };
        if self.live.set(live).is_err() {
            return Ok(());
        }
        if let Some(every) = poll {
            let weak: Weak<Interceptor> = Arc::downgrade(self);
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let Some(interceptor) = weak.upgrade() else { return };
                    interceptor.refresh_policy().await;
                }
            });
        }
        Ok(())
    }

    /// Reads the watched source now and puts a changed, valid version in force; `None` when no
    /// source is watched.
    pub(crate) async fn refresh_policy(&self) -> Option<Refresh> {
        let live = self.live.get()?;
        Some(live.refresh(self).await)
    }

    /// Between two invocations (after the response, before the next event): a watched local
    /// file whose modification time or size changed is read again now, so an edit applies to
    /// the next request. A `stat`, nothing more, when it did not change.
    pub async fn check_policy_file(&self) {
        let Some(live) = self.live.get() else { return };
        if live.poll.is_none() || !live.reader.source().is_file() {
            return;
        }
        let now = file_stamp(live.reader.source());
        let seen = *live.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        if now.is_some() && now != seen {
            live.refresh(self).await;
        }
    }

    /// How many new policy versions could not be used since init (`intercept.policy.errors`).
    #[must_use]
    pub fn policy_errors(&self) -> u64 {
        self.live.get().map_or(0, |live| live.errors.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::value::RawValue;

    use super::*;
    use crate::invocation::Invocation;
    use crate::rejection::Rejection;

    /// A policy file of the test's own, removed when the test ends.
    struct PolicyFile(std::path::PathBuf);

    impl PolicyFile {
        fn new(text: &str) -> PolicyFile {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let name = format!("intercept-live-{}-{}.yaml", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let file = PolicyFile(std::env::temp_dir().join(name));
            file.write(text);
            file
        }

        /// Writes `text` and dates it past the quiet period, as a file saved a while ago.
        fn write(&self, text: &str) {
            std::fs::write(&self.0, text).expect("write the policy");
            self.settle();
        }

        fn settle(&self) {
            let file = std::fs::File::options().write(true).open(&self.0).expect("open the policy");
            let past = SystemTime::now() - QUIET - Duration::from_millis(100);
            file.set_modified(past).expect("date the policy");
        }

        fn path(&self) -> String {
            self.0.to_str().expect("utf-8").to_owned()
        }
    }

    impl Drop for PolicyFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// An interceptor watching `file` with polling off: the tests refresh by hand, so
    /// nothing depends on timing.
    fn watching(file: &PolicyFile, poll: &str) -> Arc<Interceptor> {
        let env: HashMap<String, String> = [
            ("INTERCEPT_POLICY", file.path()),
            ("INTERCEPT_DISABLE", "telemetry".to_owned()),
            ("INTERCEPT_JWT_SECRET", "s3cret".to_owned()),
            ("INTERCEPT_POLICY_POLL_SECONDS", poll.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = crate::Config::from_lookup(|k| env.get(k).cloned()).expect("valid policy");
        let interceptor = Arc::new(Interceptor::new(&config).expect("builds"));
        interceptor.watch_policy(move |k| env.get(k).cloned()).expect("watched");
        interceptor
    }

    fn request(path: &str) -> Invocation {
        let json = format!(
            r#"{{"version":"2.0","routeKey":"$default","rawPath":"{path}","headers":{{}},
            "requestContext":{{"http":{{"method":"GET","path":"{path}","sourceIp":"192.0.2.7"}}}}}}"#
        );
        Invocation::from_raw(&RawValue::from_string(json).expect("json"))
    }

    const OPEN: &str = "routes:\n  GET /orders:\n    auth: none\n";
    const CLOSED: &str = "routes:\n  GET /orders:\n    auth: jwt\n";

    #[tokio::test]
    async fn a_changed_rule_is_enforced_after_a_refresh_and_a_broken_one_keeps_the_last_good() {
        let file = PolicyFile::new(OPEN);
        let interceptor = watching(&file, "0");
        let now = Duration::from_secs(1_700_000_000);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok());
        let first = interceptor.policy().digest().to_owned();
        assert_eq!(interceptor.refresh_policy().await, Some(Refresh::Unchanged));

        file.write(CLOSED);
        let Some(Refresh::Swapped(second)) = interceptor.refresh_policy().await else { panic!("not swapped") };
        assert_ne!(first, second);
        assert_eq!(interceptor.policy().digest(), second);
        let refused = interceptor.admit_at(&request("/orders"), now).await;
        assert!(matches!(refused, Err(Rejection::Unauthorized(_))), "{refused:?}");

        // A broken version: the error names its line and column, the last good one stays.
        file.write("routes:\n  GET /orders:\n    auth: saml\n");
        let Some(Refresh::Failed(error)) = interceptor.refresh_policy().await else { panic!("not failed") };
        assert!(error.contains(":3:11:") && error.contains("saml"), "{error}");
        assert_eq!(interceptor.policy_errors(), 1);
        assert_eq!(interceptor.policy().digest(), second);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_err());
        // Read again unchanged, it is neither retried nor counted again.
        assert_eq!(interceptor.refresh_policy().await, Some(Refresh::Unchanged));
        assert_eq!(interceptor.policy_errors(), 1);

        // The source gone: the last good policy stays in force.
        std::fs::remove_file(&file.0).expect("remove");
        let Some(Refresh::Failed(error)) = interceptor.refresh_policy().await else { panic!("not failed") };
        assert!(error.contains("cannot read the policy file"), "{error}");
        assert_eq!(interceptor.policy_errors(), 2);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_err());

        // Back, open again.
        file.write(OPEN);
        assert!(matches!(interceptor.refresh_policy().await, Some(Refresh::Swapped(_))));
        assert_eq!(interceptor.policy().digest(), first);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok());
    }

    #[tokio::test]
    async fn a_file_is_read_only_once_it_has_been_left_alone() {
        let file = PolicyFile::new(CLOSED);
        let interceptor = watching(&file, "0");
        let now = Duration::from_secs(1_700_000_000);
        let closed = interceptor.policy().digest().to_owned();
        // Half written: the route is there, its rules not yet. Just modified, it is not read.
        std::fs::write(&file.0, "routes:\n  GET /orders:\n").expect("write half");
        assert_eq!(interceptor.refresh_policy().await, Some(Refresh::Unchanged));
        interceptor.check_policy_file().await;
        assert_eq!(interceptor.policy().digest(), closed);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_err());
        // Finished and left alone: the next check reads it (this one opens the route).
        std::fs::write(&file.0, OPEN).expect("write the rest");
        file.settle();
        assert!(matches!(interceptor.refresh_policy().await, Some(Refresh::Swapped(_))));
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok());
    }

    #[tokio::test]
    async fn an_emptied_source_is_not_a_policy_without_rules() {
        let file = PolicyFile::new(CLOSED);
        let interceptor = watching(&file, "0");
        let now = Duration::from_secs(1_700_000_000);
        let closed = interceptor.policy().digest().to_owned();
        // Truncated to nothing, or to comments and markers: refused, the closed route stays closed.
        for (count, emptied) in ["", "\n  \n", "# all rules removed\n---\n"].into_iter().enumerate() {
            file.write(emptied);
            let Some(Refresh::Failed(error)) = interceptor.refresh_policy().await else { panic!("{emptied:?} used") };
            assert!(error.contains("empty"), "{error}");
            assert_eq!(interceptor.policy_errors(), count as u64 + 1);
            assert_eq!(interceptor.policy().digest(), closed);
            assert!(interceptor.admit_at(&request("/orders"), now).await.is_err(), "{emptied:?}");
        }
        // Said explicitly, a policy without rules is a version like any other.
        file.write("version: 1\n");
        assert!(matches!(interceptor.refresh_policy().await, Some(Refresh::Swapped(_))));
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok());
    }

    #[tokio::test]
    async fn a_detect_route_promoted_to_enforce_refuses_and_keeps_its_budget() {
        let rules = |mode: &str| {
            format!(
                "routes:\n  GET /orders:\n    rate_limit:\n      - rate: 2/m\n        key: global\n        mode: {mode}\n"
            )
        };
        let file = PolicyFile::new(&rules("detect"));
        let interceptor = watching(&file, "0");
        let now = Duration::from_secs(1_700_000_000);
        for _ in 0..4 {
            assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok(), "detect lets it through");
        }
        file.write(&rules("enforce"));
        assert!(matches!(interceptor.refresh_policy().await, Some(Refresh::Swapped(_))));
        let refused = interceptor.admit_at(&request("/orders"), now).await;
        assert!(matches!(refused, Err(Rejection::RateLimited { .. })), "{refused:?}");
    }

    #[test]
    fn the_disable_key_is_checked_with_positions() {
        let policy = Policy::parse("p.yaml", "disable: [auth, telemetry]\n").expect("valid");
        let effective = policy.resolve(|_| None).expect("resolves");
        assert!(effective.disabled().auth && effective.disabled().telemetry && !effective.disabled().ratelimit);
        let other = Policy::parse("p.yaml", "disable: auth\n").expect("valid");
        assert_ne!(policy.digest(), other.digest(), "disable is part of the digest");
        let error = Policy::parse("p.yaml", "disable:\n  - auth\n  - ratelimt\n").expect_err("typo").to_string();
        assert!(error.contains("p.yaml:3:5:") && error.contains("did you mean `ratelimit`"), "{error}");
        let error = Policy::parse("p.yaml", "disable: {auth: true}\n").expect_err("mapping").to_string();
        assert!(error.contains("p.yaml:1:10:") && error.contains("`disable` must be a list"), "{error}");
    }

    #[tokio::test]
    async fn the_policy_kill_switch_applies_live() {
        let file = PolicyFile::new(CLOSED);
        let interceptor = watching(&file, "0");
        let now = Duration::from_secs(1_700_000_000);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_err());
        file.write(&format!("disable: [auth]\n{CLOSED}"));
        assert!(matches!(interceptor.refresh_policy().await, Some(Refresh::Swapped(_))));
        assert!(interceptor.policy().disabled().auth);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok());
    }

    #[tokio::test]
    async fn an_edited_file_is_read_between_invocations_when_polling_is_on() {
        let file = PolicyFile::new(OPEN);
        let interceptor = watching(&file, "3600");
        let now = Duration::from_secs(1_700_000_000);
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_ok());
        // Another size: the stamp differs even where the clock's resolution is coarse.
        file.write(&format!("{CLOSED}# edited\n"));
        interceptor.check_policy_file().await;
        assert!(interceptor.admit_at(&request("/orders"), now).await.is_err());
    }

    #[test]
    fn the_poll_interval_is_validated_naming_its_variable() {
        assert_eq!(poll_interval(None), Ok(Some(Duration::from_secs(30))));
        assert_eq!(poll_interval(Some("0".into())), Ok(None));
        assert_eq!(poll_interval(Some(" 5 ".into())), Ok(Some(Duration::from_secs(5))));
        for bad in ["-1", "soon", "1.5", "86401"] {
            let error = poll_interval(Some(bad.into())).expect_err(bad);
            assert_eq!(error.setting, "INTERCEPT_POLICY_POLL_SECONDS");
            assert!(error.problem.contains(bad), "{error}");
        }
    }
}
