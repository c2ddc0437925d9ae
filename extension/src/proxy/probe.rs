//! The exec wrapper's question before it points the runtime at the proxy: is this
//! environment's proxy up on the port?

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::header::HOST;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

use super::server::PROBE_PATH;

/// Why the runtime must keep the Runtime API it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Nothing accepts connections on the port (the extension did not start, could not
    /// bind, or died).
    #[error("nothing answers on 127.0.0.1:{port}: {detail}")]
    NotListening {
        /// The proxy's port.
        port: u16,
        /// What the connection attempt said.
        detail: String,
    },
    /// Something else holds the port.
    #[error("127.0.0.1:{port} is not Intercept's proxy: {detail}")]
    NotTheProxy {
        /// The proxy's port.
        port: u16,
        /// What it answered.
        detail: String,
    },
    /// An Intercept proxy answers, but for another Runtime API than this runtime's.
    #[error(
        "the proxy on 127.0.0.1:{port} forwards to {upstream} (Lambda's {lambda_runtime_api}), not to this runtime's {runtime_api}: another environment's proxy, or a chain that needs INTERCEPT_PROXY_UPSTREAM"
    )]
    OtherUpstream {
        /// The proxy's port.
        port: u16,
        /// Where that proxy forwards.
        upstream: String,
        /// The Runtime API that proxy was given.
        lambda_runtime_api: String,
        /// The Runtime API this runtime was given.
        runtime_api: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    upstream: String,
    lambda_runtime_api: String,
}

/// Asks the proxy on `127.0.0.1:port` who it is, within `limit`, and accepts it when it forwards
/// to `runtime_api` (the runtime's `AWS_LAMBDA_RUNTIME_API` as the wrapper found it) or was
/// given it by Lambda.
///
/// # Errors
/// A [`ProbeError`] saying why the runtime must not be pointed at the port.
pub async fn probe(port: u16, runtime_api: &str, limit: Duration) -> Result<(), ProbeError> {
    let not_listening = |detail: String| ProbeError::NotListening { port, detail };
    let not_the_proxy = |detail: String| ProbeError::NotTheProxy { port, detail };
    let asked = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| not_listening(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| not_the_proxy(e.to_string()))?;
        tokio::spawn(connection);
        let request = Request::get(PROBE_PATH)
            .header(HOST, format!("127.0.0.1:{port}"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| not_the_proxy(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(|e| not_the_proxy(e.to_string()))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| not_the_proxy(e.to_string()))?.to_bytes();
        if !status.is_success() {
            return Err(not_the_proxy(format!("{PROBE_PATH} answered {status}")));
        }
        serde_json::from_slice::<Identity>(&body).map_err(|e| not_the_proxy(format!("{PROBE_PATH} answered {e}")))
    };
    let identity = tokio::time::timeout(limit, asked)
        .await
        .map_err(|_| not_the_proxy(format!("no answer within {} ms", limit.as_millis())))??;
    if identity.upstream == runtime_api || identity.lambda_runtime_api == runtime_api {
        Ok(())
    } else {
        Err(ProbeError::OtherUpstream {
            port,
            upstream: identity.upstream,
            lambda_runtime_api: identity.lambda_runtime_api,
            runtime_api: runtime_api.to_owned(),
        })
    }
}
