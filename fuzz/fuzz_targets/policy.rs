//! The policy file parser, validation, resolution and error rendering.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        intercept::fuzzing::policy(text);
    }
});
