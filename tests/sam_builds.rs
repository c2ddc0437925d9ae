//! Python and Node.js functions built as `sam build` builds them (`tests/fixtures/sam_builds`):
//! a `requirements.txt` installed with pip, `package.json` dependencies installed with npm, a
//! TypeScript function bundled by esbuild (the `esbuild` npm package, found on `PATH` as SAM CLI
//! finds it), each under `local invoke` and `start-api`, rebuilt only when its source changes;
//! and the real `sam build` followed by `intercept-sam local invoke` on the template it wrote.
//! pip and npm fetch `inflection` and `ms` from their registries on a cold cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use intercept_tests::{Output, Scratch, StartApi, assert_sam_validates, run_sam_with, sam_cli, workspace};
use serde_json::{Value, json};

const FIXTURE: &str = "tests/fixtures/sam_builds";
const LIMIT: Duration = Duration::from_secs(600);

/// `PATH` with the venv's tools (sam, python) and `target/node`'s `node_modules/.bin` (esbuild,
/// which `scripts/test.sh` installs there) first.
fn path_with_tools() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let tools = [workspace().join("target/venv/bin"), workspace().join("target/node/node_modules/.bin")];
    let joined = std::env::join_paths(tools.into_iter().chain(std::env::split_paths(&path))).expect("a valid PATH");
    joined.to_string_lossy().into_owned()
}

/// A copy of the fixture (without what earlier runs built), so that tests running at once do
/// not share a build folder.
fn copy_fixture(scratch: &Scratch) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("folder");
        for entry in std::fs::read_dir(from).expect("fixture") {
            let entry = entry.expect("entry");
            let name = entry.file_name();
            if [".aws-sam", "node_modules", "__pycache__"].contains(&name.to_string_lossy().as_ref()) {
                continue;
            }
            if entry.path().is_dir() {
                copy(&entry.path(), &to.join(&name));
            } else {
                std::fs::copy(entry.path(), to.join(&name)).expect("copy");
            }
        }
    }
    let app = scratch.path().join("app");
    copy(&workspace().join(FIXTURE), &app);
    app
}

fn invoke(template: &Path, function: &str, event: &Value, scratch: &Scratch) -> Output {
    let event_file = scratch.path().join(format!("{function}-event.json"));
    std::fs::write(&event_file, event.to_string()).expect("event");
    let path = path_with_tools();
    let args = [
        "local",
        "invoke",
        function,
        "-t",
        template.to_str().expect("utf-8"),
        "-e",
        event_file.to_str().expect("utf-8"),
    ];
    run_sam_with(&args, &[("PATH", &path)], LIMIT)
}

