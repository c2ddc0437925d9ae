//! The principal handed to the handler: a task-local for Rust handlers, and the event's
//! `requestContext.authorizer.jwt` as API Gateway's JWT authorizer writes it, for any handler.

use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Principal;

tokio::task_local! {
    static CURRENT: Option<Arc<Principal>>;
}

/// The authenticated caller of the invocation being handled, inside a handler behind
/// Intercept (`lambda_runtime`'s `Context` cannot carry it). `None` outside a handler or
/// when authentication is off.
///
/// ```no_run
/// async fn handler(_event: lambda_runtime::LambdaEvent<serde_json::Value>) -> Result<String, lambda_runtime::Error> {
///     let who = intercept::auth::current_principal().map(|p| p.subject.clone()).unwrap_or_default();
///     Ok(who)
/// }
/// ```
#[must_use]
pub fn current_principal() -> Option<Arc<Principal>> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// Runs a handler's future with `principal` as [`current_principal`].
pub(crate) async fn with_principal<F: Future>(principal: Option<Arc<Principal>>, future: F) -> F::Output {
    CURRENT.scope(principal, future).await
}

/// Writes `requestContext.authorizer.jwt = {claims, scopes}` into an event object. Claims are
/// strings, as API Gateway gives them (numbers and lists in their JSON text). For an event
/// still in its bytes, [`crate::auth::splice_authorizer`] writes the same document and leaves every
/// other byte as it was; the in-process layer and the extension's Runtime API proxy use that.
pub fn inject_authorizer(event: &mut Value, principal: &Principal) {
    let Some(event) = event.as_object_mut() else { return };
    let context = event.entry("requestContext").or_insert_with(|| Value::Object(Map::new()));
    let Some(context) = context.as_object_mut() else { return };
    context.insert("authorizer".to_owned(), authorizer_value(principal));
}

/// The `requestContext.authorizer` document for `principal`.
pub(crate) fn authorizer_value(principal: &Principal) -> Value {
    let claims: Map<String, Value> = principal
        .claims
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), Value::String(text))
        })
        .collect();
    let mut jwt = Map::new();
    jwt.insert("claims".to_owned(), Value::Object(claims));
    let scopes = if principal.scopes.is_empty() {
        Value::Null
    } else {
        principal.scopes.iter().cloned().map(Value::String).collect()
    };
    jwt.insert("scopes".to_owned(), scopes);
    let mut authorizer = Map::new();
    authorizer.insert("jwt".to_owned(), Value::Object(jwt));
    if principal.claims.is_empty() {
        authorizer.insert("principalId".to_owned(), Value::String(principal.subject.clone()));
    }
    Value::Object(authorizer)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writes_claims_as_api_gateway_does() {
        let mut principal = Principal::named("alice");
        principal.scopes = vec!["orders:read".into()];
        principal.claims = json!({"sub":"alice","exp":1700000000,"aud":["a","b"]}).as_object().cloned().expect("map");
        let mut event = json!({"version":"2.0","requestContext":{"http":{"method":"GET"}}});
        inject_authorizer(&mut event, &principal);
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"],
            json!({"claims":{"sub":"alice","exp":"1700000000","aud":"[\"a\",\"b\"]"},"scopes":["orders:read"]})
        );
        assert_eq!(event["requestContext"]["http"]["method"], "GET");
    }

    #[tokio::test]
    async fn the_handler_sees_its_principal() {
        assert_eq!(current_principal(), None);
        let alice = Arc::new(Principal::named("alice"));
        let seen = with_principal(Some(alice.clone()), async { current_principal() }).await;
        assert_eq!(seen, Some(alice));
    }
}
