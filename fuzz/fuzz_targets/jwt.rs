//! A token's header and claims from attacker bytes: the input as a bearer token, and its two
//! halves (split at the first newline) as the header and claims of a token signed with the
//! verifier's HMAC key, so the claim checks run on arbitrary JSON too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = intercept::fuzzing::verify_token(token);
    }
    let (header, claims) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{}"[..]),
    };
    intercept::fuzzing::verify_signed(header, claims);
});
