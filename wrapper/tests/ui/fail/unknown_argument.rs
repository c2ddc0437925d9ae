use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

#[intercept::main(auth = "jwt", ratelimit = "100/s")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
