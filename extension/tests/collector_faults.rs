//! Under the emulator: a collector that is down, slow, or answering 429/500 and then comes
//! back gets everything, once; a full buffer drops the oldest and reports how much.

mod support;

use intercept_sam::sandbox::ShutdownReason;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Point;
use serde_json::json;
use support::{Collector, Fixture, free_port, invoke, response, str_attr};

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_down_then_back_gets_everything_once() {
    let port = free_port();
    let fixture = Fixture::new("down", &format!("http://127.0.0.1:{port}"), "end");
    let mut env = fixture.start().await;
    let first = invoke(&mut env, json!({"tag": "while-down", "spans": 5})).await;
    assert_eq!(response(&first)["accepted"], 5, "the function is not held by a dead collector");
    assert!(env.is_reusable(), "no timeout");
    let collector = Collector::start_on(port).await;
    let _ = invoke(&mut env, json!({"tag": "back", "spans": 5})).await;
    collector.assert_exactly_once("while-down", 5);
    collector.assert_exactly_once("back", 5);
    env.shutdown(ShutdownReason::Spindown).await;
    let log = fixture.extension_log();
    assert!(log.iter().any(|l| l.contains("flush incomplete")), "the failed flush is logged: {log:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_429_500_and_slowness_delay_but_never_lose_or_duplicate() {
    let collector = Collector::start().await;
    let mut fixture = Fixture::new("faults", &collector.endpoint(), "end");
    fixture.set("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
    let mut env = fixture.start().await;
    collector.answer(500, None);
    let _ = invoke(&mut env, json!({"tag": "during-500", "spans": 3})).await;
    assert!(collector.fixture_spans("during-500").is_empty());
    assert!(collector.with(|r| r.requests) >= 2, "a 500 is retried within the flush");
    collector.answer(429, Some("1"));
    let _ = invoke(&mut env, json!({"tag": "during-429", "spans": 3})).await;
    assert!(collector.fixture_spans("during-429").is_empty());
    collector.answer(0, None);
    collector.delay(300);
    let slow = invoke(&mut env, json!({"tag": "slow", "spans": 3})).await;
    assert!(env.is_reusable(), "{:?}", slow.outcome);
    // Retry-After: 1 holds the end-of-invocation flushes for a second; SHUTDOWN's flush is the
    // last chance and ignores it.
    env.shutdown(ShutdownReason::Spindown).await;
    for tag in ["during-500", "during-429", "slow"] {
        collector.assert_exactly_once(tag, 3);
    }
    let last = fixture.extension_log().last().cloned().unwrap_or_default();
    assert!(last.contains("unsent spans=0 points=0 records=0"), "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsent_data_at_shutdown_is_counted_in_the_last_log_line() {
    let fixture = Fixture::new("never", &format!("http://127.0.0.1:{}", free_port()), "end");
    let mut env = fixture.start().await;
    let _ = invoke(&mut env, json!({"tag": "lost", "spans": 7})).await;
    env.shutdown(ShutdownReason::Spindown).await;
    let log = fixture.extension_log();
    let last = log.last().cloned().unwrap_or_default();
    assert!(last.contains("WARN") && last.contains("shutdown: unsent spans="), "{log:#?}");
    let unsent: u64 = last
        .split("unsent spans=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(unsent >= 7, "the function's 7 spans (and the platform's) are reported unsent: {last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_buffer_drops_the_oldest_and_reports_the_count() {
    let port = free_port();
    let mut fixture = Fixture::new("overflow", &format!("http://127.0.0.1:{port}"), "end");
    fixture.set("INTERCEPT_BUFFER_BYTES", "16384");
    let mut env = fixture.start().await;
    // 10 requests of 20 spans (about 2.3 KB each) into 16 KB while the collector is down.
    let filled = invoke(&mut env, json!({"tag": "flood", "spans": 20, "batches": 10})).await;
    assert_eq!(response(&filled)["accepted"], 200, "the receiver never refuses or blocks");
    let collector = Collector::start_on(port).await;
    let _ = invoke(&mut env, json!({"tag": "after", "spans": 2})).await;
    env.shutdown(ShutdownReason::Spindown).await;
    collector.assert_exactly_once("after", 2);
    let delivered = collector.fixture_spans("flood");
    assert!(delivered.len() < 200 && !delivered.is_empty(), "some dropped, the newest kept: {}", delivered.len());
    assert!(delivered.values().all(|n| *n == 1));
    assert!(delivered.contains_key(&199), "the newest survive");
    let reported: i64 = collector.with(|r| {
        r.metrics
            .iter()
            .filter(|m| m.name == "intercept.extension.dropped")
            .filter_map(|m| match &m.data {
                Some(Data::Sum(sum)) => Some(&sum.data_points),
                _ => None,
            })
            .flatten()
            .filter(|p| str_attr(&p.attributes, "signal") == Some("traces"))
            .map(|p| match p.value {
                Some(Point::AsInt(n)) => n,
                _ => 0,
            })
            .sum()
    });
    let platform_spans_dropped = reported - (200 - delivered.len() as i64);
    assert!(reported > 0, "the drop count is reported as a metric");
    assert!(
        platform_spans_dropped >= 0,
        "every dropped fixture span is counted: reported {reported}, missing {}",
        200 - delivered.len()
    );
}
