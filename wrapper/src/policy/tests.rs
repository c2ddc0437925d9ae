//! The table of invalid policies, and resolution with the environment.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::ratelimit::{LimitKey, OnStoreError, StoreConfig};

const ORDERS: &str = include_str!("../../../tests/fixtures/policy/orders.yaml");

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name: &str| map.get(name).cloned()
}

fn orders() -> Policy {
    Policy::parse("orders.yaml", ORDERS).expect("the example policy is valid")
}

fn resolved(text: &str, pairs: &[(&str, &str)]) -> Result<EffectivePolicy, ConfigError> {
    Policy::parse("p.yaml", text).expect("valid").resolve(env(pairs))
}

/// Each invalid policy, the position of its (first) error and a part of the message.
#[test]
fn invalid_policies_say_where_and_what() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("routes:\n  GET /a:\n    rate_limt: []\n", (3, 5), "unknown key `rate_limt`, did you mean `rate_limit`?"),
        ("defualts: {}\n", (1, 1), "unknown key `defualts`, did you mean `defaults`?"),
        ("defaults:\n  auth:\n    isuser: x\n", (3, 5), "unknown key `isuser`, did you mean `issuer`?"),
        (
            "defaults:\n  logging: on\n",
            (2, 3),
            "unknown key `logging` in defaults; expected one of auth, rate_limit, telemetry",
        ),
        (
            "defaults:\n  rate_limit:\n    rules:\n      - rate: 100/x\n",
            (4, 15),
            "bad rate: `100/x` has an unknown period",
        ),
        (
            "defaults:\n  rate_limit:\n    rules:\n      - rate: 0/s\n",
            (4, 15),
            "needs a whole number of requests above 0",
        ),
        (
            "defaults:\n  rate_limit:\n    rules:\n      - rate: 5/s\n        burst: 0\n",
            (5, 16),
            "`burst` must be a whole number above 0, found 0",
        ),
        ("defaults:\n  rate_limit:\n    rules:\n      - burst: 5\n", (4, 9), "a rate-limit rule needs a `rate`"),
        (
            "defaults:\n  rate_limit:\n    rules:\n      - rate: 5/s\n        key: user\n",
            (5, 14),
            "`user` is not a key",
        ),
        ("defaults:\n  rate_limit:\n    rules: 5/s\n", (3, 12), "`rules` must be a list of rules, found a string"),
        (
            "defaults:\n  auth:\n    leeway_seconds: soon\n",
            (3, 21),
            "`leeway_seconds` must be a whole number, found a string",
        ),
        ("defaults:\n  auth: [jwt]\n", (2, 9), "`auth` must be a mapping, found a list"),
        ("defaults:\n  telemetry:\n    sampling: 1.5\n", (3, 15), "`sampling` must be a ratio from 0 to 1, found 1.5"),
        ("defaults:\n  auth:\n    type: saml\n", (3, 11), "auth type `saml` is not supported"),
        ("defaults:\n  auth:\n    type: jwt\n    keys: vault\n", (4, 11), "unknown key source `vault`"),
        ("defaults:\n  auth:\n    type: jwt\n    keys: {ldap_url: x}\n", (4, 12), "unknown key `ldap_url`"),
        ("defaults:\n  auth:\n    keys:\n      jwks_url: ftp://x\n", (4, 17), "`jwks_url` must be an http(s) URL"),
        (
            "routes:\n  GET /a:\n    auth:\n      type: api-key\n      scopes: [read]\n",
            (5, 7),
            "`scopes` on a route without jwt auth (`type: api-key`)",
        ),
        (
            "defaults:\n  auth: api-key\nroutes:\n  GET /a:\n    auth:\n      scopes: [read]\n",
            (6, 15),
            "`scopes` on a route without jwt auth (the defaults say `type: api-key` at line 2)",
        ),
        (
            "routes:\n  GET /a/{id}: {}\n  GET /a/{name}: {}\n",
            (3, 3),
            "route `GET /a/{name}` can never match: it matches the same requests as route `GET /a/{id}` at line 2",
        ),
        ("routes:\n  GET /a: {}\n  GET /a: {}\n", (3, 3), "this key appears twice"),
        ("routes:\n  get /a: {}\n", (2, 3), "write it in upper case, `GET`"),
        ("routes:\n  GET /files/{proxy+}/x: {}\n", (2, 3), "must be the last segment"),
        ("routes:\n  GET /a/: {}\n", (2, 3), "write `/a`"),
        ("mode: audit\n", (1, 7), "`audit` is not a mode; expected enforce or detect"),
        ("version: 2\n", (1, 10), "`version` must be 1"),
        (
            "defaults:\n  rate_limit:\n    store: memcached://h\n",
            (3, 12),
            "`store` must be `memory` or a redis:// or rediss:// URL",
        ),
        ("defaults:\n  rate_limit:\n    store: redis://u:hunter2@h\n", (3, 12), "holds credentials"),
        ("defaults:\n  rate_limit:\n    on_store_error: retry\n", (3, 21), "`retry` is not a store failure policy"),
        ("defaults:\n  auth:\n    algorithms: [RS256, none]\n", (3, 17), "`none` is not an algorithm"),
        (
            "defaults:\n  rate_limit:\n    rules:\n      - rate: 5/s\n      - rate: 6/s\n",
            (5, 9),
            "two rules here are named `source-ip`",
        ),
        (
            "routes:\n  GET /a:\n    rate_limit: [{rate: 5/s, name: shared}]\n  GET /b:\n    rate_limit: [{rate: 9/s, name: shared}]\n",
            (5, 36),
            "the rule `shared` differs from the rule of the same name at line 3",
        ),
        ("routes: [GET /a]\n", (1, 9), "`routes` must be a mapping of `METHOD /path` to rules, found a list"),
        ("a: [\n", (2, 1), "invalid YAML"),
    ];
    assert!(cases.len() >= 15);
    for (text, (line, column), expected) in cases {
        let errors = Policy::parse("p.yaml", text).expect_err(text).0;
        let first = &errors[0];
        assert!(
            first.message.contains(expected),
            "{text:?}: expected `{expected}`, got:\n{}",
            PolicyErrors(errors.clone())
        );
        assert_eq!((first.line, first.column), (*line, *column), "{text:?}: {first}");
        assert_eq!(first.file, "p.yaml");
        assert!(first.to_string().starts_with(&format!("p.yaml:{line}:{column}: error: ")), "{first}");
        assert!(!first.to_string().contains("hunter2"), "{first}");
    }
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let text = "defualts: {}\nroutes:\n  GET /a:\n    rate_limt: []\n    auth:\n      type: jwt\n      keys: vault\n  \
                POST /b:\n    rate_limit: [{rate: 10/fortnight}, {rate: 5/s, burst: 0}]\n  GET /a/: {}\n  GET /{x}: {}\n  \
                GET /{y}: {}\n";
    let errors = Policy::parse("p.yaml", text).expect_err("invalid").0;
    let found: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        found,
        [(1, 1), (4, 5), (7, 13), (9, 25), (9, 59), (10, 3), (12, 3)],
        "{}",
        PolicyErrors(errors.clone())
    );
}

