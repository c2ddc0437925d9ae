//! A real local identity provider for the tests: axum on 127.0.0.1:0 serving a JWKS (and an
//! OIDC discovery document pointing at it) that a test rotates, slows down, takes down, and
//! counts the fetches of.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use serde_json::{Value, json};

/// What the server answers, changed by the test as it goes.
#[derive(Default)]
pub struct Idp {
    pub jwks: Mutex<Value>,
    pub cache_control: Mutex<Option<String>>,
    pub delay: Mutex<Duration>,
    pub down: Mutex<bool>,
    /// JWKS requests received (answered or not).
    pub fetches: AtomicUsize,
    base: Mutex<String>,
}

impl Idp {
    /// How many JWKS requests reached the server so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Waits (5 s at most) until `count` JWKS requests reached the server, for fetches made
    /// by a background refresh; fails the test if they never come.
    pub async fn await_fetches(&self, count: usize, what: &str) {
        for _ in 0..250 {
            if self.fetches() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what}: {} JWKS fetches, expected {count}", self.fetches());
    }
}

/// The running server, stopped on drop; the JWKS is at `{base}/keys`.
pub struct Server {
    pub idp: Arc<Idp>,
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks(State(idp): State<Arc<Idp>>) -> (StatusCode, HeaderMap, String) {
    idp.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *idp.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    let mut headers = HeaderMap::new();
    if *idp.down.lock().expect("lock") {
        return (StatusCode::SERVICE_UNAVAILABLE, headers, String::new());
    }
    if let Some(value) = idp.cache_control.lock().expect("lock").clone() {
        headers.insert(header::CACHE_CONTROL, value.parse().expect("header"));
    }
    (StatusCode::OK, headers, idp.jwks.lock().expect("lock").to_string())
}

async fn discovery(State(idp): State<Arc<Idp>>) -> String {
    let base = idp.base.lock().expect("lock").clone();
    json!({"issuer": base, "jwks_uri": format!("{base}/keys")}).to_string()
}

/// Starts a server answering with `jwks_doc`.
pub async fn serve(jwks_doc: Value) -> Server {
    let idp = Arc::new(Idp::default());
    *idp.jwks.lock().expect("lock") = jwks_doc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    *idp.base.lock().expect("lock") = base.clone();
    let app = axum::Router::new()
        .route("/keys", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(idp.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { idp, base, task }
}
