use serde_json::{Value, json};

use super::*;
use crate::auth::inject_authorizer;

fn alice() -> Principal {
    let mut principal = Principal::named("alice");
    principal.scopes = vec!["orders:read".into()];
    principal.claims = json!({"sub":"alice","exp":1700000000}).as_object().cloned().expect("map");
    principal
}

fn spliced(event: &str) -> String {
    let out = splice_authorizer(event.as_bytes(), &alice()).expect("splices").expect("written");
    String::from_utf8(out).expect("utf-8")
}

/// The authorizer document as the handler's parser reads it.
fn authorizer_of(event: &str) -> Value {
    let value: Value = serde_json::from_str(event).expect("still JSON");
    value["requestContext"]["authorizer"].clone()
}

fn expected_authorizer() -> Value {
    json!({"jwt":{"claims":{"sub":"alice","exp":"1700000000"},"scopes":["orders:read"]}})
}

#[test]
fn everything_but_the_authorizer_keeps_its_bytes() {
    let event = concat!(
        "{ \"zeta\" : 18446744073709551617 ,\n\t\"big\": -123456789012345678901234567890,",
        " \"decimal\": 0.1000000000000000055511151231257827, \"exp\": 1E400, \"alpha\": \"caf\\u00e9 \\ud83d\\ude00\",",
        " \"nested\": {\"b\": [1, 2.50, {\"a\": null}], \"a\": true},",
        " \"requestContext\" : { \"http\" : {\"method\":\"GET\"} , \"z\":1 }  , \"last\": [ ] }  "
    );
    let out = spliced(event);
    let authorizer = expected_authorizer().to_string();
    let want = event.replace("\"z\":1 }", &format!("\"z\":1,\"authorizer\":{authorizer} }}"));
    assert_eq!(out, want);
    // `1E400` is beyond serde_json's `Value`; without it, the document reads back.
    assert_eq!(authorizer_of(&out.replace("1E400", "1")), expected_authorizer());
}