#[test]
fn the_example_resolves_with_its_environment() {
    let policy = orders();
    assert_eq!(policy.route_count(), 4);
    let effective = policy.resolve(env(&[("INTERCEPT_API_KEYS", "ops=s3cr3t-admin-key")])).expect("resolves");

    let (health, pattern) = effective.route_for("GET", "/health");
    assert_eq!(pattern, Some("GET /health"));
    assert!(!health.auth.is_enabled());
    assert!(health.rate_limit.is_none() && health.rate_limit_detect.is_none());

    let (read, pattern) = effective.route_for("GET", "/orders/42");
    assert_eq!(pattern, Some("GET /orders/{id}"));
    let jwt = read.auth.jwt.as_ref().expect("jwt inherited from the defaults");
    assert_eq!(jwt.issuer.as_deref(), Some("https://auth.example.com/"));
    assert_eq!(jwt.audience, ["orders-api"]);
    assert_eq!(read.auth.required_scopes[0].scopes, ["orders:read"]);
    assert_eq!(read.auth_mode, Mode::Enforce);
    let enforced = read.rate_limit.as_ref().expect("enforced rules");
    assert_eq!(enforced.rules.len(), 1);
    assert_eq!((enforced.rules[0].name.as_str(), enforced.rules[0].key), ("orders-read", LimitKey::Principal));
    let detect = read.rate_limit_detect.as_ref().expect("detect rules");
    assert_eq!(detect.rules[0].name, "orders-hourly");

    let (write, _) = effective.route_for("POST", "/orders");
    assert_eq!(write.auth_mode, Mode::Detect);
    let telemetry = write.telemetry.as_ref().expect("telemetry on");
    assert_eq!(telemetry.sampling, 0.25);
    assert_eq!(telemetry.redact, ["card_number", "password"], "a route adds to the defaults' redactions");
    let default_rules = write.rate_limit.as_ref().expect("the defaults' rule");
    assert_eq!((default_rules.rules[0].name.as_str(), default_rules.rules[0].quota.burst), ("source-ip", 20));

    let (admin, pattern) = effective.route_for("DELETE", "/admin/users/7");
    assert_eq!(pattern, Some("ANY /admin/{proxy+}"));
    assert!(admin.auth.jwt.is_none());
    assert_eq!(admin.auth.api_keys.as_ref().expect("api keys").header, "x-admin-key");
    assert!(effective.route_for("GET", "/admin").1.is_none(), "greedy needs a segment beyond /admin");

    let (fallback, pattern) = effective.route_for("GET", "/unknown");
    assert!(pattern.is_none());
    assert!(Arc::ptr_eq(&fallback.auth, &effective.route_for("PUT", "/x").0.auth));
    assert!(Arc::ptr_eq(&fallback.auth, &effective.defaults().auth));
    assert!(!Arc::ptr_eq(&fallback.auth, &read.auth), "scopes differ");
}

