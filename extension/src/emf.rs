//! CloudWatch metrics with no collector: OTLP metrics turned into Embedded Metric Format (EMF)
//! lines on the extension's stdout, which Lambda sends to the function's log group and
//! CloudWatch turns into metrics.
//!
//! What the specification asks, and how it is met here:
//! - one JSON object per line, `_aws.Timestamp` (epoch milliseconds) and
//!   `_aws.CloudWatchMetrics[]` with `Namespace`, `Dimensions` (one dimension set) and `Metrics`
//!   (`Name`, `Unit`);
//! - a target member per metric, a number or an array of at most 100 numbers;
//! - at most 30 dimensions in the set and at most 100 metrics per directive;
//! - one line per flush per dimension set (the data points of one set of attribute values),
//!   more only when a metric holds more than 100 values or the set more than 100 metrics;
//! - attributes that differ per invocation (`faas.invocation_id`, request ids) are written as
//!   plain members, never dimensions, so no metric is made per request.
//!
//! OTLP data is converted so CloudWatch's sums come out right: cumulative sums become the
//! increase since the last export (a counter that did not move writes nothing), delta sums and
//! gauges their value. Histograms (explicit and exponential, cumulative ones as their increase)
//! become the representative value of each bucket once per observation, at most 100 per data
//! point in proportion: percentiles keep their shape, but for a point of more than 100
//! observations CloudWatch's `SampleCount` and `Sum` count those 100 values (the specification's
//! value arrays have no counts; `faas.invocations` carries the true count). Summaries have no
//! faithful EMF form and are skipped, as are points past the memory bounds below (counted in
//! `skipped`).
//!
//! What a function sends is outside input: dimension names and values that CloudWatch would
//! refuse (not ASCII, blank, too long, `_aws`) stay plain members; metric names it would refuse
//! are skipped; a timestamp outside what CloudWatch accepts (two weeks back, two hours ahead)
//! becomes the flush's; and the data held between flushes is bounded in values and series.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
};
use serde_json::{Map, Value};

/// Values one metric may hold in one line (the specification's limit).
pub const MAX_VALUES: usize = 100;
/// Dimensions one dimension set may hold (the specification's limit).
pub const MAX_DIMENSIONS: usize = 30;
/// Metrics one directive may hold (the specification's limit).
pub const MAX_METRICS: usize = 100;
/// Attribute-value sets held between two flushes; beyond it data points are dropped, counted.
const MAX_GROUPS: usize = 10_000;
/// Cumulative series remembered for their deltas; beyond it the memory starts again.
const MAX_SERIES: usize = 50_000;
/// CloudWatch's limit on a dimension value's length.
const MAX_DIMENSION_VALUE: usize = 1024;
/// CloudWatch's limit on a dimension name's and a metric name's length.
const MAX_NAME: usize = 255;
/// Values held between two flushes; past it data points are dropped, counted.
const MAX_PENDING_VALUES: usize = 100_000;
/// How far back and ahead of now CloudWatch takes a timestamp (14 days less an hour of room,
/// 2 hours less a minute).
const OLDEST_MS: u64 = (14 * 24 - 1) * 3_600_000;
const NEWEST_MS: u64 = 2 * 3_600_000 - 60_000;
/// Exponential histogram scales OpenTelemetry defines.
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// Accumulates metrics between flushes and writes them as EMF lines.
#[derive(Debug)]
pub struct Emf {
    namespace: String,
    service: String,
    /// The last cumulative value of each series (name, attributes, start time).
    last: HashMap<String, Last>,
    /// What the next flush writes, by dimension set.
    pending: BTreeMap<String, Group>,
    /// Data points with no EMF form (summaries) or no room (too many groups), since the start.
    skipped: u64,
    /// Values in `pending`.
    pending_values: usize,
}

#[derive(Debug)]
enum Last {
    Number(f64),
    Buckets(Vec<u64>),
    /// An exponential histogram's scale, zero count, and positive and negative buckets.
    Exponential(i32, u64, (i32, Vec<u64>), (i32, Vec<u64>)),
}

#[derive(Debug, Default)]
struct Group {
    /// Dimension name → value, `service` first.
    dimensions: Vec<(String, String)>,
    /// Attributes past the 30-dimension limit, written as plain members.
    properties: Vec<(String, String)>,
    metrics: BTreeMap<String, Series>,
    timestamp_ms: u64,
}

