//! A streamed response on its way from the runtime to the caller, chunk by chunk as the
//! function writes it (Lambda's response streaming).

use bytes::Bytes;
use tokio::sync::mpsc;

/// Lambda's limit for a streamed response (200 MiB; a buffered one is capped at 6 MiB).
pub const MAX_STREAMED_RESPONSE_BYTES: usize = 200 * 1024 * 1024;

/// The content type of a stream that starts with an HTTP integration prelude: a JSON document
/// (`statusCode`, `headers`, `cookies`), eight NUL bytes, then the body.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";

/// How many chunks may wait for a slow caller before the runtime's writes wait too: the
/// backpressure Lambda applies to a function that writes faster than its client reads.
const CHUNKS_IN_FLIGHT: usize = 64;

/// What the runtime API tells the caller.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// The runtime started a streamed response with this `Content-Type`.
    Started(String),
    /// Bytes the function wrote.
    Chunk(Bytes),
}

/// The runtime API's end of a stream, kept with the invocation until its runtime answers.
#[derive(Debug, Clone)]
pub struct StreamSink(pub(crate) mpsc::Sender<StreamEvent>);

/// The caller's end of a stream.
#[derive(Debug)]
pub struct ResponseStream {
    events: mpsc::Receiver<StreamEvent>,
}

/// A stream for one invocation: put the sink in [`Request::stream`](super::Request) and read
/// the function's writes from the [`ResponseStream`] while the invocation runs.
///
/// ```no_run
/// # async fn demo(pool: std::sync::Arc<intercept_sam::FunctionPool>) {
/// use intercept_sam::sandbox::{Request, response_stream};
/// let (sink, mut stream) = response_stream();
/// let mut request = Request::new(bytes::Bytes::from_static(b"{}"));
/// request.stream = Some(sink);
/// let invocation = tokio::spawn(async move { pool.invoke(request).await });
/// if let Some(content_type) = stream.started().await {
///     while let Some(chunk) = stream.next_chunk().await {
///         println!("{content_type}: {} bytes", chunk.len());
///     }
/// }
/// let outcome = invocation.await;
/// # }
/// ```
#[must_use]
pub fn response_stream() -> (StreamSink, ResponseStream) {
    let (sender, events) = mpsc::channel(CHUNKS_IN_FLIGHT);
    (StreamSink(sender), ResponseStream { events })
}

impl ResponseStream {
    /// Waits until the runtime either starts a streamed response (its `Content-Type`) or answers
    /// otherwise (`None`: a buffered response or an error, which the invocation's outcome holds).
    pub async fn started(&mut self) -> Option<String> {
        loop {
            match self.events.recv().await? {
                StreamEvent::Started(content_type) => return Some(content_type),
                // Chunks come only after `Started`; one without it is not a stream.
                StreamEvent::Chunk(_) => {}
            }
        }
    }

    /// The next chunk the function wrote, or `None` once the stream has ended (the invocation's
    /// outcome then says whether it ended in an error).
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.events.recv().await? {
                StreamEvent::Chunk(chunk) => return Some(chunk),
                StreamEvent::Started(_) => {}
            }
        }
    }
}

/// The outcome of an invocation run on a task of its own beside its stream (a task that
/// panicked or was cancelled is a `Sandbox.Failure`).
///
/// # Errors
/// The invocation's error, or the task's.
pub fn joined<T>(
    task: Result<Result<T, super::ErrorDocument>, tokio::task::JoinError>,
) -> Result<T, super::ErrorDocument> {
    task.unwrap_or_else(|e| Err(super::ErrorDocument::new("Sandbox.Failure", e.to_string())))
}

/// A streamed body split at the end of its HTTP integration prelude.
#[derive(Debug, PartialEq)]
pub enum Prelude {
    /// More bytes are needed: no eight-NUL delimiter yet.
    Incomplete,
    /// The prelude's JSON, and the body bytes that followed the delimiter.
    Complete(Bytes, Bytes),
}

/// Finds the end of an HTTP integration prelude in the bytes received so far.
#[must_use]
pub fn split_prelude(received: &Bytes) -> Prelude {
    const DELIMITER: [u8; 8] = [0; 8];
    match received.windows(DELIMITER.len()).position(|window| window == DELIMITER) {
        Some(at) => Prelude::Complete(received.slice(..at), received.slice(at + DELIMITER.len()..)),
        None => Prelude::Incomplete,
    }
}

/// Checks what [`split_prelude`] promises for `data`: the prelude, the delimiter and the rest
/// are `data` again, and the delimiter is the first run of eight NUL bytes.
///
/// # Panics
/// When they are not: that is the finding.
pub(crate) fn fuzz_prelude(data: &[u8]) {
    let received = Bytes::copy_from_slice(data);
    match split_prelude(&received) {
        Prelude::Incomplete => assert!(!data.windows(8).any(|w| w == [0; 8])),
        Prelude::Complete(prelude, rest) => {
            assert_eq!([&prelude[..], &[0; 8], &rest[..]].concat(), data);
            assert!(!prelude.windows(8).any(|w| w == [0; 8]), "the prelude ends at the first delimiter");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_ends_at_eight_nul_bytes() {
        let received = Bytes::from_static(b"{\"statusCode\":201}\0\0\0\0\0\0\0\0first\0chunk");
        assert_eq!(
            split_prelude(&received),
            Prelude::Complete(Bytes::from_static(b"{\"statusCode\":201}"), Bytes::from_static(b"first\0chunk"))
        );
        assert_eq!(split_prelude(&Bytes::from_static(b"{\"statusCode\":201}\0\0\0\0\0\0\0")), Prelude::Incomplete);
    }

    #[tokio::test]
    async fn a_stream_reads_its_content_type_then_its_chunks_and_ends_with_the_sink() {
        let (StreamSink(sender), mut stream) = response_stream();
        sender.send(StreamEvent::Started("text/plain".to_owned())).await.expect("open");
        sender.send(StreamEvent::Chunk(Bytes::from_static(b"one"))).await.expect("open");
        drop(sender);
        assert_eq!(stream.started().await.as_deref(), Some("text/plain"));
        assert_eq!(stream.next_chunk().await, Some(Bytes::from_static(b"one")));
        assert_eq!(stream.next_chunk().await, None);

        let (sink, mut stream) = response_stream();
        drop(sink);
        assert_eq!(stream.started().await, None, "a buffered answer drops the sink unused");
    }
}
