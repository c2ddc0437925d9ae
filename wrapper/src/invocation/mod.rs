//! One normalized view of any trigger's event, built from the raw payload.
//!
//! One reader, [`Invocation::from_raw`]: the event is read into a probe (the fields the
//! filters need, borrowed from the event) and normalized into an [`Invocation`]. serde reads
//! the probe; a one-pass scanner reads the same probe for the common case and leaves anything
//! unusual to serde, so both always agree (the `event_readers` fuzz target checks it).
//!
//! - `probe`: what is read of an event, and serde's reader of it;
//! - `scan`: the one-pass reader of the same probe;
//! - `normalize`: the probe made an [`Invocation`] (paths judged, headers copied once);
//! - `meta`: what the Runtime API says about an invocation besides its event.

mod meta;
mod normalize;
mod probe;
mod scan;
#[cfg(test)]
mod tests;

use serde_json::value::RawValue;

use crate::canonical::PathProblem;

pub use meta::InvocationMeta;
#[cfg(any(test, feature = "fuzzing"))]
use probe::marked_kind;

/// The trigger an event came from, as far as its shape tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggerKind {
    /// API Gateway REST API (payload format 1.0).
    ApiGatewayRest,
    /// API Gateway HTTP API (payload format 2.0).
    ApiGatewayHttp,
    /// Application Load Balancer target group.
    Alb,
    /// Lambda function URL (payload format 2.0).
    FunctionUrl,
    /// Anything else (queues, schedules, direct invokes).
    Other,
}

impl TriggerKind {
    /// Whether a rejection is answered as an HTTP response rather than an invocation error.
    #[must_use]
    pub fn is_http(self) -> bool {
        !matches!(self, TriggerKind::Other)
    }

    /// The `faas.trigger` semantic-convention value.
    #[must_use]
    pub fn faas_trigger(self) -> &'static str {
        if self.is_http() { "http" } else { "other" }
    }
}

/// A normalized invocation: what the filters need, read once from the raw event.
///
/// Every string it keeps (method, path, route, source IP, header names and values) is copied
/// into one buffer, so reading an event costs a few allocations whatever its header count.
#[derive(Clone)]
pub struct Invocation {
    /// Which trigger shape the event has.
    pub kind: TriggerKind,
    text: String,
    method: Option<Span>,
    path: Option<Span>,
    /// The path every decision judges (see [`crate::canonical`]), after the stage prefix.
    canonical_path: Option<Span>,
    /// The canonical path as the API matched it against `route` (without a base path).
    api_path: Option<Span>,
    /// Why the strict reading of the path refuses it.
    path_problem: Option<PathProblem>,
    route: Option<Span>,
    source_ip: Option<Span>,
    /// (lower-case name, value) of every header, in the event's order.
    headers: Vec<(Span, Span)>,
    /// Names a REST event's `multiValueHeaders` gives more than one value, while its
    /// `headers` (which holds the last of them) shows one.
    repeated: Vec<Span>,
    /// Why an event with an HTTP trigger's markers could not be read.
    malformed: Option<Box<str>>,
}

/// Where one string lies in [`Invocation::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("kind", &self.kind)
            .field("method", &self.method())
            .field("path", &self.path())
            .field("canonical_path", &self.canonical_path())
            .field("api_path", &self.api_path())
            .field("path_problem", &self.path_problem)
            .field("route", &self.route())
            .field("source_ip", &self.source_ip())
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("repeated", &self.repeated.iter().map(|name| self.get(*name)).collect::<Vec<_>>())
            .field("malformed", &self.malformed())
            .finish()
    }
}

impl Invocation {
    /// Reads an invocation from the raw event.
    ///
    /// An event that is not an HTTP trigger's shape (or not a JSON object at all) becomes a
    /// [`TriggerKind::Other`] invocation: the filters still run, and rejections are then
    /// invocation errors. An event with an HTTP trigger's markers (`httpMethod`, `routeKey`,
    /// `requestContext.http` or `requestContext.elb`) that cannot be read (a field given twice,
    /// a header that is not a string) keeps the kind its markers suggest and says what is
    /// wrong in [`Invocation::malformed`], so it is refused rather than passed on unrouted.
    #[must_use]
    pub fn from_raw(raw: &RawValue) -> Self {
        match scan::probe(raw.get()) {
            Some((probe, block)) => Self::from_probe(probe, block),
            None => Self::from_json(raw.get()),
        }
    }

