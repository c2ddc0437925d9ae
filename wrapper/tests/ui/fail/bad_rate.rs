use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

#[intercept::main(rate_limit = "100/x")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
