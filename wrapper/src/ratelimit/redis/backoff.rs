//! Backing off a failed store: after a failure, calls skip the store for a while, per cell.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// After a failed call, calls to the same cell skip the store for this long, so an unreachable
/// store costs one timeout per cell and interval instead of one per request.
pub(super) const RETRY_STORE_AFTER: Duration = Duration::from_millis(250);

/// When each cell may be tried again. One cell stands for a whole server; a cluster has one
/// per shard, so a dead master sends only its own slots to the failure policy while the other
/// shards go on deciding.
#[derive(Debug)]
pub(super) struct Backoff {
    started: Instant,
    /// Milliseconds since `started` before which the cell is not tried (0: try now).
    retry_at_ms: Box<[AtomicU32]>,
}

impl Backoff {
    /// `cells` cells, all to be tried now.
    pub(super) fn new(cells: usize) -> Backoff {
        Backoff { started: Instant::now(), retry_at_ms: (0..cells.max(1)).map(|_| AtomicU32::new(0)).collect() }
    }

    /// Whether `cell` failed less than [`RETRY_STORE_AFTER`] ago.
    pub(super) fn resting(&self, cell: usize) -> bool {
        self.now_ms() < self.cell(cell).load(Ordering::Relaxed)
    }

    /// Records a failure of `cell`: it rests for [`RETRY_STORE_AFTER`].
    pub(super) fn failed(&self, cell: usize) {
        let rest = u32::try_from(RETRY_STORE_AFTER.as_millis()).unwrap_or(u32::MAX);
        self.cell(cell).store(self.now_ms().saturating_add(rest), Ordering::Relaxed);
    }

    fn cell(&self, cell: usize) -> &AtomicU32 {
        &self.retry_at_ms[cell % self.retry_at_ms.len()]
    }

    /// Saturates after 49 days, when no cell rests any more: Lambda environments live hours.
    fn now_ms(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_millis()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_cell_rests_alone() {
        let backoff = Backoff::new(3);
        assert!(!backoff.resting(1));
        backoff.failed(1);
        assert!(backoff.resting(1));
        assert!(!backoff.resting(0) && !backoff.resting(2), "other cells are tried");
        let single = Backoff::new(1);
        single.failed(7);
        assert!(single.resting(0), "one cell stands for every key");
    }
}