    fn other() -> Self {
        Invocation {
            kind: TriggerKind::Other,
            text: String::new(),
            method: None,
            path: None,
            canonical_path: None,
            api_path: None,
            path_problem: None,
            route: None,
            source_ip: None,
            headers: Vec::new(),
            repeated: Vec::new(),
            malformed: None,
        }
    }

    fn get(&self, span: Span) -> &str {
        self.text.get(span.start as usize..span.end as usize).unwrap_or_default()
    }

    /// HTTP method, upper case, for HTTP triggers.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        self.method.map(|span| self.get(span))
    }

    /// Request path as the client sent it.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.path.map(|span| self.get(span))
    }

    /// The path every decision judges: normalized (escapes decoded, slashes merged, no trailing
    /// slash), without an HTTP API's stage prefix. When [`Self::path_problem`] is set this is
    /// the most decoded reading of the path, and `None` when no reading is safe (a dot segment,
    /// an unreadable path, ...).
    #[must_use]
    pub fn canonical_path(&self) -> Option<&str> {
        self.canonical_path.map(|span| self.get(span))
    }

    /// The canonical path as the API matched it against the route template it served
    /// ([`Self::route`]): without the base path a custom domain's mapping leaves in the event
    /// (`/v1/admin/x`, served by `/admin/{proxy+}`, is `/admin/x`); the canonical path itself
    /// when there is none. `None` when the trigger names no template (function URLs, ALB) or
    /// the path does not line up with it (an event made by hand).
    #[must_use]
    pub fn api_path(&self) -> Option<&str> {
        self.api_path.map(|span| self.get(span))
    }

    /// [`Self::api_path`] when it is not the canonical path itself (a base path was left out).
    pub(crate) fn api_path_apart(&self) -> Option<&str> {
        self.api_path.filter(|span| Some(*span) != self.canonical_path).map(|span| self.get(span))
    }

    /// Why the path cannot be normalized safely (an encoded slash, a `;` parameter, ...): such a
    /// request is refused with 400 unless `INTERCEPT_UNSAFE_PATHS=decode`.
    #[must_use]
    pub fn path_problem(&self) -> Option<PathProblem> {
        self.path_problem
    }

    /// The route template that matched (`/orders/{id}`), where the trigger names one.
    #[must_use]
    pub fn route(&self) -> Option<&str> {
        self.route.map(|span| self.get(span))
    }

    /// Source IP address of the client.
    #[must_use]
    pub fn source_ip(&self) -> Option<&str> {
        self.source_ip.map(|span| self.get(span))
    }

    /// The value of a header, matched case-insensitively.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| self.get(*key).eq_ignore_ascii_case(name))
            .map(|(_, value)| self.get(*value))
    }

    /// Whether more than one header has this name (matched case-insensitively): a REST or
    /// direct-invoke event can carry `Authorization` and `authorization` side by side.
    #[must_use]
    pub fn header_is_repeated(&self, name: &str) -> bool {
        self.headers.iter().filter(|(key, _)| self.get(*key).eq_ignore_ascii_case(name)).nth(1).is_some()
            || self.repeated.iter().any(|key| self.get(*key).eq_ignore_ascii_case(name))
    }

    /// Every header as (lower-case name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(name, value)| (self.get(*name), self.get(*value)))
    }

    /// Why the event, which has an HTTP trigger's markers, could not be read (a field given
    /// twice, a value of the wrong type); such an invocation has no method, path or headers,
    /// and must be refused rather than let through without its route's filters.
    #[must_use]
    pub fn malformed(&self) -> Option<&str> {
        self.malformed.as_deref()
    }

    /// The route for telemetry and rate-limit keys: the template when known, else the path.
    #[must_use]
    pub fn route_or_path(&self) -> Option<&str> {
        self.route().or(self.path())
    }
}

/// The three event readers side by side, for the differential fuzz target in [`crate::fuzzing`]:
/// the one-pass reader's invocation (`None` where it leaves the event to serde), serde's, and
/// the kind the lenient marker reader sees.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn readers(json: &str) -> (Option<Invocation>, Invocation, Option<TriggerKind>) {
    let one_pass = scan::probe(json).map(|(probe, block)| Invocation::from_probe(probe, block));
    (one_pass, Invocation::from_json(json), marked_kind(json))
}
