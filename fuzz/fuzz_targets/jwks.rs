//! JWKS documents as a JWKS URL answers them.
#![no_main]

libfuzzer_sys::fuzz_target!(|document: &[u8]| intercept::fuzzing::jwks(document));
