//! Authentication cost: jsonwebtoken's own `decode` of a token alone (the baseline, into a
//! struct of the registered claims), against Intercept's whole path (normalize the event,
//! find the token, read the header, choose the key, verify, check the claims, route scopes)
//! with the verified-token cache off, and with a cache hit. HS256, RS256 and ES256.
//!
//! A cache hit is measured twice: (a) the whole path, normalizing the event included, and
//! (b) the filters alone (`admit_at`: route, authentication on a cache hit, scope rule) given
//! an already-normalized `Invocation`, since normalizing is done once per invocation and
//! shared by every filter and telemetry.
//!
//! Intercept checks signatures with ring; so that both sides run the same primitives, the bench
//! installs [`intercept::auth::RING_PROVIDER`] as jsonwebtoken's process default before the bare
//! decode. The last column is jsonwebtoken's RustCrypto backend checking the same signature
//! (what the bare decode cost before), for scale.
//!
//! `cargo bench -p intercept --bench auth [-- HS256]` (an argument keeps only that algorithm)

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use intercept::{Config, Interceptor, Invocation};
use jsonwebtoken::crypto::rust_crypto;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::value::RawValue;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    scope: String,
}

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/vectors/{name}.pem", env!("CARGO_MANIFEST_DIR"))).expect("vector")
}

/// Nothing on these paths waits (keys are local), so one poll finishes the future.
fn now_or_never<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked path waited"),
    }
}

/// This thread's time on a CPU (`/proc/thread-self/schedstat`), so that other processes on a
/// shared machine do not count; wall-clock time where that file is missing.
fn cpu_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or_else(|| START.get_or_init(Instant::now).elapsed(), Duration::from_nanos)
}

/// Nanoseconds per call of each of `calls`, in CPU time. They take turns: 9 rounds, each one
/// run of `iterations` calls of every one (starting with a different one each round), so a slower minute of a shared machine (other
/// builds, a busy neighbour on the host) slows all of them alike. Returns the median round of
/// each, and the median over rounds of each one's time over the first one's.
fn measure<const N: usize>(iterations: u32, mut calls: [&mut dyn FnMut(); N]) -> ([f64; N], [f64; N]) {
    for call in &mut calls {
        for _ in 0..iterations / 10 {
            call();
        }
    }
    let rounds: Vec<[f64; N]> = (0..9)
        .map(|round| {
            let mut times = [0.0; N];
            // Each round starts with another one, so none always runs first.
            for i in (0..N).map(|i| (i + round) % N) {
                let start = cpu_time();
                for _ in 0..iterations {
                    calls[i]();
                }
                times[i] = (cpu_time() - start).as_nanos() as f64 / f64::from(iterations);
            }
            times
        })
        .collect();
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let times = std::array::from_fn(|i| median(rounds.iter().map(|round| round[i]).collect()));
    let ratios = std::array::from_fn(|i| median(rounds.iter().map(|round| round[i] / round[0]).collect()));
    (times, ratios)
}

