//! The telemetry settings: receiver, resource, propagators, sampler and redaction, read from the
//! standard `OTEL_*` variables, Lambda's own, and `INTERCEPT_OTLP_LISTEN` / `INTERCEPT_REDACT`.

use intercept_settings as settings;
use std::net::SocketAddr;
use std::time::Duration;

use super::redact::Redactor;
use super::sampler::Sampler;
use crate::config::ConfigError;

/// The default address of the extension's OTLP receiver, as Lambda layers conventionally use.
pub const DEFAULT_OTLP_LISTEN: &str = "127.0.0.1:4318";

/// Where telemetry goes and what it carries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TelemetryConfig {
    /// The extension's OTLP/HTTP receiver (`INTERCEPT_OTLP_LISTEN`, default `127.0.0.1:4318`).
    pub otlp_listen: SocketAddr,
    /// `service.name` for the resource (`OTEL_SERVICE_NAME`, else the function's name).
    pub service_name: String,
    /// How long a flush may take before its data is dropped and counted.
    pub flush_timeout: Duration,
    /// The function as Lambda describes it in its variables.
    pub function: FunctionInfo,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`, `key=value,...`, percent-decoded).
    pub resource_attributes: Vec<(String, String)>,
    /// Which incoming trace formats are read (`OTEL_PROPAGATORS`).
    pub propagators: Propagators,
    /// Which traces are kept (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
    pub sampler: Sampler,
    /// Field and header names whose values are never recorded.
    pub redactor: Redactor,
}

/// The function's identity from Lambda's variables; what is unset stays `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionInfo {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: Option<String>,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: Option<u64>,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`: the execution environment (`faas.instance`).
    pub log_stream: Option<String>,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub log_group: Option<String>,
}

/// The incoming context formats read, from `OTEL_PROPAGATORS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Propagators {
    /// W3C `traceparent` and `tracestate`.
    pub tracecontext: bool,
    /// W3C `baggage`.
    pub baggage: bool,
    /// AWS X-Ray (`X-Amzn-Trace-Id`, Lambda's trace id, `AWSTraceHeader`).
    pub xray: bool,
}

impl Default for Propagators {
    /// `tracecontext,baggage`, with Lambda's X-Ray trace as the fallback parent.
    fn default() -> Self {
        Propagators { tracecontext: true, baggage: true, xray: true }
    }
}

impl Propagators {
    fn parse(value: &str) -> Result<Propagators, ConfigError> {
        let mut propagators = Propagators { tracecontext: false, baggage: false, xray: false };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "tracecontext" => propagators.tracecontext = true,
                "baggage" => propagators.baggage = true,
                "xray" | "xray-lambda" => propagators.xray = true,
                "none" => {}
                other => {
                    return Err(ConfigError::new(
                        settings::OTEL_PROPAGATORS,
                        format!(
                            "unknown propagator `{other}`; expected a comma list of tracecontext, baggage, xray or none"
                        ),
                    ));
                }
            }
        }
        Ok(propagators)
    }
}

/// Reads the telemetry settings.
pub(crate) fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<TelemetryConfig, ConfigError> {
    let listen = get(settings::OTLP_LISTEN).unwrap_or_else(|| DEFAULT_OTLP_LISTEN.to_owned());
    let otlp_listen = listen.parse().map_err(|_| {
        ConfigError::new(settings::OTLP_LISTEN, format!("`{listen}` is not an address like 127.0.0.1:4318"))
    })?;
    let memory_mb = match get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
        None => None,
        Some(value) => Some(value.parse().map_err(|_| {
            ConfigError::new("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", format!("`{value}` is not a whole number of MB"))
        })?),
    };
    let function = FunctionInfo {
        name: get("AWS_LAMBDA_FUNCTION_NAME"),
        version: get("AWS_LAMBDA_FUNCTION_VERSION"),
        region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
        memory_mb,
        log_stream: get("AWS_LAMBDA_LOG_STREAM_NAME"),
        log_group: get("AWS_LAMBDA_LOG_GROUP_NAME"),
    };
    let resource_attributes = match get(settings::OTEL_RESOURCE_ATTRIBUTES) {
        None => Vec::new(),
        Some(value) => parse_resource_attributes(&value)?,
    };
    // OTEL_SERVICE_NAME wins over a `service.name` in OTEL_RESOURCE_ATTRIBUTES, as the spec says.
    let service_name = get(settings::OTEL_SERVICE_NAME)
        .or_else(|| resource_attributes.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()))
        // Powertools' name, for functions that already set it.
        .or_else(|| get("POWERTOOLS_SERVICE_NAME"))
        .or_else(|| function.name.clone())
        .unwrap_or_else(|| "unknown_service".to_owned());
    let propagators = match get(settings::OTEL_PROPAGATORS) {
        None => Propagators::default(),
        Some(value) => Propagators::parse(&value)?,
    };
    let sampler = Sampler::parse(
        get(settings::OTEL_TRACES_SAMPLER).as_deref(),
        get(settings::OTEL_TRACES_SAMPLER_ARG).as_deref(),
    )?;
    let mut sensitive: Vec<String> = Vec::new();
    for setting in [settings::API_KEY_HEADER, settings::JWT_HEADER, settings::JWT_COOKIE] {
        sensitive.extend(get(setting));
    }
    if let Some(fields) = get(settings::REDACT) {
        for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if field.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::new(
                    settings::REDACT,
                    format!("`{field}` is not a field name; expected a comma list of header or field names"),
                ));
            }
            sensitive.push(field.to_owned());
        }
    }
    Ok(TelemetryConfig {
        otlp_listen,
        service_name,
        flush_timeout: Duration::from_millis(250),
        function,
        resource_attributes,
        propagators,
        sampler,
        redactor: Redactor::new(sensitive),
    })
}

