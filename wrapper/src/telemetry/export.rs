//! Export of finished spans and the metrics over OTLP/HTTP protobuf, flushed after each invocation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message as _;

use super::metrics::{Measurement, Metrics};
use super::settings::TelemetryConfig;
use super::span::{SpanData, Value, key_value, string};

/// A finished invocation's spans with their sampling decision.
#[derive(Debug)]
struct Finished {
    spans: Vec<SpanData>,
    sampled: bool,
}

/// Queues finished spans and aggregates metrics, and sends both to the extension's OTLP/HTTP
/// receiver (`/v1/traces` and `/v1/metrics`).
///
/// Nothing runs in the background: data leaves only when [`OtlpExporter::flush`] is awaited,
/// which the runtime layer does after the response is sent and before the next event is
/// fetched, so nothing is left in the process when Lambda freezes it.
#[derive(Debug)]
pub struct OtlpExporter {
    traces_url: String,
    metrics_url: String,
    client: reqwest::Client,
    resource: Resource,
    pending: Mutex<Vec<Finished>>,
    metrics: Metrics,
    dropped: AtomicU64,
}

impl OtlpExporter {
    /// An exporter for the configured receiver.
    ///
    /// ```
    /// use intercept::Config;
    /// use intercept::telemetry::OtlpExporter;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let vars = [("INTERCEPT_OTLP_LISTEN", "127.0.0.1:4318"), ("AWS_LAMBDA_FUNCTION_NAME", "orders")];
    /// let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))?;
    /// let exporter = OtlpExporter::new(config.telemetry.as_ref().expect("telemetry is on by default"))?;
    /// assert_eq!(exporter.dropped(), 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no usable TLS or resolver configuration).
    pub fn new(config: &TelemetryConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(config.flush_timeout).tcp_nodelay(true).build()?;
        Ok(OtlpExporter {
            traces_url: format!("http://{}/v1/traces", config.otlp_listen),
            metrics_url: format!("http://{}/v1/metrics", config.otlp_listen),
            client,
            resource: resource(config),
            pending: Mutex::new(Vec::new()),
            metrics: Metrics::new(),
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues one invocation's spans; unsampled ones are only counted in metrics, not sent.
    pub(crate) fn record(&self, spans: Vec<SpanData>, sampled: bool) {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Finished { spans, sampled });
    }

    pub(crate) fn measure(&self, measurement: &Measurement<'_>) {
        self.metrics.record(measurement);
    }

    /// Counts a new policy version that could not be used (`intercept.policy.errors`).
    pub(crate) fn policy_error(&self) {
        self.metrics.add_policy_error();
    }

    /// Spans dropped so far because the receiver could not take them.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The resource every span and metric is sent with.
    #[must_use]
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// Sends every queued span and the metrics, concurrently. Never fails: what cannot be sent
    /// within the flush timeout is dropped, counted (the `intercept.telemetry.dropped` metric)
    /// and logged.
    pub async fn flush(&self) {
        let finished = std::mem::take(&mut *self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let spans: Vec<_> = finished
            .into_iter()
            .filter(|f| f.sampled)
            .flat_map(|f| f.spans.into_iter().map(|span| span.into_proto(true)))
            .collect();
        let span_count = spans.len() as u64;
        let traces = (!spans.is_empty()).then(|| {
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(self.resource.clone()),
                    scope_spans: vec![ScopeSpans { scope: Some(scope()), spans, schema_url: String::new() }],
                    schema_url: String::new(),
                }],
            }
            .encode_to_vec()
        });
        let metrics = self.metrics.collect().map(|metrics| {
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: Some(self.resource.clone()),
                    scope_metrics: vec![ScopeMetrics { scope: Some(scope()), metrics, schema_url: String::new() }],
                    schema_url: String::new(),
                }],
            }
            .encode_to_vec()
        });
        let (traces_sent, metrics_sent) =
            futures_util::future::join(self.send(&self.traces_url, traces), self.send(&self.metrics_url, metrics))
                .await;
        if let Err(failure) = traces_sent {
            let total = self.dropped.fetch_add(span_count, Ordering::Relaxed) + span_count;
            self.metrics.add_dropped_spans(span_count);
            tracing::warn!(endpoint = %self.traces_url, dropped = span_count, dropped_total = total, %failure, "telemetry flush failed");
        }
        if let Err(failure) = metrics_sent {
            // Cumulative metrics: the next export carries these counts again.
            self.metrics.resend();
            tracing::warn!(endpoint = %self.metrics_url, %failure, "metrics flush failed; the next flush resends them");
        }
    }

    async fn send(&self, url: &str, body: Option<Vec<u8>>) -> Result<(), String> {
        let Some(body) = body else { return Ok(()) };
        let sent = self.client.post(url).header("content-type", "application/x-protobuf").body(body).send().await;
        match sent {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("receiver answered {}", response.status())),
            Err(error) => Err(error.to_string()),
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "intercept".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..InstrumentationScope::default()
    }
}

/// The resource: `OTEL_RESOURCE_ATTRIBUTES`, then what Lambda's variables say (which win).
fn resource(config: &TelemetryConfig) -> Resource {
    let function = &config.function;
    let mut attributes: Vec<KeyValue> = config
        .resource_attributes
        .iter()
        .filter(|(key, _)| key != "service.name")
        .map(|(key, value)| string(key, value))
        .collect();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            attributes.retain(|kv| kv.key != key);
            attributes.push(key_value(key, value));
        }
    };
    set("service.name", Some(Value::from(config.service_name.clone())));
    set("telemetry.sdk.name", Some(Value::from("intercept")));
    set("telemetry.sdk.language", Some(Value::from("rust")));
    set("telemetry.sdk.version", Some(Value::from(env!("CARGO_PKG_VERSION"))));
    set("cloud.provider", Some(Value::from("aws")));
    set("cloud.platform", Some(Value::from("aws_lambda")));
    set("cloud.region", function.region.clone().map(Value::from));
    set("faas.name", function.name.clone().map(Value::from));
    set("faas.version", function.version.clone().map(Value::from));
    set("faas.instance", function.log_stream.clone().map(Value::from));
    // Semantic conventions give faas.max_memory in bytes.
    set(
        "faas.max_memory",
        function.memory_mb.map(|mb| Value::Int(i64::try_from(mb * 1024 * 1024).unwrap_or(i64::MAX))),
    );
    if let Some(group) = &function.log_group {
        attributes.push(KeyValue {
            key: "aws.log.group.names".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: Some(any_value::Value::StringValue(group.clone())) }],
                })),
            }),
            ..KeyValue::default()
        });
    }
    Resource { attributes, ..Resource::default() }
}
