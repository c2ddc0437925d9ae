//! Splicing into an event's bytes: the principal (and a `traceparent` header) go into the JSON
//! text Lambda delivered, and every other byte reaches the handler as it came.
//!
//! Parsing an event into `serde_json::Value` and printing it back changes it: integers past
//! `u64` become floats, long decimals lose digits, keys are re-sorted. Here the event is read
//! with borrowing parses (`&RawValue` for every member, keys included), which give the byte
//! ranges of `requestContext`, its `authorizer` and `headers`; new bytes are written only there.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserializer as _;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

use super::Principal;
use super::current::authorizer_value;

/// Why an event could not take the principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpliceError {
    /// A member the principal goes into is given more than once; runtimes disagree on which
    /// one wins (Python's `json` keeps the last), so the event is refused rather than guessed.
    #[error("the event has more than one `{0}` member")]
    DuplicateMember(&'static str),
}

/// The event with `requestContext.authorizer` set to `principal` as API Gateway's JWT
/// authorizer writes it ([`crate::auth::inject_authorizer`]'s document), and every other byte
/// unchanged. `Ok(None)` when nothing is written: the event is not JSON or not an object, or
/// its `requestContext` is not an object (as [`crate::auth::inject_authorizer`] leaves those alone).
///
/// An `authorizer` already in the event is replaced, however often and however its key is
/// escaped, so a caller cannot pre-seed claims.
///
/// ```
/// let principal = intercept::auth::Principal::named("alice");
/// let event = br#"{"n": 18446744073709551617, "requestContext": {"http": {}}}"#;
/// let spliced = intercept::auth::splice_authorizer(event, &principal)?.expect("an object");
/// let text = String::from_utf8(spliced)?;
/// assert!(text.starts_with(r#"{"n": 18446744073709551617, "requestContext": {"http": {},"authorizer":"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`SpliceError::DuplicateMember`] when the event has `requestContext` twice.
pub fn splice_authorizer(event: &[u8], principal: &Principal) -> Result<Option<Vec<u8>>, SpliceError> {
    splice_event(event, Some(principal), None)
}

/// [`splice_authorizer`] when there is a principal, and `traceparent` set in the event's
/// `headers` object when there is one (replacing any header of that name, in any case).
/// `Ok(None)` when nothing is written.
///
/// # Errors
/// [`SpliceError::DuplicateMember`] when the principal must be written and the event has
/// `requestContext` twice. A `headers` given twice only means no `traceparent` is written.
pub fn splice_event(
    event: &[u8],
    principal: Option<&Principal>,
    traceparent: Option<&str>,
) -> Result<Option<Vec<u8>>, SpliceError> {
    if principal.is_none() && traceparent.is_none() {
        return Ok(None);
    }
    let Some(top) = JsonObject::parse(event, 0) else { return Ok(None) };
    let mut edits = Vec::new();
    if let Some(principal) = principal {
        let authorizer = authorizer_value(principal).to_string();
        match top.only("requestContext")? {
            None => edits.push(top.insert(&format!("{}:{{\"authorizer\":{authorizer}}}", quoted("requestContext")))),
            Some(context) => {
                if let Some(context) = JsonObject::parse(context.value_text(event).as_bytes(), context.value.start) {
                    edits.push(context.set(event, "authorizer", &authorizer, str::eq));
                }
            }
        }
    }
    if let Some(traceparent) = traceparent
        && let Ok(Some(headers)) = top.only("headers")
        && let Some(headers) = JsonObject::parse(headers.value_text(event).as_bytes(), headers.value.start)
    {
        edits.push(headers.set(event, "traceparent", &quoted(traceparent), str::eq_ignore_ascii_case));
    }
    Ok((!edits.is_empty()).then(|| apply(event, edits)))
}

/// One member of an object: its decoded key and the byte ranges of its key and value.
#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    value: Range<usize>,
}

impl Member {
    fn value_text<'a>(&self, event: &'a [u8]) -> &'a str {
        // The range was cut from this text by the parser, so it is UTF-8 on char boundaries.
        std::str::from_utf8(&event[self.value.clone()]).unwrap_or_default()
    }
}

