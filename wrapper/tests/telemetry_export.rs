//! What `OtlpExporter` sends, decoded with the real `opentelemetry-proto` definitions by a
//! receiver on 127.0.0.1:0: span names, attributes, parents from each propagation source,
//! links for batch events, filter child spans, sampling, metrics and redaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use intercept::{Config, Interceptor, InvocationMeta, logging};
use lambda_runtime::Diagnostic;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use prost::Message as _;
use serde_json::value::RawValue;
use tracing_subscriber::layer::SubscriberExt as _;

const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live";
const SECRET: &str = "a-telemetry-test-secret";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
}

/// An OTLP/HTTP receiver decoding each request with the proto definitions.
struct Receiver {
    addr: std::net::SocketAddr,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    async fn start() -> Receiver {
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

    fn spans(&self) -> Vec<Span> {
        let received = self.received.lock().expect("lock");
        received
            .traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    fn take(&self) -> Received {
        std::mem::take(&mut *self.received.lock().expect("lock"))
    }
}

fn interceptor(receiver: &Receiver, pairs: &[(&str, &str)]) -> Interceptor {
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

fn token(subject: &str) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let claims = serde_json::json!({ "sub": subject, "exp": 4_000_000_000_u64 });
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("token")
}

fn http_event(headers: serde_json::Value, ip: &str) -> Box<RawValue> {
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "GET /orders/{id}", "rawPath": "/orders/42", "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "GET", "path": "/orders/42", "sourceIp": ip, "userAgent": "curl/8"},
                           "domainName": "api.example.com"},
    });
    serde_json::value::to_raw_value(&event).expect("json")
}

fn meta<'a>(request_id: &'a str, xray: Option<&'a str>) -> InvocationMeta<'a> {
    InvocationMeta { request_id, invoked_function_arn: ARN, xray_trace_id: xray, ..InvocationMeta::default() }
}

