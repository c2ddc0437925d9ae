//! Running a handler under Intercept inside `lambda_runtime`'s loop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Diagnostic, LambdaEvent, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::{Layer as _, Service};

use crate::config::{Config, ConfigError};
use crate::interceptor::{BuildError, Interceptor};
use crate::layer::{FlushLayer, InterceptLayer};

/// Runs `handler` behind Intercept's filters with the configuration from the environment.
///
/// A bad setting is reported to the Runtime API as an init error (as Lambda expects) and
/// returned, so the function stops at init instead of failing every request.
///
/// ```no_run
/// use lambda_runtime::{Error, LambdaEvent, service_fn};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     intercept::run(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
/// The configuration error, or whatever stops `lambda_runtime`'s loop.
pub async fn run<S, T, R>(handler: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<LambdaEvent<T>, Response = R> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Diagnostic> + fmt::Debug,
    T: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    Options::new().run(handler).await
}

/// How [`run`] starts a function: settings that win over the environment, and a one-time
/// initialisation. This is what `#[intercept::main(...)]` builds from its arguments.
///
/// ```no_run
/// use lambda_runtime::{Error, LambdaEvent, service_fn};
/// use serde_json::Value;
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// async fn init() -> Result<Greeter, Error> {
///     Ok(Greeter { greeting: "hello".to_owned() })
/// }
///
/// async fn handler(_event: LambdaEvent<Value>, greeter: &Greeter) -> Result<String, Error> {
///     Ok(greeter.greeting.clone())
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     intercept::Options::new()
///         .with_setting("INTERCEPT_RATE_LIMIT", "100/s")
///         .run_with_init(intercept::Init::new(init), |greeter| service_fn(move |event| handler(event, greeter)))
///         .await
/// }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Options {
    /// Settings read before the environment: (variable, value).
    settings: Vec<(&'static str, String)>,
}

impl Options {
    /// No overrides: every setting comes from the environment.
    pub fn new() -> Self {
        Options::default()
    }

    /// Sets `variable` (e.g. `INTERCEPT_AUTH`) to `value`, whatever the environment says.
    pub fn with_setting(mut self, variable: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.settings.iter_mut().find(|(name, _)| *name == variable) {
            Some(setting) => setting.1 = value,
            None => self.settings.push((variable, value)),
        }
        self
    }

