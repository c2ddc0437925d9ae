//! Shared helpers for the end-to-end tests: build the emulator once, run it with a time limit,
//! and read what it printed.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
#[must_use]
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from(".."), Path::to_owned)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from)
}

/// The `intercept-sam` binary, built once per test run (dev profile, as the tests are).
///
/// # Panics
/// When cargo cannot build it: the tests cannot run without it.
pub fn intercept_sam() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let status = Command::new(cargo())
            .args(["build", "-p", "intercept-sam", "--bin", "intercept-sam"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building intercept-sam failed");
        target_dir().join("debug/intercept-sam")
    })
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Standard output's lines parsed as JSON, one document per line.
    ///
    /// # Panics
    /// When a line is not JSON, with the whole output in the message.
    #[must_use]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}\n{self:#?}"))
            })
            .collect()
    }
}

/// Runs `intercept-sam` with `args` from the workspace root, killing it after `limit`.
///
/// # Panics
/// When it cannot be started or runs past the limit (a hang is a failure).
#[must_use]
pub fn run_sam(args: &[&str], limit: Duration) -> Output {
    run_sam_with(args, &[], limit)
}

/// [`run_sam`] with extra variables in the emulator's own environment.
///
/// # Panics
/// As [`run_sam`].
#[must_use]
pub fn run_sam_with(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = Command::new(intercept_sam())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("intercept-sam starts");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "intercept-sam {args:?} ran for more than {limit:?}; stderr so far:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// One span line of a printed trace tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedSpan {
    /// The trace it was printed under.
    pub trace_id: String,
    /// The span's name.
    pub name: String,
    /// `span=` id.
    pub span_id: String,
    /// `parent=` id (`none` for a root).
    pub parent: String,
    /// The rest of the line (attributes).
    pub attributes: String,
}

/// Reads the trace trees `intercept-sam` prints to stderr.
#[must_use]
pub fn printed_spans(stderr: &str) -> Vec<PrintedSpan> {
    let mut trace_id = String::new();
    let mut spans = Vec::new();
    for line in stderr.lines() {
        if let Some(id) = line.strip_prefix("TRACE ") {
            trace_id = id.trim().to_owned();
        } else if let Some(rest) = line.trim_start().strip_prefix("└─ ") {
            let field =
                |name: &str| rest.split_whitespace().find_map(|w| w.strip_prefix(name)).unwrap_or_default().to_owned();
            let name = rest.split(" [").next().unwrap_or_default().to_owned();
            spans.push(PrintedSpan {
                trace_id: trace_id.clone(),
                name,
                span_id: field("span="),
                parent: field("parent="),
                attributes: rest.to_owned(),
            });
        }
    }
    spans
}

/// Each `REPORT` line with the `XRAY` line that follows it: (request id, report line, X-Ray trace id, segment id).
#[must_use]
pub fn reports(stderr: &str) -> Vec<(String, String, String, String)> {
    let lines: Vec<&str> = stderr.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let request_id = line.strip_prefix("REPORT RequestId: ")?.split_whitespace().next()?.to_owned();
            let xray = lines.get(i + 1)?.strip_prefix("XRAY TraceId: ")?;
            let mut parts = xray.split_whitespace();
            let trace = parts.next()?.to_owned();
            let segment = parts.nth(1)?.to_owned();
            Some((request_id, (*line).to_owned(), trace, segment))
        })
        .collect()
}

