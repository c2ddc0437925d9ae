//! A Redis Cluster of the test's own: `redis-server --cluster-enabled yes` nodes on free
//! loopback ports in a scratch folder, joined by `redis-cli --cluster create`, killed on drop.
//! Included by path (`#[path = "support/cluster.rs"]`) by the tests and the bench that need it.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub masters: usize,
    /// Replicas per master.
    pub replicas: usize,
    /// `cluster-node-timeout`, in milliseconds.
    pub node_timeout_ms: u64,
    /// `requirepass` (and `masterauth`), when the cluster wants AUTH.
    pub password: Option<String>,
    /// Further `redis-server` arguments for every node.
    pub extra_args: Vec<String>,
    /// TLS only (`rediss://`, as ElastiCache Serverless), clients and cluster bus alike, with
    /// a CA of the cluster's own ([`RedisCluster::ca_file`]).
    pub tls: bool,
}

/// PEM files for a TLS cluster: the CA that signed the nodes' certificate, and that
/// certificate (valid for 127.0.0.1) with its key.
#[derive(Debug, Clone)]
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    fn generate(dir: &std::path::Path) -> TlsFiles {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, "intercept Redis Cluster test CA");
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(params, ca_key);
        let node_key = rcgen::KeyPair::generate().expect("node key");
        let node = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("node params")
            .signed_by(&node_key, &issuer)
            .expect("node certificate");
        let files = TlsFiles { ca: dir.join("ca.pem"), cert: dir.join("node.pem"), key: dir.join("node.key") };
        let pem = |label: &str, der: &[u8]| pem::encode(&pem::Pem::new(label, der.to_vec()));
        std::fs::write(&files.ca, pem("CERTIFICATE", ca.der())).expect("CA file");
        std::fs::write(&files.cert, pem("CERTIFICATE", node.der())).expect("certificate file");
        std::fs::write(&files.key, pem("PRIVATE KEY", &node_key.serialize_der())).expect("key file");
        files
    }
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            masters: 3,
            replicas: 0,
            node_timeout_ms: 2_000,
            password: None,
            extra_args: Vec::new(),
            tls: false,
        }
    }
}

/// One node of the cluster.
#[derive(Debug)]
pub struct Node {
    pub port: u16,
    child: Option<Child>,
}

/// A master as `CLUSTER NODES` shows it: its port, slot ranges and replicas' ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub master: u16,
    pub slots: Vec<(u16, u16)>,
    pub replicas: Vec<u16>,
}

impl Shard {
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|(first, last)| (*first..=*last).contains(&slot))
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct RedisCluster {
    pub nodes: Vec<Node>,
    dir: PathBuf,
    options: ClusterOptions,
    tls: Option<TlsFiles>,
}

