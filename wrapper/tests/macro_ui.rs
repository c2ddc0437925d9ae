//! `#[intercept::main]` at compile time: what compiles, and the errors for what does not.
//!
//! The failing cases run through trybuild, which compares each error with the `.stderr` file
//! beside its case (regenerate with `TRYBUILD=overwrite`, then read them). The passing cases
//! are compiled here as modules instead of trybuild's `pass`, which would run their `main`: a
//! Lambda function run outside Lambda stops with an error, as it should. As modules, their
//! handlers and `init` functions are also called below with real events.

use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

// Each case's generated `main` is an ordinary function inside a module, never called here.
#[path = "ui/pass/init_module_path.rs"]
#[allow(dead_code)]
mod init_module_path;
#[path = "ui/pass/init_state.rs"]
#[allow(dead_code)]
mod init_state;
#[path = "ui/pass/plain.rs"]
#[allow(dead_code)]
mod plain;

#[test]
fn failing_cases_point_at_the_users_code() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}

#[tokio::test]
async fn passing_cases_compile_and_their_handlers_run() {
    let echoed = plain::handler(LambdaEvent::new(json!({ "ping": 1 }), Context::default())).await.expect("echo");
    assert_eq!(echoed, json!({ "ping": 1 }));

    // The state from `init` is lent to every invocation.
    let app = init_state::build_app().await.expect("init");
    for served in 0..2 {
        let response =
            init_state::handler(LambdaEvent::new(json!({}), Context::default()), &app).await.expect("handler");
        assert_eq!((response["greeting"].as_str(), response["served"].as_u64()), (Some("hello"), Some(served)));
    }

    let queue = init_module_path::setup::connect().await.map_err(|error| error.to_string()).expect("init");
    let batch = serde_json::from_value(json!({ "Records": [{}, {}] })).expect("a batch");
    let consumed =
        init_module_path::consume(LambdaEvent::new(batch, Context::default()), &queue).await.expect("consumed");
    assert_eq!(serde_json::to_value(consumed).expect("json"), json!({ "queue": "orders", "count": 2 }));
}
