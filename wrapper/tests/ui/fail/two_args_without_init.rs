use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

struct App;

#[intercept::main]
async fn handler(event: LambdaEvent<Value>, app: &App) -> Result<Value, Error> {
    let _ = app;
    Ok(event.payload)
}
