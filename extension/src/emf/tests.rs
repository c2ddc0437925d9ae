use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use serde_json::Value;

use super::*;

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics, ..ScopeMetrics::default() }],
            ..ResourceMetrics::default()
        }],
    }
}

fn counter(name: &str, cumulative: bool, points: &[(&[(&str, &str)], i64)]) -> Metric {
    let temporality = if cumulative { AggregationTemporality::Cumulative } else { AggregationTemporality::Delta };
    Metric {
        name: name.to_owned(),
        unit: "{invocation}".to_owned(),
        data: Some(Data::Sum(Sum {
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
            data_points: points
                .iter()
                .map(|(attrs, value)| NumberDataPoint {
                    attributes: attrs.iter().map(|(k, v)| attr(k, v)).collect(),
                    start_time_unix_nano: 1_000,
                    time_unix_nano: 1_700_000_000_123_000_000,
                    value: Some(number_data_point::Value::AsInt(*value)),
                    ..NumberDataPoint::default()
                })
                .collect(),
        })),
        ..Metric::default()
    }
}

/// The flush's time in these tests: shortly after the data points' (2023-11-14).
const NOW_MS: u64 = 1_700_000_000_500;

fn lines(emf: &mut Emf) -> Vec<Value> {
    let mut out = Vec::new();
    emf.write(&mut out, NOW_MS).expect("write to a Vec");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.is_empty() || text.ends_with('\n'), "every line ends: {text:?}");
    text.lines().map(|line| serde_json::from_str(line).expect("each line is one JSON object")).collect()
}

/// Checks one line against the specification's rules, independently of how it was made.
fn check_spec(line: &Value) {
    let root = line.as_object().expect("an object");
    let aws = root["_aws"].as_object().expect("_aws");
    assert!(aws["Timestamp"].as_u64().is_some(), "Timestamp is epoch ms: {line}");
    for directive in aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics") {
        let namespace = directive["Namespace"].as_str().expect("Namespace");
        assert!(!namespace.is_empty() && namespace.len() <= 1024);
        for set in directive["Dimensions"].as_array().expect("Dimensions") {
            let set = set.as_array().expect("a dimension set");
            assert!(set.len() <= MAX_DIMENSIONS, "{} dimensions", set.len());
            for name in set {
                let value = &root[name.as_str().expect("a name")];
                assert!(value.as_str().is_some_and(|v| !v.is_empty() && v.len() <= 1024), "{name} = {value}");
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics");
        assert!(metrics.len() <= MAX_METRICS);
        for metric in metrics {
            let name = metric["Name"].as_str().expect("Name");
            assert!(metric["Unit"].as_str().is_some());
            match &root[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(values.len() <= MAX_VALUES && values.iter().all(Value::is_number), "{name}")
                }
                other => panic!("{name} is {other}"),
            }
        }
    }
}

#[test]
fn cumulative_counters_become_increases_one_line_per_dimension_set() {
    let mut emf = Emf::new("Shop", "cart");
    let get = &[("http.route", "/items"), ("intercept.outcome", "success")][..];
    let post = &[("http.route", "/cart"), ("intercept.outcome", "rejected")][..];
    emf.add(&request(vec![counter("faas.invocations", true, &[(get, 3), (post, 1)])]));
    let first = lines(&mut emf);
    assert_eq!(first.len(), 2, "one line per set of attribute values: {first:?}");
    for line in &first {
        check_spec(line);
    }
    let items = first.iter().find(|l| l["http.route"] == "/items").expect("the /items line");
    assert_eq!(items["faas.invocations"], 3.0);
    assert_eq!(items["service"], "cart");
    assert_eq!(items["_aws"]["Timestamp"], 1_700_000_000_123u64);
    let directive = &items["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Shop");
    assert_eq!(directive["Metrics"][0], serde_json::json!({"Name": "faas.invocations", "Unit": "Count"}));
    assert_eq!(directive["Dimensions"][0], serde_json::json!(["service", "http.route", "intercept.outcome"]));

    // The next export of the same cumulative series: only the increase, and nothing for a
    // counter that did not move.
    emf.add(&request(vec![counter("faas.invocations", true, &[(get, 5), (post, 1)])]));
    let second = lines(&mut emf);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["faas.invocations"], 2.0);
    assert!(lines(&mut emf).is_empty(), "written once");

    // Delta counters are taken as they are; two exports before a flush give two values.
    emf.add(&request(vec![counter("requests", false, &[(get, 4)])]));
    emf.add(&request(vec![counter("requests", false, &[(get, 6)])]));
    let deltas = lines(&mut emf);
    assert_eq!(deltas[0]["requests"], serde_json::json!([4.0, 6.0]));
}

