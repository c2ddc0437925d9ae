//! SAM CLI's configuration file, `samconfig.toml`: defaults for a command's flags, per
//! environment (`[default.local_invoke.parameters]`), over the environment's
//! `[default.global.parameters]`. Flags given on the command line win over both.

use std::path::{Path, PathBuf};

/// The flags' defaults a `samconfig.toml` gives one command in one environment.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SamConfig {
    /// The file read (`None`: there was none).
    pub file: Option<PathBuf>,
    /// The command's section over the global one.
    parameters: toml::Table,
}

/// Reads `file` for `command` (`local_invoke`, `local_start_api`, `local_start_lambda`) in
/// `environment` (`--config-env`, SAM CLI's `default`). A file that does not exist gives no
/// defaults.
///
/// # Errors
/// A message naming the file when it cannot be read or is not TOML.
pub fn load(file: &Path, environment: &str, command: &str) -> Result<SamConfig, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(SamConfig::default()),
        Err(error) => return Err(format!("cannot read {}: {error}", file.display())),
    };
    let document: toml::Table =
        text.parse().map_err(|error| format!("{} is not valid TOML: {error}", file.display()))?;
    let section = |name: &str| {
        document
            .get(environment)
            .and_then(|e| e.get(name))
            .and_then(|s| s.get("parameters"))
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let mut parameters = section("global");
    parameters.extend(section(command));
    Ok(SamConfig { file: Some(file.to_owned()), parameters })
}

impl SamConfig {
    /// A text setting (`region = "eu-west-1"`); numbers and booleans as their text.
    #[must_use]
    pub fn text(&self, key: &str) -> Option<String> {
        match self.parameters.get(key)? {
            toml::Value::String(text) => Some(text.clone()),
            toml::Value::Integer(n) => Some(n.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A list setting, written as an array or as one space-separated string
    /// (`parameter_overrides = "Stage=dev Table=orders"`), as SAM CLI accepts both.
    #[must_use]
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.parameters.get(key) {
            Some(toml::Value::Array(items)) => {
                items.iter().filter_map(|item| item.as_str().map(str::to_owned)).collect()
            }
            Some(toml::Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_section_wins_over_the_global_one_per_environment() {
        let dir = std::env::temp_dir().join(format!("intercept-sam-samconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let file = dir.join("samconfig.toml");
        std::fs::write(
            &file,
            "version = 0.1\n[default.global.parameters]\nregion = \"eu-west-1\"\nprofile = \"team\"\n\n\
             [default.local_invoke.parameters]\nregion = \"eu-central-1\"\nparameter_overrides = \"Stage=dev Table=orders\"\n\n\
             [prod.local_invoke.parameters]\nparameter_overrides = [\"Stage=prod\"]\n",
        )
        .expect("samconfig");
        let invoke = load(&file, "default", "local_invoke").expect("reads");
        assert_eq!(
            (invoke.text("region").as_deref(), invoke.text("profile").as_deref()),
            (Some("eu-central-1"), Some("team"))
        );
        assert_eq!(invoke.list("parameter_overrides"), ["Stage=dev", "Table=orders"]);
        let api = load(&file, "default", "local_start_api").expect("reads");
        assert_eq!(api.text("region").as_deref(), Some("eu-west-1"));
        assert!(api.list("parameter_overrides").is_empty());
        assert_eq!(load(&file, "prod", "local_invoke").expect("reads").list("parameter_overrides"), ["Stage=prod"]);
        assert_eq!(load(&dir.join("missing.toml"), "default", "local_invoke").expect("no file"), SamConfig::default());
        std::fs::write(&file, "[default\n").expect("bad toml");
        let error = load(&file, "default", "local_invoke").expect_err("not TOML");
        assert!(error.starts_with(&format!("{} is not valid TOML", file.display())), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