#[derive(Debug)]
struct Series {
    unit: &'static str,
    values: Vec<f64>,
}

impl Emf {
    /// An encoder for `namespace`, with a `service` dimension of `service`.
    #[must_use]
    pub fn new(namespace: impl Into<String>, service: impl Into<String>) -> Self {
        Emf {
            namespace: namespace.into(),
            service: service.into(),
            last: HashMap::new(),
            pending: BTreeMap::new(),
            skipped: 0,
            pending_values: 0,
        }
    }

    /// Data points skipped since the start: summaries, and points past the group bound.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Takes in one export request's data points for the next [`Emf::write`].
    pub fn add(&mut self, request: &ExportMetricsServiceRequest) {
        for resource in &request.resource_metrics {
            for scope in &resource.scope_metrics {
                for metric in &scope.metrics {
                    let unit = unit(&metric.unit);
                    match &metric.data {
                        Some(Data::Sum(sum)) => {
                            let cumulative = sum.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                            for point in &sum.data_points {
                                let value = number(point);
                                let value = if cumulative && sum.is_monotonic {
                                    match self.increase(&metric.name, point, value) {
                                        Some(delta) => delta,
                                        None => continue,
                                    }
                                } else {
                                    value
                                };
                                self.push(&metric.name, unit, &point.attributes, point.time_unix_nano, &[value]);
                            }
                        }
                        Some(Data::Gauge(gauge)) => {
                            for point in &gauge.data_points {
                                self.push(
                                    &metric.name,
                                    unit,
                                    &point.attributes,
                                    point.time_unix_nano,
                                    &[number(point)],
                                );
                            }
                        }
                        Some(Data::Histogram(histogram)) => {
                            let cumulative =
                                histogram.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                            for point in &histogram.data_points {
                                let counts = if cumulative {
                                    match self.bucket_increase(&metric.name, point) {
                                        Some(counts) => counts,
                                        None => continue,
                                    }
                                } else {
                                    point.bucket_counts.clone()
                                };
                                let values = histogram_values(point, &counts);
                                if !values.is_empty() {
                                    self.push(&metric.name, unit, &point.attributes, point.time_unix_nano, &values);
                                }
                            }
                        }
                        Some(Data::ExponentialHistogram(histogram)) => {
                            let cumulative =
                                histogram.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                            for point in &histogram.data_points {
                                if !SCALES.contains(&point.scale) {
                                    self.skipped += 1;
                                    continue;
                                }
                                let increase;
                                let point = if cumulative {
                                    match self.exponential_increase(&metric.name, point) {
                                        Some(delta) => {
                                            increase = delta;
                                            &increase
                                        }
                                        None => continue,
                                    }
                                } else {
                                    point
                                };
                                let values = exponential_values(point);
                                if !values.is_empty() {
                                    self.push(&metric.name, unit, &point.attributes, point.time_unix_nano, &values);
                                }
                            }
                        }
                        Some(Data::Summary(summary)) => self.skipped += summary.data_points.len() as u64,
                        None => {}
                    }
                }
            }
        }
    }

    /// The increase of a cumulative monotonic sum since its last export; `None` when it did not
    /// move (nothing to write). A new start time, or a smaller value, is a reset: all of it counts.
    fn increase(&mut self, name: &str, point: &NumberDataPoint, value: f64) -> Option<f64> {
        let key = series_key(name, &point.attributes, point.start_time_unix_nano);
        self.bound_series();
        let previous = self.last.insert(key, Last::Number(value));
        let delta = match previous {
            Some(Last::Number(before)) if value >= before => value - before,
            _ => value,
        };
        (delta != 0.0).then_some(delta)
    }

    fn bucket_increase(&mut self, name: &str, point: &HistogramDataPoint) -> Option<Vec<u64>> {
        let key = series_key(name, &point.attributes, point.start_time_unix_nano);
        self.bound_series();
        let previous = self.last.insert(key, Last::Buckets(point.bucket_counts.clone()));
        let counts: Vec<u64> = match previous {
            Some(Last::Buckets(before))
                if before.len() == point.bucket_counts.len()
                    && before.iter().zip(&point.bucket_counts).all(|(b, n)| n >= b) =>
            {
                point.bucket_counts.iter().zip(&before).map(|(n, b)| n - b).collect()
            }
            _ => point.bucket_counts.clone(),
        };
        counts.iter().any(|n| *n > 0).then_some(counts)
    }

