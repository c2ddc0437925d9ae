//! The Redis store against a real Redis Cluster started by the test (three masters, and three
//! replicas for the failover): exact global limits for keys on every shard from several
//! environments at once, a master killed mid-run (its slots follow the store-error policy,
//! within the timeout; the other shards go on deciding), a replica promoted (decisions
//! resume), AUTH. The limits suite runs against a single node too.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cluster::{ClusterOptions, RedisCluster, Shard};
use futures_util::future::join_all;
use intercept::{BuildError, Interceptor, Rejection};
use support::{RedisServer, config, event};

/// A hang guard, not a speed assertion: a decision that takes this long never came back.
const HANG_GUARD: Duration = Duration::from_secs(10);

async fn environment(url: &str, rule: &str, extra: &[(&str, &str)]) -> Interceptor {
    let mut pairs = vec![("INTERCEPT_RATE_LIMIT", rule), ("INTERCEPT_RATE_LIMIT_STORE", url)];
    pairs.extend_from_slice(extra);
    Interceptor::connect(&config(&pairs).expect("valid settings")).await.expect("connects")
}

/// The Redis key of a `key=source-ip` rule's bucket for `ip`, with the default prefix.
fn store_key(ip: &str) -> String {
    format!("intercept:source-ip:ip:{ip}")
}

/// Source addresses whose buckets live on each shard, `per_shard` of them each.
fn addresses_by_shard(cluster: &RedisCluster, shards: &[Shard], per_shard: usize) -> Vec<Vec<String>> {
    let mut by_shard = vec![Vec::new(); shards.len()];
    for i in 0..10_000_u32 {
        if by_shard.iter().all(|ips: &Vec<String>| ips.len() >= per_shard) {
            break;
        }
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
        let slot = cluster.keyslot(&store_key(&ip));
        let shard = shards.iter().position(|shard| shard.owns(slot)).expect("every slot is served");
        if by_shard[shard].len() < per_shard {
            by_shard[shard].push(ip);
        }
    }
    by_shard
}