#[test]
fn precedence_does_not_depend_on_file_order() {
    let text = "routes:\n  ANY /{proxy+}: {auth: none}\n  GET /orders/{id}: {telemetry: {sampling: 0.5}}\n  \
                ANY /orders/{id}: {telemetry: {sampling: 0.2}}\n  GET /orders/latest: {telemetry: {sampling: 0.1}}\n";
    let effective = resolved(text, &[]).expect("resolves");
    assert_eq!(effective.route_for("GET", "/orders/latest").1, Some("GET /orders/latest"));
    assert_eq!(effective.route_for("GET", "/orders/latest/").1, Some("GET /orders/latest"), "trailing slash");
    assert_eq!(effective.route_for("GET", "/orders/7").1, Some("GET /orders/{id}"));
    assert_eq!(effective.route_for("PATCH", "/orders/7").1, Some("ANY /orders/{id}"));
    assert_eq!(effective.route_for("GET", "/orders/7/items").1, Some("ANY /{proxy+}"));
    assert_eq!(effective.route_for("GET", "/").1, None);
    let order: Vec<&str> = effective.routes().iter().filter_map(|r| r.route.as_deref()).collect();
    assert_eq!(order, ["GET /orders/latest", "GET /orders/{id}", "ANY /orders/{id}", "ANY /{proxy+}"]);
}

#[test]
fn a_variable_that_disagrees_with_the_file_is_a_conflict_naming_both() {
    let policy = orders();
    let keys = ("INTERCEPT_API_KEYS", "ops=k");
    let error = policy.resolve(env(&[keys, ("INTERCEPT_JWT_ISSUER", "https://other/")])).expect_err("conflict");
    assert_eq!(error.setting, "INTERCEPT_JWT_ISSUER");
    assert!(error.problem.contains("orders.yaml:10:13") && error.problem.contains("https://other/"), "{error}");
    policy
        .resolve(env(&[keys, ("INTERCEPT_JWT_ISSUER", "https://auth.example.com/")]))
        .expect("same value is no conflict");
    policy.resolve(env(&[keys, ("INTERCEPT_JWT_ALGORITHMS", "ES256, RS256")])).expect("same set");

    let error = policy.resolve(env(&[keys, ("INTERCEPT_JWT_SECRET", "s")])).expect_err("two key sources");
    assert_eq!(error.setting, "INTERCEPT_JWT_SECRET");
    let error = policy.resolve(env(&[keys, ("INTERCEPT_RATE_LIMIT", "5/s")])).expect_err("two rule sets");
    assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT");
    policy.resolve(env(&[keys, ("INTERCEPT_RATE_LIMIT", "100/m burst=20")])).expect("the same rules are no conflict");
    policy.resolve(env(&[keys, ("INTERCEPT_RATE_LIMIT_KEY", "principal")])).expect("every file rule sets its key");
    let error = policy.resolve(env(&[keys, ("INTERCEPT_RATE_LIMIT_BURST", "9")])).expect_err("would be guessed");
    assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT_BURST");
    assert!(error.problem.contains("orders.yaml:33:11") && error.problem.contains("sets no `burst`"), "{error}");
    let error = policy.resolve(env(&[keys, ("INTERCEPT_JWT_REQUIRED_SCOPES", "GET /x=a")])).expect_err("scopes");
    assert_eq!(error.setting, "INTERCEPT_JWT_REQUIRED_SCOPES");
    let error =
        policy.resolve(env(&[keys, ("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")]));
    assert_eq!(error.expect_err("sampling").setting, "OTEL_TRACES_SAMPLER_ARG");
    let both = policy
        .resolve(env(&[keys, ("INTERCEPT_AUTH", "api-key"), ("INTERCEPT_RATE_LIMIT_STORE", "redis://h")]))
        .expect_err("two conflicts");
    assert!(
        both.to_string().contains("INTERCEPT_AUTH") && both.to_string().contains("also: INTERCEPT_RATE_LIMIT_STORE"),
        "{both}"
    );
}

