//! The JOSE header, read before any key is chosen: size, shape, `alg`, `kid`, `crit`.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::AuthError;

/// The parts of a token's header that decide which key may verify it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TokenHeader {
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A compact JWS split at its dots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segments<'a> {
    /// `header.payload`, what the signature covers.
    pub(crate) signed: &'a str,
    /// The base64url payload.
    pub(crate) payload: &'a str,
    /// The base64url signature.
    pub(crate) signature: &'a str,
}

/// Checks the token's size and shape and reads its header. `jku`, `x5u`, `jwk` and `x5c`
/// are ignored on purpose: keys come only from configuration.
pub(crate) fn read_header(token: &str, max_bytes: usize) -> Result<(TokenHeader, Segments<'_>), AuthError> {
    if token.len() > max_bytes {
        return Err(AuthError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = with_decoded(header, |json| {
        // RFC 7515 §4: the header is a JSON object. A derived struct would also take an array.
        if json.iter().find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
            return Err(AuthError::Malformed);
        }
        let raw: RawHeader<'_> = serde_json::from_slice(json).map_err(|_| AuthError::Malformed)?;
        if raw.alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::AlgorithmNotAccepted);
        }
        // No extension is understood, so any `crit` list (even an empty one, which RFC 7515
        // forbids) makes the token unacceptable.
        if raw.crit.is_some() {
            return Err(AuthError::UnsupportedCritical);
        }
        let algorithm = raw.alg.parse().map_err(|_| AuthError::AlgorithmNotAccepted)?;
        Ok(TokenHeader { algorithm, kid: raw.kid.map(Cow::into_owned) })
    })?;
    let signed = &token[..token.len() - signature.len() - 1];
    Ok((header, Segments { signed, payload, signature }))
}

/// Runs `read` on the bytes a base64url segment decodes to: on the stack when they are small
/// (headers and common payloads), so no allocation is made for them.
pub(crate) fn with_decoded<T>(segment: &str, read: impl FnOnce(&[u8]) -> Result<T, AuthError>) -> Result<T, AuthError> {
    let mut buffer = [0u8; 1024];
    if segment.len() / 4 * 3 + 3 <= buffer.len() {
        let length = URL_SAFE_NO_PAD.decode_slice(segment, &mut buffer).map_err(|_| AuthError::Malformed)?;
        read(buffer.get(..length).ok_or(AuthError::Malformed)?)
    } else {
        read(&URL_SAFE_NO_PAD.decode(segment).map_err(|_| AuthError::Malformed)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn reads_alg_and_kid_and_ignores_key_urls() {
        let header = read_header(
            &token(
                r#"{"alg":"RS256","kid":"k1","jku":"http://evil/jwks","x5u":"http://evil","jwk":{"kty":"oct"},"x5c":["AA"]}"#,
            ),
            8192,
        )
        .map(|(header, _)| header);
        assert_eq!(header, Ok(TokenHeader { algorithm: Algorithm::RS256, kid: Some("k1".into()) }));
    }

    #[test]
    fn refuses_none_crit_and_bad_shapes() {
        for alg in ["none", "None", "NONE", "nOnE", "NoNe"] {
            assert_eq!(
                read_header(&token(&format!(r#"{{"alg":"{alg}"}}"#)), 8192).err(),
                Some(AuthError::AlgorithmNotAccepted)
            );
        }
        assert_eq!(
            read_header(&token(r#"{"alg":"HS256","crit":["exp"],"exp":1}"#), 8192).err(),
            Some(AuthError::UnsupportedCritical)
        );
        assert_eq!(read_header(&token(r#"{"alg":"HS1"}"#), 8192).err(), Some(AuthError::AlgorithmNotAccepted));
        assert_eq!(read_header(&token(r#"{"alg":"HS256"}"#), 10).err(), Some(AuthError::TooLarge));
        for not_an_object in [r#"["RS256","k1"]"#, r#" ["HS256"]"#, r#""HS256""#, "null", ""] {
            assert_eq!(read_header(&token(not_an_object), 8192).err(), Some(AuthError::Malformed), "{not_an_object}");
        }
        assert!(read_header(&token(" \n{\"alg\":\"HS256\"}"), 8192).is_ok(), "whitespace before the object");
        for bad in ["", "a", "a.b", "a.b.c.d", "!!!.###.$$$", "e30.e30.e30", "\u{0}\u{1}.\u{2}.\u{3}"] {
            assert!(read_header(bad, 8192).is_err(), "{bad:?}");
        }
    }
}
