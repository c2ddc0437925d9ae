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
