use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

struct App;
struct Other;

async fn init() -> Result<Other, Error> {
    Ok(Other)
}

#[intercept::main(init = init)]
async fn handler(event: LambdaEvent<Value>, app: &App) -> Result<Value, Error> {
    let _ = app;
    Ok(event.payload)
}
