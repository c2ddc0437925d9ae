//! The embedded OTLP/HTTP receiver, and traces printed as trees.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::io::Read as _;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, status};
use prost::Message as _;
use tokio::net::TcpListener;

/// A span as received, with the service that sent it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of its resource.
    pub service: String,
    /// The span itself.
    pub span: Span,
}

/// An OTLP/HTTP traces receiver on a local port.
#[derive(Debug, Clone)]
pub struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl Collector {
    /// Starts the receiver on `127.0.0.1:0`.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> std::io::Result<Collector> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .route("/v1/metrics", post(receive_other::<ExportMetricsServiceRequest>))
            .route("/v1/logs", post(receive_other::<ExportLogsServiceRequest>))
            .with_state(spans.clone());
        tokio::spawn(axum::serve(listener, app).into_future());
        Ok(Collector { addr, spans })
    }

    /// The base URL to put in `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Takes every span received so far.
    #[must_use]
    pub fn take(&self) -> Vec<ReceivedSpan> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// The request body, gunzipped when `Content-Encoding: gzip` says so.
fn decoded_body(headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    let gzip =
        headers.get("content-encoding").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body);
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).map_err(|e| format!("bad gzip body: {e}"))?;
    Ok(plain.into())
}

/// Metrics and logs are accepted and checked, not shown.
async fn receive_other<M: prost::Message + Default>(headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    match decoded_body(&headers, body).and_then(|b| M::decode(b).map_err(|e| e.to_string())) {
        Ok(_) => (StatusCode::OK, String::new()),
        Err(error) => (StatusCode::BAD_REQUEST, format!("not an OTLP export request: {error}")),
    }
}

async fn receive(
    State(spans): State<Arc<Mutex<Vec<ReceivedSpan>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let body = match decoded_body(&headers, body) {
        Ok(body) => body,
        Err(error) => return (StatusCode::BAD_REQUEST, error),
    };
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => {
            return (StatusCode::BAD_REQUEST, format!("not an OTLP ExportTraceServiceRequest: {error}"));
        }
    };
    let mut received = spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(display_value)
            .unwrap_or_else(|| "unknown".to_owned());
        for scope_spans in resource_spans.scope_spans {
            received.extend(scope_spans.spans.into_iter().map(|span| ReceivedSpan { service: service.clone(), span }));
        }
    }
    (StatusCode::OK, String::new())
}

fn display_value(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Attributes worth a glance in a terminal; the rest are in the exported data.
const SHOWN_ATTRIBUTES: &[&str] = &[
    "http.response.status_code",
    "intercept.decision",
    "intercept.reason",
    "intercept.mode",
    "intercept.would_reject",
    "faas.coldstart",
];

/// Renders spans as one tree per trace: name, service, duration, ids and key attributes.
#[must_use]
pub fn render_trees(spans: &[ReceivedSpan]) -> String {
    let mut traces: BTreeMap<String, Vec<&ReceivedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(hex(&span.span.trace_id)).or_default().push(span);
    }
    let mut out = String::new();
    for (trace_id, spans) in traces {
        let _ = writeln!(out, "TRACE {trace_id}");
        let ids: Vec<Vec<u8>> = spans.iter().map(|s| s.span.span_id.clone()).collect();
        let mut roots: Vec<&ReceivedSpan> =
            spans.iter().copied().filter(|s| !ids.contains(&s.span.parent_span_id)).collect();
        roots.sort_by_key(|s| s.span.start_time_unix_nano);
        for root in roots {
            render(&mut out, root, &spans, 0);
        }
    }
    out
}

fn render(out: &mut String, node: &ReceivedSpan, all: &[&ReceivedSpan], depth: usize) {
    let span = &node.span;
    let duration_ms = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6;
    let mut attributes = String::new();
    for key in SHOWN_ATTRIBUTES {
        if let Some(value) = span.attributes.iter().find(|kv| kv.key == *key).and_then(|kv| kv.value.as_ref()) {
            let _ = write!(attributes, " {key}={}", display_value(value));
        }
    }
    if let Some(status) = &span.status
        && status.code == status::StatusCode::Error as i32
    {
        let _ = write!(attributes, " status=ERROR({})", status.message);
    }
    let parent = if span.parent_span_id.is_empty() { "none".to_owned() } else { hex(&span.parent_span_id) };
    let _ = writeln!(
        out,
        "{}└─ {} [{}] {duration_ms:.2} ms span={} parent={parent}{attributes}",
        "   ".repeat(depth),
        span.name,
        node.service,
        hex(&span.span_id),
    );
    let mut children: Vec<&ReceivedSpan> =
        all.iter().copied().filter(|s| s.span.parent_span_id == span.span_id).collect();
    children.sort_by_key(|s| s.span.start_time_unix_nano);
    for child in children {
        render(out, child, all, depth + 1);
    }
}
