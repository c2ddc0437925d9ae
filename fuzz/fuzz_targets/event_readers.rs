//! The event readers (one-pass scanner, serde, lenient markers) agree on every JSON event and
//! never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|event: &[u8]| intercept::fuzzing::event_readers(event));