    /// The increase of a cumulative exponential histogram since its last export, as a point of
    /// its own; `None` when nothing was observed since. A new scale, offset or start time, or a
    /// smaller count, is a reset: all of it counts.
    fn exponential_increase(
        &mut self,
        name: &str,
        point: &ExponentialHistogramDataPoint,
    ) -> Option<ExponentialHistogramDataPoint> {
        let key = series_key(name, &point.attributes, point.start_time_unix_nano);
        self.bound_series();
        let side = |buckets: &Option<Buckets>| {
            buckets.as_ref().map_or((0, Vec::new()), |b| (b.offset, b.bucket_counts.clone()))
        };
        let now = Last::Exponential(point.scale, point.zero_count, side(&point.positive), side(&point.negative));
        let previous = self.last.insert(key, now);
        let minus = |now: &(i32, Vec<u64>), before: &(i32, Vec<u64>)| -> Option<Vec<u64>> {
            (now.0 == before.0 && now.1.len() == before.1.len())
                .then(|| now.1.iter().zip(&before.1).map(|(n, b)| n.checked_sub(*b)).collect::<Option<Vec<u64>>>())
                .flatten()
        };
        let mut delta = point.clone();
        if let Some(Last::Exponential(scale, zero, positive, negative)) = previous
            && scale == point.scale
            && let Some(zero) = point.zero_count.checked_sub(zero)
            && let Some(up) = minus(&side(&point.positive), &positive)
            && let Some(down) = minus(&side(&point.negative), &negative)
        {
            delta.zero_count = zero;
            if let Some(buckets) = &mut delta.positive {
                buckets.bucket_counts = up;
            }
            if let Some(buckets) = &mut delta.negative {
                buckets.bucket_counts = down;
            }
        }
        let observed = delta.zero_count > 0
            || [&delta.positive, &delta.negative]
                .iter()
                .any(|b| b.as_ref().is_some_and(|b| b.bucket_counts.iter().any(|n| *n > 0)));
        observed.then_some(delta)
    }

    fn bound_series(&mut self) {
        if self.last.len() >= MAX_SERIES {
            // Forgetting makes the next value of each series count whole once: a spike, never a loss.
            self.last.clear();
        }
    }

    fn push(&mut self, name: &str, unit: &'static str, attributes: &[KeyValue], time_unix_nano: u64, values: &[f64]) {
        let name_fits = !name.is_empty() && name.chars().count() <= MAX_NAME && name != "_aws";
        if !name_fits || self.pending_values + values.len() > MAX_PENDING_VALUES {
            self.skipped += 1;
            return;
        }
        let pairs = pairs(attributes);
        let key = pairs.iter().map(|(k, v)| format!("{k}\u{1}{v}")).collect::<Vec<_>>().join("\u{2}");
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_GROUPS {
            self.skipped += 1;
            return;
        }
        let service = &self.service;
        let group = self.pending.entry(key).or_insert_with(|| {
            let mut group = Group::default();
            group.dimensions.push(("service".to_owned(), service.clone()));
            for (key, value) in pairs {
                let text = |t: &str, max: usize| t.is_ascii() && !t.trim().is_empty() && t.len() <= max;
                let fits = group.dimensions.len() < MAX_DIMENSIONS
                    && !per_invocation(&key)
                    && text(&value, MAX_DIMENSION_VALUE)
                    && text(&key, MAX_NAME)
                    && !key.starts_with(':')
                    && key != "service"
                    && key != "_aws";
                if fits {
                    group.dimensions.push((key, value));
                } else {
                    group.properties.push((key, value));
                }
            }
            group
        });
        group.timestamp_ms = group.timestamp_ms.max(time_unix_nano / 1_000_000);
        let series = group.metrics.entry(name.to_owned()).or_insert(Series { unit, values: Vec::new() });
        let before = series.values.len();
        series.values.extend(values.iter().copied().filter(|v| v.is_finite()));
        self.pending_values += series.values.len() - before;
    }