#[test]
fn variables_fill_in_what_the_file_leaves_out() {
    let text = "defaults:\n  auth: {type: jwt, issuer: https://i/}\nroutes:\n  GET /a:\n    rate_limit:\n      rules: [{rate: 5/s, key: global, burst: 1}]\n";
    let effective = resolved(
        text,
        &[
            ("INTERCEPT_JWT_SECRET", "hunter2hunter2"),
            ("INTERCEPT_RATE_LIMIT", "100/m"),
            ("INTERCEPT_RATE_LIMIT_STORE", "redis://cache:6379"),
            ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
            ("INTERCEPT_REDACT", "ssn, dob"),
        ],
    )
    .expect("resolves");
    let defaults = effective.defaults();
    assert!(defaults.auth.jwt.is_some());
    assert_eq!(defaults.rate_limit.as_ref().expect("env rules").rules[0].quota.count, 100);
    let (route, _) = effective.route_for("GET", "/a");
    let limits = route.rate_limit.as_ref().expect("route rules");
    assert_eq!((limits.rules[0].name.as_str(), limits.rules[0].key), ("get.a.global", LimitKey::Global));
    let StoreConfig::Redis(redis) = &limits.store else { panic!("the environment's store: {:?}", limits.store) };
    assert_eq!(redis.on_error, OnStoreError::Deny);
    assert_eq!(route.telemetry.as_ref().expect("on").redact, ["dob", "ssn"]);
    let audit = effective.audit();
    assert!(audit.contains("defaults.telemetry.redact=env:INTERCEPT_REDACT"), "{audit}");
    assert!(audit.contains("defaults.auth.keys=env:INTERCEPT_JWT_SECRET"), "{audit}");
    assert!(audit.contains("defaults.auth.issuer=p.yaml:2:29"), "{audit}");
    assert!(audit.contains("defaults.rate_limit.rules=env:INTERCEPT_RATE_LIMIT"), "{audit}");
    assert!(audit.contains("route[GET:/a]=p.yaml:4:3"), "{audit}");
    assert!(!audit.contains("hunter2"), "{audit}");
}

#[test]
fn jwt_without_any_key_source_names_the_file_position() {
    let error = resolved("routes:\n  GET /a:\n    auth: jwt\n", &[]).expect_err("no keys");
    assert_eq!(error.setting, "INTERCEPT_POLICY");
    assert!(error.problem.starts_with("p.yaml:3:11: route `GET /a`: jwt auth needs a key source"), "{error}");
    let error = resolved(
        "routes:\n  GET /a:\n    auth: {scopes: [x]}\n",
        &[("INTERCEPT_AUTH", "api-key"), ("INTERCEPT_API_KEYS", "a=b")],
    )
    .expect_err("scopes without jwt, from the environment's auth");
    assert!(
        error.problem.contains("p.yaml:3:20") && error.problem.contains("without jwt auth (auth is `api-key`)"),
        "{error}"
    );
    let offline =
        Policy::parse("p.yaml", "routes:\n  GET /a:\n    auth: jwt\n").expect("valid").resolve_offline(env(&[]));
    let offline = offline.expect("offline stands in for the secret");
    assert!(offline.route_for("GET", "/a").0.auth.jwt.is_some());
}

#[test]
fn kill_switch_turns_filters_off_and_says_so() {
    let keys = ("INTERCEPT_API_KEYS", "ops=k");
    let on = orders().resolve(env(&[keys])).expect("resolves");
    assert!(on.kill_switch_warning().is_none());
    let off = orders().resolve(env(&[keys, ("INTERCEPT_DISABLE", "auth,ratelimit")])).expect("resolves");
    let (route, _) = off.route_for("GET", "/orders/1");
    assert!(!route.auth.is_enabled() && route.rate_limit.is_none() && route.rate_limit_detect.is_none());
    assert!(route.telemetry.is_some());
    let warning = off.kill_switch_warning().expect("loud");
    assert!(
        warning.contains("INTERCEPT_DISABLE=auth,ratelimit") && warning.contains("OFF for every route"),
        "{warning}"
    );
    assert_ne!(on.digest(), off.digest());
    assert!(off.audit().contains("disabled=auth,ratelimit"), "{}", off.audit());
    let error = orders().resolve(env(&[("INTERCEPT_DISABLE", "cors")])).expect_err("unknown filter");
    assert_eq!(error.setting, "INTERCEPT_DISABLE");
}

