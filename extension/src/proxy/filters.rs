//! Intercept's filters (the `intercept` core, as the in-process layer runs them) over the
//! events the proxy fetches, built once per environment, with the fail-open/closed policy
//! for when they cannot be built.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use intercept::{Config, Interceptor, Invocation, Rejection};
use serde_json::value::RawValue;
use tokio::sync::OnceCell;

use super::settings::FailMode;

/// What happens to one event.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Hand this event body to the runtime.
    Deliver(Bytes),
    /// Answer upstream with this rejection instead; the runtime never sees the event.
    Reject(Rejection, intercept::TriggerKind),
    /// The filters cannot run and the proxy fails closed: fail the invocation with this message.
    Fail(String),
}

/// Events the proxy handled, by what became of them (logged with each decision).
#[derive(Debug, Default)]
pub struct ProxyCounts {
    /// Admitted by the filters and handed to the runtime.
    pub admitted: AtomicU64,
    /// Answered by the proxy with a rejection.
    pub rejected: AtomicU64,
    /// Handed to the runtime unchecked because the filters could not run (fail-open).
    pub unchecked: AtomicU64,
    /// Failed because the filters could not run (fail-closed).
    pub failed: AtomicU64,
}

impl ProxyCounts {
    fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The filters, or why there are none.
#[derive(Debug)]
pub(crate) struct Filters {
    config: Result<Config, String>,
    fail: FailMode,
    built: OnceCell<Result<Interceptor, String>>,
    pub(crate) counts: ProxyCounts,
}

impl Filters {
    /// Filters for a configuration read (or not) from the environment; nothing is fetched or
    /// connected until [`Filters::ready`].
    pub(crate) fn new(config: Result<Config, intercept::ConfigError>, fail: FailMode) -> Self {
        let config = config.map_err(|error| format!("{error}"));
        Filters { config, fail, built: OnceCell::new(), counts: ProxyCounts::default() }
    }

    /// Builds the filters on first use (keys fetched, the rate-limit store connected) and
    /// returns why they cannot run, if they cannot.
    pub(crate) async fn ready(&self) -> Result<&Interceptor, &str> {
        let built = self
            .built
            .get_or_init(|| async {
                let config = self.config.as_ref().map_err(Clone::clone)?;
                let interceptor = Interceptor::connect(config).await.map_err(|error| error.to_string())?;
                Ok(interceptor)
            })
            .await;
        match built {
            Ok(interceptor) => Ok(interceptor),
            Err(problem) => Err(problem.as_str()),
        }
    }

    /// The problem to report as the init error, when the filters cannot run and the proxy fails closed.
    pub(crate) async fn init_failure(&self) -> Option<String> {
        match (self.ready().await, self.fail) {
            (Err(problem), FailMode::Closed) => Some(problem.to_owned()),
            _ => None,
        }
    }

    /// Runs the filters over one event (its raw body, as the Runtime API gave it).
    pub(crate) async fn decide(&self, request_id: &str, event: Bytes) -> Verdict {
        let interceptor = match self.ready().await {
            Ok(interceptor) => interceptor,
            Err(problem) => {
                return match self.fail {
                    FailMode::Open => {
                        let count = ProxyCounts::bump(&self.counts.unchecked);
                        tracing::error!(
                            request_id,
                            unchecked = count,
                            "proxy: Intercept's filters cannot run ({problem}); INTERCEPT_PROXY_FAIL=open passes the event to the runtime UNCHECKED"
                        );
                        Verdict::Deliver(event)
                    }
                    FailMode::Closed => {
                        let count = ProxyCounts::bump(&self.counts.failed);
                        tracing::error!(
                            request_id,
                            failed = count,
                            "proxy: Intercept's filters cannot run ({problem}); the invocation fails (INTERCEPT_PROXY_FAIL=closed)"
                        );
                        Verdict::Fail(problem.to_owned())
                    }
                };
            }
        };
        // A body that is not JSON is judged as an event of no known trigger (it has no token).
        let raw: &RawValue = serde_json::from_slice(&event).unwrap_or(RawValue::NULL);
        let invocation = Invocation::from_raw(raw);
        match interceptor.admit(&invocation).await {
            Ok(admitted) => {
                ProxyCounts::bump(&self.counts.admitted);
                let Some(principal) = admitted.principal else { return Verdict::Deliver(event) };
                // The principal goes into the event as API Gateway's JWT authorizer writes it.
                match serde_json::from_slice::<serde_json::Value>(&event) {
                    Ok(mut value) => {
                        intercept::inject_authorizer(&mut value, &principal);
                        match serde_json::to_vec(&value) {
                            Ok(body) => Verdict::Deliver(Bytes::from(body)),
                            Err(_) => Verdict::Deliver(event),
                        }
                    }
                    Err(_) => Verdict::Deliver(event),
                }
            }
            Err(rejection) => {
                let count = ProxyCounts::bump(&self.counts.rejected);
                tracing::info!(
                    request_id,
                    reason = rejection.reason(),
                    status = rejection.status(),
                    rejected = count,
                    "request rejected by the proxy; the runtime never sees it"
                );
                Verdict::Reject(rejection, invocation.kind)
            }
        }
    }
}
