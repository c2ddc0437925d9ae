//! The extension's settings, read from a map of variables.

use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoints::{Endpoints, Headers};
use crate::flush::FlushMode;
use crate::tls::TrustedCertificates;

/// A setting that is missing or malformed: the core's error, so the extension's settings and
/// the filters' are reported alike (`SETTING: problem`, `Intercept.ConfigError`).
pub use intercept::ConfigError;

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
    /// Where spans go besides OTLP: `Some(address text)` sends X-Ray documents to that daemon
    /// (`OTEL_TRACES_EXPORTER` with `xray`; the address from `AWS_XRAY_DAEMON_ADDRESS`, else
    /// the daemon's default `127.0.0.1:2000`). It is resolved when the extension starts; one
    /// that names no address is a warning, never a failed start.
    pub xray_daemon: Option<String>,
    /// CloudWatch Embedded Metric Format on stdout (`OTEL_METRICS_EXPORTER` with `awsemf`).
    pub emf: Option<EmfSettings>,
}

/// The EMF exporter's namespace and `service` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfSettings {
    /// `INTERCEPT_METRICS_NAMESPACE`, else `POWERTOOLS_METRICS_NAMESPACE`, else `Intercept`.
    pub namespace: String,
    /// The `service` dimension: the service name.
    pub service: String,
}

/// The exporters an `OTEL_*_EXPORTER` list names, out of `allowed` (`none` names none).
fn exporters(
    setting: &'static str,
    text: Option<String>,
    allowed: &[&'static str],
    default: &[&'static str],
) -> Result<Vec<&'static str>, ConfigError> {
    let Some(text) = text else { return Ok(default.to_vec()) };
    let mut chosen = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = name.to_ascii_lowercase();
        if name == "none" {
            continue;
        }
        match allowed.iter().find(|a| **a == name) {
            Some(known) => chosen.push(*known),
            None => {
                return Err(ConfigError {
                    setting,
                    problem: format!("`{name}` is not one of {}, none", allowed.join(", ")),
                });
            }
        }
    }
    Ok(chosen)
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
        let service_name = get("OTEL_SERVICE_NAME")
            .or_else(|| get("POWERTOOLS_SERVICE_NAME"))
            .unwrap_or_else(|| function_name.clone());
        let mut endpoints = Endpoints::from_lookup(&get)?;
        // With no collector, the AWS-native exporters: X-Ray where Lambda runs a daemon (active
        // tracing), CloudWatch metrics through EMF always.
        let daemon = get("AWS_XRAY_DAEMON_ADDRESS");
        let traces_default: &[&str] =
            if endpoints.traces.is_none() && daemon.is_some() { &["xray"] } else { &["otlp"] };
        let traces = exporters("OTEL_TRACES_EXPORTER", get("OTEL_TRACES_EXPORTER"), &["otlp", "xray"], traces_default)?;
        let metrics_default: &[&str] = if endpoints.metrics.is_some() { &["otlp"] } else { &["awsemf"] };
        let metrics =
            exporters("OTEL_METRICS_EXPORTER", get("OTEL_METRICS_EXPORTER"), &["otlp", "awsemf"], metrics_default)?;
        if !traces.contains(&"otlp") {
            endpoints.traces = None;
        }
        if !metrics.contains(&"otlp") {
            endpoints.metrics = None;
        }
        // The namespace, and the variable it came from (an error names that one).
        let namespace = ["INTERCEPT_METRICS_NAMESPACE", "POWERTOOLS_METRICS_NAMESPACE"]
            .into_iter()
            .find_map(|setting| get(setting).map(|value| (setting, value)));
        if let Some((setting, namespace)) = &namespace
            && metrics.contains(&"awsemf")
            && (namespace.len() > 1024 || namespace.starts_with("AWS/"))
        {
            return Err(ConfigError {
                setting,
                problem: format!("`{namespace}` is not a CloudWatch namespace (at most 1024 characters, not `AWS/…`)"),
            });
        }
        let emf = metrics.contains(&"awsemf").then(|| EmfSettings {
            namespace: namespace.map_or_else(|| "Intercept".to_owned(), |(_, value)| value),
            service: service_name.clone(),
        });
        let xray_daemon = traces.contains(&"xray").then(|| daemon.unwrap_or_else(|| "127.0.0.1:2000".to_owned()));
        Ok(ExtensionConfig {
            otlp_listen,
            endpoints,
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
            service_name,
            function_name,
            xray_daemon,
            emf,
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
    fn aws_native_exporters_are_the_default_without_a_collector() {
        let none = config(&[("AWS_LAMBDA_FUNCTION_NAME", "orders")]).expect("valid");
        assert_eq!(none.xray_daemon, None, "no daemon address: no active tracing");
        assert_eq!(none.emf, Some(EmfSettings { namespace: "Intercept".to_owned(), service: "orders".to_owned() }));
        let active = config(&[("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000")]).expect("valid");
        assert_eq!(active.xray_daemon.as_deref(), Some("169.254.79.129:2000"));
        let collector = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
        ])
        .expect("valid");
        assert_eq!((collector.xray_daemon, collector.emf), (None, None), "a collector is what was asked for");
        assert!(collector.endpoints.traces.is_some() && collector.endpoints.metrics.is_some());
    }

    #[test]
    fn exporter_lists_choose_and_powertools_names_are_fallbacks() {
        let both = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_TRACES_EXPORTER", "otlp, xray"),
            ("OTEL_METRICS_EXPORTER", "awsemf"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Shop"),
            ("POWERTOOLS_SERVICE_NAME", "cart"),
        ])
        .expect("valid");
        assert_eq!(both.xray_daemon.as_deref(), Some("127.0.0.1:2000"), "the daemon's default address");
        assert!(both.endpoints.traces.is_some());
        assert_eq!(both.endpoints.metrics, None, "metrics go to EMF only");
        assert_eq!(both.emf, Some(EmfSettings { namespace: "Shop".to_owned(), service: "cart".to_owned() }));
        assert_eq!(both.service_name, "cart");
        let ours = config(&[
            ("INTERCEPT_METRICS_NAMESPACE", "Mine"),
            ("POWERTOOLS_METRICS_NAMESPACE", "Shop"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("POWERTOOLS_SERVICE_NAME", "cart"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ])
        .expect("valid");
        assert_eq!(ours.emf.map(|e| (e.namespace, e.service)), None, "a collector: otlp metrics by default");
        assert_eq!(ours.service_name, "svc");
        assert_eq!(ours.endpoints.traces, None, "none sends no spans anywhere");
        for (setting, value) in [
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("INTERCEPT_METRICS_NAMESPACE", "AWS/Lambda"),
            ("POWERTOOLS_METRICS_NAMESPACE", "AWS/Lambda"),
        ] {
            let error = config(&[(setting, value)]).expect_err(value);
            assert_eq!(error.setting, setting);
            assert!(error.problem.contains(value), "{error}");
        }
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
