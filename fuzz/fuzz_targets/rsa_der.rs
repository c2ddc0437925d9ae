//! The PKCS#1 `RSAPublicKey` DER reader that checks an RSA key's size and exponent at load.
#![no_main]

libfuzzer_sys::fuzz_target!(|der: &[u8]| intercept::fuzzing::rsa_der(der));
