//! Under the emulator: exports to an https collector (a certificate from a test CA, trusted
//! through `OTEL_EXPORTER_OTLP_CERTIFICATE`) arrive decoded; a certificate the extension does not
//! trust fails the export with a logged error, and the data stays buffered.

mod support;

use intercept_sam::sandbox::ShutdownReason;
use serde_json::json;
use support::{Collector, Fixture, TestCa, invoke, response};

/// The count after `unsent spans=` in the extension's last line.
fn unsent_spans(last: &str) -> u64 {
    last.split("unsent spans=").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_an_https_collector_whose_ca_is_trusted_by_setting() {
    let ca = TestCa::new("trusted");
    let collector = Collector::start_tls(&ca).await;
    assert!(collector.endpoint().starts_with("https://127.0.0.1:"));
    let mut fixture = Fixture::new("https", &collector.endpoint(), "end");
    let ca_file = ca.write_ca_pem(&fixture.scratch.path().join("ca.pem"));
    fixture.set("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca_file);
    let mut env = fixture.start().await;
    for n in 0..2 {
        let tag = format!("tls-{n}");
        let invoked = invoke(&mut env, json!({"tag": tag, "spans": 5})).await;
        assert_eq!(response(&invoked)["accepted"], 5);
        // `end`: delivered over TLS before the extension asked for the next event.
        collector.assert_exactly_once(&tag, 5);
    }
    env.shutdown(ShutdownReason::Spindown).await;
    collector.with(|r| {
        assert!(r.spans.iter().any(|s| s.name == "invoke"), "the platform's spans too");
        assert!(r.metrics.iter().any(|m| m.name == "aws.lambda.duration"), "and its metrics");
    });
    assert_eq!(collector.handshake_failures(), 0);
    let log = fixture.extension_log();
    let last = log.last().cloned().unwrap_or_default();
    assert!(last.contains("shutdown: unsent spans=0 points=0 records=0"), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_fails_the_export_logs_why_and_keeps_the_data() {
    let collector = Collector::start_tls(&TestCa::new("collector")).await;
    let mut fixture = Fixture::new("untrusted", &collector.endpoint(), "end");
    // The extension trusts another CA (and the system's store), not the one that signed the
    // collector's certificate.
    let other = TestCa::new("other");
    let ca_file = other.write_ca_pem(&fixture.scratch.path().join("other-ca.pem"));
    fixture.set("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca_file);
    let mut env = fixture.start().await;
    for n in 0..2 {
        let invoked = invoke(&mut env, json!({"tag": format!("refused-{n}"), "spans": 5})).await;
        assert_eq!(response(&invoked)["accepted"], 5, "the function is not held by the failure");
        assert!(env.is_reusable(), "no crash, no timeout: {:?}", invoked.outcome);
    }
    env.shutdown(ShutdownReason::Spindown).await;
    assert!(collector.fixture_spans("refused-0").is_empty() && collector.fixture_spans("refused-1").is_empty());
    assert_eq!(collector.with(|r| r.requests), 0, "no request got past the handshake");
    assert!(collector.handshake_failures() >= 1, "the extension did try TLS");
    let log = fixture.extension_log();
    assert!(
        log.iter().any(|l| l.contains("WARN")
            && l.contains("flush incomplete")
            && l.contains("invalid peer certificate")
            && l.contains("UnknownIssuer")),
        "the TLS failure is logged with its cause: {log:#?}"
    );
    let last = log.last().cloned().unwrap_or_default();
    assert!(unsent_spans(&last) >= 10, "the 10 spans stayed buffered to the end: {last}");
}
