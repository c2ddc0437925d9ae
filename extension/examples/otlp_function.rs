//! A `lambda_runtime` function that exports spans to the extension, for the extension's tests
//! and benchmarks. The event chooses what it does after exporting:
//!
//! `{"tag": "t", "spans": 5, "action": "echo" | "sleep" | "exit" | "oom" | "burst", "ms": 100,
//!   "batches": 3, "acked": "path"}`.
//!
//! Spans carry `fixture.tag` and `fixture.index` so a test can count each one.

use std::io::Write as _;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::{Value, json};

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..KeyValue::default() }
}

fn request(tag: &str, first: u64, count: u64, trace_id: &[u8; 16]) -> Vec<u8> {
    let spans = (first..first + count)
        .map(|index| Span {
            trace_id: trace_id.to_vec(),
            span_id: (index + 1).to_be_bytes().to_vec(),
            name: "fixture-span".to_owned(),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            attributes: vec![
                attribute("fixture.tag", any_value::Value::StringValue(tag.to_owned())),
                attribute("fixture.index", any_value::Value::IntValue(index as i64)),
            ],
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

async fn export(client: &reqwest::Client, body: Vec<u8>) -> bool {
    let listen = std::env::var("INTERCEPT_OTLP_LISTEN").unwrap_or_else(|_| "127.0.0.1:4318".to_owned());
    client
        .post(format!("http://{listen}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let tag = payload["tag"].as_str().unwrap_or("untagged").to_owned();
    let spans = payload["spans"].as_u64().unwrap_or(3);
    let batches = payload["batches"].as_u64().unwrap_or(1);
    let client = reqwest::Client::new();
    let trace_id: [u8; 16] = rand::random();
    let trace_hex = hex::encode(trace_id);
    // A log line the Telemetry API carries to the extension, with the ids of the first span.
    println!("fixture log tag={tag} trace_id={trace_hex} span_id={:016x}", 1u64);
    let mut accepted = 0;
    for batch in 0..batches {
        if export(&client, request(&tag, batch * spans, spans, &trace_id)).await {
            accepted += spans;
        }
    }
    match payload["action"].as_str().unwrap_or("echo") {
        "sleep" => tokio::time::sleep(Duration::from_millis(payload["ms"].as_u64().unwrap_or(100))).await,
        "exit" => std::process::exit(3),
        "oom" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(vec![1u8; 16 * 1024 * 1024]);
                tokio::task::yield_now().await;
            }
        }
        "burst" => {
            // Keeps exporting in the background and records each accepted batch's first index,
            // so a test knows exactly what the extension acknowledged before SHUTDOWN.
            let acked = payload["acked"].as_str().unwrap_or("acked").to_owned();
            let tag = tag.clone();
            tokio::spawn(async move {
                for batch in batches.. {
                    if export(&client, request(&tag, batch * spans, spans, &trace_id)).await
                        && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&acked)
                    {
                        let _ = writeln!(file, "{}", batch * spans);
                    }
                }
            });
        }
        _ => {}
    }
    Ok(json!({ "tag": tag, "accepted": accepted, "request_id": event.context.request_id, "trace_id": trace_hex }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
