//! OTLP metrics and spans as a function may send them, through the EMF and X-Ray exporters:
//! their output stays valid JSON within the formats' limits.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    intercept_extension::fuzzing::native_exporters(data);
});
