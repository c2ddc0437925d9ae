//! The handler's signature: checked before any code is written, with errors on the user's tokens.

use syn::{FnArg, GenericArgument, ItemFn, Path, PathArguments, ReturnType, Signature, Type};

/// Checks `async fn name(event: LambdaEvent<T>[, state: &S]) -> Result<R, E>` and returns the
/// state type `S` when `init` is given.
pub(crate) fn check(handler: &ItemFn, init: Option<&Path>) -> syn::Result<Option<Type>> {
    let sig = &handler.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "the handler must be an `async fn`: write `async fn` here (lambda_runtime awaits it)",
        ));
    }
    if sig.ident == "main" {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "#[intercept::main] writes `main` itself: name the handler something else, e.g. `handler`",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "the handler cannot be generic: name its types, e.g. `event: LambdaEvent<serde_json::Value>`",
        ));
    }
    let mut inputs = sig.inputs.iter();
    let Some(event) = inputs.next() else {
        return Err(syn::Error::new(
            sig.paren_token.span.join(),
            "the handler takes the event as its argument: `event: LambdaEvent<T>`, with T the event type",
        ));
    };
    check_event(event)?;
    let state = match (inputs.next(), init) {
        (None, None) => None,
        (Some(extra), None) => {
            return Err(syn::Error::new_spanned(
                extra,
                "a handler without `init` takes one argument, `event: LambdaEvent<T>`; for state built once per \
                 environment write `#[intercept::main(init = build_state)]` with `async fn build_state() -> \
                 Result<S, E>` and take it here as `state: &S`",
            ));
        }
        (None, Some(init)) => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!(
                    "`init = {}` builds state for the handler: take it as a second argument, `state: &S`",
                    quote::ToTokens::to_token_stream(init)
                ),
            ));
        }
        (Some(state), Some(_)) => Some(check_state(state)?),
    };
    if let Some(extra) = inputs.next() {
        return Err(syn::Error::new_spanned(
            extra,
            "the handler takes at most two arguments: `event: LambdaEvent<T>` and `state: &S`",
        ));
    }
    check_output(sig)?;
    Ok(state)
}

fn check_event(event: &FnArg) -> syn::Result<()> {
    let ty = match event {
        FnArg::Receiver(receiver) => {
            return Err(syn::Error::new_spanned(
                receiver,
                "the handler is a free function, not a method: take `event: LambdaEvent<T>` instead of `self`",
            ));
        }
        FnArg::Typed(typed) => &typed.ty,
    };
    if last_segment_with_argument(ty, "LambdaEvent").is_none() {
        return Err(syn::Error::new_spanned(
            ty,
            "the event must be a `LambdaEvent<T>` (lambda_runtime::LambdaEvent), with T the event type, \
             e.g. `LambdaEvent<serde_json::Value>` or `LambdaEvent<aws_lambda_events::sqs::SqsEvent>`",
        ));
    }
    Ok(())
}

/// The state argument must be a shared reference; returns the referenced type.
fn check_state(state: &FnArg) -> syn::Result<Type> {
    let FnArg::Typed(typed) = state else {
        return Err(syn::Error::new_spanned(state, "the state argument must be `state: &S`"));
    };
    match &*typed.ty {
        Type::Reference(reference) if reference.mutability.is_none() => Ok((*reference.elem).clone()),
        Type::Reference(reference) => Err(syn::Error::new_spanned(
            reference,
            "every invocation shares the state: take it as `&S`, not `&mut S` (put a Mutex inside S for \
             what changes)",
        )),
        other => Err(syn::Error::new_spanned(
            other,
            "the state is built once and lent to every invocation: take it by reference, `state: &S`",
        )),
    }
}

fn check_output(sig: &Signature) -> syn::Result<()> {
    let ty = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.paren_token.span.close(),
                "the handler must return a `Result`: add `-> Result<R, E>` after the arguments, e.g. \
                 `-> Result<serde_json::Value, lambda_runtime::Error>`",
            ));
        }
        ReturnType::Type(_, ty) => ty,
    };
    if last_segment_with_argument(ty, "Result").is_none() {
        return Err(syn::Error::new_spanned(
            ty,
            "the handler must return `Result<R, E>` (R: Serialize is the response, E the error reported to \
             Lambda), e.g. `Result<serde_json::Value, lambda_runtime::Error>`",
        ));
    }
    Ok(())
}

/// The first generic argument of `ty` when its path ends in `name<...>`.
fn last_segment_with_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a GenericArgument> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last().filter(|segment| segment.ident == name)?;
    match &segment.arguments {
        PathArguments::AngleBracketed(arguments) => arguments.args.first(),
        _ => None,
    }
}
