//! One normalized view of any trigger's event, built from the raw payload.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::canonical::{Canonical, PathProblem, canonicalize};

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

/// A headers object without escapes, as the event has it, and where its names and values lie.
struct HeaderBlock<'a> {
    json: &'a str,
    spans: Vec<(Span, Span)>,
}

impl<'a> HeaderBlock<'a> {
    fn get(&self, span: Span) -> &'a str {
        self.json.get(span.start as usize..span.end as usize).unwrap_or_default()
    }
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("kind", &self.kind)
            .field("method", &self.method())
            .field("path", &self.path())
            .field("canonical_path", &self.canonical_path())
            .field("path_problem", &self.path_problem)
            .field("route", &self.route())
            .field("source_ip", &self.source_ip())
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("repeated", &self.repeated.iter().map(|name| self.get(*name)).collect::<Vec<_>>())
            .field("malformed", &self.malformed())
            .finish()
    }
}

// The event is read borrowing from its raw JSON where it can (no escapes): only what the
// invocation keeps is copied, and no map is built for the headers.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Probe<'a> {
    #[serde(borrow)]
    version: Option<Str<'a>>,
    #[serde(borrow)]
    route_key: Option<Str<'a>>,
    #[serde(borrow)]
    raw_path: Option<Str<'a>>,
    #[serde(borrow)]
    path: Option<Str<'a>>,
    #[serde(borrow)]
    resource: Option<Str<'a>>,
    #[serde(borrow)]
    http_method: Option<Str<'a>>,
    #[serde(borrow)]
    headers: Option<Headers<'a>>,
    /// Read only when `headers` is absent (ALB with multi-value headers on).
    #[serde(borrow)]
    multi_value_headers: Option<Raw<'a>>,
    /// HTTP API and function URL events carry cookies here, not in a `cookie` header.
    #[serde(borrow)]
    cookies: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    request_context: Option<ProbeContext<'a>>,
}

/// A value's JSON text, left unread until it is needed.
struct Raw<'a>(&'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| Raw(raw.get()))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ProbeContext<'a> {
    #[serde(borrow)]
    http: Option<ProbeHttp<'a>>,
    #[serde(borrow)]
    identity: Option<ProbeIdentity<'a>>,
    elb: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    domain_name: Option<Str<'a>>,
    #[serde(borrow)]
    resource_path: Option<Str<'a>>,
    /// An HTTP API's stage: a stage other than `$default` prefixes `rawPath`.
    #[serde(borrow)]
    stage: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ProbeHttp<'a> {
    #[serde(borrow)]
    method: Option<Str<'a>>,
    #[serde(borrow)]
    path: Option<Str<'a>>,
    #[serde(borrow)]
    source_ip: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ProbeIdentity<'a> {
    #[serde(borrow)]
    source_ip: Option<Str<'a>>,
}

