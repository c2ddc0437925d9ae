//! Invocation metrics, aggregated in the process and exported with the spans: invocations,
//! errors, cold starts, rejections by reason and a duration histogram, following the
//! OpenTelemetry FaaS metric conventions. Cumulative, so a lost export is made good by the next.
//!
//! Attributes are only ever low-cardinality: the trigger, the route template (never a raw
//! path), the outcome and the rejection reason. Past [`MAX_SERIES`] combinations, new ones
//! are counted in one overflow series (`otel.metric.overflow=true`), as the SDKs do.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum, metric, number_data_point,
};

use super::span::{Value, key_value, unix_nanos};
use crate::interceptor::Detection;

/// Attribute combinations kept before new ones go to the overflow series.
pub(crate) const MAX_SERIES: usize = 200;

/// Bucket bounds of `faas.invoke_duration`, in seconds (those of `http.server.request.duration`).
const BOUNDS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// How an invocation ended, for the `intercept.outcome` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    Success,
    Error,
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    trigger: &'static str,
    route: Option<String>,
    /// The effective digest of the policy that decided (one per version in force).
    policy: String,
    outcome: Outcome,
    reason: Option<&'static str>,
    overflow: bool,
}

#[derive(Debug, Clone, Default)]
struct Series {
    count: u64,
    cold_starts: u64,
    buckets: [u64; BOUNDS.len() + 1],
    sum: f64,
    min: f64,
    max: f64,
}

#[derive(Debug, Default)]
struct State {
    /// By a hash of the key's parts, so a lookup allocates nothing; collisions share a bucket.
    series: HashMap<u64, Vec<(SeriesKey, Series)>, foldhash::fast::FixedState>,
    count: usize,
    /// Few series (routes × rules), so a list; past [`MAX_SERIES`] they count in the overflow.
    detections: Vec<(DetectionKey, u64)>,
    dropped_spans: u64,
    /// New policy versions that could not be used (`intercept.policy.errors`).
    policy_errors: u64,
    changed: bool,
}

impl State {
    /// The series matching `matches` in the bucket of `hash`, made with `key` when absent.
    fn series(
        &mut self,
        hash: u64,
        matches: impl Fn(&SeriesKey) -> bool,
        key: impl FnOnce() -> SeriesKey,
    ) -> &mut Series {
        let bucket = self.series.entry(hash).or_default();
        let index = match bucket.iter().position(|(existing, _)| matches(existing)) {
            Some(index) => index,
            None => {
                self.count += 1;
                bucket.push((key(), Series::default()));
                bucket.len() - 1
            }
        };
        &mut bucket[index].1
    }

    fn contains(&self, hash: u64, matches: impl Fn(&SeriesKey) -> bool) -> bool {
        self.series.get(&hash).is_some_and(|bucket| bucket.iter().any(|(key, _)| matches(key)))
    }
}

fn key_hash(
    trigger: &str,
    route: Option<&str>,
    policy: &str,
    outcome: Outcome,
    reason: Option<&str>,
    overflow: bool,
) -> u64 {
    foldhash::fast::FixedState::default().hash_one((trigger, route, policy, outcome, reason, overflow))
}

/// One invocation's measurements.
#[derive(Debug, Clone)]
pub(crate) struct Measurement<'a> {
    pub(crate) trigger: &'static str,
    pub(crate) route: Option<&'a str>,
    pub(crate) outcome: Outcome,
    pub(crate) reason: Option<&'static str>,
    pub(crate) cold_start: bool,
    pub(crate) duration: Duration,
    /// The effective digest of the policy that decided.
    pub(crate) policy: &'a str,
    /// What filters in detect mode would have refused (the invocation went on).
    pub(crate) detections: &'a [Detection],
}

/// One series of `intercept.detections`: trigger, route template, filter, reason, rule name
/// (rules come from the configuration, so their names are few).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DetectionKey {
    trigger: &'static str,
    route: Option<String>,
    policy: String,
    filter: &'static str,
    reason: &'static str,
    rule: Option<String>,
}

