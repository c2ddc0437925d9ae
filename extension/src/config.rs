//! The extension's settings, read from a map of variables.

use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoints::{Endpoints, Headers};
use crate::flush::FlushMode;
use crate::tls::TrustedCertificates;

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The variable at fault.
    pub setting: &'static str,
    /// What was wrong and what was expected.
    pub problem: String,
}

/// What the extension listens on, how it buffers and flushes, and where it sends telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtensionConfig {
    /// The OTLP/HTTP receiver's address (`INTERCEPT_OTLP_LISTEN`, default `127.0.0.1:4318`).
    pub otlp_listen: SocketAddr,
    /// Where each signal goes (`OTEL_EXPORTER_OTLP_ENDPOINT` and the per-signal variables).
    pub endpoints: Endpoints,
    /// Headers for every export (`OTEL_EXPORTER_OTLP_HEADERS`); redacted in `Debug`.
    pub headers: Headers,
    /// CA certificates trusted for https endpoints besides the system's
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`, the path of a PEM file).
    pub certificate: Option<TrustedCertificates>,
    /// Gzip the exports (`OTEL_EXPORTER_OTLP_COMPRESSION` = `gzip`, the default here, or `none`).
    pub gzip: bool,
    /// The bound of one export attempt (`OTEL_EXPORTER_OTLP_TIMEOUT` in ms, default 500).
    pub attempt_timeout: Duration,
    /// The buffer's bound in bytes (`INTERCEPT_BUFFER_BYTES`, default 16 MiB).
    pub buffer_bytes: usize,
    /// The largest export request in bytes before compression (`INTERCEPT_BATCH_BYTES`, default 1 MiB).
    pub batch_bytes: usize,
    /// When to flush (`INTERCEPT_FLUSH`, default `adaptive`).
    pub flush: FlushMode,
    /// `service.name` of the platform telemetry (`OTEL_SERVICE_NAME`, else the function name).
    pub service_name: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
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
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let listen = get("INTERCEPT_OTLP_LISTEN").unwrap_or_else(|| "127.0.0.1:4318".to_owned());
        let otlp_listen = listen.parse().map_err(|_| ConfigError {
            setting: "INTERCEPT_OTLP_LISTEN",
            problem: format!("`{listen}` is not an address like 127.0.0.1:4318"),
        })?;
        let number = |setting: &'static str, default: u64, min: u64, unit: &str| match get(setting) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n >= min).ok_or_else(|| ConfigError {
                setting,
                problem: format!("`{v}` is not a number of {unit} of at least {min}"),
            }),
        };
        let gzip = match get("OTEL_EXPORTER_OTLP_COMPRESSION").as_deref() {
            None | Some("gzip") => true,
            Some("none") => false,
            Some(other) => {
                return Err(ConfigError {
                    setting: "OTEL_EXPORTER_OTLP_COMPRESSION",
                    problem: format!("`{other}` is not `gzip` or `none`"),
                });
            }
        };
        let function_name = get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
        Ok(ExtensionConfig {
            otlp_listen,
            endpoints: Endpoints::from_lookup(&get)?,
            headers: match get("OTEL_EXPORTER_OTLP_HEADERS") {
                Some(text) => Headers::parse("OTEL_EXPORTER_OTLP_HEADERS", &text)?,
                None => Headers::default(),
            },
            certificate: get("OTEL_EXPORTER_OTLP_CERTIFICATE")
                .map(|path| TrustedCertificates::read_pem("OTEL_EXPORTER_OTLP_CERTIFICATE", path.as_ref()))
                .transpose()?,
            gzip,
            attempt_timeout: Duration::from_millis(number("OTEL_EXPORTER_OTLP_TIMEOUT", 500, 1, "milliseconds")?),
            buffer_bytes: number("INTERCEPT_BUFFER_BYTES", 16 * 1024 * 1024, 1024, "bytes")? as usize,
            batch_bytes: number("INTERCEPT_BATCH_BYTES", 1024 * 1024, 1024, "bytes")? as usize,
            flush: match get("INTERCEPT_FLUSH") {
                Some(text) => FlushMode::parse(&text)?,
                None => FlushMode::Adaptive,
            },
            service_name: get("OTEL_SERVICE_NAME").unwrap_or_else(|| function_name.clone()),
            function_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ExtensionConfig, ConfigError> {
        ExtensionConfig::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn endpoint_gets_each_signal_path_and_per_signal_ones_win() {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9/")]).expect("valid");
        assert_eq!(c.endpoints.traces.as_deref(), Some("http://127.0.0.1:9/v1/traces"));
        assert_eq!(c.endpoints.logs.as_deref(), Some("http://127.0.0.1:9/v1/logs"));
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://b:2/custom"),
        ])
        .expect("valid");
        assert_eq!(c.endpoints.metrics.as_deref(), Some("http://b:2/custom"));
        assert_eq!(c.endpoints.traces.as_deref(), Some("http://a:1/v1/traces"));
        assert_eq!(c.flush, FlushMode::Adaptive);
        assert!(c.gzip);
    }

    #[test]
    fn debug_never_shows_header_values() {
        let c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20sekrit")]).expect("valid");
        let shown = format!("{c:?}");
        assert!(shown.contains("authorization") && !shown.contains("sekrit"), "{shown}");
    }

    #[test]
    fn bad_settings_are_named() {
        for (pairs, setting) in [
            (&[("INTERCEPT_OTLP_LISTEN", "nowhere")][..], "INTERCEPT_OTLP_LISTEN"),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..], "OTEL_EXPORTER_OTLP_ENDPOINT"),
            (&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://")][..], "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            (&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")][..], "OTEL_EXPORTER_OTLP_CERTIFICATE"),
            (&[("INTERCEPT_BUFFER_BYTES", "12")][..], "INTERCEPT_BUFFER_BYTES"),
            (&[("INTERCEPT_FLUSH", "never")][..], "INTERCEPT_FLUSH"),
            (&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")][..], "OTEL_EXPORTER_OTLP_COMPRESSION"),
            (&[("OTEL_EXPORTER_OTLP_HEADERS", "x")][..], "OTEL_EXPORTER_OTLP_HEADERS"),
        ] {
            assert_eq!(config(pairs).expect_err(setting).setting, setting);
        }
        let not_pem = std::env::temp_dir().join(format!("intercept-config-not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "not a certificate").expect("write");
        let error = config(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", not_pem.to_str().expect("utf-8"))]).expect_err("pem");
        let _ = std::fs::remove_file(&not_pem);
        assert_eq!(error.setting, "OTEL_EXPORTER_OTLP_CERTIFICATE");
        assert!(error.problem.contains("no PEM CERTIFICATE"), "{error}");
    }

    #[test]
    fn https_endpoints_are_accepted() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:9/v1/logs"),
        ])
        .expect("valid");
        assert_eq!(c.endpoints.traces.as_deref(), Some("https://collector.example:4318/v1/traces"));
        assert!(c.endpoints.uses_https());
        assert!(c.certificate.is_none());
        let plain = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")]).expect("valid");
        assert!(!plain.endpoints.uses_https(), "the system's CA store is read only for https");
    }
}
