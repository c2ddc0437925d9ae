//! The policy file (`INTERCEPT_POLICY`): defaults and routes with their authentication, rate
//! limits, telemetry and mode, validated with positions, resolved with the environment into the
//! [`EffectivePolicy`] every invocation is checked against.
//!
//! See `docs/policy.md` for the format, the precedence with the environment and matching.
//!
//! [`run`](crate::run) and [`Config::from_env`](crate::Config::from_env) read the file
//! themselves (a remote one after [`prefetch`]); a tool checks one, or asks which route a
//! request meets, with [`Policy`]:
//!
//! ```
//! use intercept::policy::Policy;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let text = "routes:\n  GET /health:\n    auth: none\n  GET /orders/{id}:\n    rate_limit: [{ rate: 50/s }]\n";
//! let policy = Policy::parse("policy.yaml", text)?;
//! let effective = policy.resolve_offline(|_| None)?;
//! let (route, pattern) = effective.route_for("GET", "//orders/7/");
//! assert_eq!(pattern, Some("GET /orders/{id}"));
//! assert!(route.rate_limit.is_some());
//! assert_eq!(effective.route_for("HEAD", "/health").1, Some("GET /health"));
//! # Ok(()) }
//! ```

mod audit;
mod effective;
mod error;
mod explain;
pub(crate) mod filters;
pub(crate) mod live;
mod model;
mod parse;
pub(crate) mod pattern;
mod resolve;
pub(crate) mod source;
mod validate;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use effective::{Disabled, EffectivePolicy, RoutePolicy, TelemetryPolicy};
pub use error::{PolicyError, PolicyErrors};
pub use model::Mode;
pub use source::{PolicySource, prefetch};

pub(crate) use resolve::parse_disabled;
pub(crate) use yaml::Pos;

use crate::config::ConfigError;

/// A policy file, read and validated: every field it sets, with the position it was set at.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) source: Option<String>,
    pub(crate) document: model::Document,
}

impl Policy {
    /// Parses and validates a policy; `file` names it in errors (`file:line:col: error: ...`).
    ///
    /// ```
    /// let policy = intercept::policy::Policy::parse("policy.yaml", "routes:\n  GET /health:\n    auth: none\n")?;
    /// assert_eq!(policy.route_count(), 1);
    /// # Ok::<(), intercept::policy::PolicyErrors>(())
    /// ```
    ///
    /// # Errors
    /// Every problem found (unknown keys with the closest valid one, wrong types, bad rates,
    /// routes that can never match, ...), each with its line and column.
    pub fn parse(file: &str, text: &str) -> Result<Policy, PolicyErrors> {
        let mut errors = error::Errors::new(file);
        let root = match yaml::parse(text) {
            Ok(root) => root,
            Err((at, message)) => {
                errors.push(at, message);
                return Err(errors.fail());
            }
        };
        // What could be read is validated too, so one run reports every error.
        let document = parse::document(&root, &mut errors);
        validate::document(&document, &mut errors);
        errors.finish()?;
        Ok(Policy { source: Some(file.to_owned()), document })
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// As [`Self::parse`]; a file that cannot be read is one error at 1:1.
    pub fn load(path: &Path) -> Result<Policy, PolicyErrors> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            let mut errors = error::Errors::new(&name);
            errors.push(yaml::Pos { line: 1, col: 1 }, format!("cannot read the policy file: {error}"));
            errors.fail()
        })?;
        Self::parse(&name, &text)
    }

    /// No file: everything comes from the environment.
    pub(crate) fn empty() -> Policy {
        Policy { source: None, document: model::Document::default() }
    }

    /// How many routes the file defines.
    #[must_use]
    pub fn route_count(&self) -> usize {
        self.document.routes.len()
    }

    /// `sha256:<hex>` of the file's canonical form: comments, layout and key order do not change
    /// it. The audit line shows it as `policy_digest`.
    #[must_use]
    pub fn digest(&self) -> String {
        audit::policy_digest(&self.document)
    }

    /// Combines the file with the environment into the policy an execution environment runs.
    ///
    /// # Errors
    /// A [`ConfigError`]: a variable that conflicts with the file (naming both), or a setting
    /// that does not hold once combined (`INTERCEPT_POLICY` with the file's line and column
    /// when the file's value is at fault).
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<EffectivePolicy, ConfigError> {
        resolve::resolve(self, &lookup, false)
    }

    /// Like [`Self::resolve`], for tools that have the file but not the function's environment
    /// (`intercept-sam policy check` and `explain`): secrets the environment gives at init
    /// (`INTERCEPT_JWT_SECRET`, `INTERCEPT_API_KEYS`, AWS credentials) are stood in for.
    ///
    /// # Errors
    /// As [`Self::resolve`].
    pub fn resolve_offline(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<EffectivePolicy, ConfigError> {
        resolve::resolve(self, &lookup, true)
    }
}
