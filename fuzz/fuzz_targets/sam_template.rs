//! The emulator's SAM template loader: YAML, intrinsics, globals, and the names and paths that
//! become folders of its build root.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

/// A template folder with the code folders the seed templates name, so their paths resolve.
fn template_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("intercept-fuzz-template-{}", std::process::id()));
        for folder in ["fn", "layer", "src", "hello", "http-api", "python", "python-layer", "sqs-consumer", "writes"] {
            std::fs::create_dir_all(dir.join(folder)).expect("a scratch folder for the template");
        }
        dir
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        intercept_sam::fuzzing::load_template(source, template_dir());
    }
});
