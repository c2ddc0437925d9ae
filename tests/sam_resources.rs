//! Resource types and options beside `AWS::Serverless::Function` (`tests/fixtures/sam_resources`),
//! under `local invoke` and `start-api`: a CloudFormation `AWS::Lambda::Function` with inline
//! `ZipFile` code, a resource-level `Condition`, routes declared in OpenAPI (an HTTP API's
//! inline `DefinitionBody` with `Fn::Sub`, a REST API's local `DefinitionUri` file), and a nested
//! application (`AWS::Serverless::Application` with a local `Location`) given its parameters.

use std::time::Duration;

use intercept_tests::{Output, Scratch, StartApi, assert_sam_validates, run_sam_with};
use serde_json::{Value, json};

const TEMPLATE: &str = "tests/fixtures/sam_resources/template.yaml";

fn invoke(function: &str, event: &Value, extra: &[&str], scratch: &Scratch) -> Output {
    let event_file = scratch.path().join(format!("{}.json", function.replace('/', "-")));
    std::fs::write(&event_file, event.to_string()).expect("event");
    let mut args = vec!["local", "invoke", function, "-t", TEMPLATE, "-e", event_file.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    run_sam_with(&args, &[], Duration::from_secs(300))
}

fn response(output: &Output) -> Value {
    assert_eq!(output.code, Some(0), "{output:#?}");
    output.json_lines().pop().unwrap_or_else(|| panic!("no response: {output:#?}"))
}

fn body(output: &Output) -> Value {
    serde_json::from_str(response(output)["body"].as_str().expect("a body")).expect("a JSON body")
}

#[test]
fn the_fixture_is_a_valid_sam_template() {
    assert_sam_validates(TEMPLATE);
}

/// The inline code runs as `index.py` with its own variables and memory (no Globals); the
/// conditioned function exists only when its condition holds.
#[test]
fn inline_code_and_conditions_under_local_invoke() {
    let scratch = Scratch::new("sam-resources-invoke");
    let rounded = response(&invoke("Rounding", &json!({"value": 1.23456}), &[], &scratch));
    assert_eq!(rounded, json!({"rounded": 1.23, "file": "/var/task/index.py", "memory": "256"}));

    let order = body(&invoke("Orders", &json!({"id": "12"}), &[], &scratch));
    assert_eq!(order, json!({"order": "12", "total_cents": 1299, "stage": "dev"}));

    let absent = invoke("ProdAudit", &json!({}), &[], &scratch);
    assert_ne!(absent.code, Some(0), "{absent:#?}");
    assert!(absent.stderr.contains("no function `ProdAudit`"), "{}", absent.stderr);
    let audit = body(&invoke("ProdAudit", &json!({"name": "q3"}), &["--parameter-overrides", "Stage=prod"], &scratch));
    assert_eq!(audit["report"], "q3");
    assert_eq!(audit["function"], "ProdAudit");

    // The nested application's function, by SAM CLI's full path or its logical id, with the
    // parameter the parent passes (which follows the parent's condition).
    let greeting = body(&invoke("Greetings/Greeter", &json!({"name": "Ada"}), &[], &scratch));
    assert_eq!(greeting, json!({"message": "Bonjour, Ada!", "function": "Greeter"}));
    let greeting =
        body(&invoke("Greeter", &json!({"name": "Ada"}), &["--parameter-overrides", "Stage=prod"], &scratch));
    assert_eq!(greeting["message"], "Hello, Ada!");
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_routes_are_served_by_start_api() {
    let served = tokio::task::spawn_blocking(|| {
        StartApi::start(&["-t".as_ref(), TEMPLATE.as_ref()], &[], Duration::from_secs(300))
    })
    .await
    .expect("started");
    let client = reqwest::Client::new();
    let order: Value =
        client.get(format!("{}/orders/5", served.base)).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(order, json!({"order": "5", "total_cents": 599, "stage": "dev"}), "{}", served.text());
    // x-amazon-apigateway-any-method takes every method; the REST API's stage is its StageName.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let report: Value = client
            .request(method.clone(), format!("{}/reports/monthly", served.base))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(report["report"], "monthly", "{}", served.text());
        assert_eq!(report["method"], method.as_str());
        assert_eq!(report["function"], "Report", "orders-report is the Report function's FunctionName");
    }
    // The nested application's HttpApi event is served beside the parent's routes.
    let greeting: Value =
        client.get(format!("{}/greet/Grace", served.base)).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(greeting["message"], "Bonjour, Grace!", "{}", served.text());
    // A method the document does not declare is not routed.
    let missing = client.post(format!("{}/orders/5", served.base)).send().await.expect("POST");
    assert_ne!(missing.status(), reqwest::StatusCode::OK);
    let log = served.text();
    assert!(log.contains("Mounting GET /orders/{id} → Orders (HttpApi OrdersApi)"), "{log}");
    assert!(log.contains("Mounting ANY /reports/{name} → Report (Api ReportsApi)"), "{log}");
}

/// The port race [`StartApi::start`] recovers from: a port taken between its choice and the
/// child's bind makes the child exit saying it cannot listen there (which `start` answers by
/// starting again on a fresh port) rather than serve or hang.
#[test]
fn start_api_on_a_taken_port_exits_saying_so() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let args = ["-t".as_ref(), TEMPLATE.as_ref()];
    let printed = StartApi::start_on(port, &args, &[], Duration::from_secs(300)).expect_err("the port is taken");
    assert!(printed.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{printed}");
    drop(taken);
}
