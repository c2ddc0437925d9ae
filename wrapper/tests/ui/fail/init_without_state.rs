use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

struct App;

async fn init() -> Result<App, Error> {
    Ok(App)
}

#[intercept::main(init = init)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
