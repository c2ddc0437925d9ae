use lambda_runtime::Error;
use serde_json::Value;

#[intercept::main]
async fn handler(event: Value) -> Result<Value, Error> {
    Ok(event)
}
