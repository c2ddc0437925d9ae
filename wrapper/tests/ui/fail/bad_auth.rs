use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

#[intercept::main(auth = "saml")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