/// A string borrowed from the event when it has no escapes, owned otherwise.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(value)))
            }
            fn visit_str<E>(self, value: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(value.to_owned())))
            }
            fn visit_string<E>(self, value: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

fn text<'a>(value: Option<&'a Str<'_>>) -> Option<&'a str> {
    value.map(|s| s.0.as_ref())
}

/// A headers object read into (name, value) pairs borrowed from the event where it can;
/// `null` values (REST events have them) are skipped.
#[derive(Default)]
struct Headers<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Headers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Headers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of header names to values")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Headers<'de>, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Str(name), value)) = map.next_entry::<Str<'de>, Option<Str<'de>>>()? {
                    if let Some(Str(value)) = value {
                        pairs.push((name, value));
                    }
                }
                Ok(Headers(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A `multiValueHeaders` object flattened into (name, value) pairs, one per value, in order;
/// `null`s are skipped as in [`Headers`].
struct MultiHeaders<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for MultiHeaders<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MultiHeaders<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of header names to lists of values")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<MultiHeaders<'de>, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Str(name), values)) = map.next_entry::<Str<'de>, Option<Vec<Option<Str<'de>>>>>()? {
                    for Str(value) in values.into_iter().flatten().flatten() {
                        pairs.push((name.clone(), value));
                    }
                }
                Ok(MultiHeaders(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The strings an invocation keeps, copied into its one buffer.
struct Text(String);

impl Text {
    fn push(&mut self, value: &str) -> Span {
        let start = self.0.len();
        self.0.push_str(value);
        // Events are at most a few MiB, so offsets fit in u32.
        Span { start: start as u32, end: self.0.len() as u32 }
    }

    fn push_lower(&mut self, value: &str) -> Span {
        let span = self.push(value);
        self.0[span.start as usize..].make_ascii_lowercase();
        span
    }

    fn push_upper(&mut self, value: &str) -> Span {
        let span = self.push(value);
        self.0[span.start as usize..].make_ascii_uppercase();
        span
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

    /// The serde reader, for what [`scan::probe`] leaves to it.
    fn from_json(json: &str) -> Self {
        match serde_json::from_str::<Probe>(json) {
            Ok(probe) => Self::from_probe(probe, None),
            Err(error) => match marked_kind(json) {
                Some(kind) => {
                    let problem = without_quoted_strings(&error);
                    tracing::debug!(%problem, ?kind, "event has an HTTP trigger's markers but cannot be read");
                    Invocation { kind, malformed: Some(problem.into()), ..Self::other() }
                }
                None => {
                    tracing::debug!(%error, "event is not an HTTP trigger's shape");
                    Self::other()
                }
            },
        }
    }

    fn other() -> Self {
        Invocation {
            kind: TriggerKind::Other,
            text: String::new(),
            method: None,
            path: None,
            canonical_path: None,
            path_problem: None,
            route: None,
            source_ip: None,
            headers: Vec::new(),
            repeated: Vec::new(),
            malformed: None,
        }
    }

    /// The invocation a probe describes; `block` is the headers object as the one-pass reader
    /// found it (its text and where each name and value lies in it), copied as it is.
    fn from_probe(probe: Probe<'_>, block: Option<HeaderBlock<'_>>) -> Self {
        let context = probe.request_context.unwrap_or_default();
        let mut unreadable: Option<String> = None;
        // REST events carry both `headers` (the last value of each name) and
        // `multiValueHeaders` (every value): a name given twice shows only in the latter.
        // Several `Cookie` values are one cookie list cut in pieces (HTTP/2 sends them so,
        // RFC 9113 §8.2.3), joined back with "; " as that RFC says, not a repeat.
        let multi = probe.multi_value_headers.as_ref().and_then(|multi| {
            serde_json::from_str::<MultiHeaders>(multi.0)
                .map_err(|error| unreadable = Some(format!("multiValueHeaders: {}", without_quoted_strings(&error))))
                .ok()
        });
        let mut repeated = Vec::new();
        let mut multi_cookies = None;
        if let Some(multi) = &multi {
            let is_cookie = |name: &str| name.eq_ignore_ascii_case("cookie");
            let cookies: Vec<&str> =
                multi.0.iter().filter(|(name, _)| is_cookie(name)).map(|(_, value)| value.as_ref()).collect();
            if cookies.len() > 1 {
                multi_cookies = Some(cookies.join("; "));
            }
            for (i, (name, _)) in multi.0.iter().enumerate() {
                let again = multi.0[..i].iter().any(|(earlier, _)| earlier.eq_ignore_ascii_case(name));
                if again
                    && !is_cookie(name)
                    && !repeated.iter().any(|seen: &Cow<'_, str>| seen.eq_ignore_ascii_case(name))
                {
                    repeated.push(name.clone());
                }
            }
        }
        let headers = match (probe.headers, &block, multi) {
            (Some(headers), _, _) => headers.0,
            // No `headers` (an ALB with multi-value headers on): every value of every name, so
            // a credential given twice is seen twice, and `X-Forwarded-For`'s last value counts.
            (None, None, Some(multi)) => multi.0,
            _ => Vec::new(),
        };
        let (kind, method, path, route, source_ip) = if let Some(http) = &context.http {
            let kind = match &context.domain_name {
                Some(domain) if domain.0.contains(".lambda-url.") => TriggerKind::FunctionUrl,
                _ => TriggerKind::ApiGatewayHttp,
            };
            // `$default` and function URLs have no route template; a route key is `METHOD /path`.
            let route = probe.route_key.as_ref().and_then(|key| key.0.split_once(' ')).map(|(_, route)| route);
            let path = text(probe.raw_path.as_ref().or(http.path.as_ref()));
            (kind, text(http.method.as_ref()), path, route, text(http.source_ip.as_ref()))
        } else if context.elb.is_some() {
            let source_ip = match &block {
                Some(block) => last_forwarded_for(block.spans.iter().map(|&(n, v)| (block.get(n), block.get(v)))),
                None => last_forwarded_for(headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))),
            };
            (TriggerKind::Alb, text(probe.http_method.as_ref()), text(probe.path.as_ref()), None, source_ip)
        } else if probe.http_method.is_some() && probe.version.as_ref().map(|v| v.0.as_ref()) != Some("2.0") {
            let route = text(probe.resource.as_ref().or(context.resource_path.as_ref()));
            let source_ip = text(context.identity.as_ref().and_then(|identity| identity.source_ip.as_ref()));
            (TriggerKind::ApiGatewayRest, text(probe.http_method.as_ref()), text(probe.path.as_ref()), route, source_ip)
        } else {
            return Self::other();
        };
        if let Some(problem) = unreadable {
            return Invocation { kind, malformed: Some(problem.into()), ..Self::other() };
        }
        // An HTTP API stage other than `$default` prefixes the path on the API's own
        // `execute-api` domain; routes are written without it. Behind a custom domain the path
        // carries no stage, and a first segment that happens to be spelled as it stays.
        let on_execute_api = context.domain_name.as_ref().is_none_or(|domain| domain.0.contains(".execute-api."));
        let stage = context
            .http
            .as_ref()
            .and(text(context.stage.as_ref()))
            .filter(|stage| *stage != "$default" && on_execute_api);
        fn judged<'p>(path: &'p str, stage: Option<&str>) -> Canonical<'p> {
            canonicalize(stage.map_or(path, |stage| without_stage(path, stage)))
        }
        let mut canonical = path.map(|path| judged(path, stage));
        // An HTTP API event names its path twice (`rawPath`, judged here, and
        // `requestContext.http.path`, which some adapters route on): two different paths leave
        // no one path to judge.
        if let (Some(Canonical { path: Some(judged_path), .. }), Some(other)) =
            (&canonical, context.http.as_ref().and_then(|http| text(http.path.as_ref())))
            && path != Some(other)
            && judged(other, stage).path.as_deref() != Some(judged_path.as_ref())
        {
            canonical = Some(Canonical { path: None, problem: Some(PathProblem::PathMismatch) });
        }
        let cookies = probe
            .cookies
            .filter(|cookies| !cookies.is_empty())
            .map(|cookies| {
                let cookies: Vec<&str> = cookies.iter().map(|cookie| cookie.0.as_ref()).collect();
                cookies.join("; ")
            })
            .or(multi_cookies);
        let canonical_path = canonical.as_ref().and_then(|c| c.path.as_deref());
        let length = [method, path, canonical_path, route, source_ip].iter().flatten().map(|s| s.len()).sum::<usize>()
            + cookies.as_ref().map_or(0, |cookies| cookies.len() + "cookie".len())
            + headers.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>()
            + block.as_ref().map_or(0, |block| block.json.len())
            + repeated.iter().map(|name| name.len()).sum::<usize>();
        let mut text = Text(String::with_capacity(length));
        // The block goes first, so its spans hold in the buffer as they are.
        let block_spans = block.map(|block| {
            text.push(block.json);
            for (name, _) in &block.spans {
                if let Some(name) = text.0.get_mut(name.start as usize..name.end as usize) {
                    name.make_ascii_lowercase();
                }
            }
            block.spans
        });
        let method = method.map(|method| text.push_upper(method));
        let path = path.map(|path| text.push(path));
        let canonical_path = canonical_path.map(|canonical| text.push(canonical));
        let path_problem = canonical.and_then(|canonical| canonical.problem);
        let route = route.map(|route| text.push(route));
        let source_ip = source_ip.map(|ip| text.push(ip));
        let mut headers = match block_spans {
            Some(spans) => spans,
            None => headers.iter().map(|(name, value)| (text.push_lower(name), text.push(value))).collect(),
        };
        // The array is the request's cookies as API Gateway and function URLs parsed them. Some
        // events (function URLs, CloudFront in front) carry the same cookies in a `cookie` header
        // too: the array replaces it, as lambda_http reads these events, rather than making two.
        if let Some(cookies) = cookies {
            headers.retain(|(name, _)| text.0.get(name.start as usize..name.end as usize) != Some("cookie"));
            headers.push((text.push("cookie"), text.push(&cookies)));
        }
        let repeated = repeated.iter().map(|name| text.push_lower(name)).collect();
        Invocation {
            kind,
            text: text.0,
            method,
            path,
            canonical_path,
            path_problem,
            route,
            source_ip,
            headers,
            repeated,
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

/// `path` without the leading `/{stage}` an HTTP API's named stage puts in front of it.
fn without_stage<'a>(path: &'a str, stage: &str) -> &'a str {
    match path.strip_prefix('/').and_then(|rest| rest.strip_prefix(stage)) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// The HTTP trigger an event's markers point to, read leniently (repeats and wrong types
/// allowed): only for events the strict reader refused, so rare and off the common path.
fn marked_kind(json: &str) -> Option<TriggerKind> {
    // Values are stepped over, never parsed: no nesting limit for an event to hide behind.
    type Shallow = std::collections::HashMap<String, Box<RawValue>>;
    let event: Shallow = serde_json::from_str(json).ok()?;
    let context: Option<Shallow> =
        event.get("requestContext").and_then(|context| serde_json::from_str(context.get()).ok());
    let marked = |key| context.as_ref().is_some_and(|context| context.contains_key(key));
    if marked("http") {
        let domain = context.as_ref().and_then(|context| context.get("domainName"));
        let domain = domain.and_then(|domain| serde_json::from_str::<String>(domain.get()).ok());
        Some(match domain {
            Some(domain) if domain.contains(".lambda-url.") => TriggerKind::FunctionUrl,
            _ => TriggerKind::ApiGatewayHttp,
        })
    } else if marked("elb") {
        Some(TriggerKind::Alb)
    } else if event.contains_key("httpMethod") {
        Some(TriggerKind::ApiGatewayRest)
    } else if event.contains_key("routeKey") {
        Some(TriggerKind::ApiGatewayHttp)
    } else {
        None
    }
}

/// The three event readers side by side, for the differential fuzz target in [`crate::fuzzing`]:
/// the one-pass reader's invocation (`None` where it leaves the event to serde), serde's, and
/// the kind the lenient marker reader sees.
pub(crate) fn readers(json: &str) -> (Option<Invocation>, Invocation, Option<TriggerKind>) {
    let one_pass = scan::probe(json).map(|(probe, block)| Invocation::from_probe(probe, block));
    (one_pass, Invocation::from_json(json), marked_kind(json))
}

/// The address the load balancer saw: the rightmost `X-Forwarded-For` entry of the last such
/// header. ALB appends what it saw to whatever the client sent, so every entry to its left is
/// the client's to choose.
fn last_forwarded_for<'a>(mut headers: impl DoubleEndedIterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
    headers
        .rfind(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
        .and_then(|(_, value)| rightmost_entry(value))
}

/// The last non-empty entry of a comma-separated list, trimmed.
fn rightmost_entry(list: &str) -> Option<&str> {
    list.rsplit(',').map(str::trim).find(|entry| !entry.is_empty())
}

/// The common case read in one pass without serde: the event is a `RawValue`, so it is known
/// to be valid JSON, and only has to be walked. Anything unusual (an escape in a key or in a
/// string that is kept, a field of the wrong type, a field given twice, a top level that is
/// not an object) gives `None`, and the serde reader decides, so both always agree.
mod scan {
    use std::borrow::Cow;

    use super::{HeaderBlock, Probe, ProbeContext, ProbeHttp, ProbeIdentity, Raw, Span, Str};

    pub(super) fn probe(json: &str) -> Option<(Probe<'_>, Option<HeaderBlock<'_>>)> {
        let mut scan = Scan { json, at: 0 };
        let mut probe = Probe::default();
        let mut seen = 0u32;
        let mut block = None;
        let mut multi = None;
        scan.object(|scan, key| match key {
            "version" => once(&mut seen, 1 << 0, &mut probe.version, scan.text()?),
            "routeKey" => once(&mut seen, 1 << 1, &mut probe.route_key, scan.text()?),
            "rawPath" => once(&mut seen, 1 << 2, &mut probe.raw_path, scan.text()?),
            "path" => once(&mut seen, 1 << 3, &mut probe.path, scan.text()?),
            "resource" => once(&mut seen, 1 << 4, &mut probe.resource, scan.text()?),
            "httpMethod" => once(&mut seen, 1 << 5, &mut probe.http_method, scan.text()?),
            "headers" => once(&mut seen, 1 << 6, &mut block, scan.nullable(Scan::headers)?),
            "requestContext" => once(&mut seen, 1 << 7, &mut probe.request_context, scan.nullable(Scan::context)?),
            "multiValueHeaders" => once(&mut seen, 1 << 8, &mut multi, scan.nullable(Scan::raw)?),
            "cookies" => once(&mut seen, 1 << 9, &mut probe.cookies, scan.nullable(Scan::strings)?),
            _ => scan.skip(),
        })?;
        probe.multi_value_headers = multi;
        scan.rest_is_blank().then_some((probe, block))
    }

    /// Sets a field read once; a second occurrence (even after a `null`, which leaves the
    /// field `None`) is left to serde, which refuses it. `seen` has one bit per field, `bit`.
    fn once<T>(seen: &mut u32, bit: u32, field: &mut Option<T>, value: Option<T>) -> Option<()> {
        if *seen & bit != 0 {
            return None;
        }
        *seen |= bit;
        *field = value;
        Some(())
    }

    struct Scan<'a> {
        json: &'a str,
        at: usize,
    }

    impl<'a> Scan<'a> {
        fn peek(&mut self) -> Option<u8> {
            let bytes = self.json.as_bytes();
            // Events are mostly written without blanks, so the first byte usually decides.
            let byte = *bytes.get(self.at)?;
            if byte > b' ' {
                return Some(byte);
            }
            while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(self.at) {
                self.at += 1;
            }
            bytes.get(self.at).copied()
        }

        fn eat(&mut self, byte: u8) -> Option<()> {
            (self.peek()? == byte).then(|| self.at += 1)
        }

        fn rest_is_blank(&mut self) -> bool {
            self.peek().is_none()
        }

        /// A string without escapes, borrowed; `None` for anything else.
        fn plain(&mut self) -> Option<&'a str> {
            let (start, end) = self.plain_at()?;
            self.json.get(start..end)
        }

        /// Where a string without escapes lies; `None` for anything else.
        fn plain_at(&mut self) -> Option<(usize, usize)> {
            self.eat(b'"')?;
            let start = self.at;
            let bytes = self.json.as_bytes().get(start..)?;
            let end = start + memchr::memchr2(b'"', b'\\', bytes)?;
            if self.json.as_bytes().get(end) != Some(&b'"') {
                return None;
            }
            self.at = end + 1;
            Some((start, end))
        }

        /// `null`, or what `read` makes of the value.
        fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
            if self.peek()? == b'n' {
                self.skip()?;
                Some(None)
            } else {
                read(self).map(Some)
            }
        }

        /// A string or `null`.
        fn text(&mut self) -> Option<Option<Str<'a>>> {
            self.nullable(|scan| scan.plain().map(|text| Str(Cow::Borrowed(text))))
        }

        /// One value of any kind, as its JSON text.
        fn raw(&mut self) -> Option<Raw<'a>> {
            self.peek()?;
            let start = self.at;
            self.skip()?;
            self.json.get(start..self.at).map(Raw)
        }

        /// An array of strings without escapes.
        fn strings(&mut self) -> Option<Vec<Str<'a>>> {
            self.eat(b'[')?;
            let mut strings = Vec::new();
            if self.peek()? == b']' {
                self.at += 1;
                return Some(strings);
            }
            loop {
                strings.push(Str(Cow::Borrowed(self.plain()?)));
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        return Some(strings);
                    }
                    _ => return None,
                }
            }
        }

        /// Calls `field` for every key of an object, positioned on its value.
        fn object(&mut self, field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
            self.keys(Scan::plain, field)
        }

        /// As [`Scan::object`], with `key` reading each key.
        fn keys(
            &mut self,
            mut key: impl FnMut(&mut Self) -> Option<&'a str>,
            mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
        ) -> Option<()> {
            self.eat(b'{')?;
            if self.peek()? == b'}' {
                self.at += 1;
                return Some(());
            }
            loop {
                let key = key(self)?;
                self.eat(b':')?;
                field(self, key)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }

        /// The headers object kept whole: names and values as spans into its text.
        fn headers(&mut self) -> Option<HeaderBlock<'a>> {
            self.peek()?;
            let start = self.at;
            let mut spans = Vec::with_capacity(16);
            let name = std::cell::Cell::new((0, 0));
            self.keys(
                |scan| {
                    name.set(scan.plain_at()?);
                    Some("")
                },
                |scan, _| {
                    if scan.peek()? == b'n' {
                        return scan.skip();
                    }
                    let value = scan.plain_at()?;
                    let span = |(from, to): (usize, usize)| {
                        Some(Span { start: u32::try_from(from - start).ok()?, end: u32::try_from(to - start).ok()? })
                    };
                    spans.push((span(name.get())?, span(value)?));
                    Some(())
                },
            )?;
            Some(HeaderBlock { json: self.json.get(start..self.at)?, spans })
        }

        fn context(&mut self) -> Option<ProbeContext<'a>> {
            let mut context = ProbeContext::default();
            let mut seen = 0u32;
            self.object(|scan, key| match key {
                "http" => once(&mut seen, 1 << 0, &mut context.http, scan.nullable(Scan::http)?),
                "identity" => once(&mut seen, 1 << 1, &mut context.identity, scan.nullable(Scan::identity)?),
                "elb" => {
                    let present = scan.nullable(Scan::skip)?;
                    once(&mut seen, 1 << 2, &mut context.elb, present.map(|()| serde::de::IgnoredAny))
                }
                "domainName" => once(&mut seen, 1 << 3, &mut context.domain_name, scan.text()?),
                "resourcePath" => once(&mut seen, 1 << 4, &mut context.resource_path, scan.text()?),
                "stage" => once(&mut seen, 1 << 5, &mut context.stage, scan.text()?),
                _ => scan.skip(),
            })?;
            Some(context)
        }

        fn http(&mut self) -> Option<ProbeHttp<'a>> {
            let mut http = ProbeHttp::default();
            let mut seen = 0u32;
            self.object(|scan, key| match key {
                "method" => once(&mut seen, 1 << 0, &mut http.method, scan.text()?),
                "path" => once(&mut seen, 1 << 1, &mut http.path, scan.text()?),
                "sourceIp" => once(&mut seen, 1 << 2, &mut http.source_ip, scan.text()?),
                _ => scan.skip(),
            })?;
            Some(http)
        }

        fn identity(&mut self) -> Option<ProbeIdentity<'a>> {
            let mut identity = ProbeIdentity::default();
            let mut seen = 0u32;
            self.object(|scan, key| match key {
                "sourceIp" => once(&mut seen, 1 << 0, &mut identity.source_ip, scan.text()?),
                _ => scan.skip(),
            })?;
            Some(identity)
        }

        /// Steps over one value of any kind (valid JSON, so only strings and nesting matter).
        fn skip(&mut self) -> Option<()> {
            let bytes = self.json.as_bytes();
            let mut depth = 0usize;
            loop {
                match self.peek()? {
                    b'"' => {
                        self.at += 1;
                        loop {
                            self.at += memchr::memchr2(b'"', b'\\', bytes.get(self.at..)?)?;
                            if bytes.get(self.at)? == &b'"' {
                                break;
                            }
                            self.at += 2;
                        }
                        self.at += 1;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        self.at += 1;
                        continue;
                    }
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        self.at += 1;
                    }
                    b',' | b':' if depth > 0 => {
                        self.at += 1;
                        continue;
                    }
                    b',' | b':' => return None,
                    _ => {
                        // A number or a literal: up to the next delimiter.
                        while let Some(byte) = bytes.get(self.at)
                            && !matches!(byte, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                        {
                            self.at += 1;
                        }
                    }
                }
                if depth == 0 {
                    return Some(());
                }
            }
        }
    }
}

