//! Under the emulator (frozen between invocations): the function's spans, the platform's
//! spans and metrics, and the function's log lines reach a real OTLP receiver exactly once,
//! in every flush mode and when the function times out, crashes or runs out of memory.

mod support;

use std::time::Duration;

use intercept_sam::sandbox::ShutdownReason;
use opentelemetry_proto::tonic::common::v1::any_value;
use serde_json::json;
use support::{Collector, Fixture, invoke, response, str_attr};

#[tokio::test(flavor = "multi_thread")]
async fn end_mode_delivers_each_invocation_before_next_exactly_once() {
    let collector = Collector::start().await;
    let fixture = Fixture::new("end", &collector.endpoint(), "end");
    let mut env = fixture.start().await;
    let mut request_ids = Vec::new();
    for n in 0..3 {
        let tag = format!("end-{n}");
        let invoked = invoke(&mut env, json!({"tag": tag, "spans": 5})).await;
        assert_eq!(response(&invoked)["accepted"], 5);
        // `end`: flushed before the extension called next, so before invoke returned.
        collector.assert_exactly_once(&tag, 5);
        request_ids.push(invoked.report.request_id.clone());
    }
    env.shutdown(ShutdownReason::Spindown).await;
    for n in 0..3 {
        collector.assert_exactly_once(&format!("end-{n}"), 5);
    }
    collector.with(|r| {
        for id in &request_ids {
            let invokes = r
                .spans
                .iter()
                .filter(|s| s.name == "invoke" && str_attr(&s.attributes, "faas.invocation_id") == Some(id))
                .count();
            assert_eq!(invokes, 1, "one platform invoke span for {id}");
            assert!(
                r.metrics.iter().any(|m| m.name == "aws.lambda.duration"
                    && matches!(&m.data, Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g))
                        if str_attr(&g.data_points[0].attributes, "faas.invocation_id") == Some(id))),
                "a duration metric for {id}"
            );
            let log = r
                .logs
                .iter()
                .find(|l| str_attr(&l.attributes, "faas.invocation_id") == Some(id))
                .unwrap_or_else(|| panic!("a log record for {id}: {:?}", r.logs));
            assert_eq!(log.trace_id.len(), 16, "the line's trace_id became the record's: {log:?}");
            assert_eq!(log.span_id, 1u64.to_be_bytes().to_vec());
            assert!(matches!(&log.body, Some(b) if matches!(&b.value, Some(any_value::Value::StringValue(s)) if s.starts_with("fixture log"))));
        }
        assert!(r.spans.iter().any(|s| s.name == "init"), "the init span");
        assert!(r.metrics.iter().any(|m| m.name == "aws.lambda.init_duration"));
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn adaptive_and_periodic_deliver_everything_exactly_once_under_traffic() {
    for flush in ["adaptive", "periodic,50"] {
        let collector = Collector::start().await;
        let fixture = Fixture::new(&format!("traffic-{}", &flush[..4]), &collector.endpoint(), flush);
        let mut env = fixture.start().await;
        for n in 0..25 {
            let invoked = invoke(&mut env, json!({"tag": format!("{flush}-{n}"), "spans": 4})).await;
            assert_eq!(response(&invoked)["accepted"], 4);
            // Frozen between invocations, as under steady traffic; the background flusher's
            // timer falls due during the freeze and fires once thawed.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        env.shutdown(ShutdownReason::Spindown).await;
        for n in 0..25 {
            collector.assert_exactly_once(&format!("{flush}-{n}"), 4);
        }
        let log = fixture.extension_log();
        assert!(
            log.iter().any(|l| l.contains("kind=\"background\"") || l.contains("kind=background")),
            "{flush}: background flushes under traffic: {log:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_crash_and_oom_keep_the_telemetry_sent_before() {
    let collector = Collector::start().await;
    for (name, event, reason) in [
        ("timeout", json!({"tag": "timeout", "spans": 6, "action": "sleep", "ms": 5_000}), ShutdownReason::Timeout),
        ("crash", json!({"tag": "crash", "spans": 6, "action": "exit"}), ShutdownReason::Failure),
        ("oom", json!({"tag": "oom", "spans": 6, "action": "oom"}), ShutdownReason::Failure),
    ] {
        let mut fixture = Fixture::new(name, &collector.endpoint(), "adaptive");
        fixture.spec.timeout = Duration::from_secs(1);
        let mut env = fixture.start().await;
        let invoked = invoke(&mut env, event).await;
        assert!(matches!(invoked.outcome, intercept_sam::sandbox::Outcome::Error(_)), "{name}: {:?}", invoked.outcome);
        assert!(!env.is_reusable());
        env.shutdown(reason).await;
        collector.assert_exactly_once(name, 6);
        let id = invoked.report.request_id.clone();
        collector.with(|r| {
            let invoke_span = r
                .spans
                .iter()
                .find(|s| s.name == "invoke" && str_attr(&s.attributes, "faas.invocation_id") == Some(&id));
            let invoke_span = invoke_span.unwrap_or_else(|| panic!("{name}: platform invoke span"));
            assert_eq!(invoke_span.status.as_ref().map(|s| s.code), Some(2), "{name}: an error status");
        });
    }
    collector.with(|r| {
        assert!(r.metrics.iter().any(|m| m.name == "aws.lambda.timeouts"), "a timeout counted");
        assert!(r.metrics.iter().filter(|m| m.name == "aws.lambda.errors").count() >= 2, "crash and oom counted");
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_in_the_middle_of_a_burst_loses_nothing_acknowledged() {
    let collector = Collector::start().await;
    let fixture = Fixture::new("burst", &collector.endpoint(), "adaptive");
    let acked = fixture.scratch.path().join("acked");
    let mut env = fixture.start().await;
    let invoked = invoke(
        &mut env,
        json!({"tag": "burst", "spans": 10, "batches": 5, "action": "burst", "acked": acked.display().to_string()}),
    )
    .await;
    assert_eq!(response(&invoked)["accepted"], 50);
    // Thawed for shutdown, the runtime goes on exporting until SIGTERM ends it mid-burst.
    env.shutdown(ShutdownReason::Spindown).await;
    let background: Vec<i64> =
        std::fs::read_to_string(&acked).unwrap_or_default().lines().filter_map(|l| l.parse().ok()).collect();
    let received = collector.fixture_spans("burst");
    for first in (0..50).step_by(10).chain(background.iter().copied()) {
        for index in first..first + 10 {
            assert_eq!(
                received.get(&index),
                Some(&1),
                "acknowledged span {index} delivered once ({} background batches)",
                background.len()
            );
        }
    }
    assert!(received.values().all(|n| *n == 1), "no duplicates");
    let log = fixture.extension_log();
    let last = log.last().cloned().unwrap_or_default();
    assert!(last.contains("shutdown: unsent spans=0"), "{log:#?}");
}
