//! Limiter keys bounded in bytes: a store's memory is bounded by its key count times this.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// The longest key a store holds as it is; a longer one (a 30 KB path, a huge header) is held
/// as its first bytes and a digest of the whole.
pub(crate) const MAX_KEY_BYTES: usize = 128;

/// How much of a long key is kept readable in front of its digest.
const KEPT_PREFIX: usize = 64;

/// `key` itself when short enough, else its first bytes (cut at a character boundary), `#` and
/// 32 hex digits (128 bits) of its SHA-256: at most [`MAX_KEY_BYTES`], and two keys share a
/// bucket only if their digests collide.
pub(crate) fn bounded(key: &str) -> Cow<'_, str> {
    // A short key that looks like a digested one is digested too, so no key written by a
    // client can be another key's digested form.
    if key.len() <= MAX_KEY_BYTES && !looks_digested(key) {
        return Cow::Borrowed(key);
    }
    let mut cut = KEPT_PREFIX;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut bounded = String::with_capacity(KEPT_PREFIX + 33);
    bounded.push_str(&key[..cut]);
    bounded.push('#');
    for byte in &digest[..16] {
        bounded.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        bounded.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    Cow::Owned(bounded)
}

/// Whether `key` ends as a digested key does: `#` and 32 hex digits.
fn looks_digested(key: &str) -> bool {
    key.len() > 32
        && key.as_bytes()[key.len() - 33] == b'#'
        && key.as_bytes()[key.len() - 32..].iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_cut_and_digested() {
        assert_eq!(bounded("route:/orders"), "route:/orders");
        let exact = "k".repeat(MAX_KEY_BYTES);
        assert_eq!(bounded(&exact), exact);
        let long = format!("route:/{}", "a".repeat(30_000));
        let other = format!("route:/{}b", "a".repeat(29_999));
        let (a, b) = (bounded(&long), bounded(&other));
        assert!(a.len() <= MAX_KEY_BYTES && b.len() <= MAX_KEY_BYTES, "{a} {b}");
        assert_ne!(a, b, "keys that differ only past the kept prefix stay apart");
        assert!(a.starts_with("route:/aaaa"));
        let forged = format!("route:/{}", &a["route:/".len()..]);
        assert_eq!(forged, a.as_ref(), "a short key spelled as a's digested form");
        assert_ne!(bounded(&forged), a, "is digested in turn, so it does not share a's bucket");
        assert_eq!(bounded(&"é".repeat(40)), "é".repeat(40), "multi-byte ends are looked at as bytes");
        let wide = "é".repeat(100);
        assert!(bounded(&wide).len() <= MAX_KEY_BYTES, "cut at a character boundary");
    }
}