/// `key1=value1,key2=value2`, values percent-decoded (W3C baggage octets, as the spec says).
fn parse_resource_attributes(value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut attributes = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(ConfigError::new(
                settings::OTEL_RESOURCE_ATTRIBUTES,
                format!("`{pair}` is not `key=value`; expected a comma list like `deployment.environment=prod`"),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::new(settings::OTEL_RESOURCE_ATTRIBUTES, format!("`{pair}` has an empty key")));
        }
        let decoded = percent_decode(raw.trim()).ok_or_else(|| {
            ConfigError::new(
                settings::OTEL_RESOURCE_ATTRIBUTES,
                format!("the value of `{key}` has a bad percent escape"),
            )
        })?;
        attributes.push((key.to_owned(), decoded));
    }
    Ok(attributes)
}

/// `text` percent-decoded as UTF-8 (W3C baggage and `OTEL_RESOURCE_ATTRIBUTES` values), or
/// `None` when a `%` is not followed by two hex digits or the bytes are not UTF-8: the
/// `percent-encoding` crate decodes, and passes a malformed escape through unchanged, which
/// these values must refuse instead.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = memchr::memchr_iter(b'%', bytes)
        .all(|at| bytes.get(at + 1..at + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)));
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode(bytes).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse_map(pairs: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        parse(&|name: &str| map.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn percent_decoding_refuses_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%C3%A9").as_deref(), Some("a bé"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        for bad in ["%", "%4", "%zz", "%+1", "50%", "%ff", "%c3"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn lambda_variables_and_resource_attributes() {
        let config = parse_map(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, team=a%2Cb"),
        ])
        .expect("valid");
        assert_eq!(config.service_name, "orders");
        assert_eq!(config.function.memory_mb, Some(256));
        assert_eq!(config.function.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            config.resource_attributes,
            [("deployment.environment".to_owned(), "prod".to_owned()), ("team".to_owned(), "a,b".to_owned())]
        );
        let named = parse_map(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")]).expect("valid");
        assert_eq!(named.service_name, "from-attrs");
        let powertools = parse_map(&[("POWERTOOLS_SERVICE_NAME", "cart"), ("AWS_LAMBDA_FUNCTION_NAME", "fn")]);
        assert_eq!(powertools.expect("valid").service_name, "cart", "Powertools' name before the function's");
        let both = parse_map(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=a"), ("OTEL_SERVICE_NAME", "b")]);
        assert_eq!(both.expect("valid").service_name, "b");
    }

    #[test]
    fn propagators_select_formats() {
        let config = parse_map(&[("OTEL_PROPAGATORS", "xray")]).expect("valid");
        assert_eq!(config.propagators, Propagators { tracecontext: false, baggage: false, xray: true });
        assert_eq!(parse_map(&[]).expect("valid").propagators, Propagators::default());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, setting) in [
            (&[("OTEL_PROPAGATORS", "b3")][..], "OTEL_PROPAGATORS"),
            (&[("OTEL_RESOURCE_ATTRIBUTES", "novalue")][..], "OTEL_RESOURCE_ATTRIBUTES"),
            (&[("OTEL_RESOURCE_ATTRIBUTES", "k=%zz")][..], "OTEL_RESOURCE_ATTRIBUTES"),
            (&[("OTEL_TRACES_SAMPLER", "sometimes")][..], "OTEL_TRACES_SAMPLER"),
            (
                &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")][..],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots")][..], "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            (&[("INTERCEPT_REDACT", "a b")][..], "INTERCEPT_REDACT"),
        ] {
            let error = parse_map(pairs).expect_err(setting);
            assert_eq!(error.setting, setting, "{error}");
        }
    }
}
