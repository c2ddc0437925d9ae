//! The core pipeline: rate limit by source, authenticate, rate limit by principal, then the
//! handler ([`Interceptor::handle`]), reporting to the telemetry recorder (a no-op when
//! telemetry is off).
//!
//! It knows nothing of where it runs; the tower layer and the Runtime API proxy both call it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt as _;
use lambda_runtime::Diagnostic;
use serde_json::value::RawValue;
use tracing::Instrument as _;

use crate::auth::{Authenticator, Principal};
use crate::canonical::UnsafePaths;
use crate::config::{Config, ConfigError};
use crate::invocation::{Invocation, InvocationMeta};
use crate::policy::filters::{self, Plan, RouteFilters};
use crate::policy::{EffectivePolicy, Mode};
use crate::ratelimit::{Decision, LimitKey, Limiter, Refusal, Rule, Stores};
use crate::rejection::Rejection;
use crate::telemetry::{FilterTrace, HandlerTrace, OtlpExporter, Recorder, Telemetry, with_secrets};

/// Building the pipeline failed on a setting that parsed but cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The telemetry exporter could not be created.
    #[error("cannot set up telemetry export: {0}")]
    Exporter(#[from] reqwest::Error),
    /// A setting names something that does not work, such as an unreachable Redis store.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What the filters decided for an invocation that may go on to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// The authenticated caller, when authentication is on.
    pub principal: Option<Arc<Principal>>,
    /// The handler's span, for the handler to continue the trace (set by
    /// [`Interceptor::handle`] when telemetry is on).
    pub trace: Option<HandlerTrace>,
}

/// How an invocation ended: the handler's answer, or a filter's rejection shaped for the trigger.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The filters admitted the invocation and the handler answered.
    Handled(Result<Box<RawValue>, Diagnostic>),
    /// A filter refused it; the handler never ran.
    Rejected {
        /// Why.
        rejection: Rejection,
        /// The answer to give instead: an HTTP response for HTTP triggers, an invocation
        /// error (`Intercept.*`) for the others.
        answer: Result<Box<RawValue>, Diagnostic>,
    },
}

impl Outcome {
    /// The answer to post to the Runtime API.
    ///
    /// # Errors
    /// The invocation error to post instead of a response.
    pub fn into_result(self) -> Result<Box<RawValue>, Diagnostic> {
        match self {
            Outcome::Handled(answer) | Outcome::Rejected { answer, .. } => answer,
        }
    }

    /// The rejection, when a filter refused the invocation.
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Outcome::Handled(_) => None,
            Outcome::Rejected { rejection, .. } => Some(rejection),
        }
    }
}

/// The filters, built once per execution environment and shared by every invocation; a new
/// policy version (see [`Interceptor::watch_policy`]) swaps in a new set of filters whole.
///
/// [`run`](crate::run) and [`InterceptLayer`](crate::InterceptLayer) use one for you; call it
/// yourself to judge a normalized [`Invocation`] without a handler:
///
/// ```
/// use intercept::{Config, Interceptor, Invocation};
/// use serde_json::value::RawValue;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = [("INTERCEPT_RATE_LIMIT", "1/m key=global"), ("INTERCEPT_DISABLE", "telemetry")];
/// let config = Config::from_lookup(|name| settings.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))?;
/// let interceptor = Interceptor::connect(&config).await?;
///
/// let event = RawValue::from_string(r#"{"rawPath": "/orders", "requestContext": {"http": {"method": "GET"}}}"#.into())?;
/// let invocation = Invocation::from_raw(&event);
/// assert!(interceptor.admit(&invocation).await.is_ok());
/// let refused = interceptor.admit(&invocation).await.expect_err("one a minute");
/// assert_eq!(refused.status(), 429);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Interceptor {
    /// The filters of the policy in force; each invocation takes one snapshot at its start.
    active: RwLock<Arc<Active>>,
    /// The configuration read at init, with which new policy versions are built.
    config: Config,
    /// The rate-limit stores, kept across policy versions so a rule keeps its budget.
    stores: Mutex<Stores>,
    telemetry: Option<Telemetry>,
    unsafe_paths: UnsafePaths,
    clock: Clock,
    cold: AtomicBool,
    /// The policy source being watched, once [`Interceptor::watch_policy`] has run.
    pub(crate) live: OnceLock<crate::policy::live::Live>,
}

/// The filters of one policy version: what a request is judged by from start to end.
#[derive(Debug)]
pub(crate) struct Active {
    /// The policy; its routes are in the order of `routes`.
    pub(crate) policy: Arc<EffectivePolicy>,
    authenticators: Vec<Authenticator>,
    limiters: Vec<Limiter>,
    defaults: RouteFilters,
    routes: Vec<RouteFilters>,
}

impl Active {
    /// The filters of the route serving `invocation` (the defaults when no route matches).
    pub(crate) fn route(&self, invocation: &Invocation) -> &RouteFilters {
        filters::route_of(&self.policy, &self.defaults, &self.routes, invocation)
    }
}

/// A filter in detect mode that would have refused an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detection {
    /// `authentication` or `ratelimit`.
    pub(crate) filter: &'static str,
    pub(crate) reason: &'static str,
    /// The rate-limit rule, for `ratelimit`.
    pub(crate) rule: Option<String>,
}

/// The wall clock, read for every decision (a vDSO call, no system call): a token's `exp`, a
/// cached verification and the keys' lifetime are judged against the true time even after a
/// SnapStart restore or a long freeze that a monotonic clock started at init would not count.
/// Environments agree on it as well as their hosts' clocks do; the rate limiter bounds what a
/// clock stepping back can do (`Gcra::MAX_CLOCK_SKEW`).
#[derive(Debug, Clone, Copy)]
struct Clock {
    read: fn() -> Duration,
}

impl Clock {
    fn new() -> Clock {
        Clock { read: || SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() }
    }

    fn now(&self) -> Duration {
        (self.read)()
    }
}

