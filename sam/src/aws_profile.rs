//! The AWS settings a developer's machine gives SAM CLI, and so the functions it runs: the
//! region, and the credentials of `--profile` or of the default chain (the environment, then
//! the shared credentials and config files).
//!
//! The files follow the AWS SDKs' shared file format: `[name]` sections in the credentials
//! file, `[profile name]` (and `[default]`) in the config file, `key = value` lines, comments
//! starting with `#` or `;`, and indented lines belonging to a sub-section (ignored here).

use std::fmt;
use std::path::PathBuf;

/// The region functions run in when nothing names one (SAM CLI's default too).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Credentials handed to functions as `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`, as Lambda hands a function its role's.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsCredentials {
    /// `aws_access_key_id`.
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: String,
    /// `aws_session_token`, for temporary credentials.
    pub session_token: Option<String>,
}

impl AwsCredentials {
    /// Credentials from their parts.
    #[must_use]
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        AwsCredentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
        }
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The region and credentials functions get.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsSettings {
    /// `--region`, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, `us-east-1`.
    pub region: String,
    /// `None` when no source has any: functions then get SAM CLI's placeholders.
    pub credentials: Option<AwsCredentials>,
}

/// Resolves the region and credentials as SAM CLI (boto3) does: `profile` (`--profile`) reads
/// that profile's credentials only; without it the environment's `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` come first, then the `AWS_PROFILE` (or `default`) profile of
/// `AWS_SHARED_CREDENTIALS_FILE` (`~/.aws/credentials`) and `AWS_CONFIG_FILE` (`~/.aws/config`).
/// `env` reads a variable of the environment to resolve in.
///
/// # Errors
/// A message naming the profile when `--profile` names one neither file has, or naming the
/// file when one exists but cannot be read.
pub fn resolve(
    profile: Option<&str>,
    region: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<AwsSettings, String> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    let home = || env("HOME").map(PathBuf::from);
    let file =
        |variable: &str, default: &str| env(variable).map(PathBuf::from).or_else(|| home().map(|h| h.join(default)));
    let credentials_file = read(file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"))?;
    let config_file = read(file("AWS_CONFIG_FILE", ".aws/config"))?;
    let name = profile.map(str::to_owned).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".to_owned());
    let in_credentials = credentials_file.as_ref().and_then(|(_, text)| section(text, &name));
    let config_section = if name == "default" { "default".to_owned() } else { format!("profile {name}") };
    let in_config = config_file.as_ref().and_then(|(_, text)| {
        section(text, &config_section)
            .or_else(|| (name == "default").then(|| section(text, "profile default")).flatten())
    });
    if profile.is_some() && in_credentials.is_none() && in_config.is_none() {
        let looked_in: Vec<String> = [&credentials_file, &config_file]
            .iter()
            .filter_map(|f| f.as_ref())
            .map(|(p, _)| p.display().to_string())
            .collect();
        return Err(format!(
            "--profile {name}: no such profile in {}",
            if looked_in.is_empty() {
                "~/.aws/credentials or ~/.aws/config (neither exists)".to_owned()
            } else {
                looked_in.join(" or ")
            }
        ));
    }
    let from_profile = |key: &str| {
        in_credentials.as_ref().and_then(|s| value(s, key)).or_else(|| in_config.as_ref().and_then(|s| value(s, key)))
    };
    let from_environment = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) if profile.is_none() => {
            let token = env("AWS_SESSION_TOKEN").or_else(|| env("AWS_SECURITY_TOKEN"));
            Some(AwsCredentials { access_key_id: id, secret_access_key: secret, session_token: token })
        }
        _ => None,
    };
    let credentials = from_environment.or_else(|| {
        let id = from_profile("aws_access_key_id")?;
        let secret = from_profile("aws_secret_access_key")?;
        let token = from_profile("aws_session_token").or_else(|| from_profile("aws_security_token"));
        Some(AwsCredentials { access_key_id: id, secret_access_key: secret, session_token: token })
    });
    let region = region
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| in_config.as_ref().and_then(|s| value(s, "region")))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    Ok(AwsSettings { region, credentials })
}

