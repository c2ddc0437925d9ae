//! X-Ray traces with no collector: OTLP spans sent as X-Ray segment documents over UDP to the
//! X-Ray daemon Lambda runs for active tracing (`AWS_XRAY_DAEMON_ADDRESS`).
//!
//! Each span becomes a subsegment of the segment Lambda created for the invocation (the span's
//! parent is `Lambda-Runtime-Trace-Id`'s `Parent` for the invocation's server span, another
//! span for the rest), one datagram per document: the daemon's header line, then the JSON.
//! Spans of an invocation whose trace header says `Sampled=0` are not sent. The extension's
//! own platform spans are not sent either: Lambda's segment already holds those phases. Nor are
//! spans of a trace that did not come from X-Ray (a caller's W3C `traceparent` won): X-Ray
//! refuses a trace id that does not start with a recent time, and such a trace is no part of
//! Lambda's segment; they are counted as dropped and still go wherever OTLP sends them.
//!
//! Sending never waits: the socket is non-blocking, and a datagram that cannot leave (no
//! daemon, a full socket buffer, a document over the daemon's size limit even without its
//! metadata) is dropped and counted.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};

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
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                for span in &scope.spans {
                    if self.unsampled(&span.trace_id) {
                        report.unsampled += 1;
                        continue;
                    }
                    if !xray_epoch(&span.trace_id, now) {
                        // A trace id from elsewhere (a caller's W3C `traceparent`): X-Ray would
                        // refuse it, and it is no part of Lambda's segment. OTLP still has it.
                        report.dropped += 1;
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

/// How far back and ahead of now X-Ray takes a trace id's time (30 days; 5 minutes).
const TRACE_PAST_SECONDS: u64 = 30 * 24 * 3600;
const TRACE_FUTURE_SECONDS: u64 = 300;

/// Whether a trace id's first 4 bytes are a time X-Ray accepts (its trace ids start with the
/// epoch second they began at; a random W3C trace id almost never does).
fn xray_epoch(trace_id: &[u8], now: u64) -> bool {
    let Some(epoch) = trace_id.get(..4) else { return false };
    let epoch = u64::from(u32::from_be_bytes([epoch[0], epoch[1], epoch[2], epoch[3]]));
    (now.saturating_sub(TRACE_PAST_SECONDS)..=now + TRACE_FUTURE_SECONDS).contains(&epoch)
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
    let digits: String = root?.strip_prefix("1-")?.split('-').collect();
    let mut id = [0u8; 16];
    hex::decode_to_slice(digits, &mut id).ok()?;
    Some((id, sampled))
}

/// The header line and the span's document, within [`MAX_DATAGRAM`] (metadata left out when
/// it does not fit); `None` when it cannot fit or the span has no valid ids.
#[must_use]
pub fn datagram(span: &Span) -> Option<Vec<u8>> {
    let mut out = String::with_capacity(1024);
    out.push_str(HEADER);
    write_document(span, true, &mut out)?;
    if out.len() <= MAX_DATAGRAM {
        return Some(out.into_bytes());
    }
    out.truncate(HEADER.len());
    write_document(span, false, &mut out)?;
    (out.len() <= MAX_DATAGRAM).then(|| out.into_bytes())
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// A JSON string: quoted, with `"`, `\` and control characters escaped.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_key(out: &mut String, key: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    push_string(out, key);
    out.push(':');
}

/// A string, number or boolean attribute as JSON; `false` for other kinds (nothing written).
fn push_scalar(out: &mut String, value: &any_value::Value, limit: usize) -> bool {
    match value {
        any_value::Value::StringValue(text) if text.len() <= limit => push_string(out, text),
        any_value::Value::StringValue(text) => push_string(out, &text.chars().take(limit).collect::<String>()),
        any_value::Value::BoolValue(flag) => out.push_str(if *flag { "true" } else { "false" }),
        any_value::Value::IntValue(number) => {
            let _ = write!(out, "{number}");
        }
        any_value::Value::DoubleValue(number) if number.is_finite() => {
            let _ = write!(out, "{number}");
        }
        _ => return false,
    }
    true
}

fn scalar(value: Option<&AnyValue>) -> Option<&any_value::Value> {
    let value = value?.value.as_ref()?;
    match value {
        any_value::Value::DoubleValue(number) if !number.is_finite() => None,
        any_value::Value::StringValue(_)
        | any_value::Value::BoolValue(_)
        | any_value::Value::IntValue(_)
        | any_value::Value::DoubleValue(_) => Some(value),
        _ => None,
    }
}

/// Writes the X-Ray document of one span: a subsegment of its parent, or a segment when it has
/// none; `None` (nothing usable written) when its ids are not valid.
fn write_document(span: &Span, with_metadata: bool, out: &mut String) -> Option<()> {
    if span.trace_id.len() != 16 || span.span_id.len() != 8 || span.trace_id.iter().all(|b| *b == 0) {
        return None;
    }
    let attribute = |keys: &[&str]| {
        keys.iter()
            .find_map(|key| span.attributes.iter().find(|kv| kv.key == *key))
            .and_then(|kv| scalar(kv.value.as_ref()))
    };
    out.push('{');
    push_key(out, "name");
    push_string(out, &segment_name(&span.name));
    push_key(out, "id");
    out.push('"');
    push_hex(out, &span.span_id);
    out.push('"');
    push_key(out, "trace_id");
    out.push_str("\"1-");
    push_hex(out, &span.trace_id[..4]);
    out.push('-');
    push_hex(out, &span.trace_id[4..]);
    out.push('"');
    push_key(out, "start_time");
    let _ = write!(out, "{}", seconds(span.start_time_unix_nano));
    push_key(out, "end_time");
    let _ = write!(out, "{}", seconds(span.end_time_unix_nano.max(span.start_time_unix_nano)));
    if span.parent_span_id.len() == 8 {
        push_key(out, "type");
        out.push_str("\"subsegment\"");
        push_key(out, "parent_id");
        out.push('"');
        push_hex(out, &span.parent_span_id);
        out.push('"');
    }
    if span.kind == SpanKind::Client as i32 || span.kind == SpanKind::Producer as i32 {
        push_key(out, "namespace");
        out.push_str("\"remote\"");
    }

    let status = attribute(&["http.response.status_code", "http.status_code"]).and_then(|value| match value {
        any_value::Value::IntValue(code) => Some(*code),
        any_value::Value::StringValue(code) => code.parse().ok(),
        _ => None,
    });
    let failed = span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32);
    let flags: &[&str] = match status {
        Some(429) => &["throttle", "error"],
        Some(400..=499) => &["error"],
        Some(500..) => &["fault"],
        _ if failed => &["fault"],
        _ => &[],
    };
    for flag in flags {
        push_key(out, flag);
        out.push_str("true");
    }
    if failed {
        push_key(out, "cause");
        out.push_str("{\"exceptions\":[{\"id\":\"");
        push_hex(out, &span.span_id);
        out.push_str("\",\"type\":");
        match attribute(&["error.type"]) {
            Some(kind) => {
                push_scalar(out, kind, MAX_ANNOTATION);
            }
            None => out.push_str("\"error\""),
        }
        out.push_str(",\"message\":");
        push_string(out, span.status.as_ref().map_or("", |s| s.message.as_str()));
        out.push_str("}]}");
    }

    let request: Vec<(&str, &any_value::Value)> = [
        ("method", &["http.request.method", "http.method"][..]),
        ("url", &["url.full", "url.path", "http.target"][..]),
        ("client_ip", &["client.address", "http.client_ip"][..]),
        ("user_agent", &["user_agent.original", "http.user_agent"][..]),
    ]
    .into_iter()
    .filter_map(|(field, keys)| Some((field, attribute(keys)?)))
    .collect();
    if !request.is_empty() || status.is_some() {
        push_key(out, "http");
        out.push('{');
        if !request.is_empty() {
            push_key(out, "request");
            out.push('{');
            for (field, value) in request {
                push_key(out, field);
                push_scalar(out, value, usize::MAX);
            }
            out.push('}');
        }
        if let Some(status) = status {
            push_key(out, "response");
            let _ = write!(out, "{{\"status\":{status}}}");
        }
        out.push('}');
    }

    // Annotations are indexed for search: the few attributes worth filtering traces by. The
    // principal is its name (`enduser.id`), never a credential.
    let mut opened = false;
    for (name, key) in ANNOTATIONS {
        if let Some(value) = attribute(&[key]) {
            if !opened {
                push_key(out, "annotations");
                out.push('{');
                opened = true;
            }
            push_key(out, name);
            push_scalar(out, value, MAX_ANNOTATION);
        }
    }
    if opened {
        out.push('}');
    }
    if with_metadata {
        let mut opened = false;
        for kv in &span.attributes {
            let Some(value) = scalar(kv.value.as_ref()) else { continue };
            if !opened {
                push_key(out, "metadata");
                out.push_str("{\"otel\":{");
                opened = true;
            }
            push_key(out, &kv.key);
            push_scalar(out, value, usize::MAX);
        }
        if opened {
            out.push_str("}}");
        }
    }
    out.push('}');
    Some(())
}

/// Attributes sent as annotations, under X-Ray-safe names (letters, digits and `_`).
const ANNOTATIONS: [(&str, &str); 8] = [
    ("principal", "enduser.id"),
    ("http_route", "http.route"),
    ("intercept_decision", "intercept.decision"),
    ("intercept_reason", "intercept.reason"),
    ("intercept_would_reject", "intercept.would_reject"),
    ("faas_coldstart", "faas.coldstart"),
    ("faas_trigger", "faas.trigger"),
    ("error_type", "error.type"),
];

fn seconds(unix_nanos: u64) -> f64 {
    // Whole seconds and the fraction apart, so microseconds survive the f64.
    (unix_nanos / 1_000_000_000) as f64 + (unix_nanos % 1_000_000_000) as f64 / 1e9
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
