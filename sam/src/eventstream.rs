//! AWS event-stream messages (`application/vnd.amazon.eventstream`), the framing the AWS SDKs
//! read `InvokeWithResponseStream`'s events from.
//!
//! A message is a prelude (total length, headers length, the prelude's CRC32), the headers, the
//! payload, and a CRC32 of everything before it; all integers are big-endian.

use bytes::{BufMut as _, Bytes, BytesMut};

/// The header value type for a string.
const STRING: u8 = 7;

/// An `event` message with string headers `:event-type` and `:content-type`, in the order the
/// AWS services write them (`:message-type` first).
#[must_use]
pub(crate) fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(&[(":message-type", "event"), (":event-type", event_type), (":content-type", content_type)], payload)
}

/// A message with string headers, in order, and a payload.
///
/// Header names longer than 255 bytes and values longer than 65,535 bytes cannot be framed;
/// the emulator writes only its own short names and values, so they are cut to fit.
#[must_use]
pub(crate) fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut encoded_headers = BytesMut::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        encoded_headers.put_u8(name.len() as u8);
        encoded_headers.put_slice(name);
        encoded_headers.put_u8(STRING);
        encoded_headers.put_u16(value.len() as u16);
        encoded_headers.put_slice(value);
    }
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(total as u32);
    out.put_u32(encoded_headers.len() as u32);
    out.put_u32(crc32fast::hash(&out));
    out.put_slice(&encoded_headers);
    out.put_slice(payload);
    out.put_u32(crc32fast::hash(&out));
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An S3 Select `Records` event as AWS sent it (botocore's event-stream test data).
    const RECORDS: &[u8] = b"\x00\x00\x00w\x00\x00\x00U5\xd1F\xcd\r:message-type\x07\x00\x05event\x0b:event-type\
        \x07\x00\x07Records\r:content-type\x07\x00\x18application/octet-stream{\"hello\":\"world\"}\nF\x0e\x9a2";

    #[test]
    fn encodes_as_aws_does() {
        assert_eq!(event("Records", "application/octet-stream", b"{\"hello\":\"world\"}\n"), RECORDS);
        // The empty message of the event-stream test vectors.
        assert_eq!(
            message(&[], b""),
            Bytes::from_static(&[0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff])
        );
    }
}
