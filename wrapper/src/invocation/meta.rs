//! What the Runtime API says about an invocation besides its event.

use std::collections::HashMap;

/// What the Runtime API's `/next` answer says about one invocation besides its event.
///
/// The in-process layer takes it from `lambda_runtime::Context`; the Runtime API proxy
/// from the `Lambda-Runtime-*` headers (see [`InvocationMeta::client_context_custom`] for the
/// client context header).
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationMeta<'a> {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: &'a str,
    /// `Lambda-Runtime-Deadline-Ms`: the deadline in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_function_arn: &'a str,
    /// `Lambda-Runtime-Trace-Id`: Lambda's X-Ray trace header for this invocation.
    pub xray_trace_id: Option<&'a str>,
    /// The `custom` fields of `Lambda-Runtime-Client-Context` (the Invoke API's client context),
    /// where callers put W3C `traceparent`, `tracestate` and `baggage`.
    pub client_context: Option<&'a HashMap<String, String>>,
}

impl InvocationMeta<'_> {
    /// The `custom` fields of a `Lambda-Runtime-Client-Context` header (JSON); `None` when the
    /// header is not a client context, which is then ignored with a debug log.
    #[must_use]
    pub fn client_context_custom(header: &str) -> Option<HashMap<String, String>> {
        #[derive(serde::Deserialize)]
        struct ClientContext {
            #[serde(default)]
            custom: HashMap<String, String>,
        }
        match serde_json::from_str::<ClientContext>(header) {
            Ok(context) => Some(context.custom),
            Err(error) => {
                tracing::debug!(%error, "ignoring a malformed client context");
                None
            }
        }
    }
}

impl<'a> InvocationMeta<'a> {
    /// Reads the `Lambda-Runtime-*` headers of a Runtime API `/next` answer (the Runtime API
    /// proxy's view of an invocation); `client_context` is what
    /// [`InvocationMeta::client_context_in`] read from the same headers. A header that is
    /// missing or not text reads as empty (the deadline as 0).
    #[must_use]
    pub fn from_headers(headers: &'a http::HeaderMap, client_context: Option<&'a HashMap<String, String>>) -> Self {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        InvocationMeta {
            request_id: text("lambda-runtime-aws-request-id").unwrap_or_default(),
            deadline_ms: text("lambda-runtime-deadline-ms").and_then(|value| value.parse().ok()).unwrap_or_default(),
            invoked_function_arn: text("lambda-runtime-invoked-function-arn").unwrap_or_default(),
            xray_trace_id: text("lambda-runtime-trace-id"),
            client_context,
        }
    }

    /// The `custom` fields of the `Lambda-Runtime-Client-Context` header in `headers`, for
    /// [`InvocationMeta::from_headers`]; `None` without one or when it is malformed.
    #[must_use]
    pub fn client_context_in(headers: &http::HeaderMap) -> Option<HashMap<String, String>> {
        let header = headers.get("lambda-runtime-client-context")?.to_str().ok()?;
        Self::client_context_custom(header)
    }
}

impl<'a> From<&'a lambda_runtime::Context> for InvocationMeta<'a> {
    fn from(context: &'a lambda_runtime::Context) -> Self {
        InvocationMeta {
            request_id: &context.request_id,
            deadline_ms: context.deadline,
            invoked_function_arn: &context.invoked_function_arn,
            xray_trace_id: context.xray_trace_id.as_deref(),
            client_context: context.client_context.as_ref().map(|client| &client.custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runtime_api_headers() {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("Lambda-Runtime-Aws-Request-Id", "req-1"),
            ("Lambda-Runtime-Deadline-Ms", "1700000000123"),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:f"),
            ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
            ("Lambda-Runtime-Client-Context", r#"{"custom":{"traceparent":"00-abc-def-01"}}"#),
        ] {
            headers.insert(name, http::HeaderValue::from_static(value));
        }
        let context = InvocationMeta::client_context_in(&headers);
        let meta = InvocationMeta::from_headers(&headers, context.as_ref());
        assert_eq!(meta.request_id, "req-1");
        assert_eq!(meta.deadline_ms, 1_700_000_000_123);
        assert_eq!(meta.invoked_function_arn, "arn:aws:lambda:us-east-1:123456789012:function:f");
        assert_eq!(meta.xray_trace_id, Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"));
        assert_eq!(meta.client_context.and_then(|c| c.get("traceparent")).map(String::as_str), Some("00-abc-def-01"));

        let mut bad = http::HeaderMap::new();
        bad.insert("lambda-runtime-deadline-ms", http::HeaderValue::from_static("soon"));
        bad.insert("lambda-runtime-client-context", http::HeaderValue::from_static("not json"));
        assert_eq!(InvocationMeta::client_context_in(&bad), None);
        let meta = InvocationMeta::from_headers(&bad, None);
        assert_eq!((meta.request_id, meta.deadline_ms, meta.xray_trace_id), ("", 0, None));
    }
}
