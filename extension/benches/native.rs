//! The AWS-native exporters' encoding per invocation against the OTLP encoding of the same
//! data, in one run: `cargo bench -p intercept-extension --bench native`.
//!
//! The data is one HTTP invocation as the in-process layer reports it: a server span with the
//! FaaS and HTTP attributes and three children (two filters and the handler), and the layer's
//! metrics (invocations, errors, cold starts, rejections, detections and the duration
//! histogram, cumulative, one series each). Per invocation:
//! - OTLP: the export requests encoded as protobuf and gzipped (what the extension puts on the
//!   wire for a collector; the default compression);
//! - X-Ray: one segment document per span, with the daemon's header (`xray::datagram`);
//! - EMF: the metrics request taken in and written as EMF lines (`Emf::add` + `Emf::write`,
//!   cumulative counters turned into increases, the histogram into bucket values).
//!
//! The last line is the extension's own work from a received request: it decodes every request
//! once (to count its items) whichever the exporter; the OTLP path then gzips the bytes as they
//! came, the native exporters encode from that decode.
//!
//! Rounds alternate the three so a busy machine slows all of them alike; the figure is the
//! median of per-round means, and the ratio is against OTLP measured in the same run.

use std::hint::black_box;
use std::io::Write as _;
use std::time::{Duration, Instant};

use intercept_extension::emf::Emf;
use intercept_extension::xray::datagram;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use prost::Message;

const ROUNDS: usize = 31;
const PER_ROUND: usize = 2_000;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..KeyValue::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            text("service.name", "orders"),
            text("cloud.provider", "aws"),
            text("cloud.platform", "aws_lambda"),
            text("cloud.region", "eu-west-1"),
            text("faas.name", "orders"),
            text("faas.version", "$LATEST"),
        ],
        ..Resource::default()
    })
}

