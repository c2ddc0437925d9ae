//! `init` builds the state once; the handler borrows it, with settings given in the code.
use std::sync::atomic::{AtomicU64, Ordering};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

pub(crate) struct App {
    greeting: String,
    served: AtomicU64,
}

pub(crate) async fn build_app() -> Result<App, Error> {
    Ok(App { greeting: "hello".to_owned(), served: AtomicU64::new(0) })
}

#[intercept::main(
    init = build_app,
    auth = "jwt",
    rate_limit = "1000/m key=global, 20/s burst=40",
    rate_limit_key = "principal",
    rate_limit_burst = 10,
    required_scopes = "POST /orders=orders:write"
)]
pub(crate) async fn handler(event: LambdaEvent<Value>, app: &App) -> Result<Value, Error> {
    let served = app.served.fetch_add(1, Ordering::Relaxed);
    Ok(json!({ "greeting": app.greeting, "served": served, "request": event.context.request_id }))
}