    /// Reads the configuration from these settings, then from `lookup` (the environment in
    /// [`Options::run`]).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that is missing or malformed; when that
    /// setting was given here, the message says so.
    pub fn config(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| self.setting(name).map(str::to_owned).or_else(|| lookup(name))).map_err(|error| {
            match self.setting(error.setting) {
                Some(value) => ConfigError {
                    problem: format!("{} (`{value}` set in the code, not the environment)", error.problem),
                    ..error
                },
                None => error,
            }
        })
    }

    fn setting(&self, variable: &str) -> Option<&str> {
        self.settings.iter().find(|(name, _)| *name == variable).map(|(_, value)| value.as_str())
    }

    /// Runs `handler` behind the filters, as [`run`] does, with these settings.
    ///
    /// # Errors
    /// The configuration error, or whatever stops `lambda_runtime`'s loop.
    pub async fn run<S, T, R>(self, handler: S) -> Result<(), lambda_runtime::Error>
    where
        S: Service<LambdaEvent<T>, Response = R> + Clone + 'static,
        S::Future: 'static,
        S::Error: Into<Diagnostic> + fmt::Debug,
        T: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        let interceptor = self.start().await?;
        serve(interceptor, handler).await
    }

    /// Reads the configuration and builds the filters, then runs `init` once, then serves
    /// the handler that `make_handler` builds around `init`'s result.
    ///
    /// The state lives as long as the execution environment (it is never dropped), so every
    /// invocation borrows it for `'static` and the handler's futures can hold on to it.
    ///
    /// # Errors
    /// [`InitError::Init`] when `init` fails (also reported to the Runtime API), the
    /// configuration error, or whatever stops `lambda_runtime`'s loop.
    pub async fn run_with_init<State, H, S, T, R>(
        self,
        init: Init<State>,
        make_handler: H,
    ) -> Result<(), lambda_runtime::Error>
    where
        State: 'static,
        H: FnOnce(&'static State) -> S,
        S: Service<LambdaEvent<T>, Response = R> + Clone + 'static,
        S::Future: 'static,
        S::Error: Into<Diagnostic> + fmt::Debug,
        T: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        let interceptor = self.start().await?;
        let state = match (init.start)().await {
            Ok(state) => state,
            Err(message) => {
                let error = InitError::Init { function: init.function, message };
                report_init_error(&error).await;
                return Err(Box::new(error));
            }
        };
        // Built once and kept for the environment's life, as Lambda keeps it: leaking it is
        // what lets each invocation's future borrow it without an Arc in the handler's type.
        let state: &'static State = Box::leak(Box::new(state));
        serve(interceptor, make_handler(state)).await
    }

    /// The configuration and the filters, or the init error already reported.
    async fn start(&self) -> Result<Arc<Interceptor>, lambda_runtime::Error> {
        // Running a function is the caller's opt-in to structured logs (intercept::telemetry::logging).
        if let Err(error) = crate::telemetry::logging::init() {
            tracing::debug!(%error, "keeping the process's own log subscriber");
        }
        let built = async {
            check_lambda_environment(|name| std::env::var_os(name).is_some())?;
            // A remote INTERCEPT_POLICY (AppConfig, S3, SSM) is read once here, at init.
            let settings = self.settings.clone();
            let lookup = move |name: &str| {
                settings.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).or_else(|| std::env::var(name).ok())
            };
            crate::policy::prefetch(&lookup).await?;
            let config = self.config(|name| std::env::var(name).ok())?;
            let interceptor = Interceptor::connect(&config).await.map_err(|error| match error {
                BuildError::Config(error) => InitError::Config(error),
                other => InitError::Build(other.to_string()),
            })?;
            let interceptor = Arc::new(interceptor);
            interceptor.watch_policy(lookup)?;
            Ok::<_, InitError>(interceptor)
        }
        .await;
        match built {
            Ok(interceptor) => Ok(interceptor),
            Err(error) => {
                report_init_error(&error).await;
                Err(Box::new(error))
            }
        }
    }
}

/// The variables Lambda sets that `lambda_runtime` needs, checked first so that a function
/// run outside Lambda says so instead of panicking in the runtime client.
const LAMBDA_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

fn check_lambda_environment(is_set: impl Fn(&str) -> bool) -> Result<(), InitError> {
    match LAMBDA_VARIABLES.into_iter().find(|variable| !is_set(variable)) {
        Some(variable) => Err(InitError::NotInLambda { variable }),
        None => Ok(()),
    }
}

/// A function's one-time initialisation: an `async fn() -> Result<State, E>` (`E: Display`)
/// that [`Options::run_with_init`] runs once per execution environment.
///
/// `#[intercept::main(init = path)]` builds it from `path`, which is where a function of the
/// wrong type is reported.
pub struct Init<State> {
    function: &'static str,
    start: Box<dyn FnOnce() -> InitFuture<State>>,
}

/// `init`'s future, its error displayed.
type InitFuture<State> = Pin<Box<dyn Future<Output = Result<State, String>>>>;

impl<State: 'static> Init<State> {
    /// Wraps `init`; its error is kept as displayed, with the function's path.
    ///
    /// ```
    /// struct Pool;
    ///
    /// async fn connect() -> Result<Pool, std::io::Error> {
    ///     Ok(Pool)
    /// }
    ///
    /// let init = intercept::Init::new(connect);
    /// assert!(format!("{init:?}").contains("connect"));
    /// ```
    pub fn new<E, I, Fut>(init: I) -> Self
    where
        I: FnOnce() -> Fut + 'static,
        Fut: Future<Output = Result<State, E>> + 'static,
        E: fmt::Display,
    {
        Init {
            function: std::any::type_name::<I>(),
            start: Box::new(move || Box::pin(async move { init().await.map_err(|error| error.to_string()) })),
        }
    }
}