fn spans(now: u64) -> ExportTraceServiceRequest {
    let trace_id = vec![0x6b, 0x10, 0x18, 0x86, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let root_id = vec![0xaa; 8];
    let root = Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        parent_span_id: vec![0x53; 8],
        name: "GET /orders/{id}".to_owned(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: now,
        end_time_unix_nano: now + 2_400_000,
        attributes: vec![
            text("faas.trigger", "http"),
            text("faas.invocation_id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
            text("faas.coldstart", "false"),
            text("cloud.resource_id", "arn:aws:lambda:eu-west-1:123456789012:function:orders"),
            text("cloud.account.id", "123456789012"),
            text("intercept.decision", "allowed"),
            text("enduser.id", "alice"),
            text("http.request.method", "GET"),
            text("http.route", "/orders/{id}"),
            text("url.path", "/orders/42"),
            text("client.address", "203.0.113.7"),
            text("user_agent.original", "curl/8.5.0"),
            int("http.response.status_code", 200),
        ],
        ..Span::default()
    };
    let child = |id: u8, name: &str| Span {
        trace_id: trace_id.clone(),
        span_id: vec![id; 8],
        parent_span_id: root_id.clone(),
        name: name.to_owned(),
        start_time_unix_nano: now + u64::from(id) * 100_000,
        end_time_unix_nano: now + u64::from(id) * 100_000 + 50_000,
        attributes: vec![text("intercept.decision", "allowed")],
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![root, child(1, "ratelimit source-ip"), child(2, "authentication"), child(3, "handler")],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn metrics(n: u64, now: u64) -> ExportMetricsServiceRequest {
    let attributes =
        || vec![text("faas.trigger", "http"), text("http.route", "/orders/{id}"), text("intercept.outcome", "success")];
    let sum = |name: &str, value: u64| Metric {
        name: name.to_owned(),
        unit: "{invocation}".to_owned(),
        data: Some(Data::Sum(Sum {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
            data_points: vec![NumberDataPoint {
                attributes: attributes(),
                start_time_unix_nano: 1,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(value as i64)),
                ..NumberDataPoint::default()
            }],
        })),
        ..Metric::default()
    };
    let bounds = vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
    let mut buckets = vec![0u64; bounds.len() + 1];
    buckets[2] = n;
    let duration = Metric {
        name: "faas.invoke_duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: vec![HistogramDataPoint {
                attributes: attributes(),
                start_time_unix_nano: 1,
                time_unix_nano: now,
                count: n,
                sum: Some(n as f64 * 0.012),
                bucket_counts: buckets,
                explicit_bounds: bounds,
                min: Some(0.011),
                max: Some(0.013),
                ..HistogramDataPoint::default()
            }],
        })),
        ..Metric::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    sum("faas.invocations", n),
                    sum("faas.errors", n / 10),
                    sum("faas.coldstarts", 1),
                    sum("intercept.rejections", n / 5),
                    sum("intercept.detections", n / 20),
                    duration,
                ],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::fast());
    encoder.write_all(bytes).expect("vec");
    encoder.finish().expect("vec")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let now = 1_796_216_967_000_000_000u64;
    let traces = spans(now);
    let mut emf = Emf::new("Intercept", "orders");
    let mut sink: Vec<u8> = Vec::with_capacity(64 * 1024);
    let (mut otlp_traces, mut otlp_metrics, mut xray, mut cloudwatch) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut decode = Vec::new();
    let mut gzipped = Vec::new();
    let mut n = 0u64;
    let mut sizes = (0, 0, 0, 0);
    for round in 0..ROUNDS + 3 {
        let requests: Vec<ExportMetricsServiceRequest> =
            (0..PER_ROUND as u64).map(|i| metrics(n + i + 1, now + i)).collect();
        n += PER_ROUND as u64;
        let encoded_traces = traces.encode_to_vec();
        let encoded_metrics: Vec<Vec<u8>> = requests.iter().map(Message::encode_to_vec).collect();

        let started = Instant::now();
        for _ in 0..PER_ROUND {
            let traces = gzip(&traces.encode_to_vec());
            sizes.0 = traces.len();
            black_box(traces);
        }
        let otlp_traces_round = started.elapsed();

        let started = Instant::now();
        for metrics in &requests {
            let metrics = gzip(&metrics.encode_to_vec());
            sizes.3 = metrics.len();
            black_box(metrics);
        }
        let otlp_metrics_round = started.elapsed();

        let started = Instant::now();
        for metrics in &encoded_metrics {
            black_box(gzip(&encoded_traces));
            black_box(gzip(metrics));
        }
        let gzip_round = started.elapsed();

        let started = Instant::now();
        for metrics in &encoded_metrics {
            black_box(ExportTraceServiceRequest::decode(&encoded_traces[..]).expect("decodes"));
            black_box(ExportMetricsServiceRequest::decode(&metrics[..]).expect("decodes"));
        }
        let decode_round = started.elapsed();

        let started = Instant::now();
        for _ in 0..PER_ROUND {
            let mut bytes = 0;
            for span in &traces.resource_spans[0].scope_spans[0].spans {
                bytes += black_box(datagram(span)).map_or(0, |d| d.len());
            }
            sizes.1 = bytes;
        }
        let xray_round = started.elapsed();

        let started = Instant::now();
        for metrics in &requests {
            sink.clear();
            emf.add(metrics);
            emf.write(&mut sink, now / 1_000_000).expect("vec");
            sizes.2 = sink.len();
            black_box(&sink);
        }
        let emf_round = started.elapsed();

        if round >= 3 {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / PER_ROUND as f64;
            decode.push(per(decode_round));
            gzipped.push(per(gzip_round));
            otlp_traces.push(per(otlp_traces_round));
            otlp_metrics.push(per(otlp_metrics_round));
            xray.push(per(xray_round));
            cloudwatch.push(per(emf_round));
        }
    }
    let (otlp_traces, otlp_metrics) = (median(otlp_traces), median(otlp_metrics));
    let (xray, cloudwatch) = (median(xray), median(cloudwatch));
    let otlp = otlp_traces + otlp_metrics;
    let (decode, gzipped) = (median(decode), median(gzipped));
    println!("per invocation (4 spans, 6 metrics), median of {ROUNDS} rounds of {PER_ROUND}:");
    println!(
        "  spans:   OTLP protobuf + gzip {otlp_traces:7.2} µs ({} B)   X-Ray documents {xray:7.2} µs ({} B)   ratio {:.2}",
        sizes.0,
        sizes.1,
        xray / otlp_traces
    );
    println!(
        "  metrics: OTLP protobuf + gzip {otlp_metrics:7.2} µs ({} B)   EMF lines       {cloudwatch:7.2} µs ({} B)   ratio {:.2}",
        sizes.3,
        sizes.2,
        cloudwatch / otlp_metrics
    );
    println!(
        "  both:    OTLP {otlp:7.2} µs   X-Ray + EMF {:7.2} µs   ratio {:.2}",
        xray + cloudwatch,
        (xray + cloudwatch) / otlp
    );
    println!(
        "  in the extension, from the request received (decoded once, {decode:.2} µs, to count it whichever \
         the exporter): OTLP decode + gzip {:.2} µs, X-Ray + EMF decode + encode {:.2} µs, ratio {:.2}",
        decode + gzipped,
        decode + xray + cloudwatch,
        (decode + xray + cloudwatch) / (decode + gzipped)
    );
}
