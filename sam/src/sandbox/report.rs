//! The `REPORT` line and what one invocation returns.

use std::fmt;
use std::time::Duration;

use super::state::Outcome;

/// The `REPORT` line's figures for one invocation.
#[derive(Debug, Clone)]
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
}

impl Report {
    /// Billed duration: the duration rounded up to the millisecond.
    #[must_use]
    pub fn billed_ms(&self) -> u128 {
        self.duration.as_micros().div_ceil(1000).max(1)
    }

    /// The `XRAY TraceId: … SegmentId: … Sampled: true` line Lambda prints after REPORT.
    #[must_use]
    pub fn xray_line(&self) -> String {
        let field =
            |name: &str| self.trace_header.split(';').find_map(|f| f.strip_prefix(name)).unwrap_or_default().to_owned();
        format!("XRAY TraceId: {} SegmentId: {} Sampled: true", field("Root="), field("Parent="))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REPORT RequestId: {} Duration: {:.2} ms Billed Duration: {} ms Memory Size: {} MB Max Memory Used: {} MB",
            self.request_id,
            self.duration.as_secs_f64() * 1000.0,
            self.billed_ms(),
            self.memory_mb,
            self.max_memory_used_mb
        )?;
        if let Some(init) = self.init_duration {
            write!(f, " Init Duration: {:.2} ms", init.as_secs_f64() * 1000.0)?;
        }
        Ok(())
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