#[test]
fn digests_follow_meaning_not_layout() {
    let policy = orders();
    let reformatted =
        ORDERS.replace("# The orders", "# Reviewed: the orders").replace("[orders-api]", "\n      - orders-api");
    assert_eq!(Policy::parse("other.yaml", &reformatted).expect("valid").digest(), policy.digest());
    let changed = Policy::parse("p.yaml", &ORDERS.replace("rate: 50/s", "rate: 51/s")).expect("valid");
    assert_ne!(changed.digest(), policy.digest());
    let keys = env(&[("INTERCEPT_API_KEYS", "ops=k")]);
    let effective = policy.resolve(&keys).expect("resolves");
    assert_ne!(changed.resolve(&keys).expect("resolves").digest(), effective.digest());
    let audit = effective.audit();
    assert!(
        audit.starts_with(&format!(
            "intercept policy: source=orders.yaml policy_digest={} effective_digest={} routes=4",
            policy.digest(),
            effective.digest()
        )),
        "{audit}"
    );
    assert!(effective.digest().starts_with("sha256:") && effective.digest().len() == 7 + 64);
}

#[test]
fn without_a_file_the_environment_is_the_defaults() {
    let pairs =
        [("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s3cr3t"), ("INTERCEPT_RATE_LIMIT", "5/s key=principal")];
    let effective = EffectivePolicy::from_lookup(env(&pairs)).expect("resolves");
    // What the environment's own parsers read is what the policy's defaults hold.
    let get = |name: &str| env(&pairs)(name);
    let parsed_limits = crate::ratelimit::parse_settings(&get).expect("valid");
    let parsed_auth = crate::auth::parse_auth(&get).expect("valid");
    assert!(effective.routes().is_empty());
    let (route, pattern) = effective.route_for("GET", "/anything");
    assert!(pattern.is_none());
    assert_eq!(route.rate_limit, parsed_limits);
    assert_eq!(route.auth.jwt.as_ref().map(|j| j.algorithms.clone()), parsed_auth.jwt.map(|j| j.algorithms));
    assert!(effective.audit().contains("source=env policy_digest=none"), "{}", effective.audit());
    let error =
        EffectivePolicy::from_lookup(env(&[("INTERCEPT_POLICY", "/nonexistent/policy.yaml")])).expect_err("missing");
    assert_eq!(error.setting, "INTERCEPT_POLICY");
    assert!(error.problem.contains("/nonexistent/policy.yaml:1:1: error: cannot read"), "{error}");
}

