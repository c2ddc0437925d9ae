//! Shared helpers for the telemetry tests: an OTLP/HTTP receiver on 127.0.0.1:0 decoding with
//! the real opentelemetry-proto definitions, settings from a map, events and attribute readers.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use intercept::{Config, Interceptor, InvocationMeta};
use lambda_runtime::Diagnostic;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::value::RawValue;

pub const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live";
pub const SECRET: &str = "a-telemetry-test-secret";
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
pub const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

#[derive(Default)]
pub struct Received {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
}

/// An OTLP/HTTP receiver decoding each request with the proto definitions.
pub struct Receiver {
    pub addr: std::net::SocketAddr,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route(
                "/v1/traces",
                post(|State(r): State<Arc<Mutex<Received>>>, body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                    r.lock().expect("lock").traces.push(request);
                }),
            )
            .route(
                "/v1/metrics",
                post(|State(r): State<Arc<Mutex<Received>>>, body: Bytes| async move {
                    let request = ExportMetricsServiceRequest::decode(body).expect("an OTLP metrics export");
                    r.lock().expect("lock").metrics.push(request);
                }),
            )
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, received }
    }

    pub fn spans(&self) -> Vec<Span> {
        let received = self.received.lock().expect("lock");
        received
            .traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    pub fn take(&self) -> Received {
        std::mem::take(&mut *self.received.lock().expect("lock"))
    }
}

pub fn interceptor(receiver: &Receiver, pairs: &[(&str, &str)]) -> Interceptor {
    let listen = receiver.addr.to_string();
    let mut map: HashMap<&str, &str> = HashMap::from([
        ("INTERCEPT_OTLP_LISTEN", listen.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_REGION", "eu-west-1"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
    ]);
    map.extend(pairs.iter().copied());
    let config = Config::from_lookup(|name| map.get(name).map(|v| (*v).to_owned())).expect("valid config");
    Interceptor::new(&config).expect("builds")
}

pub fn token(subject: &str) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let claims = serde_json::json!({ "sub": subject, "exp": 4_000_000_000_u64 });
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("token")
}

pub fn http_event(headers: serde_json::Value, ip: &str) -> Box<RawValue> {
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "GET /orders/{id}", "rawPath": "/orders/42", "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "GET", "path": "/orders/42", "sourceIp": ip, "userAgent": "curl/8"},
                           "domainName": "api.example.com"},
    });
    serde_json::value::to_raw_value(&event).expect("json")
}

pub fn meta<'a>(request_id: &'a str, xray: Option<&'a str>) -> InvocationMeta<'a> {
    InvocationMeta { request_id, invoked_function_arn: ARN, xray_trace_id: xray, ..InvocationMeta::default() }
}

pub async fn ok_handler() -> Result<Box<RawValue>, Diagnostic> {
    Ok(RawValue::from_string(r#"{"statusCode":200,"body":"ok"}"#.to_owned()).expect("json"))
}

pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

pub fn text(span: &Span, key: &str) -> Option<String> {
    match attr(&span.attributes, key)? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

pub fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()))
}
