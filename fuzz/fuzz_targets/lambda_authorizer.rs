//! What a Lambda authorizer answers (a function's output, so outside input) as the emulator's
//! start-api reads it, and the IAM wildcard matcher against a regular expression
//! (`pattern\ntext`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    intercept_sam::fuzzing::lambda_authorizer_response(data);
});
