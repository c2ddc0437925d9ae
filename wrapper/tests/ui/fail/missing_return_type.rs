use lambda_runtime::LambdaEvent;
use serde_json::Value;

#[intercept::main]
async fn handler(event: LambdaEvent<Value>) {
    let _ = event;
}
