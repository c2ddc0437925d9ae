//! Redis Cluster hash slots: the slot a key lives in, and store keys that hash whole.

use memchr::memchr;

/// Hash slots in a Redis Cluster (and Valkey's, and ElastiCache's).
pub(super) const SLOTS: usize = 16_384;

/// The slot of `key` as the cluster computes it: CRC16 (XMODEM) of the key, or of its hash tag
/// (the text between the first `{` and the next `}`, when not empty), modulo [`SLOTS`].
pub(super) fn slot(key: &[u8]) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    // SLOTS divides 2^16, so the remainder fits a u16.
    crc16(hashed) % SLOTS as u16
}

/// The Redis key of limiter key `key`: the prefix, then the key bounded in bytes.
///
/// A `{` in the key would make the cluster hash only the text between braces: every route
/// template with `{id}` (or a principal a client spells with braces) would land in one slot.
/// An empty tag `{}` in front of such a key makes the cluster hash the whole key. A prefix that
/// holds a `{` is the operator's choice of tag and is left to decide.
pub(super) fn store_key(prefix: &str, key: &str) -> String {
    let bounded = super::super::bounded_key(key);
    let mut stored = String::with_capacity(prefix.len() + 2 + bounded.len());
    stored.push_str(prefix);
    if bounded.contains('{') && !prefix.contains('{') {
        stored.push_str("{}");
    }
    stored.push_str(&bounded);
    stored
}

fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = memchr(b'{', key)?;
    let after = &key[open + 1..];
    let close = memchr(b'}', after)?;
    (close > 0).then(|| &after[..close])
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0_u16;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 { crc << 1 } else { (crc << 1) ^ 0x1021 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_cluster_specification() {
        // The check value of CRC16/XMODEM, and CLUSTER KEYSLOT answers of redis-server 7.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(slot(b"foo"), 12_182);
        assert_eq!(slot(b"bar"), 5_061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"), "an empty tag hashes the whole key");
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn store_keys_with_braces_hash_whole() {
        assert_eq!(store_key("intercept:", "source-ip:ip:10.0.0.1"), "intercept:source-ip:ip:10.0.0.1");
        let orders = store_key("intercept:", "route:route:/orders/{id}");
        let users = store_key("intercept:", "route:route:/users/{id}");
        assert_eq!(orders, "intercept:{}route:route:/orders/{id}");
        assert_ne!(slot(orders.as_bytes()), slot(b"id"));
        assert_ne!(slot(orders.as_bytes()), slot(users.as_bytes()), "two templates, two slots");
        assert_eq!(store_key("{rl}:", "route:/a/{id}"), "{rl}:route:/a/{id}", "the operator's tag decides");
    }
}
