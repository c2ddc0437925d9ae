//! The attribute's arguments: `init = path` and the settings that override the environment.

use syn::meta::ParseNestedMeta;
use syn::{Lit, Path};

use intercept_settings as settings;

use crate::grammar;

/// Every argument name, in the order the error about an unknown one lists them.
const NAMES: &str = "init, auth, rate_limit, rate_limit_key, rate_limit_burst, required_scopes";

/// The parsed arguments of `#[intercept::main(...)]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `init = path`: the one-time initialisation whose result every invocation borrows.
    pub(crate) init: Option<Path>,
    /// Settings that win over the environment: (variable, value, the literal it came from).
    pub(crate) settings: Vec<Setting>,
}

/// One override: the variable it sets and its value, with the literal for error spans.
pub(crate) struct Setting {
    pub(crate) variable: &'static str,
    pub(crate) value: String,
    pub(crate) literal: Lit,
}

impl Args {
    /// Parses one `name = value` argument; called by `syn::meta::parser`.
    pub(crate) fn parse(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident() else {
            return Err(meta.error(format!("expected an argument name; the arguments are {NAMES}")));
        };
        let name = ident.to_string();
        if name == "init" {
            if self.init.is_some() {
                return Err(meta.error("`init` is given twice"));
            }
            let path: Path = meta.value()?.parse().map_err(|error| {
                syn::Error::new(error.span(), "expected `init = function_name`, the path of an `async fn init()`")
            })?;
            self.init = Some(path);
            return Ok(());
        }
        let Some(variable) = variable(&name) else {
            return Err(meta.error(format!("unknown argument `{name}`; the arguments are {NAMES}")));
        };
        if self.settings.iter().any(|setting| setting.variable == variable) {
            return Err(meta.error(format!("`{name}` is given twice")));
        }
        let expected = || {
            let kind = if name == "rate_limit_burst" { "a whole number" } else { "a string literal" };
            format!("`{name}` takes {kind}, e.g. {}", example(&name))
        };
        let literal: Lit = meta.value()?.parse().map_err(|error| syn::Error::new(error.span(), expected()))?;
        let value = match (&literal, name.as_str()) {
            (Lit::Str(text), _) => text.value(),
            (Lit::Int(number), "rate_limit_burst") => number.base10_digits().to_owned(),
            _ => return Err(syn::Error::new_spanned(&literal, expected())),
        };
        let setting = Setting { variable, value, literal };
        self.check(&name, &setting)?;
        self.settings.push(setting);
        Ok(())
    }

    /// Checks what can be checked before the program runs.
    fn check(&self, name: &str, setting: &Setting) -> syn::Result<()> {
        let value = setting.value.trim();
        let problem = if value.is_empty() {
            Err(format!(
                "`{name}` is empty; give a value (e.g. {}) or leave the argument out to read {} from the environment",
                example(name),
                setting.variable
            ))
        } else {
            match name {
                "auth" => grammar::check_auth(value),
                "rate_limit" => grammar::check_rate_limit(value, self.value_of(settings::RATE_LIMIT_KEY)),
                "rate_limit_key" => grammar::check_limit_key(value),
                "rate_limit_burst" => grammar::check_burst(value),
                _ => Ok(()),
            }
        };
        problem.map_err(|problem| syn::Error::new_spanned(&setting.literal, problem))
    }

    /// Checks that need every argument: run once they are all parsed.
    pub(crate) fn finish(&self) -> syn::Result<()> {
        // `rate_limit` may come before `rate_limit_key`: check its names against the key again.
        if let Some(rate_limit) = self.settings.iter().find(|setting| setting.variable == settings::RATE_LIMIT) {
            self.check("rate_limit", rate_limit)?;
        }
        Ok(())
    }

    fn value_of(&self, variable: &str) -> Option<&str> {
        self.settings.iter().find(|setting| setting.variable == variable).map(|setting| setting.value.trim())
    }
}

fn variable(name: &str) -> Option<&'static str> {
    Some(match name {
        "auth" => settings::AUTH,
        "rate_limit" => settings::RATE_LIMIT,
        "rate_limit_key" => settings::RATE_LIMIT_KEY,
        "rate_limit_burst" => settings::RATE_LIMIT_BURST,
        "required_scopes" => settings::JWT_REQUIRED_SCOPES,
        _ => return None,
    })
}

fn example(name: &str) -> &'static str {
    match name {
        "auth" => "`auth = \"jwt\"`",
        "rate_limit" => "`rate_limit = \"100/s\"`",
        "rate_limit_key" => "`rate_limit_key = \"principal\"`",
        "rate_limit_burst" => "`rate_limit_burst = 40`",
        _ => "`required_scopes = \"POST /orders=orders:write\"`",
    }
}
