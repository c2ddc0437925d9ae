//! Authentication settings: which schemes, where keys come from, what claims must say.

use intercept_settings as settings;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::apikey::ApiKeys;
use super::scopes::ScopeRule;
use crate::config::{ConfigError, Given, Origin, Secret};

/// How invocations are authenticated (`INTERCEPT_AUTH`): JWT, API keys, either, or neither.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Bearer JWTs, when on.
    pub jwt: Option<JwtConfig>,
    /// API keys, when on; a request with the API key header is checked against them.
    pub api_keys: Option<ApiKeyConfig>,
    /// Scopes required per route (`INTERCEPT_JWT_REQUIRED_SCOPES`), most specific rule first, as a
    /// policy's routes.
    pub required_scopes: Vec<ScopeRule>,
    /// How to reach Secrets Manager, read from Lambda's own `AWS_*` variables.
    pub aws: Option<AwsConfig>,
}

impl AuthConfig {
    /// Whether any scheme is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.jwt.is_some() || self.api_keys.is_some()
    }
}

/// Where JWT verification keys come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySourceConfig {
    /// `INTERCEPT_JWT_SECRET`: an HMAC secret or a PEM public key (development).
    Secret(Secret),
    /// `INTERCEPT_JWT_SECRET_ID`: a Secrets Manager secret holding a secret or PEM key.
    SecretsManager {
        /// The secret's name or ARN.
        secret_id: String,
        /// How long the previous version verifies after a rotation.
        overlap: Duration,
    },
    /// `INTERCEPT_JWKS_URL`.
    JwksUrl(String),
    /// `INTERCEPT_JWT_OIDC_ISSUER`: the JWKS from the issuer's discovery document.
    OidcIssuer(String),
}

/// Where a token may be besides `Authorization: Bearer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenLocation {
    /// `INTERCEPT_JWT_HEADER`: a header holding the token (or `Bearer <token>`).
    pub header: Option<String>,
    /// `INTERCEPT_JWT_COOKIE`: a cookie holding the token.
    pub cookie: Option<String>,
}

/// JWT verification settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwtConfig {
    /// The key source.
    pub keys: KeySourceConfig,
    /// Accepted algorithms; a token's own `alg` is only checked against this list.
    pub algorithms: Vec<Algorithm>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted audiences; the token's `aud` must name one, when set (its `client_id` when it
    /// has no `aud`, as Cognito access tokens do). Empty means any audience, which a JWKS or
    /// OIDC key source only gets from an explicit `INTERCEPT_JWT_AUDIENCE=*`.
    pub audience: Vec<String>,
    /// Accepted `token_use` values (`INTERCEPT_JWT_TOKEN_USE`), checked when a token has the
    /// claim (Cognito's `access` or `id`).
    pub token_use: Vec<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The oldest `iat` accepted (`INTERCEPT_JWT_MAX_AGE_SECONDS`); a token without `iat` is
    /// refused when set.
    pub max_age: Option<Duration>,
    /// Longer tokens are refused before any parsing.
    pub max_token_bytes: usize,
    /// Other places the token may be.
    pub token: TokenLocation,
    /// How many verified tokens are remembered (0 turns the cache off).
    pub cache_size: usize,
    /// Lifetime of fetched keys when the source gives none.
    pub keys_ttl: Duration,
    /// Least time between refetches caused by unknown `kid`s.
    pub kid_cooldown: Duration,
    /// How long expired keys still verify while their source is down.
    pub stale_if_error: Duration,
    /// Timeout of one JWKS or discovery request.
    pub fetch_timeout: Duration,
    /// `INTERCEPT_JWKS_CA_FILE`: PEM CA certificates trusted for https JWKS and discovery
    /// besides the system's store.
    pub ca_file: Option<std::path::PathBuf>,
}

/// API key settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// The header carrying the key (`INTERCEPT_API_KEY_HEADER`, default `x-api-key`).
    pub header: String,
    /// Keys from `INTERCEPT_API_KEYS`.
    pub keys: ApiKeys,
    /// A Secrets Manager secret (JSON object of name to key or `sha256:` digest), read at init.
    pub secret_id: Option<String>,
}

