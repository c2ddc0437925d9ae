//! Live policy (issue 23): how long a change at the source takes to decide requests, and what
//! polling costs a warm invocation.
//!
//! 1. Change to decision: an `appconfig://` source served over HTTP on 127.0.0.1 (a stand-in
//!    for the AppConfig Agent, which is a Lambda extension and cannot run here) is polled every
//!    `POLL` second; requests arrive every millisecond. Each round flips the policy at the
//!    source and measures the time until the first request decided under the new digest
//!    (the poll's phase, the read, parse, resolve and build, plus one invocation). Then the same
//!    with a local file and the between-invocations check (`check_policy_file`) a runtime makes
//!    after each response; a file is read once it has been left alone for a second (a file
//!    still being written is not a version), so this one measures that quiet period too.
//! 2. Warm invocations with polling on (every second, a file source) against off, in one run:
//!    `Interceptor::handle` of an HTTP event with JWT authentication and a rate limit, on a
//!    multi-threaded runtime as `#[tokio::main]` gives, alternating blocks of each so drift
//!    falls on both; p50 and p99 of each.
//!
//! `cargo bench -p intercept --bench live_policy`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intercept::{Config, Interceptor, InvocationMeta};
use serde_json::value::RawValue;

const POLL: &str = "1";
const ROUNDS: usize = 10;
const WARM_BLOCKS: usize = 20;
const WARM_PER_BLOCK: usize = 5_000;

fn policy(limit: u32) -> String {
    format!("defaults:\n  auth: none\n  rate_limit:\n    - rate: {limit}/s\n      key: global\n")
}

fn event() -> Box<RawValue> {
    RawValue::from_string(
        r#"{"version":"2.0","routeKey":"GET /orders","rawPath":"/orders","headers":{},
        "requestContext":{"http":{"method":"GET","path":"/orders","sourceIp":"192.0.2.1"}}}"#
            .to_owned(),
    )
    .expect("json")
}

async fn watched(vars: HashMap<String, String>) -> Arc<Interceptor> {
    let lookup = move |name: &str| vars.get(name).cloned();
    intercept::policy::prefetch(&lookup).await.expect("read at init");
    let config = Config::from_lookup(&lookup).expect("valid");
    let interceptor = Arc::new(Interceptor::connect(&config).await.expect("builds"));
    interceptor.watch_policy(lookup).expect("watched");
    interceptor
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    map.insert("INTERCEPT_DISABLE".to_owned(), "telemetry".to_owned());
    map
}

async fn invoke(interceptor: &Interceptor, event: &RawValue) {
    let meta = InvocationMeta { request_id: "bench", ..InvocationMeta::default() };
    let outcome =
        interceptor.handle(event, meta, |_| async { Ok(RawValue::from_string("{}".to_owned()).expect("json")) }).await;
    std::hint::black_box(outcome);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<44} n={:<7} p50={:>10.3?} p99={:>10.3?} max={:>10.3?}",
        samples.len(),
        p50,
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
    p50
}

/// Flips the policy with `change` and sends a request every millisecond until one decides
/// under a new digest (calling `between` after each, as the runtime does after a response).
async fn change_to_decision(
    interceptor: &Interceptor,
    change: impl Fn(u32),
    between: bool,
    name: &str,
) -> Vec<Duration> {
    let event = event();
    let mut samples = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let before = interceptor.policy().digest().to_owned();
        // Somewhere in the poll's period, as a change lands at any moment.
        tokio::time::sleep(Duration::from_millis(137 * round as u64 % 1000)).await;
        change(1_000 + u32::try_from(round).expect("few rounds"));
        let changed = Instant::now();
        loop {
            let deciding = interceptor.policy();
            invoke(interceptor, &event).await;
            if deciding.digest() != before {
                samples.push(changed.elapsed());
                break;
            }
            if between {
                interceptor.check_policy_file().await;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    summary(name, samples.clone());
    samples
}

#[tokio::main]
async fn main() {
    println!("live policy, poll every {POLL} s, {ROUNDS} changes each");

    // 1a. appconfig:// over HTTP (the AppConfig Agent's API, served here).
    let text = Arc::new(Mutex::new(policy(999)));
    let served = text.clone();
    let app = axum::Router::new().route(
        "/applications/{a}/environments/{e}/configurations/{p}",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().expect("policy").clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let appconfig = watched(vars(&[
        ("INTERCEPT_POLICY", "appconfig://bench/local/policy"),
        ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", &port),
        ("INTERCEPT_POLICY_POLL_SECONDS", POLL),
    ]))
    .await;
    change_to_decision(
        &appconfig,
        |n| *text.lock().expect("policy") = policy(n),
        false,
        "appconfig: change -> first decision",
    )
    .await;

    // 1b. A file, re-checked between invocations (and polled).
    let dir = std::env::temp_dir().join(format!("intercept-bench-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("policy.yaml");
    std::fs::write(&file, policy(999)).expect("write");
    let path = file.to_str().expect("utf-8").to_owned();
    let filed = watched(vars(&[("INTERCEPT_POLICY", &path), ("INTERCEPT_POLICY_POLL_SECONDS", POLL)])).await;
    let write = |n: u32| std::fs::write(&file, policy(n)).expect("write");
    change_to_decision(&filed, write, true, "file + between-invocations check").await;

    // 2. Warm invocations, polling on against off.
    std::fs::write(&file, policy(1_000_000_000)).expect("write");
    let on = watched(vars(&[("INTERCEPT_POLICY", &path), ("INTERCEPT_POLICY_POLL_SECONDS", "1")])).await;
    let off = watched(vars(&[("INTERCEPT_POLICY", &path), ("INTERCEPT_POLICY_POLL_SECONDS", "0")])).await;
    let event = event();
    for _ in 0..WARM_PER_BLOCK {
        invoke(&on, &event).await;
        invoke(&off, &event).await;
    }
    let (mut with_polling, mut without) = (Vec::new(), Vec::new());
    for block in 0..WARM_BLOCKS {
        let order: [(&Interceptor, bool); 2] =
            if block % 2 == 0 { [(&on, true), (&off, false)] } else { [(&off, false), (&on, true)] };
        for (interceptor, polling) in order {
            for _ in 0..WARM_PER_BLOCK {
                let started = Instant::now();
                invoke(interceptor, &event).await;
                let took = started.elapsed();
                if polling { with_polling.push(took) } else { without.push(took) }
            }
        }
    }
    let a = summary("warm invocation, polling on (1 s)", with_polling);
    let b = summary("warm invocation, polling off", without);
    println!("p50 on/off: {:+.2}%", (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0);
    let _ = std::fs::remove_dir_all(&dir);
}
