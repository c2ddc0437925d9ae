//! The event readers on every trigger's shape.

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
        "pathParameters":{"proxy":"api/admin/x"},"requestContext":{"stage":"api","domainName":"api.example.com","http":{"method":"GET","path":"/api/admin/x"}}}"#,
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
    let rest = parse(
        r#"{"resource":"/{proxy+}","path":"/a//b;x","httpMethod":"GET","headers":{},"requestContext":{},
        "pathParameters":{"proxy":"a//b;x"}}"#,
    );
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
        "body":"{\"a\":[1,2,{\"b\":null}]}","isBase64Encoded":false,"stageVariables":null}"#,
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
fn the_api_path_leaves_a_custom_domains_base_path_out() {
    let rest = |path: &str, resource: &str, parameters: &str| {
        parse(&format!(
            r#"{{"resource":"{resource}","path":"{path}","httpMethod":"GET","headers":{{}},
            "pathParameters":{parameters},"requestContext":{{"resourcePath":"{resource}",
            "domainName":"api.example.com","path":"{path}"}}}}"#
        ))
    };
    // REST behind a custom domain's `v1` base path mapping: the event's path keeps it.
    let inv = rest("/v1/admin/x", "/admin/{proxy+}", r#"{"proxy":"x"}"#);
    assert_eq!(inv.canonical_path(), Some("/v1/admin/x"));
    assert_eq!(inv.api_path(), Some("/admin/x"));
    assert_eq!(rest("/v1/api/admin/a/b", "/{proxy+}", r#"{"proxy":"admin/a/b"}"#).api_path(), Some("/admin/a/b"));
    assert_eq!(rest("/v1/orders/7", "/orders/{id}", r#"{"id":"7"}"#).api_path(), Some("/orders/7"));
    assert_eq!(rest("/v1/ORDERS/7/", "/orders/{id}", r#"{"id":"7"}"#).api_path(), Some("/ORDERS/7"));
    assert_eq!(rest("/v1", "/", "null").api_path(), Some("/"));
    // No base path: the canonical path itself.
    let inv = rest("//admin/x/", "/admin/{proxy+}", r#"{"proxy":"x"}"#);
    assert_eq!(inv.api_path(), Some("/admin/x"));
    assert_eq!(rest("/orders", "/orders", "null").api_path(), Some("/orders"));
    // A path that does not line up with its template: none, and refused.
    for (path, resource, parameters) in [
        ("/public/x", "/admin/{proxy+}", r#"{"proxy":"x"}"#),
        ("/admin/x", "/admin/{proxy+}", "null"),
        ("/admin/x", "/admin/{proxy+}", r#"{"other":"x"}"#),
        ("/admin/x", "/admin/{proxy+}", r#"{"proxy":""}"#),
        ("/x", "/a/b/{c}", "null"),
        ("/admin/x", "/admin/{proxy+}", r#"{"proxy":"a/b/c/d"}"#),
        ("/v1/admin/users", "/admin/{proxy+}", r#"{"proxy":"users?q=/x"}"#),
        ("/v1/admin/users", "/admin/{proxy+}", r#"{"proxy":"users#/x"}"#),
    ] {
        let inv = rest(path, resource, parameters);
        assert_eq!(inv.api_path(), None, "{path} {resource} {parameters}");
        assert_eq!(inv.path_problem(), Some(PathProblem::RouteMismatch), "{path} {resource} {parameters}");
        assert!(!PathProblem::RouteMismatch.is_decodable());
    }
    // HTTP API behind a custom domain's `v1` mapping: rawPath keeps the mapping key.
    let inv = parse(
        r#"{"version":"2.0","routeKey":"ANY /admin/{proxy+}","rawPath":"/v1/admin/x/y","headers":{},
        "pathParameters":{"proxy":"x/y"},"requestContext":{"domainName":"api.example.com","stage":"$default",
        "http":{"method":"GET","path":"/v1/admin/x/y"}}}"#,
    );
    assert_eq!(inv.api_path(), Some("/admin/x/y"));
    // Function URLs and ALB name no template.
    let url = parse(
        r#"{"version":"2.0","routeKey":"$default","rawPath":"/admin/x","headers":{},
        "requestContext":{"http":{"method":"GET","path":"/admin/x"},"domainName":"x.lambda-url.us-east-1.on.aws"}}"#,
    );
    assert_eq!((url.canonical_path(), url.api_path()), (Some("/admin/x"), None));
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
