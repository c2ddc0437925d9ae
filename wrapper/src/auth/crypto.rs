//! Signature checks on ring, the crypto library the workspace's TLS already builds on.
//!
//! jsonwebtoken's RustCrypto backend takes about 0.3 ms for an RS256 and 0.4 ms for an ES256
//! signature on this kind of machine; ring takes a tenth of that. Intercept verifies every
//! token here. [`RING_PROVIDER`] offers the same checks to jsonwebtoken itself (and signs with
//! its RustCrypto backend), so a function's own `jsonwebtoken::decode` can use them too.

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils, rust_crypto};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::signature::{Error, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use ring::{hmac, signature};

/// Whether `signature` (raw bytes, not base64) signs `message` under `key` with `algorithm`.
/// A key of another family than the algorithm's never verifies (no key confusion), and RSA
/// keys under 2048 bits never verify (RFC 7518 §3.3).
pub(crate) fn verify(algorithm: Algorithm, key: &DecodingKey, message: &[u8], signature: &[u8]) -> bool {
    if key.family() != algorithm.family() {
        return false;
    }
    let bytes = match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => bytes.as_slice(),
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            let Some(params) = rsa_parameters(algorithm) else { return false };
            // A JWK's `n` may carry a leading zero byte (a DER habit), which ring refuses.
            let components =
                signature::RsaPublicKeyComponents { n: without_leading_zeros(n), e: without_leading_zeros(e) };
            return components.verify(params, message, signature).is_ok();
        }
    };
    let hmac_with = |algorithm| hmac::verify(&hmac::Key::new(algorithm, bytes), message, signature).is_ok();
    let public_key = |params: &'static dyn signature::VerificationAlgorithm| {
        signature::UnparsedPublicKey::new(params, bytes).verify(message, signature).is_ok()
    };
    match algorithm {
        Algorithm::HS256 => hmac_with(hmac::HMAC_SHA256),
        Algorithm::HS384 => hmac_with(hmac::HMAC_SHA384),
        Algorithm::HS512 => hmac_with(hmac::HMAC_SHA512),
        Algorithm::ES256 => public_key(&signature::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => public_key(&signature::ECDSA_P384_SHA384_FIXED),
        Algorithm::EdDSA => public_key(&signature::ED25519),
        _ => rsa_parameters(algorithm).is_some_and(|params| public_key(params)),
    }
}

fn rsa_parameters(algorithm: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match algorithm {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|byte| **byte == 0).count();
    &bytes[zeros..]
}

/// Why ring could never verify with a key. Checked when the key is loaded, so a key that
/// cannot work stops init (or, in a JWKS, is skipped) instead of failing every request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("the HMAC secret is empty")]
    EmptySecret,
    #[error("the RSA key's modulus and exponent cannot be read")]
    UnreadableRsa,
    #[error("the RSA key has {0} bits; RS* and PS* need 2048 to 8192 (RFC 7518 section 3.3)")]
    RsaSize(usize),
    #[error("the RSA key's modulus is even, so it is no RSA key")]
    EvenModulus,
    #[error("the RSA key's public exponent must be odd, at least 3 and under 2^33")]
    RsaExponent,
    #[error("the EC key is not a point on P-256 or P-384")]
    NotAnEcPoint,
    #[error("the Ed25519 key is not 32 bytes")]
    Ed25519Length,
    #[error("the allowed algorithms have none for a {0} key")]
    NoAlgorithm(&'static str),
}

/// The key as ring uses it, and the algorithms of `allowed` (all of the key's family) it can
/// serve: an EC key only its own curve's, its point uncompressed (ring reads no other form).
pub(crate) fn prepare(
    key: DecodingKey,
    mut allowed: Vec<Algorithm>,
) -> Result<(DecodingKey, Vec<Algorithm>), Unusable> {
    let bytes = match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => bytes.as_slice(),
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            check_rsa(n, e)?;
            return Ok((key, allowed));
        }
    };
    match key.family() {
        AlgorithmFamily::Hmac if bytes.is_empty() => Err(Unusable::EmptySecret),
        AlgorithmFamily::Hmac => Ok((key, allowed)),
        AlgorithmFamily::Rsa => {
            let (n, e) = rsa_public_key(bytes).ok_or(Unusable::UnreadableRsa)?;
            check_rsa(n, e)?;
            // The DER was read strictly (minimal lengths, unsigned integers with exactly the
            // sign byte they need, as RFC 8017 asks), and ring is given the numbers just
            // checked, so nothing reads the key differently later.
            Ok((DecodingKey::from_rsa_raw_components(without_leading_zeros(n), without_leading_zeros(e)), allowed))
        }
        AlgorithmFamily::Ed if bytes.len() == 32 => Ok((key, allowed)),
        AlgorithmFamily::Ed => Err(Unusable::Ed25519Length),
        AlgorithmFamily::Ec => {
            use p256::elliptic_curve::sec1::ToEncodedPoint as _;
            let (curve, algorithm, point) = if let Ok(point) = p256::PublicKey::from_sec1_bytes(bytes) {
                ("P-256", Algorithm::ES256, point.to_encoded_point(false).as_bytes().to_vec())
            } else if let Ok(point) = p384::PublicKey::from_sec1_bytes(bytes) {
                ("P-384", Algorithm::ES384, point.to_encoded_point(false).as_bytes().to_vec())
            } else {
                return Err(Unusable::NotAnEcPoint);
            };
            allowed.retain(|allowed| *allowed == algorithm);
            if allowed.is_empty() {
                return Err(Unusable::NoAlgorithm(curve));
            }
            Ok((DecodingKey::from_ec_der(&point), allowed))
        }
    }
}

