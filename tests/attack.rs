//! The path attack corpus (tests/fixtures/attack) over `intercept-sam local start-api`, sent as
//! raw HTTP/1.1 (client libraries normalize dot segments and escapes before sending): a Rust
//! function with Intercept in process (behind `ANY /{proxy+}` and on its function URL) and a
//! Python function behind the layer's Runtime API proxy (on its function URL). No spelling of a
//! guarded path reaches either handler; spellings of one path share one route-keyed bucket.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use corpus::{Expect, corpus, one_bucket};
use intercept_tests::{Scratch, intercept_sam, workspace};
use serde_json::{Value, json};

const TEMPLATE: &str = "tests/fixtures/attack/template.yaml";
const SECRET: &str = "attack-corpus-secret";
/// The first start builds the functions and the layer, so the limit is generous.
const START_LIMIT: Duration = Duration::from_secs(900);

#[path = "fixtures/attack/corpus.rs"]
mod corpus;

/// One emulator at a time: they would race laying out the same layer folder.
static EMULATOR: Mutex<()> = Mutex::new(());

fn token(scope: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let claims = json!({ "sub": "mallory", "scope": scope, "exp": now + 600, "iat": now - 10 });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// The Python with awslambdaric that the emulator runs Python functions with.
fn python() -> String {
    let python = std::env::var("INTERCEPT_SAM_PYTHON")
        .unwrap_or_else(|_| workspace().join("target/venv/bin/python").display().to_string());
    let probe = Command::new(&python).args(["-c", "import awslambdaric"]).status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "{python} cannot import awslambdaric: run ./scripts/test.sh, or `python3 -m venv target/venv && \
         target/venv/bin/pip install awslambdaric`"
    );
    python
}

/// `intercept-sam local start-api` on the attack template, killed on drop.
struct StartApi {
    child: Child,
    port: u16,
    scratch: Scratch,
}

impl StartApi {
    fn start() -> StartApi {
        let scratch = Scratch::new("attack-start-api");
        let mut env = serde_json::Map::new();
        for function in ["RustFunction", "PythonFunction", "LimitedFunction"] {
            env.insert(
                function.to_owned(),
                json!({
                    "INTERCEPT_OTLP_LISTEN": format!("127.0.0.1:{}", free_port()),
                    "INTERCEPT_PROXY_PORT": free_port().to_string(),
                }),
            );
        }
        let env_file = scratch.path().join("env.json");
        std::fs::write(&env_file, Value::Object(env).to_string()).expect("env file");
        let port = free_port();
        let log = std::fs::File::create(scratch.path().join("stderr.log")).expect("log file");
        let child = Command::new(intercept_sam())
            .args(["local", "start-api", "-t", TEMPLATE, "--cargo-profile", "dev", "-p", &port.to_string()])
            .args(["-n", env_file.to_str().expect("utf-8 path")])
            .env("INTERCEPT_SAM_PYTHON", python())
            .current_dir(workspace())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("intercept-sam starts");
        let mut api = StartApi { child, port, scratch };
        let started = Instant::now();
        while !api.log().contains("intercept-sam: serving") {
            if let Some(status) = api.child.try_wait().expect("wait") {
                panic!("start-api ended ({status}) before serving:\n{}", api.log());
            }
            assert!(started.elapsed() < START_LIMIT, "start-api did not serve within {START_LIMIT:?}:\n{}", api.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        api
    }

    /// Everything the emulator and the functions printed so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("stderr.log")).unwrap_or_default()
    }

    /// The emulator's own lines (failed invocations, environments started and stopped).
    fn emulator_lines(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.starts_with("intercept-sam") || l.contains("failed") || l.contains("error"))
            .collect();
        lines.join("\n")
    }

    /// How many times a handler printed `marker` (each example prints one line per request it gets).
    fn handler_runs(&self, marker: &str) -> usize {
        self.log().lines().filter(|line| line.contains(marker)).count()
    }

