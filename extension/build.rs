//! With the `startup-layout` feature (`intercept-layer build` turns it on), the binary is linked
//! with `layout/startup.ld`, which puts the code start-up runs ahead of the rest: the kernel maps
//! code around each page fault, so start-up code spread over the whole binary kept most of it
//! resident (issue 24). The script only adds an output section before `.text` (`INSERT BEFORE`),
//! which lld (zig's linker) and GNU ld read.
//!
//! That link also strips the binary, where the layer build would otherwise ask cargo's profile
//! to, so that `layout/generate.py` can build with the same settings, and so the same symbol
//! names (cargo's `strip` setting changes every symbol's hash), but keep the symbols:
//! `INTERCEPT_LAYOUT_PROFILING=without-layout` links without the script (what it profiles),
//! `with-layout` with it (what `--check` reads).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=INTERCEPT_LAYOUT_PROFILING");
    if std::env::var_os("CARGO_FEATURE_STARTUP_LAYOUT").is_none() {
        return;
    }
    let profiling = std::env::var("INTERCEPT_LAYOUT_PROFILING").ok();
    if profiling.as_deref() != Some("without-layout") {
        let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("layout")
            .join("startup.ld");
        println!("cargo::rerun-if-changed={}", script.display());
        println!("cargo::rustc-link-arg-bin=intercept-extension=-Wl,-T,{}", script.display());
    }
    if profiling.is_none() {
        println!("cargo::rustc-link-arg-bin=intercept-extension=-Wl,--strip-all");
    }
}
