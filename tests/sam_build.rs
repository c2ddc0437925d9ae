//! The real `sam build` (SAM CLI, cargo-lambda and zig from pip, make) on
//! `examples/template.yaml` as it is, and `intercept-sam local invoke` on the template it
//! writes: the template a user deploys is the one they tested, with no edit in between.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use intercept_tests::{Output, Scratch, run_sam, sam_cli, workspace};
use serde_json::Value;

/// Cold, `sam build` compiles three functions and the extension in release mode.
const LIMIT: Duration = Duration::from_secs(1800);
const TEMPLATE: &str = "examples/template.yaml";
const VALID: &str = "examples/events/hello-valid.json";
const NO_TOKEN: &str = "examples/events/hello-no-token.json";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from)
}

/// Runs `sam build` into `build_dir`, with the venv's tools first on the PATH (`cargo-lambda`,
/// and `python3 -m ziglang`, which cargo-lambda links with) and cargo pointed at the shared
/// target folder, so that a warm run rebuilds nothing.
fn sam_build(build_dir: &Path) -> std::process::Output {
    let venv_bin = sam_cli().parent().map(Path::to_owned).unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(&path)))
        .expect("a PATH of valid folders");
    Command::new(sam_cli())
        .args(["build", "-t", TEMPLATE, "--build-dir"])
        .arg(build_dir)
        .arg("--cache-dir")
        .arg(build_dir.with_extension("cache"))
        .env("SAM_CLI_TELEMETRY", "0")
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(workspace())
        .output()
        .expect("sam runs")
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The status codes, `www-authenticate` and `ratelimit-policy` of each response: what the
/// built and the source template must agree on.
fn answers(output: &Output) -> Vec<(u64, Value, Value)> {
    assert_eq!(output.code, Some(0), "{output:#?}");
    output
        .json_lines()
        .iter()
        .map(|r| {
            (
                r["statusCode"].as_u64().unwrap_or(0),
                r["headers"]["www-authenticate"].clone(),
                r["headers"]["ratelimit-policy"].clone(),
            )
        })
        .collect()
}

#[test]
fn sam_build_of_the_examples_runs_under_intercept_sam_as_the_source_template_does() {
    let scratch = Scratch::new("sam-build");
    let build_dir = scratch.path().join("build");
    let started = Instant::now();
    let built = sam_build(&build_dir);
    eprintln!("sam build took {:.1?}", started.elapsed());
    assert!(
        built.status.success(),
        "sam build -t {TEMPLATE}:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );

    // The layer holds the extension and the exec wrapper, and nothing else.
    let layer = build_dir.join("InterceptLayer");
    assert_eq!(files(&layer), ["extensions/intercept-extension", "intercept-wrapper"]);
    assert!(is_executable(&layer.join("extensions/intercept-extension")));
    assert!(is_executable(&layer.join("intercept-wrapper")));
    let wrapper = std::fs::read_to_string(layer.join("intercept-wrapper")).expect("wrapper");
    assert_eq!(wrapper, intercept_layer::WRAPPER_SCRIPT);
    assert!(!build_dir.join("InterceptLayer.zip").exists(), "SAM zips the folder itself: no zip beside it");
    // Each Rust function is its bootstrap, built by cargo-lambda; no source came along.
    for function in ["HelloFunction", "HttpApiFunction", "SqsConsumerFunction"] {
        assert_eq!(files(&build_dir.join(function)), ["bootstrap"], "{function}");
        assert!(is_executable(&build_dir.join(function).join("bootstrap")), "{function}");
    }

    // The built template, run as it is: 200, 401, 429 from one warm environment.
    let built_template = build_dir.join("template.yaml");
    let built_template = built_template.to_str().expect("utf-8 path");
    let invoke = |template: &str, extra: &[&str]| {
        let mut args =
            vec!["local", "invoke", "HelloFunction", "-t", template, "-e", VALID, "-e", NO_TOKEN, "-e", VALID];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let output = run_sam(&args, LIMIT);
        eprintln!("intercept-sam local invoke -t {template} took {:.1?}", started.elapsed());
        output
    };
    let from_built = invoke(built_template, &[]);
    let expected = [
        (200, Value::Null, Value::Null),
        (401, Value::from("Bearer"), Value::Null),
        (429, Value::Null, Value::from("\"source-ip\";q=2;w=60")),
    ];
    assert_eq!(answers(&from_built), expected, "{from_built:#?}");
    // The function ran from sam build's bootstrap, with sam build's layer as /opt (its extension
    // registered and flushed the spans), not from anything intercept-sam built.
    assert!(from_built.stderr.contains("hello handler ran for request"), "{}", from_built.stderr);
    assert!(
        from_built.stderr.contains("faas.coldstart="),
        "the layer's extension exported spans: {}",
        from_built.stderr
    );
    assert!(!build_dir.join(".aws-sam").exists(), "intercept-sam built nothing beside the built template");

    // The source template, built by intercept-sam itself (cargo, and the layer's Makefile), answers the same.
    let from_source = invoke(TEMPLATE, &["--cargo-profile", "dev"]);
    assert_eq!(answers(&from_source), answers(&from_built), "{from_source:#?}");

    // A managed runtime behind the built layer's exec wrapper and Runtime API proxy.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let env = scratch.path().join("env.json");
    let variables = serde_json::json!({ "PythonLayerFunction": { "INTERCEPT_PROXY_PORT": port.to_string() } });
    std::fs::write(&env, variables.to_string()).expect("write env.json");
    let alice = "examples/events/python-layer-alice.json";
    let python = run_sam(
        &[
            "local",
            "invoke",
            "PythonLayerFunction",
            "-t",
            built_template,
            "-n",
            env.to_str().expect("utf-8 path"),
            "-e",
            alice,
            "-e",
            "examples/events/python-layer-no-token.json",
            "-e",
            alice,
            "-e",
            alice,
        ],
        LIMIT,
    );
    let statuses: Vec<u64> = answers(&python).iter().map(|(status, _, _)| *status).collect();
    assert_eq!(statuses, [200, 401, 200, 429], "{python:#?}");
    assert!(!python.stderr.contains("NOT intercepted"), "the built wrapper found the proxy: {}", python.stderr);
}
