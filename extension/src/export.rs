//! Sends what the buffer holds to the OTLP endpoint.

use std::sync::Arc;
use std::time::Duration;

use crate::buffer::Buffer;

/// Flushes the buffer to one OTLP/HTTP traces endpoint.
#[derive(Debug, Clone)]
pub struct Exporter {
    client: reqwest::Client,
    endpoint: Option<String>,
    buffer: Arc<Buffer>,
}

impl Exporter {
    /// An exporter for `endpoint`; without one, flushes discard (counted in the log line).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        endpoint: Option<String>,
        buffer: Arc<Buffer>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .build()?;
        Ok(Exporter {
            client,
            endpoint,
            buffer,
        })
    }

    /// Sends everything buffered. A failed send puts the batch back for the next flush.
    pub async fn flush(&self) {
        let Some(batch) = self.buffer.take() else {
            return;
        };
        let Some(endpoint) = &self.endpoint else {
            tracing::warn!(
                bytes = batch.len(),
                "no OTEL_EXPORTER_OTLP_ENDPOINT: discarding buffered traces"
            );
            return;
        };
        let started = std::time::Instant::now();
        let sent = self
            .client
            .post(endpoint)
            .header("content-type", "application/x-protobuf")
            .body(batch.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(
                    bytes = batch.len(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "flushed"
                );
                return;
            }
            Ok(response) => format!("collector answered {}", response.status()),
            Err(error) => error.to_string(),
        };
        tracing::warn!(%endpoint, bytes = batch.len(), %failure, dropped_total = self.buffer.dropped(), "flush failed; kept for the next flush");
        self.buffer.restore(batch);
    }
}
