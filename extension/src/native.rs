//! The AWS-native exporters beside OTLP: X-Ray documents sent as spans arrive, EMF lines
//! written at each flush. They see every request on its way into the buffer (a [`Tap`]), so
//! OTLP batches put back after a failed send are never exported to them twice.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::buffer::{Batch, Tap};
use crate::config::ExtensionConfig;
use crate::emf::Emf;
use crate::signal::{Decoded, Signal};
use crate::xray::{Xray, daemon_address};

/// The X-Ray and EMF exporters of one extension, and which signals still go to the buffer.
#[derive(Debug)]
pub(crate) struct Native {
    xray: Option<Xray>,
    emf: Option<Mutex<Emf>>,
    /// Whether each signal is queued for an OTLP endpoint.
    queue: [bool; 3],
    /// Spans X-Ray could not take since the last report.
    xray_dropped: AtomicU64,
}

impl Native {
    /// The exporters `config` asks for. An X-Ray daemon address that names nothing, or a socket
    /// that cannot be opened, turns X-Ray off with a warning: telemetry never stops a start.
    pub(crate) fn new(config: &ExtensionConfig) -> Self {
        let xray = config.xray_daemon.as_deref().and_then(|text| {
            let opened = daemon_address(text)
                .map_err(|error| error.to_string())
                .and_then(|address| Xray::new(address).map_err(|error| format!("cannot open a UDP socket: {error}")));
            match opened {
                Ok(xray) => Some(xray),
                Err(error) => {
                    tracing::warn!(%error, "X-Ray export is off: spans go only where OTLP sends them");
                    None
                }
            }
        });
        let emf = config.emf.as_ref().map(|emf| Mutex::new(Emf::new(&emf.namespace, &emf.service)));
        let queue = Signal::ALL.map(|signal| config.endpoints.get(signal).is_some());
        Native { xray, emf, queue, xray_dropped: AtomicU64::new(0) }
    }

    /// Whether spans go to X-Ray.
    pub(crate) fn xray(&self) -> bool {
        self.xray.is_some()
    }

    /// Whether metrics go to EMF.
    pub(crate) fn emf(&self) -> bool {
        self.emf.is_some()
    }

    /// Remembers an invocation's X-Ray trace header, so an unsampled trace sends nothing.
    pub(crate) fn remember_trace(&self, header: &str) {
        if let Some(xray) = &self.xray {
            xray.remember(header);
        }
    }

    /// Exports what the native exporters want of `batch` (decoding it unless `decoded` is
    /// given); whether the buffer keeps it.
    pub(crate) fn take(&self, batch: &Batch, decoded: Option<&Decoded>) -> bool {
        match (batch.signal, decoded) {
            (Signal::Traces, decoded) if self.xray.is_some() => {
                let given = if let Some(Decoded::Traces(request)) = decoded { Some(request) } else { None };
                if let (Some(xray), Some(request)) = (&self.xray, request(given, &batch.bytes)) {
                    let sent = xray.export(&request);
                    if sent.dropped > 0 {
                        self.xray_dropped.fetch_add(sent.dropped, Ordering::Relaxed);
                        tracing::debug!(dropped = sent.dropped, "X-Ray could not take some spans (counted)");
                    }
                }
            }
            (Signal::Metrics, decoded) if self.emf.is_some() => {
                let given = if let Some(Decoded::Metrics(request)) = decoded { Some(request) } else { None };
                if let (Some(emf), Some(request)) = (&self.emf, request(given, &batch.bytes)) {
                    emf.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(&request);
                }
            }
            _ => {}
        }
        self.queue[batch.signal.index()]
    }

    /// Spans X-Ray dropped since the last call.
    pub(crate) fn take_xray_dropped(&self) -> u64 {
        self.xray_dropped.swap(0, Ordering::Relaxed)
    }

    /// Whether EMF data waits for a flush.
    pub(crate) fn emf_pending(&self) -> bool {
        self.emf.as_ref().is_some_and(|emf| !emf.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty())
    }

