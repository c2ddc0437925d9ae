//! A chunk of a function's streamed response (outside input) as the emulator's Runtime API
//! passes it on, and the HTTP integration prelude a function URL splits off.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    intercept_sam::fuzzing::streamed_response(data);
});