#[test]
fn a_reset_counts_whole_and_histograms_keep_their_shape() {
    let mut emf = Emf::new("Intercept", "svc");
    emf.add(&request(vec![counter("c", true, &[(&[], 10)])]));
    let _ = lines(&mut emf);
    emf.add(&request(vec![counter("c", true, &[(&[], 4)])]));
    assert_eq!(lines(&mut emf)[0]["c"], 4.0, "a smaller cumulative value is a restart");

    let histogram = |counts: Vec<u64>| Metric {
        name: "faas.invoke_duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: vec![HistogramDataPoint {
                count: counts.iter().sum(),
                bucket_counts: counts,
                explicit_bounds: vec![0.01, 0.1, 1.0],
                min: Some(0.002),
                max: Some(3.0),
                time_unix_nano: 5_000_000,
                ..HistogramDataPoint::default()
            }],
        })),
        ..Metric::default()
    };
    emf.add(&request(vec![histogram(vec![1, 2, 0, 1])]));
    let first = lines(&mut emf);
    check_spec(&first[0]);
    assert_eq!(first[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Seconds");
    let values: Vec<f64> =
        first[0]["faas.invoke_duration"].as_array().expect("values").iter().filter_map(Value::as_f64).collect();
    assert_eq!(values.len(), 4, "one value per observation: {values:?}");
    assert_eq!(values.iter().filter(|v| **v > 0.01 && **v <= 0.1).count(), 2);
    assert!(values.iter().all(|v| (0.002..=3.0).contains(v)), "within min and max: {values:?}");

    // 1,000 more observations: at most 100 values, in proportion.
    emf.add(&request(vec![histogram(vec![1, 502, 0, 501])]));
    let second = lines(&mut emf);
    assert_eq!(second.len(), 1);
    check_spec(&second[0]);
    let values = second[0]["faas.invoke_duration"].as_array().expect("values");
    assert_eq!(values.len(), 100);
    let slow = values.iter().filter(|v| v.as_f64() > Some(1.0)).count();
    assert!((49..=51).contains(&slow), "half the observations were slow: {slow}");
}

#[test]
fn limits_split_lines_and_odd_points_are_handled() {
    let mut emf = Emf::new("Intercept", "svc");
    // 150 delta values of one series: two lines, 100 then 50.
    for value in 0..150 {
        emf.add(&request(vec![counter("hits", false, &[(&[], value + 1)])]));
    }
    let split = lines(&mut emf);
    assert_eq!(split.len(), 2);
    assert_eq!(split[0]["hits"].as_array().map(Vec::len), Some(100));
    assert_eq!(split[1]["hits"].as_array().map(Vec::len), Some(50));

    // 40 attributes: 30 dimensions (service among them), the rest plain members.
    let many: Vec<(String, String)> = (0..40).map(|i| (format!("k{i:02}"), format!("v{i}"))).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // A metric named like a dimension is renamed rather than overwriting it.
    emf.add(&request(vec![counter("k00", false, &[(&many[..], 1)])]));
    let wide = lines(&mut emf);
    check_spec(&wide[0]);
    assert_eq!(wide[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].as_array().map(Vec::len), Some(30));
    assert_eq!(wide[0]["k39"], "v39", "attributes past 30 stay on the line as members");
    assert_eq!(wide[0]["k00"], "v0");
    assert_eq!(wide[0]["k00.value"], 1.0);

    // Gauges as they are; summaries skipped and counted; a NaN never written.
    let gauge = Metric {
        name: "queue.depth".to_owned(),
        unit: "By".to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![
                NumberDataPoint { value: Some(number_data_point::Value::AsDouble(7.5)), ..NumberDataPoint::default() },
                NumberDataPoint {
                    value: Some(number_data_point::Value::AsDouble(f64::NAN)),
                    ..NumberDataPoint::default()
                },
            ],
        })),
        ..Metric::default()
    };
    let summary = Metric {
        name: "old".to_owned(),
        data: Some(Data::Summary(Summary { data_points: vec![SummaryDataPoint::default()] })),
        ..Metric::default()
    };
    emf.add(&request(vec![gauge, summary]));
    let out = lines(&mut emf);
    assert_eq!(out[0]["queue.depth"], 7.5);
    assert_eq!(out[0]["_aws"]["Timestamp"], NOW_MS, "no point time: the flush's");
    assert_eq!(emf.skipped(), 1);
}