/// Credentials and endpoint for Secrets Manager, from the environment Lambda sets.
#[derive(Clone)]
#[non_exhaustive]
pub struct AwsConfig {
    /// `AWS_REGION`.
    pub region: String,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL`, for local endpoints.
    pub endpoint_url: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The variables that name a JWT key source; exactly one may be given.
pub(crate) const KEY_SOURCES: [&str; 4] =
    [settings::JWT_SECRET, settings::JWT_SECRET_ID, settings::JWKS_URL, settings::JWT_OIDC_ISSUER];

/// The schemes `INTERCEPT_AUTH` (or the policy's `auth.type`) turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Schemes {
    pub(crate) jwt: bool,
    pub(crate) api_key: bool,
}

impl Schemes {
    /// `jwt`, `api-key`, `none` or a comma list of them.
    pub(crate) fn parse(text: &str) -> Result<Schemes, String> {
        intercept_settings::grammar::parse_schemes(text)
            .map(|(jwt, api_key)| Schemes { jwt, api_key })
            .map_err(|other| format!("`{other}` is not supported; expected `jwt`, `api-key`, `jwt,api-key` or `none`"))
    }

    /// The `INTERCEPT_AUTH` value.
    pub(crate) fn as_env(self) -> &'static str {
        match (self.jwt, self.api_key) {
            (false, false) => "none",
            (true, false) => "jwt",
            (false, true) => "api-key",
            (true, true) => "jwt,api-key",
        }
    }
}

/// One JWT key source, as a variable or the policy's `keys:` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyInput {
    /// `INTERCEPT_JWT_SECRET` (never in a file: literal secrets only come from the environment).
    Secret(String),
    SecretId(String),
    JwksUrl(String),
    OidcIssuer(String),
}

impl KeyInput {
    /// The variable that is this source's short form.
    pub(crate) fn variable(&self) -> &'static str {
        match self {
            KeyInput::Secret(_) => settings::JWT_SECRET,
            KeyInput::SecretId(_) => settings::JWT_SECRET_ID,
            KeyInput::JwksUrl(_) => settings::JWKS_URL,
            KeyInput::OidcIssuer(_) => settings::JWT_OIDC_ISSUER,
        }
    }

    /// The value, for messages: a literal secret is never shown.
    pub(crate) fn shown(&self) -> &str {
        match self {
            KeyInput::Secret(_) => "<redacted>",
            KeyInput::SecretId(v) | KeyInput::JwksUrl(v) | KeyInput::OidcIssuer(v) => v,
        }
    }
}

/// The authentication settings a policy file may also give, as typed values with where each
/// came from: read once from the environment ([`AuthInputs::from_env`]), overlaid per route by
/// the file's values, then built into an [`AuthConfig`] ([`AuthInputs::build`]). The settings
/// only the environment gives (caches, timeouts, token places) are read by `build`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthInputs {
    pub(crate) schemes: Option<Given<Schemes>>,
    /// Every key source given: the environment may name several, an error once jwt is on.
    pub(crate) keys: Vec<Given<KeyInput>>,
    pub(crate) issuer: Option<Given<String>>,
    pub(crate) audience: Option<Given<Vec<String>>>,
    pub(crate) algorithms: Option<Given<Vec<String>>>,
    pub(crate) leeway_seconds: Option<Given<u64>>,
    pub(crate) max_age_seconds: Option<Given<u64>>,
    pub(crate) required_scopes: Option<Given<Vec<ScopeRule>>>,
    pub(crate) api_keys: Option<Given<String>>,
    pub(crate) api_keys_secret_id: Option<Given<String>>,
    pub(crate) api_key_header: Option<Given<String>>,
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect()
}

impl AuthInputs {
    /// Reads and parses each variable once.
    pub(crate) fn from_env(get: &impl Fn(&str) -> Option<String>) -> Result<AuthInputs, ConfigError> {
        let env = |name: &'static str| get(name).map(|value| Given::env(name, value));
        let schemes = get(settings::AUTH)
            .map(|s| Schemes::parse(&s).map_err(|problem| ConfigError::new(settings::AUTH, problem)))
            .transpose()?
            .map(|s| Given::env(settings::AUTH, s));
        let keys = KEY_SOURCES
            .iter()
            .filter_map(|name| {
                let value = get(name)?;
                let key = match *name {
                    settings::JWT_SECRET => KeyInput::Secret(value),
                    settings::JWT_SECRET_ID => KeyInput::SecretId(value),
                    settings::JWKS_URL => KeyInput::JwksUrl(value),
                    _ => KeyInput::OidcIssuer(value),
                };
                Some(Given::env(name, key))
            })
            .collect();
        let whole = |name: &'static str, least: u64| {
            get(name)
                .map(|v| match v.parse::<u64>() {
                    Ok(n) if n >= least => Ok(Given::env(name, n)),
                    _ if least > 0 => {
                        Err(ConfigError::new(name, format!("`{v}` is not a whole number of seconds above 0")))
                    }
                    _ => Err(ConfigError::new(name, format!("`{v}` is not a whole number of seconds"))),
                })
                .transpose()
        };
        let leeway_seconds = whole(settings::JWT_LEEWAY_SECONDS, 0)?;
        let max_age_seconds = whole(settings::JWT_MAX_AGE_SECONDS, 1)?;
        let required_scopes = match get(settings::JWT_REQUIRED_SCOPES) {
            None => None,
            Some(rules) => {
                let mut parsed = Vec::new();
                for rule in rules.split(';').map(str::trim).filter(|r| !r.is_empty()) {
                    parsed.push(
                        ScopeRule::parse(rule)
                            .map_err(|p| ConfigError::new(settings::JWT_REQUIRED_SCOPES, p.to_string()))?,
                    );
                }
                let parsed = super::scopes::in_precedence(parsed)
                    .map_err(|problem| ConfigError::new(settings::JWT_REQUIRED_SCOPES, problem))?;
                Some(Given::env(settings::JWT_REQUIRED_SCOPES, parsed))
            }
        };
        Ok(AuthInputs {
            schemes,
            keys,
            issuer: env(settings::JWT_ISSUER),
            audience: get(settings::JWT_AUDIENCE).map(|a| Given::env(settings::JWT_AUDIENCE, list(&a))),
            algorithms: get(settings::JWT_ALGORITHMS).map(|a| Given::env(settings::JWT_ALGORITHMS, list(&a))),
            leeway_seconds,
            max_age_seconds,
            required_scopes,
            api_keys: env(settings::API_KEYS),
            api_keys_secret_id: env(settings::API_KEYS_SECRET_ID),
            api_key_header: env(settings::API_KEY_HEADER),
        })
    }

    /// The schemes on (none when unset).
    pub(crate) fn schemes(&self) -> Schemes {
        self.schemes.as_ref().map(|s| s.value).unwrap_or_default()
    }

    /// Where the value of `variable` came from, `None` when nothing gives it.
    pub(crate) fn origin(&self, variable: &str) -> Option<Origin> {
        fn of<T>(given: Option<&Given<T>>) -> Option<Origin> {
            given.map(|g| g.origin)
        }
        match variable {
            settings::AUTH => of(self.schemes.as_ref()),
            settings::JWT_ISSUER => of(self.issuer.as_ref()),
            settings::JWT_AUDIENCE => of(self.audience.as_ref()),
            settings::JWT_ALGORITHMS => of(self.algorithms.as_ref()),
            settings::JWT_LEEWAY_SECONDS => of(self.leeway_seconds.as_ref()),
            settings::JWT_MAX_AGE_SECONDS => of(self.max_age_seconds.as_ref()),
            settings::JWT_REQUIRED_SCOPES => of(self.required_scopes.as_ref()),
            settings::API_KEYS => of(self.api_keys.as_ref()),
            settings::API_KEYS_SECRET_ID => of(self.api_keys_secret_id.as_ref()),
            settings::API_KEY_HEADER => of(self.api_key_header.as_ref()),
            key => self.keys.iter().find(|k| k.value.variable() == key).map(|k| k.origin),
        }
    }

    /// The authentication these values describe; `get` gives the settings only the
    /// environment holds.
    pub(crate) fn build(&self, get: &impl Fn(&str) -> Option<String>) -> Result<AuthConfig, ConfigError> {
        let get: Lookup<'_> = get;
        let mut config = AuthConfig::default();
        let schemes = self.schemes();
        if schemes.jwt {
            config.jwt = Some(self.jwt(get)?);
        }
        if schemes.api_key {
            config.api_keys = Some(self.api_key_config()?);
        }
        if let Some(rules) = &self.required_scopes {
            config.required_scopes.clone_from(&rules.value);
        }
        let uses_secrets_manager =
            matches!(&config.jwt, Some(JwtConfig { keys: KeySourceConfig::SecretsManager { .. }, .. }))
                || config.api_keys.as_ref().is_some_and(|keys| keys.secret_id.is_some());
        if uses_secrets_manager {
            config.aws = Some(parse_aws(get)?);
        }
        Ok(config)
    }
}

/// Reads the authentication settings from the environment alone.
pub(crate) fn parse_auth(get: &impl Fn(&str) -> Option<String>) -> Result<AuthConfig, ConfigError> {
    AuthInputs::from_env(get)?.build(get)
}

impl AuthInputs {
    fn jwt(&self, get: Lookup<'_>) -> Result<JwtConfig, ConfigError> {
        let (Some(key), None) = (self.keys.first(), self.keys.get(1)) else {
            return Err(ConfigError::new(
                settings::JWT_SECRET,
                "INTERCEPT_AUTH=jwt needs exactly one key source: INTERCEPT_JWT_SECRET, INTERCEPT_JWT_SECRET_ID, \
                 INTERCEPT_JWKS_URL or INTERCEPT_JWT_OIDC_ISSUER",
            ));
        };
        let mut issuer = self.issuer.as_ref().map(|i| i.value.clone());
        let setting = key.value.variable();
        let (keys, default_alg) = match &key.value {
            KeyInput::Secret(value) => (KeySourceConfig::Secret(secret_bytes(value.clone())?), "HS256"),
            KeyInput::SecretId(value) => {
                let overlap = seconds(get, settings::JWT_SECRET_OVERLAP_SECONDS, 3600)?;
                (KeySourceConfig::SecretsManager { secret_id: value.clone(), overlap }, "HS256")
            }
            KeyInput::JwksUrl(value) => (KeySourceConfig::JwksUrl(http_url(setting, value.clone())?), "RS256"),
            KeyInput::OidcIssuer(value) => {
                issuer.get_or_insert_with(|| value.clone());
                (KeySourceConfig::OidcIssuer(http_url(setting, value.clone())?), "RS256")
            }
        };
        let algorithms = match &self.algorithms {
            Some(names) => parse_algorithms(&names.value)?,
            None => parse_algorithms(&[default_alg.to_owned()])?,
        };
        if matches!(keys, KeySourceConfig::Secret(_) | KeySourceConfig::SecretsManager { .. })
            && !algorithms.iter().any(|a| a.family() == jsonwebtoken::AlgorithmFamily::Hmac)
            && let KeySourceConfig::Secret(secret) = &keys
            && !secret.expose().trim_ascii().starts_with(b"-----BEGIN")
        {
            return Err(ConfigError::new(
                settings::JWT_ALGORITHMS,
                "names no HMAC algorithm (HS256, HS384, HS512), so INTERCEPT_JWT_SECRET cannot verify anything; \
                 give a PEM public key for RS/PS/ES/EdDSA",
            ));
        }
        let shared_idp = matches!(keys, KeySourceConfig::JwksUrl(_) | KeySourceConfig::OidcIssuer(_));
        let audience = parse_audience(self.audience.as_ref().map(|a| a.value.as_slice()), shared_idp)?;
        Ok(JwtConfig {
            keys,
            algorithms,
            issuer,
            audience,
            token_use: parse_token_use(get(settings::JWT_TOKEN_USE))?,
            leeway: Duration::from_secs(self.leeway_seconds.as_ref().map_or(0, |l| l.value)),
            max_age: self.max_age_seconds.as_ref().map(|m| Duration::from_secs(m.value)),
            max_token_bytes: number(get, settings::JWT_MAX_BYTES, 8 * 1024)?,
            token: TokenLocation { header: get(settings::JWT_HEADER), cookie: get(settings::JWT_COOKIE) },
            cache_size: number(get, settings::JWT_CACHE_SIZE, 10_000)?,
            keys_ttl: seconds(get, settings::JWT_KEYS_TTL_SECONDS, 300)?,
            kid_cooldown: seconds(get, settings::JWKS_COOLDOWN_SECONDS, 30)?,
            stale_if_error: seconds(get, settings::JWKS_STALE_IF_ERROR_SECONDS, 3600)?,
            fetch_timeout: Duration::from_millis(number(get, settings::JWKS_TIMEOUT_MS, 2000)? as u64),
            ca_file: get(settings::JWKS_CA_FILE).map(std::path::PathBuf::from),
        })
    }

    fn api_key_config(&self) -> Result<ApiKeyConfig, ConfigError> {
        let inline = self.api_keys.as_ref().map_or("", |k| k.value.as_str());
        let mut pairs = Vec::new();
        for entry in inline.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let pair = entry.split_once('=').ok_or_else(|| {
                ConfigError::new(settings::API_KEYS, "an entry has no `=`; expected name=key or name=sha256:<hex>")
            })?;
            pairs.push(pair);
        }
        let keys =
            ApiKeys::parse(pairs).map_err(|problem| ConfigError::new(settings::API_KEYS, problem.to_string()))?;
        let secret_id = self.api_keys_secret_id.as_ref().map(|s| s.value.clone());
        if keys.is_empty() && secret_id.is_none() {
            return Err(ConfigError::new(
                settings::API_KEYS,
                "is not set, and INTERCEPT_AUTH=api-key needs INTERCEPT_API_KEYS or INTERCEPT_API_KEYS_SECRET_ID",
            ));
        }
        let header = self.api_key_header.as_ref().map_or_else(|| "x-api-key".to_owned(), |h| h.value.clone());
        Ok(ApiKeyConfig { header, keys, secret_id })
    }
}

/// The accepted audiences; empty means any. Keys from a JWKS or an OIDC issuer (`shared_idp`)
/// need a list or an explicit `*`: such an identity provider signs tokens for every
/// application it serves with the same keys, so without an audience check a token issued to
/// any of them would be accepted here.
fn parse_audience(value: Option<&[String]>, shared_idp: bool) -> Result<Vec<String>, ConfigError> {
    const SETTING: &str = settings::JWT_AUDIENCE;
    let list: Vec<String> = value.unwrap_or_default().iter().filter(|a| !a.is_empty()).cloned().collect();
    if list.iter().any(|a| a == "*") {
        return if list.len() == 1 {
            Ok(Vec::new())
        } else {
            Err(ConfigError::new(SETTING, "`*` (any audience) cannot be combined with named audiences"))
        };
    }
    if list.is_empty() && shared_idp {
        return Err(ConfigError::new(
            SETTING,
            "is not set, and keys from INTERCEPT_JWKS_URL or INTERCEPT_JWT_OIDC_ISSUER need it: a shared \
             identity provider (a Cognito user pool, Auth0, Entra ID, Okta) signs tokens for other \
             applications with the same keys, and any of them would be accepted here; name this \
             application's audiences (its client ids), or set `*` to accept any audience deliberately",
        ));
    }
    Ok(list)
}

/// The `token_use` values accepted when a token has the claim: `access` and `id` by default.
fn parse_token_use(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    const SETTING: &str = settings::JWT_TOKEN_USE;
    let Some(value) = value else {
        return Ok(vec!["access".to_owned(), "id".to_owned()]);
    };
    let mut accepted = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name != "access" && name != "id" {
            return Err(ConfigError::new(SETTING, format!("`{name}` is not `access` or `id`")));
        }
        if !accepted.iter().any(|a| a == name) {
            accepted.push(name.to_owned());
        }
    }
    if accepted.is_empty() {
        return Err(ConfigError::new(SETTING, "is empty; name `access`, `id` or both"));
    }
    Ok(accepted)
}

/// A literal secret; `base64:` introduces binary secrets (standard or URL-safe alphabet).
fn secret_bytes(value: String) -> Result<Secret, ConfigError> {
    use base64::Engine as _;
    let Some(encoded) = value.strip_prefix("base64:") else {
        return Ok(Secret::new(value.into_bytes()));
    };
    let encoded = encoded.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map(Secret::new)
        .map_err(|_| ConfigError::new(settings::JWT_SECRET, "the value after `base64:` is not base64"))
}

fn parse_aws(get: Lookup<'_>) -> Result<AwsConfig, ConfigError> {
    let need = |name: &'static str| {
        get(name).ok_or_else(|| ConfigError::new(name, "is not set, and Secrets Manager needs it"))
    };
    Ok(AwsConfig {
        region: get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .ok_or_else(|| ConfigError::new("AWS_REGION", "is not set, and Secrets Manager needs a region"))?,
        endpoint_url: get("AWS_ENDPOINT_URL_SECRETS_MANAGER").or_else(|| get("AWS_ENDPOINT_URL")),
        access_key_id: need("AWS_ACCESS_KEY_ID")?,
        secret_access_key: Secret::new(need("AWS_SECRET_ACCESS_KEY")?.into_bytes()),
        session_token: get("AWS_SESSION_TOKEN").map(|token| Secret::new(token.into_bytes())),
    })
}

fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    let mut algorithms = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        algorithms.push(name.parse().map_err(|_| {
            ConfigError::new(
                settings::JWT_ALGORITHMS,
                format!("`{name}` is not one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"),
            )
        })?);
    }
    if algorithms.is_empty() {
        return Err(ConfigError::new(settings::JWT_ALGORITHMS, "is empty; name at least one algorithm"));
    }
    Ok(algorithms)
}

fn http_url(setting: &'static str, value: String) -> Result<String, ConfigError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value)
    } else {
        Err(ConfigError::new(setting, format!("`{value}` is not an http(s) URL")))
    }
}

fn number(get: Lookup<'_>, setting: &'static str, default: usize) -> Result<usize, ConfigError> {
    get(setting).map_or(Ok(default), |v| {
        v.parse().map_err(|_| ConfigError::new(setting, format!("`{v}` is not a whole number")))
    })
}

fn seconds(get: Lookup<'_>, setting: &'static str, default: u64) -> Result<Duration, ConfigError> {
    get(setting).map_or(Ok(Duration::from_secs(default)), |v| {
        v.parse()
            .map(Duration::from_secs)
            .map_err(|_| ConfigError::new(setting, format!("`{v}` is not a whole number of seconds")))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn jwt(pairs: &[(&str, &str)]) -> Result<JwtConfig, ConfigError> {
        let mut map: HashMap<&str, &str> = pairs.iter().copied().collect();
        map.insert("INTERCEPT_AUTH", "jwt");
        let config = parse_auth(&|name: &str| map.get(name).map(|v| (*v).to_owned()))?;
        Ok(config.jwt.expect("jwt is on"))
    }

    const JWKS: (&str, &str) = ("INTERCEPT_JWKS_URL", "https://idp.example/jwks");
    const OIDC: (&str, &str) = ("INTERCEPT_JWT_OIDC_ISSUER", "https://idp.example");

    #[test]
    fn a_shared_idp_needs_an_audience_or_an_explicit_star() {
        for source in [JWKS, OIDC] {
            for audience in [None, Some(""), Some(" , ")] {
                let mut pairs = vec![source];
                pairs.extend(audience.map(|a| ("INTERCEPT_JWT_AUDIENCE", a)));
                let error = jwt(&pairs).expect_err("no audience");
                assert_eq!(error.setting, "INTERCEPT_JWT_AUDIENCE");
                assert!(error.problem.contains("other applications"), "{}", error.problem);
            }
            assert!(jwt(&[source, ("INTERCEPT_JWT_AUDIENCE", " * ")]).expect("any").audience.is_empty());
            assert_eq!(jwt(&[source, ("INTERCEPT_JWT_AUDIENCE", "app, api")]).expect("named").audience, ["app", "api"]);
            let mixed = jwt(&[source, ("INTERCEPT_JWT_AUDIENCE", "app,*")]).expect_err("mixed");
            assert_eq!(mixed.setting, "INTERCEPT_JWT_AUDIENCE");
        }
        // A secret is this application's own: no audience is still allowed there.
        assert!(jwt(&[("INTERCEPT_JWT_SECRET", "s")]).expect("secret").audience.is_empty());
    }

    #[test]
    fn token_use_defaults_to_access_and_id_and_a_bad_value_names_the_setting() {
        let with = |value: &str| jwt(&[JWKS, ("INTERCEPT_JWT_AUDIENCE", "app"), ("INTERCEPT_JWT_TOKEN_USE", value)]);
        assert_eq!(jwt(&[JWKS, ("INTERCEPT_JWT_AUDIENCE", "app")]).expect("default").token_use, ["access", "id"]);
        assert_eq!(with(" access ").expect("access only").token_use, ["access"]);
        assert_eq!(with("id,access,id").expect("both").token_use, ["id", "access"]);
        for bad in ["refresh", "access,ID", "", " , "] {
            assert_eq!(with(bad).expect_err(bad).setting, "INTERCEPT_JWT_TOKEN_USE", "{bad}");
        }
    }
}