#[test]
fn explain_says_what_happens() {
    let effective = orders().resolve_offline(env(&[])).expect("resolves");
    let text = effective.explain("GET", "/orders/42");
    for expected in [
        "route: GET /orders/{id} (orders.yaml:28:3)",
        "path parameters: id=42",
        "auth: jwt (mode: enforce)",
        "keys: JWKS https://auth.example.com/.well-known/jwks.json",
        "scopes: orders:read",
        "- orders-read: 50/s burst 50 key principal mode enforce store memory",
        "- orders-hourly: 1000/h burst 1000 key principal mode detect",
        "telemetry: sampling 1; redact: password",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let text = effective.explain("GET", "/nothing/here");
    assert!(text.starts_with("no route matches: defaults apply\n"), "{text}");
    assert!(text.contains("- source-ip: 100/m burst 20 key source-ip mode enforce"), "{text}");
}

#[test]
fn conflicts_never_show_a_secret_of_the_environment() {
    let keys = ("INTERCEPT_API_KEYS", "ops=k");
    let error =
        orders().resolve(env(&[keys, ("INTERCEPT_JWT_SECRET", "hunter2hunter2")])).expect_err("a second key source");
    assert_eq!(error.setting, "INTERCEPT_JWT_SECRET");
    assert!(error.problem.contains("orders.yaml:") && error.problem.contains("<redacted>"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let text = "defaults:\n  rate_limit:\n    rules: [{rate: 5/s}]\n    store: memory\n";
    let error =
        resolved(text, &[("INTERCEPT_RATE_LIMIT_STORE", "redis://app:hunter2@cache:6379")]).expect_err("two stores");
    assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT_STORE");
    assert!(error.problem.contains("p.yaml:4:12") && !error.problem.contains("hunter2"), "{error}");
}

#[test]
fn a_file_value_that_does_not_hold_is_reported_at_its_position() {
    // The file's typed value is built by the same code as the variable's; its error says where.
    let text = "defaults:\n  auth:\n    type: jwt\n    keys: {jwks_url: https://idp/jwks}\n";
    let error = resolved(text, &[]).expect_err("a shared identity provider needs an audience");
    assert_eq!(error.setting, "INTERCEPT_JWT_AUDIENCE");
    let text = "defaults:\n  auth:\n    type: jwt\n    keys: {jwks_url: https://idp/jwks}\n    audience: [a, '*']\n";
    let error = resolved(text, &[]).expect_err("`*` with a name");
    assert_eq!(error.setting, "INTERCEPT_POLICY");
    assert!(
        error.problem.starts_with("p.yaml:5:15: ") && error.problem.ends_with("(INTERCEPT_JWT_AUDIENCE)"),
        "{error}"
    );
}

#[test]
fn max_age_comes_from_the_file_or_the_variable_and_a_difference_is_a_conflict() {
    let text = "defaults:\n  auth:\n    type: jwt\n    max_age_seconds: 600\nroutes:\n  POST /pay:\n    auth:\n      max_age_seconds: 60\n";
    let secret = ("INTERCEPT_JWT_SECRET", "s");
    let effective = resolved(text, &[secret]).expect("resolves");
    let age = |route: &RoutePolicy| route.auth.jwt.as_ref().and_then(|j| j.max_age).map(|m| m.as_secs());
    assert_eq!(age(effective.defaults()), Some(600));
    assert_eq!(age(effective.route_for("POST", "/pay").0), Some(60));
    assert!(effective.audit().contains("defaults.auth.max_age_seconds=p.yaml:4:22"), "{}", effective.audit());
    let error = resolved(text, &[secret, ("INTERCEPT_JWT_MAX_AGE_SECONDS", "300")]).expect_err("conflict");
    assert_eq!(error.setting, "INTERCEPT_JWT_MAX_AGE_SECONDS");
    assert!(error.problem.contains("p.yaml:4:22") && error.problem.contains("`300`"), "{error}");
    // Without the file's value, the variable's applies to every route.
    let env_only = resolved("routes:\n  GET /a:\n    auth: jwt\n", &[secret, ("INTERCEPT_JWT_MAX_AGE_SECONDS", "90")]);
    let env_only = env_only.expect("resolves");
    assert_eq!(age(env_only.route_for("GET", "/a").0), Some(90));
    assert!(env_only.audit().contains("defaults.auth.max_age_seconds=env:INTERCEPT_JWT_MAX_AGE_SECONDS"));
    let errors = Policy::parse("p.yaml", "defaults:\n  auth:\n    max_age_seconds: 0\n").expect_err("zero").0;
    assert!(errors[0].message.contains("`max_age_seconds` must be above 0"), "{}", errors[0]);
    assert_eq!((errors[0].line, errors[0].column), (3, 22));
}

#[test]
fn a_rate_limit_key_or_burst_with_no_rule_anywhere_is_an_error_beside_a_file_too() {
    // No rules in the file and none in the environment: the key or burst is most likely beside a
    // misspelt INTERCEPT_RATE_LIMIT, which would otherwise leave the function unlimited.
    for variable in ["INTERCEPT_RATE_LIMIT_KEY", "INTERCEPT_RATE_LIMIT_BURST"] {
        let value = if variable.ends_with("KEY") { "principal" } else { "5" };
        let error = resolved("routes:\n  GET /orders:\n    auth: none\n", &[(variable, value)]).expect_err(variable);
        assert_eq!(error.setting, variable, "{error}");
        assert!(error.to_string().contains("INTERCEPT_RATE_LIMIT is not"), "{error}");
    }
    // With rules in the variable, the same values qualify them (beside the file's rules they
    // are judged against each rule: a_variable_that_disagrees_with_the_file_is_a_conflict...).
    resolved("version: 1\n", &[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_KEY", "principal")])
        .expect("the variable has rules");
    // Switched off, the rate limiter's variables are not judged.
    resolved("disable: [ratelimit]\n", &[("INTERCEPT_RATE_LIMIT_KEY", "principal")]).expect("switched off");
}
