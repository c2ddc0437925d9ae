//! The incoming trace context, from the first source that has one, in this order: W3C
//! `traceparent` (with `tracestate` and `baggage`) from HTTP headers; the same fields in the
//! Invoke API's client context (`custom`); Lambda's X-Ray trace for the invocation
//! (`Lambda-Runtime-Trace-Id`), then an `X-Amzn-Trace-Id` header. `OTEL_PROPAGATORS` says which
//! formats are read. Malformed values are skipped with a debug log, never an error.

use std::collections::HashMap;

use rand::Rng as _;

use super::settings::Propagators;
use crate::invocation::Invocation;

/// W3C limits: `tracestate` up to 32 members (about 512 bytes is what SDKs keep), `baggage`
/// up to 8192 bytes and 180 members.
const MAX_TRACESTATE: usize = 512;
const MAX_BAGGAGE_BYTES: usize = 8192;
const MAX_BAGGAGE_ENTRIES: usize = 180;

/// Where an invocation's parent came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParentSource {
    /// W3C `traceparent` in the request's HTTP headers.
    HttpHeaders,
    /// W3C fields in the Invoke API's client context.
    ClientContext,
    /// Lambda's X-Ray trace for this invocation.
    LambdaXray,
    /// An `X-Amzn-Trace-Id` HTTP header.
    XrayHeader,
    /// No usable parent: a new trace.
    None,
}

/// The trace an invocation's span continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The 16-byte trace id.
    pub trace_id: [u8; 16],
    /// The caller's span id, when there is a caller.
    pub parent_span_id: Option<[u8; 8]>,
    /// The caller's sampling decision, when it made one.
    pub sampled: Option<bool>,
    /// W3C `tracestate`, as received (empty when none).
    pub trace_state: String,
    /// W3C `baggage` entries (key, decoded value).
    pub baggage: Vec<(String, String)>,
    /// Which source gave the parent.
    pub source: ParentSource,
}

/// Where an invocation's context can come from, besides its event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Carriers<'a> {
    /// The `custom` fields of the Invoke API's client context.
    pub client_context: Option<&'a HashMap<String, String>>,
    /// Lambda's X-Ray trace header for this invocation (`Lambda-Runtime-Trace-Id`).
    pub lambda_trace_id: Option<&'a str>,
}

