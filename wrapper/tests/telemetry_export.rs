//! What `OtlpExporter` sends, decoded with the real `opentelemetry-proto` definitions by a
//! receiver on 127.0.0.1:0: span names, attributes, parents from each propagation source,
//! links for batch events, filter child spans, sampling and metrics.

mod telemetry_support;

use std::collections::HashMap;

use intercept::{Config, Interceptor, InvocationMeta};
use lambda_runtime::Diagnostic;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use serde_json::value::RawValue;
use telemetry_support::*;

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
        (hex::encode(&root.trace_id).as_str(), hex::encode(&root.parent_span_id).as_str()),
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
    // (headers, client context, Lambda's trace, expected trace id, expected parent id)
    type Case<'a> = (serde_json::Value, Option<&'a HashMap<String, String>>, Option<&'a str>, &'a str, &'a str);
    let cases: [Case<'_>; 5] = [
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
                (hex::encode(&root.trace_id).as_str(), hex::encode(&root.parent_span_id).as_str()),
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
    assert_eq!(
        hex::encode(&root.trace_id),
        "6759e988bd862e3fe1be46a994272793",
        "the parent is Lambda's trace, not a record's"
    );
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
            (hex::encode(&l.trace_id), hex::encode(&l.span_id), id)
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
    // Only these attribute keys, ever: the route template and the deciding policy's digest (one
    // value per policy version), never the path or the caller.
    let mut digests = std::collections::BTreeSet::new();
    for metric in &metrics {
        let points: Vec<Vec<KeyValue>> = match &metric.data {
            Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| p.attributes.clone()).collect(),
            Some(metric::Data::Histogram(h)) => h.data_points.iter().map(|p| p.attributes.clone()).collect(),
            other => panic!("{other:?}"),
        };
        for attributes in points {
            for kv in attributes {
                assert!(
                    [
                        "faas.trigger",
                        "http.route",
                        "intercept.outcome",
                        "intercept.policy.digest",
                        "intercept.reason",
                        "signal"
                    ]
                    .contains(&kv.key.as_str()),
                    "{} on {}",
                    kv.key,
                    metric.name
                );
                assert_ne!(
                    format!("{:?}", kv.value),
                    format!("{:?}", Some(Value::StringValue("/orders/42".to_owned())))
                );
                if kv.key == "intercept.policy.digest" {
                    digests.insert(format!("{:?}", kv.value));
                }
            }
        }
    }
    // Every point names the one policy that decided this run's invocations.
    assert_eq!(digests.len(), 1, "{digests:?}");
}

#[tokio::test]
async fn a_dead_receiver_never_fails_the_flush_and_drops_are_counted() {
    // A receiver that closes every connection unanswered. The port stays bound for the whole
    // test: a port closed after learning it could be taken by another test's server meanwhile,
    // which would then receive the spans.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    std::thread::spawn(move || dead.incoming().for_each(drop));
    let listen = format!("127.0.0.1:{port}");
    let config = Config::from_lookup(|name| (name == "INTERCEPT_OTLP_LISTEN").then(|| listen.clone())).expect("valid");
    let interceptor = Interceptor::new(&config).expect("builds");
    interceptor.handle(&http_event(serde_json::json!({}), "192.0.2.1"), meta("lost", None), |_| ok_handler()).await;
    let exporter = interceptor.exporter().expect("on");
    exporter.flush().await;
    assert_eq!(exporter.dropped(), 2, "the invocation's two spans (server and handler) are counted as dropped");
}

