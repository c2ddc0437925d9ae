//! What an environment runs: the function's description, its command line and its variables.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::Rng as _;

use super::isolation::Isolation;
use crate::aws_profile::AwsCredentials;

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
    /// The role's credentials Lambda would give (`None`: SAM CLI's placeholders).
    pub credentials: Option<AwsCredentials>,
    /// `LoggingConfig.LogFormat` (`AWS_LAMBDA_LOG_FORMAT`).
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel` (`AWS_LAMBDA_LOG_LEVEL`, with the JSON format only).
    pub log_level: Option<String>,
    /// `LoggingConfig.LogGroup` (`AWS_LAMBDA_LOG_GROUP_NAME`).
    pub log_group: Option<String>,
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
            credentials: None,
            log_format: None,
            log_level: None,
            log_group: None,
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

    /// The environment's variables, all made here: Lambda's (with its paths mapped to where
    /// this environment's `/var/task`, `/opt` and runtime are), SAM CLI's `AWS_SAM_LOCAL`, the
    /// credentials, then the function's own, which replace Lambda's unreserved ones (`PATH`,
    /// `LANG`, ...) but no reserved one.
    pub(crate) fn environment(&self, api_addr: SocketAddr, isolation: &Isolation) -> Vec<(String, String)> {
        let opt = isolation.opt().display().to_string();
        let task_root = isolation.task_root().display().to_string();
        let stream_id: [u8; 16] = rand::rng().random();
        let date = humantime::format_rfc3339(SystemTime::now()).to_string();
        let date = date.get(..10).unwrap_or_default().replace('-', "/");
        let log_group = self.log_group.clone().unwrap_or_else(|| format!("/aws/lambda/{}", self.name));
        let mut vars: Vec<(String, String)> = vec![
            ("AWS_LAMBDA_FUNCTION_NAME".into(), self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), self.memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), log_group),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), format!("{date}/[$LATEST]{}", hex::encode(stream_id))),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.region.clone()),
            ("AWS_EXECUTION_ENV".into(), format!("AWS_Lambda_{}", self.runtime)),
            ("AWS_LAMBDA_RUNTIME_API".into(), api_addr.to_string()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
            ("LAMBDA_TASK_ROOT".into(), task_root.clone()),
            ("LAMBDA_RUNTIME_DIR".into(), task_root.clone()),
            ("_HANDLER".into(), self.handler.clone()),
            ("TZ".into(), ":UTC".into()),
            ("AWS_SAM_LOCAL".into(), "true".into()),
        ];
        if let Some(format) = &self.log_format {
            vars.push(("AWS_LAMBDA_LOG_FORMAT".into(), format.clone()));
            // Lambda applies (and so announces) a log level with the JSON format only.
            if format == "JSON" {
                vars.push(("AWS_LAMBDA_LOG_LEVEL".into(), self.log_level.clone().unwrap_or_else(|| "INFO".into())));
            }
        }
        // Without credentials SAM CLI gives functions placeholders, so SDKs fail at the service
        // rather than in the client.
        let (key, secret, token) = match &self.credentials {
            Some(c) => (c.access_key_id.clone(), c.secret_access_key.clone(), c.session_token.clone()),
            None => ("defaultkey".to_owned(), "defaultsecret".to_owned(), None),
        };
        vars.push(("AWS_ACCESS_KEY_ID".into(), key));
        vars.push(("AWS_SECRET_ACCESS_KEY".into(), secret));
        if let Some(token) = token {
            vars.push(("AWS_SESSION_TOKEN".into(), token));
        }
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            vars.push(("AWS_ENDPOINT_URL".into(), endpoint));
        }
        let tmp = isolation.tmp();
        if tmp != Path::new("/tmp") {
            vars.push(("TMPDIR".into(), tmp.display().to_string()));
        }
        // Unreserved: the function's own value replaces these.
        let mut unreserved: Vec<(String, String)> = vec![("LANG".into(), "en_US.UTF-8".into())];
        unreserved.extend(lambda_paths(&self.runtime, self.runtime_home().as_deref(), &task_root, &opt));
        for (key, value) in &self.environment {
            match unreserved.iter_mut().find(|(name, _)| name == key) {
                Some(slot) => slot.1.clone_from(value),
                None if vars.iter().any(|(reserved, _)| reserved == key) => {}
                None => vars.push((key.clone(), value.clone())),
            }
        }
        vars.extend(unreserved);
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

    /// What `/var/lang` is for a managed runtime here: the folder its interpreter (the
    /// bootstrap) is in, and that folder's parent (`bin/..`, where its `lib` is).
    fn runtime_home(&self) -> Option<PathBuf> {
        if self.runtime.starts_with("provided") {
            return None;
        }
        self.bootstrap.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_owned)
    }
}

/// Lambda's `PATH`, `LD_LIBRARY_PATH`, and `PYTHONPATH` or `NODE_PATH`, in Lambda's order, with
/// `/var/task`, `/opt` and `/var/lang/bin` mapped to where they are for this environment
/// (`runtime_bin`: the interpreter's folder; `/var/runtime` has no counterpart here).
pub(crate) fn lambda_paths(runtime: &str, runtime_bin: Option<&Path>, task: &str, opt: &str) -> Vec<(String, String)> {
    let lang = runtime_bin.map(|bin| {
        let lib = bin.parent().map_or_else(|| bin.join("lib"), |home| home.join("lib"));
        (bin.display().to_string(), lib.display().to_string())
    });
    let join = |parts: Vec<String>| parts.join(":");
    let mut path = Vec::new();
    let mut library_path = Vec::new();
    if let Some((bin, lib)) = &lang {
        path.push(bin.clone());
        library_path.push(lib.clone());
    }
    path.extend(["/usr/local/bin", "/usr/bin/", "/bin"].map(str::to_owned));
    path.push(format!("{opt}/bin"));
    library_path.extend(["/lib64", "/usr/lib64"].map(str::to_owned));
    library_path.extend([task.to_owned(), format!("{task}/lib"), format!("{opt}/lib")]);
    let mut paths = vec![("PATH".to_owned(), join(path)), ("LD_LIBRARY_PATH".to_owned(), join(library_path))];
    if let Some(version) = runtime.strip_prefix("python") {
        paths.push((
            "PYTHONPATH".to_owned(),
            join(vec![format!("{opt}/python/lib/python{version}/site-packages"), format!("{opt}/python")]),
        ));
    } else if let Some(version) = runtime.strip_prefix("nodejs") {
        let major = version.trim_end_matches(".x");
        paths.push((
            "NODE_PATH".to_owned(),
            join(vec![format!("{opt}/nodejs/node{major}/node_modules"), format!("{opt}/nodejs/node_modules")]),
        ));
    }
    paths
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_paths_are_lambdas_in_lambdas_order() {
        let python = lambda_paths("python3.12", Some(Path::new("/usr/lang/bin")), "/var/task", "/opt");
        assert_eq!(
            python,
            [
                ("PATH", "/usr/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
                ("LD_LIBRARY_PATH", "/usr/lang/lib:/lib64:/usr/lib64:/var/task:/var/task/lib:/opt/lib"),
                ("PYTHONPATH", "/opt/python/lib/python3.12/site-packages:/opt/python"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let node = lambda_paths("nodejs20.x", Some(Path::new("/usr/bin")), "/code", "/layers");
        assert_eq!(
            node[2],
            ("NODE_PATH".to_owned(), "/layers/nodejs/node20/node_modules:/layers/nodejs/node_modules".to_owned())
        );
        let rust = lambda_paths("provided.al2023", None, "/var/task", "/opt");
        assert_eq!(rust.len(), 2);
        assert_eq!(rust[0].1, "/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    }

    #[test]
    fn the_function_replaces_unreserved_variables_but_no_reserved_one() {
        let code = std::env::temp_dir().join(format!("intercept-sam-spec-env-{}", std::process::id()));
        std::fs::create_dir_all(&code).expect("code");
        let isolation = Isolation::prepare(&code, &[], 128, false, &[]).expect("isolation");
        let mut spec = FunctionSpec::new("Fn", "python3.12", PathBuf::from("/usr/lang/bin/python3.12"), code.clone());
        for (key, value) in [("PATH", "/mine"), ("AWS_REGION", "mars-1"), ("AWS_ACCESS_KEY_ID", "mine"), ("OWN", "x")] {
            spec.environment.insert(key.to_owned(), value.to_owned());
        }
        spec.log_format = Some("Text".to_owned());
        spec.log_level = Some("DEBUG".to_owned());
        let vars: std::collections::HashMap<String, String> =
            spec.environment("127.0.0.1:9001".parse().expect("address"), &isolation).into_iter().collect();
        assert_eq!(vars["PATH"], "/mine", "PATH is unreserved");
        assert_eq!(vars["AWS_REGION"], "us-east-1", "AWS_REGION is reserved");
        assert_eq!(
            (vars["AWS_ACCESS_KEY_ID"].as_str(), vars["AWS_SECRET_ACCESS_KEY"].as_str()),
            ("defaultkey", "defaultsecret")
        );
        assert_eq!((vars["OWN"].as_str(), vars["AWS_SAM_LOCAL"].as_str()), ("x", "true"));
        assert_eq!(vars["AWS_LAMBDA_LOG_FORMAT"], "Text");
        assert!(!vars.contains_key("AWS_LAMBDA_LOG_LEVEL"), "Lambda sets the level with the JSON format only");
        assert!(vars["PYTHONPATH"].contains("/python/lib/python3.12/site-packages:"), "{}", vars["PYTHONPATH"]);
        drop(isolation);
        let _ = std::fs::remove_dir_all(&code);
    }
}