/// The metrics of one execution environment.
#[derive(Debug)]
pub(crate) struct Metrics {
    start_unix_nanos: u64,
    state: Mutex<State>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics { start_unix_nanos: unix_nanos(), state: Mutex::new(State::default()) }
    }

    pub(crate) fn record(&self, m: &Measurement<'_>) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut *state;
        let hash = key_hash(m.trigger, m.route, m.policy, m.outcome, m.reason, false);
        let matches = |key: &SeriesKey| {
            !key.overflow
                && key.trigger == m.trigger
                && key.route.as_deref() == m.route
                && key.policy == m.policy
                && key.outcome == m.outcome
                && key.reason == m.reason
        };
        let series = if state.count < MAX_SERIES || state.contains(hash, matches) {
            let key = || SeriesKey {
                trigger: m.trigger,
                route: m.route.map(str::to_owned),
                policy: m.policy.to_owned(),
                outcome: m.outcome,
                reason: m.reason,
                overflow: false,
            };
            state.series(hash, matches, key)
        } else {
            let hash = key_hash("", None, "", m.outcome, None, true);
            let overflow = |key: &SeriesKey| key.overflow && key.outcome == m.outcome;
            let key = || SeriesKey {
                trigger: "",
                route: None,
                policy: String::new(),
                outcome: m.outcome,
                reason: None,
                overflow: true,
            };
            state.series(hash, overflow, key)
        };
        let seconds = m.duration.as_secs_f64();
        if series.count == 0 || seconds < series.min {
            series.min = seconds;
        }
        series.max = series.max.max(seconds);
        series.count += 1;
        series.cold_starts += u64::from(m.cold_start);
        series.sum += seconds;
        series.buckets[BOUNDS.partition_point(|bound| *bound < seconds)] += 1;
        for detection in m.detections {
            let matches = |key: &DetectionKey| {
                key.trigger == m.trigger
                    && key.route.as_deref() == m.route
                    && key.policy == m.policy
                    && key.filter == detection.filter
                    && key.reason == detection.reason
                    && key.rule == detection.rule
            };
            match state.detections.iter().position(|(key, _)| matches(key)) {
                Some(index) => state.detections[index].1 += 1,
                None if state.detections.len() < MAX_SERIES => state.detections.push((
                    DetectionKey {
                        trigger: m.trigger,
                        route: m.route.map(str::to_owned),
                        policy: m.policy.to_owned(),
                        filter: detection.filter,
                        reason: detection.reason,
                        rule: detection.rule.clone(),
                    },
                    1,
                )),
                None => {
                    let overflow = DetectionKey {
                        trigger: "",
                        route: None,
                        policy: String::new(),
                        filter: "",
                        reason: "",
                        rule: None,
                    };
                    match state.detections.iter().position(|(key, _)| key.trigger.is_empty()) {
                        Some(index) => state.detections[index].1 += 1,
                        None => state.detections.push((overflow, 1)),
                    }
                }
            }
        }
        state.changed = true;
    }

    /// Counts spans an export could not deliver.
    pub(crate) fn add_dropped_spans(&self, count: u64) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.dropped_spans += count;
        state.changed = true;
    }

    /// Counts a new policy version that could not be used.
    pub(crate) fn add_policy_error(&self) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.policy_errors += 1;
        state.changed = true;
    }

    /// Marks the metrics as changed again, so the next [`Metrics::collect`] sends them (after an
    /// export that failed).
    pub(crate) fn resend(&self) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).changed = true;
    }

    /// Every metric, when something changed since the last call.
    pub(crate) fn collect(&self) -> Option<Vec<Metric>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !std::mem::take(&mut state.changed) {
            return None;
        }
        let (start, now) = (self.start_unix_nanos, unix_nanos());
        let point = |attributes: Vec<KeyValue>, value: u64| NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsInt(i64::try_from(value).unwrap_or(i64::MAX))),
            ..NumberDataPoint::default()
        };
        let (mut invocations, mut errors, mut cold, mut rejections, mut durations) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut keys: Vec<(&SeriesKey, &Series)> = state.series.values().flatten().map(|(k, s)| (k, s)).collect();
        keys.sort_by(|a, b| {
            (a.0.trigger, &a.0.route, a.0.outcome.as_str(), a.0.reason).cmp(&(
                b.0.trigger,
                &b.0.route,
                b.0.outcome.as_str(),
                b.0.reason,
            ))
        });
        for (key, series) in keys {
            let base = attributes(key, false);
            invocations.push(point(attributes(key, true), series.count));
            if series.cold_starts > 0 {
                cold.push(point(base.clone(), series.cold_starts));
            }
            match key.outcome {
                Outcome::Error => errors.push(point(base.clone(), series.count)),
                Outcome::Rejected => rejections.push(point(attributes(key, true), series.count)),
                Outcome::Success => {}
            }
            durations.push(HistogramDataPoint {
                attributes: attributes(key, true),
                start_time_unix_nano: start,
                time_unix_nano: now,
                count: series.count,
                sum: Some(series.sum),
                bucket_counts: series.buckets.to_vec(),
                explicit_bounds: BOUNDS.to_vec(),
                min: Some(series.min),
                max: Some(series.max),
                ..HistogramDataPoint::default()
            });
        }
        let detections = state
            .detections
            .iter()
            .map(|(key, count)| {
                if key.trigger.is_empty() {
                    return point(vec![key_value("otel.metric.overflow", Value::Bool(true))], *count);
                }
                let mut attributes = vec![key_value("faas.trigger", Value::from(key.trigger))];
                if let Some(route) = &key.route {
                    attributes.push(key_value("http.route", Value::from(route.clone())));
                }
                attributes.push(key_value("intercept.mode", Value::from("detect")));
                attributes.push(key_value("intercept.filter", Value::from(key.filter)));
                attributes.push(key_value("intercept.reason", Value::from(key.reason)));
                if let Some(rule) = &key.rule {
                    attributes.push(key_value("intercept.ratelimit.rule", Value::from(rule.clone())));
                }
                if !key.policy.is_empty() {
                    attributes.push(key_value("intercept.policy.digest", Value::from(key.policy.clone())));
                }
                point(attributes, *count)
            })
            .collect();
        let dropped = vec![point(vec![key_value("signal", Value::from("traces"))], state.dropped_spans)];
        let policy_errors = state.policy_errors;
        let mut metrics = vec![
            sum("faas.invocations", "Invocations, by trigger, route and outcome", "{invocation}", invocations),
            sum("faas.errors", "Invocations that failed (handler error or 5xx)", "{error}", errors),
            sum("faas.coldstarts", "Invocations that started an execution environment", "{coldstart}", cold),
            sum("intercept.rejections", "Invocations refused by a filter, by reason", "{rejection}", rejections),
            sum(
                "intercept.detections",
                "Refusals a filter in detect mode would have made (the invocation went on), by filter and reason",
                "{detection}",
                detections,
            ),
            Metric {
                name: "faas.invoke_duration".to_owned(),
                description: "Time from the event to the answer, filters and handler included".to_owned(),
                unit: "s".to_owned(),
                data: Some(metric::Data::Histogram(Histogram {
                    data_points: durations,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Metric::default()
            },
            sum(
                "intercept.telemetry.dropped",
                "Spans the receiver could not take within the flush deadline",
                "{span}",
                dropped,
            ),
        ];
        if policy_errors > 0 {
            metrics.push(sum(
                "intercept.policy.errors",
                "New policy versions that could not be used (unreadable or invalid); the last good one stayed",
                "{error}",
                vec![point(Vec::new(), policy_errors)],
            ));
        }
        Some(metrics)
    }
}

fn attributes(key: &SeriesKey, with_outcome: bool) -> Vec<KeyValue> {
    if key.overflow {
        return vec![key_value("otel.metric.overflow", Value::Bool(true))];
    }
    let mut out = vec![key_value("faas.trigger", Value::from(key.trigger))];
    if let Some(route) = &key.route {
        out.push(key_value("http.route", Value::from(route.clone())));
    }
    if !key.policy.is_empty() {
        out.push(key_value("intercept.policy.digest", Value::from(key.policy.clone())));
    }
    if with_outcome {
        out.push(key_value("intercept.outcome", Value::from(key.outcome.as_str())));
        if let Some(reason) = key.reason {
            out.push(key_value("intercept.reason", Value::from(reason)));
        }
    }
    out
}

fn sum(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Metric::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure<'a>(route: Option<&'a str>, outcome: Outcome, reason: Option<&'static str>, ms: u64) -> Measurement<'a> {
        Measurement {
            trigger: "http",
            route,
            outcome,
            reason,
            cold_start: false,
            duration: Duration::from_millis(ms),
            policy: "",
            detections: &[],
        }
    }

    fn points(metric: &Metric) -> Vec<(Vec<String>, i64)> {
        let Some(metric::Data::Sum(sum)) = &metric.data else { panic!("{metric:?}") };
        sum.data_points
            .iter()
            .map(|p| {
                let attrs = p
                    .attributes
                    .iter()
                    .map(|kv| format!("{}={:?}", kv.key, kv.value.as_ref().and_then(|v| v.value.clone())))
                    .collect();
                let Some(number_data_point::Value::AsInt(v)) = p.value else { panic!("{p:?}") };
                (attrs, v)
            })
            .collect()
    }

    #[test]
    fn counts_by_outcome_and_reason_and_buckets_durations() {
        let metrics = Metrics::new();
        metrics.record(&Measurement { cold_start: true, ..measure(Some("/orders/{id}"), Outcome::Success, None, 3) });
        metrics.record(&measure(Some("/orders/{id}"), Outcome::Success, None, 300));
        metrics.record(&measure(Some("/orders/{id}"), Outcome::Rejected, Some("rate_limited"), 1));
        metrics.record(&measure(None, Outcome::Error, None, 20));
        let all = metrics.collect().expect("changed");
        assert!(metrics.collect().is_none(), "nothing new");
        let by_name = |name: &str| all.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name}"));
        let invocations: i64 = points(by_name("faas.invocations")).iter().map(|(_, v)| v).sum();
        assert_eq!(invocations, 4);
        assert_eq!(points(by_name("faas.coldstarts")).len(), 1);
        assert_eq!(points(by_name("faas.errors")), [(vec!["faas.trigger=Some(StringValue(\"http\"))".to_owned()], 1)]);
        let rejections = points(by_name("intercept.rejections"));
        assert_eq!(rejections.len(), 1);
        assert!(rejections[0].0.iter().any(|a| a.contains("rate_limited")), "{rejections:?}");
        let Some(metric::Data::Histogram(histogram)) = &by_name("faas.invoke_duration").data else { panic!() };
        let success = histogram.data_points.iter().find(|p| p.count == 2).expect("success series");
        assert_eq!(success.bucket_counts[0], 1, "3 ms in the first bucket");
        assert_eq!(success.bucket_counts[7], 1, "300 ms in (0.25, 0.5]");
        assert_eq!((success.min, success.max), (Some(0.003), Some(0.3)));
    }

    #[test]
    fn series_beyond_the_cap_overflow() {
        let metrics = Metrics::new();
        let routes: Vec<String> = (0..MAX_SERIES + 50).map(|i| format!("/r{i}")).collect();
        for route in &routes {
            metrics.record(&measure(Some(route), Outcome::Success, None, 1));
        }
        let all = metrics.collect().expect("changed");
        let invocations = points(&all[0]);
        assert_eq!(invocations.len(), MAX_SERIES + 1);
        let overflow = invocations.iter().find(|(a, _)| a[0].starts_with("otel.metric.overflow")).expect("overflow");
        assert_eq!(overflow.1, 50);
    }

    #[test]
    fn detections_count_by_route_filter_reason_and_rule() {
        let metrics = Metrics::new();
        let auth = Detection { filter: "authentication", reason: "missing_token", rule: None };
        let rule = Detection { filter: "ratelimit", reason: "rate_limited", rule: Some("trial".to_owned()) };
        let both = [auth.clone(), rule];
        let one = [auth];
        metrics.record(&Measurement { detections: &both, ..measure(Some("/orders"), Outcome::Success, None, 1) });
        metrics.record(&Measurement { detections: &one, ..measure(Some("/orders"), Outcome::Success, None, 1) });
        metrics.record(&measure(Some("/orders"), Outcome::Success, None, 1));
        let all = metrics.collect().expect("changed");
        let detections = all.iter().find(|m| m.name == "intercept.detections").expect("intercept.detections");
        let mut points = points(detections);
        points.sort();
        assert_eq!(points.len(), 2, "{points:?}");
        let (auth_attributes, auth_count) = &points[0];
        assert_eq!(*auth_count, 2);
        assert!(auth_attributes.iter().any(|a| a.contains("missing_token")), "{auth_attributes:?}");
        assert!(auth_attributes.iter().any(|a| a.starts_with("intercept.mode=") && a.contains("detect")));
        let (rule_attributes, rule_count) = &points[1];
        assert_eq!(*rule_count, 1);
        assert!(rule_attributes.iter().any(|a| a.starts_with("intercept.ratelimit.rule=") && a.contains("trial")));
        // Detections are not rejections: the invocations succeeded.
        let rejections = all.iter().find(|m| m.name == "intercept.rejections").expect("intercept.rejections");
        assert!(super::tests::points(rejections).is_empty());
    }
}
