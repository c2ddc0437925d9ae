//! Sends what the buffer holds to the OTLP/HTTP endpoints: batched by size, gzipped, retried
//! with backoff within a deadline, and put back in the buffer when it cannot be sent.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use prost::Message as _;

use crate::buffer::{Batch, Buffer, Counts};
use crate::config::ExtensionConfig;
use crate::endpoints::{Endpoints, Headers};
use crate::native::{self, Native};
use crate::retry::{Verdict, backoff, classify};
use crate::signal::Signal;
use crate::telemetry;
use crate::tls::{TlsError, client_config};

/// Attempts per batch within one flush (the deadline may end them sooner).
const MAX_ATTEMPTS: u32 = 4;
/// How long a delivered batch's answer body is read for, so the connection can be reused.
const BODY_DRAIN_LIMIT: Duration = Duration::from_millis(50);

/// What one flush did, for the extension's own log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Items delivered, by signal (traces, metrics, logs).
    pub sent: Counts,
    /// Bytes put on the wire (after compression).
    pub wire_bytes: usize,
    /// Items a collector refused for good (counted as dropped).
    pub rejected: u64,
    /// Why the flush stopped early, if it did; the rest stays buffered.
    pub failure: Option<String>,
    /// How long it took.
    pub elapsed: Duration,
    /// EMF lines written to stdout.
    pub emf_lines: usize,
}

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("collector refused the batch with {0}")]
    Rejected(u16),
    #[error("{0}")]
    Unsent(String),
}

/// An HTTP/1.1 client for http and https URLs (rustls on ring; no process-wide provider).
type HttpsClient = intercept_tls::HttpsClient<Full<Bytes>>;

/// Flushes the buffer to the configured endpoints. Cheap to clone; flushes never overlap.
#[derive(Debug, Clone)]
pub struct Exporter {
    client: HttpsClient,
    endpoints: Endpoints,
    headers: Headers,
    gzip: bool,
    attempt_timeout: Duration,
    batch_bytes: usize,
    buffer: Arc<Buffer>,
    resource: opentelemetry_proto::tonic::resource::v1::Resource,
    /// One flush at a time: the background flusher and the end-of-invocation flush take turns.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// A collector's `Retry-After` holds further flushes until then (except at shutdown).
    not_before: Arc<Mutex<Option<Instant>>>,
    /// When dropped items were last reported (the start of the next delta count).
    drops_since: Arc<Mutex<SystemTime>>,
    /// The X-Ray and EMF exporters.
    native: Arc<Native>,
}

