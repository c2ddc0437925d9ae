use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

use opentelemetry_proto::tonic::common::v1::KeyValue;

use serde_json::Value;

use super::*;

/// The document a span's datagram carries, parsed.
fn document(span: &Span) -> Option<serde_json::Map<String, Value>> {
    let bytes = datagram(span)?;
    assert!(bytes.starts_with(HEADER.as_bytes()));
    match serde_json::from_slice(&bytes[HEADER.len()..]) {
        Ok(Value::Object(map)) => Some(map),
        other => panic!("not a JSON object: {other:?}"),
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}

const TRACE: [u8; 16] = [0x5f, 0x84, 0xc7, 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// A trace id X-Ray would take now: it starts with the current epoch second.
fn recent_trace() -> Vec<u8> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as u32;
    let mut id = now.to_be_bytes().to_vec();
    id.extend_from_slice(&TRACE[4..]);
    id
}

fn int_attribute(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..KeyValue::default()
    }
}

fn server_span(status: Option<i64>) -> Span {
    let mut attributes = vec![
        string_attribute("http.request.method", "GET"),
        string_attribute("url.path", "/items/7"),
        string_attribute("http.route", "/items/{id}"),
        string_attribute("client.address", "192.0.2.1"),
        string_attribute("enduser.id", "alice"),
        string_attribute("intercept.decision", "rejected"),
    ];
    attributes.extend(status.map(|s| int_attribute("http.response.status_code", s)));
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0xaa; 8],
        parent_span_id: vec![0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8],
        name: "GET /items/{id}".to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 1_700_000_000_250_000_000,
        end_time_unix_nano: 1_700_000_000_262_500_000,
        attributes,
        ..Span::default()
    }
}

#[test]
fn a_span_is_a_subsegment_of_lambdas_segment() {
    let doc = document(&server_span(Some(429))).expect("a document");
    assert_eq!(doc["trace_id"], "1-5f84c7a0-0102030405060708090a0b0c");
    assert_eq!(doc["id"], "aaaaaaaaaaaaaaaa");
    assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
    assert_eq!(doc["type"], "subsegment");
    assert_eq!(doc["name"], "GET /items/_id_", "braces are not allowed in names");
    assert_eq!(doc["start_time"], 1_700_000_000.25);
    assert_eq!(doc["end_time"], 1_700_000_000.262_5);
    assert_eq!(
        (doc.get("throttle"), doc.get("error"), doc.get("fault")),
        (Some(&Value::Bool(true)), Some(&Value::Bool(true)), None)
    );
    assert_eq!(doc["http"]["request"]["method"], "GET");
    assert_eq!(doc["http"]["request"]["client_ip"], "192.0.2.1");
    assert_eq!(doc["http"]["response"]["status"], 429);
    assert_eq!(doc["annotations"]["principal"], "alice");
    assert_eq!(doc["annotations"]["intercept_decision"], "rejected");
    assert_eq!(doc["metadata"]["otel"]["http.route"], "/items/{id}");

    let forbidden = document(&server_span(Some(403))).expect("a document");
    assert_eq!((forbidden.get("error"), forbidden.get("throttle")), (Some(&Value::Bool(true)), None));
    let fault = document(&server_span(Some(502))).expect("a document");
    assert_eq!((fault.get("fault"), fault.get("error")), (Some(&Value::Bool(true)), None));

    let mut panicked = server_span(None);
    panicked.attributes.push(string_attribute("error.type", "Runtime.Panic"));
    panicked.status = Some(Status { code: StatusCode::Error as i32, message: "the handler panicked".to_owned() });
    let doc = document(&panicked).expect("a document");
    assert_eq!(doc["fault"], true);
    assert_eq!(doc["cause"]["exceptions"][0]["type"], "Runtime.Panic");
    assert!(doc.get("http").and_then(|h| h.get("response")).is_none());

    let mut root = server_span(None);
    root.parent_span_id.clear();
    let segment = document(&root).expect("a document");
    assert!(segment.get("type").is_none() && segment.get("parent_id").is_none(), "no parent: a segment");
    assert!(document(&Span { trace_id: vec![0; 16], span_id: vec![1; 8], ..Span::default() }).is_none());
}

#[test]
fn oversized_documents_lose_metadata_then_are_dropped() {
    let mut big = server_span(Some(200));
    big.attributes.push(string_attribute("payload", &"x".repeat(70_000)));
    let bytes = datagram(&big).expect("fits without its metadata");
    assert!(bytes.len() <= MAX_DATAGRAM);
    assert!(bytes.starts_with(HEADER.as_bytes()));
    let doc: Value = serde_json::from_slice(&bytes[HEADER.len()..]).expect("json");
    assert!(doc.get("metadata").is_none());
    let mut huge = server_span(Some(500));
    huge.attributes.push(string_attribute("enduser.id", &"y".repeat(70_000)));
    assert!(datagram(&huge).is_some(), "fits once its metadata goes");
    huge.status = Some(Status { code: StatusCode::Error as i32, message: "z".repeat(70_000) });
    assert!(datagram(&huge).is_none(), "too large even without metadata: dropped (the caller counts it)");
}

