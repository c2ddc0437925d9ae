//! Verifying keys, each with its own algorithm allow-list, and how they are chosen for a token.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use super::AuthError;
use super::header::TokenHeader;

/// One key that may verify tokens, and the algorithms it may verify them with.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
    /// Only algorithms of the key's own family, so an RSA public key can never be used as an
    /// HMAC secret (key confusion).
    pub(crate) validation: Validation,
    /// When this key stops verifying (a previous secret version after its overlap window).
    pub(crate) valid_until: Option<Duration>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.validation.algorithms)
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

/// Why key material could not be used; never shows the material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("no algorithm in the allow-list fits a {0} key")]
    NoAlgorithm(&'static str),
    #[error("the PEM key cannot be read as a key for any allowed algorithm")]
    BadPem,
    #[error("the RSA key has {0} bits; RS* and PS* need at least 2048 (RFC 7518 section 3.3)")]
    WeakRsa(usize),
}

impl VerifyingKey {
    fn with_algorithms(kid: Option<String>, key: DecodingKey, algorithms: Vec<Algorithm>) -> Self {
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        // Time and audience are checked by `claims` on the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        VerifyingKey { kid, key, validation, valid_until: None }
    }

    /// A key from configured material: a PEM public key (RSA, EC or Ed25519) or an HMAC secret.
    pub(crate) fn from_material(
        kid: Option<String>,
        material: &[u8],
        allowed: &[Algorithm],
    ) -> Result<VerifyingKey, KeyError> {
        let trimmed = material.trim_ascii();
        if trimmed.starts_with(b"-----BEGIN") {
            for (family, parse) in [
                (AlgorithmFamily::Rsa, DecodingKey::from_rsa_pem as fn(&[u8]) -> _),
                (AlgorithmFamily::Ec, DecodingKey::from_ec_pem),
                (AlgorithmFamily::Ed, DecodingKey::from_ed_pem),
            ] {
                let algorithms = of_family(allowed, family);
                if !algorithms.is_empty()
                    && let Ok(key) = parse(trimmed)
                {
                    if let Some(bits) = weak_rsa(&key) {
                        return Err(KeyError::WeakRsa(bits));
                    }
                    return Ok(Self::with_algorithms(kid, key, algorithms));
                }
            }
            return Err(KeyError::BadPem);
        }
        let algorithms = of_family(allowed, AlgorithmFamily::Hmac);
        if algorithms.is_empty() {
            return Err(KeyError::NoAlgorithm("secret"));
        }
        Ok(Self::with_algorithms(kid, DecodingKey::from_secret(material), algorithms))
    }

    /// A key from a JWK; `None` for encryption keys and keys no allowed algorithm fits.
    pub(crate) fn from_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Option<VerifyingKey> {
        if matches!(jwk.common.public_key_use, Some(ref usage) if *usage != PublicKeyUse::Signature) {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        if let Some(bits) = weak_rsa(&key) {
            tracing::warn!(kid = ?jwk.common.key_id, bits, "JWKS key skipped: RSA keys need at least 2048 bits");
            return None;
        }
        let mut algorithms = of_family(allowed, key.family());
        if let Some(declared) = jwk.common.key_algorithm {
            let declared: Algorithm = declared.to_string().parse().ok()?;
            algorithms.retain(|alg| *alg == declared);
        }
        (!algorithms.is_empty()).then(|| Self::with_algorithms(jwk.common.key_id.clone(), key, algorithms))
    }

    pub(crate) fn expiring(mut self, valid_until: Option<Duration>) -> Self {
        self.valid_until = valid_until;
        self
    }

    fn accepts(&self, header: &TokenHeader, now: Duration) -> bool {
        self.validation.algorithms.contains(&header.algorithm) && self.valid_until.is_none_or(|until| now < until)
    }
}

/// The size of an RSA key too small to verify with (or unreadable: 0 bits).
fn weak_rsa(key: &DecodingKey) -> Option<usize> {
    if key.family() != AlgorithmFamily::Rsa {
        return None;
    }
    let bits = super::crypto::rsa_modulus_bits(key).unwrap_or(0);
    (bits < 2048).then_some(bits)
}

fn of_family(allowed: &[Algorithm], family: AlgorithmFamily) -> Vec<Algorithm> {
    allowed.iter().copied().filter(|alg| alg.family() == family).collect()
}

/// The keys a source currently offers.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<VerifyingKey>,
    /// Counts refreshes, so cached verifications from older key sets are not trusted.
    pub(crate) generation: u64,
}

