//! A bounded buffer of OTLP export requests: accepts without blocking, drops the oldest when full.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

/// Encoded `ExportTraceServiceRequest`s waiting to be flushed.
///
/// Protobuf messages concatenate into their merge, and the only field of an export request is
/// repeated, so the concatenation of queued requests is itself one valid request.
#[derive(Debug)]
pub struct Buffer {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Inner {
    queued: VecDeque<Bytes>,
    bytes: usize,
    dropped_requests: u64,
}

impl Buffer {
    /// An empty buffer holding at most `max_bytes`.
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        Buffer {
            inner: Mutex::new(Inner::default()),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues one request, dropping the oldest ones (counted) to make room.
    pub fn push(&self, request: Bytes) {
        let mut inner = self.lock();
        while inner.bytes + request.len() > self.max_bytes {
            let Some(oldest) = inner.queued.pop_front() else {
                break;
            };
            inner.bytes -= oldest.len();
            inner.dropped_requests += 1;
        }
        inner.bytes += request.len();
        inner.queued.push_back(request);
    }

    /// Takes everything queued, as one concatenated request.
    #[must_use]
    pub fn take(&self) -> Option<Bytes> {
        let mut inner = self.lock();
        if inner.queued.is_empty() {
            return None;
        }
        inner.bytes = 0;
        let parts: Vec<Bytes> = inner.queued.drain(..).collect();
        Some(parts.concat().into())
    }

    /// Puts back a batch that could not be sent, ahead of anything newer.
    pub fn restore(&self, batch: Bytes) {
        let mut inner = self.lock();
        if inner.bytes + batch.len() > self.max_bytes {
            inner.dropped_requests += 1;
            return;
        }
        inner.bytes += batch.len();
        inner.queued.push_front(batch);
    }

    /// Requests dropped so far to stay within the bound.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped_requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenates_in_order_and_empties() {
        let buffer = Buffer::new(1024);
        buffer.push(Bytes::from_static(b"ab"));
        buffer.push(Bytes::from_static(b"cd"));
        assert_eq!(buffer.take().as_deref(), Some(&b"abcd"[..]));
        assert_eq!(buffer.take(), None);
    }

    #[test]
    fn drops_oldest_when_full_and_counts() {
        let buffer = Buffer::new(4);
        for chunk in [&b"11"[..], b"22", b"33"] {
            buffer.push(Bytes::copy_from_slice(chunk));
        }
        assert_eq!(buffer.dropped(), 1);
        assert_eq!(buffer.take().as_deref(), Some(&b"2233"[..]));
        buffer.restore(Bytes::from_static(b"xy"));
        buffer.push(Bytes::from_static(b"zz"));
        assert_eq!(buffer.take().as_deref(), Some(&b"xyzz"[..]));
    }
}