#[test]
fn any_text_makes_valid_json() {
    let odd = "quote \" backslash \\ newline \n tab \t bell \u{7} nul \u{0} émoji 🦀 </script>";
    let mut span = server_span(Some(200));
    span.name = odd.to_owned();
    span.attributes.push(string_attribute(odd, odd));
    span.attributes.push(string_attribute("user_agent.original", odd));
    let doc = document(&span).expect("valid JSON");
    assert_eq!(doc["metadata"]["otel"][odd], odd, "strings survive the round trip");
    assert_eq!(doc["http"]["request"]["user_agent"], odd);
    assert!(doc["name"].as_str().is_some_and(|n| !n.contains('"') && n.contains("émoji")), "{}", doc["name"]);
}

#[test]
fn daemon_addresses_in_both_forms() {
    assert_eq!(daemon_address("169.254.79.129:2000"), Ok("169.254.79.129:2000".parse().expect("addr")));
    assert_eq!(daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001"), Ok("127.0.0.2:2001".parse().expect("addr")));
    assert_eq!(daemon_address("udp:127.0.0.1:2000"), Ok("127.0.0.1:2000".parse().expect("addr")));
    assert_eq!(daemon_address("localhost:2000").map(|a| a.port()), Ok(2000));
    for bad in ["", "2000", "tcp:127.0.0.1:2000", "127.0.0.1:notaport", "a b c", ":2000"] {
        assert!(daemon_address(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn sends_to_a_udp_receiver_and_honours_sampled() {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    receiver.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let xray = Xray::new(receiver.local_addr().expect("addr")).expect("socket");
    let request = |spans: Vec<Span>, scope: &str| ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: scope.to_owned(), ..InstrumentationScope::default() }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let live = |status| Span { trace_id: recent_trace(), ..server_span(status) };
    let trace = hex::encode(recent_trace());
    let xray_id = format!("1-{}-{}", &trace[..8], &trace[8..]);
    let sent = xray.export(&request(vec![live(Some(200))], "intercept"));
    assert_eq!(sent, XraySent { sent: 1, unsampled: 0, dropped: 0 });
    let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
    let n = receiver.recv(&mut buffer).expect("a datagram");
    let (header, body) = buffer[..n].split_at(HEADER.len());
    assert_eq!(header, HEADER.as_bytes());
    let doc: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(doc["trace_id"], xray_id.as_str());

    // Platform spans are Lambda's own segment's business.
    assert_eq!(xray.export(&request(vec![live(None)], PLATFORM_SCOPE)).sent, 0);
    // A trace id that is not X-Ray's (no recent time in front, as from a W3C traceparent).
    assert_eq!(
        xray.export(&request(vec![server_span(Some(200))], "intercept")),
        XraySent { sent: 0, unsampled: 0, dropped: 1 }
    );

    xray.remember(&format!("Root={xray_id};Parent=53995c3f42cd8ad8;Sampled=0"));
    let unsampled = xray.export(&request(vec![live(Some(200)), live(Some(401))], "intercept"));
    assert_eq!(unsampled, XraySent { sent: 0, unsampled: 2, dropped: 0 });
    xray.remember(&format!("Root={xray_id};Parent=53995c3f42cd8ad8;Sampled=1"));
    assert_eq!(xray.export(&request(vec![live(Some(200))], "intercept")).sent, 1);
    assert_eq!(xray.totals(), (2, 1));
}

#[test]
fn no_daemon_never_waits_or_fails() {
    // A port nobody listens on: the send either succeeds into the void or fails at once.
    let nobody = UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let xray = Xray::new(nobody).expect("socket");
    let started = std::time::Instant::now();
    let span = Span { trace_id: recent_trace(), ..server_span(Some(200)) };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span; 50], ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    };
    let sent = xray.export(&request);
    assert_eq!(sent.sent + sent.dropped, 50);
    // A hang guard, not a timing claim: a blocking send would stall far longer than this.
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The fuzz target's span seed (`fuzz/corpus/native_exporters/seed-spans`); run with `--ignored`
/// to write it again.
#[test]
#[ignore = "writes the fuzz seed"]
fn write_fuzz_seed() {
    use prost::Message as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/native_exporters");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![server_span(Some(429))], ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    };
    std::fs::write(dir.join("seed-spans"), request.encode_to_vec()).expect("seed");
    crate::fuzzing::native_exporters(&request.encode_to_vec());
}