#[tokio::test]
async fn a_panicking_handler_still_leaves_its_spans_and_the_handler_gets_its_span_to_continue() {
    let receiver = Receiver::start().await;
    let interceptor = std::sync::Arc::new(interceptor(&receiver, &[]));
    let given = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = given.clone();
    interceptor
        .handle(&http_event(serde_json::json!({}), "192.0.2.1"), meta("traced", None), |admitted| async move {
            *seen.lock().expect("lock") = admitted.trace;
            ok_handler().await
        })
        .await;
    let shared = interceptor.clone();
    let panicked = tokio::spawn(async move {
        let event = http_event(serde_json::json!({}), "192.0.2.2");
        shared.handle(&event, meta("panics", None), |_| async { panic!("the handler broke") }).await;
    })
    .await;
    assert!(panicked.is_err_and(|error| error.is_panic()), "the panic goes on to lambda_runtime");
    interceptor.exporter().expect("telemetry on").flush().await;
    let spans = receiver.spans();

    // The handler span is what the handler (or the runtime behind the proxy) continues.
    let trace = given.lock().expect("lock").expect("admitted invocations get their handler span");
    let handler = spans.iter().find(|s| s.name == "handler" && s.span_id == trace.span_id).expect("that span");
    assert_eq!(handler.trace_id, trace.trace_id);
    assert_eq!(trace.traceparent(), format!("00-{}-{}-01", hex::encode(trace.trace_id), hex::encode(trace.span_id)));
    let trace_hex = hex::encode(trace.trace_id);
    let (epoch, unique) = trace_hex.split_at(8);
    assert_eq!(trace.xray_header(), format!("Root=1-{epoch}-{unique};Parent={};Sampled=1", hex::encode(trace.span_id)));

    // The panicking invocation's server and handler spans were recorded before the unwind went on.
    let failed: Vec<&Span> =
        spans.iter().filter(|s| s.status.as_ref().is_some_and(|st| st.message == "Runtime.Panic")).collect();
    let names: Vec<&str> = failed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 2, "server and handler spans of the panicking invocation: {spans:#?}");
    assert!(names.contains(&"handler"), "{names:?}");
}

#[tokio::test]
async fn a_timeout_sends_its_span_before_the_deadline_and_the_late_answer_records_nothing_twice() {
    let receiver = Receiver::start().await;
    let interceptor = std::sync::Arc::new(interceptor(&receiver, &[]));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64;
    let deadline_ms = now_ms + 400;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let running = {
        let (interceptor, release) = (interceptor.clone(), release.clone());
        tokio::spawn(async move {
            let event = http_event(serde_json::json!({}), "192.0.2.9");
            let meta = InvocationMeta { deadline_ms, ..meta("slow", None) };
            let outcome = interceptor
                .handle(&event, meta, |_| async move {
                    release.notified().await;
                    ok_handler().await
                })
                .await;
            outcome.into_result().map(|answer| answer.get().to_owned())
        })
    };
    // Nobody calls flush: the timeout path sends on its own, before the deadline.
    let mut spans = Vec::new();
    for _ in 0..500 {
        spans = receiver.spans();
        if !spans.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let root = named(&spans, "GET /orders/{id}");
    assert_eq!(text(root, "error.type").as_deref(), Some("timeout"));
    assert_eq!(text(root, "faas.timeout").as_deref(), Some("true"));
    assert_eq!(root.status.as_ref().map(|s| s.code), Some(status::StatusCode::Error as i32));
    assert!(root.end_time_unix_nano < deadline_ms * 1_000_000, "closed before the deadline");
    assert!(root.end_time_unix_nano >= (deadline_ms - 200) * 1_000_000, "not long before it either");
    let handler = named(&spans, "handler");
    assert_eq!(handler.parent_span_id, root.span_id);
    assert_eq!(text(handler, "error.type").as_deref(), Some("timeout"));
    let errors = receiver
        .take()
        .metrics
        .iter()
        .flat_map(|m| &m.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| s.metrics.clone())
        .filter(|m| m.name == "faas.errors")
        .flat_map(|m| sum_points(&m))
        .map(|(_, value)| value)
        .max();
    assert_eq!(errors, Some(1), "the timeout counts as an error");

    // The handler answers after all: the answer goes on, and nothing is recorded twice.
    release.notify_one();
    let answer = running.await.expect("no panic").expect("an answer");
    assert!(answer.contains("200"), "{answer}");
    interceptor.exporter().expect("telemetry on").flush().await;
    assert!(
        receiver.spans().iter().all(|s| s.name != "GET /orders/{id}"),
        "the server span was sent once, at the timeout"
    );
}