impl<State> fmt::Debug for Init<State> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Init").field("function", &self.function).finish_non_exhaustive()
    }
}

async fn serve<S, T, R>(interceptor: Arc<Interceptor>, handler: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<LambdaEvent<T>, Response = R> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Diagnostic> + fmt::Debug,
    T: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    let exporter = interceptor.exporter().cloned();
    let flush = FlushLayer::new(exporter).with_policy_check(Arc::clone(&interceptor));
    let service = InterceptLayer::new(interceptor).layer(handler);
    Runtime::new(service).layer(flush).layer(TracingLayer::new()).run().await
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting is missing or malformed.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The filters could not be built.
    #[error("cannot start: {0}")]
    Build(String),
    /// A variable Lambda always sets is missing: the program was started outside Lambda.
    #[error(
        "{variable} is not set: this program is a Lambda function and runs in Lambda's execution environment; \
         run it locally with `intercept-sam local invoke FUNCTION -t template.yaml -e event.json`"
    )]
    NotInLambda {
        /// The first missing variable.
        variable: &'static str,
    },
    /// The function's own one-time initialisation (`init`) failed.
    #[error("{function} failed: {message}")]
    Init {
        /// The init function's path.
        function: &'static str,
        /// Its error, as displayed.
        message: String,
    },
}

impl InitError {
    /// The stable `errorType` reported to Lambda: `Intercept.ConfigError` for settings and
    /// filters, `Intercept.InitError` for the function's own `init`.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            InitError::Config(_) | InitError::Build(_) | InitError::NotInLambda { .. } => ConfigError::ERROR_TYPE,
            InitError::Init { .. } => "Intercept.InitError",
        }
    }
}