/// An object's members in order, duplicates kept, with offsets into the whole event.
#[derive(Debug)]
struct JsonObject {
    /// The offsets of `{` and `}`.
    open: usize,
    close: usize,
    members: Vec<Member>,
}

/// `(offset, length, replacement)`: the bytes at `offset..offset + length` become `replacement`.
type Edit = (usize, usize, String);

impl JsonObject {
    /// The object in `text` (which starts at `base` in the event), or `None` when `text` is
    /// not one JSON object.
    fn parse(text: &[u8], base: usize) -> Option<JsonObject> {
        // One pass: the map visitor refuses what is not an object, `end` what follows it.
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let entries = (&mut deserializer).deserialize_map(Entries).ok()?;
        deserializer.end().ok()?;
        let open = text.iter().position(|byte| !byte.is_ascii_whitespace())?;
        let close = text.iter().rposition(|byte| !byte.is_ascii_whitespace())?;
        let mut members = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let decoded: Cow<'_, str> = serde_json::from_str(key.get()).ok()?;
            members.push(Member {
                key: decoded.into_owned(),
                key_start: base + offset(text, key.get()),
                value: base + offset(text, value.get())..base + offset(text, value.get()) + value.get().len(),
            });
        }
        Some(JsonObject { open: base + open, close: base + close, members })
    }

    /// The one member named `name`, if any.
    fn only(&self, name: &'static str) -> Result<Option<&Member>, SpliceError> {
        let mut named = self.members.iter().filter(|m| m.key == name);
        match (named.next(), named.next()) {
            (_, Some(_)) => Err(SpliceError::DuplicateMember(name)),
            (one, None) => Ok(one),
        }
    }

    /// Adds `member` (`"key":value`) after the last member.
    fn insert(&self, member: &str) -> Edit {
        match self.members.last() {
            Some(last) => (last.value.end, 0, format!(",{member}")),
            None => (self.open + 1, 0, member.to_owned()),
        }
    }

    /// Sets `name` to `value`: in place when the object has exactly one member that `same`
    /// matches and it is spelled `name`, else by writing the object again without every
    /// member `same` matches and with `"name":value` last (the members kept keep their bytes).
    fn set(&self, event: &[u8], name: &str, value: &str, same: fn(&str, &str) -> bool) -> Edit {
        let matching: Vec<&Member> = self.members.iter().filter(|m| same(&m.key, name)).collect();
        match matching.as_slice() {
            [] => self.insert(&format!("{}:{value}", quoted(name))),
            [one] if one.key == name => (one.value.start, one.value.len(), value.to_owned()),
            _ => {
                let mut object = String::from("{");
                for member in self.members.iter().filter(|m| !same(&m.key, name)) {
                    object
                        .push_str(std::str::from_utf8(&event[member.key_start..member.value.end]).unwrap_or_default());
                    object.push(',');
                }
                object.push_str(&quoted(name));
                object.push(':');
                object.push_str(value);
                object.push('}');
                (self.open, self.close + 1 - self.open, object)
            }
        }
    }
}

fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Where `part` (a slice of `whole`) starts in `whole`.
fn offset(whole: &[u8], part: &str) -> usize {
    let offset = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    debug_assert!(offset + part.len() <= whole.len(), "a borrowed slice of the parsed text");
    offset
}

/// `event` with the edits made; they never overlap (each is inside a different member).
fn apply(event: &[u8], mut edits: Vec<Edit>) -> Vec<u8> {
    edits.sort_by_key(|(at, len, _)| (*at, *len));
    let mut out = Vec::with_capacity(event.len() + edits.iter().map(|(_, _, text)| text.len()).sum::<usize>());
    let mut done = 0;
    for (at, len, text) in edits {
        out.extend_from_slice(&event[done..at]);
        out.extend_from_slice(text.as_bytes());
        done = at + len;
    }
    out.extend_from_slice(&event[done..]);
    out
}

/// Every member of a JSON object, borrowed, in order, duplicates kept.
struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(&'de RawValue, &'de RawValue)>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(entry) = map.next_entry::<&RawValue, &RawValue>()? {
            entries.push(entry);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests;