    /// Whether anything waits for [`Emf::write`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes what was added since the last call as EMF lines, one per dimension set (more only
    /// past the per-line limits), and forgets it; returns the lines written. A metric whose name
    /// is also a dimension's is written under `<name>.value`.
    ///
    /// # Errors
    /// When `out` fails; what was pending is gone either way (stdout failing is not retried).
    pub fn write(&mut self, out: &mut impl Write, now_ms: u64) -> std::io::Result<usize> {
        let mut lines = 0;
        self.pending_values = 0;
        for group in std::mem::take(&mut self.pending).into_values() {
            for line in self.lines(group, now_ms) {
                let mut text = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
                text.push(b'\n');
                out.write_all(&text)?;
                lines += 1;
            }
        }
        out.flush()?;
        Ok(lines)
    }

    fn lines(&self, group: Group, now_ms: u64) -> Vec<Value> {
        // CloudWatch refuses a line whose time is too old or too far ahead: those take the flush's.
        let acceptable = now_ms.saturating_sub(OLDEST_MS)..=now_ms.saturating_add(NEWEST_MS);
        let timestamp = if acceptable.contains(&group.timestamp_ms) { group.timestamp_ms } else { now_ms };
        let taken: Vec<(String, Series)> = group
            .metrics
            .into_iter()
            .filter(|(_, series)| !series.values.is_empty())
            .map(|(name, series)| {
                let clash = group.dimensions.iter().chain(&group.properties).any(|(k, _)| *k == name);
                (if clash { format!("{name}.value") } else { name }, series)
            })
            .collect();
        let mut out = Vec::new();
        for metrics in taken.chunks(MAX_METRICS) {
            let rounds = metrics.iter().map(|(_, s)| s.values.len().div_ceil(MAX_VALUES)).max().unwrap_or(0);
            for round in 0..rounds {
                let mut root = Map::new();
                let mut definitions = Vec::new();
                for (name, series) in metrics {
                    let Some(chunk) = series.values.chunks(MAX_VALUES).nth(round) else { continue };
                    definitions.push(serde_json::json!({ "Name": name, "Unit": series.unit }));
                    let value = match chunk {
                        [one] => serde_json::json!(one),
                        many => serde_json::json!(many),
                    };
                    root.insert(name.clone(), value);
                }
                for (key, value) in group.properties.iter().chain(&group.dimensions) {
                    root.insert(key.clone(), Value::String(value.clone()));
                }
                let dimension_names: Vec<&str> = group.dimensions.iter().map(|(k, _)| k.as_str()).collect();
                root.insert(
                    "_aws".to_owned(),
                    serde_json::json!({
                        "Timestamp": timestamp,
                        "CloudWatchMetrics": [{
                            "Namespace": self.namespace,
                            "Dimensions": [dimension_names],
                            "Metrics": definitions,
                        }],
                    }),
                );
                out.push(Value::Object(root));
            }
        }
        out
    }
}

/// Attributes with a value per invocation: a dimension of them would make a CloudWatch metric
/// per request (cost, and no aggregate), so they stay plain members of the line.
fn per_invocation(key: &str) -> bool {
    matches!(key, "faas.invocation_id" | "faas.instance" | "aws.request_id" | "trace_id" | "span_id")
        || key.ends_with("request_id")
        || key.ends_with("requestId")
}

/// A data point's attributes as sorted `(key, text)` pairs, one per key; attributes with no
/// text form (arrays, maps) are left out.
fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> =
        attributes.iter().filter_map(|kv| Some((kv.key.clone(), attribute_text(kv.value.as_ref())?))).collect();
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    pairs
}

/// A series' identity for its cumulative state: name, start time and attributes.
fn series_key(name: &str, attributes: &[KeyValue], start: u64) -> String {
    let mut key = format!("{name}\u{1}{start}");
    for (k, v) in pairs(attributes) {
        key.push('\u{2}');
        key.push_str(&k);
        key.push('\u{1}');
        key.push_str(&v);
    }
    key
}

fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(value)) => value,
        Some(number_data_point::Value::AsInt(value)) => value as f64,
        None => 0.0,
    }
}

/// An attribute as a dimension value: strings as they are, numbers and booleans as text.
fn attribute_text(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::BoolValue(flag) => Some(flag.to_string()),
        any_value::Value::IntValue(number) => Some(number.to_string()),
        any_value::Value::DoubleValue(number) => Some(number.to_string()),
        _ => None,
    }
}

