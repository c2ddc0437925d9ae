//! The canonical request path: the one spelling of a path that every decision judges.
//!
//! Routes, scope rules, route-keyed limits and telemetry all see the path after RFC 3986
//! normalization (percent-escapes decoded, slashes merged, no trailing slash), so `//admin/x`,
//! `/admin/x/` and `/%61dmin/x` meet the rules of `/admin/x`. What a framework behind the
//! function could read in more than one way (an encoded `/` or `\`, a `;` parameter, a segment
//! ending in `.` or a space, a double encoding) is a [`PathProblem`], refused unless
//! `INTERCEPT_UNSAFE_PATHS=decode` (the filters then judge the most decoded reading, the one a
//! lenient framework routes on). Dot segments (`/admin/%2e%2e` resolves to `/` while a router
//! serves it from `/admin/{section}`), a raw `?` or `#`, NUL, control characters and escapes
//! that are not UTF-8 are always refused.

use std::borrow::Cow;
use std::fmt;

use crate::config::ConfigError;

/// What to do with a path that has a decodable [`PathProblem`] (`INTERCEPT_UNSAFE_PATHS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsafePaths {
    /// Refuse it with 400 (the default).
    #[default]
    Refuse,
    /// Judge its most decoded reading (`%2F` and `\` as separators, `;params` dropped,
    /// trailing dots and blanks trimmed), for functions whose paths need those characters.
    Decode,
}

impl UnsafePaths {
    /// Reads `INTERCEPT_UNSAFE_PATHS`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting when the value is neither `refuse` nor `decode`.
    pub(crate) fn parse(value: Option<&str>) -> Result<UnsafePaths, ConfigError> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("refuse") => Ok(UnsafePaths::Refuse),
            Some("decode") => Ok(UnsafePaths::Decode),
            Some(other) => Err(ConfigError::new(
                "INTERCEPT_UNSAFE_PATHS",
                format!("`{other}` is not `refuse` (the default) or `decode`"),
            )),
        }
    }

    /// Whether a request with this problem is refused.
    #[must_use]
    pub fn refuses(self, problem: PathProblem) -> bool {
        self == UnsafePaths::Refuse || !problem.is_decodable()
    }
}

/// The headers with which some frameworks replace the request's method.
pub(crate) const METHOD_OVERRIDES: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// Why a request's path (or method) cannot be judged safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathProblem {
    /// `%2F` or `%5C`: a segment or a separator, depending on who decodes it.
    EncodedSlash,
    /// A raw `\`, a separator to some servers.
    Backslash,
    /// A `;` (raw or `%3B`): servlet containers strip `;params` from segments.
    PathParameter,
    /// An escape left after decoding once (`%252F`, `%25%32%46`): a second decoding gives
    /// another path.
    DoubleEncoding,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A segment ending in `.` or starting or ending with white space, which some servers trim.
    TrimmedSegment,
    /// A raw `?` or `#` inside the path: always refused (an adapter that appends the query
    /// string reads another path).
    QueryInPath,
    /// A `.` or `..` segment (raw or encoded): always refused, since routers do not resolve them.
    DotSegment,
    /// NUL, another control character, or an escape that does not decode to UTF-8 (overlong
    /// forms included): always refused.
    Unreadable,
    /// A method-override header (`X-HTTP-Method-Override`, `X-HTTP-Method`,
    /// `X-Method-Override`): frameworks that honour it dispatch another method than the one
    /// judged. Always refused.
    MethodOverride,
    /// An HTTP API event whose `rawPath` and `requestContext.http.path` are different paths
    /// (adapters route on either). Always refused.
    PathMismatch,
    /// An event whose path does not end with what the route template it names matched (the
    /// template's segments, a greedy parameter's as `pathParameters` gives them): no one path
    /// to match routes on, behind a custom domain's base path or not. Always refused.
    RouteMismatch,
}

impl PathProblem {
    /// Whether `INTERCEPT_UNSAFE_PATHS=decode` judges the path by its most decoded reading
    /// rather than refusing it: not for dot segments, a query inside the path, an unreadable
    /// path, a method override or two different paths, which no reading makes safe.
    #[must_use]
    pub fn is_decodable(self) -> bool {
        !matches!(
            self,
            PathProblem::Unreadable
                | PathProblem::DotSegment
                | PathProblem::QueryInPath
                | PathProblem::MethodOverride
                | PathProblem::PathMismatch
                | PathProblem::RouteMismatch
        )
    }
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::EncodedSlash => "the path has an encoded `/` or `\\` (%2F, %5C)",
            PathProblem::Backslash => "the path has a `\\`",
            PathProblem::PathParameter => "the path has a `;` parameter",
            PathProblem::DoubleEncoding => "the path is percent-encoded twice (an escape left after decoding)",
            PathProblem::BadEscape => "the path has a `%` that is not followed by two hex digits",
            PathProblem::TrimmedSegment => "a path segment ends in `.` or starts or ends with white space",
            PathProblem::QueryInPath => "the path has a raw `?` or `#`",
            PathProblem::DotSegment => "the path has a `.` or `..` segment",
            PathProblem::Unreadable => "the path has NUL, a control character or an escape that is not UTF-8",
            PathProblem::MethodOverride => "the request overrides its method with a header (X-HTTP-Method-Override)",
            PathProblem::PathMismatch => "the event's rawPath and requestContext.http.path are different paths",
            PathProblem::RouteMismatch => "the event's path does not end with what its route template matched",
        })
    }
}

