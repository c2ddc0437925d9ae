//! The Redis store against a real `redis-server`: shared limits across environments and
//! processes, the store-error policies through an outage, and init errors.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use intercept::{BuildError, Interceptor, Rejection};
use support::{RedisServer, config, event};

async fn environment(url: &str, rule: &str, extra: &[(&str, &str)]) -> Interceptor {
    let mut pairs = vec![("INTERCEPT_RATE_LIMIT", rule), ("INTERCEPT_RATE_LIMIT_STORE", url)];
    pairs.extend_from_slice(extra);
    Interceptor::connect(&config(&pairs).expect("valid settings")).await.expect("connects")
}

fn limited(result: &Result<intercept::Admitted, Rejection>) -> bool {
    matches!(result, Err(Rejection::RateLimited { .. }))
}

#[tokio::test]
async fn script_decides_exactly_like_the_in_memory_gcra() {
    let redis = RedisServer::start();
    let rule = "4/s key=source-ip burst=3";
    let shared = environment(&redis.url(), rule, &[]).await;
    let local = Interceptor::new(&config(&[("INTERCEPT_RATE_LIMIT", rule)]).expect("valid")).expect("builds");
    let start = Duration::from_secs(1_700_000_000);
    // Bursts, waits of part of an interval, long idles, two keys.
    let offsets_ms =
        [0, 0, 0, 0, 0, 100, 249, 250, 251, 400, 500, 750, 1000, 1000, 1000, 1001, 5000, 5000, 5000, 5000, 5010, 5260];
    for (i, offset) in offsets_ms.iter().enumerate() {
        let now = start + Duration::from_millis(*offset);
        let ip = if i % 5 == 4 { "10.0.0.2" } else { "10.0.0.1" };
        let from_redis = shared.admit_at(&event(ip), now).await;
        let from_memory = local.admit_at(&event(ip), now).await;
        assert_eq!(from_redis, from_memory, "request {i} at +{offset} ms from {ip}");
    }
}

#[tokio::test]
async fn two_environments_share_one_limit() {
    let redis = RedisServer::start();
    let rule = "10/m key=global burst=4";
    let first = environment(&redis.url(), rule, &[]).await;
    let second = environment(&redis.url(), rule, &[]).await;
    let now = Duration::from_secs(1_700_000_000);
    let mut allowed = 0;
    for i in 0..10 {
        let environment = if i % 2 == 0 { &first } else { &second };
        if environment.admit_at(&event("10.0.0.1"), now).await.is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 4, "one burst between both environments");
    let refused = first.admit_at(&event("10.0.0.1"), now).await;
    assert!(
        matches!(&refused, Err(Rejection::RateLimited { policy, retry_after, .. })
            if policy == "global" && *retry_after == Duration::from_secs(6)),
        "{refused:?}"
    );
    // One interval later, exactly one more request passes, whichever environment sends it.
    let later = now + Duration::from_secs(6);
    assert!(second.admit_at(&event("10.0.0.9"), later).await.is_ok());
    assert!(limited(&first.admit_at(&event("10.0.0.9"), later).await));
}

/// Settings for [`load_client_process`]: `<redis-url> <rate> <burst> <deadline-unix-ms>`.
const LOAD_CLIENT: &str = "INTERCEPT_TEST_LOAD_CLIENT";

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

#[tokio::test]
async fn concurrent_processes_never_exceed_rate_times_time_plus_burst() {
    let redis = RedisServer::start();
    let (rate, burst, processes) = (200_u64, 20_u64, 6);
    let start_ms = unix_ms();
    // Every process connects first, then hammers the key until the shared deadline.
    let deadline_ms = start_ms + 3_000;
    let settings = format!("{} {rate}/s {burst} {deadline_ms}", redis.url());
    let this_test_binary = std::env::current_exe().expect("test binary path");
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&this_test_binary)
                .args(["--exact", "load_client_process", "--ignored", "--nocapture"])
                .env(LOAD_CLIENT, &settings)
                .stdout(Stdio::piped())
                .spawn()
                .expect("load client starts")
        })
        .collect();
    let (mut allowed, mut denied) = (0, 0);
    for child in children {
        let output = child.wait_with_output().expect("load client runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "load client failed: {stdout}");
        let counts: Vec<u64> = stdout
            .lines()
            .find(|line| line.starts_with("allowed="))
            .unwrap_or_else(|| panic!("no counts in: {stdout}"))
            .split(' ')
            .filter_map(|field| field.split_once('=')?.1.parse().ok())
            .collect();
        let [a, d] = counts.as_slice() else { panic!("unexpected output: {stdout}") };
        allowed += a;
        denied += d;
    }
    // Nothing was allowed before `start_ms` or after the deadline, so at most
    // rate × (deadline - start) + burst can have passed.
    let bound = rate * (deadline_ms - start_ms) / 1000 + burst;
    println!("allowed {allowed}, denied {denied}, bound {bound}");
    assert!(allowed <= bound, "{allowed} allowed, more than {bound}");
    assert!(denied > allowed, "the clients did push past the limit: {denied} denied");
    // And the limiter is not simply shut: it let through at least the rate over the
    // last second of the run, when every process was certainly running.
    assert!(allowed >= burst + rate, "{allowed} allowed");
}

