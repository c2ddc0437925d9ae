//! A bounded buffer of OTLP export requests: accepts without blocking, drops the oldest when full.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

use crate::signal::{Decoded, Signal};

/// One encoded export request and how many items (spans, points, records) it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Which signal the bytes encode.
    pub signal: Signal,
    /// Spans, data points or log records in it.
    pub items: u64,
    /// The protobuf export request.
    pub bytes: Bytes,
}

/// Queued requests of one signal taken for sending: `bytes` is their concatenation, `parts`
/// the requests themselves, so a batch put back is dropped request by request, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// Which signal.
    pub signal: Signal,
    /// Items in all parts.
    pub items: u64,
    /// One export request: the concatenation of the parts.
    pub bytes: Bytes,
    parts: Vec<Batch>,
}

/// Per-signal item counts, indexed by [`Signal`] order (traces, metrics, logs).
pub type Counts = [u64; 3];

/// Encoded export requests waiting to be flushed, bounded in bytes.
///
/// Protobuf messages concatenate into their merge, and the only field of an export request is
/// repeated, so the concatenation of queued requests of one signal is itself one valid request.
#[derive(Debug)]
pub struct Buffer {
    inner: Mutex<Inner>,
    max_bytes: usize,
    tap: std::sync::OnceLock<Tap>,
}

/// Sees every request before it is queued and says whether to queue it (the AWS-native
/// exporters take what they need here; a signal with no OTLP endpoint is not kept).
pub(crate) struct Tap(pub(crate) Box<TapFn>);

/// What a [`Tap`] runs: the request, decoded when its producer already had it decoded.
pub(crate) type TapFn = dyn Fn(&Batch, Option<&Decoded>) -> bool + Send + Sync;

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}

#[derive(Debug, Default)]
struct Inner {
    queued: VecDeque<Batch>,
    bytes: usize,
    /// Items dropped since the last [`Buffer::take_dropped`], by signal.
    dropped: Counts,
    /// Items dropped since the start, by signal.
    dropped_total: Counts,
}

impl Inner {
    fn drop_oldest(&mut self) -> bool {
        let Some(oldest) = self.queued.pop_front() else {
            return false;
        };
        self.bytes -= oldest.bytes.len();
        self.dropped[oldest.signal.index()] += oldest.items;
        self.dropped_total[oldest.signal.index()] += oldest.items;
        true
    }

    fn make_room(&mut self, incoming: usize, max_bytes: usize) {
        while self.bytes + incoming > max_bytes && self.drop_oldest() {}
    }
}

