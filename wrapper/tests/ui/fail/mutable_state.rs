use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

struct App;

async fn init() -> Result<App, Error> {
    Ok(App)
}

#[intercept::main(init = init)]
async fn handler(event: LambdaEvent<Value>, app: &mut App) -> Result<Value, Error> {
    let _ = app;
    Ok(event.payload)
}