impl TraceContext {
    /// The context of an invocation, from the first source that has a valid one.
    #[must_use]
    pub fn extract(propagators: Propagators, invocation: &Invocation, carriers: Carriers<'_>) -> TraceContext {
        let custom = carriers.client_context;
        let w3c_sources = [
            (
                invocation.header("traceparent"),
                invocation.header("tracestate"),
                invocation.header("baggage"),
                ParentSource::HttpHeaders,
            ),
            (
                custom.and_then(|c| c.get("traceparent")).map(String::as_str),
                custom.and_then(|c| c.get("tracestate")).map(String::as_str),
                custom.and_then(|c| c.get("baggage")).map(String::as_str),
                ParentSource::ClientContext,
            ),
        ];
        if propagators.tracecontext {
            for (traceparent, tracestate, baggage, source) in w3c_sources {
                let Some(header) = traceparent else { continue };
                match parse_traceparent(header) {
                    Some((trace_id, parent, sampled)) => {
                        return TraceContext {
                            trace_id,
                            parent_span_id: Some(parent),
                            sampled: Some(sampled),
                            trace_state: tracestate.map(valid_tracestate).unwrap_or_default(),
                            baggage: if propagators.baggage {
                                baggage.map(parse_baggage).unwrap_or_default()
                            } else {
                                Vec::new()
                            },
                            source,
                        };
                    }
                    None => tracing::debug!(traceparent = header, ?source, "ignoring malformed traceparent"),
                }
            }
        }
        let baggage = || {
            if propagators.baggage {
                invocation.header("baggage").map(parse_baggage).unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        if propagators.xray {
            let sources = [
                (carriers.lambda_trace_id, ParentSource::LambdaXray),
                (invocation.header("x-amzn-trace-id"), ParentSource::XrayHeader),
            ];
            for (header, source) in sources {
                let Some(header) = header else { continue };
                match parse_xray(header) {
                    Some(xray) => {
                        // `Sampled=0` is what Lambda sends whenever active tracing is off, so it is
                        // read as "no decision" rather than "drop": the sampler decides then.
                        let sampled = xray.sampled.filter(|s| *s);
                        return TraceContext {
                            trace_id: xray.trace_id,
                            parent_span_id: xray.parent,
                            sampled,
                            trace_state: String::new(),
                            baggage: baggage(),
                            source,
                        };
                    }
                    None => tracing::debug!(header, ?source, "ignoring malformed X-Ray trace header"),
                }
            }
        }
        TraceContext {
            trace_id: new_trace_id(),
            parent_span_id: None,
            sampled: None,
            trace_state: String::new(),
            baggage: baggage(),
            source: ParentSource::None,
        }
    }
}

fn new_trace_id() -> [u8; 16] {
    let mut rng = rand::rng();
    loop {
        let id: [u8; 16] = rng.random();
        if id != [0; 16] {
            return id;
        }
    }
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`: (trace id, parent, sampled).
pub(crate) fn parse_traceparent(header: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let mut parts = header.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let _: [u8; 1] = decode_hex(version)?;
    let [flags]: [u8; 1] = decode_hex(flags)?;
    let trace_id: [u8; 16] = decode_hex(trace_id)?;
    let parent: [u8; 8] = decode_hex(parent)?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace_id, parent, flags & 1 == 1))
}

/// A `tracestate` kept only when it is plausibly valid: bounded, printable, `key=value` members.
fn valid_tracestate(header: &str) -> String {
    let header = header.trim();
    let valid = header.len() <= MAX_TRACESTATE
        && header.bytes().all(|b| (0x20..0x7f).contains(&b))
        && header.split(',').map(str::trim).filter(|m| !m.is_empty()).all(|member| {
            member
                .split_once('=')
                .is_some_and(|(key, value)| !key.is_empty() && !value.is_empty() && !key.contains(' '))
        });
    if valid {
        header.to_owned()
    } else {
        tracing::debug!(tracestate = header, "ignoring malformed tracestate");
        String::new()
    }
}

/// W3C baggage: `key=value;properties,...`, values percent-decoded; bad members skipped.
fn parse_baggage(header: &str) -> Vec<(String, String)> {
    if header.len() > MAX_BAGGAGE_BYTES {
        tracing::debug!(bytes = header.len(), "ignoring oversized baggage");
        return Vec::new();
    }
    header
        .split(',')
        .filter_map(|member| {
            let entry = member.split(';').next()?.trim();
            let (key, value) = entry.split_once('=')?;
            let key = key.trim();
            let value = super::settings::percent_decode(value.trim());
            match value {
                Some(value) if !key.is_empty() => Some((key.to_owned(), value)),
                _ => {
                    tracing::debug!(member, "ignoring malformed baggage member");
                    None
                }
            }
        })
        .take(MAX_BAGGAGE_ENTRIES)
        .collect()
}

/// An X-Ray trace header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XrayHeader {
    pub(crate) trace_id: [u8; 16],
    pub(crate) parent: Option<[u8; 8]>,
    pub(crate) sampled: Option<bool>,
}

/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`
pub(crate) fn parse_xray(header: &str) -> Option<XrayHeader> {
    let mut trace_id = None;
    let mut parent = None;
    let mut sampled = None;
    for field in header.split(';') {
        match field.trim().split_once('=') {
            Some(("Root", root)) => {
                let mut parts = root.split('-');
                if parts.next()? != "1" {
                    return None;
                }
                let (time, random) = (parts.next()?, parts.next()?);
                if parts.next().is_some() || time.len() != 8 || random.len() != 24 {
                    return None;
                }
                let time: [u8; 4] = decode_hex(time)?;
                let random: [u8; 12] = decode_hex(random)?;
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&time);
                id[4..].copy_from_slice(&random);
                trace_id = Some(id);
            }
            Some(("Parent", id)) => parent = Some(decode_hex::<8>(id)?),
            Some(("Sampled", "1")) => sampled = Some(true),
            Some(("Sampled", "0")) => sampled = Some(false),
            _ => {}
        }
    }
    let trace_id = trace_id?;
    if trace_id == [0; 16] || parent == Some([0; 8]) {
        return None;
    }
    Some(XrayHeader { trace_id, parent, sampled })
}

/// Exactly `N` bytes of lower-case hex: W3C trace context allows no upper case (nor does the
/// X-Ray header here), which `hex` would accept, so it is refused first.
fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn http(headers: &str) -> Invocation {
        let json = format!(
            r#"{{"version":"2.0","rawPath":"/","headers":{headers},
            "requestContext":{{"http":{{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}}}}"#
        );
        Invocation::from_raw(&RawValue::from_string(json).expect("json"))
    }

    fn client_context(traceparent: &str) -> HashMap<String, String> {
        HashMap::from([
            ("traceparent".to_owned(), traceparent.to_owned()),
            ("tracestate".to_owned(), "cc=1".to_owned()),
        ])
    }

    #[test]
    fn http_traceparent_wins_with_tracestate_and_baggage() {
        let invocation = http(&format!(
            r#"{{"traceparent":"{TRACEPARENT}","tracestate":"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE","baggage":"user=al%20ice;p=1, bad, k=v"}}"#
        ));
        let cc = client_context("00-11111111111111111111111111111111-2222222222222222-01");
        let carriers = Carriers { client_context: Some(&cc), lambda_trace_id: Some(XRAY) };
        let context = TraceContext::extract(Propagators::default(), &invocation, carriers);
        assert_eq!(hex::encode(context.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(context.parent_span_id.map(hex::encode).as_deref(), Some("b7ad6b7169203331"));
        assert_eq!((context.sampled, context.source), (Some(true), ParentSource::HttpHeaders));
        assert_eq!(context.trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(context.baggage, [("user".to_owned(), "al ice".to_owned()), ("k".to_owned(), "v".to_owned())]);
    }

    #[test]
    fn client_context_then_lambda_xray_then_header() {
        let cc = client_context("00-11111111111111111111111111111111-2222222222222222-00");
        let plain = http("{}");
        let carriers = Carriers { client_context: Some(&cc), lambda_trace_id: Some(XRAY) };
        let context = TraceContext::extract(Propagators::default(), &plain, carriers);
        assert_eq!(
            (hex::encode(context.trace_id).as_str(), context.source),
            ("11111111111111111111111111111111", ParentSource::ClientContext)
        );
        assert_eq!((context.sampled, context.trace_state.as_str()), (Some(false), "cc=1"));

        let lambda = Carriers { client_context: None, lambda_trace_id: Some(XRAY) };
        let context = TraceContext::extract(Propagators::default(), &plain, lambda);
        assert_eq!(hex::encode(context.trace_id), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(context.parent_span_id.map(hex::encode).as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(context.source, ParentSource::LambdaXray);

        let header =
            http(r#"{"X-Amzn-Trace-Id":"Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad9;Sampled=0"}"#);
        let context = TraceContext::extract(Propagators::default(), &header, Carriers::default());
        assert_eq!(
            (hex::encode(context.trace_id).as_str(), context.source),
            ("5759e988bd862e3fe1be46a994272794", ParentSource::XrayHeader)
        );
        assert_eq!(context.sampled, None, "Sampled=0 from X-Ray leaves the decision to the sampler");
    }

    #[test]
    fn propagators_select_what_is_read() {
        let invocation = http(&format!(r#"{{"traceparent":"{TRACEPARENT}"}}"#));
        let carriers = Carriers { client_context: None, lambda_trace_id: Some(XRAY) };
        let xray_only = Propagators { tracecontext: false, baggage: false, xray: true };
        assert_eq!(TraceContext::extract(xray_only, &invocation, carriers).source, ParentSource::LambdaXray);
        let none = Propagators { tracecontext: false, baggage: false, xray: false };
        let context = TraceContext::extract(none, &invocation, carriers);
        assert_eq!((context.source, context.parent_span_id), (ParentSource::None, None));
    }

    #[test]
    fn malformed_headers_fall_through() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-zzf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",
        ] {
            let invocation = http(&format!(r#"{{"traceparent":"{bad}","x-amzn-trace-id":"Root=2-nope"}}"#));
            let carriers = Carriers { client_context: None, lambda_trace_id: Some("Root=1-zz;Parent=1") };
            let context = TraceContext::extract(Propagators::default(), &invocation, carriers);
            assert_eq!((context.parent_span_id, context.source), (None, ParentSource::None), "{bad}");
            assert_ne!(context.trace_id, [0; 16]);
        }
        let invocation = http(&format!(r#"{{"traceparent":"{TRACEPARENT}","tracestate":"no members here"}}"#));
        assert_eq!(TraceContext::extract(Propagators::default(), &invocation, Carriers::default()).trace_state, "");
    }
}
