//! Route patterns and the path matcher: `route\nmethod\npath`; both matchers agree and a route
//! parses back from how it is shown.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(3, '\n');
    let (route, method, path) =
        (lines.next().unwrap_or(""), lines.next().unwrap_or("GET"), lines.next().unwrap_or("/"));
    intercept::fuzzing::route_pattern(route, method, path);
});
