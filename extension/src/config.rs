//! The extension's settings, read from a map of variables.

use std::net::SocketAddr;

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The variable at fault.
    pub setting: &'static str,
    /// What was wrong and what was expected.
    pub problem: String,
}

/// What the extension listens on and where it sends telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtensionConfig {
    /// The OTLP/HTTP receiver's address (`INTERCEPT_OTLP_LISTEN`, default `127.0.0.1:4318`).
    pub otlp_listen: SocketAddr,
    /// Where traces go (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// + `/v1/traces`); `None` keeps nothing and says so once.
    pub traces_endpoint: Option<String>,
    /// The buffer's bound in bytes (`INTERCEPT_BUFFER_BYTES`, default 16 MiB).
    pub buffer_bytes: usize,
}

impl ExtensionConfig {
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
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let listen = get("INTERCEPT_OTLP_LISTEN").unwrap_or_else(|| "127.0.0.1:4318".to_owned());
        let otlp_listen = listen.parse().map_err(|_| ConfigError {
            setting: "INTERCEPT_OTLP_LISTEN",
            problem: format!("`{listen}` is not an address like 127.0.0.1:4318"),
        })?;
        let traces_endpoint = match get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(endpoint) => Some(checked_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)?),
            None => match get("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(base) => {
                    let base = checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
                    Some(format!("{}/v1/traces", base.trim_end_matches('/')))
                }
                None => None,
            },
        };
        let buffer_bytes = match get("INTERCEPT_BUFFER_BYTES") {
            None => 16 * 1024 * 1024,
            Some(v) => v
                .parse()
                .ok()
                .filter(|b| *b >= 1024)
                .ok_or_else(|| ConfigError {
                    setting: "INTERCEPT_BUFFER_BYTES",
                    problem: format!("`{v}` is not a byte count of at least 1024"),
                })?,
        };
        Ok(ExtensionConfig {
            otlp_listen,
            traces_endpoint,
            buffer_bytes,
        })
    }
}

fn checked_url(setting: &'static str, url: String) -> Result<String, ConfigError> {
    if url.starts_with("http://") {
        Ok(url)
    } else {
        Err(ConfigError {
            setting,
            problem: format!("`{url}` is not an http:// URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ExtensionConfig, ConfigError> {
        ExtensionConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn endpoint_gets_the_traces_path() {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9/")]).expect("valid");
        assert_eq!(
            c.traces_endpoint.as_deref(),
            Some("http://127.0.0.1:9/v1/traces")
        );
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2/custom"),
        ])
        .expect("valid");
        assert_eq!(c.traces_endpoint.as_deref(), Some("http://b:2/custom"));
    }

    #[test]
    fn bad_settings_are_named() {
        for (pairs, setting) in [
            (
                &[("INTERCEPT_OTLP_LISTEN", "nowhere")][..],
                "INTERCEPT_OTLP_LISTEN",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                &[("INTERCEPT_BUFFER_BYTES", "12")][..],
                "INTERCEPT_BUFFER_BYTES",
            ),
        ] {
            assert_eq!(config(pairs).expect_err(setting).setting, setting);
        }
    }
}
