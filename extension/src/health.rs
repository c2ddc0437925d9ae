//! The extension's own health: one log line per flush and a last line at shutdown.

use crate::buffer::Buffer;
use crate::export::FlushReport;

/// Logs what a flush did (`platform`-style: one line, key=value), when it did anything.
pub(crate) fn log_flush(kind: &'static str, report: &FlushReport, buffer: &Buffer) {
    let [traces, metrics, logs] = report.sent;
    let (pending, pending_bytes) = buffer.pending();
    let dropped = buffer.dropped_total();
    let nothing = report.sent.iter().all(|n| *n == 0)
        && report.failure.is_none()
        && report.rejected == 0
        && report.emf_lines == 0;
    if nothing {
        return;
    }
    let duration_ms = report.elapsed.as_secs_f64() * 1000.0;
    match &report.failure {
        None => tracing::info!(
            kind, spans = traces, points = metrics, records = logs, bytes = report.wire_bytes,
            duration_ms = format_args!("{duration_ms:.2}"), rejected = report.rejected,
            emf_lines = report.emf_lines, dropped = ?dropped, pending = ?pending, pending_bytes,
            "flush"
        ),
        Some(failure) => tracing::warn!(
            kind, spans = traces, points = metrics, records = logs, bytes = report.wire_bytes,
            duration_ms = format_args!("{duration_ms:.2}"), rejected = report.rejected,
            dropped = ?dropped, pending = ?pending, pending_bytes, %failure,
            "flush incomplete; the rest stays buffered"
        ),
    }
}

/// The extension's last line: what could not be delivered, by signal.
pub(crate) fn log_last_line(buffer: &Buffer) {
    let ([traces, metrics, logs], bytes) = buffer.pending();
    let [dropped_traces, dropped_metrics, dropped_logs] = buffer.dropped_total();
    let unsent = traces + metrics + logs;
    let message = format!(
        "shutdown: unsent spans={traces} points={metrics} records={logs} bytes={bytes}; \
         dropped spans={dropped_traces} points={dropped_metrics} records={dropped_logs}"
    );
    if unsent + dropped_traces + dropped_metrics + dropped_logs > 0 {
        tracing::warn!("{message}");
    } else {
        tracing::info!("{message}");
    }
}
