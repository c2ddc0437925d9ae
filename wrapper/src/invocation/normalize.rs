//! A probe made an [`Invocation`]: the trigger told from the shape, the path judged once
//! (stage prefix, canonical form), the headers, cookies and repeated names gathered, and every
//! string the invocation keeps copied into its one buffer.

use std::borrow::Cow;

use super::probe::{Headers, MultiHeaders, Probe, text, without_quoted_strings};
use super::scan::HeaderBlock;
use super::{Invocation, Span, TriggerKind};
use crate::canonical::{Canonical, PathProblem, canonicalize};

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
    /// The invocation a probe describes; `block` is the headers object as the one-pass reader
    /// found it (its text and where each name and value lies in it), copied as it is.
    pub(super) fn from_probe(probe: Probe<'_>, block: Option<HeaderBlock<'_>>) -> Self {
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
        let parameters = probe.path_parameters.as_ref().map(|raw| raw.0);
        let api_start = canonical
            .as_ref()
            .and_then(|c| c.path.as_deref())
            .zip(route)
            .and_then(|(path, template)| api_path_start(path, template, parameters));
        // A template the path does not line up with leaves no one path to match routes on: the
        // path (with whatever base path) could meet a catch-all the template's route would not.
        // Refused rather than matched either way.
        if route.is_some()
            && api_start.is_none()
            && let Some(Canonical { path: path @ Some(_), problem }) = &mut canonical
            && problem.is_none_or(PathProblem::is_decodable)
        {
            *path = None;
            *problem = Some(PathProblem::RouteMismatch);
        }
        let canonical_path = canonical.as_ref().and_then(|c| c.path.as_deref());
        let api_path = canonical_path.zip(api_start).map(|(path, start)| match &path[start..] {
            "" => "/",
            api => api,
        });
        // Kept apart only when a base path was taken off; else it is the canonical path's span.
        let api_path_apart = api_path.filter(|api| Some(*api) != canonical_path);
        let length = [method, path, canonical_path, api_path_apart, route, source_ip]
            .iter()
            .flatten()
            .map(|s| s.len())
            .sum::<usize>()
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
        let api_path = match api_path_apart {
            Some(api) => Some(text.push(api)),
            None => api_path.and(canonical_path),
        };
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
            api_path,
            path_problem,
            route,
            source_ip,
            headers,
            repeated,
            malformed: None,
        }
    }
}

/// Where, in the canonical `path`, the path the API matched against its route `template` begins
/// (`path.len()` for the root `/`): without a custom
/// domain's base path, which API Gateway leaves in the event's path (`/v1/admin/x`, served by
/// `/admin/{proxy+}`, is `/admin/x`). The template's segments are counted from the end of the
/// path, a greedy parameter's from its value in `parameters` (the event's `pathParameters`,
/// read as the path is);
/// `None` when the path does not line up with the template (a [`PathProblem::RouteMismatch`]).
fn api_path_start(path: &str, template: &str, parameters: Option<&str>) -> Option<usize> {
    fn segments(text: &str) -> impl Iterator<Item = &str> {
        text.split('/').filter(|s| !s.is_empty())
    }
    let meets = |expected: &str, segment: &str| expected.starts_with('{') || expected.eq_ignore_ascii_case(segment);
    // The common cases first, in one pass: a template without parameters that the path ends
    // with, at a segment's start (a route key's path starts with `/`; the root's is `/`), and a
    // path without a base path that meets a template without a greedy parameter.
    if !template.contains('{') && template.len() > 1 && !template.ends_with('/') {
        let start = path.len().checked_sub(template.len())?;
        if path.get(start..).is_some_and(|end| end.eq_ignore_ascii_case(template)) {
            return Some(start);
        }
    } else if !template.contains("+}") {
        let (mut expected, mut given) = (segments(template), segments(path));
        loop {
            match (expected.next(), given.next()) {
                (None, None) => return Some(0),
                (Some(expected), Some(segment)) if meets(expected, segment) => {}
                _ => break,
            }
        }
    }
    let greedy = segments(template).last().and_then(|last| last.strip_prefix('{')?.strip_suffix("+}"));
    let fixed = segments(template).count() - usize::from(greedy.is_some());
    let mut count = fixed;
    if let Some(name) = greedy {
        let parameters: Headers<'_> = serde_json::from_str(parameters?).ok()?;
        let (_, value) = parameters.0.iter().find(|(key, _)| key == name)?;
        // Read as the path is read (escapes, `%2F` in its most decoded reading), so both count
        // the same segments however API Gateway left the value encoded; a value without escapes,
        // backslashes, `?` or `#` reads as it is (a dot segment has already refused the path).
        let counted = if value.contains(['%', '\\', '?', '#']) {
            segments(&canonicalize(&format!("/{value}")).path?).count()
        } else {
            segments(value).count()
        };
        match counted {
            0 => return None,
            more => count += more,
        }
    }
    // A canonical path has no empty segment and no trailing slash: each `/` starts a segment
    // (but the root's, which starts none).
    let start = match count {
        0 => path.len(),
        _ if path == "/" => return None,
        _ => path.rmatch_indices('/').nth(count - 1)?.0,
    };
    let lines_up = segments(template)
        .take(fixed)
        .zip(segments(&path[start..]))
        .all(|(expected, segment)| meets(expected, segment));
    lines_up.then_some(start)
}

/// `path` without the leading `/{stage}` an HTTP API's named stage puts in front of it.
fn without_stage<'a>(path: &'a str, stage: &str) -> &'a str {
    match path.strip_prefix('/').and_then(|rest| rest.strip_prefix(stage)) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
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
