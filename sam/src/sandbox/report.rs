//! The `REPORT` line and what one invocation returns.

use std::fmt;
use std::time::Duration;

use super::state::Outcome;

/// How an invocation that broke its environment ended, as the `REPORT` line's `Status` says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportStatus {
    /// `Status: timeout`.
    Timeout,
    /// `Status: error` with the `Error Type` (`Runtime.ExitError`, `Runtime.OutOfMemory`, ...).
    Error(String),
}

/// The `REPORT` line's figures for one invocation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// The request id.
    pub request_id: String,
    /// The invoke phase's duration.
    pub duration: Duration,
    /// `MemorySize`.
    pub memory_mb: u32,
    /// Peak memory of the environment's processes.
    pub max_memory_used_mb: u64,
    /// Set on the environment's first invocation.
    pub init_duration: Option<Duration>,
    /// The X-Ray trace header the invocation carried.
    pub trace_header: String,
    /// Set when the invocation timed out or the runtime failed (not for a function error).
    pub status: Option<ReportStatus>,
}

/// A duration in milliseconds, as Lambda's reports give them.
pub(crate) fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

impl Report {
    /// Billed duration: the invocation's, with a cold start's init (as Lambda bills on-demand
    /// functions), rounded up to the millisecond.
    #[must_use]
    pub fn billed_ms(&self) -> u128 {
        (self.duration + self.init_duration.unwrap_or_default()).as_micros().div_ceil(1000).max(1)
    }

    /// The `XRAY TraceId: … SegmentId: … Sampled: true` line Lambda prints after REPORT (tab-separated).
    #[must_use]
    pub fn xray_line(&self) -> String {
        let field =
            |name: &str| self.trace_header.split(';').find_map(|f| f.strip_prefix(name)).unwrap_or_default().to_owned();
        format!("XRAY TraceId: {}\tSegmentId: {}\tSampled: true", field("Root="), field("Parent="))
    }
}

/// Lambda's layout: each field followed by a tab; `Init Duration` on a cold start, then
/// `Status` (and `Error Type`) where the invocation timed out or the runtime failed.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            milliseconds(self.duration),
            self.billed_ms(),
            self.memory_mb,
            self.max_memory_used_mb
        )?;
        if let Some(init) = self.init_duration {
            write!(f, "Init Duration: {:.2} ms\t", milliseconds(init))?;
        }
        match &self.status {
            None => Ok(()),
            Some(ReportStatus::Timeout) => write!(f, "Status: timeout"),
            Some(ReportStatus::Error(error_type)) => write!(f, "Status: error\tError Type: {error_type}"),
        }
    }
}

/// One invocation's outcome and report.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// What the function answered.
    pub outcome: Outcome,
    /// The REPORT figures.
    pub report: Report,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(init: Option<u64>, status: Option<ReportStatus>) -> Report {
        Report {
            request_id: "8f507cfc-6b2e-4697-b07a-ac58fc914c95".to_owned(),
            duration: Duration::from_micros(2_231),
            memory_mb: 128,
            max_memory_used_mb: 76,
            init_duration: init.map(Duration::from_micros),
            trace_header: "Root=1-5e1b4151-5ac6c58f2b1c0b0a9c9d4e3f;Parent=3c2f1a0b9d8e7f6a;Sampled=1".to_owned(),
            status,
        }
    }

    #[test]
    fn report_lines_are_lambdas_tab_separated_layout() {
        assert_eq!(
            report(None, None).to_string(),
            "REPORT RequestId: 8f507cfc-6b2e-4697-b07a-ac58fc914c95\tDuration: 2.23 ms\tBilled Duration: 3 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 76 MB\t"
        );
        assert_eq!(
            report(Some(144_300), None).to_string(),
            "REPORT RequestId: 8f507cfc-6b2e-4697-b07a-ac58fc914c95\tDuration: 2.23 ms\tBilled Duration: 147 ms\t\
             Memory Size: 128 MB\tMax Memory Used: 76 MB\tInit Duration: 144.30 ms\t"
        );
        assert!(
            report(None, Some(ReportStatus::Timeout)).to_string().ends_with("Max Memory Used: 76 MB\tStatus: timeout")
        );
        assert!(
            report(Some(1_000), Some(ReportStatus::Error("Runtime.ExitError".to_owned())))
                .to_string()
                .ends_with("Init Duration: 1.00 ms\tStatus: error\tError Type: Runtime.ExitError")
        );
        assert_eq!(
            report(None, None).xray_line(),
            "XRAY TraceId: 1-5e1b4151-5ac6c58f2b1c0b0a9c9d4e3f\tSegmentId: 3c2f1a0b9d8e7f6a\tSampled: true"
        );
    }
}
