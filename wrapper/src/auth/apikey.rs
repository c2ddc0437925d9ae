//! API keys: each a SHA-256 digest with its own principal name, compared in constant time.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthError, Principal};
use crate::ParseError;

/// The configured API keys. Only digests are kept, so a heap dump shows no key.
#[derive(Clone)]
pub struct ApiKeys {
    entries: Vec<(Arc<Principal>, [u8; 32])>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(p, _)| p.subject.as_str()).collect();
        f.debug_struct("ApiKeys").field("principals", &names).finish()
    }
}

impl ApiKeys {
    /// Parses `name=key` pairs; a value `sha256:<64 hex>` is a key's digest rather than the key.
    ///
    /// # Errors
    /// A [`ParseError`] naming the entry (never its key) when one is malformed.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<ApiKeys, ParseError> {
        let mut entries = Vec::new();
        for (name, value) in pairs {
            let name = name.trim();
            let value = value.trim();
            if name.is_empty() || value.is_empty() {
                return Err(ParseError::new("an entry has an empty name or key; expected name=key"));
            }
            let digest = match value.strip_prefix("sha256:") {
                Some(hex) => decode_hex(hex)
                    .ok_or_else(|| ParseError::new(format!("the digest for `{name}` is not 64 hex digits")))?,
                None => Sha256::digest(value.as_bytes()).into(),
            };
            entries.push((Arc::new(Principal::named(name)), digest));
        }
        Ok(ApiKeys { entries })
    }

    /// The principal whose key this is. Every configured digest is compared, whatever matches,
    /// so the time taken says nothing about which key came close.
    ///
    /// # Errors
    /// [`AuthError::InvalidApiKey`] when no key matches.
    pub fn verify(&self, presented: &str) -> Result<Arc<Principal>, AuthError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (principal, expected) in &self.entries {
            if bool::from(expected.ct_eq(&digest)) {
                found = Some(principal);
            }
        }
        found.cloned().ok_or(AuthError::InvalidApiKey)
    }

    /// These keys and `other`'s.
    #[must_use]
    pub fn merged(mut self, other: ApiKeys) -> ApiKeys {
        self.entries.extend(other.entries);
        self
    }

    /// Whether no key is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A SHA-256 digest in hex of either case (64 digits).
fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_digests_name_their_principal() {
        let keys = ApiKeys::parse([("ci", "k1-secret")]).expect("valid");
        assert_eq!(keys.verify("k1-secret").map(|p| p.subject.clone()), Ok("ci".to_owned()));
        assert_eq!(keys.verify("k1-secreT"), Err(AuthError::InvalidApiKey));
        assert_eq!(keys.verify(""), Err(AuthError::InvalidApiKey));
        let real = format!("sha256:{}", hex::encode(Sha256::digest(b"k2-secret")));
        let keys = ApiKeys::parse([("partner", real.as_str())]).expect("valid");
        assert_eq!(keys.verify("k2-secret").map(|p| p.subject.clone()), Ok("partner".to_owned()));
        assert!(!format!("{keys:?}").contains(&real[7..]));
        assert!(ApiKeys::parse([("x", "sha256:abc")]).is_err());
        // The digest in upper case is the same key; 64 characters that are not all hex are not.
        let upper = real.replace(&real[7..], &real[7..].to_uppercase());
        let keys = ApiKeys::parse([("partner", upper.as_str())]).expect("valid");
        assert_eq!(keys.verify("k2-secret").map(|p| p.subject.clone()), Ok("partner".to_owned()));
        assert!(ApiKeys::parse([("x", format!("sha256:+{}", &real[8..]).as_str())]).is_err());
    }
}
