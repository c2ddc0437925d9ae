//! `intercept-sam policy check` and `policy explain`: the policy file, as CI and an operator see it.
//!
//! Both read the file alone (plus any `--env NAME=VALUE` given), standing in for secrets the
//! function's environment gives at init, so a pipeline can check a policy without them.

use std::io::{self, Write};
use std::path::Path;

use intercept::{ConfigError, EffectivePolicy, Policy, PolicyErrors};

/// Checks a policy file: every error as `FILE:LINE:COL: error: ...` on `errors`, or
/// `ok: N routes, digest sha256:...` on `out`. Returns whether the file is valid.
///
/// # Errors
/// Only when writing fails.
pub fn check(file: &Path, env: &[(String, String)], out: &mut dyn Write, errors: &mut dyn Write) -> io::Result<bool> {
    let Some((policy, _)) = load(file, env, errors)? else { return Ok(false) };
    let routes = policy.route_count();
    writeln!(out, "ok: {routes} route{}, digest {}", if routes == 1 { "" } else { "s" }, policy.digest())?;
    Ok(true)
}

/// Explains what the policy does with `request` (`"GET /orders/42"`): the matching route, its
/// authentication, rate limits and telemetry, or that the defaults apply. Returns whether the
/// file and the request could be read.
///
/// # Errors
/// Only when writing fails.
pub fn explain(
    file: &Path,
    request: &str,
    env: &[(String, String)],
    out: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<bool> {
    let mut words = request.split_whitespace();
    let (Some(method), Some(target), None) = (words.next(), words.next(), words.next()) else {
        writeln!(errors, "error: `{request}` is not a request; expected `METHOD /path`, e.g. \"GET /orders/42\"")?;
        return Ok(false);
    };
    if !target.starts_with('/') {
        writeln!(errors, "error: the path `{target}` does not start with `/`")?;
        return Ok(false);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let Some((_, effective)) = load(file, env, errors)? else { return Ok(false) };
    write!(out, "{}", effective.explain(&method.to_ascii_uppercase(), path))?;
    Ok(true)
}

/// Parses and resolves the file; prints its errors and returns `None` when it has any.
fn load(
    file: &Path,
    env: &[(String, String)],
    errors: &mut dyn Write,
) -> io::Result<Option<(Policy, EffectivePolicy)>> {
    let policy = match Policy::load(file) {
        Ok(policy) => policy,
        Err(PolicyErrors(list)) => {
            for error in &list {
                writeln!(errors, "{error}")?;
            }
            return Ok(None);
        }
    };
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match policy.resolve_offline(lookup) {
        Ok(effective) => Ok(Some((policy, effective))),
        Err(error) => {
            writeln!(errors, "{}", resolve_error(&file.display().to_string(), &error))?;
            Ok(None)
        }
    }
}

/// A resolution error in the check's format: positioned when the file is at fault.
fn resolve_error(file: &str, error: &ConfigError) -> String {
    if error.setting == "INTERCEPT_POLICY"
        && let Some(rest) = error.problem.strip_prefix(file).and_then(|r| r.strip_prefix(':'))
    {
        let mut parts = rest.splitn(3, ':');
        if let (Some(line), Some(col), Some(message)) = (parts.next(), parts.next(), parts.next())
            && line.parse::<usize>().is_ok()
            && col.parse::<usize>().is_ok()
        {
            return format!("{file}:{line}:{col}: error: {}", message.trim_start());
        }
    }
    format!("{file}: error: {error}")
}

/// Parses `NAME=VALUE` for `--env`.
///
/// # Errors
/// A message when there is no `=`.
pub fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_errors_keep_the_file_position() {
        let error =
            ConfigError { setting: "INTERCEPT_POLICY", problem: "p.yaml:3:11: route `GET /a`: no keys".to_owned() };
        assert_eq!(resolve_error("p.yaml", &error), "p.yaml:3:11: error: route `GET /a`: no keys");
        let error = ConfigError { setting: "INTERCEPT_AUTH", problem: "conflicts".to_owned() };
        assert_eq!(resolve_error("p.yaml", &error), "p.yaml: error: INTERCEPT_AUTH: conflicts");
    }
}
