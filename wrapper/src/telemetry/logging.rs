//! Structured logs for the handler through `tracing`: every line carries the request id and
//! the trace and span ids of the invocation's spans, so a log line leads to its trace and back.
//!
//! Nothing is installed by the library on its own: [`init`] installs a global subscriber and
//! is called by [`crate::run`] (the caller's opt-in); [`layer`] gives the `tracing_subscriber`
//! layer to compose with a subscriber of one's own. Lambda's advanced logging controls are
//! honoured: `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`) and `AWS_LAMBDA_LOG_LEVEL` (`TRACE`,
//! `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`; `RUST_LOG`'s level when unset, else `INFO`).
//! Fields with sensitive names are written as `[REDACTED]`, and the credentials the current
//! invocation carried are scrubbed from whole lines.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

use super::redact::{REDACTED, Redactor, scrub_current};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line (`AWS_LAMBDA_LOG_FORMAT=JSON`).
    Json,
    /// Tab-separated text, as Lambda's managed runtimes write it (the default).
    Text,
}

/// The logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogConfig {
    /// JSON or text.
    pub format: LogFormat,
    /// The most verbose level written.
    pub level: LevelFilter,
    /// Which field names are redacted.
    pub redactor: Redactor,
}

impl LogConfig {
    /// Reads `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` (else `POWERTOOLS_LOG_LEVEL`, else
    /// `RUST_LOG` when it is a plain level) and the redaction settings from a lookup (the environment in [`init`]).
    /// Values Lambda would not set fall back to text at `INFO`.
    #[must_use]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let format = match lookup("AWS_LAMBDA_LOG_FORMAT") {
            Some(format) if format.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        // Lambda's log level (LoggingConfig) first, as Powertools does, then Powertools' own.
        let level = lookup("AWS_LAMBDA_LOG_LEVEL")
            .and_then(|level| parse_level(&level))
            .or_else(|| lookup("POWERTOOLS_LOG_LEVEL").and_then(|level| parse_level(&level)))
            .or_else(|| lookup("RUST_LOG").and_then(|level| parse_level(&level)))
            .unwrap_or(LevelFilter::INFO);
        let mut extra = Vec::new();
        for setting in ["INTERCEPT_API_KEY_HEADER", "INTERCEPT_JWT_HEADER", "INTERCEPT_JWT_COOKIE"] {
            extra.extend(lookup(setting));
        }
        if let Some(fields) = lookup("INTERCEPT_REDACT") {
            extra.extend(fields.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned));
        }
        LogConfig { format, level, redactor: Redactor::new(extra) }
    }
}

fn parse_level(text: &str) -> Option<LevelFilter> {
    Some(match text.trim().to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" | "WARNING" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => return None,
    })
}

/// The layer writing the handler's log lines to `writer`, filtered at the configured level.
pub fn layer<S, W>(config: &LogConfig, writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = config.level;
    // Spans pass whatever the level: a WARN line inside an INFO span still needs its ids.
    let filter =
        tracing_subscriber::filter::filter_fn(move |metadata| metadata.is_span() || level >= *metadata.level());
    LogLayer { format: config.format, redactor: config.redactor.clone(), writer }.with_filter(filter)
}

/// Why [`init`] installed nothing.
#[derive(Debug, thiserror::Error)]
#[error("a global tracing subscriber is already installed: {0}")]
pub struct AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError);

/// Installs the global subscriber writing to stdout with the settings from the environment.
///
/// # Errors
/// [`AlreadyInstalled`] when the process already has a global subscriber (which is then kept).
pub fn init() -> Result<(), AlreadyInstalled> {
    let config = LogConfig::from_lookup(|name| std::env::var(name).ok());
    Registry::default().with(layer(&config, std::io::stdout)).try_init()?;
    Ok(())
}

/// The ids a span gives the lines written inside it.
#[derive(Debug, Default, Clone)]
struct Ids {
    request_id: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
}

impl Visit for Ids {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }
}

impl Ids {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "requestId" | "request_id" => self.request_id = Some(value),
            "traceId" | "trace_id" => self.trace_id = Some(value),
            "spanId" | "span_id" => self.span_id = Some(value),
            _ => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.request_id.is_none() && self.trace_id.is_none() && self.span_id.is_none()
    }
}

struct LogLayer<W> {
    format: LogFormat,
    redactor: Redactor,
    writer: W,
}

/// An event's message and fields, sensitive ones redacted.
struct Fields<'a> {
    redactor: &'a Redactor,
    message: String,
    fields: Map<String, Value>,
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.put(field, Value::from(format!("{value:?}")));
        }
    }
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "message" {
            if let Value::String(text) = value {
                self.message = text;
            }
            return;
        }
        let value = if self.redactor.is_sensitive(name) { Value::from(REDACTED) } else { value };
        self.fields.insert(name.to_owned(), value);
    }
}