/// serde_json's message with the strings it quotes from the event left out (a header value it
/// quotes may be a token or a cookie): what was wrong and where, safe to answer and to log.
fn without_quoted_strings(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let mut safe = String::with_capacity(message.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in message.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => {
                safe.push_str(if quoted { "\"" } else { "\"…" });
                quoted = !quoted;
            }
            (true, false, _) => {}
            (false, _, c) => safe.push(c),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Invocation {
        let raw = RawValue::from_string(json.to_owned()).expect("test json");
        Invocation::from_raw(&raw)
    }

    #[test]
    fn http_api_v2_event() {
        let inv = parse(
            r#"{"version":"2.0","routeKey":"GET /orders/{id}","rawPath":"/orders/42",
            "headers":{"Authorization":"Bearer abc","user-agent":"curl"},
            "requestContext":{"http":{"method":"get","path":"/orders/42","sourceIp":"1.2.3.4"},
            "domainName":"abc.execute-api.eu-west-1.amazonaws.com"}}"#,
        );
        assert_eq!(inv.kind, TriggerKind::ApiGatewayHttp);
        assert_eq!(inv.method(), Some("GET"));
        assert_eq!(inv.path(), Some("/orders/42"));
        assert_eq!(inv.route(), Some("/orders/{id}"));
        assert_eq!(inv.source_ip(), Some("1.2.3.4"));
        assert_eq!(inv.header("authorization"), Some("Bearer abc"));
    }

    #[test]
    fn the_canonical_path_is_read_once_for_every_trigger() {
        let v2 = |raw_path: &str, stage: &str| {
            parse(&format!(
                r#"{{"version":"2.0","routeKey":"$default","rawPath":"{raw_path}","headers":{{}},
                "requestContext":{{"stage":"{stage}","http":{{"method":"HEAD","path":"{raw_path}"}}}}}}"#
            ))
        };
        let inv = v2("//%61dmin//x/", "$default");
        assert_eq!(inv.path(), Some("//%61dmin//x/"), "the path as sent is kept");
        assert_eq!(inv.canonical_path(), Some("/admin/x"));
        assert_eq!(inv.path_problem(), None);
        assert_eq!(inv.method(), Some("HEAD"));
        assert_eq!(v2("/prod/admin/x", "prod").canonical_path(), Some("/admin/x"), "a named stage is removed");
        assert_eq!(v2("/prod", "prod").canonical_path(), Some("/"));
        assert_eq!(v2("/production/x", "prod").canonical_path(), Some("/production/x"), "only a whole segment");
        assert_eq!(
            v2("/%70rod/admin", "prod").canonical_path(),
            Some("/prod/admin"),
            "the stage is as API Gateway wrote it"
        );
        let custom_domain = parse(
            r#"{"version":"2.0","routeKey":"ANY /{proxy+}","rawPath":"/api/admin/x","headers":{},
            "requestContext":{"stage":"api","domainName":"api.example.com","http":{"method":"GET","path":"/api/admin/x"}}}"#,
        );
        assert_eq!(custom_domain.canonical_path(), Some("/api/admin/x"), "a custom domain's path has no stage");
        let two_paths = parse(
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/public/x","headers":{},
            "requestContext":{"http":{"method":"GET","path":"/admin/x"}}}"#,
        );
        assert_eq!((two_paths.canonical_path(), two_paths.path_problem()), (None, Some(PathProblem::PathMismatch)));
        let spelled_apart = parse(
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/caf%C3%A9/x","headers":{},
            "requestContext":{"http":{"method":"GET","path":"/café/x"}}}"#,
        );
        assert_eq!(spelled_apart.canonical_path(), Some("/café/x"), "one path, spelled twice");
        let slash = v2("/admin%2Fx", "$default");
        assert_eq!(slash.path_problem(), Some(PathProblem::EncodedSlash));
        assert_eq!(slash.canonical_path(), Some("/admin/x"), "the most decoded reading");
        let rest =
            parse(r#"{"resource":"/{proxy+}","path":"/a//b;x","httpMethod":"GET","headers":{},"requestContext":{}}"#);
        assert_eq!((rest.canonical_path(), rest.path_problem()), (Some("/a/b"), Some(PathProblem::PathParameter)));
        let alb = parse(r#"{"path":"/a%00","httpMethod":"GET","headers":{},"requestContext":{"elb":{}}}"#);
        assert_eq!((alb.canonical_path(), alb.path_problem()), (None, Some(PathProblem::Unreadable)));
        let queue = parse(r#"{"Records":[{"body":"/admin"}]}"#);
        assert_eq!((queue.canonical_path(), queue.path_problem()), (None, None));
    }

    #[test]
    fn rest_api_v1_event() {
        let inv = parse(
            r#"{"resource":"/orders/{id}","path":"/orders/7","httpMethod":"POST",
            "headers":{"X-Thing":"1","Nothing":null},"multiValueHeaders":null,
            "requestContext":{"identity":{"sourceIp":"10.0.0.9"},"resourcePath":"/orders/{id}"}}"#,
        );
        assert_eq!(inv.kind, TriggerKind::ApiGatewayRest);
        assert_eq!(inv.method(), Some("POST"));
        assert_eq!(inv.route(), Some("/orders/{id}"));
        assert_eq!(inv.source_ip(), Some("10.0.0.9"));
        assert_eq!(inv.header("X-THING"), Some("1"));
        assert_eq!(inv.header("nothing"), None);
    }

    #[test]
    fn function_url_and_alb_events() {
        let url = parse(
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/","headers":{},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"9.9.9.9"},
            "domainName":"xyz.lambda-url.us-east-1.on.aws"}}"#,
        );
        assert_eq!(url.kind, TriggerKind::FunctionUrl);
        assert_eq!(url.route(), None);
        let alb = parse(
            r#"{"httpMethod":"GET","path":"/x","headers":{"x-forwarded-for":"5.6.7.8, 10.0.0.1"},
            "requestContext":{"elb":{"targetGroupArn":"arn"}}}"#,
        );
        assert_eq!(alb.kind, TriggerKind::Alb);
        assert_eq!(alb.source_ip(), Some("10.0.0.1"));
    }

    #[test]
    fn alb_source_ip_is_the_rightmost_forwarded_for_entry() {
        // ALB appends the address it saw; whatever is to its left came from the client.
        for (forwarded, expected) in [
            ("6.6.6.6, 203.0.113.9", Some("203.0.113.9")),
            ("203.0.113.9", Some("203.0.113.9")),
            ("6.6.6.6,203.0.113.9 , ", Some("203.0.113.9")),
            (" , ", None),
        ] {
            let plain = format!(
                r#"{{"httpMethod":"GET","path":"/x","headers":{{"x-forwarded-for":"{forwarded}"}},
                "requestContext":{{"elb":{{"targetGroupArn":"arn"}}}}}}"#
            );
            // An escape sends the event to the serde reader, which must agree.
            let escaped = plain.replace(r#""path":"/x""#, r#""path":"\/x""#);
            for json in [&plain, &escaped] {
                let alb = parse(json);
                assert_eq!(alb.kind, TriggerKind::Alb, "{json}");
                assert_eq!(alb.source_ip(), expected, "{json}");
            }
            assert!(scan::probe(&escaped).is_none(), "the escaped event goes to serde");
        }
    }

    #[test]
    fn cookies_and_multi_value_headers_are_read() {
        let v2 = parse(
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/","cookies":["a=1","session=t.o.k"],
            "headers":{"x":"1"},"requestContext":{"http":{"method":"GET","path":"/","sourceIp":"9.9.9.9"}}}"#,
        );
        assert_eq!(v2.header("Cookie"), Some("a=1; session=t.o.k"));
        assert!(!v2.header_is_repeated("cookie"));
        // A function URL event carries the cookies twice, in the array and a `cookie` header: the
        // array replaces the header (one cookie header, never two).
        let both = parse(
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/","cookies":["a=1"],"headers":{"Cookie":"b=2"},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"9.9.9.9"}}}"#,
        );
        assert!(!both.header_is_repeated("cookie"));
        assert_eq!(both.header("cookie"), Some("a=1"));
        let alb = r#"{"httpMethod":"GET","path":"/x","multiValueHeaders":{"X-Forwarded-For":["6.6.6.6, 1.1.1.1",
            "7.7.7.7, 203.0.113.9"],"Authorization":["Bearer a","Bearer b"],"X-One":["1"]},
            "requestContext":{"elb":{"targetGroupArn":"arn"}}}"#;
        for json in [alb.to_owned(), alb.replace(r#""path":"/x""#, r#""path":"\/x""#)] {
            let alb = parse(&json);
            assert_eq!(alb.kind, TriggerKind::Alb);
            assert_eq!(alb.source_ip(), Some("203.0.113.9"), "the last value's rightmost entry");
            assert_eq!(alb.header("x-one"), Some("1"));
            assert!(alb.header_is_repeated("authorization"));
        }
        // REST events carry both: `headers` holds the last value of each name, and only
        // `multiValueHeaders` shows that a name came twice.
        let rest = r#"{"httpMethod":"GET","path":"/","headers":{"X-One":"2","Authorization":"Bearer b"},
            "multiValueHeaders":{"X-One":["2"],"Authorization":["Bearer a"],"authorization":["Bearer b"]},
            "requestContext":{}}"#;
        for json in [rest.to_owned(), rest.replace(r#""path":"/""#, r#""path":"\/""#)] {
            let rest = parse(&json);
            assert_eq!(rest.header("x-one"), Some("2"));
            assert!(!rest.header_is_repeated("x-one"));
            assert_eq!(rest.header("authorization"), Some("Bearer b"));
            assert!(rest.header_is_repeated("AUTHORIZATION"), "{rest:?}");
        }
        // Cookie values are pieces of one list (HTTP/2 cookie crumbs): joined, not repeated.
        let crumbs = [
            r#"{"httpMethod":"GET","path":"/","headers":{"Cookie":"b=2"},"multiValueHeaders":{"Cookie":["a=1","b=2"]},
            "requestContext":{}}"#,
            r#"{"httpMethod":"GET","path":"/","multiValueHeaders":{"cookie":["a=1"],"Cookie":["b=2"]},
            "requestContext":{"elb":{}}}"#,
        ];
        for json in crumbs {
            let crumbs = parse(json);
            assert_eq!(crumbs.header("cookie"), Some("a=1; b=2"), "{json}");
            assert!(!crumbs.header_is_repeated("cookie"), "{json}");
        }
        let bad = parse(r#"{"httpMethod":"GET","path":"/","headers":{},"multiValueHeaders":[],"requestContext":{}}"#);
        assert_eq!(bad.kind, TriggerKind::ApiGatewayRest);
        assert!(bad.malformed().is_some_and(|m| m.starts_with("multiValueHeaders: invalid type")), "{bad:?}");
        let bad = parse(r#"{"httpMethod":"GET","path":"/","multiValueHeaders":{"a":[1]},"requestContext":{"elb":{}}}"#);
        assert_eq!(bad.kind, TriggerKind::Alb);
        assert!(bad.malformed().is_some_and(|m| m.starts_with("multiValueHeaders: invalid type")), "{bad:?}");
    }

    #[test]
    fn escaped_strings_are_read_too() {
        let inv = parse(
            r#"{"version":"2.0","routeKey":"GET /a\/b","rawPath":"/a\/b","headers":{"X-Name":"caf\u00e9"},
            "requestContext":{"http":{"method":"GET","path":"/a/b","sourceIp":"1.2.3.4"}}}"#,
        );
        assert_eq!(inv.kind, TriggerKind::ApiGatewayHttp);
        assert_eq!(inv.path(), Some("/a/b"));
        assert_eq!(inv.route(), Some("/a/b"));
        assert_eq!(inv.header("x-name"), Some("café"));
    }

    /// Strings of every length across the vector widths string ends are searched in, with
    /// escaped quotes and backslashes at every offset in the values the one-pass reader skips
    /// and plain ones in those it keeps: it must read every one of these events (none is left
    /// to serde), and read it as serde does.
    #[test]
    fn string_ends_are_found_at_any_length() {
        let fast =
            |json: &str| scan::probe(json).map(|(probe, block)| format!("{:?}", Invocation::from_probe(probe, block)));
        let slow = |json: &str| format!("{:?}", Invocation::from_json(json));
        for length in 0..140 {
            let plain = "p".repeat(length);
            for escape in ["", r#"\""#, r"\\", r"\u0022"] {
                for at in (0..=length).step_by(5) {
                    let mut skipped = "x".repeat(length);
                    skipped.insert_str(at, escape);
                    let json = format!(
                        r#"{{"body":"{skipped}","version":"2.0","routeKey":"GET /{plain}","rawPath":"/{plain}",
                        "headers":{{"a":"{plain}","{plain}b":"Bearer t"}},"requestContext":{{"http":
                        {{"method":"GET","path":"/p","sourceIp":"1.1.1.1"}},"n":["{skipped}",{{"k":"{skipped}"}}]}}}}"#
                    );
                    assert_eq!(fast(&json), Some(slow(&json)), "{json}");
                }
            }
        }
    }

    #[test]
    fn the_one_pass_reader_agrees_with_serde() {
        let fast =
            |json: &str| scan::probe(json).map(|(probe, block)| format!("{:?}", Invocation::from_probe(probe, block)));
        let slow = |json: &str| format!("{:?}", Invocation::from_json(json));
        let common = [
            r#"{"version":"2.0","routeKey":"GET /orders/{id}","rawPath":"/orders/42","rawQueryString":"a=1&b=%20",
            "cookies":["s=1"],"headers":{"Authorization":"Bearer abc","User-Agent":"curl/8","x-n":"1,2"},
            "queryStringParameters":{"a":"1"},"pathParameters":{"id":"42"},
            "requestContext":{"accountId":"1","apiId":"a","authorizer":{"jwt":{"claims":{"x":"y"},"scopes":null}},
            "domainName":"abc.execute-api.eu-west-1.amazonaws.com","http":{"method":"get","path":"/orders/42",
            "protocol":"HTTP/1.1","sourceIp":"1.2.3.4","userAgent":"curl"},"requestId":"r","routeKey":"GET /x",
            "stage":"$default","time":"12/Mar/2020:19:03:58 +0000","timeEpoch":1583348638390},
            "body":"{\"a\":[1,2,{\"b\":null}]}","pathParameters":{},"isBase64Encoded":false,"stageVariables":null}"#,
            r#"{"resource":"/orders/{id}","path":"/orders/7","httpMethod":"POST","headers":{"X-Thing":"1","Nothing":null},
            "multiValueHeaders":{"X-Thing":["1"]},"queryStringParameters":null,"requestContext":{"identity":
            {"sourceIp":"10.0.0.9","user":null},"resourcePath":"/orders/{id}","elb":null},"body":null,"n":-1.5e3}"#,
            r#" {"httpMethod":"GET","path":"/x","headers":{"x-forwarded-for":"5.6.7.8, 10.0.0.1"},
            "requestContext":{"elb":{"targetGroupArn":"arn"}}} "#,
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/","headers":{},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"9.9.9.9"},
            "domainName":"xyz.lambda-url.us-east-1.on.aws"}}"#,
            r#"{"httpMethod":"GET","path":"/x","multiValueHeaders":{"X-Forwarded-For":["6.6.6.6, 1.1.1.1",
            "7.7.7.7, 203.0.113.9"],"Authorization":["Bearer a","Bearer b"],"x-null":null,"x-e":[]},
            "requestContext":{"elb":{"targetGroupArn":"arn"}}}"#,
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/","cookies":["a=1","session=t.o.k"],"headers":{},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"9.9.9.9"}}}"#,
            r#"{"version":"2.0","routeKey":"$default","rawPath":"/","cookies":[],"headers":{"cookie":"b=2"},
            "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"9.9.9.9"}}}"#,
            r#"{"Records":[{"body":"x","attributes":{"a":[[],{}]}}]}"#,
            r#"{}"#,
            r#"{"headers":null,"requestContext":null,"version":null}"#,
        ];
        for json in common {
            assert_eq!(fast(json), Some(slow(json)), "{json}");
        }
        // Left to serde, which decides the same way it always did.
        let unusual = [
            r#"{"version":"2.0","routeKey":"GET /a\/b","rawPath":"/a\/b","headers":{"X-Name":"caf\u00e9"},
            "requestContext":{"http":{"method":"GET","path":"/a/b","sourceIp":"1.2.3.4"}}}"#,
            r#"{"httpMethod":"GET","headers":42}"#,
            r#"{"httpMethod":"GET","httpMethod":"POST","path":"/"}"#,
            r#"{"httpMethod":null,"httpMethod":"DELETE","path":"/admin"}"#,
            r#"{"headers":null,"headers":{"authorization":"Bearer x"},"httpMethod":"GET"}"#,
            r#"{"httpMethod":"GET","requestContext":{"identity":null,"identity":{"sourceIp":"1.1.1.1"}}}"#,
            r#"{"requestContext":{"http":{"method":null,"method":"GET"}}}"#,
            r#"{"httpMethod":"GET","path":"/","headers":{"a":1}}"#,
            r#"{"http\u004dethod":"GET","path":"/"}"#,
            r#"{"requestContext":{"http":{"method":7}}}"#,
            r#""just a string""#,
            r#"[1,2,3]"#,
        ];
        for json in unusual {
            assert_eq!(fast(json), None, "{json}");
        }
        assert_eq!(parse(unusual[8]).kind, TriggerKind::ApiGatewayRest, "serde unescapes keys");
        // A field given twice, even after a `null`, is refused by serde, so the event is malformed.
        for json in &unusual[2..7] {
            assert!(parse(json).malformed().is_some_and(|m| m.contains("duplicate field")), "{json}");
        }
        assert_eq!(parse(unusual[0]).header("x-name"), Some("café"));
    }

    #[test]
    fn non_http_and_malformed_events_are_other() {
        for json in [
            r#"{"Records":[{"body":"x"}]}"#,
            r#""just a string""#,
            r#"[1,2,3]"#,
            r#"{"Records":[{"body":"x"}],"headers":42}"#,
            r#"{"detail":{"httpMethod":"GET"},"headers":{"a":1}}"#,
        ] {
            let inv = parse(json);
            assert_eq!((inv.kind, inv.malformed()), (TriggerKind::Other, None), "{json}");
        }
    }

    #[test]
    fn deep_nesting_does_not_hide_an_http_events_markers() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let json = format!(r#"{{"httpMethod":"GET","httpMethod":"DELETE","path":"/admin","pad":{deep}}}"#);
        let inv = parse(&json);
        assert_eq!(inv.kind, TriggerKind::ApiGatewayRest);
        assert!(inv.malformed().is_some_and(|m| m.contains("duplicate field")), "{:?}", inv.malformed());
    }

    #[test]
    fn a_malformed_events_reason_never_quotes_the_events_strings() {
        for json in [
            r#"{"httpMethod":"GET","headers":"Authorization: Bearer SECRET.tok\"en"}"#,
            r#"{"httpMethod":"GET","multiValueHeaders":{"authorization":"Bearer SECRET"},"requestContext":{"elb":{}}}"#,
        ] {
            let reason = parse(json).malformed().map(str::to_owned).expect("malformed");
            assert!(reason.contains("invalid type: string"), "{reason}");
            assert!(!reason.contains("SECRET") && !reason.contains("Bearer"), "{reason}");
        }
    }

    #[test]
    fn unreadable_events_with_http_markers_are_malformed_not_other() {
        for (json, kind, problem) in [
            (
                r#"{"httpMethod":"GET","httpMethod":"DELETE","path":"/admin"}"#,
                TriggerKind::ApiGatewayRest,
                "duplicate field `httpMethod`",
            ),
            (
                r#"{"httpMethod":"GET","path":"/","headers":{"authorization":7}}"#,
                TriggerKind::ApiGatewayRest,
                "invalid type",
            ),
            (r#"{"httpMethod":"GET","headers":42}"#, TriggerKind::ApiGatewayRest, "invalid type"),
            (r#"{"routeKey":"GET /x","routeKey":"GET /y"}"#, TriggerKind::ApiGatewayHttp, "duplicate field `routeKey`"),
            (r#"{"requestContext":{"http":{"method":7}}}"#, TriggerKind::ApiGatewayHttp, "invalid type"),
            (
                r#"{"requestContext":{"http":{"method":"GET"},"http":{"method":"PUT"},"domainName":"a.lambda-url.x.on.aws"}}"#,
                TriggerKind::FunctionUrl,
                "duplicate field `http`",
            ),
            (r#"{"path":"/a","path":"/b","requestContext":{"elb":{}}}"#, TriggerKind::Alb, "duplicate field `path`"),
        ] {
            let inv = parse(json);
            assert_eq!(inv.kind, kind, "{json}");
            assert!(inv.kind.is_http(), "{json}");
            assert!(inv.malformed().is_some_and(|m| m.contains(problem)), "{json}: {:?}", inv.malformed());
            assert_eq!((inv.method(), inv.path(), inv.headers().count()), (None, None, 0), "{json}");
        }
        for json in [r#"{"httpMethod":"GET","path":"/"}"#, r#"{"headers":null,"requestContext":null,"version":null}"#] {
            assert_eq!(parse(json).malformed(), None, "{json}");
        }
    }
}
