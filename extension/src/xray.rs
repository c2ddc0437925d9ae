//! X-Ray traces with no collector: OTLP spans sent as X-Ray segment documents over UDP to the
//! X-Ray daemon Lambda runs for active tracing (`AWS_XRAY_DAEMON_ADDRESS`).
//!
//! Each span becomes a subsegment of the segment Lambda created for the invocation (the span's
//! parent is `Lambda-Runtime-Trace-Id`'s `Parent` for the invocation's server span, another
//! span for the rest), one datagram per document: the daemon's header line, then the JSON.
//! Spans of an invocation whose trace header says `Sampled=0` are not sent. The extension's
//! own platform spans are not sent either: Lambda's segment already holds those phases.
//!
//! Sending never waits: the socket is non-blocking, and a datagram that cannot leave (no
//! daemon, a full socket buffer, a document over the daemon's size limit even without its
//! metadata) is dropped and counted.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use serde_json::{Map, Value, json};

/// The daemon's header line, before every document.
pub const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
/// The largest datagram sent: the daemon reads at most 64 KiB, header included.
pub const MAX_DATAGRAM: usize = 64 * 1024;
/// Trace headers remembered to honour `Sampled=0` (recent invocations only are still sending).
const REMEMBERED: usize = 256;
/// The instrumentation scope of the extension's own platform spans.
const PLATFORM_SCOPE: &str = "intercept-extension";
/// X-Ray's limit on a segment name's length.
const MAX_NAME: usize = 200;
/// X-Ray's limit on an annotation's string value.
const MAX_ANNOTATION: usize = 1000;

/// Where X-Ray documents go, and what became of them.
#[derive(Debug)]
pub struct Xray {
    socket: UdpSocket,
    daemon: SocketAddr,
    /// Recent invocations' trace ids and whether Lambda sampled them.
    sampled: Mutex<VecDeque<([u8; 16], bool)>>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

/// What one export did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct XraySent {
    /// Documents sent.
    pub sent: u64,
    /// Spans left out because Lambda did not sample their trace.
    pub unsampled: u64,
    /// Spans that could not be sent (too large, or the socket refused).
    pub dropped: u64,
}

