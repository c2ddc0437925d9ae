//! Span links for batch and event triggers: a batch has many parents, so each record's trace
//! context becomes a link rather than the parent.
//!
//! - SQS: `attributes.AWSTraceHeader` (X-Ray) and `messageAttributes.traceparent` /
//!   `tracestate` (W3C, as OpenTelemetry's SQS instrumentations write them).
//! - SNS: `Sns.MessageAttributes.traceparent` / `tracestate` / `AWSTraceHeader`.
//! - EventBridge: AWS does not put the X-Ray header on the delivered event (Lambda's own trace
//!   id carries it), so only a W3C `traceparent` / `tracestate` in `detail` is read.

use std::collections::HashMap;

use opentelemetry_proto::tonic::trace::v1::span::Link;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::context::{parse_traceparent, parse_xray};
use super::settings::Propagators;
use super::span::string;

/// What a non-HTTP event tells about its trigger: the `faas.trigger`, the messaging system, how
/// many records, and a link per record with a trace context.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EventTrigger {
    pub(crate) trigger: &'static str,
    pub(crate) system: Option<&'static str>,
    pub(crate) records: usize,
    pub(crate) links: Vec<Link>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Probe {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    source: Option<String>,
    id: Option<String>,
    detail: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Record {
    #[serde(rename = "eventSource", alias = "EventSource")]
    event_source: Option<String>,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    attributes: HashMap<String, serde_json::Value>,
    #[serde(rename = "messageAttributes")]
    message_attributes: HashMap<String, SqsAttribute>,
    #[serde(rename = "Sns")]
    sns: Option<Sns>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SqsAttribute {
    #[serde(rename = "stringValue")]
    string_value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Sns {
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "MessageAttributes")]
    message_attributes: HashMap<String, SnsAttribute>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SnsAttribute {
    #[serde(rename = "Value")]
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Detail {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

/// Reads a non-HTTP event's trigger and links; `None` for events of no known shape.
pub(crate) fn event_trigger(raw: &RawValue, propagators: Propagators) -> Option<EventTrigger> {
    let text = raw.get();
    // Most direct invokes carry neither key; skip the parse for them.
    if !text.contains("\"Records\"") && !text.contains("\"detail-type\"") {
        return None;
    }
    let probe: Probe = serde_json::from_str(text).ok()?;
    if let Some(records) = probe.records {
        let source = records.first().and_then(|r| r.event_source.as_deref());
        let system = match source {
            Some("aws:sqs") => Some("aws_sqs"),
            Some("aws:sns") => Some("aws_sns"),
            _ => None,
        };
        let trigger =
            if matches!(source, Some("aws:s3" | "aws:dynamodb" | "aws:kinesis")) { "datasource" } else { "pubsub" };
        let links = records.iter().filter_map(|record| record_link(record, propagators)).collect();
        return Some(EventTrigger { trigger, system, records: records.len(), links });
    }
    let detail_type = probe.detail_type?;
    let scheduled = detail_type == "Scheduled Event" && probe.source.as_deref() == Some("aws.events");
    let mut links = Vec::new();
    if propagators.tracecontext
        && let Some(detail) = probe.detail
        && let Ok(detail) = serde_json::from_str::<Detail>(detail.get())
        && let Some(link) = w3c_link(detail.traceparent.as_deref(), detail.tracestate.as_deref(), probe.id.as_deref())
    {
        links.push(link);
    }
    Some(EventTrigger { trigger: if scheduled { "timer" } else { "pubsub" }, system: None, records: 1, links })
}

fn record_link(record: &Record, propagators: Propagators) -> Option<Link> {
    let (traceparent, tracestate, xray, message_id) = match &record.sns {
        Some(sns) => {
            let get = |key: &str| sns.message_attributes.get(key).and_then(|a| a.value.as_deref());
            (get("traceparent"), get("tracestate"), get("AWSTraceHeader"), sns.message_id.as_deref())
        }
        None => {
            let get = |key: &str| record.message_attributes.get(key).and_then(|a| a.string_value.as_deref());
            let xray = record.attributes.get("AWSTraceHeader").and_then(serde_json::Value::as_str);
            (get("traceparent"), get("tracestate"), xray, record.message_id.as_deref())
        }
    };
    if propagators.tracecontext
        && let Some(link) = w3c_link(traceparent, tracestate, message_id)
    {
        return Some(link);
    }
    if propagators.xray
        && let Some(header) = xray
    {
        match parse_xray(header) {
            Some(xray) => {
                return Some(link(xray.trace_id, xray.parent.unwrap_or_default(), String::new(), message_id));
            }
            None => tracing::debug!(header, "ignoring a record's malformed AWSTraceHeader"),
        }
    }
    None
}

fn w3c_link(traceparent: Option<&str>, tracestate: Option<&str>, message_id: Option<&str>) -> Option<Link> {
    let header = traceparent?;
    match parse_traceparent(header) {
        Some((trace_id, parent, _)) => {
            Some(link(trace_id, parent, tracestate.unwrap_or_default().trim().to_owned(), message_id))
        }
        None => {
            tracing::debug!(traceparent = header, "ignoring a record's malformed traceparent");
            None
        }
    }
}

fn link(trace_id: [u8; 16], span_id: [u8; 8], trace_state: String, message_id: Option<&str>) -> Link {
    Link {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        trace_state,
        attributes: message_id.map(|id| vec![string("messaging.message.id", id)]).unwrap_or_default(),
        ..Link::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(json: &str) -> Option<EventTrigger> {
        event_trigger(&RawValue::from_string(json.to_owned()).expect("json"), Propagators::default())
    }

    #[test]
    fn sqs_batch_links_each_record() {
        let event = trigger(
            r#"{"Records":[
            {"messageId":"m1","eventSource":"aws:sqs","body":"a",
             "attributes":{"AWSTraceHeader":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
             "messageAttributes":{}},
            {"messageId":"m2","eventSource":"aws:sqs","body":"b","attributes":{},
             "messageAttributes":{"traceparent":{"stringValue":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","dataType":"String"}}},
            {"messageId":"m3","eventSource":"aws:sqs","body":"c","attributes":{"AWSTraceHeader":"garbage"},"messageAttributes":{}}
            ]}"#,
        )
        .expect("sqs");
        assert_eq!((event.trigger, event.system, event.records), ("pubsub", Some("aws_sqs"), 3));
        let links: Vec<(String, String)> =
            event.links.iter().map(|l| (hex::encode(&l.trace_id), hex::encode(&l.span_id))).collect();
        assert_eq!(
            links,
            [
                ("5759e988bd862e3fe1be46a994272793".to_owned(), "53995c3f42cd8ad8".to_owned()),
                ("0af7651916cd43dd8448eb211c80319c".to_owned(), "b7ad6b7169203331".to_owned()),
            ]
        );
    }

    #[test]
    fn sns_and_eventbridge() {
        let sns = trigger(
            r#"{"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"n1",
            "MessageAttributes":{"traceparent":{"Type":"String","Value":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}}}]}"#,
        )
        .expect("sns");
        assert_eq!((sns.system, sns.links.len()), (Some("aws_sns"), 1));
        let bridge = trigger(
            r#"{"id":"e1","detail-type":"OrderPlaced","source":"shop",
            "detail":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"k=v"}}"#,
        )
        .expect("eventbridge");
        assert_eq!((bridge.trigger, bridge.links.len()), ("pubsub", 1));
        assert_eq!(bridge.links[0].trace_state, "k=v");
        let schedule =
            trigger(r#"{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#).expect("timer");
        assert_eq!((schedule.trigger, schedule.links.len()), ("timer", 0));
        assert_eq!(trigger(r#"{"hello":"world"}"#), None);
    }
}