/// One emulated execution environment in its own process, hammering one global key until the
/// deadline; started by the test above (this binary, re-run with `--ignored --exact`).
#[tokio::test(flavor = "current_thread")]
#[ignore = "a child process of concurrent_processes_never_exceed_rate_times_time_plus_burst"]
async fn load_client_process() {
    let settings = std::env::var(LOAD_CLIENT).expect("started by the concurrent-processes test");
    let [url, rate, burst, deadline_ms] = settings.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{LOAD_CLIENT}={settings}")
    };
    let deadline_ms: u64 = deadline_ms.parse().expect("deadline");
    let interceptor = environment(
        url,
        rate,
        &[
            ("INTERCEPT_RATE_LIMIT_BURST", burst),
            ("INTERCEPT_RATE_LIMIT_KEY", "global"),
            ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
            ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let request = event("10.0.0.1");
    let (mut allowed, mut denied) = (0_u64, 0_u64);
    while unix_ms() < deadline_ms {
        match interceptor.admit(&request).await {
            Ok(_) => allowed += 1,
            Err(Rejection::RateLimited { .. }) => denied += 1,
            Err(other) => panic!("unexpected rejection: {other:?}"),
        }
    }
    println!("allowed={allowed} denied={denied}");
}

#[tokio::test]
async fn outage_follows_each_policy_and_recovers() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let rule = "1/m key=global burst=1";
    let allow = environment(&url, rule, &[("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "allow")]).await;
    let deny = environment(&url, rule, &[("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny")]).await;
    let local = environment(&url, rule, &[("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "local")]).await;
    let request = event("10.0.0.1");
    assert!(allow.admit(&request).await.is_ok(), "the one request of the minute");
    for environment in [&allow, &deny, &local] {
        assert!(limited(&environment.admit(&request).await), "Redis holds the shared state");
    }

    redis.kill();
    for _ in 0..3 {
        assert!(allow.admit(&request).await.is_ok(), "fail open");
        let refused = deny.admit(&request).await;
        assert!(
            matches!(&refused, Err(Rejection::RateLimited { retry_after, .. })
                if *retry_after == Duration::from_secs(1)),
            "fail closed: {refused:?}"
        );
    }
    assert!(local.admit(&request).await.is_ok(), "local limiter: a fresh bucket");
    assert!(limited(&local.admit(&request).await), "local limiter: same rule");

    redis.restart();
    // The local limiter would refuse for a minute; an allowed request means Redis (empty
    // after the restart) decided it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while local.admit(&request).await.is_err() {
        assert!(Instant::now() < deadline, "never went back to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for environment in [&allow, &deny, &local] {
        assert!(limited(&environment.admit(&request).await), "back on the shared state");
    }
}

#[tokio::test]
async fn a_hung_store_never_holds_a_request_past_the_timeout() {
    let redis = RedisServer::start();
    let interceptor = environment(
        &redis.url(),
        "100/s key=global",
        &[("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "allow"), ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "50")],
    )
    .await;
    let pid = redis.pid().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill").args([name, pid.as_str()]).status().expect("kill runs");
        assert!(status.success());
    };
    signal("-STOP");
    let started = Instant::now();
    let result = interceptor.admit(&event("10.0.0.1")).await;
    let waited = started.elapsed();
    signal("-CONT");
    assert!(result.is_ok(), "fail open: {result:?}");
    // A generous bound, not a benchmark: without the timeout this would wait for the server.
    assert!(waited < Duration::from_secs(1), "waited {waited:?}");
}

#[tokio::test]
async fn unreachable_store_is_an_init_error_naming_the_setting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let url = format!("redis://app:hunter2@127.0.0.1:{port}");
    let settings = config(&[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_STORE", &url)])
        .expect("the URL itself is valid");
    assert!(!format!("{settings:?}").contains("hunter2"), "Debug redacts the password");
    let error = Interceptor::connect(&settings).await.expect_err("nothing listens there");
    let BuildError::Config(error) = error else { panic!("not a configuration error: {error}") };
    assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT_STORE");
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
