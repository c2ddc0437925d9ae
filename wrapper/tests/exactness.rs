//! GCRA exactness on an injected clock: a differential test against the `governor` crate, and
//! redis-cell's published table, in memory and through the Redis script.

mod support;

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use governor::{Quota as GovernorQuota, RateLimiter};
use intercept::ratelimit::{Decision, Gcra, MemoryStore, Quota};
use intercept::{Interceptor, Rejection};
use support::{RedisServer, config, event};

/// xorshift64: a reproducible sequence without a dependency.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

#[test]
fn same_decisions_as_governor() {
    // (rate, burst): whole and uneven intervals, bursts of one and many.
    for (rate, burst, seed) in [("3/s", 1, 1), ("10/s", 5, 2), ("100/m", 7, 3), ("7/s", 3, 4), ("2/h", 2, 5)] {
        let quota = Quota::parse(rate).expect("valid").with_burst(burst);
        let gcra = Gcra::new(quota);
        let store = MemoryStore::new(1_000);
        let clock = FakeRelativeClock::default();
        let governor = RateLimiter::dashmap_with_clock(
            GovernorQuota::with_period(quota.emission_interval())
                .expect("non-zero")
                .allow_burst(NonZeroU32::new(burst).expect("non-zero")),
            clock.clone(),
        );
        let interval = quota.emission_interval().as_nanos() as u64;
        let mut sequence = Sequence(0x9E37_79B9_7F4A_7C15 ^ seed);
        let mut now = Duration::ZERO;
        let (mut allowed, mut denied) = (0, 0);
        for step in 0..5_000 {
            // Mostly bursts and sub-interval gaps, sometimes long idles.
            let gap = match sequence.next(10) {
                0..=5 => 0,
                6..=8 => sequence.next(interval),
                _ => sequence.next(interval * (u64::from(burst) + 3)),
            };
            now += Duration::from_nanos(gap);
            clock.advance(Duration::from_nanos(gap));
            let key = sequence.next(3);
            let ours = store.check(&gcra, &key.to_string(), now);
            let theirs = governor.check_key(&key);
            match (ours, theirs) {
                (Decision::Allow { .. }, Ok(())) => allowed += 1,
                (Decision::Deny { retry_after }, Err(not_until)) => {
                    assert_eq!(
                        retry_after,
                        not_until.wait_time_from(clock.now()),
                        "{rate} burst {burst}, step {step}: same wait"
                    );
                    denied += 1;
                }
                (ours, theirs) => {
                    panic!("{rate} burst {burst}, step {step}: {ours:?} vs {theirs:?}")
                }
            }
        }
        assert!(allowed > 100 && denied > 100, "{rate}: {allowed} allowed, {denied} denied");
    }
}

/// redis-cell's `it_rate_limits` table (src/cell/mod.rs): `max_burst` 4 (a limit of 5) at one
/// per second. Rows with a volume other than 1 are left out: Intercept counts one per request.
/// (offset ms, remaining, limited, retry after ms)
const REDIS_CELL_TABLE: [(u64, u32, bool, u64); 11] = [
    (0, 4, false, 0),
    (0, 3, false, 0),
    (0, 2, false, 0),
    (0, 1, false, 0),
    (0, 0, false, 0),
    (0, 0, true, 1_000),
    (3_000, 2, false, 0),
    (3_100, 1, false, 0),
    (4_000, 1, false, 0),
    (8_000, 4, false, 0),
    (9_500, 4, false, 0),
];

fn redis_cell_quota() -> Quota {
    Quota::parse("1/s").expect("valid").with_burst(5)
}

#[test]
fn reproduces_redis_cell_table_in_memory() {
    let gcra = Gcra::new(redis_cell_quota());
    let store = MemoryStore::new(10);
    let start = Duration::from_secs(1_700_000_000);
    for (row, (offset, remaining, limited, retry_ms)) in REDIS_CELL_TABLE.into_iter().enumerate() {
        let decision = store.check(&gcra, "foo", start + Duration::from_millis(offset));
        let expected = if limited {
            Decision::Deny { retry_after: Duration::from_millis(retry_ms) }
        } else {
            Decision::Allow { remaining }
        };
        assert_eq!(decision, expected, "row {}", row + 1);
    }
}

#[tokio::test]
async fn reproduces_redis_cell_table_in_redis() {
    let redis = RedisServer::start();
    let settings =
        config(&[("INTERCEPT_RATE_LIMIT", "1/s key=global burst=5"), ("INTERCEPT_RATE_LIMIT_STORE", &redis.url())])
            .expect("valid");
    let interceptor = Interceptor::connect(&settings).await.expect("connects");
    let start = Duration::from_secs(1_700_000_000);
    for (row, (offset, _, limited, retry_ms)) in REDIS_CELL_TABLE.into_iter().enumerate() {
        let now = start + Duration::from_millis(offset);
        match interceptor.admit_at(&event("10.0.0.1"), now).await {
            Ok(_) => assert!(!limited, "row {} allowed", row + 1),
            Err(Rejection::RateLimited { retry_after, .. }) => {
                assert!(limited, "row {} refused", row + 1);
                assert_eq!(retry_after, Duration::from_millis(retry_ms), "row {}", row + 1);
            }
            Err(other) => panic!("row {}: {other:?}", row + 1),
        }
    }
}
