//! A load client for the shared rate limit: one process, one interceptor (one emulated
//! execution environment), hammering one global key in Redis until a deadline.
//!
//! `ratelimit_client <redis-url> <rate> <burst> <deadline-unix-ms>` prints
//! `allowed=<n> denied=<n>`. The Redis tests start several of these at once and add up what
//! got through.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use intercept::{Config, Interceptor, Invocation, Rejection};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, burst, deadline_ms] = args.as_slice() else {
        return Err("usage: ratelimit_client <redis-url> <rate> <burst> <deadline-unix-ms>".into());
    };
    let deadline = Duration::from_millis(deadline_ms.parse()?);
    let settings: HashMap<&str, &str> = [
        ("INTERCEPT_DISABLE", "telemetry"),
        ("INTERCEPT_RATE_LIMIT", rate.as_str()),
        ("INTERCEPT_RATE_LIMIT_BURST", burst.as_str()),
        ("INTERCEPT_RATE_LIMIT_KEY", "global"),
        ("INTERCEPT_RATE_LIMIT_STORE", url.as_str()),
        ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
        ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "1000"),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|name| settings.get(name).map(|v| (*v).to_owned()))?;
    let interceptor = Interceptor::connect(&config).await?;
    let event = RawValue::from_string(
        r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET","path":"/","sourceIp":"10.0.0.1"}}}"#
            .to_owned(),
    )?;
    let invocation = Invocation::from_raw(&event);
    let (mut allowed, mut denied) = (0_u64, 0_u64);
    while SystemTime::now().duration_since(UNIX_EPOCH)? < deadline {
        match interceptor.admit(&invocation).await {
            Ok(_) => allowed += 1,
            Err(Rejection::RateLimited { .. }) => denied += 1,
            Err(other) => return Err(format!("unexpected rejection: {other:?}").into()),
        }
    }
    println!("allowed={allowed} denied={denied}");
    Ok(())
}