/// A path read both ways: `path` is the most decoded reading (`None` when no reading is safe:
/// see [`PathProblem::is_decodable`]), `problem` the reason the strict reading refuses it (the
/// first one found, or the first no reading makes safe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Canonical<'a> {
    pub(crate) path: Option<Cow<'a, str>>,
    pub(crate) problem: Option<PathProblem>,
}

/// Whether `raw` is already canonical: absolute, only ASCII that needs no decoding, no empty,
/// `.`, `..` or dot-ended segment, no trailing slash. Most real paths are, and cost one pass.
fn is_canonical(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    if bytes.len() == 1 {
        return true;
    }
    let mut previous = b'/';
    for &byte in &bytes[1..] {
        let fine = match byte {
            b'/' => previous != b'/' && previous != b'.',
            b'%' | b'\\' | b';' | b'?' | b'#' | b' ' => false,
            0..0x20 | 0x7f.. => false,
            _ => true,
        };
        if !fine {
            return false;
        }
        previous = byte;
    }
    previous != b'/' && previous != b'.'
}

/// Reads a request path; see the module's documentation.
pub(crate) fn canonicalize(raw: &str) -> Canonical<'_> {
    if is_canonical(raw) {
        return Canonical { path: Some(Cow::Borrowed(raw)), problem: None };
    }
    read(raw)
}