/// What ring's RSA verification accepts: an odd 2048 to 8192-bit modulus, an odd exponent
/// from 3 to 2^33 - 1.
fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), Unusable> {
    let n = without_leading_zeros(n);
    let bits = n.first().map_or(0, |first| n.len() * 8 - first.leading_zeros() as usize);
    if !(2048..=8192).contains(&bits) {
        return Err(Unusable::RsaSize(bits));
    }
    if n.last().is_some_and(|last| last % 2 == 0) {
        return Err(Unusable::EvenModulus);
    }
    let e = without_leading_zeros(e);
    let exponent = (e.len() <= 5).then(|| e.iter().fold(0u64, |value, byte| value << 8 | u64::from(*byte)));
    match exponent {
        Some(exponent) if exponent >= 3 && exponent % 2 == 1 && exponent < 1 << 33 => Ok(()),
        _ => Err(Unusable::RsaExponent),
    }
}

/// The modulus and exponent of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER, INTEGER }`, DER),
/// read by the `pkcs1` crate. Its structure only: RustCrypto's `rsa` key type stops at 4096
/// bits, and ring verifies keys up to 8192, so the size is judged by [`check_rsa`], not by it.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    use pkcs1::der::Decode as _;
    let key = pkcs1::RsaPublicKey::from_der(der).ok()?;
    Some((key.modulus.as_bytes(), key.public_exponent.as_bytes()))
}

/// A jsonwebtoken [`CryptoProvider`] that verifies with ring, as Intercept does, and signs,
/// like the key utilities, with jsonwebtoken's RustCrypto backend. Install it with
/// `RING_PROVIDER.install_default()` before a function's first `jsonwebtoken` call to make
/// its own `decode` as fast as Intercept's checks.
///
/// Keys are not checked here as Intercept checks its own at load: one ring cannot use (RSA
/// outside 2048 to 8192 bits, a compressed EC point, an EC key of the other curve) makes every
/// `decode` fail with `InvalidSignature`.
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
    verifier_factory: |algorithm, key| {
        if key.family() != algorithm.family() {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        Ok(Box::new(RingVerifier { algorithm: *algorithm, key: key.clone() }))
    },
    key_utils: KeyUtils { ..rust_crypto::DEFAULT_PROVIDER.key_utils },
};

