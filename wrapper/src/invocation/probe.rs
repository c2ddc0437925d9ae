//! What is read of an event (the fields the filters need, borrowed from the raw JSON where
//! they have no escapes), and serde's reader of it: the reference reader, which decides every
//! event the one-pass scanner leaves to it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Invocation, TriggerKind};

// The event is read borrowing from its raw JSON where it can (no escapes): only what the
// invocation keeps is copied, and no map is built for the headers.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Probe<'a> {
    #[serde(borrow)]
    pub(super) version: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) route_key: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) raw_path: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) path: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) resource: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) http_method: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) headers: Option<Headers<'a>>,
    /// Read only when `headers` is absent (ALB with multi-value headers on).
    #[serde(borrow)]
    pub(super) multi_value_headers: Option<Raw<'a>>,
    /// HTTP API and function URL events carry cookies here, not in a `cookie` header.
    #[serde(borrow)]
    pub(super) cookies: Option<Vec<Str<'a>>>,
    /// The route template's parameters as the API read them: a greedy parameter's value tells
    /// how many of the path's last segments the template matched (what is left is a custom
    /// domain's base path). Read only for such templates.
    #[serde(borrow)]
    pub(super) path_parameters: Option<Raw<'a>>,
    #[serde(borrow)]
    pub(super) request_context: Option<ProbeContext<'a>>,
}

/// A value's JSON text, left unread until it is needed.
pub(super) struct Raw<'a>(pub(super) &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| Raw(raw.get()))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ProbeContext<'a> {
    #[serde(borrow)]
    pub(super) http: Option<ProbeHttp<'a>>,
    #[serde(borrow)]
    pub(super) identity: Option<ProbeIdentity<'a>>,
    pub(super) elb: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    pub(super) domain_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) resource_path: Option<Str<'a>>,
    /// An HTTP API's stage: a stage other than `$default` prefixes `rawPath`.
    #[serde(borrow)]
    pub(super) stage: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ProbeHttp<'a> {
    #[serde(borrow)]
    pub(super) method: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) path: Option<Str<'a>>,
    #[serde(borrow)]
    pub(super) source_ip: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ProbeIdentity<'a> {
    #[serde(borrow)]
    pub(super) source_ip: Option<Str<'a>>,
}

/// A string borrowed from the event when it has no escapes, owned otherwise.
pub(super) struct Str<'a>(pub(super) Cow<'a, str>);

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

pub(super) fn text<'a>(value: Option<&'a Str<'_>>) -> Option<&'a str> {
    value.map(|s| s.0.as_ref())
}

/// A headers object read into (name, value) pairs borrowed from the event where it can;
/// `null` values (REST events have them) are skipped.
#[derive(Default)]
pub(super) struct Headers<'a>(pub(super) Vec<(Cow<'a, str>, Cow<'a, str>)>);

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
pub(super) struct MultiHeaders<'a>(pub(super) Vec<(Cow<'a, str>, Cow<'a, str>)>);

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

impl Invocation {
    /// The serde reader, for what [`scan::probe`] leaves to it.
    pub(super) fn from_json(json: &str) -> Self {
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
}

/// The HTTP trigger an event's markers point to, read leniently (repeats and wrong types
/// allowed): only for events the strict reader refused, so rare and off the common path.
pub(super) fn marked_kind(json: &str) -> Option<TriggerKind> {
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

/// serde_json's message with the strings it quotes from the event left out (a header value it
/// quotes may be a token or a cookie): what was wrong and where, safe to answer and to log.
pub(super) fn without_quoted_strings(error: &serde_json::Error) -> String {
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