/// A file's text, `None` when it does not exist.
fn read(path: Option<PathBuf>) -> Result<Option<(PathBuf, String)>, String> {
    let Some(path) = path else { return Ok(None) };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path, text))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// The `key = value` lines of section `[name]` (names compared with runs of spaces as one).
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let wanted: Vec<&str> = name.split_whitespace().collect();
    let mut found: Option<Vec<(String, String)>> = None;
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = header.split(']').next().unwrap_or_default();
            inside = header.split_whitespace().collect::<Vec<_>>() == wanted;
            if inside {
                found.get_or_insert_with(Vec::new);
            }
            continue;
        }
        // Indented lines are a sub-section's (`s3 =` followed by its settings).
        if !inside || line.starts_with([' ', '\t']) {
            continue;
        }
        if let (Some(entries), Some((key, value))) = (found.as_mut(), trimmed.split_once('=')) {
            entries.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    found
}

fn value(entries: &[(String, String)], key: &str) -> Option<String> {
    entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Files(PathBuf);

    impl Files {
        fn new(name: &str, credentials: &str, config: &str) -> Files {
            let dir = std::env::temp_dir().join(format!("intercept-sam-aws-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch");
            std::fs::write(dir.join("credentials"), credentials).expect("credentials");
            std::fs::write(dir.join("config"), config).expect("config");
            Files(dir)
        }

        fn env(&self, extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
            let mut vars: HashMap<String, String> = HashMap::from([
                ("AWS_SHARED_CREDENTIALS_FILE".to_owned(), self.0.join("credentials").display().to_string()),
                ("AWS_CONFIG_FILE".to_owned(), self.0.join("config").display().to_string()),
            ]);
            vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            move |name| vars.get(name).cloned()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const CREDENTIALS: &str = "# keys\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = default/secret\n\n\
        [dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=dev+secret\naws_session_token = dev-token\n";
    const CONFIG: &str = "[default]\nregion = us-west-2\n\n[profile  dev]\nregion = eu-west-1\ns3 =\n  region = ap-south-1\n\n\
        [profile config-only]\n; credentials in the config file\naws_access_key_id = AKIACONFIG\naws_secret_access_key = config-secret\n";

    #[test]
    fn a_named_profile_gives_its_credentials_and_region() {
        let files = Files::new("named", CREDENTIALS, CONFIG);
        // --profile wins over the environment's keys, as boto3's explicit profile does.
        let settings = resolve(
            Some("dev"),
            None,
            files.env(&[("AWS_ACCESS_KEY_ID", "AKIAENV"), ("AWS_SECRET_ACCESS_KEY", "env")]),
        )
        .expect("resolves");
        assert_eq!(settings.region, "eu-west-1", "the profile's region, not the sub-section's");
        assert_eq!(settings.credentials, Some(AwsCredentials::new("AKIADEV", "dev+secret", Some("dev-token"))));
        let from_config = resolve(Some("config-only"), Some("ca-central-1"), files.env(&[])).expect("resolves");
        assert_eq!(from_config.credentials, Some(AwsCredentials::new("AKIACONFIG", "config-secret", None)));
        assert_eq!(from_config.region, "ca-central-1", "--region wins");
        let by_variable = resolve(None, None, files.env(&[("AWS_PROFILE", "dev")])).expect("resolves");
        assert_eq!(by_variable.credentials.map(|c| c.access_key_id).as_deref(), Some("AKIADEV"));
    }

    #[test]
    fn the_default_chain_is_the_environment_then_the_default_profile() {
        let files = Files::new("chain", CREDENTIALS, CONFIG);
        let env = files.env(&[
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "env"),
            ("AWS_REGION", "eu-north-1"),
        ]);
        let settings = resolve(None, None, env).expect("resolves");
        assert_eq!(settings.credentials, Some(AwsCredentials::new("AKIAENV", "env", None)));
        assert_eq!(settings.region, "eu-north-1");
        let settings = resolve(None, None, files.env(&[])).expect("resolves");
        assert_eq!(settings.credentials, Some(AwsCredentials::new("AKIADEFAULT", "default/secret", None)));
        assert_eq!(settings.region, "us-west-2");
        let nothing = resolve(None, None, |_| None).expect("no files at all");
        assert_eq!(nothing, AwsSettings { region: DEFAULT_REGION.to_owned(), credentials: None });
    }

    #[test]
    fn an_unknown_profile_is_named_and_secrets_are_not_printed() {
        let files = Files::new("unknown", CREDENTIALS, CONFIG);
        let error = resolve(Some("prod"), None, files.env(&[])).expect_err("no such profile");
        assert!(error.starts_with("--profile prod: no such profile in ") && error.contains("credentials"), "{error}");
        let shown = format!("{:?}", AwsCredentials::new("AKIADEV", "dev+secret", Some("dev-token")));
        assert!(shown.contains("AKIADEV") && !shown.contains("dev+secret") && !shown.contains("dev-token"), "{shown}");
    }
}
