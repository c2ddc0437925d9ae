//! What an environment runs: the function's description, its command line and its variables.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::Rng as _;

use super::hex;
use super::isolation::Isolation;

/// Everything needed to start a function's environment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FunctionSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: String,
    /// `_HANDLER`.
    pub handler: String,
    /// The `Runtime` identifier (`provided.al2023`, `python3.12`).
    pub runtime: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub memory_mb: u32,
    /// The invocation timeout.
    pub timeout: Duration,
    /// The executable that starts the runtime (`bootstrap`, or `python3` for Python).
    pub bootstrap: PathBuf,
    /// Its arguments (`-m awslambdaric handler` for Python).
    pub bootstrap_args: Vec<String>,
    /// The function's code (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// Layer folders, in order; together they are `/opt`.
    pub layer_dirs: Vec<PathBuf>,
    /// The function's own variables.
    pub environment: BTreeMap<String, String>,
    /// `AWS_REGION`.
    pub region: String,
    /// The account id in ARNs.
    pub account_id: String,
    /// Freeze the processes between invocations (SIGSTOP), as Lambda does.
    pub freeze: bool,
    /// Give the processes real `/var/task`, `/opt` and a private `/tmp` where possible.
    pub isolate: bool,
}

impl FunctionSpec {
    /// A spec with Lambda's defaults: 128 MB, 3 s, frozen between invocations, isolated.
    #[must_use]
    pub fn new(name: &str, runtime: &str, bootstrap: PathBuf, code_dir: PathBuf) -> Self {
        FunctionSpec {
            name: name.to_owned(),
            handler: "bootstrap".to_owned(),
            runtime: runtime.to_owned(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            bootstrap,
            bootstrap_args: Vec::new(),
            code_dir,
            layer_dirs: Vec::new(),
            environment: BTreeMap::new(),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            freeze: true,
            isolate: true,
        }
    }

    /// The `AWS_LAMBDA_EXEC_WRAPPER` script, which Lambda honours for managed runtimes only.
    fn exec_wrapper(&self, isolation: &Isolation) -> Option<PathBuf> {
        if self.runtime.starts_with("provided") {
            return None;
        }
        let wrapper = self.environment.get("AWS_LAMBDA_EXEC_WRAPPER")?;
        // The wrapper names a path inside the environment (usually under /opt).
        Some(match wrapper.strip_prefix("/opt/") {
            Some(rest) => isolation.opt().join(rest),
            None => PathBuf::from(wrapper),
        })
    }

    /// The runtime's command line: the bootstrap, through the exec wrapper where there is one.
    pub(crate) fn runtime_command(&self, isolation: &Isolation) -> (PathBuf, Vec<OsString>) {
        let mut args: Vec<OsString> = self.bootstrap_args.iter().map(OsString::from).collect();
        match self.exec_wrapper(isolation) {
            Some(wrapper) => {
                args.insert(0, self.bootstrap.as_os_str().to_owned());
                (wrapper, args)
            }
            None => (self.bootstrap.clone(), args),
        }
    }

    /// The variables Lambda sets, then the function's own (which cannot override Lambda's).
    pub(crate) fn environment(&self, api_addr: SocketAddr, isolation: &Isolation) -> Vec<(String, String)> {
        let host_path = std::env::var("PATH").unwrap_or_default();
        let opt = isolation.opt().display().to_string();
        let task_root = isolation.task_root().display().to_string();
        let stream_id: [u8; 16] = rand::rng().random();
        let date = humantime::format_rfc3339(SystemTime::now()).to_string();
        let date = date.get(..10).unwrap_or_default().replace('-', "/");
        let mut vars: Vec<(String, String)> = vec![
            ("AWS_LAMBDA_FUNCTION_NAME".into(), self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), self.memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{}", self.name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), format!("{date}/[$LATEST]{}", hex(&stream_id))),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.region.clone()),
            ("AWS_EXECUTION_ENV".into(), format!("AWS_Lambda_{}", self.runtime)),
            ("AWS_LAMBDA_RUNTIME_API".into(), api_addr.to_string()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
            ("LAMBDA_TASK_ROOT".into(), task_root.clone()),
            ("LAMBDA_RUNTIME_DIR".into(), task_root),
            ("_HANDLER".into(), self.handler.clone()),
            ("TZ".into(), ":UTC".into()),
            ("LANG".into(), "en_US.UTF-8".into()),
            ("PATH".into(), format!("{opt}/bin:{host_path}")),
            ("LD_LIBRARY_PATH".into(), format!("{opt}/lib")),
        ];
        let tmp = isolation.tmp();
        if tmp != Path::new("/tmp") {
            vars.push(("TMPDIR".into(), tmp.display().to_string()));
        }
        for passed in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"] {
            if let Ok(value) = std::env::var(passed) {
                vars.push((passed.into(), value));
            }
        }
        for (key, value) in &self.environment {
            if !vars.iter().any(|(reserved, _)| reserved == key) {
                vars.push((key.clone(), value.clone()));
            }
        }
        // On Lambda every environment has a loopback of its own; here they share the host's, so
        // each gets free ports for the Intercept extension's listeners unless the function set them.
        for (key, format) in LOOPBACK_PORTS {
            if !self.environment.contains_key(key)
                && let Some(port) = free_port()
            {
                vars.push((key.into(), format.replace("{port}", &port.to_string())));
            }
        }
        vars
    }
}

/// Variables naming a loopback port that Lambda would give every environment alone, with the
/// format of their value.
const LOOPBACK_PORTS: [(&str, &str); 2] =
    [("INTERCEPT_OTLP_LISTEN", "127.0.0.1:{port}"), ("INTERCEPT_PROXY_PORT", "{port}")];

fn free_port() -> Option<u16> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map(|a| a.port()).ok()
}

/// Executables in `/opt/extensions`, in name order (as Lambda starts them).
pub(crate) fn extension_names(opt: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = std::fs::read_dir(opt.join("extensions"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name())
        .collect();
    names.sort();
    names
}