async fn ok_handler() -> Result<Box<RawValue>, Diagnostic> {
    Ok(RawValue::from_string(r#"{"statusCode":200,"body":"ok"}"#.to_owned()).expect("json"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attr(&span.attributes, key)? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()))
}

#[tokio::test]
async fn accepted_request_has_semconv_attributes_and_a_child_per_filter() {
    let receiver = Receiver::start().await;
    let interceptor = interceptor(
        &receiver,
        &[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", SECRET),
            ("INTERCEPT_RATE_LIMIT", "100/m key=source-ip, 50/m key=principal name=per-user"),
        ],
    );
    let headers = serde_json::json!({
        "authorization": format!("Bearer {}", token("alice")), "traceparent": TRACEPARENT,
        "tracestate": "rojo=00f067aa0ba902b7", "user-agent": "curl/8",
    });
    let event = http_event(headers.clone(), "203.0.113.7");
    let outcome = interceptor
        .handle(&event, meta("req-1", Some(XRAY)), |admitted| async move {
            assert_eq!(admitted.principal.expect("authenticated").subject, "alice");
            ok_handler().await
        })
        .await;
    assert!(outcome.rejection().is_none());
    interceptor.handle(&http_event(headers, "203.0.113.7"), meta("req-2", Some(XRAY)), |_| ok_handler()).await;
    interceptor.exporter().expect("telemetry on").flush().await;

    let received = receiver.take();
    let resource = received.traces[0].resource_spans[0].resource.as_ref().expect("resource");
    let resource_text = |key| attr(&resource.attributes, key).cloned();
    assert_eq!(resource_text("service.name"), Some(Value::StringValue("orders".to_owned())));
    assert_eq!(resource_text("deployment.environment"), Some(Value::StringValue("test".to_owned())));
    assert_eq!(resource_text("faas.max_memory"), Some(Value::IntValue(256 * 1024 * 1024)));
    assert_eq!(resource_text("cloud.platform"), Some(Value::StringValue("aws_lambda".to_owned())));

    let spans: Vec<Span> = received
        .traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    assert_eq!(spans.len(), 10, "two invocations of five spans: {spans:#?}");
    // Spans arrive per invocation, the server span first.
    let first = &spans[..5];
    let root = named(first, "GET /orders/{id}");
    assert_eq!(root.kind, span::SpanKind::Server as i32);
    assert_eq!(
        (hex(&root.trace_id).as_str(), hex(&root.parent_span_id).as_str()),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    );
    assert_eq!(root.trace_state, "rojo=00f067aa0ba902b7");
    assert_eq!(root.status.as_ref().map(|s| s.code).unwrap_or_default(), status::StatusCode::Unset as i32);
    for (key, value) in [
        ("faas.trigger", "http"),
        ("faas.invocation_id", "req-1"),
        ("faas.coldstart", "true"),
        ("faas.name", "orders"),
        ("faas.version", "7"),
        ("cloud.provider", "aws"),
        ("cloud.region", "eu-west-1"),
        ("cloud.resource_id", ARN),
        ("cloud.account.id", "123456789012"),
        ("http.request.method", "GET"),
        ("http.route", "/orders/{id}"),
        ("url.path", "/orders/42"),
        ("http.response.status_code", "200"),
        ("client.address", "203.0.113.7"),
        ("user_agent.original", "curl/8"),
        ("intercept.decision", "allowed"),
    ] {
        assert_eq!(text(root, key).as_deref(), Some(value), "{key} on {root:#?}");
    }
    let second_root =
        spans.iter().find(|s| text(s, "faas.invocation_id").as_deref() == Some("req-2")).expect("second root");
    assert_eq!(text(second_root, "faas.coldstart").as_deref(), Some("false"));

    for name in ["ratelimit source-ip", "authentication", "ratelimit per-user", "handler"] {
        let child = named(first, name);
        assert_eq!(child.parent_span_id, root.span_id, "{name} is the invocation's child");
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.kind, span::SpanKind::Internal as i32);
    }
    assert_eq!(text(named(first, "authentication"), "intercept.decision").as_deref(), Some("allowed"));
    let per_user = named(first, "ratelimit per-user");
    assert_eq!(text(per_user, "intercept.ratelimit.key").as_deref(), Some("principal"));
    assert_eq!(text(per_user, "intercept.ratelimit.limit").as_deref(), Some("50"));
}

#[tokio::test]
async fn parents_come_from_each_source_in_order() {
    let receiver = Receiver::start().await;
    let interceptor = interceptor(&receiver, &[]);
    let custom = HashMap::from([(
        "traceparent".to_owned(),
        "00-11111111111111111111111111111111-2222222222222222-01".to_owned(),
    )]);
    let cases: [(serde_json::Value, Option<&HashMap<String, String>>, Option<&str>, &str, &str); 5] = [
        (
            serde_json::json!({"traceparent": TRACEPARENT}),
            Some(&custom),
            Some(XRAY),
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        (serde_json::json!({}), Some(&custom), Some(XRAY), "11111111111111111111111111111111", "2222222222222222"),
        (
            serde_json::json!({"traceparent": "00-bad"}),
            None,
            Some(XRAY),
            "5759e988bd862e3fe1be46a994272793",
            "53995c3f42cd8ad8",
        ),
        (
            serde_json::json!({"x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272799;Parent=53995c3f42cd8ad9;Sampled=1"}),
            None,
            None,
            "5759e988bd862e3fe1be46a994272799",
            "53995c3f42cd8ad9",
        ),
        (serde_json::json!({}), None, None, "", ""),
    ];
    for (i, (headers, custom, xray, _, _)) in cases.iter().enumerate() {
        let request_id = format!("req-{i}");
        let meta = InvocationMeta { client_context: *custom, ..meta(&request_id, *xray) };
        interceptor.handle(&http_event(headers.clone(), "198.51.100.1"), meta, |_| ok_handler()).await;
    }
    interceptor.exporter().expect("on").flush().await;
    let spans = receiver.spans();
    for (i, (_, _, _, trace, parent)) in cases.iter().enumerate() {
        let root = spans.iter().find(|s| text(s, "faas.invocation_id") == Some(format!("req-{i}"))).expect("root");
        if trace.is_empty() {
            assert_eq!((root.parent_span_id.len(), root.trace_id.len()), (0, 16), "a new trace without a caller");
            assert_ne!(root.trace_id, vec![0; 16]);
        } else {
            assert_eq!(
                (hex(&root.trace_id).as_str(), hex(&root.parent_span_id).as_str()),
                (*trace, *parent),
                "case {i}"
            );
            assert_eq!(root.flags & 0x300, 0x300, "remote parent flags on case {i}");
        }
    }
}

#[tokio::test]
async fn rejections_mark_the_span_and_are_kept_when_sampling_drops_the_rest() {
    let receiver = Receiver::start().await;
    let interceptor = interceptor(
        &receiver,
        &[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", SECRET),
            ("INTERCEPT_RATE_LIMIT", "1/m"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ],
    );
    let valid = serde_json::json!({"authorization": format!("Bearer {}", token("bob"))});
    let handled = interceptor.handle(&http_event(valid.clone(), "192.0.2.9"), meta("ok", None), |_| ok_handler()).await;
    assert!(handled.rejection().is_none());
    let limited = interceptor.handle(&http_event(valid, "192.0.2.9"), meta("limited", None), |_| ok_handler()).await;
    assert_eq!(limited.rejection().map(|r| r.status()), Some(429));
    let anonymous = http_event(serde_json::json!({}), "192.0.2.10");
    let unauthorized =
        interceptor.handle(&anonymous, meta("anon", None), |_| async { panic!("the handler must not run") }).await;
    assert_eq!(unauthorized.rejection().map(|r| r.reason()), Some("missing_token"));
    // A non-HTTP event: the rejection is an invocation error, and an error on the span.
    let direct = RawValue::from_string(r#"{"order":42}"#.to_owned()).expect("json");
    let error = interceptor.handle(&direct, meta("direct", None), |_| ok_handler()).await.into_result();
    assert_eq!(error.expect_err("an invocation error").error_type, "Intercept.Unauthorized");
    interceptor.exporter().expect("on").flush().await;

    let spans = receiver.spans();
    let roots: Vec<&Span> = spans.iter().filter(|s| s.parent_span_id.is_empty()).collect();
    let ids: Vec<String> = roots.iter().filter_map(|s| text(s, "faas.invocation_id")).collect();
    assert_eq!(ids.len(), 3, "always_off drops the accepted request only: {ids:?}");
    assert!(!ids.contains(&"ok".to_owned()), "{ids:?}");
    let by_id = |id: &str| *roots.iter().find(|s| text(s, "faas.invocation_id").as_deref() == Some(id)).expect(id);

    let limited = by_id("limited");
    assert_eq!(text(limited, "intercept.reason").as_deref(), Some("rate_limited"));
    assert_eq!(text(limited, "http.response.status_code").as_deref(), Some("429"));
    assert!(
        limited.status.as_ref().is_none_or(|s| s.code == status::StatusCode::Unset as i32),
        "4xx leaves a server span unset"
    );
    let rule = spans
        .iter()
        .find(|s| s.parent_span_id == limited.span_id && s.name == "ratelimit source-ip")
        .expect("rule span");
    assert_eq!(text(rule, "intercept.decision").as_deref(), Some("rejected"));
    assert!(text(rule, "intercept.ratelimit.retry_after_ms").is_some());
    assert!(!spans.iter().any(|s| s.parent_span_id == limited.span_id && s.name == "authentication"), "auth never ran");

    let anon = by_id("anon");
    assert_eq!(text(anon, "intercept.decision").as_deref(), Some("rejected"));
    let auth =
        spans.iter().find(|s| s.parent_span_id == anon.span_id && s.name == "authentication").expect("auth span");
    assert_eq!(text(auth, "intercept.reason").as_deref(), Some("missing_token"));
    assert!(!spans.iter().any(|s| s.parent_span_id == anon.span_id && s.name == "handler"));

    let direct = by_id("direct");
    assert_eq!(text(direct, "faas.trigger").as_deref(), Some("other"));
    let status = direct.status.as_ref().expect("error status");
    assert_eq!((status.code, status.message.as_str()), (status::StatusCode::Error as i32, "Intercept.Unauthorized"));
}

#[tokio::test]
async fn parent_based_sampling_follows_the_caller_and_ratio_by_trace_id() {
    let receiver = Receiver::start().await;
    let interceptor = interceptor(
        &receiver,
        &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0")],
    );
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    for (id, traceparent) in [("kept", Some(TRACEPARENT)), ("caller-dropped", Some(unsampled)), ("root-ratio-0", None)]
    {
        let headers = traceparent.map_or_else(|| serde_json::json!({}), |t| serde_json::json!({"traceparent": t}));
        interceptor.handle(&http_event(headers, "192.0.2.1"), meta(id, None), |_| ok_handler()).await;
    }
    interceptor.exporter().expect("on").flush().await;
    let spans = receiver.spans();
    let ids: Vec<String> = spans.iter().filter_map(|s| text(s, "faas.invocation_id")).collect();
    assert_eq!(ids, ["kept"]);
    assert!(spans.iter().all(|s| s.flags & 1 == 1), "exported spans carry the sampled flag");
}

#[tokio::test]
async fn batch_records_become_links() {
    let receiver = Receiver::start().await;
    let interceptor = interceptor(&receiver, &[]);
    let event = RawValue::from_string(
        r#"{"Records":[
        {"messageId":"m1","eventSource":"aws:sqs","body":"a","messageAttributes":{},
         "attributes":{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}},
        {"messageId":"m2","eventSource":"aws:sqs","body":"b","attributes":{},
         "messageAttributes":{"traceparent":{"stringValue":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","dataType":"String"}}}
        ]}"#
            .to_owned(),
    )
    .expect("json");
    let lambda = "Root=1-6759e988-bd862e3fe1be46a994272793;Parent=63995c3f42cd8ad8;Sampled=1";
    interceptor.handle(&event, meta("batch", Some(lambda)), |_| ok_handler()).await;
    interceptor.exporter().expect("on").flush().await;
    let spans = receiver.spans();
    let root =
        spans.iter().find(|s| s.parent_span_id.len() == 8 && text(s, "faas.invocation_id").is_some()).expect("root");
    assert_eq!(hex(&root.trace_id), "6759e988bd862e3fe1be46a994272793", "the parent is Lambda's trace, not a record's");
    assert_eq!(root.name, "orders");
    assert_eq!(text(root, "faas.trigger").as_deref(), Some("pubsub"));
    assert_eq!(text(root, "messaging.system").as_deref(), Some("aws_sqs"));
    assert_eq!(text(root, "messaging.batch.message_count").as_deref(), Some("2"));
    let links: Vec<(String, String, Option<String>)> = root
        .links
        .iter()
        .map(|l| {
            let id = match attr(&l.attributes, "messaging.message.id") {
                Some(Value::StringValue(id)) => Some(id.clone()),
                _ => None,
            };
            (hex(&l.trace_id), hex(&l.span_id), id)
        })
        .collect();
    assert_eq!(
        links,
        [
            ("5759e988bd862e3fe1be46a994272793".to_owned(), "53995c3f42cd8ad8".to_owned(), Some("m1".to_owned())),
            ("0af7651916cd43dd8448eb211c80319c".to_owned(), "b7ad6b7169203331".to_owned(), Some("m2".to_owned())),
        ]
    );
}

fn sum_points(metric: &Metric) -> Vec<(Vec<(String, String)>, i64)> {
    let Some(metric::Data::Sum(sum)) = &metric.data else { panic!("not a sum: {metric:?}") };
    sum.data_points
        .iter()
        .map(|p| {
            let attributes = p
                .attributes
                .iter()
                .map(|kv| (kv.key.clone(), format!("{:?}", kv.value.as_ref().and_then(|v| v.value.clone()))))
                .collect();
            let Some(number_data_point::Value::AsInt(value)) = p.value else { panic!("{p:?}") };
            (attributes, value)
        })
        .collect()
}

#[tokio::test]
async fn metrics_are_sent_in_the_same_flush_with_low_cardinality_attributes() {
    let receiver = Receiver::start().await;
    let interceptor = interceptor(&receiver, &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", SECRET)]);
    let valid = serde_json::json!({"authorization": format!("Bearer {}", token("carol"))});
    interceptor.handle(&http_event(valid.clone(), "192.0.2.1"), meta("a", None), |_| ok_handler()).await;
    interceptor
        .handle(&http_event(valid, "192.0.2.2"), meta("b", None), |_| async {
            Err(Diagnostic { error_type: "Orders.Failed".to_owned(), error_message: "no stock".to_owned() })
        })
        .await;
    interceptor.handle(&http_event(serde_json::json!({}), "192.0.2.3"), meta("c", None), |_| ok_handler()).await;
    interceptor.exporter().expect("on").flush().await;

    let received = receiver.take();
    assert_eq!(received.metrics.len(), 1, "one metrics export per flush");
    let metrics: Vec<Metric> = received.metrics[0]
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| s.metrics.clone())
        .collect();
    let by_name = |name: &str| metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no metric {name}"));
    let total: i64 = sum_points(by_name("faas.invocations")).iter().map(|(_, v)| v).sum();
    assert_eq!(total, 3);
    assert_eq!(sum_points(by_name("faas.coldstarts")).iter().map(|(_, v)| v).sum::<i64>(), 1);
    assert_eq!(sum_points(by_name("faas.errors")).iter().map(|(_, v)| v).sum::<i64>(), 1);
    let rejections = sum_points(by_name("intercept.rejections"));
    assert_eq!(rejections.len(), 1);
    assert!(
        rejections[0].0.iter().any(|(k, v)| k == "intercept.reason" && v.contains("missing_token")),
        "{rejections:?}"
    );
    let Some(metric::Data::Histogram(durations)) = &by_name("faas.invoke_duration").data else { panic!("histogram") };
    assert_eq!(durations.data_points.iter().map(|p| p.count).sum::<u64>(), 3);
    // Only these attribute keys, ever: the route template, never the path or the caller.
    for metric in &metrics {
        let points: Vec<Vec<KeyValue>> = match &metric.data {
            Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
            Some(metric::Data::Histogram(h)) => h.data_points.iter().map(|p| p.attributes.clone()).collect(),
            other => panic!("{other:?}"),
        };
        for attributes in points {
            for kv in attributes {
                assert!(
                    ["faas.trigger", "http.route", "intercept.outcome", "intercept.reason", "signal"]
                        .contains(&kv.key.as_str()),
                    "{} on {}",
                    kv.key,
                    metric.name
                );
                assert_ne!(
                    format!("{:?}", kv.value),
                    format!("{:?}", Some(Value::StringValue("/orders/42".to_owned())))
                );
            }
        }
    }
}

/// Log lines captured in memory.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Logs {
    type Writer = Logs;
    fn make_writer(&'w self) -> Logs {
        self.clone()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_never_reach_spans_metrics_or_logs() {
    let logs = Logs::default();
    let config = logging::LogConfig::from_lookup(|name| match name {
        "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".to_owned()),
        "AWS_LAMBDA_LOG_LEVEL" => Some("DEBUG".to_owned()),
        "INTERCEPT_REDACT" => Some("x-tenant-pin".to_owned()),
        _ => None,
    });
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(logging::layer(&config, logs.clone())));

    let receiver = Receiver::start().await;
    let interceptor = interceptor(
        &receiver,
        &[
            ("INTERCEPT_AUTH", "jwt,api-key"),
            ("INTERCEPT_JWT_SECRET", SECRET),
            ("INTERCEPT_API_KEYS", "ci=sk-live-0123456789abcdef"),
            ("INTERCEPT_API_KEY_HEADER", "x-partner-key"),
            ("INTERCEPT_REDACT", "x-tenant-pin"),
        ],
    );
    let jwt = token("dave");
    let secrets = [jwt.as_str(), "sk-live-0123456789abcdef", "sessionvalue-998877", "pin-4455667788"];
    let jwt_event = http_event(
        serde_json::json!({"authorization": format!("Bearer {jwt}"), "cookie": "theme=dark; sid=sessionvalue-998877",
                           "x-tenant-pin": "pin-4455667788", "user-agent": "curl/8", "traceparent": TRACEPARENT}),
        "192.0.2.50",
    );
    let key_event = http_event(serde_json::json!({"x-partner-key": "sk-live-0123456789abcdef"}), "192.0.2.51");
    let bad_key_event =
        http_event(serde_json::json!({"x-partner-key": "sk-live-0123456789abcdef-wrong"}), "192.0.2.52");
    for (i, event) in [jwt_event, key_event, bad_key_event].iter().enumerate() {
        let raw = event.get().to_owned();
        let request_id = format!("secret-{i}");
        interceptor
            .handle(event, meta(&request_id, Some(XRAY)), |_| async move {
                // A careless handler: the whole event, and its credentials by name.
                tracing::info!(event = %raw, "got event");
                let value: serde_json::Value = serde_json::from_str(&raw).expect("json");
                tracing::warn!(authorization = %value["headers"]["authorization"], cookie = %value["headers"]["cookie"], "headers");
                ok_handler().await
            })
            .await;
    }
    interceptor.exporter().expect("on").flush().await;
    drop(_guard);

    let received = receiver.take();
    let exported = format!("{:?}{:?}", received.traces, received.metrics);
    let logged = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8");
    assert!(exported.contains("faas.invocation_id") && exported.contains("faas.invocations"), "exports arrived");
    assert!(logged.contains("got event") && logged.contains("[REDACTED]"), "{logged}");
    for secret in secrets {
        assert!(!exported.contains(secret), "{secret} leaked into exported telemetry");
        assert!(!logged.contains(secret), "{secret} leaked into the logs:\n{logged}");
    }

    // Every handler line names its request, trace and span, and the span is the handler's.
    let spans: Vec<Span> = received
        .traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    let handler = spans
        .iter()
        .find(|s| s.name == "handler" && hex(&s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736")
        .expect("handler span");
    let line = logged
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON log line"))
        .find(|l| l["message"] == "got event" && l["requestId"] == "secret-0")
        .expect("the handler's line");
    assert_eq!(line["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["spanId"], hex(&handler.span_id));
}

#[tokio::test]
async fn a_dead_receiver_never_fails_the_flush_and_drops_are_counted() {
    // A port nothing listens on: bind one, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let config = Config::from_lookup(|name| (name == "INTERCEPT_OTLP_LISTEN").then(|| listen.clone())).expect("valid");
    let interceptor = Interceptor::new(&config).expect("builds");
    interceptor.handle(&http_event(serde_json::json!({}), "192.0.2.1"), meta("lost", None), |_| ok_handler()).await;
    let exporter = interceptor.exporter().expect("on");
    exporter.flush().await;
    assert_eq!(exporter.dropped(), 2, "the invocation's two spans (server and handler) are counted as dropped");
}
