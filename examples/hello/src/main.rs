//! An HTTP API function behind Intercept: JWT authentication, a per-IP rate limit and a span
//! per invocation, all configured from the environment (see `examples/template.yaml`).

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};

#[intercept::main]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    // Printed so that tests (and you) can see whether a request reached the handler at all.
    println!("hello handler ran for request {}", event.context.request_id);
    let path = event.payload["rawPath"].as_str().or(event.payload["path"].as_str()).unwrap_or("/");
    Ok(json!({
        "statusCode": 200,
        "headers": { "content-type": "application/json" },
        "body": json!({ "message": "hello from behind Intercept", "path": path }).to_string(),
    }))
}
