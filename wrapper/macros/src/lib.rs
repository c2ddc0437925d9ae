//! `#[intercept::main]`: writes the `main` that runs an async Lambda handler behind Intercept.

mod args;
mod grammar;
mod signature;

use proc_macro::TokenStream;
use quote::{quote, quote_spanned};
use syn::parse::Parser as _;
use syn::spanned::Spanned as _;
use syn::{ItemFn, parse_macro_input};

use crate::args::Args;

/// Turns `async fn handler(event: LambdaEvent<T>) -> Result<R, E>` into a Lambda function:
/// a `main` that reads Intercept's configuration, installs a log subscriber, and runs the
/// handler in `lambda_runtime`'s loop behind the filters.
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
///
/// # Arguments
///
/// - `init = path`: an `async fn() -> Result<S, E>` (`E: Display`) run once per execution
///   environment, after the configuration is read and before the first event. The handler then
///   takes its result as a second argument, `state: &S`, in every invocation. A failing `init`
///   stops the function at init with the error `Intercept.InitError`.
/// - Settings that win over the environment, checked at compile time where they can be:
///   `auth` (`INTERCEPT_AUTH`: `"jwt"`, `"api-key"`, `"jwt,api-key"` or `"none"`),
///   `rate_limit` (`INTERCEPT_RATE_LIMIT`, e.g. `"100/s"` or `"100/m, 20/s key=principal"`),
///   `rate_limit_key` (`INTERCEPT_RATE_LIMIT_KEY`), `rate_limit_burst`
///   (`INTERCEPT_RATE_LIMIT_BURST`) and `required_scopes` (`INTERCEPT_JWT_REQUIRED_SCOPES`).
///   Every other setting (keys, stores, telemetry) still comes from the environment.
///
/// ```ignore
/// use lambda_runtime::{Error, LambdaEvent};
/// use serde_json::Value;
///
/// struct App { greeting: String }
///
/// async fn init() -> Result<App, Error> {
///     Ok(App { greeting: "hello".to_owned() })
/// }
///
/// #[intercept::main(init = init, auth = "jwt", rate_limit = "100/m", rate_limit_key = "principal")]
/// async fn handler(event: LambdaEvent<Value>, app: &App) -> Result<String, Error> {
///     Ok(app.greeting.clone())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut parsed = Args::default();
    let parser = syn::meta::parser(|meta| parsed.parse(&meta));
    let arguments = parser.parse(args);
    let handler = parse_macro_input!(item as ItemFn);
    match arguments.and_then(|()| expand(&parsed, &handler)) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // The handler is kept, and an empty `main` stands in, so that the only errors shown
            // are this one and the handler's own, not "`main` function not found".
            let error = error.to_compile_error();
            let main = if handler.sig.ident == "main" { None } else { Some(quote! { fn main() {} }) };
            quote! { #handler #error #main }.into()
        }
    }
}

fn expand(args: &Args, handler: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    args.finish()?;
    let state = signature::check(handler, args.init.as_ref())?;
    let name = &handler.sig.ident;
    let settings = args.settings.iter().map(|setting| {
        let (variable, value) = (setting.variable, setting.value.trim());
        quote! { .with_setting(#variable, #value) }
    });
    let lambda_runtime = quote! { ::intercept::__private::lambda_runtime };
    let run = match (&args.init, state) {
        (Some(init), Some(state)) => {
            // Spanned at the user's `init` path, so a wrong type is reported there, once: the
            // expression is an `Init<State>` whatever `init` is, so nothing after it fails too.
            let init = quote_spanned! {init.span()=> ::intercept::Init::<#state>::new(#init) };
            quote_spanned! {name.span()=>
                options
                    .run_with_init(#init, |__intercept_state| {
                        #lambda_runtime::service_fn(move |__intercept_event| #name(__intercept_event, __intercept_state))
                    })
                    .await
            }
        }
        _ => quote_spanned! {name.span()=> options.run(#lambda_runtime::service_fn(#name)).await },
    };
    let main = quote_spanned! {name.span()=>
        fn main() -> ::core::result::Result<(), #lambda_runtime::Error> {
            ::intercept::__private::tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let options = ::intercept::Options::new() #(#settings)*;
                    #run
                })
        }
    };
    Ok(quote! {
        #handler
        #main
    })
}
