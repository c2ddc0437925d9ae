//! The connection to the store: one node, or a cluster found by asking the node the URL names.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

use super::StoreError;
use super::shards::ShardMap;
use super::slot::{SLOTS, slot};

/// The longest a first connection (TCP, TLS, AUTH) may take at init.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a cluster client waits to reach one node. While it refreshes its slot map it
/// holds every request, so a dead node must not keep it for the init allowance.
const NODE_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A multiplexed connection to one server, or to every master of a cluster.
pub(super) enum Connection {
    /// One server (or a proxy that is not a cluster): every key lives there.
    Node(ConnectionManager),
    /// A cluster: each command goes to the master of its key's slot, following `MOVED`/`ASK`
    /// and refreshing the slot map as masters fail over.
    Cluster {
        connection: ClusterConnection,
        /// The shards at connect, for backing off; `None` (a slot per cell) if unreadable.
        shards: Option<ShardMap>,
    },
}

impl Connection {
    /// Connects to the server `client` names and, when it is a cluster node (ElastiCache's
    /// configuration endpoint, a Valkey cluster, ElastiCache Serverless), to the whole cluster;
    /// every call is then bounded by `timeout`.
    pub(super) async fn open(client: &redis::Client, timeout: Duration) -> Result<Connection, StoreError> {
        let probe_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT));
        let mut probe =
            client.get_multiplexed_async_connection_with_config(&probe_config).await.map_err(StoreError::connect)?;
        let cluster_info = redis::cmd("CLUSTER").arg("INFO").query_async::<String>(&mut probe).await;
        match cluster_info {
            Ok(info) => {
                let state = info
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("cluster_state:"))
                    .unwrap_or("unknown")
                    .to_owned();
                if state != "ok" {
                    return Err(StoreError::ClusterDown(state));
                }
                let slots = redis::cmd("CLUSTER").arg("SLOTS").query_async::<Value>(&mut probe).await;
                let shards = slots.ok().as_ref().and_then(ShardMap::from_cluster_slots);
                Self::cluster(client, timeout, shards).await
            }
            // "ERR This instance has cluster support disabled", or a proxy without CLUSTER.
            Err(error) if is_not_a_cluster(&error) => Self::node(client, timeout).await,
            Err(error) => Err(StoreError::connect(error)),
        }
    }

    async fn node(client: &redis::Client, timeout: Duration) -> Result<Connection, StoreError> {
        // The manager multiplexes every concurrent invocation over one connection and
        // reconnects in the background after a failure; each call is bounded by our own
        // timeout, so its retries never hold up a request.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_with_config(client.clone(), config).await.map_err(StoreError::connect)?;
        Ok(Connection::Node(manager))
    }

    async fn cluster(
        client: &redis::Client,
        timeout: Duration,
        shards: Option<ShardMap>,
    ) -> Result<Connection, StoreError> {
        // The node the URL names is the seed; its user, password and TLS apply to every node.
        // Retries (a MOVED after a failover, a reconnect) run within the caller's timeout, and a
        // request whose caller gave up is dropped rather than retried.
        let client = ClusterClientBuilder::new([client.get_connection_info().clone()])
            .connection_timeout(NODE_CONNECT_TIMEOUT.min(CONNECT_TIMEOUT))
            .response_timeout(timeout)
            .retries(4)
            .min_retry_wait(5)
            .max_retry_wait(100)
            .build()
            .map_err(StoreError::connect)?;
        let connection = client.get_async_connection().await.map_err(StoreError::connect)?;
        Ok(Connection::Cluster { connection, shards })
    }

    /// How many cells a [`super::backoff::Backoff`] needs: one per shard of a cluster.
    pub(super) fn cells(&self) -> usize {
        match self {
            Connection::Node(_) => 1,
            Connection::Cluster { shards: Some(shards), .. } => shards.cells(),
            Connection::Cluster { shards: None, .. } => SLOTS,
        }
    }

    /// The backoff cell of a store key: its shard's.
    pub(super) fn cell(&self, key: &str) -> usize {
        match self {
            Connection::Node(_) => 0,
            Connection::Cluster { shards, .. } => {
                let slot = slot(key.as_bytes());
                shards.as_ref().map_or(usize::from(slot), |shards| shards.cell(slot))
            }
        }
    }

    /// Sends one command; in a cluster, to the master of its key's slot (or to every master,
    /// for `PING`).
    pub(super) async fn query(&self, command: &Cmd) -> Result<Value, RedisError> {
        match self {
            Connection::Node(connection) => command.query_async(&mut connection.clone()).await,
            Connection::Cluster { connection, .. } => command.query_async(&mut connection.clone()).await,
        }
    }
}

/// Whether `CLUSTER INFO` failed because the server is not a cluster node.
fn is_not_a_cluster(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::ResponseError)
        && error.detail().is_some_and(|detail| {
            let detail = detail.to_ascii_lowercase();
            detail.contains("cluster support disabled") || detail.contains("unknown command")
        })
}