impl RedisCluster {
    /// Starts `options.masters × (1 + options.replicas)` nodes and joins them; returns once every
    /// node reports `cluster_state:ok`, knows every other node, and every replica is in sync.
    pub fn start(options: ClusterOptions) -> RedisCluster {
        let count = options.masters * (1 + options.replicas);
        let dir = scratch_dir();
        let ports = free_cluster_ports(count);
        let tls = options.tls.then(|| TlsFiles::generate(&dir));
        let mut cluster = RedisCluster { nodes: Vec::new(), dir, options, tls };
        for port in ports {
            let child = cluster.spawn(port);
            cluster.nodes.push(Node { port, child: Some(child) });
        }
        for node in &cluster.nodes {
            cluster.wait_until(node.port, Duration::from_secs(10), "answer PING", |c, p| c.cli(p, &["PING"]) == "PONG");
        }
        let mut create: Vec<String> = vec!["--cluster".into(), "create".into()];
        create.extend(cluster.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)));
        create.extend(["--cluster-replicas".into(), cluster.options.replicas.to_string(), "--cluster-yes".into()]);
        let output = cluster.cli_output(None, &create.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let ports: Vec<u16> = cluster.nodes.iter().map(|node| node.port).collect();
        for port in ports {
            cluster.wait_until_ok(port, count);
        }
        cluster
    }

    fn spawn(&self, port: u16) -> Child {
        let mut command = Command::new("redis-server");
        command.current_dir(&self.dir).args(["--bind", "127.0.0.1"]);
        match &self.tls {
            None => command.args(["--port", &port.to_string()]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &port.to_string(), "--tls-cert-file"])
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-cluster", "yes", "--tls-replication", "yes", "--tls-auth-clients", "no"]),
        };
        command
            .args(["--cluster-enabled", "yes", "--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", &self.options.node_timeout_ms.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .args(["--logfile", &format!("node-{port}.log")]);
        if let Some(password) = &self.options.password {
            command.args(["--requirepass", password, "--masterauth", password]);
        }
        command.args(&self.options.extra_args).stdout(Stdio::null()).stderr(Stdio::null());
        command.spawn().unwrap_or_else(|error| {
            panic!(
                "cannot start redis-server ({error}); install it with \
                 `apt-get install -y redis-server` (scripts/test.sh does this)"
            )
        })
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` with TLS) of the first node: the seed, as
    /// ElastiCache's configuration endpoint is.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.nodes[0].port)
    }

    /// Runs `redis-cli -p <port> args...` and returns its trimmed standard output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = self.cli_output(Some(port), args);
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn cli_output(&self, port: Option<u16>, args: &[&str]) -> Output {
        let mut command = Command::new("redis-cli");
        if let Some(port) = port {
            command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        }
        if let Some(password) = &self.options.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        if let Some(tls) = &self.tls {
            command.arg("--tls").arg("--cacert").arg(&tls.ca);
        }
        command.args(args).stdin(Stdio::null()).output().unwrap_or_else(|error| {
            panic!("cannot run redis-cli ({error}); it comes with `apt-get install -y redis-server`")
        })
    }

    /// The masters and their replicas, as a live node sees them.
    pub fn shards(&self) -> Vec<Shard> {
        let port = self.nodes.iter().find(|node| node.child.is_some()).expect("a live node").port;
        let listing = self.cli(port, &["CLUSTER", "NODES"]);
        let mut ids: HashMap<String, u16> = HashMap::new();
        let mut masters: Vec<(String, Shard)> = Vec::new();
        let mut replicas: Vec<(String, u16)> = Vec::new();
        for line in listing.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [id, address, flags, master_id, _, _, _, _, slots @ ..] = fields.as_slice() else { continue };
            let port: u16 = address
                .split('@')
                .next()
                .and_then(|host_port| host_port.rsplit(':').next())
                .and_then(|port| port.parse().ok())
                .unwrap_or_else(|| panic!("unexpected CLUSTER NODES line: {line}"));
            ids.insert((*id).to_owned(), port);
            let flags: Vec<&str> = flags.split(',').collect();
            // `fail?` is one node's suspicion; `fail` is the cluster's verdict.
            if flags.contains(&"fail") {
                continue;
            }
            if flags.contains(&"master") && !slots.is_empty() {
                let slots = slots
                    .iter()
                    .filter(|range| !range.starts_with('['))
                    .map(|range| {
                        let (first, last) = range.split_once('-').unwrap_or((range, range));
                        (first.parse().expect("slot"), last.parse().expect("slot"))
                    })
                    .collect();
                masters.push(((*id).to_owned(), Shard { master: port, slots, replicas: Vec::new() }));
            } else if flags.contains(&"slave") {
                replicas.push(((*master_id).to_owned(), port));
            }
        }
        for (master_id, port) in replicas {
            if let Some((_, shard)) = masters.iter_mut().find(|(id, _)| *id == master_id) {
                shard.replicas.push(port);
            }
        }
        let mut shards: Vec<Shard> = masters.into_iter().map(|(_, shard)| shard).collect();
        shards.sort_by_key(|shard| shard.slots.first().copied());
        assert!(!shards.is_empty(), "no master in CLUSTER NODES:\n{listing}");
        shards
    }

    /// The slot of `key`, as the cluster computes it.
    pub fn keyslot(&self, key: &str) -> u16 {
        let port = self.nodes.iter().find(|node| node.child.is_some()).expect("a live node").port;
        self.cli(port, &["CLUSTER", "KEYSLOT", key]).parse().expect("CLUSTER KEYSLOT answers a number")
    }

    /// The number of keys the node on `port` holds.
    pub fn dbsize(&self, port: u16) -> u64 {
        self.cli(port, &["DBSIZE"]).parse().expect("DBSIZE answers a number")
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to the cluster or the clients).
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|node| node.port == port).expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Promotes the replica on `port` (`CLUSTER FAILOVER FORCE`: its master may be dead) and
    /// waits until it serves its slots and every live node reports `cluster_state:ok`.
    pub fn promote(&self, port: u16) {
        let answer = self.cli(port, &["CLUSTER", "FAILOVER", "FORCE"]);
        assert_eq!(answer, "OK", "CLUSTER FAILOVER FORCE on {port}");
        self.wait_until(port, Duration::from_secs(20), "become a master", |c, p| {
            c.cli(p, &["ROLE"]).lines().next() == Some("master")
        });
        let live: Vec<u16> = self.nodes.iter().filter(|node| node.child.is_some()).map(|node| node.port).collect();
        for live_port in live {
            self.wait_until(live_port, Duration::from_secs(20), "see the cluster ok", |c, p| {
                c.cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
    }

    /// The PEM file of the CA that signed the nodes' certificate, for a TLS cluster.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.tls.as_ref().map(|tls| tls.ca.as_path())
    }

    fn wait_until_ok(&self, port: u16, count: usize) {
        let known = format!("cluster_known_nodes:{count}");
        self.wait_until(port, Duration::from_secs(30), "join the cluster", |c, p| {
            let info = c.cli(p, &["CLUSTER", "INFO"]);
            info.contains("cluster_state:ok") && info.contains(&known)
        });
        let role = self.cli(port, &["ROLE"]);
        if role.lines().next() == Some("slave") {
            self.wait_until(port, Duration::from_secs(30), "sync with its master", |c, p| {
                c.cli(p, &["INFO", "replication"]).contains("master_link_status:up")
            });
        }
    }

    fn wait_until(&self, port: u16, limit: Duration, what: &str, done: impl Fn(&Self, u16) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self, port) {
            assert!(Instant::now() < deadline, "the node on port {port} did not {what} within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("intercept-cluster-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// `count` ports below 55535 whose cluster bus port (+10000) is free too.
fn free_cluster_ports(count: usize) -> Vec<u16> {
    let mut ports = Vec::with_capacity(count);
    let mut seed = u64::from(std::process::id())
        ^ u64::from(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0));
    while ports.len() < count {
        // xorshift: a different walk for every process, so parallel tests rarely collide.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = 20_000 + (seed % 35_000) as u16;
        if ports.iter().any(|taken: &u16| taken.abs_diff(port) == 10_000 || *taken == port) {
            continue;
        }
        let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(port) && free(port + 10_000) {
            ports.push(port);
        }
    }
    ports
}
