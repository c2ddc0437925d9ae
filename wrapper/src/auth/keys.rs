//! Verifying keys, each with its own algorithm allow-list, and how they are chosen for a token.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use super::AuthError;
use super::crypto::{Unusable, prepare};
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
    #[error(transparent)]
    Unusable(#[from] Unusable),
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
                    let (key, algorithms) = prepare(key, algorithms)?;
                    return Ok(Self::with_algorithms(kid, key, algorithms));
                }
            }
            return Err(KeyError::BadPem);
        }
        let algorithms = of_family(allowed, AlgorithmFamily::Hmac);
        if algorithms.is_empty() {
            return Err(KeyError::NoAlgorithm("secret"));
        }
        warn_if_short(material.len(), &algorithms);
        let (key, algorithms) = prepare(DecodingKey::from_secret(material), algorithms)?;
        Ok(Self::with_algorithms(kid, key, algorithms))
    }

    /// A key from a JWK; `None` for encryption keys and keys no allowed algorithm fits.
    pub(crate) fn from_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Option<VerifyingKey> {
        if matches!(jwk.common.public_key_use, Some(ref usage) if *usage != PublicKeyUse::Signature) {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        let mut algorithms = of_family(allowed, key.family());
        if let Some(declared) = jwk.common.key_algorithm {
            let declared: Algorithm = declared.to_string().parse().ok()?;
            algorithms.retain(|alg| *alg == declared);
        }
        if algorithms.is_empty() {
            return None;
        }
        if key.family() == AlgorithmFamily::Hmac {
            warn_if_short(key.try_get_as_bytes().map_or(0, <[u8]>::len), &algorithms);
        }
        match prepare(key, algorithms) {
            Ok((key, algorithms)) => Some(Self::with_algorithms(jwk.common.key_id.clone(), key, algorithms)),
            Err(problem) => {
                tracing::warn!(kid = ?jwk.common.key_id, %problem, "JWKS key skipped");
                None
            }
        }
    }

    pub(crate) fn expiring(mut self, valid_until: Option<Duration>) -> Self {
        self.valid_until = valid_until;
        self
    }

    fn accepts(&self, header: &TokenHeader, now: Duration) -> bool {
        self.validation.algorithms.contains(&header.algorithm) && self.valid_until.is_none_or(|until| now < until)
    }
}

/// RFC 7518 §3.2 asks for an HMAC key at least as long as the hash; a shorter one (a
/// development secret) still works, with a warning at load.
fn warn_if_short(length: usize, algorithms: &[Algorithm]) {
    let needed = algorithms.iter().map(|alg| match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    });
    if let Some(needed) = needed.max()
        && length > 0
        && length < needed
    {
        tracing::warn!(length, needed, "the HMAC secret is shorter than its hash output (RFC 7518 section 3.2)");
    }
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

    fn vector(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/vectors/{name}.pem", env!("CARGO_MANIFEST_DIR"))).expect("vector")
    }

    fn jwk(json: serde_json::Value) -> Jwk {
        serde_json::from_value(json).expect("jwk")
    }

    fn b64(bytes: &[u8]) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    }

    /// The modulus and exponent of a PEM RSA public key, as a JWK gives them.
    fn rsa_components(pem: &str) -> (Vec<u8>, Vec<u8>) {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).expect("pem");
        let DecodingKeyKind::SecretOrDer(der) = key.kind() else { panic!("pem keys are DER") };
        (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.key_utils.rsa_pub_components_from_public_key)(der)
            .expect("components")
    }

    /// Keys ring could never verify with are refused when loaded, naming why: a configured key
    /// stops init, a JWKS key is skipped. RSA needs 2048 to 8192 bits (RFC 7518 §3.3) and an
    /// odd exponent from 3 below 2^33; an EC key serves only its own curve; an Ed25519 key is
    /// 32 bytes; an HMAC secret is not empty. (`rsa1024_public.pem` and `rsa6144_public.pem`
    /// are from `openssl genrsa`.)
    #[test]
    fn keys_ring_cannot_use_are_refused_at_load() {
        let rs = [Algorithm::RS256];
        let load = |pem: &str, allowed: &[Algorithm]| VerifyingKey::from_material(None, pem.as_bytes(), allowed);
        let weak = load(&vector("rsa1024_public"), &rs).err();
        assert_eq!(weak, Some(KeyError::Unusable(Unusable::RsaSize(1024))));
        assert!(weak.expect("weak").to_string().contains("1024 bits"));
        // Over 4096 bits (where RustCrypto's reader stops) and within 8192: fine.
        assert!(load(&vector("rsa6144_public"), &rs).is_ok());
        let p384 = load(&vector("ec384_public"), &[Algorithm::ES256]).err();
        assert_eq!(p384, Some(KeyError::Unusable(Unusable::NoAlgorithm("P-384"))));
        let p256 = load(&vector("ec256_public"), &[Algorithm::ES256, Algorithm::ES384]).expect("p-256");
        assert_eq!(p256.validation.algorithms, [Algorithm::ES256]);
        assert_eq!(
            VerifyingKey::from_material(None, b"", &[Algorithm::HS256]).err(),
            Some(KeyError::Unusable(Unusable::EmptySecret))
        );

        let (n, e) = rsa_components(&vector("rsa_public"));
        let rsa_jwk = |n: &[u8], e: &[u8]| jwk(serde_json::json!({"kty": "RSA", "kid": "k", "n": b64(n), "e": b64(e)}));
        let weak_n = rsa_components(&vector("rsa1024_public")).0;
        let mut huge_n = vec![0xc5; 1050];
        huge_n[1049] |= 1;
        let mut even_n = n.clone();
        even_n[255] &= 0xfe;
        let cases = [
            (&weak_n, &e),
            (&huge_n, &e),
            (&even_n, &e),
            (&n, &vec![1]),
            (&n, &vec![1, 0, 0]),
            (&n, &vec![1, 0, 0, 0, 0, 1]),
        ];
        for (n, e) in cases {
            assert!(VerifyingKey::from_jwk(&rsa_jwk(n, e), &rs).is_none(), "{} bytes, e {e:?}", n.len());
        }
        // A DER-style leading zero byte in `n` is the same key.
        let mut padded = n.clone();
        padded.insert(0, 0);
        assert!(VerifyingKey::from_jwk(&rsa_jwk(&padded, &e), &rs).is_some());
        let short_ed = jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 31])}));
        assert!(VerifyingKey::from_jwk(&short_ed, &[Algorithm::EdDSA]).is_none());
        let empty_oct = jwk(serde_json::json!({"kty": "oct", "k": ""}));
        assert!(VerifyingKey::from_jwk(&empty_oct, &[Algorithm::HS256]).is_none());
    }

    /// A PEM EC key with a compressed point (`openssl ec -conv_form compressed`) verifies: it
    /// is decompressed at load, since ring reads only uncompressed points.
    #[test]
    fn a_compressed_ec_key_verifies() {
        let compressed = vector("ec256_compressed_public");
        let key = VerifyingKey::from_material(None, compressed.as_bytes(), &[Algorithm::ES256]).expect("p-256");
        let signing = jsonwebtoken::EncodingKey::from_ec_pem(vector("ec256_private").as_bytes()).expect("private");
        let message = b"header.payload";
        let signature =
            (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::ES256, &signing)
                .expect("signer");
        let signature = jsonwebtoken::signature::Signer::try_sign(&*signature, message).expect("signed");
        assert!(super::super::crypto::verify(Algorithm::ES256, &key.key, message, &signature));
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
