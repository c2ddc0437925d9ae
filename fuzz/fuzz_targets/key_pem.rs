//! Key material as `INTERCEPT_JWT_SECRET` gives it: PEM public keys (RSA, EC, Ed25519) or an
//! HMAC secret.
#![no_main]

libfuzzer_sys::fuzz_target!(|material: &[u8]| intercept::fuzzing::key_material(material));