    /// Writes the pending EMF lines to stdout (which Lambda sends to the function's log group);
    /// returns how many.
    pub(crate) fn write_emf(&self) -> usize {
        let Some(emf) = &self.emf else { return 0 };
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        // The lines are made under the lock and written after it, so a slow stdout never holds
        // up the receiver, which takes the same lock for every request.
        let mut text = Vec::new();
        let lines = {
            let mut emf = emf.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if emf.is_empty() {
                return 0;
            }
            match emf.write(&mut text, now_ms) {
                Ok(lines) => lines,
                Err(_) => return 0,
            }
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        match out.write_all(&text).and_then(|()| out.flush()) {
            Ok(()) => lines,
            Err(error) => {
                drop(out);
                tracing::warn!(%error, "stdout refused the EMF lines; these metrics are lost");
                0
            }
        }
    }
}

/// The request as its producer decoded it, else decoded from its bytes (`None` if they do not
/// decode, which the receiver has already ruled out).
fn request<'a, M: prost::Message + Default + Clone>(given: Option<&'a M>, bytes: &[u8]) -> Option<Cow<'a, M>> {
    match given {
        Some(request) => Some(Cow::Borrowed(request)),
        None => M::decode(bytes).ok().map(Cow::Owned),
    }
}

/// The tap that hands each request to `native` before the buffer.
pub(crate) fn tap(native: std::sync::Arc<Native>) -> Tap {
    Tap(Box::new(move |batch, decoded| native.take(batch, decoded)))
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status::StatusCode};
    use prost::Message as _;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ExtensionConfig {
        ExtensionConfig::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
            .expect("valid")
    }

    fn spans(message: &str) -> Batch {
        let span = Span {
            // Starts with the current second, as X-Ray's trace ids do.
            trace_id: {
                let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as u32;
                [now.to_be_bytes().to_vec(), vec![7; 12]].concat()
            },
            span_id: vec![1; 8],
            name: "handler".to_owned(),
            status: Some(Status { code: StatusCode::Error as i32, message: message.to_owned() }),
            attributes: vec![KeyValue {
                key: "k".to_owned(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue("v".to_owned())) }),
                ..KeyValue::default()
            }],
            ..Span::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![span], ..ScopeSpans::default() }],
                ..ResourceSpans::default()
            }],
        };
        Batch { signal: Signal::Traces, items: 1, bytes: request.encode_to_vec().into() }
    }

    #[test]
    fn a_daemon_address_that_names_nothing_turns_xray_off_without_failing() {
        let native = Native::new(&config(&[("AWS_XRAY_DAEMON_ADDRESS", "not an address")]));
        assert!(!native.xray(), "off, with a warning");
        assert!(native.emf(), "metrics still go to EMF");
        assert!(!native.take(&spans("x"), None), "no OTLP endpoint: nothing kept for traces");
    }

    #[test]
    fn spans_too_large_for_the_daemon_are_counted_and_otlp_keeps_its_copy() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let address = receiver.local_addr().expect("addr").to_string();
        let native = Native::new(&config(&[
            ("AWS_XRAY_DAEMON_ADDRESS", &address),
            ("OTEL_TRACES_EXPORTER", "otlp,xray"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ]));
        assert!(native.take(&spans(&"z".repeat(70_000)), None), "queued for OTLP as well");
        assert_eq!(native.take_xray_dropped(), 1, "the oversized span is counted");
        assert_eq!(native.take_xray_dropped(), 0, "once");
        assert!(native.take(&spans("small"), None));
        assert_eq!(native.take_xray_dropped(), 0);
        let mut buffer = [0u8; 2048];
        receiver.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
        let n = receiver.recv(&mut buffer).expect("the small span arrived");
        assert!(String::from_utf8_lossy(&buffer[..n]).contains("\"message\":\"small\""));
    }
}