/// Three environments (three stores, three connections) send 4 requests each for every
/// address at once, at one instant: exactly the burst passes per address, whichever
/// environment sent it. One interval later, exactly one more.
async fn exact_limits_from_concurrent_environments(url: &str, ips: &[String]) {
    let rule = "5/m key=source-ip burst=5";
    // A generous timeout and fail-closed: a slow call could only lower the counts, and they
    // are asserted exact.
    let extra = [("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"), ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "5000")];
    let environments = [
        environment(url, rule, &extra).await,
        environment(url, rule, &extra).await,
        environment(url, rule, &extra).await,
    ];
    let now = Duration::from_secs(1_800_000_000);
    for (wave, at, expected) in [(1, now, 5), (2, now + Duration::from_secs(12), 1)] {
        let requests = ips.iter().flat_map(|ip| {
            environments.iter().flat_map(move |environment| {
                (0..4).map(move |_| async move { (ip, environment.admit_at(&event(ip), at).await) })
            })
        });
        let results = join_all(requests).await;
        for ip in ips {
            let mine: Vec<_> = results.iter().filter(|(of, _)| *of == ip).map(|(_, result)| result).collect();
            let allowed = mine.iter().filter(|result| result.is_ok()).count();
            assert_eq!(allowed, expected, "wave {wave}: {ip} let through {allowed} of {}", mine.len());
            for refused in mine.iter().filter(|result| result.is_err()) {
                assert!(
                    matches!(refused, Err(Rejection::RateLimited { retry_after, .. }) if *retry_after > Duration::from_secs(1)),
                    "wave {wave}: {ip} refused by the store's state, not by the failure policy: {refused:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_limits_for_keys_on_every_shard() {
    let cluster = RedisCluster::start(ClusterOptions::default());
    let shards = cluster.shards();
    assert_eq!(shards.len(), 3, "{shards:?}");
    let by_shard = addresses_by_shard(&cluster, &shards, 20);
    let ips: Vec<String> = by_shard.concat();
    exact_limits_from_concurrent_environments(&cluster.url(), &ips).await;
    // The buckets really are spread: each master holds exactly its shard's keys.
    for (shard, ips) in shards.iter().zip(&by_shard) {
        assert_eq!(cluster.dbsize(shard.master), ips.len() as u64, "keys on the master {}", shard.master);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_limits_on_a_single_node() {
    let redis = RedisServer::start();
    let ips: Vec<String> = (0..60).map(|i| format!("10.9.0.{i}")).collect();
    exact_limits_from_concurrent_environments(&redis.url(), &ips).await;
}

/// Stops the load when the test ends, even by a failed assertion.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Decides `ip` now, failing the test if no answer comes back at all.
async fn admit(environment: &Interceptor, ip: &str) -> Result<intercept::Admitted, Rejection> {
    tokio::time::timeout(HANG_GUARD, environment.admit(&event(ip)))
        .await
        .unwrap_or_else(|_| panic!("a decision for {ip} hung past {HANG_GUARD:?}"))
}

/// A refusal by the fail-closed policy (1 s), not by the store (the rule's 6 s interval).
fn refused_by_policy(result: &Result<intercept::Admitted, Rejection>) -> bool {
    matches!(result, Err(Rejection::RateLimited { retry_after, .. }) if *retry_after == Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_fails_its_slots_to_the_policy_and_a_promoted_replica_resumes_them() {
    let mut cluster = RedisCluster::start(ClusterOptions {
        replicas: 1,
        node_timeout_ms: 1_000,
        // Only the test promotes the replica, so the outage lasts until it does; and the live
        // shards keep serving while one has no master (with Redis's default, yes, the whole cluster
        // refuses every slot once it marks the master failed).
        extra_args: ["--cluster-replica-no-failover", "yes", "--cluster-require-full-coverage", "no"]
            .map(str::to_owned)
            .to_vec(),
        ..ClusterOptions::default()
    });
    let shards = cluster.shards();
    assert_eq!(shards.len(), 3, "{shards:?}");
    assert!(shards.iter().all(|shard| shard.replicas.len() == 1), "{shards:?}");
    // 10/m, burst 3: a refusal from the store says 6 s; one from the fail-closed policy, 1 s.
    let rule = "10/m key=source-ip burst=3";
    // A timeout a loaded machine never reaches on loopback, so only the dead master's calls fail.
    let timeout_ms = 1_000;
    let extra = [("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"), ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "1000")];
    let environment = Arc::new(environment(&cluster.url(), rule, &extra).await);
    let by_shard = addresses_by_shard(&cluster, &shards, 40);
    let (victim, survivors) = (&by_shard[0], &by_shard[1..]);

    // Load from another environment on every shard through the whole run: four callers, each
    // call guarded.
    let running = Arc::new(AtomicBool::new(true));
    let _stop_on_panic = StopOnDrop(running.clone());
    let (calls, slowest_ms) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // Its own rule name, so its buckets are not the ones the checks below count on.
    let other = Arc::new(self::environment(&cluster.url(), &format!("{rule} name=load"), &extra).await);
    let load: Vec<_> = (0..4)
        .map(|caller| {
            // Round robin over the shards: a dead-shard address, then live ones.
            let ips: Vec<String> =
                (0..40).flat_map(|i| by_shard.iter().map(move |ips| ips[(i + caller * 10) % 40].clone())).collect();
            let (other, running, calls, slowest_ms) =
                (other.clone(), running.clone(), calls.clone(), slowest_ms.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let _ = admit(&other, &ips[i % ips.len()]).await;
                    slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    calls.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    // A backed-off decision completes without waiting; let the runtime breathe.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    // Before: the store decides on every shard (a fresh address passes).
    for ips in &by_shard {
        assert!(admit(&environment, &ips[0]).await.is_ok(), "{} before the outage", ips[0]);
    }

    cluster.kill(shards[0].master);
    let calls_at_kill = calls.load(Ordering::Relaxed);
    // The dead master's slots: refused by the policy, each decision back within the hang guard.
    for ip in &victim[1..6] {
        let started = Instant::now();
        let result = admit(&environment, ip).await;
        assert!(refused_by_policy(&result), "{ip} on the dead master: {result:?} after {:?}", started.elapsed());
    }
    // The live shards: still the store's decisions. A fresh address passes; the policy would
    // refuse it.
    for ips in survivors {
        for ip in &ips[1..6] {
            let result = admit(&environment, ip).await;
            assert!(result.is_ok(), "{ip} on a live shard during the outage: {result:?}");
        }
    }
    // The outage lasts a second more under the load before the failover.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls_in_outage = calls.load(Ordering::Relaxed) - calls_at_kill;
    cluster.promote(shards[0].replicas[0]);
    // Decisions for the dead master's slots resume on the promoted replica: a fresh address
    // passes (the policy would refuse it), then its bucket is exact again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fresh = victim[6..].iter();
    loop {
        let ip = fresh.next().expect("enough addresses");
        let result = admit(&environment, ip).await;
        if result.is_ok() {
            break;
        }
        assert!(refused_by_policy(&result), "{ip}: {result:?}");
        assert!(Instant::now() < deadline, "decisions never resumed after the failover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ip = fresh.next().expect("enough addresses");
    let at = Duration::from_secs(1_800_000_000);
    let request = event(ip);
    let decisions: Vec<_> = join_all((0..5).map(|_| environment.admit_at(&request, at))).await;
    let allowed = decisions.iter().filter(|result| result.is_ok()).count();
    assert_eq!(allowed, 3, "{ip} on the promoted replica: {decisions:?}");
    assert!(
        decisions.iter().filter(|result| result.is_err()).all(|result| !refused_by_policy(result)),
        "refused by the store after the failover: {decisions:?}"
    );

    running.store(false, Ordering::Relaxed);
    for caller in load {
        caller.await.expect("every load caller ran to the end");
    }
    let (calls, slowest_ms) = (calls.load(Ordering::Relaxed), slowest_ms.load(Ordering::Relaxed));
    println!(
        "load: {calls} decisions, {calls_in_outage} of them during the outage, slowest {slowest_ms} ms \
         (timeout {timeout_ms} ms)"
    );
    assert!(calls_in_outage >= 20, "the load ran through the outage: {calls_in_outage} decisions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_in_the_url_and_refusals_named() {
    let password = "cluster-s3cret";
    let cluster =
        RedisCluster::start(ClusterOptions { password: Some(password.to_owned()), ..ClusterOptions::default() });
    let port = cluster.nodes[0].port;
    let rule = "5/m key=source-ip burst=2";
    // ElastiCache Serverless's form: a user and its password (here the default user).
    let url = format!("redis://default:{password}@127.0.0.1:{port}");
    let environment = environment(&url, rule, &[("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny")]).await;
    let shards = cluster.shards();
    let by_shard = addresses_by_shard(&cluster, &shards, 1);
    let at = Duration::from_secs(1_800_000_000);
    for ip in by_shard.concat() {
        let results = [
            environment.admit_at(&event(&ip), at).await,
            environment.admit_at(&event(&ip), at).await,
            environment.admit_at(&event(&ip), at).await,
        ];
        assert!(results[0].is_ok() && results[1].is_ok(), "{ip}: {results:?}");
        assert!(!refused_by_policy(&results[2]) && results[2].is_err(), "{ip}: {results:?}");
    }

    for (url, what) in [
        (format!("redis://default:wrong-{password}@127.0.0.1:{port}"), "a wrong password"),
        (format!("redis://127.0.0.1:{port}"), "no password"),
    ] {
        let settings = config(&[("INTERCEPT_RATE_LIMIT", rule), ("INTERCEPT_RATE_LIMIT_STORE", &url)]).expect("valid");
        let error = Interceptor::connect(&settings).await.expect_err(what);
        let BuildError::Config(error) = error else { panic!("{what}: not a configuration error: {error}") };
        assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT_STORE");
        let message = error.to_string();
        assert!(message.contains("AUTH") && message.contains(&format!("127.0.0.1:{port}")), "{what}: {message}");
        assert!(!message.contains(password), "{what}: the password leaked: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_is_down_is_an_init_error_naming_it() {
    let mut cluster = RedisCluster::start(ClusterOptions { node_timeout_ms: 500, ..ClusterOptions::default() });
    let shards = cluster.shards();
    cluster.kill(shards[2].master);
    let seed = shards[0].master;
    // With full coverage required (the default), the cluster fails once the master is seen dead.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.cli(seed, &["CLUSTER", "INFO"]).contains("cluster_state:fail") {
        assert!(Instant::now() < deadline, "the cluster never saw its master die");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("redis://127.0.0.1:{seed}");
    let settings = config(&[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_STORE", &url)]).expect("valid");
    let error = Interceptor::connect(&settings).await.expect_err("the cluster is down");
    let message = error.to_string();
    assert!(message.contains("cluster is down") && message.contains("cluster_state:fail"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{seed}")), "{message}");
}

/// Settings for [`tls_client_process`]: `<url> <expect: decides|refused> <ip>...`.
const TLS_CLIENT: &str = "INTERCEPT_TEST_TLS_CLIENT";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_auth_as_elasticache_serverless_wants_them() {
    let password = "tls-s3cret";
    let cluster = RedisCluster::start(ClusterOptions {
        password: Some(password.to_owned()),
        tls: true,
        ..ClusterOptions::default()
    });
    let port = cluster.nodes[0].port;
    let url = format!("rediss://default:{password}@127.0.0.1:{port}");
    let ips = addresses_by_shard(&cluster, &cluster.shards(), 2).concat();
    let ca = cluster.ca_file().expect("a TLS cluster").to_owned();
    // The store trusts the system's roots (rustls-native-certs); a child process of this
    // binary trusts the cluster's CA through SSL_CERT_FILE, so this process's environment is
    // left alone. Trusting an unrelated CA instead, the same URL must be refused.
    let unrelated = cluster.ca_file().expect("CA").with_file_name("unrelated.pem");
    let unrelated_key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let unrelated_ca = params.self_signed(&unrelated_key).expect("unrelated CA");
    std::fs::write(&unrelated, pem::encode(&pem::Pem::new("CERTIFICATE", unrelated_ca.der().to_vec())))
        .expect("unrelated CA file");
    for (trusted, expect) in [(&ca, "decides"), (&unrelated, "refused")] {
        let settings = format!("{url} {expect} {}", ips.join(" "));
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "tls_client_process", "--ignored", "--nocapture"])
            .env(TLS_CLIENT, &settings)
            .env("SSL_CERT_FILE", trusted)
            .env_remove("SSL_CERT_DIR")
            .output()
            .expect("the TLS client runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "TLS client expecting `{expect}` failed: {stdout}");
        let line = stdout.lines().find(|line| line.starts_with("tls-client: ")).unwrap_or_default();
        println!("{line}");
        assert!(line.starts_with(&format!("tls-client: {expect}")), "{stdout}");
        assert!(!stdout.contains(password), "the password leaked: {stdout}");
    }
}

/// One environment in its own process with `SSL_CERT_FILE` set; started by the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of tls_and_auth_as_elasticache_serverless_wants_them"]
async fn tls_client_process() {
    let settings = std::env::var(TLS_CLIENT).expect("started by the TLS test");
    let mut words = settings.split(' ');
    let (url, expect) = (words.next().expect("url"), words.next().expect("expectation"));
    let rule = "5/m key=source-ip burst=2";
    let settings = config(&[
        ("INTERCEPT_RATE_LIMIT", rule),
        ("INTERCEPT_RATE_LIMIT_STORE", url),
        ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
        ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "2000"),
    ])
    .expect("valid");
    let environment = match (Interceptor::connect(&settings).await, expect) {
        (Ok(environment), "decides") => environment,
        (Err(error), "refused") => {
            let message = error.to_string();
            assert!(
                message.contains("INTERCEPT_RATE_LIMIT_STORE") && message.contains("rediss://127.0.0.1"),
                "{message}"
            );
            println!("tls-client: refused ({message})");
            return;
        }
        (Ok(_), _) => panic!("connected through a CA that never signed the nodes' certificate"),
        (Err(error), _) => panic!("cannot connect: {error}"),
    };
    let at = Duration::from_secs(1_800_000_000);
    for ip in words {
        let results = [
            environment.admit_at(&event(ip), at).await,
            environment.admit_at(&event(ip), at).await,
            environment.admit_at(&event(ip), at).await,
        ];
        assert!(results[0].is_ok() && results[1].is_ok(), "{ip}: {results:?}");
        assert!(results[2].is_err() && !refused_by_policy(&results[2]), "{ip}: {results:?}");
    }
    println!("tls-client: decides");
}
