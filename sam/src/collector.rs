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
use opentelemetry_proto::tonic::trace::v1::{Span, Status, status};
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

/// An OTLP/HTTP traces receiver on a local port, and an X-Ray daemon stand-in on a UDP port.
#[derive(Debug, Clone)]
pub struct Collector {
    addr: SocketAddr,
    xray: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

/// The service shown for spans that arrived as X-Ray segment documents.
pub(crate) const XRAY_SERVICE: &str = "X-Ray";

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
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let xray = udp.local_addr()?;
        // Segments go on to the X-Ray daemon this process was given, when there is one, so a
        // locally running daemon (or any receiver) gets them too.
        let relay = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok().and_then(|text| relay_address(&text));
        tokio::spawn(receive_segments(udp, relay, spans.clone()));
        Ok(Collector { addr, xray, spans })
    }

    /// Where environments send their telemetry: this receiver and this X-Ray daemon.
    #[must_use]
    pub fn targets(&self) -> crate::functions::TelemetryTargets {
        crate::functions::TelemetryTargets { otlp: self.endpoint(), xray: self.xray.to_string() }
    }

    /// The base URL of the OTLP/HTTP receiver (`/v1/traces` is where spans go).
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

/// The UDP address in an `AWS_XRAY_DAEMON_ADDRESS` (`host:port` or `udp:host:port tcp:…`).
fn relay_address(text: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs as _;
    let udp = text.split_whitespace().find(|part| !part.starts_with("tcp:"))?;
    udp.strip_prefix("udp:").unwrap_or(udp).to_socket_addrs().ok()?.next()
}

/// Receives X-Ray datagrams (the daemon's header line, then a segment document), keeps each
/// as a span for the trace tree, and relays the datagram unchanged.
async fn receive_segments(udp: tokio::net::UdpSocket, relay: Option<SocketAddr>, spans: Arc<Mutex<Vec<ReceivedSpan>>>) {
    let mut buffer = vec![0u8; 64 * 1024 + 1];
    loop {
        let Ok((n, _)) = udp.recv_from(&mut buffer).await else { continue };
        let datagram = &buffer[..n];
        if let Some(to) = relay {
            let _ = udp.send_to(datagram, to).await;
        }
        match segment_span(datagram) {
            Some(span) => {
                spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(span);
            }
            None => eprintln!("X-Ray: ignored a datagram that is not a header line and a segment document"),
        }
    }
}

/// An X-Ray datagram as a span of the trace tree: ids, name and times, the HTTP status, the
/// annotations the tree shows, and `error`/`throttle`/`fault` as an error status.
#[must_use]
pub(crate) fn segment_span(datagram: &[u8]) -> Option<ReceivedSpan> {
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    let text = std::str::from_utf8(datagram).ok()?;
    let (header, document) = text.split_once('\n')?;
    let header: serde_json::Value = serde_json::from_str(header).ok()?;
    if header.get("format")?.as_str()? != "json" {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_str(document).ok()?;
    let bytes = |text: &str| hex::decode(text).ok();
    let trace_hex: String = doc.get("trace_id")?.as_str()?.strip_prefix("1-")?.split('-').collect();
    let nanos = |key: &str| doc.get(key).and_then(serde_json::Value::as_f64).map(|s| (s * 1e9) as u64);
    let attribute = |key: &str, value: any_value::Value| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    };
    let mut attributes = Vec::new();
    if let Some(status) = doc.pointer("/http/response/status").and_then(serde_json::Value::as_i64) {
        attributes.push(attribute("http.response.status_code", any_value::Value::IntValue(status)));
    }
    for (annotation, key) in [
        ("intercept_decision", "intercept.decision"),
        ("intercept_reason", "intercept.reason"),
        ("intercept_would_reject", "intercept.would_reject"),
    ] {
        if let Some(value) = doc.pointer(&format!("/annotations/{annotation}")).and_then(|v| v.as_str()) {
            attributes.push(attribute(key, any_value::Value::StringValue(value.to_owned())));
        }
    }
    if let Some(cold) = doc.pointer("/annotations/faas_coldstart").and_then(serde_json::Value::as_bool) {
        attributes.push(attribute("faas.coldstart", any_value::Value::BoolValue(cold)));
    }
    let flag = |key: &str| doc.get(key).and_then(serde_json::Value::as_bool).unwrap_or(false);
    let failure = ["fault", "throttle", "error"].into_iter().find(|key| flag(key));
    let status = failure.map(|kind| Status {
        code: status::StatusCode::Error as i32,
        message: doc
            .pointer("/cause/exceptions/0/type")
            .and_then(|v| v.as_str())
            .map_or_else(|| kind.to_owned(), |error| format!("{kind}: {error}")),
    });
    let span = Span {
        trace_id: bytes(&trace_hex).filter(|b| b.len() == 16)?,
        span_id: bytes(doc.get("id")?.as_str()?).filter(|b| b.len() == 8)?,
        parent_span_id: doc.get("parent_id").and_then(|v| v.as_str()).and_then(bytes).unwrap_or_default(),
        name: doc.get("name")?.as_str()?.to_owned(),
        start_time_unix_nano: nanos("start_time")?,
        end_time_unix_nano: nanos("end_time").unwrap_or_default(),
        attributes,
        status,
        ..Span::default()
    };
    Some(ReceivedSpan { service: XRAY_SERVICE.to_owned(), span })
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

/// Attributes worth a glance in a terminal; the rest are in the exported data.
const SHOWN_ATTRIBUTES: &[&str] = &[
    "http.response.status_code",
    "intercept.decision",
    "intercept.reason",
    "intercept.mode",
    "intercept.would_reject",
    "faas.coldstart",
    "intercept.policy.digest",
];

/// Renders spans as one tree per trace: name, service, duration, ids and key attributes.
#[must_use]
pub fn render_trees(spans: &[ReceivedSpan]) -> String {
    let mut traces: BTreeMap<String, Vec<&ReceivedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(hex::encode(&span.span.trace_id)).or_default().push(span);
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
    let parent = if span.parent_span_id.is_empty() { "none".to_owned() } else { hex::encode(&span.parent_span_id) };
    let _ = writeln!(
        out,
        "{}└─ {} [{}] {duration_ms:.2} ms span={} parent={parent}{attributes}",
        "   ".repeat(depth),
        span.name,
        node.service,
        hex::encode(&span.span_id),
    );
    let mut children: Vec<&ReceivedSpan> =
        all.iter().copied().filter(|s| s.span.parent_span_id == span.span_id).collect();
    children.sort_by_key(|s| s.span.start_time_unix_nano);
    for child in children {
        render(out, child, all, depth + 1);
    }
}
