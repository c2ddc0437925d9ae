//! One Lambda execution environment: the Runtime, Extensions and Telemetry APIs on a local
//! port, the extensions and the runtime as processes, and the init/invoke/shutdown lifecycle.

mod extensions_api;
mod isolation;
mod lifecycle;
mod process;
mod report;
mod runtime_api;
mod spec;
mod state;
mod stream;
mod telemetry_api;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng as _;
use serde_json::json;

pub use lifecycle::{Environment, Request, ShutdownReason};
pub use report::{Invoked, Report, ReportStatus};
pub use runtime_api::MAX_RESPONSE_BYTES;
pub use spec::FunctionSpec;
pub use state::{ErrorDocument, Outcome};
pub use stream::{
    HTTP_INTEGRATION_CONTENT_TYPE, MAX_STREAMED_RESPONSE_BYTES, Prelude, ResponseStream, StreamSink, joined,
    response_stream, split_prelude,
};

/// Reads `data` as a streamed response chunk and as the start of an HTTP integration stream,
/// for the `streamed_response` fuzz target.
pub(crate) fn fuzz_stream(data: &[u8]) {
    runtime_api::fuzz_stream_chunk(data);
    stream::fuzz_prelude(data);
}

/// A random (version 4) UUID, as Lambda's request and extension ids are.
pub(crate) fn new_uuid() -> String {
    let b: [u8; 16] = rand::rng().random();
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        hex::encode(&b[0..4]),
        hex::encode(&b[4..6]),
        &hex::encode(&b[6..8])[1..],
        8 | (b[8] & 0x03),
        &hex::encode(&b[8..10])[1..],
        hex::encode(&b[10..16])
    )
}

fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// An error body as the Lambda APIs send them.
fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "errorType": error_type, "errorMessage": message }))).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_version_4() {
        let id = super::new_uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
        assert!(parts[2].starts_with('4'), "{id}");
        assert!("89ab".contains(&parts[3][..1]), "{id}");
    }
}