/// A scratch folder under the system's temp dir, removed on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty folder named after `name` and this process, under `target/` rather than
    /// `/tmp`: the emulator gives each environment a private `/tmp`, so files a function
    /// writes for a test must live elsewhere.
    ///
    /// # Panics
    /// When the folder cannot be created.
    #[must_use]
    pub fn new(name: &str) -> Scratch {
        let dir = target_dir().join("test-scratch").join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Scratch(dir)
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options for serving a workspace template (path relative to the workspace), built in the
/// dev profile the tests themselves are built in.
#[must_use]
pub fn dev_options(template: &str) -> intercept_sam::StartLambdaOptions {
    let mut options = intercept_sam::StartLambdaOptions::new(workspace().join(template));
    let mut spec = intercept_sam::SpecOptions::default();
    spec.profile = intercept_sam::CargoProfile("dev".to_owned());
    options.spec = spec;
    options
}

/// The SAM CLI that `scripts/test.sh` installs in `target/venv` (or `INTERCEPT_SAM_CLI`).
///
/// # Panics
/// When it is missing, saying how to install it.
#[must_use]
pub fn sam_cli() -> PathBuf {
    let sam =
        std::env::var_os("INTERCEPT_SAM_CLI").map_or_else(|| workspace().join("target/venv/bin/sam"), PathBuf::from);
    assert!(
        sam.is_file(),
        "the SAM CLI is missing at {}: run ./scripts/test.sh, which installs aws-sam-cli in target/venv",
        sam.display()
    );
    sam
}

/// Asserts that the real SAM CLI's `sam validate --lint` accepts a template (a path from the
/// workspace root), printing what it said when it does not.
///
/// # Panics
/// When SAM CLI cannot run or refuses the template.
pub fn assert_sam_validates(template: &str) {
    let output = Command::new(sam_cli())
        .args(["validate", "--lint", "-t", template])
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .current_dir(workspace())
        .output()
        .expect("sam runs");
    assert!(
        output.status.success(),
        "sam validate --lint -t {template}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The response document of an invocation that answered.
///
/// # Panics
/// When the invocation failed or its response is not JSON.
#[must_use]
pub fn response(invoked: &intercept_sam::sandbox::Invoked) -> serde_json::Value {
    match &invoked.outcome {
        intercept_sam::sandbox::Outcome::Response(body) => {
            serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
        }
        intercept_sam::sandbox::Outcome::Error(error) => panic!("expected a response, got {error:?}"),
    }
}

/// The error document of an invocation that failed.
///
/// # Panics
/// When the invocation answered.
#[must_use]
pub fn error(invoked: &intercept_sam::sandbox::Invoked) -> &intercept_sam::sandbox::ErrorDocument {
    match &invoked.outcome {
        intercept_sam::sandbox::Outcome::Error(error) => error,
        intercept_sam::sandbox::Outcome::Response(body) => panic!("expected an error, got {body:?}"),
    }
}

/// What an OTLP collector started by [`start_otlp_collector`] received: each request's path and
/// body (as sent).
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, bytes::Bytes)>>>;

/// An OTLP/HTTP collector on `127.0.0.1:0` that keeps every request; returns its base URL.
///
/// # Panics
/// When no port can be bound.
pub async fn start_otlp_collector() -> (String, Received) {
    let received = Received::default();
    let store = received.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: bytes::Bytes| {
        let store = store.clone();
        async move {
            store.lock().expect("lock").push((uri.path().to_owned(), body));
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (endpoint, received)
}

/// A start-api gateway served on `127.0.0.1:0` until [`ServedApi::stop`].
#[derive(Debug)]
pub struct ServedApi {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl ServedApi {
    /// Serves `gateway` in front of `pools`.
    ///
    /// # Panics
    /// When no port can be bound or serving fails.
    pub async fn serve(gateway: intercept_sam::api::Gateway, pools: intercept_sam::Pools) -> ServedApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            intercept_sam::serve_api(listener, std::sync::Arc::new(gateway), pools, async {
                let _ = stopped.await;
            })
            .await
            .expect("serves");
        });
        ServedApi { base, stop: Some(stop), done }
    }

    /// Stops serving and waits (at most 10 s) for the environments to shut down.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.done).await;
    }
}

/// `intercept-sam local start-api` in a child process, killed on drop, with its stderr kept.
///
/// The port is picked free (bound to `127.0.0.1:0` and released) and handed to the child, which
/// can lose it to another test's process in between: when the child then exits with "cannot
/// listen on", it is started again on a fresh port (a few times), so the race costs a retry and
/// never a failed test. A test in the same process can also serve in-process with
/// [`ServedApi`], which binds port 0 itself.
#[derive(Debug)]
pub struct StartApi {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl StartApi {
    /// Starts `intercept-sam local start-api ARGS -p PORT` in the workspace with `env` added,
    /// and waits until it prints that it serves (`limit` is a hang guard: builds run first).
    ///
    /// # Panics
    /// When it exits or does not serve within `limit`, with what it printed.
    pub fn start(args: &[&std::ffi::OsStr], env: &[(&str, &str)], limit: Duration) -> StartApi {
        const ATTEMPTS: usize = 5;
        let mut printed = String::new();
        for _ in 0..ATTEMPTS {
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
            match Self::start_on(port, args, env, limit) {
                Ok(served) => return served,
                Err(text) if text.contains("cannot listen on") => printed = text,
                Err(text) => panic!("start-api exited before serving:\n{text}"),
            }
        }
        panic!("start-api could not listen in {ATTEMPTS} attempts:\n{printed}");
    }

    /// One start on `port`: the server, or what it printed before exiting.
    ///
    /// # Errors
    /// What it printed when it exited before serving.
    ///
    /// # Panics
    /// When it does not serve within `limit`.
    pub fn start_on(
        port: u16,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
        limit: Duration,
    ) -> Result<StartApi, String> {
        use std::io::BufRead as _;
        let mut child = Command::new(intercept_sam())
            .args(["local", "start-api"])
            .args(args)
            .args(["-p", &port.to_string()])
            .envs(env.iter().copied())
            .current_dir(workspace())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("intercept-sam starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (pipe, sink) = (child.stderr.take().expect("piped"), stderr.clone());
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut served = StartApi { child, base: format!("http://127.0.0.1:{port}"), stderr };
        let started = Instant::now();
        while !served.text().contains("intercept-sam: serving http://") {
            if served.child.try_wait().expect("waits").is_some() {
                // Everything it printed, read to the end.
                let _ = reader.join();
                return Err(served.text());
            }
            assert!(started.elapsed() < limit, "start-api did not serve:\n{}", served.text());
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(served)
    }

    /// What it printed to stderr so far.
    #[must_use]
    pub fn text(&self) -> String {
        self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits until what it printed satisfies `done` (`limit` is a hang guard, not a speed bound).
    ///
    /// # Panics
    /// When `limit` passes first, with what it printed.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&str) -> bool) {
        let started = Instant::now();
        while !done(&self.text()) {
            assert!(started.elapsed() < limit, "waited {limit:?}; stderr:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for StartApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The suite's Python (`target/venv`, made by `scripts/test.sh`: boto3, moto, awslambdaric).
#[must_use]
pub fn venv_python() -> PathBuf {
    let python = workspace().join("target/venv/bin/python");
    assert!(python.exists(), "the venv is missing: run scripts/test.sh (looked for {})", python.display());
    python
}

/// moto's server, started by `command` (which must bind port 0 and print the port it got as its
/// first line once it listens), killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl MotoServer {
    /// Starts `command` and reads the port from its first line.
    ///
    /// # Panics
    /// When it cannot start or prints no port (it exited first).
    #[must_use]
    pub fn spawn(mut command: Command) -> MotoServer {
        use std::io::BufRead as _;
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("moto starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        // The read ends at the first line, or at end of file when the server exits first.
        std::io::BufReader::new(stdout).read_line(&mut line).expect("moto's port");
        // Owned before the port is judged, so a server that printed something else is killed.
        let mut server = MotoServer { child, endpoint: String::new() };
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("moto printed no port: {line:?}"));
        server.endpoint = format!("http://127.0.0.1:{port}");
        server
    }

    /// moto's own threaded server, with every service it has.
    #[must_use]
    pub fn start() -> MotoServer {
        let script = "from moto.moto_server.threaded_moto_server import ThreadedMotoServer\n\
                      import time\n\
                      server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n\
                      server.start()\n\
                      print(server.get_host_and_port()[1], flush=True)\n\
                      while True: time.sleep(3600)\n";
        let mut command = Command::new(venv_python());
        command.args(["-c", script]);
        MotoServer::spawn(command)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
