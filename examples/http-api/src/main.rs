//! An HTTP API behind Intercept, written with `#[intercept::main]`: JWT authentication, a
//! per-user rate limit, a route that needs a scope (`POST /orders` needs `orders:write`, set by
//! `INTERCEPT_JWT_REQUIRED_SCOPES` in `examples/template.yaml`), and state built once per
//! execution environment by `init` and lent to every invocation.
//!
//! Routes: `GET /orders` lists the caller's orders, `POST /orders` places one from a JSON body
//! `{"item": "...", "quantity": N}`. A rejected request (401, 403, 429) never reaches this code.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::http::Method;
use lambda_runtime::{Error, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What `init` builds once: the orders placed in this environment. A real function would hold
/// its database pool or SDK clients here.
struct Store {
    orders: Mutex<Vec<Order>>,
    next_id: AtomicU64,
    /// The largest quantity one order may have (`ORDERS_MAX_QUANTITY`).
    max_quantity: u32,
}

#[derive(Debug, Clone, Serialize)]
struct Order {
    id: u64,
    owner: String,
    item: String,
    quantity: u32,
}

#[derive(Deserialize)]
struct NewOrder {
    item: String,
    quantity: u32,
}

/// Runs once per execution environment, before the first request. An error here stops the
/// function at init (`Intercept.InitError`), as a bad setting should, instead of failing every
/// request.
async fn init() -> Result<Store, String> {
    let max_quantity = match std::env::var("ORDERS_MAX_QUANTITY") {
        Err(_) => 100,
        Ok(value) => {
            value.parse().map_err(|_| format!("ORDERS_MAX_QUANTITY: `{value}` is not a whole number of items"))?
        }
    };
    // Printed so that tests (and you) can see it runs once, not per request.
    println!("http-api init: order store ready, at most {max_quantity} items per order");
    Ok(Store { orders: Mutex::new(Vec::new()), next_id: AtomicU64::new(1), max_quantity })
}

#[intercept::main(init = init, auth = "jwt", rate_limit = "3/m", rate_limit_key = "principal")]
async fn handler(event: LambdaEvent<ApiGatewayV2httpRequest>, store: &Store) -> Result<Value, Error> {
    // Authentication is on, so every request that gets here has a verified subject.
    let owner = intercept::auth::current_principal().map(|principal| principal.subject.clone()).unwrap_or_default();
    let request = event.payload;
    let path = request.raw_path.as_deref().unwrap_or("/");
    match (&request.request_context.http.method, path) {
        (&Method::GET, "/orders") => {
            let orders = store.orders.lock().map_err(|_| "the order store is poisoned")?;
            let mine: Vec<&Order> = orders.iter().filter(|order| order.owner == owner).collect();
            Ok(respond(200, &json!({ "owner": owner, "orders": mine })))
        }
        (&Method::POST, "/orders") => {
            let Some(new) = request.body.as_deref().and_then(|body| serde_json::from_str::<NewOrder>(body).ok()) else {
                return Ok(respond(
                    400,
                    &json!({ "message": "expected a JSON body {\"item\": \"...\", \"quantity\": N}" }),
                ));
            };
            if new.quantity == 0 || new.quantity > store.max_quantity {
                let message = format!("quantity must be between 1 and {}", store.max_quantity);
                return Ok(respond(422, &json!({ "message": message })));
            }
            let order = Order {
                id: store.next_id.fetch_add(1, Ordering::Relaxed),
                owner,
                item: new.item,
                quantity: new.quantity,
            };
            store.orders.lock().map_err(|_| "the order store is poisoned")?.push(order.clone());
            Ok(respond(201, &json!(order)))
        }
        _ => Ok(respond(404, &json!({ "message": format!("no route for {path}") }))),
    }
}

fn respond(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": { "content-type": "application/json" },
        "body": body.to_string(),
    })
}
