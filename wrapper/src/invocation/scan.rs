//! The common case read in one pass without serde: the event is a `RawValue`, so it is known
//! to be valid JSON, and only has to be walked. Anything unusual (an escape in a key or in a
//! string that is kept, a field of the wrong type, a field given twice, a top level that is
//! not an object) gives `None`, and the serde reader decides, so both always agree.

use std::borrow::Cow;

use super::Span;
use super::probe::{Probe, ProbeContext, ProbeHttp, ProbeIdentity, Raw, Str};

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
        "pathParameters" => once(&mut seen, 1 << 10, &mut probe.path_parameters, scan.nullable(Scan::raw)?),
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

/// A headers object without escapes, as the event has it, and where its names and values lie.
pub(super) struct HeaderBlock<'a> {
    pub(super) json: &'a str,
    pub(super) spans: Vec<(Span, Span)>,
}

impl<'a> HeaderBlock<'a> {
    pub(super) fn get(&self, span: Span) -> &'a str {
        self.json.get(span.start as usize..span.end as usize).unwrap_or_default()
    }
}
