//! Export of finished spans over OTLP/HTTP protobuf, flushed after each invocation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use super::span::string;
use crate::config::TelemetryConfig;

/// Queues finished spans and sends them to the extension's OTLP/HTTP receiver.
///
/// Nothing runs in the background: spans leave only when [`OtlpExporter::flush`] is awaited,
/// which the runtime layer does after the response is sent and before the next event is
/// fetched, so nothing is left in the process when Lambda freezes it.
#[derive(Debug)]
pub struct OtlpExporter {
    endpoint: String,
    client: reqwest::Client,
    resource: Resource,
    pending: Mutex<Vec<Span>>,
    dropped: AtomicU64,
}

impl OtlpExporter {
    /// An exporter for the configured receiver.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no usable TLS or resolver configuration).
    pub fn new(config: &TelemetryConfig, function_name: Option<&str>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(config.flush_timeout).tcp_nodelay(true).build()?;
        let mut attributes = vec![string("service.name", &config.service_name), string("cloud.provider", "aws")];
        if let Some(name) = function_name {
            attributes.push(string("faas.name", name));
        }
        Ok(OtlpExporter {
            endpoint: format!("http://{}/v1/traces", config.otlp_listen),
            client,
            resource: Resource { attributes, ..Resource::default() },
            pending: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues a finished span.
    pub fn record(&self, span: Span) {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(span);
    }

    /// Spans dropped so far because the receiver could not take them.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends every queued span. Never fails: spans that cannot be sent within the flush
    /// timeout are dropped, counted and logged.
    pub async fn flush(&self) {
        let spans = std::mem::take(&mut *self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if spans.is_empty() {
            return;
        }
        let count = spans.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "intercept".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let sent = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => format!("receiver answered {}", response.status()),
            Err(error) => error.to_string(),
        };
        let total = self.dropped.fetch_add(count, Ordering::Relaxed) + count;
        tracing::warn!(endpoint = %self.endpoint, dropped = count, dropped_total = total, %failure, "telemetry flush failed");
    }
}