/// Tells the Runtime API that init failed, so Lambda reports it as `Runtime.InitError`-like
/// failure with this message rather than a bare process exit.
async fn report_init_error(error: &InitError) {
    // One init per process: the one report of this process's init.
    static REPORT: InitErrorReport = InitErrorReport::new();
    eprintln!("intercept: {error}");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let post = |path, [(header, error_type)]: [(&'static str, &str); 1], body| {
        reqwest::Client::new().post(format!("http://{api}{path}")).header(header, error_type).body(body).send()
    };
    if let Some(Err(error)) = REPORT.send(error.error_type(), &error.to_string(), post).await {
        eprintln!("intercept: could not report the init error to the Runtime API: {error}");
    }
}

/// The init-error report to Lambda's Runtime API, sent at most once:
/// `POST /2018-06-01/runtime/init/error` ([`InitErrorReport::PATH`]) with the header
/// `Lambda-Runtime-Function-Error-Type: TYPE` and the body
/// `{"errorMessage":MESSAGE,"errorType":TYPE,"stackTrace":[]}` ([`InitErrorReport::document`]).
///
/// [`run`] reports its [`InitError`] with it (`Intercept.ConfigError` or `Intercept.InitError`);
/// the extension's Runtime API proxy reports its filters' configuration error with it. The
/// caller gives the transport: a function of the path, the header and the body that posts them
/// to its Runtime API.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let report = intercept::InitErrorReport::new();
/// let sent = report
///     .send("Intercept.ConfigError", "INTERCEPT_AUTH: unknown", |path, [(header, error_type)], body| async move {
///         assert_eq!(path, "/2018-06-01/runtime/init/error");
///         assert_eq!((header, error_type), ("Lambda-Runtime-Function-Error-Type", "Intercept.ConfigError"));
///         body // a real transport posts it and returns its answer
///     })
///     .await;
/// let document = r#"{"errorMessage":"INTERCEPT_AUTH: unknown","errorType":"Intercept.ConfigError","stackTrace":[]}"#;
/// assert_eq!(sent.as_deref(), Some(document));
/// // Once per init: a second report is not sent.
/// assert!(report.send("Intercept.ConfigError", "again", |_, _, body| async move { body }).await.is_none());
/// # }
/// ```
#[derive(Debug, Default)]
pub struct InitErrorReport {
    sent: AtomicBool,
}

impl InitErrorReport {
    /// The Runtime API's path for an init error.
    pub const PATH: &'static str = "/2018-06-01/runtime/init/error";
    /// The header naming the error's type.
    pub const ERROR_TYPE_HEADER: &'static str = "Lambda-Runtime-Function-Error-Type";

    /// A report not sent yet.
    #[must_use]
    pub const fn new() -> Self {
        InitErrorReport { sent: AtomicBool::new(false) }
    }

    /// The body: `{"errorMessage":message,"errorType":error_type,"stackTrace":[]}`, the Runtime
    /// API's error document (an invocation's error has the same shape).
    #[must_use]
    pub fn document(error_type: &str, message: &str) -> String {
        serde_json::json!({ "errorMessage": message, "errorType": error_type, "stackTrace": [] }).to_string()
    }

    /// Sends the report through `transport` (the path, the error-type header and the body) and
    /// returns what the transport returned; `None`, without calling it, when this report was
    /// sent already.
    pub async fn send<'a, T, F>(&self, error_type: &'a str, message: &str, transport: T) -> Option<F::Output>
    where
        T: FnOnce(&'static str, [(&'static str, &'a str); 1], String) -> F,
        F: Future,
    {
        if self.sent.swap(true, Ordering::Relaxed) {
            return None;
        }
        let body = Self::document(error_type, message);
        Some(transport(Self::PATH, [(Self::ERROR_TYPE_HEADER, error_type)], body).await)
    }
}

/// The macro's compile-time grammar, compiled here from its own source so the table below
/// checks it against the runtime parsers.
#[cfg(test)]
#[path = "../macros/src/grammar.rs"]
#[allow(dead_code)]
mod macro_grammar;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_win_over_the_environment() {
        let environment = lookup(&[("INTERCEPT_AUTH", "none"), ("INTERCEPT_RATE_LIMIT", "1/s")]);
        let options = Options::new()
            .with_setting("INTERCEPT_AUTH", "jwt")
            .with_setting("INTERCEPT_JWT_SECRET", "first")
            .with_setting("INTERCEPT_JWT_SECRET", "s3cret")
            .with_setting("INTERCEPT_RATE_LIMIT", "5/m")
            .with_setting("INTERCEPT_RATE_LIMIT_KEY", "principal");
        let config = options.config(environment).expect("valid");
        assert!(config.auth().jwt.is_some(), "auth from the code, not the environment's none");
        let rules = &config.rate_limit().expect("a limit").rules;
        assert_eq!(rules.len(), 1);
        assert_eq!((rules[0].quota.count, rules[0].key), (5, crate::ratelimit::LimitKey::Principal));
        // Without overrides the environment decides.
        let config = Options::new().config(lookup(&[("INTERCEPT_RATE_LIMIT", "1/s")])).expect("valid");
        assert_eq!(config.rate_limit().expect("a limit").rules[0].quota.count, 1);
    }

    #[test]
    fn errors_about_code_settings_say_so() {
        let options = Options::new().with_setting("INTERCEPT_RATE_LIMIT_KEY", "principal");
        let error = options.config(lookup(&[])).expect_err("a key without a limit");
        assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT_KEY");
        assert!(error.problem.contains("`principal` set in the code"), "{error}");
        // An environment variable's error is reported as it was.
        let error = options.config(lookup(&[("INTERCEPT_RATE_LIMIT", "5/x")])).expect_err("bad rate");
        assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT");
        assert!(!error.problem.contains("set in the code"), "{error}");
    }

    #[test]
    fn init_errors_have_their_own_type() {
        let error = InitError::Init { function: "app::init", message: "no database".to_owned() };
        assert_eq!(error.error_type(), "Intercept.InitError");
        assert_eq!(error.to_string(), "app::init failed: no database");
        let config = InitError::Config(ConfigError::new("INTERCEPT_AUTH", "bad"));
        assert_eq!(config.error_type(), "Intercept.ConfigError");
    }

    /// LAMBDA_APIS.md: `POST /2018-06-01/runtime/init/error`, header
    /// `Lambda-Runtime-Function-Error-Type`, body `{errorMessage, errorType, stackTrace}`; one per init.
    #[tokio::test]
    async fn the_init_error_report_is_the_runtime_apis_document_sent_once() {
        let error = InitError::Init { function: "app::init", message: "no \"database\"".to_owned() };
        let report = InitErrorReport::new();
        let mut calls = 0;
        let post = |path: &'static str, headers: [(&'static str, &str); 1], body: String| {
            calls += 1;
            let headers = headers.map(|(name, value)| (name, value.to_owned()));
            async move { (path, headers, body) }
        };
        let (path, headers, body) = report.send(error.error_type(), &error.to_string(), post).await.expect("sent");
        assert_eq!(path, "/2018-06-01/runtime/init/error");
        assert_eq!(headers, [("Lambda-Runtime-Function-Error-Type", "Intercept.InitError".to_owned())]);
        assert_eq!(
            body,
            r#"{"errorMessage":"app::init failed: no \"database\"","errorType":"Intercept.InitError","stackTrace":[]}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            parsed,
            serde_json::json!({
                "errorMessage": "app::init failed: no \"database\"", "errorType": "Intercept.InitError", "stackTrace": []
            })
        );
        let again = report.send("Intercept.ConfigError", "later", |_, _, _| async { panic!("sent twice") }).await;
        assert!(again.is_none(), "at most one report per init");
        assert_eq!(calls, 1);
        // Another report (another proxy's environment) is sent on its own.
        let other =
            InitErrorReport::default().send("Intercept.ConfigError", "m", |_, _, body| async move { body }).await;
        assert_eq!(
            other.as_deref(),
            Some(r#"{"errorMessage":"m","errorType":"Intercept.ConfigError","stackTrace":[]}"#)
        );
    }

    #[test]
    fn outside_lambda_the_missing_variable_is_named() {
        let error = check_lambda_environment(|name| name == "AWS_LAMBDA_RUNTIME_API").expect_err("not in Lambda");
        assert!(matches!(error, InitError::NotInLambda { variable: "AWS_LAMBDA_FUNCTION_NAME" }), "{error:?}");
        assert!(error.to_string().contains("intercept-sam local invoke"), "{error}");
        let error = check_lambda_environment(|_| false).expect_err("not in Lambda");
        assert!(error.to_string().starts_with("AWS_LAMBDA_RUNTIME_API is not set"), "{error}");
        assert!(check_lambda_environment(|_| true).is_ok());
    }

    #[tokio::test]
    async fn init_keeps_its_function_and_error() {
        struct Pool(u8);
        async fn connect() -> Result<Pool, std::num::ParseIntError> {
            "7".parse().map(Pool)
        }
        async fn refuse() -> Result<Pool, std::num::ParseIntError> {
            "seven".parse().map(Pool)
        }
        let init = Init::new(connect);
        assert!(init.function.ends_with("connect"), "{init:?}");
        assert_eq!((init.start)().await.map(|pool| pool.0), Ok(7));
        let init = Init::new(refuse);
        assert!(init.function.ends_with("refuse"), "{init:?}");
        assert_eq!((init.start)().await.err().as_deref(), Some("invalid digit found in string"));
    }

    /// Whether the runtime accepts `variable = value` (with a key source so `jwt` can pass).
    fn runtime_accepts(variable: &str, value: &str) -> bool {
        let mut pairs = vec![(variable, value), ("INTERCEPT_JWT_SECRET", "s"), ("INTERCEPT_API_KEYS", "a=b")];
        if variable != "INTERCEPT_RATE_LIMIT" {
            pairs.push(("INTERCEPT_RATE_LIMIT", "1/s"));
        }
        Config::from_lookup(lookup(&pairs)).is_ok()
    }

    #[test]
    fn the_macro_grammar_agrees_with_the_runtime_parsers() {
        use macro_grammar::{check_auth, check_burst, check_limit_key, check_rate_limit};
        let rates = [
            ("100/s", true),
            ("6000/m", true),
            ("10/h", true),
            ("1/d", true),
            ("5/sec", true),
            ("5/second", true),
            ("5/min", true),
            ("5/minute", true),
            ("5/hour", true),
            ("5/day", true),
            ("100/m, 20/s key=principal burst=40", true),
            ("20/s key=api-key name=keys", true),
            ("1000/h name=hourly, 10/s", true),
            ("10/s key=route, 10/s key=global", true),
            ("4294967295/s", true),
            ("100/x", false),
            ("100", false),
            ("/s", false),
            ("0/s", false),
            ("-1/s", false),
            ("1.5/s", false),
            ("five/s", false),
            ("4294967296/s", false),
            ("100/s,", false),
            ("100/s, , 5/m", false),
            ("10/s key=user", false),
            ("10/s burst=0", false),
            ("10/s burst=x", false),
            ("10/s colour=red", false),
            ("10/s principal", false),
            ("10/s name=a\"b", false),
            ("10/s, 20/m", false),
            ("10/s name=a, 20/m name=a", false),
            ("10/s key=principal, 20/m key=principal", false),
        ];
        for (rate, accepted) in rates {
            assert_eq!(check_rate_limit(rate, Some("source-ip")).is_ok(), accepted, "macro on {rate:?}");
            assert_eq!(runtime_accepts("INTERCEPT_RATE_LIMIT", rate), accepted, "runtime on {rate:?}");
        }
        // With the default key unknown at compile time, only certain collisions are errors.
        assert!(check_rate_limit("10/s key=source-ip, 20/m", None).is_ok());
        assert!(check_rate_limit("10/s, 20/m", None).is_err());

        for (key, accepted) in [
            ("source-ip", true),
            ("principal", true),
            ("api-key", true),
            ("route", true),
            ("global", true),
            ("user", false),
            ("ip", false),
            ("Principal", false),
        ] {
            assert_eq!(check_limit_key(key).is_ok(), accepted, "macro on {key:?}");
            assert_eq!(runtime_accepts("INTERCEPT_RATE_LIMIT_KEY", key), accepted, "runtime on {key:?}");
        }
        for (burst, accepted) in [("1", true), ("40", true), ("0", false), ("-2", false), ("x", false), ("1.5", false)]
        {
            assert_eq!(check_burst(burst).is_ok(), accepted, "macro on {burst:?}");
            assert_eq!(runtime_accepts("INTERCEPT_RATE_LIMIT_BURST", burst), accepted, "runtime on {burst:?}");
        }
        for (auth, accepted) in [
            ("jwt", true),
            ("api-key", true),
            ("none", true),
            ("jwt,api-key", true),
            ("jwt, api-key", true),
            ("saml", false),
            ("JWT", false),
            ("jwt,", false),
            ("apikey", false),
        ] {
            assert_eq!(check_auth(auth).is_ok(), accepted, "macro on {auth:?}");
            assert_eq!(runtime_accepts("INTERCEPT_AUTH", auth), accepted, "runtime on {auth:?}");
        }
    }
}
