//! start-api's events and answers (`content-type\naccept\nbytes`): a request body reaches the
//! event intact (base64 or text), and a function's answer (outside input) is read without
//! panicking, a 1.0 answer without `statusCode` as a 502.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    intercept_sam::fuzzing::api_payloads(data);
});
