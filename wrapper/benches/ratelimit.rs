//! Rate-limit decisions: the in-memory store against `governor`'s keyed limiter over 1, 1k and
//! 1M keys, and the Redis store (decisions/s, p50/p99) against a `PING` on the same kind of
//! connection, from 1 and 16 concurrent callers over loopback.
//!
//! `cargo bench -p intercept --bench ratelimit` (needs `redis-server` on the PATH).

use std::collections::HashMap;
use std::hint::black_box;
use std::net::TcpListener;
use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use governor::{Quota as GovernorQuota, RateLimiter};
use intercept::ratelimit::{Decision, Gcra, MemoryStore, Quota};
use intercept::{Config, Interceptor, Invocation};
use serde_json::value::RawValue;

fn main() {
    memory_against_governor();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(redis_decisions());
}

fn memory_against_governor() {
    println!("## in-memory decisions vs governor keyed (dashmap), one thread, injected clock");
    println!("| keys | intercept ns/decision | governor ns/decision | ratio |");
    println!("| ---: | ---: | ---: | ---: |");
    let quota = Quota::parse("1000/s").expect("valid");
    for keys in [1_usize, 1_000, 1_000_000] {
        let names: Vec<String> = (0..keys).map(|i| format!("ip:10.{i}")).collect();
        let decisions = 3_000_000.max(keys * 2);
        let gcra = Gcra::new(quota);
        let store = MemoryStore::new(keys + keys / 4 + 64);
        let clock = FakeRelativeClock::default();
        let governor = RateLimiter::dashmap_with_clock(
            GovernorQuota::with_period(quota.emission_interval())
                .expect("non-zero")
                .allow_burst(NonZeroU32::new(quota.burst).expect("non-zero")),
            clock.clone(),
        );
        // Both see every key once before timing, so neither pays for first inserts.
        for name in &names {
            store.check(&gcra, name, Duration::ZERO);
            let _ = governor.check_key(name);
        }
        let step = Duration::from_micros(1);
        let mut best = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let started = Instant::now();
            let mut now = Duration::ZERO;
            for i in 0..decisions {
                now += step;
                black_box(store.check(&gcra, &names[i % keys], now));
            }
            let ours = started.elapsed().as_nanos() as f64 / decisions as f64;
            let started = Instant::now();
            for i in 0..decisions {
                clock.advance(step);
                let _ = black_box(governor.check_key(&names[i % keys]));
            }
            let theirs = started.elapsed().as_nanos() as f64 / decisions as f64;
            best = (best.0.min(ours), best.1.min(theirs));
        }
        println!("| {keys} | {:.1} | {:.1} | {:.2}× |", best.0, best.1, best.0 / best.1);
        black_box(matches!(store.check(&gcra, &names[0], Duration::ZERO), Decision::Allow { .. }));
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn redis_decisions() {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let _server = Server(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install -y redis-server)"),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut connection = loop {
        if let Ok(c) = client.get_multiplexed_async_connection().await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let settings: HashMap<&str, &str> = [
        ("INTERCEPT_DISABLE", "telemetry"),
        ("INTERCEPT_RATE_LIMIT", "1000000/s key=source-ip"),
        ("INTERCEPT_RATE_LIMIT_STORE", url.as_str()),
        ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| settings.get(k).map(|v| (*v).to_owned())).expect("valid");
    let interceptor = Arc::new(Interceptor::connect(&config).await.expect("connects"));
    let event = Arc::new(Invocation::from_raw(
        &RawValue::from_string(
            r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET","path":"/","sourceIp":"10.0.0.1"}}}"#
                .to_owned(),
        )
        .expect("json"),
    ));
    println!();
    println!("## Redis store over loopback (redis-server 7, one multiplexed connection)");
    println!("| callers | what | calls/s | p50 µs | p99 µs | p50 vs PING |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: |");
    for callers in [1_usize, 16] {
        let per_caller = 40_000 / callers;
        let ping = measure(callers, per_caller, {
            let connection = connection.clone();
            move || {
                let mut connection = connection.clone();
                async move {
                    redis::cmd("PING").query_async::<()>(&mut connection).await.expect("PING");
                }
            }
        })
        .await;
        let decide = measure(callers, per_caller, {
            let (interceptor, event) = (interceptor.clone(), event.clone());
            move || {
                let (interceptor, event) = (interceptor.clone(), event.clone());
                async move {
                    interceptor.admit(&event).await.expect("allowed");
                }
            }
        })
        .await;
        for (what, stats) in [("PING (baseline)", &ping), ("decision", &decide)] {
            println!(
                "| {callers} | {what} | {:.0} | {:.0} | {:.0} | {:.2}× |",
                stats.0,
                stats.1,
                stats.2,
                stats.1 / ping.1
            );
        }
    }
    let _: () = redis::cmd("FLUSHALL").query_async(&mut connection).await.expect("flush");
}

/// Runs `callers` tasks of `per_caller` calls each: (calls/s, p50 µs, p99 µs).
async fn measure<F, Fut>(callers: usize, per_caller: usize, call: F) -> (f64, f64, f64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_caller);
                for _ in 0..per_caller {
                    let one = Instant::now();
                    call().await;
                    latencies.push(one.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (latencies.len() as f64 / elapsed, at(0.50), at(0.99))
}