#[test]
fn an_authorizer_in_the_event_is_replaced_in_place() {
    let event = r#"{"requestContext":{"authorizer":{"jwt":{"claims":{"sub":"mallory"}}},"stage":"$default"},"n":1.10}"#;
    let out = spliced(event);
    assert_eq!(
        out,
        format!(r#"{{"requestContext":{{"authorizer":{},"stage":"$default"}},"n":1.10}}"#, expected_authorizer())
    );
}

#[test]
fn duplicate_or_escaped_authorizers_all_go_and_the_injected_one_is_the_only_one() {
    for event in [
        r#"{"requestContext":{"authorizer":{"principalId":"x"},"a" : 1,"authorizer":{"principalId":"mallory"}}}"#,
        r#"{"requestContext":{"authorizer":1,"a" : 1,"\u0061uthorizer":{"principalId":"mallory"}}}"#,
    ] {
        let out = spliced(event);
        assert_eq!(
            out,
            format!(r#"{{"requestContext":{{"a" : 1,"authorizer":{}}}}}"#, expected_authorizer()),
            "{event}"
        );
        assert_eq!(authorizer_of(&out), expected_authorizer());
    }
    // One, however its key is escaped, is replaced where it is.
    let out = spliced(r#"{"requestContext":{"a" : 1,"auth\u006frizer":{"principalId":"mallory"}}}"#);
    assert_eq!(out, format!(r#"{{"requestContext":{{"a" : 1,"auth\u006frizer":{}}}}}"#, expected_authorizer()));
    assert_eq!(authorizer_of(&out), expected_authorizer());
}

#[test]
fn a_duplicate_request_context_is_refused() {
    for event in [
        r#"{"requestContext":{},"requestContext":{"authorizer":{"principalId":"mallory"}}}"#,
        r#"{"requestContext":{},"request\u0043ontext":{"authorizer":{"principalId":"mallory"}}}"#,
        r#"{"requestContext":null,"requestContext":{}}"#,
    ] {
        assert_eq!(
            splice_authorizer(event.as_bytes(), &alice()),
            Err(SpliceError::DuplicateMember("requestContext")),
            "{event}"
        );
    }
    // Duplicates elsewhere are the handler's business, and pass as they came.
    let out = spliced(r#"{"a":1,"a":2,"requestContext":{"x":{"y":1,"y":2}}}"#);
    assert!(out.starts_with(r#"{"a":1,"a":2,"requestContext":{"x":{"y":1,"y":2},"authorizer":"#), "{out}");
}

#[test]
fn a_missing_request_context_is_added_last() {
    assert_eq!(
        spliced(r#"{"b":1, "a":2 }"#),
        format!(r#"{{"b":1, "a":2,"requestContext":{{"authorizer":{}}} }}"#, expected_authorizer())
    );
    assert_eq!(spliced(" { } "), format!(r#" {{"requestContext":{{"authorizer":{}}} }} "#, expected_authorizer()));
    assert_eq!(
        spliced(r#"{"requestContext":{}}"#),
        format!(r#"{{"requestContext":{{"authorizer":{}}}}}"#, expected_authorizer())
    );
}

#[test]
fn what_inject_authorizer_leaves_alone_is_left_alone() {
    for event in [
        r#"{"requestContext":null}"#,
        r#"{"requestContext":"x"}"#,
        r#"{"requestContext":[1]}"#,
        r#"[{"requestContext":{}}]"#,
        r#""text""#,
        "not json",
        r#"{"unterminated":"#,
        r#"{"a":1} trailing"#,
    ] {
        assert_eq!(splice_authorizer(event.as_bytes(), &alice()), Ok(None), "{event}");
        let mut value: Value = serde_json::from_str(event).unwrap_or(Value::Null);
        let before = value.clone();
        inject_authorizer(&mut value, &alice());
        assert_eq!(value, before, "{event}");
    }
}

#[test]
fn the_document_is_the_one_inject_authorizer_writes() {
    let mut api_key = Principal::named("partner");
    api_key.issuer = Some("x".into());
    for principal in [alice(), api_key] {
        let event = r#"{"version":"2.0","requestContext":{"http":{"method":"GET"}}}"#;
        let out = splice_authorizer(event.as_bytes(), &principal).expect("splices").expect("written");
        let mut value: Value = serde_json::from_str(event).expect("json");
        inject_authorizer(&mut value, &principal);
        assert_eq!(serde_json::from_slice::<Value>(&out).expect("json"), value);
    }
}

#[test]
fn traceparent_goes_into_the_headers_object_only() {
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let splice = |event: &str| {
        splice_event(event.as_bytes(), None, Some(tp))
            .expect("no principal, no refusal")
            .map(|out| String::from_utf8(out).expect("utf-8"))
    };
    assert_eq!(
        splice(r#"{"headers":{"b":"1", "a":"2"},"n":1e5}"#).as_deref(),
        Some(format!(r#"{{"headers":{{"b":"1", "a":"2","traceparent":"{tp}"}},"n":1e5}}"#).as_str())
    );
    assert_eq!(
        splice(r#"{"headers":{"traceparent":"00-old", "a":"2"}}"#).as_deref(),
        Some(format!(r#"{{"headers":{{"traceparent":"{tp}", "a":"2"}}}}"#).as_str())
    );
    // Any spelling of the name goes, and the new one is last.
    assert_eq!(
        splice(r#"{"headers":{"TraceParent":"00-old", "a" : "2","traceparent":"x"}}"#).as_deref(),
        Some(format!(r#"{{"headers":{{"a" : "2","traceparent":"{tp}"}}}}"#).as_str())
    );
    // No headers object, or two: nothing is written.
    for event in [r#"{"Records":[]}"#, r#"{"headers":null}"#, r#"{"headers":{},"headers":{}}"#] {
        assert_eq!(splice(event), None, "{event}");
    }
    // Both at once.
    let both = splice_event(br#"{"headers":{},"requestContext":{}}"#, Some(&alice()), Some(tp))
        .expect("splices")
        .expect("written");
    let both: Value = serde_json::from_slice(&both).expect("json");
    assert_eq!(both["headers"]["traceparent"], tp);
    assert_eq!(both["requestContext"]["authorizer"], expected_authorizer());
    assert_eq!(splice_event(b"{}", None, None), Ok(None));
}
