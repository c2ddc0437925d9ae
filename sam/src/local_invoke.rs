//! `intercept-sam local invoke`: build, start one environment, invoke it with each event.

use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::collector::{Collector, render_trees};
use crate::functions::{SpecOptions, function_spec};
use crate::sandbox::{Environment, ErrorDocument, Outcome};
use crate::template::{LoadOptions, Template};

/// A user-facing failure of a command: one line that says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError(message)
    }
}

impl CliError {
    /// Function `name` could not start: its init error, named.
    pub(crate) fn init_failed(name: &str, error: &ErrorDocument) -> Self {
        CliError(format!("{name} failed to initialise: {}: {}", error.error_type, error.error_message))
    }
}

/// What `local invoke` and `local start-lambda` (and so `start-api`) start from: the template
/// `-t` names, loaded with `--parameter-overrides` in the functions' region, its warnings
/// printed; and the OTLP receiver the functions' telemetry goes to.
pub(crate) async fn open_template(
    path: &Path,
    parameter_overrides: &[(String, String)],
    spec: &SpecOptions,
) -> Result<(Template, Collector), CliError> {
    let load =
        LoadOptions::default().with_parameter_overrides(parameter_overrides.to_vec()).with_region(spec.region.clone());
    let template = Template::load(path, &load).map_err(|e| CliError(e.to_string()))?;
    for warning in &template.warnings {
        eprintln!("intercept-sam: warning: {warning}");
    }
    let collector = Collector::start().await.map_err(|e| CliError(format!("cannot start the OTLP receiver: {e}")))?;
    Ok((template, collector))
}

/// Where an event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// `-e -`.
    Stdin,
    /// `-e FILE`.
    File(PathBuf),
}

/// The options of `local invoke`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvokeOptions {
    /// `-t`.
    pub template: PathBuf,
    /// The function's logical id; optional when the template has one function.
    pub function: Option<String>,
    /// `-e`, in order; none means one empty event `{}`.
    pub events: Vec<EventSource>,
    /// `--parameter-overrides`.
    pub parameter_overrides: Vec<(String, String)>,
    /// How functions are built and run.
    pub spec: SpecOptions,
}

impl InvokeOptions {
    /// Options for a template, with everything else defaulted.
    #[must_use]
    pub fn new(template: PathBuf) -> Self {
        InvokeOptions {
            template,
            function: None,
            events: Vec::new(),
            parameter_overrides: Vec::new(),
            spec: SpecOptions::default(),
        }
    }
}

fn read_events(sources: &[EventSource]) -> Result<Vec<Bytes>, CliError> {
    if sources.is_empty() {
        return Ok(vec![Bytes::from_static(b"{}")]);
    }
    sources
        .iter()
        .map(|source| {
            let (name, bytes) = match source {
                EventSource::Stdin => {
                    let mut bytes = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut bytes)
                        .map_err(|e| CliError(format!("cannot read the event from stdin: {e}")))?;
                    ("stdin".to_owned(), bytes)
                }
                EventSource::File(path) => {
                    let bytes = std::fs::read(path)
                        .map_err(|e| CliError(format!("cannot read event file {}: {e}", path.display())))?;
                    (path.display().to_string(), bytes)
                }
            };
            serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
                .map_err(|e| CliError(format!("event {name} is not JSON: {e}")))?;
            Ok(Bytes::from(bytes))
        })
        .collect()
}

/// Runs `local invoke`: responses to `stdout`, one line per event; logs, REPORT lines and
/// trace trees to stderr.
///
/// # Errors
/// A [`CliError`] for a bad template, event, build, or a function that fails to initialise.
pub async fn local_invoke(options: &InvokeOptions, stdout: &mut impl Write) -> Result<(), CliError> {
    let (template, collector) = open_template(&options.template, &options.parameter_overrides, &options.spec).await?;
    let function = template.function(options.function.as_deref())?;
    let events = read_events(&options.events)?;
    let spec = function_spec(&template, function, &options.spec, &collector.targets())?;

    let mut environment: Option<Environment> = None;
    for event in events {
        let env = match environment.as_mut() {
            Some(env) => env,
            None => {
                let started = Environment::start(spec.clone()).await.map_err(|error| {
                    let _ = writeln!(stdout, "{}", error.body);
                    CliError::init_failed(&spec.name, &error)
                })?;
                environment.insert(started)
            }
        };
        let invoked = env.invoke(event).await;
        match &invoked.outcome {
            Outcome::Response(body) => {
                let _ = stdout.write_all(body);
                let _ = stdout.write_all(b"\n");
            }
            Outcome::Error(error) => {
                let _ = writeln!(stdout, "{}", error.body);
            }
        }
        let _ = stdout.flush();
        // The environment printed START, END and REPORT in the function's log; the trace follows.
        eprint!("{}", render_trees(&collector.take()));
        if !env.is_reusable()
            && let Some(env) = environment.take()
        {
            let reason = env.shutdown_reason();
            env.shutdown(reason).await;
        }
    }
    if let Some(env) = environment.take() {
        let reason = env.shutdown_reason();
        env.shutdown(reason).await;
    }
    eprint!("{}", render_trees(&collector.take()));
    Ok(())
}
