//! Redaction across everything exported and logged: a request carrying secrets (a JWT, an API
//! key, a session cookie, a configured field), a handler that logs its whole event, and a scan
//! of the decoded spans, metrics and captured log lines. Its own test binary, so no other test
//! shares the process's tracing callsite state with the scoped log subscriber.

mod telemetry_support;

use std::sync::{Arc, Mutex};

use intercept::telemetry::logging;
use opentelemetry_proto::tonic::trace::v1::Span;
use telemetry_support::*;
use tracing_subscriber::layer::SubscriberExt as _;

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
        .find(|s| s.name == "handler" && hex::encode(&s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736")
        .expect("handler span");
    let line = logged
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON log line"))
        .find(|l| l["message"] == "got event" && l["requestId"] == "secret-0")
        .unwrap_or_else(|| panic!("the handler's line in:\n{logged}"));
    assert_eq!(line["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["spanId"], hex::encode(&handler.span_id));
}