fn epoch_ns(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl Exporter {
    /// An exporter for `config`'s endpoints that drains `buffer`. For https endpoints it trusts
    /// the system's CA store and `config.certificate`.
    ///
    /// # Errors
    /// When the TLS configuration cannot be built.
    pub fn new(config: &ExtensionConfig, buffer: Arc<Buffer>) -> Result<Self, TlsError> {
        let tls = client_config(config.certificate.as_ref(), config.endpoints.uses_https())?;
        let options = intercept_tls::ClientOptions {
            pool_idle_timeout: Some(Duration::from_secs(30)),
            nodelay: true,
            ..Default::default()
        };
        let client = intercept_tls::https_client(tls, options);
        let native = Arc::new(Native::new(config));
        buffer.set_tap(native::tap(native.clone()));
        Ok(Exporter {
            client,
            endpoints: config.endpoints.clone(),
            headers: config.headers.clone(),
            gzip: config.gzip,
            attempt_timeout: config.attempt_timeout,
            batch_bytes: config.batch_bytes,
            buffer,
            resource: telemetry::resource(&config.service_name, &config.function_name),
            turn: Arc::default(),
            not_before: Arc::default(),
            drops_since: Arc::new(Mutex::new(SystemTime::now())),
            native,
        })
    }

    /// Remembers an invocation's X-Ray trace header (`Lambda-Runtime-Trace-Id`), so the X-Ray
    /// exporter sends nothing of a trace Lambda did not sample.
    pub fn remember_trace(&self, header: &str) {
        self.native.remember_trace(header);
    }

    /// Whether a flush has anything to do: requests buffered or EMF data pending.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        self.buffer.bytes() > 0 || self.native.emf_pending()
    }

    /// Whether spans go to X-Ray, and metrics to EMF lines.
    #[must_use]
    pub fn native_exporters(&self) -> (bool, bool) {
        (self.native.xray(), self.native.emf())
    }

    /// Queues the count of items dropped since the last report as the metric
    /// `intercept.extension.dropped` (a delta counter per signal), so it goes with this flush.
    fn queue_drop_report(&self) {
        let dropped = self.buffer.take_dropped();
        if dropped.iter().all(|n| *n == 0) {
            return;
        }
        let now = SystemTime::now();
        let since =
            std::mem::replace(&mut *self.drops_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner), now);
        let metrics = Signal::ALL
            .iter()
            .filter(|s| dropped[s.index()] > 0)
            .map(|s| {
                telemetry::counter(
                    "intercept.extension.dropped",
                    "{item}",
                    epoch_ns(since),
                    epoch_ns(now),
                    dropped[s.index()] as i64,
                    vec![telemetry::string_attribute("signal", s.name())],
                )
            })
            .collect();
        let request = telemetry::metrics(&self.resource, metrics);
        let items = crate::signal::count_metrics(&request);
        self.buffer.push(Batch { signal: Signal::Metrics, items, bytes: request.encode_to_vec().into() });
    }

    /// Sends what is buffered now, batch by batch, until done or `deadline`. A batch that
    /// cannot be sent goes back to the buffer and ends the flush; so does a collector's
    /// `Retry-After` that reaches past the deadline. With `shutdown`, a pending `Retry-After`
    /// is ignored: it is the last chance.
    pub async fn flush(&self, deadline: Instant, shutdown: bool) -> FlushReport {
        let _turn = self.turn.lock().await;
        let started = Instant::now();
        let mut report = FlushReport::default();
        let xray_dropped = self.native.take_xray_dropped();
        if xray_dropped > 0 {
            self.buffer.count_dropped(Signal::Traces, xray_dropped);
        }
        // The drop report is a metric too: queued first, so EMF writes it with the rest.
        self.queue_drop_report();
        report.emf_lines = self.native.write_emf();
        let held = *self.not_before.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !shutdown && held.is_some_and(|until| until > started) {
            report.failure = Some("collector asked to retry later".to_owned());
            return report;
        }
        let mut budget = self.buffer.bytes();
        'signals: for signal in Signal::ALL {
            while budget > 0 {
                let Some(batch) = self.buffer.take(signal, self.batch_bytes) else {
                    break;
                };
                budget = budget.saturating_sub(batch.bytes.len());
                let Some(url) = self.endpoints.get(signal) else {
                    // No endpoint for this signal: said once at start; nothing to keep it for.
                    continue;
                };
                match self.send(url, &batch.bytes, deadline).await {
                    Ok(wire) => {
                        report.sent[signal.index()] += batch.items;
                        report.wire_bytes += wire;
                    }
                    Err(SendError::Rejected(status)) => {
                        self.buffer.count_dropped(signal, batch.items);
                        report.rejected += batch.items;
                        tracing::warn!(%signal, items = batch.items, status, "collector refused a batch; dropped (counted)");
                    }
                    Err(SendError::Unsent(why)) => {
                        self.buffer.restore(batch);
                        report.failure = Some(why);
                        break 'signals;
                    }
                }
            }
        }
        report.elapsed = started.elapsed();
        report
    }

    /// The body as sent, and whether it is gzipped.
    fn encode(&self, body: &Bytes) -> (Bytes, bool) {
        if !self.gzip {
            return (body.clone(), false);
        }
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        // Writing to a Vec cannot fail; were it to, the body goes as it is, uncompressed.
        match encoder.write_all(body).and_then(|()| encoder.finish()) {
            Ok(compressed) => (compressed.into(), true),
            Err(_) => (body.clone(), false),
        }
    }

    async fn send(&self, url: &str, body: &Bytes, deadline: Instant) -> Result<usize, SendError> {
        let (wire, gzipped) = self.encode(body);
        let mut last = String::from("no time left before the deadline");
        for attempt in 0..MAX_ATTEMPTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                break;
            }
            let limit = self.attempt_timeout.min(left);
            let wait = match tokio::time::timeout(limit, self.post(url, &wire, gzipped)).await {
                Ok(Ok(response)) => {
                    let status = response.status().as_u16();
                    let retry_after =
                        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    // The answer counts once its head is in; reading the (small) body only lets
                    // the connection be reused, so it is bounded and its failure ignored.
                    let drain = deadline.saturating_duration_since(Instant::now()).min(BODY_DRAIN_LIMIT);
                    let _ = tokio::time::timeout(drain, response.into_body().collect()).await;
                    match classify(status, retry_after.as_deref()) {
                        Verdict::Sent => {
                            *self.not_before.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                            return Ok(wire.len());
                        }
                        Verdict::Rejected => return Err(SendError::Rejected(status)),
                        Verdict::Retry(after) => {
                            last = format!("collector answered {status}");
                            if let Some(after) = after {
                                *self.not_before.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                                    Some(Instant::now() + after);
                            }
                            after
                        }
                    }
                }
                Ok(Err(why)) => {
                    last = why;
                    None
                }
                Err(_) => {
                    last = format!("no answer within {limit:?}");
                    None
                }
            };
            let wait = wait.unwrap_or_else(|| backoff(attempt, rand::random::<f64>()));
            if attempt + 1 == MAX_ATTEMPTS || Instant::now() + wait >= deadline {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        Err(SendError::Unsent(last))
    }

    /// One POST, answered once the response's head is in; the error says why it could not be
    /// made, with every cause (a TLS failure is two or three levels down).
    async fn post(&self, url: &str, wire: &Bytes, gzipped: bool) -> Result<http::Response<Incoming>, String> {
        let mut request = http::Request::post(url).header("content-type", "application/x-protobuf");
        if gzipped {
            request = request.header("content-encoding", "gzip");
        }
        for (name, value) in &self.headers.0 {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(wire.clone())).map_err(|e| format!("cannot make the request: {e}"))?;
        self.client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach the collector: {}", intercept_tls::error_chain(&e)))
    }
}
