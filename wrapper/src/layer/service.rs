//! `Intercept<S>`: the per-invocation path through the filters to the handler.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tower::Service;

use super::RawEvent;
use crate::auth::{Principal, splice_authorizer, with_principal};
use crate::interceptor::Interceptor;
use crate::invocation::InvocationMeta;
use crate::rejection::Rejection;

/// A handler behind Intercept's filters. Made by [`InterceptLayer`](super::InterceptLayer).
pub struct Intercept<S, T> {
    inner: S,
    interceptor: Arc<Interceptor>,
    _event: PhantomData<fn(T)>,
}

impl<S: fmt::Debug, T> fmt::Debug for Intercept<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intercept").field("inner", &self.inner).field("interceptor", &self.interceptor).finish()
    }
}

impl<S: Clone, T> Clone for Intercept<S, T> {
    fn clone(&self) -> Self {
        Intercept { inner: self.inner.clone(), interceptor: self.interceptor.clone(), _event: PhantomData }
    }
}

impl<S, T> Intercept<S, T> {
    pub(crate) fn new(inner: S, interceptor: Arc<Interceptor>) -> Self {
        Intercept { inner, interceptor, _event: PhantomData }
    }
}

impl<S, T, R> Service<LambdaEvent<RawEvent>> for Intercept<S, T>
where
    S: Service<LambdaEvent<T>, Response = R> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Diagnostic>,
    T: DeserializeOwned,
    R: Serialize,
{
    type Response = Box<RawValue>;
    type Error = Diagnostic;
    type Future = Pin<Box<dyn Future<Output = Result<Box<RawValue>, Diagnostic>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, event: LambdaEvent<RawEvent>) -> Self::Future {
        // The clone was not polled ready; the one that was goes into the future (tower's idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let interceptor = self.interceptor.clone();
        Box::pin(async move {
            let LambdaEvent { payload: RawEvent(raw), context } = event;
            // The core does the filters and the telemetry; this adapter only hands the admitted
            // event to the handler in its own type.
            let meta = InvocationMeta::from(&context);
            let handler_context = context.clone();
            let outcome = interceptor
                .handle(&raw, meta, |admitted| call_handler(&mut inner, &raw, handler_context, admitted.principal))
                .await;
            outcome.into_result()
        })
    }
}

async fn call_handler<S, T, R>(
    inner: &mut S,
    raw: &RawValue,
    context: lambda_runtime::Context,
    principal: Option<Arc<Principal>>,
) -> Result<Box<RawValue>, Diagnostic>
where
    S: Service<LambdaEvent<T>, Response = R>,
    S::Error: Into<Diagnostic>,
    T: DeserializeOwned,
    R: Serialize,
{
    let unmarshal = |error: serde_json::Error| Diagnostic {
        error_type: "Runtime.UnmarshalError".to_owned(),
        error_message: format!("event does not match the handler's event type: {error}"),
    };
    // With a principal, the event gets `requestContext.authorizer.jwt` as API Gateway's JWT
    // authorizer would have written it, so handlers of any event type can read it; it is
    // spliced into the delivered bytes, so every other value reaches the handler as it came.
    let spliced = match &principal {
        Some(principal) => splice_authorizer(raw.get().as_bytes(), principal)
            .map_err(|error| Rejection::MalformedEvent(error.to_string()).to_diagnostic())?,
        None => None,
    };
    let payload: T = match &spliced {
        Some(event) => serde_json::from_slice(event).map_err(unmarshal)?,
        None => serde_json::from_str(raw.get()).map_err(unmarshal)?,
    };
    let response =
        with_principal(principal, inner.call(LambdaEvent::new(payload, context))).await.map_err(Into::into)?;
    to_raw(&response)
}

fn to_raw<R: Serialize>(response: &R) -> Result<Box<RawValue>, Diagnostic> {
    serde_json::value::to_raw_value(response).map_err(|error| Diagnostic {
        error_type: "Runtime.SerializationError".to_owned(),
        error_message: format!("the handler's response cannot be serialized: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::config::Config;
    use crate::layer::InterceptLayer;

    /// Calls a handler behind the layer with `event`; the handler answers with the text it got.
    async fn delivered(event: &str) -> Result<String, Diagnostic> {
        let settings: HashMap<&str, &str> = [
            ("INTERCEPT_AUTH", "api-key"),
            ("INTERCEPT_API_KEYS", "partner=k3y-of-the-partner"),
            ("INTERCEPT_DISABLE", "telemetry"),
        ]
        .into();
        let config = Config::from_lookup(|name| settings.get(name).map(|v| (*v).to_owned())).expect("config");
        let interceptor = Arc::new(Interceptor::new(&config).expect("builds"));
        let handler = tower::service_fn(|event: LambdaEvent<Box<RawValue>>| async move {
            Ok::<_, Diagnostic>(event.payload.get().to_owned())
        });
        let service = InterceptLayer::<Box<RawValue>>::new(interceptor).layer(handler);
        let raw = RawEvent(RawValue::from_string(event.to_owned()).expect("json"));
        let answer = service.oneshot(LambdaEvent::new(raw, lambda_runtime::Context::default())).await?;
        Ok(serde_json::from_str(answer.get()).expect("the handler's string"))
    }

    #[tokio::test]
    async fn the_handler_gets_the_delivered_bytes_with_the_principal_spliced_in() {
        let event = r#"{"version":"2.0","routeKey":"POST /x","rawPath":"/x","body":"{\"id\": 18446744073709551617}",
            "headers":{"x-api-key":"k3y-of-the-partner"}, "z": 0.1000000000000000055511151231257827,
            "requestContext":{"http":{"method":"POST","path":"/x","sourceIp":"1.2.3.4"},
            "authorizer":{"principalId":"mallory"}},"a":18446744073709551617}"#;
        let got = delivered(event).await.expect("admitted");
        let authorizer = r#"{"jwt":{"claims":{},"scopes":null},"principalId":"partner"}"#;
        assert_eq!(got, event.replace(r#"{"principalId":"mallory"}"#, authorizer));
    }
}
