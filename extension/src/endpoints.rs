//! Where each signal is exported and with which headers (the standard `OTEL_EXPORTER_OTLP_*`).

use http::{HeaderName, HeaderValue};

use crate::config::ConfigError;
use crate::signal::Signal;

/// The OTLP/HTTP URL of each signal; `None` keeps nothing for that signal and says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or the base endpoint + `/v1/traces`.
    pub traces: Option<String>,
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, or the base endpoint + `/v1/metrics`.
    pub metrics: Option<String>,
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, or the base endpoint + `/v1/logs`.
    pub logs: Option<String>,
}

impl Endpoints {
    /// The URL for `signal`.
    #[must_use]
    pub fn get(&self, signal: Signal) -> Option<&str> {
        match signal {
            Signal::Traces => self.traces.as_deref(),
            Signal::Metrics => self.metrics.as_deref(),
            Signal::Logs => self.logs.as_deref(),
        }
    }

    /// Whether any signal goes to an `https://` URL (only then is the system's CA store read).
    #[must_use]
    pub fn uses_https(&self) -> bool {
        Signal::ALL.iter().filter_map(|s| self.get(*s)).any(|url| url.starts_with("https://"))
    }

    pub(crate) fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Endpoints, ConfigError> {
        let base = get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|url| checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", url))
            .transpose()?;
        let one = |setting: &'static str, signal: Signal| match get(setting) {
            Some(url) => checked_url(setting, url).map(Some),
            None => Ok(base.as_ref().map(|b| format!("{}{}", b.trim_end_matches('/'), signal.path()))),
        };
        Ok(Endpoints {
            traces: one("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Signal::Traces)?,
            metrics: one("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", Signal::Metrics)?,
            logs: one("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", Signal::Logs)?,
        })
    }
}

fn checked_url(setting: &'static str, url: String) -> Result<String, ConfigError> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && http::Uri::try_from(url.as_str()).is_ok() => Ok(url),
        _ => Err(ConfigError { setting, problem: format!("`{url}` is not an http:// or https:// URL") }),
    }
}

/// Headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`, `k=v,k2=v2`, values
/// percent-decoded). They usually carry API keys, so `Debug` shows names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(crate) Vec<(HeaderName, HeaderValue)>);

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(name, _)| (name.as_str(), "<redacted>"))).finish()
    }
}

impl Headers {
    pub(crate) fn parse(setting: &'static str, text: &str) -> Result<Headers, ConfigError> {
        let mut headers = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |why: &str| ConfigError {
                setting,
                problem: format!("{why} (expected name=value pairs separated by commas)"),
            };
            let (name, value) = pair.split_once('=').ok_or_else(|| bad("a pair without `=`"))?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|_| bad("a value that is not UTF-8 once decoded"))?;
            let name = HeaderName::try_from(name.trim())
                .map_err(|_| bad(&format!("`{}` is not a header name", name.trim())))?;
            let value = HeaderValue::try_from(value.as_ref())
                .map_err(|_| bad(&format!("the value of `{name}` is not a header value")))?;
            headers.push((name, value));
        }
        Ok(Headers(headers))
    }

    /// The header names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_decode_and_never_print_values() {
        let headers = Headers::parse("H", "api-key=s%3Dcret , x-team=a b").expect("valid");
        assert_eq!(headers.0[0].1, "s=cret");
        assert_eq!(headers.0[1].1, "a b");
        let shown = format!("{headers:?}");
        assert!(shown.contains("api-key") && !shown.contains("cret"), "{shown}");
        assert_eq!(Headers::parse("H", "novalue").expect_err("bad").setting, "H");
        assert!(Headers::parse("H", "bad name=1").is_err());
    }
}