#[test]
fn per_invocation_attributes_are_members_not_dimensions() {
    let mut emf = Emf::new("Intercept", "svc");
    let platform = &[("faas.invocation_id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"), ("faas.trigger", "http")][..];
    emf.add(&request(vec![counter("aws.lambda.timeouts", false, &[(platform, 1)])]));
    let out = lines(&mut emf);
    check_spec(&out[0]);
    assert_eq!(out[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0], serde_json::json!(["service", "faas.trigger"]));
    assert_eq!(out[0]["faas.invocation_id"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "still on the line");
}

#[test]
fn bucket_counts_whose_sum_overflows_are_spread_all_the_same() {
    // Found by the fuzz target: counts from a function may add up past u64::MAX.
    let values = proportional(&[u64::MAX, u64::MAX, 0, 1]);
    assert_eq!(values.iter().sum::<u64>(), 100, "{values:?}");
    assert_eq!(values[2], 0);
    assert_eq!(values[3], 1, "a bucket with observations keeps one value");
}

#[test]
fn what_cloudwatch_would_refuse_never_reaches_a_line() {
    let mut emf = Emf::new("Intercept", "svc");
    let odd = &[("r\u{e9}gion", "eu"), ("blank", "   "), ("_aws", "x"), ("city", "Z\u{fc}rich"), ("ok", "yes")][..];
    emf.add(&request(vec![
        counter("fine", false, &[(odd, 1)]),
        counter("", false, &[(&[], 1)]),
        counter(&"n".repeat(256), false, &[(&[], 1)]),
        counter("_aws", false, &[(&[], 1)]),
    ]));
    let out = lines(&mut emf);
    assert_eq!(out.len(), 1, "{out:?}");
    check_spec(&out[0]);
    assert_eq!(out[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0], serde_json::json!(["service", "ok"]));
    assert_eq!(out[0]["city"], "Z\u{fc}rich", "not ASCII: a member, not a dimension");
    assert_eq!(emf.skipped(), 3, "the three metric names CloudWatch refuses");
    // The counter's time (2023) is older than CloudWatch takes: the line has the flush's time.
    let now_ms = 1_796_216_967_000;
    emf.add(&request(vec![counter("fine", false, &[(&[], 1)])]));
    let mut text = Vec::new();
    emf.write(&mut text, now_ms).expect("vec");
    let line: Value = serde_json::from_slice(text.split(|b| *b == b'\n').next().expect("a line")).expect("json");
    assert_eq!(line["_aws"]["Timestamp"], now_ms);
}

#[test]
fn pending_values_are_bounded() {
    let mut emf = Emf::new("Intercept", "svc");
    for _ in 0..MAX_PENDING_VALUES + 10 {
        emf.add(&request(vec![counter("hits", false, &[(&[], 1)])]));
    }
    assert_eq!(emf.skipped(), 10, "past the bound: counted, not kept");
    let mut text = Vec::new();
    let written = emf.write(&mut text, 1).expect("vec");
    assert_eq!(written, MAX_PENDING_VALUES / MAX_VALUES);
    emf.add(&request(vec![counter("hits", false, &[(&[], 1)])]));
    assert_eq!(emf.skipped(), 10, "a flush makes room again");
}

#[test]
fn cumulative_exponential_histograms_count_each_observation_once() {
    use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogram;
    let histogram = |zero: u64, positive: Vec<u64>, scale: i32| Metric {
        name: "latency".to_owned(),
        unit: "ms".to_owned(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            data_points: vec![ExponentialHistogramDataPoint {
                scale,
                zero_count: zero,
                positive: Some(Buckets { offset: 3, bucket_counts: positive }),
                ..ExponentialHistogramDataPoint::default()
            }],
        })),
        ..Metric::default()
    };
    let mut emf = Emf::new("Intercept", "svc");
    let count = |emf: &mut Emf| -> usize {
        lines(emf).first().map_or(0, |line| line["latency"].as_array().map_or(1, Vec::len))
    };
    emf.add(&request(vec![histogram(1, vec![2, 0, 1], 0)]));
    assert_eq!(count(&mut emf), 4);
    emf.add(&request(vec![histogram(1, vec![3, 0, 1], 0)]));
    assert_eq!(count(&mut emf), 1, "only the new observation");
    emf.add(&request(vec![histogram(1, vec![3, 0, 1], 0)]));
    assert_eq!(count(&mut emf), 0, "nothing new: no line");
    emf.add(&request(vec![histogram(0, vec![1], 1)]));
    assert_eq!(count(&mut emf), 1, "a new scale is a reset");
    emf.add(&request(vec![histogram(0, vec![1], i32::MIN)]));
    assert_eq!(count(&mut emf), 0, "a scale OpenTelemetry does not define is skipped");
    assert_eq!(emf.skipped(), 1);
}

#[test]
fn units_map_to_cloudwatch_names() {
    for (ucum, cloudwatch) in [
        ("s", "Seconds"),
        ("ms", "Milliseconds"),
        ("By", "Bytes"),
        ("{span}", "Count"),
        ("1", "Count"),
        ("furlong", "None"),
    ] {
        assert_eq!(unit(ucum), cloudwatch);
    }
}

/// The fuzz target's seeds (`fuzz/corpus/native_exporters/seed-*`): a cumulative counter and a
/// histogram, encoded; run with `--ignored` to write them again.
#[test]
#[ignore = "writes the fuzz seeds"]
fn write_fuzz_seeds() {
    use prost::Message as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/native_exporters");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let counters = request(vec![counter("faas.invocations", true, &[(&[("http.route", "/a")], 3)])]);
    let histogram = request(vec![Metric {
        name: "faas.invoke_duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            data_points: vec![HistogramDataPoint {
                count: 3,
                bucket_counts: vec![1, 2, 0],
                explicit_bounds: vec![0.1, 1.0],
                ..HistogramDataPoint::default()
            }],
        })),
        ..Metric::default()
    }]);
    for (name, request) in [("seed-counter", counters), ("seed-histogram", histogram)] {
        std::fs::write(dir.join(name), request.encode_to_vec()).expect("seed");
    }
    crate::fuzzing::native_exporters(&std::fs::read(dir.join("seed-histogram")).expect("read"));
}
