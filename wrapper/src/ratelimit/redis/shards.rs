//! Which shard serves each hash slot, as `CLUSTER SLOTS` told when the store connected: slots
//! back off together per shard, so a dead master costs one timeout per interval, not one per
//! slot its keys happen to land in.

use redis::Value;

use super::slot::SLOTS;

/// Slot ranges and the shard (numbered from 0) that served each when the store connected.
/// A failover keeps a shard's slots together; only resharding moves slots, and then a slot is
/// only backed off with its old neighbours until the store reconnects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ShardMap {
    /// `(first slot, last slot, shard)`, sorted by first slot.
    ranges: Vec<(u16, u16, usize)>,
    shards: usize,
}

impl ShardMap {
    /// Reads a `CLUSTER SLOTS` reply: `[[first, last, [host, port, id?], replicas...], ...]`.
    /// `None` when the reply has another shape.
    pub(super) fn from_cluster_slots(reply: &Value) -> Option<ShardMap> {
        let Value::Array(ranges) = reply else { return None };
        let mut masters: Vec<(&Value, &Value)> = Vec::new();
        let mut parsed = Vec::with_capacity(ranges.len());
        for range in ranges {
            let Value::Array(fields) = range else { return None };
            let [Value::Int(first), Value::Int(last), Value::Array(master), ..] = fields.as_slice() else {
                return None;
            };
            let [host, port, ..] = master.as_slice() else { return None };
            let shard = masters.iter().position(|known| *known == (host, port)).unwrap_or_else(|| {
                masters.push((host, port));
                masters.len() - 1
            });
            let slot = |n: &i64| u16::try_from(*n).ok().filter(|slot| usize::from(*slot) < SLOTS);
            parsed.push((slot(first)?, slot(last)?, shard));
        }
        parsed.sort_unstable();
        Some(ShardMap { ranges: parsed, shards: masters.len() })
    }

    /// Cells a backoff needs: one per shard, and one for slots no shard served.
    pub(super) fn cells(&self) -> usize {
        self.shards + 1
    }

    /// The cell of `slot`.
    pub(super) fn cell(&self, slot: u16) -> usize {
        let after = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        match after.checked_sub(1).map(|index| self.ranges[index]) {
            Some((_, last, shard)) if slot <= last => shard,
            _ => self.shards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![Value::BulkString(host.into()), Value::Int(port), Value::BulkString(b"id".to_vec())])
    }

    fn range(first: i64, last: i64, master: Value) -> Value {
        Value::Array(vec![Value::Int(first), Value::Int(last), master, node("10.0.0.9", 6379)])
    }

    #[test]
    fn slots_map_to_the_shard_that_served_them() {
        let reply = Value::Array(vec![
            range(10_923, 16_383, node("10.0.0.3", 6379)),
            range(0, 5_460, node("10.0.0.1", 6379)),
            range(5_461, 10_000, node("10.0.0.2", 6379)),
            range(10_001, 10_922, node("10.0.0.1", 6379)),
        ]);
        let map = ShardMap::from_cluster_slots(&reply).expect("a CLUSTER SLOTS reply");
        assert_eq!(map.cells(), 4);
        let (first, second, third) = (map.cell(0), map.cell(5_461), map.cell(16_383));
        assert_eq!(map.cell(5_460), first);
        assert_eq!(map.cell(10_500), first, "one master's two ranges are one shard");
        assert_eq!(map.cell(10_000), second);
        assert_eq!(map.cell(10_923), third);
        assert!(first != second && second != third && first != third);
        let partial =
            ShardMap::from_cluster_slots(&Value::Array(vec![range(0, 99, node("10.0.0.1", 6379))])).expect("valid");
        assert_eq!(partial.cell(100), 1, "an unserved slot has a cell of its own");
        assert!(ShardMap::from_cluster_slots(&Value::Nil).is_none());
        assert!(ShardMap::from_cluster_slots(&Value::Array(vec![Value::Int(1)])).is_none());
    }
}
