//! `init` by path, an error type that only implements Display, and a typed event and response.
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};

pub(crate) mod setup {
    #[derive(Debug)]
    pub(crate) struct NoQueue;

    impl std::fmt::Display for NoQueue {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no queue configured")
        }
    }

    pub(crate) struct Queue {
        pub(crate) name: String,
    }

    pub(crate) async fn connect() -> Result<Queue, NoQueue> {
        Ok(Queue { name: "orders".to_owned() })
    }
}

#[derive(Deserialize)]
pub(crate) struct Batch {
    #[serde(rename = "Records")]
    records: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Consumed {
    queue: String,
    count: usize,
}

#[intercept::main(init = setup::connect, auth = "none", rate_limit = "10/s", rate_limit_key = "global")]
pub(crate) async fn consume(event: LambdaEvent<Batch>, queue: &setup::Queue) -> Result<Consumed, String> {
    Ok(Consumed { queue: queue.name.clone(), count: event.payload.records.len() })
}