impl KeySet {
    /// The keys to try for a token, in order: those with its `kid` when it has one (a `kid`
    /// is only ever compared, never used as a path or query), else every key for its `alg`.
    pub(crate) fn candidates<'a>(
        &'a self,
        header: &'a TokenHeader,
        now: Duration,
    ) -> Result<impl Iterator<Item = &'a VerifyingKey>, AuthError> {
        let for_alg = self.keys.iter().filter(move |key| key.accepts(header, now));
        if !self.keys.iter().any(|key| key.validation.algorithms.contains(&header.algorithm)) {
            return Err(AuthError::AlgorithmNotAccepted);
        }
        let kid = header.kid.as_deref();
        let keyed = self.keys.iter().any(|key| key.kid.is_some());
        if let Some(kid) = kid
            && keyed
            && !self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
        {
            return Err(AuthError::UnknownKey);
        }
        Ok(for_alg.filter(move |key| match (kid, &key.kid) {
            (Some(kid), Some(own)) => kid == own,
            _ => true,
        }))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::DecodingKeyKind;

    use super::*;

    const RSA_PUBLIC: &str = include_str!("../../tests/vectors/rsa_public.pem");

    #[test]
    fn an_rsa_public_key_is_never_an_hmac_secret() {
        let key = VerifyingKey::from_material(None, RSA_PUBLIC.as_bytes(), &[Algorithm::HS256, Algorithm::RS256])
            .expect("rsa key");
        assert_eq!(key.validation.algorithms, [Algorithm::RS256]);
        assert_eq!(
            VerifyingKey::from_material(None, RSA_PUBLIC.as_bytes(), &[Algorithm::HS256]).err(),
            Some(KeyError::BadPem)
        );
    }

    /// RFC 7518 §3.3: RSA keys of at least 2048 bits. A smaller configured key is a config
    /// error that says why; a smaller JWKS key is skipped. A JWK modulus with a leading zero
    /// byte is the same key. (`rsa1024_public.pem` is from `openssl genrsa 1024`.)
    #[test]
    fn rsa_keys_under_2048_bits_are_refused() {
        let weak = include_str!("../../tests/vectors/rsa1024_public.pem");
        let error = VerifyingKey::from_material(None, weak.as_bytes(), &[Algorithm::RS256]).err();
        assert_eq!(error, Some(KeyError::WeakRsa(1024)));
        assert!(error.expect("weak").to_string().contains("1024 bits"));
        let jwk_of = |pem: &str, leading_zero: bool| {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes()).expect("pem");
            let DecodingKeyKind::SecretOrDer(der) = key.kind() else { panic!("pem keys are DER") };
            let (mut n, e) =
                (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.key_utils.rsa_pub_components_from_public_key)(der)
                    .expect("components");
            if leading_zero {
                n.insert(0, 0);
            }
            let b64 = |bytes: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
            serde_json::from_value::<Jwk>(serde_json::json!({"kty": "RSA", "kid": "k", "n": b64(&n), "e": b64(&e)}))
                .expect("jwk")
        };
        assert!(VerifyingKey::from_jwk(&jwk_of(weak, false), &[Algorithm::RS256]).is_none());
        let strong = VerifyingKey::from_jwk(&jwk_of(RSA_PUBLIC, true), &[Algorithm::RS256]).expect("2048 bits");
        assert_eq!(super::super::crypto::rsa_modulus_bits(&strong.key), Some(2048));
    }

    #[test]
    fn kid_selects_and_unknown_kid_is_reported() {
        let set = KeySet {
            keys: vec![
                VerifyingKey::from_material(Some("a".into()), b"secret-a", &[Algorithm::HS256]).expect("key"),
                VerifyingKey::from_material(Some("b".into()), b"secret-b", &[Algorithm::HS256]).expect("key"),
            ],
            generation: 0,
        };
        let header = |kid: &str| TokenHeader { algorithm: Algorithm::HS256, kid: Some(kid.into()) };
        let now = Duration::ZERO;
        let b = header("b");
        let chosen: Vec<_> = set.candidates(&b, now).expect("known").map(|k| k.kid.clone()).collect();
        assert_eq!(chosen, [Some("b".to_owned())]);
        for hostile in ["../../etc/passwd", "' OR 1=1 --", "a/../b"] {
            assert_eq!(set.candidates(&header(hostile), now).err(), Some(AuthError::UnknownKey));
        }
        let rs = TokenHeader { algorithm: Algorithm::RS256, kid: None };
        assert_eq!(set.candidates(&rs, now).err(), Some(AuthError::AlgorithmNotAccepted));
    }
}