impl Buffer {
    /// An empty buffer holding at most `max_bytes`.
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        Buffer { inner: Mutex::new(Inner::default()), max_bytes, tap: std::sync::OnceLock::new() }
    }

    /// Installs the tap every pushed request goes through first; only the first one set counts.
    pub(crate) fn set_tap(&self, tap: Tap) {
        let _ = self.tap.set(tap);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues one request, dropping the oldest ones (counted) to make room. Never waits for a
    /// flush: the lock is held only to move pointers.
    pub fn push(&self, batch: Batch) {
        self.push_decoded(batch, None);
    }

    /// [`Buffer::push`] of a request already decoded, so the tap need not decode it again.
    pub(crate) fn push_decoded(&self, batch: Batch, decoded: Option<Decoded>) {
        if let Some(tap) = self.tap.get()
            && !(tap.0)(&batch, decoded.as_ref())
        {
            return;
        }
        let mut inner = self.lock();
        if batch.bytes.len() > self.max_bytes {
            inner.dropped[batch.signal.index()] += batch.items;
            inner.dropped_total[batch.signal.index()] += batch.items;
            return;
        }
        inner.make_room(batch.bytes.len(), self.max_bytes);
        inner.bytes += batch.bytes.len();
        inner.queued.push_back(batch);
    }

    /// Takes the oldest queued requests of one signal, concatenated, up to about `max_bytes`
    /// (always at least one request, so an oversized one still leaves).
    #[must_use]
    pub fn take(&self, signal: Signal, max_bytes: usize) -> Option<Taken> {
        let mut inner = self.lock();
        let mut parts: Vec<Batch> = Vec::new();
        let mut size = 0;
        let mut index = 0;
        while index < inner.queued.len() {
            let entry = &inner.queued[index];
            if entry.signal != signal {
                index += 1;
                continue;
            }
            if !parts.is_empty() && size + entry.bytes.len() > max_bytes {
                break;
            }
            let Some(entry) = inner.queued.remove(index) else {
                break;
            };
            size += entry.bytes.len();
            parts.push(entry);
        }
        inner.bytes -= size;
        drop(inner);
        if parts.is_empty() {
            return None;
        }
        let items = parts.iter().map(|p| p.items).sum();
        let bytes = match parts.as_slice() {
            [one] => one.bytes.clone(),
            many => many.iter().map(|p| &p.bytes[..]).collect::<Vec<_>>().concat().into(),
        };
        Some(Taken { signal, items, bytes, parts })
    }

    /// Puts back requests that could not be sent, ahead of anything newer. When that overflows
    /// the bound, the oldest requests (counted) go, as with [`Buffer::push`].
    pub fn restore(&self, taken: Taken) {
        let mut inner = self.lock();
        for part in taken.parts.into_iter().rev() {
            inner.bytes += part.bytes.len();
            inner.queued.push_front(part);
        }
        while inner.bytes > self.max_bytes && inner.drop_oldest() {}
    }

    /// Counts items that were never sent for another reason (a collector refused them).
    pub fn count_dropped(&self, signal: Signal, items: u64) {
        let mut inner = self.lock();
        inner.dropped[signal.index()] += items;
        inner.dropped_total[signal.index()] += items;
    }

    /// Items dropped since the last call, by signal; the count starts again from zero.
    #[must_use]
    pub fn take_dropped(&self) -> Counts {
        std::mem::take(&mut self.lock().dropped)
    }

    /// Puts back counts that could not be reported.
    pub fn restore_dropped(&self, counts: Counts) {
        let mut inner = self.lock();
        for (total, more) in inner.dropped.iter_mut().zip(counts) {
            *total += more;
        }
    }

    /// Items dropped since the start, by signal.
    #[must_use]
    pub fn dropped_total(&self) -> Counts {
        self.lock().dropped_total
    }

    /// Items queued, by signal, and the bytes they take.
    #[must_use]
    pub fn pending(&self) -> (Counts, usize) {
        let inner = self.lock();
        let mut counts = Counts::default();
        for batch in &inner.queued {
            counts[batch.signal.index()] += batch.items;
        }
        (counts, inner.bytes)
    }

    /// Bytes queued.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(signal: Signal, bytes: &'static [u8]) -> Batch {
        Batch { signal, items: 1, bytes: Bytes::from_static(bytes) }
    }

    #[test]
    fn concatenates_one_signal_in_order_and_empties() {
        let buffer = Buffer::new(1024);
        buffer.push(batch(Signal::Traces, b"ab"));
        buffer.push(batch(Signal::Logs, b"LL"));
        buffer.push(batch(Signal::Traces, b"cd"));
        let traces = buffer.take(Signal::Traces, 1024).expect("traces");
        assert_eq!((&traces.bytes[..], traces.items), (&b"abcd"[..], 2));
        assert_eq!(buffer.take(Signal::Traces, 1024), None);
        assert_eq!(buffer.pending(), ([0, 0, 1], 2));
    }

    #[test]
    fn batches_by_size_but_always_moves_one() {
        let buffer = Buffer::new(1024);
        for part in [&b"123"[..], b"456", b"789"] {
            buffer.push(Batch { signal: Signal::Traces, items: 1, bytes: Bytes::copy_from_slice(part) });
        }
        assert_eq!(buffer.take(Signal::Traces, 6).map(|b| b.bytes), Some(Bytes::from_static(b"123456")));
        assert_eq!(buffer.take(Signal::Traces, 1).map(|b| b.bytes), Some(Bytes::from_static(b"789")));
    }

    #[test]
    fn drops_oldest_when_full_and_counts_by_kind() {
        let buffer = Buffer::new(4);
        buffer.push(batch(Signal::Logs, b"11"));
        buffer.push(batch(Signal::Traces, b"22"));
        buffer.push(batch(Signal::Traces, b"33"));
        assert_eq!(buffer.dropped_total(), [0, 0, 1]);
        let taken = buffer.take(Signal::Traces, 1024).expect("traces");
        assert_eq!(&taken.bytes[..], b"2233");
        buffer.restore(taken);
        buffer.push(batch(Signal::Traces, b"zz"));
        assert_eq!(
            buffer.take(Signal::Traces, 1024).map(|b| b.bytes),
            Some(Bytes::from_static(b"33zz")),
            "a restored batch is dropped request by request"
        );
        assert_eq!(buffer.take_dropped(), [1, 0, 1]);
        assert_eq!(buffer.take_dropped(), [0, 0, 0], "reported once");
        buffer.push(batch(Signal::Metrics, b"too big"));
        assert_eq!(buffer.dropped_total(), [1, 1, 1], "larger than the whole buffer");
    }
}
