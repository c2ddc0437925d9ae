//! The OTLP/HTTP receiver against bad input: malformed, oversized, wrongly typed or encoded
//! requests get 400/413/415, and the receiver goes on accepting good ones; and log records a
//! function's OpenTelemetry SDK exports leave without the credentials of its events.

mod support;

use std::future::IntoFuture as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use intercept::telemetry::REDACTED;
use intercept_extension::{
    Buffer, Exporter, ExtensionConfig, InFlight, LogSecrets, MAX_REQUEST_BYTES, Signal, otlp_router,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use support::Collector;

#[tokio::test]
async fn bad_requests_are_refused_and_good_ones_still_accepted() {
    let buffer = Arc::new(Buffer::new(16 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(
        axum::serve(
            listener,
            otlp_router(
                buffer.clone(),
                InFlight::default(),
                Arc::new(LogSecrets::new(intercept::telemetry::Redactor::default())),
            ),
        )
        .into_future(),
    );
    let client = reqwest::Client::new();
    let post = |path: &str, content_type: &str, body: Vec<u8>| {
        client.post(format!("{url}{path}")).header("content-type", content_type).body(body).send()
    };
    let status = |r: Result<reqwest::Response, reqwest::Error>| r.expect("answers").status().as_u16();

    assert_eq!(status(post("/v1/traces", "application/x-protobuf", vec![0xff, 0xff, 0xff]).await), 400);
    assert_eq!(status(post("/v1/logs", "application/json", b"{\"resourceLogs\":7}".to_vec()).await), 400);
    assert_eq!(status(post("/v1/metrics", "application/json", b"not json".to_vec()).await), 400);
    assert_eq!(status(post("/v1/traces", "text/plain", b"hello".to_vec()).await), 415);
    assert_eq!(status(post("/v1/traces", "application/x-protobuf", vec![0; MAX_REQUEST_BYTES + 1]).await), 413);
    let bad_gzip = client
        .post(format!("{url}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(b"not gzip".to_vec())
        .send()
        .await;
    assert_eq!(status(bad_gzip), 400);
    // A gzip bomb: small on the wire, over the limit once inflated.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; MAX_REQUEST_BYTES + 10]).expect("gzip");
    let bomb = client
        .post(format!("{url}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(encoder.finish().expect("gzip"))
        .send()
        .await;
    assert_eq!(status(bomb), 413);
    assert_eq!(buffer.pending().0, [0, 0, 0], "nothing bad was queued");

    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok"}]}]}]}"#;
    assert_eq!(status(post("/v1/traces", "application/json; charset=utf-8", json.to_vec()).await), 200);
    let logs = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"}},{"body":{"stringValue":"b"}}]}]}]}"#;
    assert_eq!(status(post("/v1/logs", "application/json", logs.to_vec()).await), 200);
    assert_eq!(buffer.pending().0, [1, 0, 2], "one span and two records queued");
    let queued = buffer.take(Signal::Traces, usize::MAX).expect("the span");
    assert_eq!(Signal::Traces.count_protobuf(&queued.bytes).expect("protobuf"), 1, "JSON is stored as protobuf");
    assert!(!server.is_finished(), "the receiver is still serving");
    server.abort();
}

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFsaWNl";
const SESSION: &str = "s3ss10n-7f9c2a61d4e8";
const API_KEY: &str = "ak_live_51HxQ2eKz9";
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_ID: &str = "eee19b7ec3c1b174";

fn string(text: &str) -> AnyValue {
    AnyValue { value: Some(Value::StringValue(text.to_owned())) }
}

fn int(number: i64) -> AnyValue {
    AnyValue { value: Some(Value::IntValue(number)) }
}

fn list(values: Vec<AnyValue>) -> AnyValue {
    AnyValue { value: Some(Value::ArrayValue(ArrayValue { values })) }
}

fn kvlist(pairs: Vec<KeyValue>) -> AnyValue {
    AnyValue { value: Some(Value::KvlistValue(KeyValueList { values: pairs })) }
}

fn pair(key: &str, value: AnyValue) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(value), ..KeyValue::default() }
}

/// The logs a handler's OpenTelemetry SDK exports after logging its event's credentials (or,
/// with the marker for each, most of what may leave): the event as text, as a structure, and a
/// record with nothing secret.
fn logs_request(token: &str, session: &str, api_key: &str, password: &str) -> ExportLogsServiceRequest {
    let event_text = format!(
        r#"got {{"headers": {{"authorization": "Bearer {token}", "user-agent": "curl/8"}}}} and {token} again"#
    );
    let logged_event = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_001,
        observed_time_unix_nano: 1_700_000_000_000_000_002,
        severity_number: 9,
        severity_text: "INFO".to_owned(),
        body: Some(string(&event_text)),
        attributes: vec![
            pair("http.request.header.authorization", list(vec![string(&format!("Bearer {token}"))])),
            pair("password", string(password)),
            pair("note", string(&format!("forwarding {token} upstream"))),
            pair("http.route", string("/orders")),
            pair("code.lineno", int(42)),
        ],
        flags: 1,
        trace_id: hex::decode(TRACE_ID).expect("hex"),
        span_id: hex::decode(SPAN_ID).expect("hex"),
        ..LogRecord::default()
    };
    let structured = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_003,
        severity_number: 17,
        severity_text: "ERROR".to_owned(),
        body: Some(kvlist(vec![
            pair(
                "headers",
                kvlist(vec![
                    pair("cookie", string(&format!("theme=dark; session={session}"))),
                    pair("x-api-key", string(api_key)),
                    pair("accept", string("*/*")),
                ]),
            ),
            pair("message", string(&format!("key {api_key} used"))),
            pair("ids", list(vec![int(7), string(session)])),
        ])),
        attributes: vec![pair("exception.message", string(&format!("bad token Bearer {token}")))],
        trace_id: hex::decode(TRACE_ID).expect("hex"),
        span_id: hex::decode(SPAN_ID).expect("hex"),
        ..LogRecord::default()
    };
    let clean = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_004,
        severity_number: 9,
        body: Some(string("GET /orders took 12ms")),
        attributes: vec![pair("http.route", string("/orders"))],
        ..LogRecord::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![pair("service.name", string("orders"))],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "app.logger".to_owned(), ..InstrumentationScope::default() }),
                log_records: vec![logged_event, structured, clean],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

/// The same request written by hand per the OTLP/JSON mapping (hex ids, 64-bit integers as
/// strings).
fn logs_json() -> String {
    let event_text = serde_json::to_string(&format!(
        r#"got {{"headers": {{"authorization": "Bearer {TOKEN}", "user-agent": "curl/8"}}}} and {TOKEN} again"#
    ))
    .expect("json");
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"orders"}}}}]}},
        "scopeLogs":[{{"scope":{{"name":"app.logger"}},"logRecords":[
          {{"timeUnixNano":"1700000000000000001","observedTimeUnixNano":"1700000000000000002","severityNumber":9,
            "severityText":"INFO","body":{{"stringValue":{event_text}}},
            "attributes":[
              {{"key":"http.request.header.authorization","value":{{"arrayValue":{{"values":[{{"stringValue":"Bearer {TOKEN}"}}]}}}}}},
              {{"key":"password","value":{{"stringValue":"hunter2-hunter2"}}}},
              {{"key":"note","value":{{"stringValue":"forwarding {TOKEN} upstream"}}}},
              {{"key":"http.route","value":{{"stringValue":"/orders"}}}},
              {{"key":"code.lineno","value":{{"intValue":"42"}}}}],
            "flags":1,"traceId":"{TRACE_ID}","spanId":"{SPAN_ID}"}},
          {{"timeUnixNano":"1700000000000000003","severityNumber":17,"severityText":"ERROR",
            "body":{{"kvlistValue":{{"values":[
              {{"key":"headers","value":{{"kvlistValue":{{"values":[
                {{"key":"cookie","value":{{"stringValue":"theme=dark; session={SESSION}"}}}},
                {{"key":"x-api-key","value":{{"stringValue":"{API_KEY}"}}}},
                {{"key":"accept","value":{{"stringValue":"*/*"}}}}]}}}}}},
              {{"key":"message","value":{{"stringValue":"key {API_KEY} used"}}}},
              {{"key":"ids","value":{{"arrayValue":{{"values":[{{"intValue":"7"}},{{"stringValue":"{SESSION}"}}]}}}}}}]}}}},
            "attributes":[{{"key":"exception.message","value":{{"stringValue":"bad token Bearer {TOKEN}"}}}}],
            "traceId":"{TRACE_ID}","spanId":"{SPAN_ID}"}},
          {{"timeUnixNano":"1700000000000000004","severityNumber":9,"body":{{"stringValue":"GET /orders took 12ms"}},
            "attributes":[{{"key":"http.route","value":{{"stringValue":"/orders"}}}}]}}]}}]}}]}}"#
    )
}

