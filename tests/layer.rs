//! The layer as `intercept-layer build` makes it for Lambda (issues 18 and 24): its extension
//! loads on glibc 2.26 (Amazon Linux 2 runtimes), stays within 8 MB stripped so the next
//! capability cannot grow it silently, and, unzipped as Lambda does, registers with the
//! emulator's Extensions API beside a real `lambda_runtime` function.
//!
//! The build is the real one (`cargo zigbuild`, the `layer` profile): `scripts/test.sh` installs
//! cargo-zigbuild and zig and builds the layer before the tests, so this finds it fresh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use intercept_sam::sandbox::{Environment, FunctionSpec, ShutdownReason};
use intercept_sam::template::{BuildMethod, BuildSpec};
use intercept_sam::{CargoProfile, build_rust};
use intercept_tests::{Scratch, response, workspace};

/// The stripped extension's ceiling (issue 24): the peer's (`opentelemetry-lambda-extension`)
/// is 8.3 MB.
const MAX_EXTENSION_BYTES: u64 = 8_000_000;
/// The oldest glibc of a runtime the layer declares compatible (Amazon Linux 2).
const MAX_GLIBC: (u32, u32) = (2, 26);

/// Runs `intercept-layer build --out <scratch>/intercept-layer`; returns the zip.
fn build_layer(scratch: &Path) -> PathBuf {
    let out = scratch.join("intercept-layer");
    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "-p", "intercept-layer", "--", "build", "--out"])
        .arg(&out)
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "intercept-layer build failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let zip = out.with_extension("zip");
    assert!(zip.is_file(), "intercept-layer build wrote no {}", zip.display());
    zip
}

/// The highest `GLIBC_x.y` version the binary's dynamic symbols need.
fn max_glibc(binary: &Path) -> Option<(u32, u32)> {
    let output = Command::new("objdump").arg("-T").arg(binary).output().expect("objdump (binutils) runs");
    assert!(output.status.success(), "objdump -T {}: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    glibc_versions(&String::from_utf8_lossy(&output.stdout)).max()
}

/// The size of a section of the binary, from `objdump -h`'s table (`Idx Name Size ...`).
fn section_size(binary: &Path, name: &str) -> Option<u64> {
    let output = Command::new("objdump").arg("-h").arg(binary).output().expect("objdump (binutils) runs");
    assert!(output.status.success(), "objdump -h {}: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        (fields.next() == Some(name)).then(|| fields.next().and_then(|size| u64::from_str_radix(size, 16).ok()))?
    })
}

fn glibc_versions(objdump: &str) -> impl Iterator<Item = (u32, u32)> + '_ {
    objdump.split("GLIBC_").skip(1).filter_map(|rest| {
        let version: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let mut parts = version.split('.').map(str::parse::<u32>);
        Some((parts.next()?.ok()?, parts.next().and_then(Result::ok).unwrap_or(0)))
    })
}

#[test]
fn glibc_versions_are_read_as_numbers_not_text() {
    let sample =
        "0000 DF *UND* 0000 (GLIBC_2.3.4) __x\n0000 DF *UND* 0000 (GLIBC_2.34) y\n0000 DF *UND* 0000 GLIBC_2.9 z";
    assert_eq!(glibc_versions(sample).max(), Some((2, 34)), "2.34 is above 2.9 and 2.3.4");
    assert!(glibc_versions(sample).max() > Some(MAX_GLIBC), "a 2.34 binary fails the check");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_built_layer_loads_on_amazon_linux_2_fits_8_mb_and_registers() {
    let scratch = Scratch::new("layer-build");
    let zip = build_layer(scratch.path());
    let opt = intercept_layer::unzip(&zip, &scratch.path().join("opt")).expect("the layer zip unzips");
    let extension = opt.join("extensions").join(intercept_layer::EXTENSION_NAME);
    assert!(opt.join(intercept_layer::WRAPPER_NAME).is_file(), "the layer holds the exec wrapper");

    let bytes = std::fs::metadata(&extension).expect("the layer holds the extension").len();
    assert!(
        bytes <= MAX_EXTENSION_BYTES,
        "the layer's extension is {bytes} bytes, over the {MAX_EXTENSION_BYTES} ceiling (issue 24): measure what grew \
         it (cargo bloat --profile layer -p intercept-extension --crates) before raising this"
    );
    let glibc = max_glibc(&extension).expect("the extension links glibc dynamically");
    assert!(
        glibc <= MAX_GLIBC,
        "the layer's extension needs GLIBC_{}.{}, newer than Amazon Linux 2's {}.{}: it would not start there",
        glibc.0,
        glibc.1,
        MAX_GLIBC.0,
        MAX_GLIBC.1
    );

    // Issue 24's idle memory rests on the start-up layout (extension/layout/startup.ld): the
    // code a start runs gathered in one section ahead of the rest. A layer linked without it
    // would still work and fit, and quietly hold most of its code resident again.
    let start_up = section_size(&extension, ".text.start_up");
    assert!(
        start_up.is_some_and(|size| size >= 64 * 1024),
        "the layer's extension has no start-up section of code ({start_up:?} bytes): intercept-layer build must link it \
         with extension/layout/startup.ld (the startup-layout feature); regenerate the script with \
         extension/layout/generate.py if the names no longer match"
    );

    // Lambda's view: the unzipped layer at /opt beside a real lambda_runtime function. The
    // environment starts only once every extension in /opt/extensions has registered and
    // asked for its first event.
    let spec = BuildSpec { method: BuildMethod::RustCargoLambda, binary: Some("fixture-function".to_owned()) };
    let function = build_rust(
        "fixture-function",
        &workspace().join("tests/fixtures/lifecycle"),
        &spec,
        &CargoProfile("dev".to_owned()),
    )
    .expect("fixture builds");
    std::fs::create_dir_all(scratch.path().join("code")).expect("code folder");
    let mut function = FunctionSpec::new("Layered", "provided.al2023", function, scratch.path().join("code"));
    function.layer_dirs = vec![opt];
    function.timeout = Duration::from_secs(5);
    let listen = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    function.environment.insert("INTERCEPT_OTLP_LISTEN".to_owned(), listen.to_string());
    let mut env =
        Environment::start(function).await.unwrap_or_else(|e| panic!("the layer's extension did not register: {e:?}"));
    let invoked = env.invoke(Bytes::from_static(br#"{"action":"echo","hello":"layer"}"#)).await;
    let body = response(&invoked);
    assert_eq!(body["echo"]["hello"], "layer", "{body}");
    assert_eq!(body["extensions"], 1, "the zip's extensions/ is at /opt: {body}");
    env.shutdown(ShutdownReason::Spindown).await;
}