impl<S, W> Layer<S> for LogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut ids = Ids::default();
        attrs.record(&mut ids);
        if !ids.is_empty()
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(ids);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields { redactor: &self.redactor, message: String::new(), fields: Map::new() };
        event.record(&mut fields);
        // The innermost span's ids win; an outer span fills in what it lacks (the request id
        // of lambda_runtime's own span, say).
        let mut ids = Ids::default();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(found) = span.extensions().get::<Ids>() {
                    ids.request_id = ids.request_id.take().or_else(|| found.request_id.clone());
                    ids.trace_id = ids.trace_id.take().or_else(|| found.trace_id.clone());
                    ids.span_id = ids.span_id.take().or_else(|| found.span_id.clone());
                }
            }
        }
        let timestamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let level = level_name(*event.metadata().level());
        let line = match self.format {
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("timestamp".to_owned(), Value::from(timestamp));
                object.insert("level".to_owned(), Value::from(level));
                object.insert("message".to_owned(), Value::from(fields.message));
                object.insert("logger".to_owned(), Value::from(event.metadata().target()));
                for (key, value) in [("requestId", ids.request_id), ("traceId", ids.trace_id), ("spanId", ids.span_id)]
                {
                    if let Some(value) = value {
                        object.insert(key.to_owned(), Value::from(value));
                    }
                }
                for (key, value) in fields.fields {
                    object.entry(key).or_insert(value);
                }
                Value::Object(object).to_string()
            }
            LogFormat::Text => {
                let mut line =
                    format!("{timestamp}\t{}\t{level}\t{}", ids.request_id.as_deref().unwrap_or("-"), fields.message);
                for (key, value) in &fields.fields {
                    match value {
                        Value::String(text) => {
                            let _ = write!(line, " {key}={text}");
                        }
                        other => {
                            let _ = write!(line, " {key}={other}");
                        }
                    }
                }
                if let (Some(trace), Some(span)) = (&ids.trace_id, &ids.span_id) {
                    let _ = write!(line, " traceId={trace} spanId={span}");
                }
                line
            }
        };
        let mut line = scrub_current(&self.redactor, &line).into_owned();
        line.push('\n');
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(config: &LogConfig, body: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = Registry::default().with(layer(config, buffer.clone()));
        tracing::subscriber::with_default(subscriber, body);
        String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8")
    }

    #[test]
    fn lambdas_level_wins_over_powertools_which_wins_over_rust_log() {
        let level = |pairs: &[(&str, &str)]| {
            LogConfig::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())).level
        };
        assert_eq!(level(&[("POWERTOOLS_LOG_LEVEL", "ERROR"), ("RUST_LOG", "debug")]), LevelFilter::ERROR);
        assert_eq!(level(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("POWERTOOLS_LOG_LEVEL", "ERROR")]), LevelFilter::DEBUG);
        assert_eq!(level(&[("POWERTOOLS_LOG_LEVEL", "nonsense"), ("RUST_LOG", "warn")]), LevelFilter::WARN);
    }

    #[test]
    fn json_lines_carry_ids_and_redact_sensitive_fields() {
        let config = LogConfig::from_lookup(|name| match name {
            "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".to_owned()),
            "AWS_LAMBDA_LOG_LEVEL" => Some("WARN".to_owned()),
            "INTERCEPT_REDACT" => Some("ssn".to_owned()),
            _ => None,
        });
        let out = capture(&config, || {
            let outer = tracing::info_span!("Lambda runtime invoke", requestId = "req-1");
            let _outer = outer.enter();
            let inner = tracing::info_span!("handler", traceId = "0af7", spanId = "b7ad");
            let _inner = inner.enter();
            tracing::info!("below the level");
            tracing::warn!(authorization = "Bearer abc", ssn = "123-45-6789", order = 7, "charged");
        });
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
        assert_eq!(lines.len(), 1, "{out}");
        let line = &lines[0];
        assert_eq!(
            (line["requestId"].as_str(), line["traceId"].as_str(), line["spanId"].as_str()),
            (Some("req-1"), Some("0af7"), Some("b7ad"))
        );
        assert_eq!((line["level"].as_str(), line["message"].as_str()), (Some("WARN"), Some("charged")));
        assert_eq!((line["authorization"].as_str(), line["ssn"].as_str()), (Some(REDACTED), Some(REDACTED)));
        assert_eq!(line["order"], 7);
    }

    #[test]
    fn text_is_the_default() {
        let config = LogConfig::from_lookup(|_| None);
        assert_eq!((config.format, config.level), (LogFormat::Text, LevelFilter::INFO));
        let out = capture(&config, || {
            let span = tracing::info_span!("invocation", requestId = "req-2", traceId = "t1", spanId = "s1");
            let _entered = span.enter();
            tracing::info!(password = "hunter2", "hello");
        });
        assert!(out.contains("\treq-2\tINFO\thello password=[REDACTED] traceId=t1 spanId=s1"), "{out}");
    }
}