#[tokio::test]
async fn credentials_in_sdk_log_records_are_scrubbed_before_export() {
    let secrets = Arc::new(LogSecrets::new(intercept::telemetry::Redactor::default()));
    let event = format!(
        r#"{{"version":"2.0","rawPath":"/orders","headers":{{"authorization":"Bearer {TOKEN}",
        "cookie":"theme=dark; session={SESSION}","x-api-key":"{API_KEY}","user-agent":"curl/8"}},
        "requestContext":{{"http":{{"method":"GET","path":"/orders","sourceIp":"1.2.3.4"}}}}}}"#
    );
    secrets.register("req-1", event.as_bytes());
    let buffer = Arc::new(Buffer::new(16 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/logs", listener.local_addr().expect("addr"));
    let server = tokio::spawn(
        axum::serve(listener, otlp_router(buffer.clone(), InFlight::default(), secrets.clone())).into_future(),
    );
    let client = reqwest::Client::new();
    let post = |content_type: &str, gzip: bool, body: Vec<u8>| {
        let request = client.post(&url).header("content-type", content_type);
        let request = if gzip { request.header("content-encoding", "gzip") } else { request };
        request.body(body).send()
    };

    // A request with nothing to scrub is queued as it came, a field this build does not know
    // included (field 99, varint 1).
    let clean = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord { body: Some(string("all is well")), ..LogRecord::default() }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let mut untouched = clean.encode_to_vec();
    untouched.extend_from_slice(&[0x98, 0x06, 0x01]);
    assert_eq!(post("application/x-protobuf", false, untouched.clone()).await.expect("answers").status(), 200);
    let queued = buffer.take(Signal::Logs, usize::MAX).expect("queued");
    assert_eq!(queued.bytes, untouched, "passed through byte for byte");

    let written = logs_request(TOKEN, SESSION, API_KEY, "hunter2-hunter2");
    let json = logs_json();
    assert_eq!(
        serde_json::from_str::<ExportLogsServiceRequest>(&json).expect("OTLP/JSON"),
        written,
        "the JSON is the same request"
    );
    let protobuf = written.encode_to_vec();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&protobuf).expect("gzip");
    let gzipped = gzip.finish().expect("gzip");
    for (content_type, gzipped, body) in [
        ("application/x-protobuf", false, protobuf),
        ("application/x-protobuf", true, gzipped),
        ("application/json", false, json.into_bytes()),
    ] {
        let answer = post(content_type, gzipped, body).await.expect("answers");
        assert_eq!(answer.status(), 200, "{content_type} gzip={gzipped}");
    }
    assert_eq!(buffer.pending().0, [0, 0, 9], "three records per request");

    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let config = ExtensionConfig::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".to_owned()),
        _ => None,
    })
    .expect("config");
    let exporter = Exporter::new(&config, buffer.clone()).expect("exporter");
    let report = exporter.flush(Instant::now() + Duration::from_secs(5), true).await;
    assert_eq!(report.sent, [0, 0, 9], "{report:?}");

    // What may leave: the credentials replaced, everything else as the function wrote it.
    let mut expected = logs_request(REDACTED, REDACTED, REDACTED, REDACTED);
    let records = &mut expected.resource_logs[0].scope_logs[0].log_records;
    records[0].body = Some(string(&format!(
        r#"got {{"headers": {{"authorization": "{REDACTED}", "user-agent": "curl/8"}}}} and {REDACTED} again"#
    )));
    records[0].attributes[0] = pair("http.request.header.authorization", list(vec![string(REDACTED)]));
    records[1].attributes[0] = pair("exception.message", string(&format!("bad token {REDACTED}")));
    let Some(Value::KvlistValue(body)) = records[1].body.as_mut().and_then(|b| b.value.as_mut()) else {
        unreachable!()
    };
    body.values[0] = pair(
        "headers",
        kvlist(vec![
            pair("cookie", string(REDACTED)),
            pair("x-api-key", string(REDACTED)),
            pair("accept", string("*/*")),
        ]),
    );
    let exported: Vec<(String, Vec<u8>)> = collector.with(|received| received.bodies.clone());
    let mut resource_logs = Vec::new();
    for (path, body) in &exported {
        assert_eq!(path, "/v1/logs");
        for secret in [TOKEN, SESSION, API_KEY, "hunter2-hunter2"] {
            assert!(!body.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in an export's bytes");
        }
        resource_logs.extend(ExportLogsServiceRequest::decode(&body[..]).expect("OTLP logs").resource_logs);
    }
    assert_eq!(resource_logs.len(), 3, "one per request received");
    for received in &resource_logs {
        assert_eq!(received, &expected.resource_logs[0]);
    }
    server.abort();
}