/// The JSON body of the API-shaped response a function printed.
fn body(output: &Output) -> Value {
    assert_eq!(output.code, Some(0), "{output:#?}");
    let response = output.json_lines().pop().unwrap_or_else(|| panic!("no response: {output:#?}"));
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_fixture_is_a_valid_sam_template() {
    assert_sam_validates(&format!("{FIXTURE}/template.yaml"));
}

/// Each function computes its answer from its dependencies, which come from its build folder
/// (`/var/task`), not from anything installed on the machine; a second run builds nothing, a
/// changed source is built again.
#[test]
fn python_npm_and_esbuild_functions_are_built_as_sam_builds_them_and_cached() {
    let scratch = Scratch::new("sam-builds-invoke");
    let app = copy_fixture(&scratch);
    let template = app.join("template.yaml");
    let built = app.join(".aws-sam/intercept");

    let greeting = body(&invoke(&template, "Greeter", &json!({"name": "ada_lovelace"}), &scratch));
    assert_eq!(greeting["greeting"], "Hello, Ada Lovelace!", "inflection's titleize, then the layer's greeting");
    assert_eq!(greeting["inflection"], "/var/task/inflection/__init__.py");
    assert!(built.join("Greeter/inflection-0.5.1.dist-info").is_dir(), "pip installed into the build");
    assert!(!app.join("greeter/inflection").exists(), "nothing is installed beside the source");

    let duration = body(&invoke(&template, "Packaged", &json!({"text": "2 days"}), &scratch));
    assert_eq!(duration["milliseconds"], 172_800_000);
    assert_eq!(duration["ms"], "/var/task/node_modules/ms/index.js");
    assert!(built.join("Packaged/package.json").is_file());

    let order = json!({"items": [{"price_cents": 250, "quantity": 2}, {"price_cents": 99}], "ttl": "2m"});
    let total = body(&invoke(&template, "Bundled", &order, &scratch));
    assert_eq!(total["total_cents"], 599);
    assert_eq!(total["ttl_ms"], 120_000);
    // esbuild wrote src/handlers/total.ts as total.js, and the handler was rewritten to match.
    assert_eq!(total["bundled"], "/var/task/total.js");
    assert_eq!(total["source_maps"], true, "Sourcemap adds --enable-source-maps to NODE_OPTIONS");
    assert!(built.join("Bundled/total.js.map").is_file());
    assert!(!built.join("Bundled/node_modules").exists(), "ms is bundled in, not copied");

    let stamps: Vec<_> = ["Greeter", "Packaged", "Bundled"].map(|id| built.join(format!("{id}.built"))).into();
    let before: Vec<_> = stamps.iter().map(|s| modified(s)).collect();
    let again = invoke(&template, "Greeter", &json!({"name": "grace"}), &scratch);
    assert_eq!(body(&again)["greeting"], "Hello, Grace!");
    assert_eq!(modified(&stamps[0]), before[0], "an unchanged function is not built again");

    std::fs::write(
        app.join("bundled/src/lib/money.ts"),
        "export interface Item { price_cents: number; quantity?: number }\n\
         export function totalCents(items: Item[]): number { return 42 * items.length; }\n",
    )
    .expect("edit");
    let total = body(&invoke(&template, "Bundled", &order, &scratch));
    assert_eq!(total["total_cents"], 84, "the edited source was bundled again");
    assert_ne!(modified(&stamps[2]), before[2]);
    assert_eq!(modified(&stamps[1]), before[1], "other functions are left alone");
}

#[test]
fn a_failing_install_names_the_function_and_the_command() {
    let scratch = Scratch::new("sam-builds-failing");
    let app = copy_fixture(&scratch);
    std::fs::write(app.join("greeter/requirements.txt"), "./no-such-package\n").expect("requirements");
    let output = invoke(&app.join("template.yaml"), "Greeter", &json!({}), &scratch);
    assert_ne!(output.code, Some(0), "{output:#?}");
    assert!(output.stderr.contains("building Greeter: `"), "{}", output.stderr);
    assert!(output.stderr.contains("-m pip install"), "{}", output.stderr);
    assert!(output.stderr.contains("failed (exit status: 1)"), "{}", output.stderr);

    std::fs::write(app.join("bundled/package.json"), "{\"dependencies\": {\"ms\": \"file:./missing.tgz\"}}")
        .expect("package.json");
    let output = invoke(&app.join("template.yaml"), "Bundled", &json!({}), &scratch);
    assert_ne!(output.code, Some(0), "{output:#?}");
    assert!(output.stderr.contains("building Bundled: `npm install"), "{}", output.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_built_functions_answer_through_start_api() {
    let scratch = Scratch::new("sam-builds-api");
    let app = copy_fixture(&scratch);
    let template = app.join("template.yaml");
    let served = tokio::task::spawn_blocking(move || {
        let path = path_with_tools();
        StartApi::start(&["-t".as_ref(), template.as_os_str()], &[("PATH", &path)], LIMIT)
    })
    .await
    .expect("started");
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", served.base)).send();
    let greeting: Value = get("/greet/alan_turing").await.expect("greets").json().await.expect("JSON");
    assert_eq!(greeting["greeting"], "Hello, Alan Turing!", "{}", served.text());
    let duration: Value = get("/duration/3h").await.expect("answers").json().await.expect("JSON");
    assert_eq!(duration["milliseconds"], 10_800_000, "{}", served.text());
    let total: Value = client
        .post(format!("{}/total", served.base))
        .body(json!({"items": [{"price_cents": 1000, "quantity": 3}]}).to_string())
        .send()
        .await
        .expect("totals")
        .json()
        .await
        .expect("JSON");
    assert_eq!(total["total_cents"], 3000, "{}", served.text());
}

/// The real `sam build` (pip, npm and esbuild as SAM CLI runs them), then `intercept-sam local
/// invoke` on the template it wrote: the artifacts run as built, nothing is built again.
#[test]
fn sam_build_output_runs_under_intercept_sam() {
    let scratch = Scratch::new("sam-builds-sam-build");
    let app = copy_fixture(&scratch);
    let build_dir = scratch.path().join("build");
    let output = Command::new(sam_cli())
        .args(["build", "-t"])
        .arg(app.join("template.yaml"))
        .arg("--build-dir")
        .arg(&build_dir)
        .arg("--cache-dir")
        .arg(scratch.path().join("cache"))
        .env("SAM_CLI_TELEMETRY", "0")
        .env("PATH", path_with_tools())
        .current_dir(&app)
        .output()
        .expect("sam runs");
    assert!(
        output.status.success(),
        "sam build:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let template = build_dir.join("template.yaml");
    let greeting = body(&invoke(&template, "Greeter", &json!({"name": "ada_lovelace"}), &scratch));
    assert_eq!(greeting["greeting"], "Hello, Ada Lovelace!");
    assert_eq!(greeting["inflection"], "/var/task/inflection/__init__.py");
    let duration = body(&invoke(&template, "Packaged", &json!({"text": "1m"}), &scratch));
    assert_eq!(duration["milliseconds"], 60_000);
    let total = body(&invoke(&template, "Bundled", &json!({"items": [{"price_cents": 7, "quantity": 6}]}), &scratch));
    assert_eq!(total["total_cents"], 42);
    assert_eq!(total["bundled"], "/var/task/total.js");
    assert!(!build_dir.join(".aws-sam").exists(), "the built template's artifacts ran as they are");
}
