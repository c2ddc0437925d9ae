//! The core pipeline: rate limit by source, authenticate, rate limit by principal.
//!
//! It knows nothing of where it runs; the tower layer and the Runtime API proxy both call it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::auth::{JwtVerifier, Principal, bearer_token};
use crate::config::{AuthConfig, Config, RateLimitConfig};
use crate::invocation::Invocation;
use crate::ratelimit::{Decision, Gcra, LimitKey, MemoryStore};
use crate::rejection::Rejection;
use crate::telemetry::OtlpExporter;

/// Keys the in-memory limiter keeps before it forgets the least recently due.
const MEMORY_STORE_KEYS: usize = 100_000;

/// Builds the pipeline failed on a setting that parsed but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up telemetry export: {0}")]
pub struct BuildError(#[from] reqwest::Error);

/// What the filters decided for an invocation that may go on to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// The authenticated caller, when authentication is on.
    pub principal: Option<Principal>,
}

/// The filters, built once per execution environment and shared by every invocation.
#[derive(Debug)]
pub struct Interceptor {
    verifier: Option<JwtVerifier>,
    rate_limit: Option<(RateLimitConfig, Gcra)>,
    store: MemoryStore,
    exporter: Option<Arc<OtlpExporter>>,
    epoch: Instant,
    cold: AtomicBool,
}

impl Interceptor {
    /// Builds the filters for a configuration.
    ///
    /// # Errors
    /// [`BuildError`] when the telemetry exporter cannot be created.
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        let verifier = match &config.auth {
            AuthConfig::None => None,
            AuthConfig::Jwt(jwt) => Some(JwtVerifier::new(jwt)),
        };
        let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
        let exporter = match &config.telemetry {
            Some(telemetry) => Some(Arc::new(OtlpExporter::new(
                telemetry,
                function_name.as_deref(),
            )?)),
            None => None,
        };
        Ok(Interceptor {
            verifier,
            rate_limit: config.rate_limit.clone().map(|rule| {
                let gcra = Gcra::new(rule.quota);
                (rule, gcra)
            }),
            store: MemoryStore::new(MEMORY_STORE_KEYS),
            exporter,
            epoch: Instant::now(),
            cold: AtomicBool::new(true),
        })
    }

    /// The span exporter, when telemetry is on.
    #[must_use]
    pub fn exporter(&self) -> Option<&Arc<OtlpExporter>> {
        self.exporter.as_ref()
    }

    /// Whether this is the environment's first invocation; true once only.
    pub fn take_cold_start(&self) -> bool {
        self.cold.swap(false, Ordering::Relaxed)
    }

    /// Runs the filters for one invocation.
    ///
    /// # Errors
    /// The [`Rejection`] to answer with instead of calling the handler.
    pub fn admit(&self, invocation: &Invocation) -> Result<Admitted, Rejection> {
        self.admit_at(invocation, self.epoch.elapsed())
    }

    /// Runs the filters as if at `now` (time since this interceptor was built).
    ///
    /// # Errors
    /// The [`Rejection`] to answer with instead of calling the handler.
    pub fn admit_at(&self, invocation: &Invocation, now: Duration) -> Result<Admitted, Rejection> {
        // Limits that need no principal run first, so a flood never costs a signature check.
        if let Some((rule, gcra)) = &self.rate_limit
            && !rule.key.after_auth()
        {
            self.limit(rule, gcra, &limit_key(rule.key, invocation, None), now)?;
        }
        let principal = match &self.verifier {
            None => None,
            Some(verifier) => {
                let token = bearer_token(invocation.header("authorization"))
                    .map_err(Rejection::Unauthorized)?;
                Some(verifier.verify(token).map_err(Rejection::Unauthorized)?)
            }
        };
        if let Some((rule, gcra)) = &self.rate_limit
            && rule.key.after_auth()
        {
            self.limit(
                rule,
                gcra,
                &limit_key(rule.key, invocation, principal.as_ref()),
                now,
            )?;
        }
        Ok(Admitted { principal })
    }

    fn limit(
        &self,
        rule: &RateLimitConfig,
        gcra: &Gcra,
        key: &str,
        now: Duration,
    ) -> Result<(), Rejection> {
        match self.store.check(gcra, key, now) {
            Decision::Allow { .. } => Ok(()),
            Decision::Deny { retry_after } => Err(Rejection::RateLimited {
                policy: rule.key.name(),
                quota: rule.quota,
                retry_after,
            }),
        }
    }
}

fn limit_key(key: LimitKey, invocation: &Invocation, principal: Option<&Principal>) -> String {
    let source_ip = || {
        format!(
            "ip:{}",
            invocation.source_ip.as_deref().unwrap_or("unknown")
        )
    };
    match key {
        LimitKey::SourceIp => source_ip(),
        // Without authentication there is no principal; the client's address stands in for it.
        LimitKey::Principal => principal.map_or_else(source_ip, |p| format!("sub:{}", p.subject)),
        LimitKey::Route => format!("route:{}", invocation.route_or_path().unwrap_or("")),
        LimitKey::Global => "global".to_owned(),
    }
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
        let config =
            Config::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).expect("valid config");
        Interceptor::new(&config).expect("builds")
    }

    fn event(ip: &str, authorization: Option<&str>) -> Invocation {
        let headers = authorization.map_or_else(
            || "{}".to_owned(),
            |a| format!(r#"{{"authorization":"{a}"}}"#),
        );
        let json = format!(
            r#"{{"version":"2.0","routeKey":"GET /x","rawPath":"/x","headers":{headers},
            "requestContext":{{"http":{{"method":"GET","path":"/x","sourceIp":"{ip}"}}}}}}"#
        );
        Invocation::from_raw(&RawValue::from_string(json).expect("json"))
    }

    #[test]
    fn source_ip_limit_runs_before_auth() {
        let interceptor = interceptor(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", "s3cret"),
            ("INTERCEPT_RATE_LIMIT", "1/m"),
        ]);
        let now = Duration::from_secs(1);
        let first = interceptor.admit_at(&event("1.1.1.1", None), now);
        assert_eq!(first, Err(Rejection::Unauthorized(AuthError::MissingToken)));
        let second = interceptor.admit_at(&event("1.1.1.1", None), now);
        assert!(
            matches!(
                second,
                Err(Rejection::RateLimited {
                    policy: "source-ip",
                    ..
                })
            ),
            "{second:?}"
        );
        let other_ip = interceptor.admit_at(&event("2.2.2.2", None), now);
        assert!(matches!(other_ip, Err(Rejection::Unauthorized(_))));
    }

    #[test]
    fn open_config_admits_everything() {
        let interceptor = interceptor(&[]);
        for _ in 0..100 {
            assert_eq!(
                interceptor.admit(&event("1.1.1.1", None)),
                Ok(Admitted { principal: None })
            );
        }
    }
}
