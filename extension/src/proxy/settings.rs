//! The proxy's settings: its port, its upstream and what it does when the filters fail.

use crate::config::ConfigError;

/// The proxy's port when `INTERCEPT_PROXY_PORT` is not set.
pub const DEFAULT_PROXY_PORT: u16 = 9009;

/// What the proxy does with events when the filters cannot run (their configuration is bad, or
/// a key source or rate-limit store named in it cannot be reached at init).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailMode {
    /// Every event fails with `Intercept.ConfigError` (reported to Lambda as an init error
    /// first), so nothing reaches the handler unchecked. The default.
    Closed,
    /// Events go to the runtime untouched; each one is logged and counted.
    Open,
}

/// Where the proxy listens and where it forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// The port on 127.0.0.1 (`INTERCEPT_PROXY_PORT`, default 9009); the exec wrapper points
    /// the runtime at it.
    pub port: u16,
    /// `host:port` of the Runtime API the proxy forwards to: `INTERCEPT_PROXY_UPSTREAM` (another
    /// proxy, to chain) or else Lambda's `AWS_LAMBDA_RUNTIME_API`.
    pub upstream: String,
    /// Lambda's `AWS_LAMBDA_RUNTIME_API` as this extension was given it: with `upstream`, how the
    /// exec wrapper tells this environment's proxy from anything else on the port.
    pub lambda_runtime_api: String,
    /// `INTERCEPT_PROXY_FAIL`: `closed` (default) or `open`.
    pub fail: FailMode,
}

impl ProxyConfig {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the malformed setting.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings from any lookup (a map in tests).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the malformed setting.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let port = match get("INTERCEPT_PROXY_PORT") {
            None => DEFAULT_PROXY_PORT,
            Some(text) => text.parse::<u16>().ok().filter(|port| *port > 0).ok_or_else(|| ConfigError {
                setting: "INTERCEPT_PROXY_PORT",
                problem: format!("`{text}` is not a port number from 1 to 65535"),
            })?,
        };
        let lambda_runtime_api = get("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
        let upstream = match get("INTERCEPT_PROXY_UPSTREAM") {
            Some(upstream) => host_port("INTERCEPT_PROXY_UPSTREAM", upstream)?,
            None if lambda_runtime_api.is_empty() => {
                return Err(ConfigError {
                    setting: "AWS_LAMBDA_RUNTIME_API",
                    problem: "not set: the proxy has no Runtime API to forward to".to_owned(),
                });
            }
            None => host_port("AWS_LAMBDA_RUNTIME_API", lambda_runtime_api.clone())?,
        };
        if upstream == format!("127.0.0.1:{port}") || upstream == format!("localhost:{port}") {
            return Err(ConfigError {
                setting: "INTERCEPT_PROXY_UPSTREAM",
                problem: format!("`{upstream}` is the proxy itself (INTERCEPT_PROXY_PORT={port})"),
            });
        }
        let fail = match get("INTERCEPT_PROXY_FAIL").as_deref() {
            None | Some("closed") => FailMode::Closed,
            Some("open") => FailMode::Open,
            Some(other) => {
                return Err(ConfigError {
                    setting: "INTERCEPT_PROXY_FAIL",
                    problem: format!("`{other}` is not `open` or `closed`"),
                });
            }
        };
        Ok(ProxyConfig { port, upstream, lambda_runtime_api, fail })
    }
}

/// A `host:port` with no scheme or path, as `AWS_LAMBDA_RUNTIME_API` is.
fn host_port(setting: &'static str, value: String) -> Result<String, ConfigError> {
    let well_formed = value.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|port| port > 0)
    });
    if well_formed {
        Ok(value)
    } else {
        Err(ConfigError { setting, problem: format!("`{value}` is not `host:port` (no scheme, no path)") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ProxyConfig, ConfigError> {
        ProxyConfig::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_forward_to_lambdas_runtime_api() {
        let c = config(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]).expect("valid");
        assert_eq!((c.port, c.upstream.as_str(), c.fail), (9009, "127.0.0.1:9001", FailMode::Closed));
        let chained = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("INTERCEPT_PROXY_UPSTREAM", "127.0.0.1:9100"),
            ("INTERCEPT_PROXY_PORT", "9200"),
            ("INTERCEPT_PROXY_FAIL", "open"),
        ])
        .expect("valid");
        assert_eq!(chained.upstream, "127.0.0.1:9100");
        assert_eq!(chained.lambda_runtime_api, "127.0.0.1:9001");
        assert_eq!((chained.port, chained.fail), (9200, FailMode::Open));
    }

    #[test]
    fn bad_settings_are_named() {
        for (pairs, setting) in [
            (
                &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), ("INTERCEPT_PROXY_PORT", "0")][..],
                "INTERCEPT_PROXY_PORT",
            ),
            (
                &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), ("INTERCEPT_PROXY_PORT", "x")][..],
                "INTERCEPT_PROXY_PORT",
            ),
            (
                &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), ("INTERCEPT_PROXY_FAIL", "maybe")][..],
                "INTERCEPT_PROXY_FAIL",
            ),
            (
                &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), ("INTERCEPT_PROXY_UPSTREAM", "http://a:1/")][..],
                "INTERCEPT_PROXY_UPSTREAM",
            ),
            (&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9009")][..], "INTERCEPT_PROXY_UPSTREAM"),
            (&[][..], "AWS_LAMBDA_RUNTIME_API"),
        ] {
            assert_eq!(config(pairs).expect_err(setting).setting, setting, "{pairs:?}");
        }
    }
}
