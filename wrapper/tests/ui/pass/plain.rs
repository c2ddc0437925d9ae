//! The smallest handler: an event in, a JSON value out.
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

#[intercept::main]
pub(crate) async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