/// An `AWS_XRAY_DAEMON_ADDRESS` value that names no UDP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS_XRAY_DAEMON_ADDRESS: `{0}` is not `host:port` or `udp:host:port tcp:host:port`")]
pub struct BadDaemonAddress(pub String);

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the SDKs' two-part
/// form `tcp:host:port udp:host:port` (either order). A host name is resolved once, here.
///
/// # Errors
/// [`BadDaemonAddress`] when the text names no address.
pub fn daemon_address(text: &str) -> Result<SocketAddr, BadDaemonAddress> {
    let bad = || BadDaemonAddress(text.to_owned());
    let parts: Vec<&str> = text.split_whitespace().collect();
    let udp = match parts.as_slice() {
        [one] if !one.starts_with("tcp:") => one.strip_prefix("udp:").unwrap_or(one),
        [a, b] => [a, b].into_iter().find_map(|p| p.strip_prefix("udp:")).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if let Ok(address) = udp.parse::<SocketAddr>() {
        return Ok(address);
    }
    let (host, port) = udp.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    (host, port).to_socket_addrs().ok().and_then(|mut all| all.next()).ok_or_else(bad)
}

impl Xray {
    /// A sender to `daemon` from a non-blocking socket on a free port.
    ///
    /// # Errors
    /// When no UDP socket can be opened.
    pub fn new(daemon: SocketAddr) -> std::io::Result<Self> {
        let local = match daemon.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = UdpSocket::bind(SocketAddr::new(local, 0))?;
        socket.set_nonblocking(true)?;
        Ok(Xray {
            socket,
            daemon,
            sampled: Mutex::new(VecDeque::with_capacity(REMEMBERED)),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// The daemon's address.
    #[must_use]
    pub fn daemon(&self) -> SocketAddr {
        self.daemon
    }

    /// Documents sent and spans dropped since the start.
    #[must_use]
    pub fn totals(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed))
    }

    /// Remembers an invocation's X-Ray trace header (`Root=1-…;Parent=…;Sampled=0|1`), so its
    /// spans are sent only when Lambda sampled it.
    pub fn remember(&self, header: &str) {
        let Some((trace_id, sampled)) = parse_header(header) else { return };
        let mut remembered = self.sampled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered.retain(|(id, _)| *id != trace_id);
        if remembered.len() == REMEMBERED {
            remembered.pop_front();
        }
        remembered.push_back((trace_id, sampled));
    }

    fn unsampled(&self, trace_id: &[u8]) -> bool {
        let remembered = self.sampled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered.iter().any(|(id, sampled)| !sampled && id[..] == *trace_id)
    }

    /// Sends every span of `request` as a document, never waiting.
    pub fn export(&self, request: &ExportTraceServiceRequest) -> XraySent {
        let mut report = XraySent::default();
        for resource in &request.resource_spans {
            for scope in &resource.scope_spans {
                if scope.scope.as_ref().is_some_and(|s| s.name == PLATFORM_SCOPE) {
                    continue;
                }
                for span in &scope.spans {
                    if self.unsampled(&span.trace_id) {
                        report.unsampled += 1;
                        continue;
                    }
                    match datagram(span) {
                        Some(bytes) if self.socket.send_to(&bytes, self.daemon).is_ok() => report.sent += 1,
                        _ => report.dropped += 1,
                    }
                }
            }
        }
        self.sent.fetch_add(report.sent, Ordering::Relaxed);
        self.dropped.fetch_add(report.dropped, Ordering::Relaxed);
        report
    }
}

/// `Root=1-<8 hex>-<24 hex>;Parent=…;Sampled=0|1` → the 16-byte trace id and the flag (`true`
/// unless `Sampled=0`).
fn parse_header(header: &str) -> Option<([u8; 16], bool)> {
    let mut root = None;
    let mut sampled = true;
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", value)) => root = Some(value),
            Some(("Sampled", value)) => sampled = value.trim() != "0",
            _ => {}
        }
    }
    let hex: String = root?.strip_prefix("1-")?.split('-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (index, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some((id, sampled))
}

/// The header line and the span's document, within [`MAX_DATAGRAM`] (metadata left out when
/// it does not fit); `None` when it cannot fit or the span has no valid ids.
pub fn datagram(span: &Span) -> Option<Vec<u8>> {
    let mut document = document(span)?;
    let mut bytes = HEADER.as_bytes().to_vec();
    serde_json::to_writer(&mut bytes, &document).ok()?;
    if bytes.len() <= MAX_DATAGRAM {
        return Some(bytes);
    }
    document.remove("metadata");
    bytes.truncate(HEADER.len());
    serde_json::to_writer(&mut bytes, &document).ok()?;
    (bytes.len() <= MAX_DATAGRAM).then_some(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The X-Ray document of one span: a subsegment of its parent, or a segment when it has none.
#[must_use]
pub fn document(span: &Span) -> Option<Map<String, Value>> {
    if span.trace_id.len() != 16 || span.span_id.len() != 8 || span.trace_id.iter().all(|b| *b == 0) {
        return None;
    }
    let trace_id = format!("1-{}-{}", hex(&span.trace_id[..4]), hex(&span.trace_id[4..]));
    let mut doc = Map::new();
    doc.insert("name".to_owned(), Value::String(segment_name(&span.name)));
    doc.insert("id".to_owned(), Value::String(hex(&span.span_id)));
    doc.insert("trace_id".to_owned(), Value::String(trace_id));
    doc.insert("start_time".to_owned(), json!(seconds(span.start_time_unix_nano)));
    doc.insert("end_time".to_owned(), json!(seconds(span.end_time_unix_nano.max(span.start_time_unix_nano))));
    if span.parent_span_id.len() == 8 {
        doc.insert("type".to_owned(), Value::String("subsegment".to_owned()));
        doc.insert("parent_id".to_owned(), Value::String(hex(&span.parent_span_id)));
    }
    if span.kind == SpanKind::Client as i32 || span.kind == SpanKind::Producer as i32 {
        doc.insert("namespace".to_owned(), Value::String("remote".to_owned()));
    }

    let attribute = |keys: &[&str]| keys.iter().find_map(|key| span.attributes.iter().find(|kv| kv.key == *key));
    let text = |keys: &[&str]| {
        attribute(keys).and_then(|kv| scalar(kv.value.as_ref())).map(|v| match v {
            Value::String(text) => text,
            other => other.to_string(),
        })
    };
    let status = attribute(&["http.response.status_code", "http.status_code"])
        .and_then(|kv| scalar(kv.value.as_ref()))
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    let failed = span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32);
    match status {
        Some(429) => {
            doc.insert("throttle".to_owned(), Value::Bool(true));
            doc.insert("error".to_owned(), Value::Bool(true));
        }
        Some(400..=499) => {
            doc.insert("error".to_owned(), Value::Bool(true));
        }
        Some(500..) => {
            doc.insert("fault".to_owned(), Value::Bool(true));
        }
        _ if failed => {
            doc.insert("fault".to_owned(), Value::Bool(true));
        }
        _ => {}
    }
    if failed {
        let message = span.status.as_ref().map(|s| s.message.clone()).unwrap_or_default();
        let kind = text(&["error.type"]).unwrap_or_else(|| "error".to_owned());
        doc.insert(
            "cause".to_owned(),
            json!({ "exceptions": [{ "id": hex(&span.span_id), "type": kind, "message": message }] }),
        );
    }

    let mut request = Map::new();
    for (field, keys) in [
        ("method", &["http.request.method", "http.method"][..]),
        ("url", &["url.full", "url.path", "http.target"][..]),
        ("client_ip", &["client.address", "http.client_ip"][..]),
        ("user_agent", &["user_agent.original", "http.user_agent"][..]),
    ] {
        if let Some(value) = text(keys) {
            request.insert(field.to_owned(), Value::String(value));
        }
    }
    if !request.is_empty() || status.is_some() {
        let mut http = Map::new();
        if !request.is_empty() {
            http.insert("request".to_owned(), Value::Object(request));
        }
        if let Some(status) = status {
            http.insert("response".to_owned(), json!({ "status": status }));
        }
        doc.insert("http".to_owned(), Value::Object(http));
    }

    // Annotations are indexed for search: the few attributes worth filtering traces by. The
    // principal is its name (`enduser.id`), never a credential.
    let mut annotations = Map::new();
    for (name, key) in [
        ("principal", "enduser.id"),
        ("http_route", "http.route"),
        ("intercept_decision", "intercept.decision"),
        ("intercept_reason", "intercept.reason"),
        ("intercept_would_reject", "intercept.would_reject"),
        ("faas_coldstart", "faas.coldstart"),
        ("faas_trigger", "faas.trigger"),
        ("error_type", "error.type"),
    ] {
        if let Some(value) = attribute(&[key]).and_then(|kv| scalar(kv.value.as_ref())) {
            let value = match value {
                Value::String(text) => Value::String(text.chars().take(MAX_ANNOTATION).collect()),
                other => other,
            };
            annotations.insert(name.to_owned(), value);
        }
    }
    if !annotations.is_empty() {
        doc.insert("annotations".to_owned(), Value::Object(annotations));
    }
    let metadata: Map<String, Value> =
        span.attributes.iter().filter_map(|kv| Some((kv.key.clone(), scalar(kv.value.as_ref())?))).collect();
    if !metadata.is_empty() {
        doc.insert("metadata".to_owned(), json!({ "otel": metadata }));
    }
    Some(doc)
}

fn seconds(unix_nanos: u64) -> f64 {
    // Whole seconds and the fraction apart, so microseconds survive the f64.
    (unix_nanos / 1_000_000_000) as f64 + (unix_nanos % 1_000_000_000) as f64 / 1e9
}

/// A string, number or boolean attribute as JSON.
fn scalar(value: Option<&AnyValue>) -> Option<Value> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(Value::String(text.clone())),
        any_value::Value::BoolValue(flag) => Some(Value::Bool(*flag)),
        any_value::Value::IntValue(number) => Some(json!(number)),
        any_value::Value::DoubleValue(number) => serde_json::Number::from_f64(*number).map(Value::Number),
        _ => None,
    }
}

/// A segment name X-Ray accepts: letters, digits, white space and `_ . : / % & # = + \ - @`,
/// at most 200 characters; anything else becomes `_`.
#[must_use]
pub fn segment_name(name: &str) -> String {
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c);
    let cleaned: String = name.chars().take(MAX_NAME).map(|c| if allowed(c) { c } else { '_' }).collect();
    if cleaned.trim().is_empty() { "span".to_owned() } else { cleaned }
}

#[cfg(test)]
mod tests;