/// [`canonicalize`] without the fast path.
fn read(raw: &str) -> Canonical<'static> {
    let mut problem: Option<PathProblem> = None;
    // The first problem, unless a later one is worse: no reading makes that one safe.
    let mut note = |found: PathProblem| match problem {
        Some(first) if first.is_decodable() && !found.is_decodable() => problem = Some(found),
        Some(_) => {}
        None => problem = Some(found),
    };
    // Decode first (what a lenient framework does), noting what a strict reading refuses.
    let mut decoded: Vec<u8> = Vec::with_capacity(raw.len() + 1);
    if !raw.starts_with(['/', '\\']) {
        decoded.push(b'/');
    }
    decode(raw.as_bytes(), &mut decoded, &mut note, true);
    // What still has escapes after one decoding was encoded twice (`%252F`, `%25%32%46`): a stack
    // that decodes again reads another path. The lenient reading decodes until nothing changes.
    for _ in 0..MAX_DECODINGS {
        if !decoded.iter().enumerate().any(|(at, &byte)| byte == b'%' && escape(&decoded, at + 1).is_some()) {
            break;
        }
        note(PathProblem::DoubleEncoding);
        let mut again = Vec::with_capacity(decoded.len());
        decode(&decoded, &mut again, &mut note, false);
        decoded = again;
    }
    let Ok(decoded) = String::from_utf8(decoded) else {
        return Canonical { path: None, problem: Some(PathProblem::Unreadable) };
    };
    if decoded.chars().any(char::is_control) {
        return Canonical { path: None, problem: Some(PathProblem::Unreadable) };
    }
    let mut segments: Vec<&str> = Vec::with_capacity(decoded.len() / 8);
    for segment in decoded.split('/') {
        // Servlet containers drop `;params` from a segment before routing on it.
        let segment = match segment.split_once(';') {
            Some((kept, _)) => {
                note(PathProblem::PathParameter);
                kept
            }
            None => segment,
        };
        // Clients resolve dot segments before sending (RFC 3986 §5.2.4), and routers do not: a
        // handler's `/admin/{section}` serves `/admin/..`, which resolves to `/`. So they are
        // refused; the reading resolves them only to have something to show.
        let segment = match segment {
            "" => continue,
            "." => {
                note(PathProblem::DotSegment);
                continue;
            }
            ".." => {
                note(PathProblem::DotSegment);
                segments.pop();
                continue;
            }
            _ => segment,
        };
        let blank_or_dot = |c: char| c.is_whitespace() || c == '.';
        if !(segment.starts_with(char::is_whitespace) || segment.ends_with(blank_or_dot)) {
            segments.push(segment);
            continue;
        }
        let trimmed = segment.trim_start().trim_end_matches(blank_or_dot);
        // Nothing but dots and blanks (`...`, `. `): a router reads it as a segment, a trimming
        // server as none or as a dot segment; no reading is safe.
        note(if trimmed.is_empty() { PathProblem::DotSegment } else { PathProblem::TrimmedSegment });
        if !trimmed.is_empty() {
            segments.push(trimmed);
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    // No reading of a path with a problem no reading makes safe: nothing may be judged by it.
    let path = problem.is_none_or(PathProblem::is_decodable).then_some(Cow::Owned(path));
    Canonical { path, problem }
}

/// How many more times a path encoded more than once is decoded for its lenient reading.
const MAX_DECODINGS: usize = 3;

/// Decodes `input` into `output` once: escapes, with `/` and `\\` (encoded or, on the `first`
/// pass, raw) read as separators. Problems of the raw text are noted on the `first` pass only.
fn decode(input: &[u8], output: &mut Vec<u8>, note: &mut impl FnMut(PathProblem), first: bool) {
    let mut at = 0;
    while at < input.len() {
        let byte = input[at];
        at += 1;
        match byte {
            b'%' => match escape(input, at) {
                Some(value) => {
                    at += 2;
                    output.push(separator(value, note, PathProblem::EncodedSlash));
                }
                None => {
                    if first {
                        note(PathProblem::BadEscape);
                    }
                    output.push(b'%');
                }
            },
            b'\\' if first => {
                note(PathProblem::Backslash);
                output.push(b'/');
            }
            b'?' | b'#' if first => {
                note(PathProblem::QueryInPath);
                output.push(byte);
            }
            _ => output.push(byte),
        }
    }
}

/// The byte `%XY` at `bytes[at..at + 2]` stands for, if those are two hex digits.
fn escape(bytes: &[u8], at: usize) -> Option<u8> {
    let hex = |byte: u8| (byte as char).to_digit(16);
    let high = hex(*bytes.get(at)?)?;
    let low = hex(*bytes.get(at + 1)?)?;
    u8::try_from(high * 16 + low).ok()
}

/// A decoded byte, with `/` and `\` noted (as `problem`) and read as a separator.
fn separator(byte: u8, note: &mut impl FnMut(PathProblem), problem: PathProblem) -> u8 {
    match byte {
        b'/' | b'\\' => {
            note(problem);
            b'/'
        }
        b';' => {
            note(PathProblem::PathParameter);
            byte
        }
        _ => byte,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(raw: &str) -> Result<String, PathProblem> {
        let canonical = canonicalize(raw);
        match canonical.problem {
            Some(problem) => Err(problem),
            None => Ok(canonical.path.expect("a path without a problem").into_owned()),
        }
    }

    fn lenient(raw: &str) -> Option<String> {
        canonicalize(raw).path.map(Cow::into_owned)
    }

    #[test]
    fn spellings_of_one_path_are_one_path() {
        for raw in ["/admin/x", "//admin/x", "/admin//x/", "/%61dmin/x", "/%61%64%6D%69%6e/x", "admin/x", "/admin/x//"]
        {
            assert_eq!(strict(raw), Ok("/admin/x".to_owned()), "{raw}");
        }
        assert_eq!(strict("/"), Ok("/".to_owned()));
        assert_eq!(strict(""), Ok("/".to_owned()));
        assert_eq!(strict("/caf%C3%A9/x%20y"), Ok("/café/x y".to_owned()), "escapes that are not unsafe decode");
        assert_eq!(strict("/orders/%31"), Ok("/orders/1".to_owned()));
        assert_eq!(strict("/v1.2/file.txt"), Ok("/v1.2/file.txt".to_owned()), "inner dots are fine");
        assert_eq!(strict("/100%25"), Ok("/100%".to_owned()), "an escaped `%` that starts no escape");
        assert_eq!(strict("/a/.b/..c"), Ok("/a/.b/..c".to_owned()), "segments that only start with dots");
    }

    #[test]
    fn ambiguous_paths_are_refused_and_read_as_lenient_servers_do() {
        for (raw, problem, reading) in [
            ("/admin%2Fusers", PathProblem::EncodedSlash, "/admin/users"),
            ("/admin%2fusers", PathProblem::EncodedSlash, "/admin/users"),
            ("/admin%5Cusers", PathProblem::EncodedSlash, "/admin/users"),
            ("/admin\\users", PathProblem::Backslash, "/admin/users"),
            ("/admin;x/users", PathProblem::PathParameter, "/admin/users"),
            ("/admin%3Bx/users", PathProblem::PathParameter, "/admin/users"),
            ("/admin%20/users", PathProblem::TrimmedSegment, "/admin/users"),
            ("/%20admin/users", PathProblem::TrimmedSegment, "/admin/users"),
            ("/admin./users", PathProblem::TrimmedSegment, "/admin/users"),
            ("/admin%2e/users", PathProblem::TrimmedSegment, "/admin/users"),
            ("/admin%252Fusers", PathProblem::DoubleEncoding, "/admin/users"),
            ("/%2561dmin/users", PathProblem::DoubleEncoding, "/admin/users"),
            ("/%25%36%31dmin/users", PathProblem::DoubleEncoding, "/admin/users"),
            ("/%256%31dmin/users", PathProblem::DoubleEncoding, "/admin/users"),
            ("/admin%25%32%46users", PathProblem::DoubleEncoding, "/admin/users"),
            ("/admin%25252Fusers", PathProblem::DoubleEncoding, "/admin/users"),
            ("/admin%zz", PathProblem::BadEscape, "/admin%zz"),
            ("/a;%2e%2e/b", PathProblem::PathParameter, "/a/b"),
            ("/admin%", PathProblem::BadEscape, "/admin%"),
        ] {
            assert_eq!(strict(raw), Err(problem), "{raw}");
            assert_eq!(lenient(raw).as_deref(), Some(reading), "{raw}");
            assert!(problem.is_decodable(), "{raw}");
        }
    }

    #[test]
    fn dot_segments_and_queries_are_refused_whatever_the_setting() {
        for (raw, problem) in [
            ("/admin/..", PathProblem::DotSegment),
            ("/admin/%2e%2e", PathProblem::DotSegment),
            ("/admin/%2E%2E/public/x", PathProblem::DotSegment),
            ("/public/../admin/x", PathProblem::DotSegment),
            ("/public/%2e%2e/admin/x", PathProblem::DotSegment),
            ("/./admin", PathProblem::DotSegment),
            ("/admin/%2e/x", PathProblem::DotSegment),
            ("/../admin", PathProblem::DotSegment),
            ("/admin/%252e%252e", PathProblem::DotSegment),
            ("/admin%2F%2e%2e", PathProblem::DotSegment),
            ("/admin/...", PathProblem::DotSegment),
            ("/admin/.%20", PathProblem::DotSegment),
            ("/admin/%20", PathProblem::DotSegment),
            ("/public/..%2Fadmin%2Fusers", PathProblem::DotSegment),
            ("/admin?x=/public", PathProblem::QueryInPath),
            ("/admin#/public", PathProblem::QueryInPath),
        ] {
            assert_eq!(strict(raw), Err(problem), "{raw}");
            assert!(UnsafePaths::Decode.refuses(problem), "{raw}");
        }
        assert_eq!(lenient("/admin/%252e%252e"), None, "decoded twice, still no reading");
        assert_eq!(lenient("/a/../b"), None);
        assert!(UnsafePaths::Decode.refuses(PathProblem::DotSegment));
    }

    #[test]
    fn the_setting() {
        assert_eq!(UnsafePaths::parse(None), Ok(UnsafePaths::Refuse));
        assert_eq!(UnsafePaths::parse(Some("Decode")), Ok(UnsafePaths::Decode));
        let error = UnsafePaths::parse(Some("allow")).expect_err("not a value");
        assert_eq!(error.setting, "INTERCEPT_UNSAFE_PATHS");
        assert!(UnsafePaths::Decode.refuses(PathProblem::Unreadable));
        assert!(!UnsafePaths::Decode.refuses(PathProblem::EncodedSlash));
        assert!(UnsafePaths::Refuse.refuses(PathProblem::TrimmedSegment));
        assert!(UnsafePaths::Decode.refuses(PathProblem::QueryInPath));
    }

    #[test]
    fn unreadable_paths_have_no_reading() {
        for raw in ["/admin%00/x", "/admin\u{0}/x", "/admin%C0%AF/x", "/admin%FF", "/a%0a", "/a\u{7f}", "/%E0%80%AF"] {
            let canonical = canonicalize(raw);
            assert_eq!(canonical.problem, Some(PathProblem::Unreadable), "{raw:?}");
            assert_eq!(canonical.path, None, "{raw:?}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_full_reading() {
        for raw in [
            "/", "/a", "/a/b.c", "/a/b.", "/a/", "//", "/a/./b", "/a/../b", "/a.b/c", "/é/ü", "/.a", "/a..", "/a b",
            "/a\u{85}", "a", "/~x/-y_",
        ] {
            if is_canonical(raw) {
                assert_eq!(read(raw), Canonical { path: Some(Cow::Borrowed(raw)), problem: None }, "{raw}");
            }
        }
        assert!(is_canonical("/orders/42"));
        assert!(!is_canonical("/orders/42/"));
        assert!(!is_canonical("/a/../b"));
    }
}
