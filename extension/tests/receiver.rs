//! The OTLP/HTTP receiver against bad input: malformed, oversized, wrongly typed or encoded
//! requests get 400/413/415, and the receiver goes on accepting good ones.

use std::future::IntoFuture as _;
use std::io::Write as _;
use std::sync::Arc;

use intercept_extension::{Buffer, InFlight, MAX_REQUEST_BYTES, Signal, otlp_router};

#[tokio::test]
async fn bad_requests_are_refused_and_good_ones_still_accepted() {
    let buffer = Arc::new(Buffer::new(16 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(axum::serve(listener, otlp_router(buffer.clone(), InFlight::default())).into_future());
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
