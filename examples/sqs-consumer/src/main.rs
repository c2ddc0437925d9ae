//! An SQS consumer behind Intercept, written with `#[intercept::main]`: no authentication (the
//! queue is the trust boundary), a global rate limit that protects what the consumer writes to,
//! and a span per batch linked to each message's producer through its `AWSTraceHeader`.
//!
//! A batch over the limit fails as a whole with `Intercept.RateLimited`, so SQS delivers it
//! again later; a message that is not an order is reported in `batchItemFailures` alone
//! (the event source mapping sets `ReportBatchItemFailures`).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    item: String,
    quantity: u32,
}

#[intercept::main(auth = "none", rate_limit = "2/m", rate_limit_key = "global")]
async fn consume(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let message_id = record.message_id.unwrap_or_default();
        match record.body.as_deref().map(serde_json::from_str::<Order>) {
            Some(Ok(order)) => {
                println!(
                    "order {} processed: {} x {} (message {message_id})",
                    order.order_id, order.quantity, order.item
                );
            }
            _ => {
                println!("message {message_id} is not an order; returned to the queue");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(response)
}