/// CloudWatch's unit for an OTLP (UCUM) unit; annotations like `{invocation}` count things.
#[must_use]
pub fn unit(ucum: &str) -> &'static str {
    match ucum {
        "s" => "Seconds",
        "ms" => "Milliseconds",
        "us" => "Microseconds",
        "By" => "Bytes",
        "KiBy" | "kBy" => "Kilobytes",
        "MiBy" | "MBy" => "Megabytes",
        "GiBy" | "GBy" => "Gigabytes",
        "bit" => "Bits",
        "%" => "Percent",
        "By/s" => "Bytes/Second",
        "1" => "Count",
        unit if unit.starts_with('{') && unit.ends_with('}') => "Count",
        _ => "None",
    }
}

/// Spreads `counts` (observations per bucket) over at most [`MAX_VALUES`] values, in proportion
/// (largest remainders), each bucket with at least one value when it has any.
fn proportional(counts: &[u64]) -> Vec<u64> {
    // Counts come from the function: their sum may not fit in a u64.
    let total: u128 = counts.iter().map(|c| u128::from(*c)).sum();
    if total <= MAX_VALUES as u128 {
        return counts.to_vec();
    }
    let nonzero = counts.iter().filter(|c| **c > 0).count() as u64;
    let room = (MAX_VALUES as u64).max(nonzero);
    let mut shares: Vec<(u64, u128, usize)> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let exact = u128::from(*c) * u128::from(room);
            let floor = u64::try_from(exact / total).unwrap_or(u64::MAX);
            (floor.max(u64::from(*c > 0)), exact % total, i)
        })
        .collect();
    let mut given: u64 = shares.iter().map(|s| s.0).sum();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1));
    for index in order {
        if given >= room {
            break;
        }
        if counts[shares[index].2] > 0 {
            shares[index].0 += 1;
            given += 1;
        }
    }
    shares.into_iter().map(|s| s.0).collect()
}

/// The representative value of each bucket of an explicit-bounds histogram (the middle of its
/// bounds, the observed min and max closing the open ends), once per observation.
fn histogram_values(point: &HistogramDataPoint, counts: &[u64]) -> Vec<f64> {
    let bounds = &point.explicit_bounds;
    let weights = proportional(counts);
    let mut values = Vec::new();
    for (index, weight) in weights.iter().enumerate() {
        if *weight == 0 {
            continue;
        }
        let lower = match index.checked_sub(1) {
            None => point.min.unwrap_or_else(|| bounds.first().map_or(0.0, |b| b.min(0.0))),
            Some(previous) => bounds.get(previous).or(bounds.last()).copied().unwrap_or(0.0),
        };
        let upper = match bounds.get(index) {
            Some(bound) => *bound,
            None => point.max.unwrap_or(lower),
        };
        let middle = lower.min(upper) + (upper - lower.min(upper)) / 2.0;
        values.extend(std::iter::repeat_n(within(middle, point.min, point.max), *weight as usize));
    }
    values
}

/// The same for an exponential histogram: bucket `i` holds `(base^i, base^(i+1)]`, represented
/// by `base^(i+0.5)`.
fn exponential_values(point: &ExponentialHistogramDataPoint) -> Vec<f64> {
    // The scale was checked to be one OpenTelemetry defines, so this neither overflows nor is 1.
    let base = 2f64.powf(2f64.powi(point.scale.saturating_neg()));
    let mut counts = vec![point.zero_count];
    let mut representatives = vec![0.0];
    for (buckets, sign) in [(&point.positive, 1.0), (&point.negative, -1.0)] {
        if let Some(buckets) = buckets {
            for (k, count) in buckets.bucket_counts.iter().enumerate() {
                let index = f64::from(buckets.offset) + k as f64;
                counts.push(*count);
                representatives.push(sign * base.powf(index + 0.5));
            }
        }
    }
    let weights = proportional(&counts);
    representatives
        .into_iter()
        .zip(weights)
        .flat_map(|(value, weight)| std::iter::repeat_n(within(value, point.min, point.max), weight as usize))
        .collect()
}

/// `value` kept within the observed bounds, when they are given and make sense.
fn within(value: f64, min: Option<f64>, max: Option<f64>) -> f64 {
    let value = min.filter(|min| value < *min).unwrap_or(value);
    max.filter(|max| value > *max).unwrap_or(value)
}

#[cfg(test)]
mod tests;