    /// Sends one request as written, byte for byte: (status, body).
    fn send(&self, method: &str, path: &str, host: &str, bearer: Option<&str>) -> (u16, String) {
        let reports = self.reports();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        let authorization = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let body = if method == "POST" { "{}" } else { "" };
        let length = if method == "POST" { "Content-Length: 2\r\n" } else { "" };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{}\r\n{authorization}{length}Connection: close\r\n\r\n{body}",
            self.port
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: no status line in {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        // The environment goes back to the pool just after its REPORT line; the pool waits only
        // 5 ms for a busy one before starting another, whose extension could not listen on the
        // ports this run gave the function (both environments would share them). So wait for the
        // REPORT of an invocation before the next request (the router's 404 invokes nothing).
        if !(status == 404 && body.contains("Not Found")) {
            let deadline = Instant::now() + Duration::from_secs(3);
            while self.reports() == reports && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        (status, body)
    }

    fn reports(&self) -> usize {
        self.log().lines().filter(|line| line.starts_with("REPORT RequestId: ")).count()
    }
}

impl Drop for StartApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Who answered an attack and how, for the table the test prints.
fn answered_by(status: u16, body: &str) -> String {
    let reason = serde_json::from_str::<Value>(body).ok().and_then(|b| b["reason"].as_str().map(str::to_owned));
    match (status, reason) {
        (_, Some(reason)) => format!("{status} {reason} (Intercept)"),
        (404, None) => "404 (the emulator's router)".to_owned(),
        (_, None) if body.is_empty() => format!("{status} (no body)"),
        (_, None) => format!("{status} {body}"),
    }
}

/// Sends the corpus to one placement and checks that no spelling reached its handler: the status
/// is never 2xx, the handler's marker is never in a body, and the handler printed nothing.
/// Where Intercept answered (a JSON `reason`), the reason is the one the corpus expects; where
/// `strict` (no router in front), Intercept answers every spelling. Returns the table of answers.
fn attack(
    api: &StartApi,
    placement: &str,
    host: &str,
    handler_marker: &str,
    body_marker: &str,
    strict: bool,
) -> String {
    let reader = token("orders:read");
    let runs_before = api.handler_runs(handler_marker);
    let mut table = String::new();
    let mut wrong = Vec::new();
    for attack in corpus() {
        let (status, body) = api.send(&attack.method, &attack.path, host, Some(&reader));
        let answer = answered_by(status, &body);
        table.push_str(&format!("{placement} {} {} -> {answer}\n", attack.method, attack.path));
        let reason = serde_json::from_str::<Value>(&body).ok().and_then(|b| b["reason"].as_str().map(str::to_owned));
        let expected = match attack.expect {
            Expect::Rule => (403, "insufficient_scope"),
            Expect::Unsafe | Expect::Unreadable => (400, "unsafe_path"),
        };
        let head_answer = attack.method == "HEAD" && body.is_empty() && status == expected.0;
        let by_intercept = match reason.as_deref() {
            Some(reason) => (status, reason) == expected,
            None => head_answer,
        };
        let refused = !(200..300).contains(&status) && !body.contains(body_marker);
        if !refused || (reason.is_some() && !by_intercept) || (strict && !by_intercept) {
            wrong.push(format!("{} {} ({:?}): {answer}", attack.method, attack.path, attack.expect));
        }
    }
    let runs = api.handler_runs(handler_marker) - runs_before;
    eprintln!("{table}");
    assert!(
        wrong.is_empty(),
        "{placement}: {} attacks went wrong:\n{}\n\n{table}\nthe emulator said:\n{}",
        wrong.len(),
        wrong.join("\n"),
        api.emulator_lines()
    );
    assert_eq!(runs, 0, "{placement}: the handler ran {runs} times for attacks:\n{table}\n{}", api.log());

    // The controls: the same token on an unguarded path, and a token with the scope.
    let (status, body) = api.send("GET", "/public/x", host, Some(&reader));
    assert_eq!(status, 200, "{placement} GET /public/x: {body}\n{}", api.log());
    assert!(body.contains(body_marker), "{placement} GET /public/x reached the handler: {body}");
    let (status, body) = api.send("GET", "/admin/x", host, Some(&token("admin")));
    assert_eq!(status, 200, "{placement} GET /admin/x with the admin scope: {body}");
    assert!(body.contains(body_marker), "{placement}: {body}");
    assert_eq!(api.handler_runs(handler_marker) - runs_before, 2, "{placement}: the controls ran the handler");
    table
}

#[test]
fn no_spelling_reaches_the_rust_handler_in_process() {
    let _one = EMULATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let api = StartApi::start();
    const RAN: &str = "hello handler ran for request";
    const BODY: &str = "hello from behind Intercept";
    // Through the HTTP API's `ANY /{proxy+}`: the emulator's router may answer first (404).
    attack(&api, "rust/http-api", "127.0.0.1", RAN, BODY, false);
    // Through the function URL: no router, Intercept answers every spelling.
    attack(&api, "rust/function-url", "rustfunction.localhost", RAN, BODY, true);
}

#[test]
fn no_spelling_reaches_the_python_handler_behind_the_layer() {
    let _one = EMULATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let api = StartApi::start();
    attack(
        &api,
        "python/function-url",
        "pythonfunction.localhost",
        "python handler ran for request",
        "hello from Python behind Intercept",
        true,
    );
}

#[test]
fn spellings_of_one_path_share_one_route_keyed_bucket_behind_a_function_url() {
    let _one = EMULATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let api = StartApi::start();
    let spellings = one_bucket();
    assert!(spellings.len() >= 5, "{spellings:?}");
    let host = "limitedfunction.localhost";
    let (status, body) = api.send("GET", spellings[0], host, None);
    assert_eq!(status, 200, "the first request is admitted: {body}\n{}", api.log());
    assert!(body.contains("hello from behind Intercept"), "{body}");
    for spelling in &spellings {
        let (status, body) = api.send("GET", spelling, host, None);
        assert_eq!(status, 429, "{spelling} shares the bucket of {}: {body}\n{}", spellings[0], api.emulator_lines());
        assert!(body.contains("rate_limited"), "{spelling}: {body}");
    }
    // Another path has a bucket of its own.
    let (status, body) = api.send("GET", "/orders/2", host, None);
    assert_eq!(status, 200, "/orders/2: {body}");
    assert_eq!(api.handler_runs("hello handler ran for request"), 2, "{}", api.log());
}