fn main() {
    intercept::auth::RING_PROVIDER.install_default().expect("the first jsonwebtoken call");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let claims = serde_json::json!({
        "sub": "bench-user", "iss": "https://issuer.test", "aud": "intercept",
        "exp": now.as_secs() + 3600, "iat": now.as_secs() - 5, "scope": "orders:read orders:write",
    });
    let secret = "a-benchmark-secret-of-decent-length!!";
    let cases = [
        (Algorithm::HS256, EncodingKey::from_secret(secret.as_bytes()), secret.to_owned(), 200_000),
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(vector("rsa_private").as_bytes()).expect("rsa"),
            vector("rsa_public"),
            20_000,
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(vector("ec256_private").as_bytes()).expect("ec"),
            vector("ec256_public"),
            10_000,
        ),
    ];
    let only: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    println!(
        "| alg | jsonwebtoken decode ns | intercept full path ns | ratio | cache hit, whole path ns (a) \
         | cache hit, filters alone ns (b) | normalize alone ns | RustCrypto signature alone ns |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (alg, encoding, public, iterations) in cases {
        if !only.is_empty() && !only.iter().any(|name| name.eq_ignore_ascii_case(&format!("{alg:?}"))) {
            continue;
        }
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &encoding).expect("sign");
        let decoding = match alg {
            Algorithm::HS256 => DecodingKey::from_secret(public.as_bytes()),
            Algorithm::RS256 => DecodingKey::from_rsa_pem(public.as_bytes()).expect("rsa"),
            _ => DecodingKey::from_ec_pem(public.as_bytes()).expect("ec"),
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&["https://issuer.test"]);
        validation.set_audience(&["intercept"]);
        let mut bare = || {
            let data = jsonwebtoken::decode::<Claims>(black_box(&token), &decoding, &validation).expect("valid");
            black_box(data);
        };
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /orders", "rawPath": "/orders",
            "headers": {"authorization": format!("Bearer {token}"), "content-type": "application/json",
                        "user-agent": "bench", "x-forwarded-for": "10.0.0.1"},
            "requestContext": {"http": {"method": "GET", "path": "/orders", "sourceIp": "10.0.0.1"}},
            "body": "", "isBase64Encoded": false
        })
        .to_string();
        let raw = RawValue::from_string(event).expect("json");
        let algorithm = format!("{alg:?}");
        let interceptor = |cache: &str| {
            let settings: HashMap<&str, &str> = HashMap::from([
                ("INTERCEPT_AUTH", "jwt"),
                ("INTERCEPT_JWT_SECRET", public.as_str()),
                ("INTERCEPT_JWT_ALGORITHMS", algorithm.as_str()),
                ("INTERCEPT_JWT_ISSUER", "https://issuer.test"),
                ("INTERCEPT_JWT_AUDIENCE", "intercept"),
                ("INTERCEPT_JWT_REQUIRED_SCOPES", "GET /orders=orders:read"),
                ("INTERCEPT_JWT_CACHE_SIZE", cache),
                ("INTERCEPT_DISABLE", "telemetry"),
            ]);
            let config = Config::from_lookup(|name| settings.get(name).map(|v| (*v).to_owned())).expect("config");
            Interceptor::new(&config).expect("interceptor")
        };
        let full = |interceptor: &Interceptor| {
            let invocation = Invocation::from_raw(black_box(&raw));
            let admitted = now_or_never(interceptor.admit_at(&invocation, now + Duration::from_secs(1)));
            black_box(admitted.expect("admitted"));
        };
        let uncached = interceptor("0");
        let ([bare_ns, full_ns], [_, ratio]) = measure(iterations, [&mut bare, &mut || full(&uncached)]);
        let cached = interceptor("1000");
        full(&cached);
        let normalized = Invocation::from_raw(&raw);
        let ([hit_ns, filters_ns, normalize_ns], _) = measure(
            200_000,
            [
                &mut || full(&cached),
                &mut || {
                    let admitted = now_or_never(cached.admit_at(black_box(&normalized), now + Duration::from_secs(1)));
                    black_box(admitted.expect("admitted"));
                },
                &mut || {
                    black_box(Invocation::from_raw(black_box(&raw)));
                },
            ],
        );
        let (message, signature) = token.rsplit_once('.').expect("three segments");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let rust_crypto = (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, &decoding).expect("verifier");
        let ([rust_crypto_ns], _) = measure(
            (iterations / 10).max(1_000),
            [&mut || {
                rust_crypto.verify(black_box(message.as_bytes()), &signature).expect("valid");
            }],
        );
        println!(
            "| {alg:?} | {bare_ns:.0} | {full_ns:.0} | {ratio:.2} | {hit_ns:.0} | {filters_ns:.0} | {normalize_ns:.0} \
             | {rust_crypto_ns:.0} |"
        );
    }
    if only.is_empty() || only.iter().any(|name| name.eq_ignore_ascii_case("paths")) {
        canonical_paths();
    }
}

/// What reading the canonical path adds to normalizing an event: the same HTTP API event with
/// paths that take the fast path (already canonical) and the full reading, against the plain one.
fn canonical_paths() {
    let event = |path: &str| {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path,
            "headers": {"authorization": "Bearer x.y.z", "content-type": "application/json",
                        "user-agent": "bench", "x-forwarded-for": "10.0.0.1"},
            "requestContext": {"stage": "$default", "http": {"method": "GET", "path": path, "sourceIp": "10.0.0.1"}},
            "body": "", "isBase64Encoded": false
        });
        RawValue::from_string(event.to_string()).expect("json")
    };
    let long = "/a".repeat(15_000);
    let long_slashed = format!("{long}/");
    let cases = [
        ("`/orders` (baseline)", event("/orders")),
        ("`/orders/42/items/7` (canonical: fast path)", event("/orders/42/items/7")),
        ("`//%6Frders//42/` (normalized)", event("//%6Frders//42/")),
        ("`/admin%2Fusers` (refused: encoded slash)", event("/admin%2Fusers")),
        ("30 KB path of 15,000 segments (canonical)", event(&long)),
        ("the same with a trailing slash (full reading)", event(&long_slashed)),
    ];
    let mut runs: Vec<Box<dyn FnMut()>> = cases
        .iter()
        .map(|(_, raw)| {
            let run: Box<dyn FnMut()> = Box::new(move || {
                black_box(Invocation::from_raw(black_box(raw)));
            });
            run
        })
        .collect();
    let [a, b, c, d, e, f] = &mut runs[..] else { unreachable!("six cases") };
    // Enough calls per round that each round runs for tens of milliseconds of CPU time.
    let (short, ratios) = measure(100_000, [&mut **a, &mut **b, &mut **c, &mut **d]);
    let (long, _) = measure(300, [&mut **e, &mut **f]);
    println!();
    println!("| event path | normalize ns | ratio to the baseline |");
    println!("| --- | ---: | ---: |");
    for (((name, _), ns), ratio) in cases.iter().zip(short).zip(ratios) {
        println!("| {name} | {ns:.0} | {ratio:.2} |");
    }
    for ((name, _), ns) in cases[4..].iter().zip(long) {
        println!("| {name} | {ns:.0} | {:.0} (separate rounds) |", ns / short[0]);
    }
}
