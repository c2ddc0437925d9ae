//! `#[intercept::main]`: writes the `main` that runs an async Lambda handler behind Intercept.

use proc_macro::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{FnArg, ItemFn, parse_macro_input};

/// Turns `async fn handler(event: LambdaEvent<T>) -> Result<R, E>` into a Lambda function:
/// a `main` that reads Intercept's configuration from the environment, installs a log
/// subscriber, and runs the handler in `lambda_runtime`'s loop behind the filters.
///
/// ```ignore
/// use lambda_runtime::{Error, LambdaEvent};
/// use serde_json::Value;
///
/// #[intercept::main]
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    if !args.is_empty() {
        return syn::Error::new(args.span(), "#[intercept::main] takes no arguments yet").to_compile_error().into();
    }
    let handler = parse_macro_input!(item as ItemFn);
    if let Err(error) = check_signature(&handler) {
        return error.to_compile_error().into();
    }
    let name = &handler.sig.ident;
    let main = quote_spanned! {name.span()=>
        fn main() -> ::core::result::Result<(), ::intercept::__private::lambda_runtime::Error> {
            ::intercept::__private::tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    ::intercept::__private::lambda_runtime::tracing::init_default_subscriber();
                    ::intercept::run(::intercept::__private::lambda_runtime::service_fn(#name)).await
                })
        }
    };
    quote! {
        #handler
        #main
    }
    .into()
}

fn check_signature(handler: &ItemFn) -> syn::Result<()> {
    let sig = &handler.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(sig.fn_token.span(), "the handler must be an `async fn`"));
    }
    if sig.ident == "main" {
        return Err(syn::Error::new(
            sig.ident.span(),
            "#[intercept::main] writes `main` itself: name the handler something else, e.g. `handler`",
        ));
    }
    if sig.inputs.len() != 1 || matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "the handler takes exactly one argument: `event: LambdaEvent<T>`",
        ));
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        return Err(syn::Error::new(sig.span(), "the handler must return `Result<R, E>`"));
    }
    Ok(())
}