struct RingVerifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), Error> {
        if verify(self.algorithm, &self.key, message, signature) { Ok(()) } else { Err(Error::new()) }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/vectors/{name}.pem", env!("CARGO_MANIFEST_DIR"))).expect("vector")
    }

    /// Every algorithm: a token RustCrypto signed verifies here, and the same token with one
    /// changed signed byte or under another family's key does not.
    #[test]
    fn ring_agrees_with_rust_crypto_signatures() {
        type Read<K> = fn(&[u8]) -> jsonwebtoken::errors::Result<K>;
        let pair = |name: &str, private: Read<EncodingKey>, public: Read<DecodingKey>| {
            let private = private(&vector(&format!("{name}_private"))).expect("private key");
            (private, public(&vector(&format!("{name}_public"))).expect("public key"))
        };
        let rsa = pair("rsa", EncodingKey::from_rsa_pem, DecodingKey::from_rsa_pem);
        let ec = pair("ec256", EncodingKey::from_ec_pem, DecodingKey::from_ec_pem);
        let ec384 = pair("ec384", EncodingKey::from_ec_pem, DecodingKey::from_ec_pem);
        let ed = pair("ed25519", EncodingKey::from_ed_pem, DecodingKey::from_ed_pem);
        let hmac = (EncodingKey::from_secret(b"a-test-secret"), DecodingKey::from_secret(b"a-test-secret"));
        let cases = [
            (Algorithm::HS256, &hmac),
            (Algorithm::HS384, &hmac),
            (Algorithm::HS512, &hmac),
            (Algorithm::RS256, &rsa),
            (Algorithm::RS384, &rsa),
            (Algorithm::RS512, &rsa),
            (Algorithm::PS256, &rsa),
            (Algorithm::PS384, &rsa),
            (Algorithm::PS512, &rsa),
            (Algorithm::ES256, &ec),
            (Algorithm::ES384, &ec384),
            (Algorithm::EdDSA, &ed),
        ];
        for (algorithm, (encoding, decoding)) in cases {
            let message = b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9";
            let signature = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&algorithm, encoding)
                .expect("signer")
                .try_sign(message)
                .expect("signed");
            assert!(verify(algorithm, decoding, message, &signature), "{algorithm:?} verifies");
            let mut tampered = *message;
            tampered[30] ^= 1;
            assert!(!verify(algorithm, decoding, &tampered, &signature), "{algorithm:?} tampered");
            for other in [&hmac.1, &rsa.1, &ec.1, &ed.1].into_iter().filter(|key| key.family() != decoding.family()) {
                assert!(!verify(algorithm, other, message, &signature), "{algorithm:?} under another family's key");
            }
        }
        // The same RSA key given as JWK components, the modulus with a DER-style leading zero.
        let DecodingKeyKind::SecretOrDer(der) = rsa.1.kind() else { panic!("pem keys are DER") };
        let (mut n, e) =
            (rust_crypto::DEFAULT_PROVIDER.key_utils.rsa_pub_components_from_public_key)(der).expect("n, e");
        n.insert(0, 0);
        let components = DecodingKey::from_rsa_raw_components(&n, &e);
        let message = b"header.payload";
        let signature = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::RS256, &rsa.0)
            .expect("signer")
            .try_sign(message);
        assert!(verify(Algorithm::RS256, &components, message, &signature.expect("signed")));
        assert!(prepare(components, vec![Algorithm::RS256]).is_ok());
    }

    /// The provider makes jsonwebtoken's own `decode` verify with ring.
    #[test]
    fn the_provider_verifies_for_jsonwebtoken() {
        let encoding = EncodingKey::from_ec_pem(&vector("ec256_private")).expect("ec");
        let decoding = DecodingKey::from_ec_pem(&vector("ec256_public")).expect("ec");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &serde_json::json!({"sub": "a"}), &encoding)
            .expect("sign");
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).expect("b64");
        let verifier = (RING_PROVIDER.verifier_factory)(&Algorithm::ES256, &decoding).expect("verifier");
        assert!(verifier.verify(message.as_bytes(), &signature).is_ok());
        assert!(verifier.verify(b"other", &signature).is_err());
        assert!((RING_PROVIDER.verifier_factory)(&Algorithm::HS256, &decoding).is_err(), "an EC key is no secret");
    }

    /// A PKCS#1 key is read as DER, strictly: a modulus without the sign byte its high bit
    /// needs, or with a zero byte too many, is refused at load instead of being read leniently.
    #[test]
    fn rsa_public_keys_are_read_as_strict_der() {
        fn der(modulus: &[u8]) -> Vec<u8> {
            let mut integer = vec![0x02, 0x82];
            integer.extend_from_slice(&u16::try_from(modulus.len()).expect("short").to_be_bytes());
            integer.extend_from_slice(modulus);
            integer.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
            let mut sequence = vec![0x30, 0x82];
            sequence.extend_from_slice(&u16::try_from(integer.len()).expect("short").to_be_bytes());
            sequence.extend_from_slice(&integer);
            sequence
        }
        let mut n = vec![0xC3; 256];
        n[255] = 0x01;
        let signed: Vec<u8> = [&[0x00][..], &n].concat();
        let key = der(&signed);
        let (modulus, exponent) = rsa_public_key(&key).expect("a well-formed 2048-bit key");
        assert_eq!(without_leading_zeros(modulus), &n[..]);
        assert_eq!(exponent, &[0x01, 0x00, 0x01]);
        assert!(check_rsa(modulus, exponent).is_ok());
        assert!(rsa_public_key(&der(&n)).is_none(), "the high bit set with no sign byte reads as negative");
        let padded: Vec<u8> = [&[0x00, 0x00][..], &n].concat();
        assert!(rsa_public_key(&der(&padded)).is_none(), "a zero byte beyond the sign byte is not DER");
    }
}
