//! Scrubbing the log records the function's own OpenTelemetry SDK exports: a handler that
//! logs its event through the SDK would otherwise ship its credentials to the collector.
//!
//! The records do not reliably carry the invocation's request id, so every kept secret of
//! [`LogSecrets`](crate::LogSecrets) is looked for, with the redactor's names: in the body's
//! strings (nested in arrays and key/value lists too) and in the record's attribute values. A
//! value under a sensitive name (`password`, `http.request.header.authorization`) is replaced
//! whole. Strings are rewritten only where something was found.

use std::borrow::Cow;

use intercept::telemetry::REDACTED;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use crate::secrets::Scrubber;

/// Scrubs every record's body and attributes in place; `true` when anything changed.
pub(crate) fn scrub_logs(request: &mut ExportLogsServiceRequest, scrubber: &Scrubber<'_>) -> bool {
    let mut changed = false;
    let records = request.resource_logs.iter_mut().flat_map(|r| &mut r.scope_logs).flat_map(|s| &mut s.log_records);
    for record in records {
        if let Some(body) = &mut record.body {
            changed |= scrub_value(body, scrubber, false);
        }
        changed |= scrub_attributes(&mut record.attributes, scrubber);
    }
    changed
}

fn scrub_attributes(attributes: &mut [KeyValue], scrubber: &Scrubber<'_>) -> bool {
    let mut changed = false;
    for attribute in attributes {
        if let Some(value) = &mut attribute.value {
            changed |= scrub_value(value, scrubber, is_sensitive_key(&attribute.key, scrubber));
        }
    }
    changed
}

/// A sensitive name, or a dotted one ending in one: the semantic conventions record headers
/// as `http.request.header.<name>`.
fn is_sensitive_key(key: &str, scrubber: &Scrubber<'_>) -> bool {
    scrubber.is_sensitive(key) || key.rsplit_once('.').is_some_and(|(_, last)| scrubber.is_sensitive(last))
}

/// Under a sensitive name, a scalar is replaced by the marker, an array's elements each are,
/// and a list's members are looked at by their own names (as the text scrubber treats JSON);
/// a boolean carries no secret.
fn scrub_value(value: &mut AnyValue, scrubber: &Scrubber<'_>, sensitive: bool) -> bool {
    let Some(inner) = value.value.as_mut() else { return false };
    if sensitive && !matches!(inner, Value::ArrayValue(_) | Value::KvlistValue(_) | Value::BoolValue(_)) {
        if matches!(inner, Value::StringValue(text) if text == REDACTED) {
            return false;
        }
        *inner = Value::StringValue(REDACTED.to_owned());
        return true;
    }
    match inner {
        Value::StringValue(text) => {
            let scrubbed = match scrubber.scrub(text) {
                Cow::Borrowed(_) => return false,
                Cow::Owned(scrubbed) => scrubbed,
            };
            *text = scrubbed;
            true
        }
        // Bytes that are text (a payload logged as bytes) are scrubbed as text.
        Value::BytesValue(bytes) => {
            let scrubbed = match std::str::from_utf8(bytes).map(|text| scrubber.scrub(text)) {
                Ok(Cow::Owned(scrubbed)) => scrubbed,
                Ok(Cow::Borrowed(_)) | Err(_) => return false,
            };
            *bytes = scrubbed.into_bytes();
            true
        }
        Value::ArrayValue(array) => {
            array.values.iter_mut().fold(false, |changed, value| scrub_value(value, scrubber, sensitive) | changed)
        }
        Value::KvlistValue(list) => scrub_attributes(&mut list.values, scrubber),
        // An index into a profile's string table: no text here.
        Value::BoolValue(_) | Value::IntValue(_) | Value::DoubleValue(_) | Value::StringValueStrindex(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    use super::*;
    use crate::LogSecrets;

    fn string(text: &str) -> AnyValue {
        AnyValue { value: Some(Value::StringValue(text.to_owned())) }
    }

    fn pair(key: &str, value: AnyValue) -> KeyValue {
        KeyValue { key: key.to_owned(), value: Some(value), ..KeyValue::default() }
    }

    fn request(body: AnyValue, attributes: Vec<KeyValue>) -> ExportLogsServiceRequest {
        let record = LogRecord { body: Some(body), attributes, severity_number: 9, ..LogRecord::default() };
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs { log_records: vec![record], ..ScopeLogs::default() }],
                ..ResourceLogs::default()
            }],
        }
    }

    fn secrets() -> LogSecrets {
        let secrets = LogSecrets::new(intercept::telemetry::Redactor::default());
        let event = r#"{"version":"2.0","rawPath":"/","headers":{"authorization":"Bearer t0ken-of-alice"},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}"#;
        secrets.register("r1", event.as_bytes());
        secrets
    }

    #[test]
    fn nested_strings_and_sensitive_names_are_scrubbed() {
        let secrets = secrets();
        let body = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![
                    pair("message", string("saw t0ken-of-alice")),
                    pair(
                        "list",
                        AnyValue {
                            value: Some(Value::ArrayValue(ArrayValue {
                                values: vec![string("x t0ken-of-alice"), string("kept")],
                            })),
                        },
                    ),
                    pair("password", AnyValue { value: Some(Value::IntValue(123_456)) }),
                    pair("bytes", AnyValue { value: Some(Value::BytesValue(b"b t0ken-of-alice".to_vec())) }),
                    pair("flag", AnyValue { value: Some(Value::BoolValue(true)) }),
                ],
            })),
        };
        let header =
            AnyValue { value: Some(Value::ArrayValue(ArrayValue { values: vec![string("Basic dXNlcjpwYXNz")] })) };
        let mut request = request(
            body,
            vec![
                pair("http.request.header.authorization", header),
                pair("user.secret_answer", string("blue")),
                pair("http.route", string("/orders")),
            ],
        );
        assert!(scrub_logs(&mut request, &secrets.scrubber()));
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        let Some(Value::KvlistValue(body)) = record.body.as_ref().and_then(|b| b.value.clone()) else { panic!() };
        let values: Vec<_> = body.values.iter().map(|kv| kv.value.clone().and_then(|v| v.value)).collect();
        let redacted = Some(Value::StringValue(REDACTED.to_owned()));
        assert_eq!(values[0], Some(Value::StringValue(format!("saw {REDACTED}"))));
        assert_eq!(
            values[1],
            Some(Value::ArrayValue(ArrayValue { values: vec![string(&format!("x {REDACTED}")), string("kept")] }))
        );
        assert_eq!(values[2], redacted);
        assert_eq!(values[3], Some(Value::BytesValue(format!("b {REDACTED}").into_bytes())));
        assert_eq!(values[4], Some(Value::BoolValue(true)));
        let attributes: Vec<_> = record.attributes.iter().map(|kv| kv.value.clone().and_then(|v| v.value)).collect();
        assert_eq!(attributes[0], Some(Value::ArrayValue(ArrayValue { values: vec![string(REDACTED)] })));
        assert_eq!(attributes[1], redacted);
        assert_eq!(attributes[2], Some(Value::StringValue("/orders".to_owned())));
        assert_eq!(record.severity_number, 9);
        // Scrubbed again, nothing changes.
        assert!(!scrub_logs(&mut request, &secrets.scrubber()));
    }

    #[test]
    fn clean_records_are_left_as_they_are() {
        let mut clean = request(string("GET /orders took 12ms"), vec![pair("http.route", string("/orders"))]);
        let before = clean.clone();
        assert!(!scrub_logs(&mut clean, &secrets().scrubber()));
        assert_eq!(clean, before);
    }
}
