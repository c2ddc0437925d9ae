use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

#[intercept::main(rate_limit = "5/m", rate_limit_key = "user")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
