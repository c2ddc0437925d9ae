//! The incoming trace context: W3C `traceparent` first, then Lambda's X-Ray trace.

use rand::Rng as _;

/// Trace and parent ids an invocation's span continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The 16-byte trace id.
    pub trace_id: [u8; 16],
    /// The caller's span id, when there is a caller.
    pub parent_span_id: Option<[u8; 8]>,
}

impl TraceContext {
    /// The context from a W3C `traceparent` header, or from an X-Ray trace header, or a new trace.
    ///
    /// Malformed headers are ignored (with a debug log), never an error.
    #[must_use]
    pub fn extract(traceparent: Option<&str>, xray: Option<&str>) -> TraceContext {
        if let Some(header) = traceparent {
            match parse_traceparent(header) {
                Some(context) => return context,
                None => tracing::debug!(header, "ignoring malformed traceparent"),
            }
        }
        if let Some(header) = xray {
            match parse_xray(header) {
                Some(context) => return context,
                None => tracing::debug!(header, "ignoring malformed X-Ray trace header"),
            }
        }
        TraceContext { trace_id: rand::rng().random(), parent_span_id: None }
    }
}

fn parse_traceparent(header: &str) -> Option<TraceContext> {
    let mut parts = header.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || flags.len() != 2 || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let trace_id: [u8; 16] = decode_hex(trace_id)?;
    let parent: [u8; 8] = decode_hex(parent)?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some(TraceContext { trace_id, parent_span_id: Some(parent) })
}

/// `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`
fn parse_xray(header: &str) -> Option<TraceContext> {
    let mut trace_id = None;
    let mut parent = None;
    for field in header.split(';') {
        match field.trim().split_once('=') {
            Some(("Root", root)) => {
                let mut parts = root.split('-');
                if parts.next()? != "1" {
                    return None;
                }
                let hex = format!("{}{}", parts.next()?, parts.next()?);
                if parts.next().is_some() {
                    return None;
                }
                trace_id = Some(decode_hex::<16>(&hex)?);
            }
            Some(("Parent", id)) => parent = Some(decode_hex::<8>(id)?),
            _ => {}
        }
    }
    Some(TraceContext { trace_id: trace_id?, parent_span_id: parent })
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn traceparent_wins_over_xray() {
        let context = TraceContext::extract(
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
        );
        assert_eq!(hex(&context.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(context.parent_span_id.map(|p| hex(&p)).as_deref(), Some("b7ad6b7169203331"));
    }

    #[test]
    fn xray_header_gives_trace_and_parent() {
        let context = TraceContext::extract(
            None,
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
        );
        assert_eq!(hex(&context.trace_id), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(context.parent_span_id.map(|p| hex(&p)).as_deref(), Some("53995c3f42cd8ad8"));
    }

    #[test]
    fn malformed_headers_fall_through_to_a_new_trace() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-zzf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            let context = TraceContext::extract(Some(bad), Some("Root=2-nope"));
            assert_eq!(context.parent_span_id, None, "{bad}");
            assert_ne!(context.trace_id, [0; 16]);
        }
    }
}
