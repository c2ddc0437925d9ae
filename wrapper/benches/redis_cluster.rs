//! Redis Cluster decisions against a `PING` to the same node, next to the same ratio on a
//! single node, in one run: what talking to a cluster costs a decision beyond a round trip.
//!
//! `cargo bench -p intercept --bench redis_cluster` (needs `redis-server` and `redis-cli` on
//! the PATH). It starts one `redis-server` and a cluster of three masters on loopback; one
//! caller; the series are interleaved call by call, so a build running beside it weighs on
//! all of them alike.

#[path = "../tests/support/cluster.rs"]
mod cluster;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster::{ClusterOptions, RedisCluster};
use intercept::{Config, Interceptor, Invocation};
use redis::aio::MultiplexedConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use serde_json::value::RawValue;

const ROUNDS: usize = 6;
const CALLS_PER_ROUND: usize = 2_000;
const SOURCE_IP: &str = "10.0.0.1";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run() {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let _single = Server(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (apt-get install -y redis-server)"),
    );
    let single_url = format!("redis://127.0.0.1:{port}");
    let single_ping = ping_connection(&single_url).await;
    let single = interceptor(&single_url).await;

    let cluster = RedisCluster::start(ClusterOptions::default());
    let slot = cluster.keyslot(&format!("intercept:source-ip:ip:{SOURCE_IP}"));
    let shard = cluster.shards().into_iter().find(|shard| shard.owns(slot)).expect("a master serves the slot");
    let node_url = format!("redis://127.0.0.1:{}", shard.master);
    let node_ping = ping_connection(&node_url).await;
    let routed = redis::cluster::ClusterClient::new([cluster.url()])
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("cluster connection");
    let to_node =
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: "127.0.0.1".to_owned(), port: shard.master });
    let clustered = interceptor(&cluster.url()).await;
    let event = Invocation::from_raw(
        &RawValue::from_string(format!(
            r#"{{"version":"2.0","rawPath":"/","requestContext":{{"http":{{"method":"GET","path":"/","sourceIp":"{SOURCE_IP}"}}}}}}"#
        ))
        .expect("json"),
    );

    // The decision's script run straight on each node, on a key of the same slot: what the
    // server's side costs, apart from the client's.
    let script = redis::Script::new(include_str!("../src/ratelimit/gcra.lua"));
    let script_key = format!("{{intercept:source-ip:ip:{SOURCE_IP}}}:raw");
    let run_script = |connection: &MultiplexedConnection| {
        let (mut connection, mut invocation) = (connection.clone(), script.key(&script_key));
        invocation.arg(1_800_000_000_000_000_u64).arg(1_u64).arg(1_000_000_u64).arg(1_000_000_u64);
        async move {
            let _: redis::Value = invocation.invoke_async(&mut connection).await.expect("script");
        }
    };
    // Interleaved call by call: a build running beside the bench slows every series alike.
    let mut latencies: [Vec<Duration>; 7] = Default::default();
    for round in 0..ROUNDS {
        for _ in 0..CALLS_PER_ROUND {
            let mut timed = |series: usize, elapsed: Duration| {
                // The first round warms connections, caches and the branch predictor up.
                if round > 0 {
                    latencies[series].push(elapsed);
                }
            };
            timed(0, time(ping(&mut single_ping.clone())).await);
            timed(1, time(async { single.admit(&event).await.map(drop).expect("allowed") }).await);
            timed(2, time(ping(&mut node_ping.clone())).await);
            timed(
                3,
                time(async {
                    let mut routed = routed.clone();
                    routed.route_command(redis::cmd("PING"), to_node.clone()).await.expect("PING");
                })
                .await,
            );
            timed(4, time(async { clustered.admit(&event).await.map(drop).expect("allowed") }).await);
            timed(5, time(run_script(&single_ping)).await);
            timed(6, time(run_script(&node_ping)).await);
        }
    }
    let [single_ping, single_decision, node_ping, routed_ping, cluster_decision, single_script, node_script] =
        latencies.map(p50);
    let single_ratio = single_decision / single_ping;
    let cluster_ratio = cluster_decision / node_ping;
    println!(
        "## Redis Cluster vs single node (one caller, p50 of {} calls per series, interleaved)",
        (ROUNDS - 1) * CALLS_PER_ROUND
    );
    println!("| store | what | p50 µs | vs PING to the node |");
    println!("| --- | --- | ---: | ---: |");
    println!("| single node | PING (baseline) | {single_ping:.1} | 1.00× |");
    println!(
        "| single node | the script alone, straight on the node | {single_script:.1} | {:.2}× |",
        single_script / single_ping
    );
    println!("| single node | decision | {single_decision:.1} | {single_ratio:.2}× |");
    println!("| cluster (3 masters) | PING to the key's master (baseline) | {node_ping:.1} | 1.00× |");
    println!(
        "| cluster (3 masters) | PING through the cluster client to that master | {routed_ping:.1} | {:.2}× |",
        routed_ping / node_ping
    );
    println!(
        "| cluster (3 masters) | the script alone, straight on the node | {node_script:.1} | {:.2}× |",
        node_script / node_ping
    );
    println!("| cluster (3 masters) | decision | {cluster_decision:.1} | {cluster_ratio:.2}× |");
    println!();
    println!("cluster ratio / single-node ratio: {:.2}× (target ≤ 1.2×)", cluster_ratio / single_ratio);
}

async fn interceptor(url: &str) -> Interceptor {
    let settings: HashMap<&str, &str> = [
        ("INTERCEPT_DISABLE", "telemetry"),
        ("INTERCEPT_RATE_LIMIT", "1000000/s key=source-ip"),
        ("INTERCEPT_RATE_LIMIT_STORE", url),
        ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
        ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "1000"),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| settings.get(k).map(|v| (*v).to_owned())).expect("valid");
    Interceptor::connect(&config).await.expect("connects")
}

async fn ping_connection(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).expect("url");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get_multiplexed_async_connection().await {
            Ok(connection) => return connection,
            Err(error) => assert!(Instant::now() < deadline, "{url}: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ping(connection: &mut MultiplexedConnection) {
    redis::cmd("PING").query_async::<()>(connection).await.expect("PING");
}

async fn time(call: impl std::future::Future<Output = ()>) -> Duration {
    let started = Instant::now();
    call.await;
    started.elapsed()
}

/// The median, in µs.
fn p50(mut latencies: Vec<Duration>) -> f64 {
    latencies.sort();
    latencies[latencies.len() / 2].as_secs_f64() * 1e6
}