impl Interceptor {
    /// Builds the filters for a configuration without touching the network: a Redis
    /// rate-limit store connects on the first decision. Keys from Secrets Manager or a JWKS
    /// URL need a fetch, so only [`Interceptor::connect`] builds those; prefer it at init.
    ///
    /// # Errors
    /// [`BuildError`] when the telemetry exporter or the rate-limit store cannot be created,
    /// or the authentication keys are remote.
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        let plan = Plan::new(config);
        let authenticators = plan.auths.iter().map(|auth| Authenticator::new(auth)).collect::<Result<Vec<_>, _>>()?;
        Self::build(config, plan, authenticators.into_iter().flatten().collect(), Clock::new())
    }

    /// The filters of `plan`, their limiters on `stores`.
    fn active(
        config: &Config,
        plan: Plan,
        authenticators: Vec<Authenticator>,
        stores: &mut Stores,
    ) -> Result<Active, BuildError> {
        let limiters = plan
            .limits
            .iter()
            .map(|limits| {
                Limiter::with_stores(limits, stores).map_err(|error| {
                    ConfigError::new("INTERCEPT_RATE_LIMIT_STORE", format!("cannot use the store: {error}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Active {
            policy: config.policy.clone(),
            authenticators,
            limiters,
            defaults: plan.defaults,
            routes: plan.routes,
        })
    }

    /// Builds the filters of another version of the policy (keys fetched, the store connected),
    /// with the telemetry and stores of this environment, ready for [`Interceptor::swap`].
    pub(crate) async fn prepare(&self, policy: EffectivePolicy) -> Result<Arc<Active>, BuildError> {
        let mut config = self.config.clone();
        config.policy = Arc::new(policy);
        let plan = Plan::new(&config);
        let mut authenticators = Vec::with_capacity(plan.auths.len());
        for auth in &plan.auths {
            authenticators.extend(Authenticator::connect(auth, self.clock.now()).await?);
        }
        let active = {
            let mut stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
            Interceptor::active(&config, plan, authenticators, &mut stores)?
        };
        for limiter in &active.limiters {
            limiter.connect().await.map_err(|(url, error)| {
                ConfigError::new("INTERCEPT_RATE_LIMIT_STORE", format!("cannot reach `{url}`: {error}"))
            })?;
        }
        Ok(Arc::new(active))
    }

    /// The filters in force: an invocation takes this once and is judged by it to the end.
    pub(crate) fn current(&self) -> Arc<Active> {
        Arc::clone(&self.active.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `active` in force for the invocations that start from now on.
    pub(crate) fn swap(&self, active: Arc<Active>) {
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = active;
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> Arc<EffectivePolicy> {
        Arc::clone(&self.current().policy)
    }

    /// The authenticators are built by the caller (with or without a fetch), in `plan`'s order.
    fn build(
        config: &Config,
        plan: Plan,
        authenticators: Vec<Authenticator>,
        clock: Clock,
    ) -> Result<Self, BuildError> {
        let telemetry = match &config.telemetry {
            Some(telemetry) => Some(Telemetry::new(telemetry)?),
            None => None,
        };
        let mut stores = Stores::default();
        let active = Interceptor::active(config, plan, authenticators, &mut stores)?;
        // Every init says loudly what the kill switch turned off, and which policy runs.
        if let Some(warning) = config.kill_switch_warning() {
            tracing::warn!(disabled = ?config.disabled.names(), "{warning}");
        }
        if let Some(audit) = config.audit() {
            tracing::info!("{audit}");
        }
        // The policy's own `disable` (beyond INTERCEPT_DISABLE) is as loud.
        let from_policy = config.policy.disabled().names();
        if from_policy != config.disabled.names() && !from_policy.is_empty() {
            tracing::warn!(
                disabled = ?from_policy,
                "KILL SWITCH: {} OFF for every route (the policy's `disable` or INTERCEPT_DISABLE)",
                from_policy.join(" and ")
            );
        }
        Ok(Interceptor {
            active: RwLock::new(Arc::new(active)),
            config: config.clone(),
            stores: Mutex::new(stores),
            live: OnceLock::new(),
            telemetry,
            unsafe_paths: config.unsafe_paths,
            clock,
            cold: AtomicBool::new(true),
        })
    }

    /// Builds the filters, fetches the authentication keys and connects to the rate-limit
    /// store, as a function's init should.
    ///
    /// ```no_run
    /// use intercept::{Config, Interceptor};
    ///
    /// # async fn init() -> Result<(), Box<dyn std::error::Error>> {
    /// let interceptor = Interceptor::connect(&Config::from_env()?).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`BuildError`] as for [`Interceptor::new`], a [`ConfigError`] naming the key source
    /// when the keys cannot be fetched, and one naming `INTERCEPT_RATE_LIMIT_STORE` when the
    /// Redis store does not answer.
    pub async fn connect(config: &Config) -> Result<Self, BuildError> {
        let clock = Clock::new();
        let plan = Plan::new(config);
        let mut authenticators = Vec::with_capacity(plan.auths.len());
        for auth in &plan.auths {
            authenticators.extend(Authenticator::connect(auth, clock.now()).await?);
        }
        let interceptor = Interceptor::build(config, plan, authenticators, clock)?;
        for limiter in &interceptor.current().limiters {
            limiter.connect().await.map_err(|(url, error)| {
                ConfigError::new("INTERCEPT_RATE_LIMIT_STORE", format!("cannot reach `{url}`: {error}"))
            })?;
        }
        Ok(interceptor)
    }

    /// The span and metric exporter, when telemetry is on.
    #[must_use]
    pub fn exporter(&self) -> Option<&Arc<OtlpExporter>> {
        self.telemetry.as_ref().map(Telemetry::exporter)
    }

    /// Now on the interceptor's clock, as time since the Unix epoch.
    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Whether this is the environment's first invocation; true once only. Crate-private, so
    /// no caller but the pipeline can take the flag from the invocation's span.
    pub(crate) fn take_cold_start(&self) -> bool {
        self.cold.swap(false, Ordering::Relaxed)
    }

    /// Runs the filters for one invocation.
    ///
    /// # Errors
    /// The [`Rejection`] to answer with instead of calling the handler.
    pub async fn admit(&self, invocation: &Invocation) -> Result<Admitted, Rejection> {
        self.admit_at(invocation, self.clock.now()).await
    }

    /// Runs the filters as if at `now`, a time since the Unix epoch (an injected clock).
    ///
    /// # Errors
    /// The [`Rejection`] to answer with instead of calling the handler.
    pub async fn admit_at(&self, invocation: &Invocation, now: Duration) -> Result<Admitted, Rejection> {
        let active = self.current();
        self.run_filters(&active, invocation, active.route(invocation), now, None, &mut Vec::new()).await
    }

    /// The filters of `route`, each recorded as a child span in `trace` when there is one;
    /// what detect-mode filters would have refused goes to `detections` (and one log line each).
    pub(crate) async fn run_filters(
        &self,
        active: &Active,
        invocation: &Invocation,
        route: &RouteFilters,
        now: Duration,
        mut trace: Option<&mut FilterTrace<'_>>,
        detections: &mut Vec<Detection>,
    ) -> Result<Admitted, Rejection> {
        // An HTTP event that cannot be read has no route: let through, it would skip the
        // route's scopes and limits, so it is refused before any filter.
        if let Some(problem) = invocation.malformed() {
            return Err(Rejection::MalformedEvent(problem.to_owned()));
        }
        // A request frameworks may read in more than one way could meet another route's rules
        // than the one the handler serves; with no filter configured nothing depends on it.
        if !(active.authenticators.is_empty() && active.limiters.is_empty()) && invocation.kind.is_http() {
            if invocation.method().is_none() || invocation.path().is_none() {
                return Err(Rejection::MalformedEvent("an HTTP event without a method or a path".to_owned()));
            }
            if let Some(problem) = invocation.path_problem()
                && self.unsafe_paths.refuses(problem)
            {
                return Err(Rejection::UnsafePath(problem));
            }
            // One pass over the (lower-case) names, most of which are not `x-...`.
            if invocation
                .headers()
                .any(|(name, _)| name.starts_with("x-") && crate::canonical::METHOD_OVERRIDES.contains(&name))
            {
                return Err(Rejection::UnsafePath(crate::canonical::PathProblem::MethodOverride));
            }
        }
        // Limits that need no principal run first, so a flood never costs a signature check.
        self.limit(active, invocation, route, None, false, now, trace.as_deref_mut(), detections).await?;
        let principal = match route.authenticator.and_then(|index| active.authenticators.get(index)) {
            None => None,
            Some(authenticator) => {
                let detect = route.auth_mode == Mode::Detect;
                let mut span = trace.as_ref().map(|t| t.child("authentication"));
                let result = authenticator.authenticate(invocation, now).await;
                if let Err(rejection) = &result
                    && detect
                {
                    detected(
                        route,
                        invocation,
                        detections,
                        Detection { filter: "authentication", reason: rejection.reason(), rule: None },
                    );
                }
                if let (Some(trace), Some(mut span)) = (trace.as_deref_mut(), span.take()) {
                    match &result {
                        Ok(_) => span.set("intercept.decision", "allowed"),
                        Err(rejection) => {
                            span.set("intercept.decision", if detect { "would_reject" } else { "rejected" });
                            span.set("intercept.reason", rejection.reason());
                        }
                    }
                    if detect {
                        span.set("intercept.mode", "detect");
                    }
                    trace.finish(span);
                }
                match result {
                    Ok(principal) => Some(principal),
                    // Detect mode: the handler runs, without a principal.
                    Err(_) if detect => None,
                    Err(rejection) => return Err(rejection),
                }
            }
        };
        self.limit(active, invocation, route, principal.as_deref(), true, now, trace, detections).await?;
        Ok(Admitted { principal, trace: None })
    }

    /// One stage of the route's rate limits (before or after authentication): the detect-mode
    /// rules are checked and recorded, the enforced ones decide.
    #[allow(clippy::too_many_arguments)]
    async fn limit(
        &self,
        active: &Active,
        invocation: &Invocation,
        route: &RouteFilters,
        principal: Option<&Principal>,
        after_auth: bool,
        now: Duration,
        mut trace: Option<&mut FilterTrace<'_>>,
        detections: &mut Vec<Detection>,
    ) -> Result<(), Rejection> {
        let limiter = |index: Option<usize>| {
            index.and_then(|i| active.limiters.get(i)).filter(|limiter| limiter.has_rules(after_auth))
        };
        let key = |key| limit_key(key, invocation, route, principal);
        if let Some(limiter) = limiter(route.detect) {
            let started = trace.as_ref().map(|t| t.now());
            let decisions = limiter.check_rules(after_auth, key, now).await;
            record_rules(trace.as_deref_mut(), started, &decisions, Mode::Detect);
            for (rule, decision) in &decisions {
                if matches!(decision, Decision::Deny { .. }) {
                    let detection =
                        Detection { filter: "ratelimit", reason: "rate_limited", rule: Some(rule.name.clone()) };
                    detected(route, invocation, detections, detection);
                }
            }
        }
        if let Some(limiter) = limiter(route.limiter) {
            let started = trace.as_ref().map(|t| t.now());
            let decisions = limiter.check_rules(after_auth, key, now).await;
            record_rules(trace, started, &decisions, Mode::Enforce);
            strictest(&decisions).map_or(Ok(()), Err)?;
        }
        Ok(())
    }
}

impl Interceptor {
    /// Runs one invocation through the filters and, when they admit it, `handler`, with the
    /// telemetry around both when it is on: the server span continuing the caller's trace, a
    /// child span per filter and for the handler, the metrics, and the handler's logs carrying
    /// the request, trace and span ids. The spans wait in the exporter for
    /// [`OtlpExporter::flush`].
    ///
    /// `raw` is the event as the Runtime API delivered it; `handler` gets what the filters
    /// decided (the principal) and answers with the response document or an invocation error.
    /// A rejection is shaped for the trigger: an HTTP response for HTTP events, an invocation
    /// error (`Intercept.*`) for the others.
    ///
    /// ```
    /// use intercept::{Config, InvocationMeta, Interceptor, Outcome};
    /// use serde_json::value::RawValue;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let vars = [("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s3cret"), ("INTERCEPT_OTLP_LISTEN", "127.0.0.1:9")];
    /// let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))?;
    /// let interceptor = Interceptor::new(&config)?;
    /// let event = RawValue::from_string(
    ///     r#"{"version":"2.0","routeKey":"GET /hello","rawPath":"/hello","headers":{},
    ///     "requestContext":{"http":{"method":"GET","path":"/hello","sourceIp":"192.0.2.1"}}}"#.to_owned(),
    /// )?;
    /// let meta = InvocationMeta {
    ///     request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    ///     invoked_function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:hello",
    ///     ..InvocationMeta::default()
    /// };
    /// let outcome = interceptor
    ///     .handle(&event, meta, |_admitted| async { Ok(RawValue::from_string("{}".to_owned()).expect("json")) })
    ///     .await;
    /// // No bearer token: a 401 for this HTTP API event, and the handler never ran.
    /// assert_eq!(outcome.rejection().map(|r| r.status()), Some(401));
    /// let response = outcome.into_result().expect("an HTTP response, not an invocation error");
    /// assert!(response.get().contains(r#""statusCode":401"#));
    /// # Ok(()) }
    /// ```
    pub async fn handle<F, Fut>(&self, raw: &RawValue, meta: InvocationMeta<'_>, handler: F) -> Outcome
    where
        F: FnOnce(Admitted) -> Fut,
        Fut: Future<Output = Result<Box<RawValue>, Diagnostic>>,
    {
        let invocation = Invocation::from_raw(raw);
        let cold_start = self.take_cold_start();
        // One version of the policy decides this invocation from start to end.
        let active = self.current();
        let route = active.route(&invocation);
        let telemetry = self.telemetry.as_ref().filter(|_| !active.policy.disabled().telemetry);
        let digest = active.policy.digest();
        let mut recorder = Recorder::start(telemetry, raw, &invocation, route, meta, cold_start, digest);
        let mut detections = Vec::new();
        let log_span = recorder.log_span();
        let admitted = {
            let mut trace = recorder.filter_trace();
            let filters = self.run_filters(&active, &invocation, route, self.now(), trace.as_mut(), &mut detections);
            filters.instrument(log_span).await
        };
        recorder.detected(&detections);
        let mut panicked = None;
        let outcome = match admitted {
            Err(rejection) => {
                recorder.rejected(&rejection);
                shape(rejection, &invocation)
            }
            Ok(mut admitted) => {
                let (log_span, secrets) = recorder.admitted(&mut admitted, !detections.is_empty());
                let handled = with_secrets(secrets, handler(admitted)).instrument(log_span);
                // A panicking handler still leaves its spans and metrics; the panic goes on
                // (to `lambda_runtime`, which reports it) once they are recorded.
                let caught = AssertUnwindSafe(handled).catch_unwind();
                let caught = match recorder.time_to_deadline() {
                    None => caught.await,
                    Some(left) => {
                        let mut caught = std::pin::pin!(caught);
                        tokio::select! {
                            biased;
                            caught = &mut caught => caught,
                            () = tokio::time::sleep(left) => {
                                let recorded = recorder.timed_out(&detections);
                                futures_util::future::join(&mut caught, recorded).await.0
                            }
                        }
                    }
                };
                let result = caught.unwrap_or_else(|payload| {
                    panicked = Some(payload);
                    Err(Diagnostic {
                        error_type: "Runtime.Panic".to_owned(),
                        error_message: "the handler panicked".to_owned(),
                    })
                });
                recorder.handled(&result);
                Outcome::Handled(result)
            }
        };
        recorder.finish(&detections);
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
        outcome
    }
}

/// The log line of a detect-mode refusal, and the detection kept for the metrics.
fn detected(route: &RouteFilters, invocation: &Invocation, detections: &mut Vec<Detection>, detection: Detection) {
    tracing::info!(
        mode = "detect",
        filter = detection.filter,
        reason = detection.reason,
        rule = detection.rule.as_deref(),
        route = route.route.as_deref().or(invocation.route()),
        "request would have been rejected; detect mode lets it through"
    );
    detections.push(detection);
}

/// The refusal with the longest wait, as a rejection.
fn strictest(decisions: &[(&Rule, Decision)]) -> Option<Rejection> {
    let mut refusal: Option<Refusal<'_>> = None;
    for (rule, decision) in decisions {
        if let Decision::Deny { retry_after } = *decision
            && refusal.as_ref().is_none_or(|r| retry_after > r.retry_after)
        {
            refusal = Some(Refusal { rule, retry_after });
        }
    }
    refusal.map(rejection)
}

/// One child span per rule, named after it, with its decision.
fn record_rules(
    trace: Option<&mut FilterTrace<'_>>,
    started: Option<u64>,
    decisions: &[(&Rule, Decision)],
    mode: Mode,
) {
    let (Some(trace), Some(started)) = (trace, started) else { return };
    for (rule, decision) in decisions {
        let mut span = trace.child_from(format!("ratelimit {}", rule.name), started);
        span.set("intercept.ratelimit.rule", rule.name.clone());
        span.set("intercept.ratelimit.key", rule.key.name());
        span.set("intercept.ratelimit.limit", i64::from(rule.quota.count));
        span.set("intercept.ratelimit.window_s", i64::try_from(rule.quota.period.as_secs()).unwrap_or(i64::MAX));
        if mode == Mode::Detect {
            span.set("intercept.mode", "detect");
        }
        match decision {
            Decision::Allow { .. } => span.set("intercept.decision", "allowed"),
            Decision::Deny { retry_after } => {
                span.set("intercept.decision", if mode == Mode::Detect { "would_reject" } else { "rejected" });
                span.set("intercept.reason", "rate_limited");
                span.set(
                    "intercept.ratelimit.retry_after_ms",
                    i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX),
                );
            }
        }
        trace.finish(span);
    }
}

fn rejection(refusal: Refusal<'_>) -> Rejection {
    Rejection::RateLimited {
        policy: refusal.rule.name.clone(),
        quota: refusal.rule.quota,
        retry_after: refusal.retry_after,
    }
}

fn limit_key(key: LimitKey, invocation: &Invocation, route: &RouteFilters, principal: Option<&Principal>) -> String {
    let source_ip = || format!("ip:{}", invocation.source_ip().unwrap_or("unknown"));
    match key {
        LimitKey::SourceIp => source_ip(),
        // Without authentication there is no principal; the client's address stands in for it.
        LimitKey::Principal => principal.map_or_else(source_ip, |p| format!("sub:{}", p.subject)),
        // An API key's principal carries no token claims; a caller without one counts by address.
        LimitKey::ApiKey => {
            principal.filter(|p| p.claims.is_empty()).map_or_else(source_ip, |p| format!("api-key:{}", p.subject))
        }
        // The route that matched (the policy's, else the trigger's template) is one bucket
        // however the path is spelled; without one, the canonical path, case folded as the
        // route matcher folds it (`/Orders/%31/` is `/orders/1`). Templates and paths are
        // counted apart: the template `/orders/{id}` is not the path `/orders/%7Bid%7D`.
        LimitKey::Route => match route.route.as_deref().or(invocation.route()) {
            Some(template) => format!("route:{template}"),
            None => format!("path:{}", invocation.canonical_path().unwrap_or("").to_lowercase()),
        },
        LimitKey::Global => "global".to_owned(),
    }
}

fn shape(rejection: Rejection, invocation: &Invocation) -> Outcome {
    let answer = if invocation.kind.is_http() {
        serde_json::value::to_raw_value(&rejection.to_http_response(invocation.kind)).map_err(|error| Diagnostic {
            error_type: "Runtime.SerializationError".to_owned(),
            error_message: format!("the rejection cannot be serialized: {error}"),
        })
    } else {
        Err(rejection.to_diagnostic())
    };
    Outcome::Rejected { rejection, answer }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::value::RawValue;

    use super::*;
    use crate::auth::AuthError;

    fn interceptor(pairs: &[(&str, &str)]) -> Interceptor {
        let mut map: HashMap<&str, &str> = pairs.iter().copied().collect();
        map.insert("INTERCEPT_DISABLE", "telemetry");
        let config = Config::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).expect("valid config");
        Interceptor::new(&config).expect("builds")
    }

    fn event(ip: &str, authorization: Option<&str>) -> Invocation {
        let headers = authorization.map_or_else(|| "{}".to_owned(), |a| format!(r#"{{"authorization":"{a}"}}"#));
        let json = format!(
            r#"{{"version":"2.0","routeKey":"GET /x","rawPath":"/x","headers":{headers},
            "requestContext":{{"http":{{"method":"GET","path":"/x","sourceIp":"{ip}"}}}}}}"#
        );
        Invocation::from_raw(&RawValue::from_string(json).expect("json"))
    }

    #[tokio::test]
    async fn requests_read_two_ways_are_refused_when_a_filter_depends_on_them() {
        let now = Duration::from_secs(1);
        let limited = interceptor(&[("INTERCEPT_RATE_LIMIT", "100/m")]);
        let with = |extra: &str, path: &str| {
            let json = format!(
                r#"{{"version":"2.0","routeKey":"$default","rawPath":"{path}","headers":{{{extra}}},
                "requestContext":{{"http":{{"method":"POST","path":"{path}","sourceIp":"1.2.3.4"}}}}}}"#
            );
            Invocation::from_raw(&RawValue::from_string(json).expect("json"))
        };
        assert!(limited.admit_at(&with("", "/orders/1"), now).await.is_ok());
        for header in ["X-HTTP-Method-Override", "x-http-method", "X-Method-Override"] {
            let overridden = limited.admit_at(&with(&format!(r#""{header}":"DELETE""#), "/orders/1"), now).await;
            assert_eq!(
                overridden,
                Err(Rejection::UnsafePath(crate::canonical::PathProblem::MethodOverride)),
                "{header}"
            );
            assert_eq!(overridden.expect_err("refused").reason(), "method_override");
        }
        let dots = limited.admit_at(&with("", "/admin/%2e%2e"), now).await;
        assert_eq!(dots, Err(Rejection::UnsafePath(crate::canonical::PathProblem::DotSegment)));
        // A method without a path: no rule on paths could be judged.
        let json = r#"{"httpMethod":"DELETE","headers":{},"requestContext":{"identity":{"sourceIp":"1.2.3.4"}}}"#;
        let pathless =
            limited.admit_at(&Invocation::from_raw(&RawValue::from_string(json.to_owned()).expect("json")), now).await;
        assert!(matches!(pathless, Err(Rejection::MalformedEvent(_))), "{pathless:?}");
        // Telemetry alone judges nothing: such requests pass.
        let open = interceptor(&[]);
        assert!(open.admit_at(&with(r#""x-http-method":"DELETE""#, "/admin/%2e%2e"), now).await.is_ok());
    }

    #[tokio::test]
    async fn source_ip_limit_runs_before_auth() {
        let interceptor = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_RATE_LIMIT", "1/m"),
        ]);
        let now = Duration::from_secs(1);
        let first = interceptor.admit_at(&event("1.1.1.1", None), now).await;
        assert_eq!(first, Err(Rejection::Unauthorized(AuthError::MissingToken)));
        let second = interceptor.admit_at(&event("1.1.1.1", None), now).await;
        assert!(matches!(&second, Err(Rejection::RateLimited { policy, .. }) if policy == "source-ip"), "{second:?}");
        let other_ip = interceptor.admit_at(&event("2.2.2.2", None), now).await;
        assert!(matches!(other_ip, Err(Rejection::Unauthorized(_))));
    }

    fn rest_event(headers: &str) -> Invocation {
        rest_event_with(headers, "null")
    }

    /// A REST event as API Gateway passes it: `headers` with the last value of each name,
    /// `multiValueHeaders` with every value.
    fn rest_event_with(headers: &str, multi_value_headers: &str) -> Invocation {
        let json = format!(
            r#"{{"resource":"/x","path":"/x","httpMethod":"GET","headers":{headers},
            "multiValueHeaders":{multi_value_headers},
            "requestContext":{{"identity":{{"sourceIp":"1.2.3.4"}},"resourcePath":"/x"}}}}"#
        );
        Invocation::from_raw(&RawValue::from_string(json).expect("json"))
    }

    #[tokio::test]
    async fn a_credential_header_given_twice_is_refused() {
        let now = Duration::from_secs(1_700_000_000);
        let a = token("s3cret", "alice");
        let b = token("s3cret", "bob");
        let jwt = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_JWT_HEADER", "X-Token"),
            ("INTERCEPT_JWT_COOKIE", "session"),
        ]);
        let duplicate = |name: &str| Err(Rejection::Unauthorized(AuthError::DuplicateHeader(name.to_owned())));
        // Each alone is a good token; both, in either case spelling, are refused whichever comes first.
        let single = rest_event(&format!(r#"{{"Authorization":"Bearer {a}","X-Other":"1"}}"#));
        assert!(jwt.admit_at(&single, now).await.is_ok());
        let both = rest_event(&format!(r#"{{"Authorization":"Bearer {a}","authorization":"Bearer {b}"}}"#));
        assert_eq!(jwt.admit_at(&both, now).await, duplicate("Authorization"));
        let both = rest_event(&format!(r#"{{"x-token":"{a}","X-TOKEN":"{b}"}}"#));
        assert_eq!(jwt.admit_at(&both, now).await, duplicate("X-Token"));
        let both = rest_event(&format!(r#"{{"Cookie":"session={a}","cookie":"session={b}"}}"#));
        assert_eq!(jwt.admit_at(&both, now).await, duplicate("Cookie"));
        let cookie = rest_event(&format!(r#"{{"Cookie":"theme=dark; session={a}"}}"#));
        assert!(jwt.admit_at(&cookie, now).await.is_ok());
        // Two places with different tokens: the one checked might not be the one the handler
        // reads. The same token in two places is one credential.
        let conflicting = Err(Rejection::Unauthorized(AuthError::ConflictingTokens));
        let header_and_cookie = rest_event(&format!(r#"{{"Authorization":"Bearer {a}","Cookie":"session={b}"}}"#));
        assert_eq!(jwt.admit_at(&header_and_cookie, now).await, conflicting);
        let header_and_token = rest_event(&format!(r#"{{"X-Token":"{b}","Authorization":"Bearer {a}"}}"#));
        assert_eq!(jwt.admit_at(&header_and_token, now).await, conflicting);
        assert_eq!(Rejection::Unauthorized(AuthError::ConflictingTokens).status(), 400);
        let same = rest_event(&format!(r#"{{"Authorization":"Bearer {a}","Cookie":"session={a}"}}"#));
        assert!(jwt.admit_at(&same, now).await.is_ok());
        // As API Gateway REST passes a header sent twice: `headers` has the last value only.
        let rest = rest_event_with(
            &format!(r#"{{"Authorization":"Bearer {b}"}}"#),
            &format!(r#"{{"Authorization":["Bearer {a}","Bearer {b}"]}}"#),
        );
        assert_eq!(jwt.admit_at(&rest, now).await, duplicate("Authorization"));
        // Cookie crumbs (HTTP/2) as REST passes them are one list: the token in the first piece
        // counts, and the token cookie in two pieces is a credential given twice.
        let crumbs = |first: &str, second: &str| {
            rest_event_with(&format!(r#"{{"Cookie":"{second}"}}"#), &format!(r#"{{"Cookie":["{first}","{second}"]}}"#))
        };
        assert!(jwt.admit_at(&crumbs(&format!("session={a}"), "theme=dark"), now).await.is_ok());
        let twice = jwt.admit_at(&crumbs(&format!("session={a}"), &format!("session={b}")), now).await;
        assert_eq!(twice, Err(Rejection::Unauthorized(AuthError::DuplicateCookie("session".to_owned()))));
        assert_eq!(twice.expect_err("refused").status(), 400);
        // Without a cookie token source, repeated cookies are none of authentication's business.
        let plain = interceptor(&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s3cret")]);
        let cookies = rest_event(&format!(r#"{{"Authorization":"Bearer {a}","Cookie":"a=1","cookie":"b=2"}}"#));
        assert!(plain.admit_at(&cookies, now).await.is_ok());

        let keys = interceptor(&[
            ("INTERCEPT_AUTH", "api-key"),
            ("INTERCEPT_API_KEYS", "alice=key-a,bob=key-b"),
            ("INTERCEPT_API_KEY_HEADER", "x-api-key"),
        ]);
        assert!(keys.admit_at(&rest_event(r#"{"X-Api-Key":"key-a"}"#), now).await.is_ok());
        let both = rest_event(r#"{"X-Api-Key":"key-a","x-api-key":"key-b"}"#);
        assert_eq!(keys.admit_at(&both, now).await, duplicate("x-api-key"));

        let response = Rejection::Unauthorized(AuthError::DuplicateHeader("Authorization".to_owned()))
            .to_http_response(crate::invocation::TriggerKind::ApiGatewayRest);
        assert_eq!(response["statusCode"], 400);
        assert_eq!(
            response["headers"]["www-authenticate"],
            r#"Bearer error="invalid_request", error_description="more than one Authorization header""#
        );
    }

    #[tokio::test]
    async fn cookie_arrays_and_multi_value_headers_carry_credentials() {
        let now = Duration::from_secs(1_700_000_000);
        let a = token("s3cret", "alice");
        let jwt = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_JWT_COOKIE", "session"),
            ("INTERCEPT_RATE_LIMIT", "1/m"),
        ]);
        let v2 = |cookies: &str, headers: &str, ip: &str| {
            let json = format!(
                r#"{{"version":"2.0","routeKey":"GET /x","rawPath":"/x","cookies":{cookies},"headers":{headers},
                "requestContext":{{"http":{{"method":"GET","path":"/x","sourceIp":"{ip}"}}}}}}"#
            );
            Invocation::from_raw(&RawValue::from_string(json).expect("json"))
        };
        let admitted = jwt.admit_at(&v2(&format!(r#"["theme=dark","session={a}"]"#), "{}", "1.1.1.1"), now).await;
        assert_eq!(admitted.map(|a| a.principal.map(|p| p.subject.clone())), Ok(Some("alice".to_owned())));
        // Function URL events carry the cookies in the array and a `cookie` header: the array is
        // read, and the two are not a duplicate.
        let both = v2(&format!(r#"["session={a}"]"#), &format!(r#"{{"cookie":"session={a}"}}"#), "1.1.1.2");
        let admitted = jwt.admit_at(&both, now).await;
        assert_eq!(admitted.map(|a| a.principal.map(|p| p.subject.clone())), Ok(Some("alice".to_owned())));

        let alb = |headers: String| {
            let json = format!(
                r#"{{"httpMethod":"GET","path":"/x","multiValueHeaders":{headers},
                "requestContext":{{"elb":{{"targetGroupArn":"arn"}}}}}}"#
            );
            Invocation::from_raw(&RawValue::from_string(json).expect("json"))
        };
        let once = alb(format!(r#"{{"authorization":["Bearer {a}"],"x-forwarded-for":["6.6.6.6, 203.0.113.9"]}}"#));
        assert!(jwt.admit_at(&once, now).await.is_ok());
        // The same client with another spoofed leftmost entry shares the bucket: 1/m is spent.
        let again = alb(format!(r#"{{"authorization":["Bearer {a}"],"x-forwarded-for":["7.7.7.7, 203.0.113.9"]}}"#));
        let limited = jwt.admit_at(&again, now).await;
        assert!(matches!(&limited, Err(Rejection::RateLimited { .. })), "{limited:?}");
        let twice = alb(format!(r#"{{"authorization":["Bearer {a}","Bearer x"],"x-forwarded-for":["203.0.113.10"]}}"#));
        let duplicate = Err(Rejection::Unauthorized(AuthError::DuplicateHeader("Authorization".to_owned())));
        assert_eq!(jwt.admit_at(&twice, now).await, duplicate);
    }

    #[tokio::test]
    async fn open_config_admits_everything() {
        let interceptor = interceptor(&[]);
        for _ in 0..100 {
            assert_eq!(interceptor.admit(&event("1.1.1.1", None)).await, Ok(Admitted { principal: None, trace: None }));
        }
    }

    fn token(secret: &str, subject: &str) -> String {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = serde_json::json!({ "sub": subject, "exp": 4_000_000_000_u64 });
        encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).expect("token")
    }

    #[tokio::test]
    async fn api_key_limits_count_per_key() {
        let interceptor = interceptor(&[
            ("INTERCEPT_AUTH", "api-key"),
            ("INTERCEPT_API_KEYS", "alice=key-a,bob=key-b"),
            ("INTERCEPT_API_KEY_HEADER", "authorization"),
            ("INTERCEPT_RATE_LIMIT", "1/m key=api-key"),
        ]);
        let now = Duration::from_secs(1_700_000_000);
        assert!(interceptor.admit_at(&event("1.1.1.1", Some("key-a")), now).await.is_ok());
        let again = interceptor.admit_at(&event("1.1.1.1", Some("key-a")), now).await;
        assert!(matches!(again, Err(Rejection::RateLimited { .. })), "{again:?}");
        // Same address, another key: its own budget.
        assert!(interceptor.admit_at(&event("1.1.1.1", Some("key-b")), now).await.is_ok());
    }

    #[tokio::test]
    async fn strictest_rule_decides_across_stages() {
        let interceptor = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_RATE_LIMIT", "3/m key=source-ip, 1/m key=principal, 100/s key=global burst=2"),
        ]);
        let now = Duration::from_secs(1_700_000_000);
        let alice = format!("Bearer {}", token("s3cret", "alice"));
        let bob = format!("Bearer {}", token("s3cret", "bob"));
        let from = |ip, who: &str| event(ip, Some(who));
        let first = interceptor.admit_at(&from("1.1.1.1", &alice), now).await;
        assert!(first.is_ok(), "{first:?}");
        // The global rule (burst 2) refuses the third request at once, with the shortest wait;
        // alice's per-principal rule (1/m) refuses her second request, with the longest.
        let second = interceptor.admit_at(&from("1.1.1.2", &alice), now).await;
        assert!(
            matches!(&second, Err(Rejection::RateLimited { policy, retry_after, .. })
                if policy == "principal" && *retry_after == Duration::from_secs(60)),
            "{second:?}"
        );
        let third = interceptor.admit_at(&from("1.1.1.3", &bob), now).await;
        assert!(
            matches!(&third, Err(Rejection::RateLimited { policy, retry_after, .. })
                if policy == "global" && *retry_after == Duration::from_millis(10)),
            "{third:?}"
        );
        let later = now + Duration::from_millis(20);
        assert!(interceptor.admit_at(&from("1.1.1.3", &bob), later).await.is_ok());
        // The per-IP rule (3/m) refuses its fourth request from one address before auth runs.
        let anonymous = event("9.9.9.9", None);
        let ip = |n| interceptor.admit_at(&anonymous, later + Duration::from_millis(n));
        assert!(matches!(ip(20).await, Err(Rejection::Unauthorized(_))));
        assert!(matches!(ip(40).await, Err(Rejection::Unauthorized(_))));
        assert!(matches!(ip(60).await, Err(Rejection::Unauthorized(_))));
        let fourth = ip(80).await;
        assert!(matches!(&fourth, Err(Rejection::RateLimited { policy, .. }) if policy == "source-ip"), "{fourth:?}");
    }

    /// A policy file of the test's own (the file is removed when the config has read it).
    fn with_policy(yaml: &str, pairs: &[(&str, &str)]) -> Interceptor {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!("intercept-policy-{}-{}.yaml", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, yaml).expect("write the policy");
        let path_text = path.to_str().expect("utf-8 path").to_owned();
        let mut map: HashMap<&str, &str> = pairs.iter().copied().collect();
        map.insert("INTERCEPT_POLICY", &path_text);
        map.entry("INTERCEPT_DISABLE").or_insert("telemetry");
        let config = Config::from_lookup(|k| map.get(k).map(|v| (*v).to_owned()));
        let _ = std::fs::remove_file(&path);
        Interceptor::new(&config.expect("valid policy")).expect("builds")
    }

    fn request(method: &str, path: &str, ip: &str, authorization: Option<&str>) -> Invocation {
        let headers = authorization.map_or_else(|| "{}".to_owned(), |a| format!(r#"{{"authorization":"{a}"}}"#));
        let json = format!(
            r#"{{"version":"2.0","routeKey":"{method} {path}","rawPath":"{path}","headers":{headers},
            "requestContext":{{"http":{{"method":"{method}","path":"{path}","sourceIp":"{ip}"}}}}}}"#
        );
        Invocation::from_raw(&RawValue::from_string(json).expect("json"))
    }

    fn scoped_token(subject: &str, scope: &str) -> String {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = serde_json::json!({ "sub": subject, "scope": scope, "exp": 4_000_000_000_u64 });
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s3cret")).expect("token");
        format!("Bearer {token}")
    }

    #[tokio::test]
    async fn a_custom_domains_base_path_does_not_take_a_request_from_under_its_rule() {
        // REST behind `api.example.com/v1`: `path` has the base path, `resource` the template
        // and `pathParameters` what the template matched, as API Gateway sends them.
        let event = |authorization: &str, parameters: &str| {
            let json = format!(
                r#"{{"resource":"/admin/{{proxy+}}","path":"/v1/admin/users","httpMethod":"GET",
                "headers":{{"Authorization":"{authorization}"}},"pathParameters":{parameters},
                "requestContext":{{"identity":{{"sourceIp":"1.2.3.4"}},"domainName":"api.example.com"}}}}"#
            );
            Invocation::from_raw(&RawValue::from_string(json).expect("json"))
        };
        let behind_base_path = |authorization: &str| event(authorization, r#"{"proxy":"users"}"#);
        let now = Duration::from_secs(1);
        let reader = scoped_token("alice", "orders:read");
        let rules = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_JWT_REQUIRED_SCOPES", "/admin/*=admin; /v1/*=v1"),
        ]);
        // The API matched `/admin/users`: the `/admin/*` rule applies, and the rule written with
        // the base path (`/v1/*`) too.
        let refused = rules.admit_at(&behind_base_path(&reader), now).await;
        assert!(
            matches!(&refused, Err(Rejection::Forbidden { required }) if required == &["v1", "admin"]),
            "{refused:?}"
        );
        assert!(rules.admit_at(&behind_base_path(&scoped_token("alice", "admin")), now).await.is_err());
        assert!(rules.admit_at(&behind_base_path(&scoped_token("alice", "admin v1")), now).await.is_ok());
        let api_rules = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_JWT_REQUIRED_SCOPES", "/admin/*=admin; *=read"),
        ]);
        let refused = api_rules.admit_at(&behind_base_path(&reader), now).await;
        assert!(matches!(&refused, Err(Rejection::Forbidden { required }) if required == &["admin"]), "{refused:?}");
        // A catch-all route without authentication does not take it either (it did when routes
        // were matched by the path with its base path).
        let policy = with_policy(
            "defaults:\n  auth: jwt\nroutes:\n  ANY /{proxy+}:\n    auth: none\n  ANY /admin/{proxy+}:\n    auth:\n      scopes: [admin]\n",
            &[("INTERCEPT_JWT_SECRET", "s3cret")],
        );
        let refused = policy.admit_at(&behind_base_path(&reader), now).await;
        assert!(matches!(refused, Err(Rejection::Forbidden { .. })), "{refused:?}");
        let refused = policy.admit_at(&behind_base_path("Bearer nope"), now).await;
        assert!(matches!(refused, Err(Rejection::Unauthorized(_))), "{refused:?}");
        // A route written with the base path keeps meeting that mapping's requests.
        let written_with_base = with_policy(
            "defaults:\n  auth: none\nroutes:\n  ANY /{proxy+}:\n    auth: none\n  ANY /v1/admin/{proxy+}:\n    auth: jwt\n",
            &[("INTERCEPT_JWT_SECRET", "s3cret")],
        );
        let refused = written_with_base.admit_at(&behind_base_path("Bearer nope"), now).await;
        assert!(matches!(refused, Err(Rejection::Unauthorized(_))), "{refused:?}");
        // A path that does not line up with its template (no `pathParameters`, or other ones)
        // leaves no one path to match: refused before any route, whatever the policy.
        for parameters in ["null", r#"{"proxy":"a/b"}"#, r#"{"proxy":"users?x=/y"}"#] {
            for interceptor in [&rules, &policy, &written_with_base] {
                let refused = interceptor.admit_at(&event(&reader, parameters), now).await;
                assert!(
                    matches!(refused, Err(Rejection::UnsafePath(crate::canonical::PathProblem::RouteMismatch))),
                    "{parameters}: {refused:?}"
                );
            }
        }
    }

    const ORDERS: &str = "
defaults:
  auth: jwt
routes:
  GET /health:
    auth: none
  GET /orders/{id}:
    auth:
      scopes: [orders:read]
";

    #[tokio::test]
    async fn policy_routes_choose_their_authentication() {
        let interceptor = with_policy(ORDERS, &[("INTERCEPT_JWT_SECRET", "s3cret")]);
        let now = Duration::from_secs(1_700_000_000);
        let interceptor = &interceptor;
        let admit = |method, path, auth| {
            let invocation = request(method, path, "1.1.1.1", auth);
            async move { interceptor.admit_at(&invocation, now).await }
        };
        // The open route needs nothing, and gets no principal.
        assert_eq!(admit("GET", "/health", None).await, Ok(Admitted { principal: None, trace: None }));
        // The scoped route: no token, a token without the scope, one with it.
        assert_eq!(admit("GET", "/orders/42", None).await, Err(Rejection::Unauthorized(AuthError::MissingToken)));
        let reader = scoped_token("alice", "orders:read");
        let writer = scoped_token("bob", "orders:write");
        let forbidden = admit("GET", "/orders/42", Some(&writer)).await;
        assert!(
            matches!(&forbidden, Err(Rejection::Forbidden { required }) if required == &["orders:read"]),
            "{forbidden:?}"
        );
        let allowed = admit("GET", "/orders/42", Some(&reader)).await.expect("scope held");
        assert_eq!(allowed.principal.map(|p| p.subject.clone()).as_deref(), Some("alice"));
        // No route matches: the defaults (jwt, no scope).
        assert!(admit("POST", "/orders", Some(&writer)).await.is_ok());
        assert_eq!(admit("POST", "/orders", None).await, Err(Rejection::Unauthorized(AuthError::MissingToken)));
        // Two routes with the defaults' authentication share one authenticator; /health has none.
        assert_eq!(interceptor.current().authenticators.len(), 2, "{:?}", interceptor.current().authenticators);
    }

    #[tokio::test]
    async fn policy_routes_have_separate_budgets() {
        let interceptor = with_policy(
            "
defaults:
  rate_limit:
    - rate: 2/m
      key: global
routes:
  GET /a:
    rate_limit:
      - rate: 1/m
        key: global
  GET /b:
    rate_limit:
      - rate: 1/m
        key: global
  GET /c: {}
  GET /d: {}
",
            &[],
        );
        let now = Duration::from_secs(1_700_000_000);
        let interceptor = &interceptor;
        let admit = |path: &'static str| {
            let invocation = request("GET", path, "1.1.1.1", None);
            async move { interceptor.admit_at(&invocation, now).await }
        };
        assert!(admit("/a").await.is_ok());
        let refused = admit("/a").await;
        assert!(
            matches!(&refused, Err(Rejection::RateLimited { policy, .. }) if policy == "get.a.global"),
            "{refused:?}"
        );
        // /b has a budget of its own.
        assert!(admit("/b").await.is_ok());
        assert!(admit("/b").await.is_err());
        // /c and /d inherit the defaults' rule: one budget of 2, shared by name.
        assert!(admit("/c").await.is_ok());
        assert!(admit("/d").await.is_ok());
        let shared = admit("/c").await;
        assert!(matches!(&shared, Err(Rejection::RateLimited { policy, .. }) if policy == "global"), "{shared:?}");
        // The defaults' rule set is built once for the routes inheriting it and the defaults.
        assert_eq!(interceptor.current().limiters.len(), 3);
    }

    #[tokio::test]
    async fn detect_mode_lets_a_would_be_rejection_through_and_records_it() {
        let interceptor = with_policy(
            "
defaults:
  auth:
    type: jwt
    mode: detect
  rate_limit:
    - rate: 1/m
      key: source-ip
      name: trial
      mode: detect
    - rate: 3/m
      key: source-ip
routes:
  GET /strict:
    auth:
      mode: enforce
",
            &[("INTERCEPT_JWT_SECRET", "s3cret")],
        );
        let now = Duration::from_secs(1_700_000_000);
        let anonymous = request("GET", "/orders", "1.1.1.1", None);
        let active = interceptor.current();
        let route = active.route(&anonymous);
        let mut detections = Vec::new();
        let first = interceptor.run_filters(&active, &anonymous, route, now, None, &mut detections).await;
        // No token: detect-mode auth lets it through, without a principal.
        assert_eq!(first, Ok(Admitted { principal: None, trace: None }));
        assert_eq!(detections, [Detection { filter: "authentication", reason: "missing_token", rule: None }]);
        detections.clear();
        let second = interceptor.run_filters(&active, &anonymous, route, now, None, &mut detections).await;
        assert_eq!(
            second,
            Ok(Admitted { principal: None, trace: None }),
            "the detect rule (1/m) would refuse, the enforced one (3/m) does not"
        );
        assert_eq!(detections.len(), 2, "{detections:?}");
        assert_eq!(
            detections[0],
            Detection { filter: "ratelimit", reason: "rate_limited", rule: Some("trial".to_owned()) }
        );
        // The enforced rule still refuses its fourth request.
        assert!(interceptor.admit_at(&anonymous, now).await.is_ok());
        let fourth = interceptor.admit_at(&anonymous, now).await;
        assert!(matches!(&fourth, Err(Rejection::RateLimited { policy, .. }) if policy == "source-ip"), "{fourth:?}");
        // A route that enforces authentication refuses the same request.
        let strict = interceptor.admit_at(&request("GET", "/strict", "2.2.2.2", None), now).await;
        assert_eq!(strict, Err(Rejection::Unauthorized(AuthError::MissingToken)));
    }

    #[tokio::test]
    async fn an_unreadable_http_event_is_refused_before_the_handler_runs() {
        // Read as "not HTTP", these would get the defaults (no auth) instead of the route's.
        let policy = "
defaults:
  auth: none
routes:
  DELETE /admin:
    auth: jwt
";
        let interceptor = with_policy(policy, &[("INTERCEPT_JWT_SECRET", "s3cret")]);
        let events = [
            (
                r#"{"httpMethod":"GET","httpMethod":"DELETE","path":"/admin","requestContext":{}}"#,
                "duplicate field `httpMethod`",
            ),
            (r#"{"httpMethod":null,"httpMethod":"DELETE","path":"/admin"}"#, "duplicate field `httpMethod`"),
            (r#"{"httpMethod":"DELETE","path":"/admin","headers":{"x-n":1}}"#, "invalid type: integer `1`"),
        ];
        for (json, problem) in events {
            let raw = RawValue::from_string(json.to_owned()).expect("json");
            let ran = std::sync::atomic::AtomicBool::new(false);
            let outcome = interceptor
                .handle(&raw, crate::InvocationMeta::default(), |_| async {
                    ran.store(true, Ordering::Relaxed);
                    Ok(RawValue::from_string("{}".to_owned()).expect("json"))
                })
                .await;
            assert!(!ran.load(Ordering::Relaxed), "the handler ran for {json}");
            let rejection = outcome.rejection().expect("rejected").clone();
            assert!(matches!(&rejection, Rejection::MalformedEvent(p) if p.contains(problem)), "{json}: {rejection:?}");
            assert_eq!((rejection.status(), rejection.reason()), (400, "malformed_event"));
            let response: serde_json::Value =
                serde_json::from_str(outcome.into_result().expect("an HTTP response").get()).expect("json");
            assert_eq!(response["statusCode"], 400, "{json}");
            let body: serde_json::Value = serde_json::from_str(response["body"].as_str().expect("body")).expect("json");
            assert!(body["message"].as_str().is_some_and(|m| m.contains(problem)), "{body}");
        }
        // The same request, readable, meets the route's authentication; a non-HTTP event still runs.
        let good = RawValue::from_string(r#"{"httpMethod":"DELETE","path":"/admin"}"#.to_owned()).expect("json");
        let invocation = Invocation::from_raw(&good);
        assert_eq!(interceptor.admit(&invocation).await, Err(Rejection::Unauthorized(AuthError::MissingToken)));
        let queue = RawValue::from_string(r#"{"Records":[],"headers":{"a":1}}"#.to_owned()).expect("json");
        assert!(interceptor.admit(&Invocation::from_raw(&queue)).await.is_ok());
    }

    #[tokio::test]
    async fn kill_switch_turns_the_policy_auth_off() {
        let interceptor =
            with_policy(ORDERS, &[("INTERCEPT_JWT_SECRET", "s3cret"), ("INTERCEPT_DISABLE", "auth,telemetry")]);
        let admitted = interceptor.admit(&request("GET", "/orders/42", "1.1.1.1", None)).await;
        assert_eq!(admitted, Ok(Admitted { principal: None, trace: None }));
        assert!(interceptor.current().authenticators.is_empty());
    }

    #[tokio::test]
    async fn the_clock_is_read_per_decision_so_a_jump_expires_a_cached_token() {
        // A wall clock that jumps, as after a SnapStart restore or a long freeze.
        static WALL_SECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_800_000_000);
        let mut interceptor = interceptor(&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s3cret")]);
        interceptor.clock = Clock { read: || Duration::from_secs(WALL_SECS.load(Ordering::SeqCst)) };
        let claims = serde_json::json!({"sub": "alice", "exp": 1_800_000_060u64});
        let key = jsonwebtoken::EncodingKey::from_secret(b"s3cret");
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign");
        let request = event("10.0.0.1", Some(&format!("Bearer {token}")));
        assert!(interceptor.admit(&request).await.is_ok(), "valid, and now cached");
        WALL_SECS.store(1_800_003_600, Ordering::SeqCst);
        assert_eq!(interceptor.admit(&request).await, Err(Rejection::Unauthorized(AuthError::Expired)));
        WALL_SECS.store(1_800_000_030, Ordering::SeqCst);
        assert!(interceptor.admit(&request).await.is_ok(), "each decision reads the clock again");
    }
}
