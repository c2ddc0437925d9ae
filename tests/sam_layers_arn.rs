//! A layer given by ARN (`tests/fixtures/sam_layers_arn`), published with boto3 into moto's
//! Lambda and downloaded by `intercept-sam` with a signed `GetLayerVersion` (the endpoint from
//! `AWS_ENDPOINT_URL_LAMBDA`) into `--layer-cache-basedir`, as SAM CLI does; then served from the
//! cache with moto gone. moto answers `Content.Location` with `s3://` where Lambda gives a
//! presigned S3 URL: `moto_layers.py` (beside the template) fills it with the URL of the S3
//! object the layer was published from, on the same moto server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use intercept_tests::{MotoServer, Output, Scratch, assert_sam_validates, run_sam_with, venv_python, workspace};
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/sam_layers_arn";
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:layer:shared-utils:1";

/// moto's server (with `moto_layers.py`'s Location), killed on drop.
struct Moto(MotoServer);

impl Moto {
    fn start() -> Moto {
        let mut command = Command::new(venv_python());
        command.arg(workspace().join(FIXTURE).join("moto_layers.py"));
        Moto(MotoServer::spawn(command))
    }

    /// Publishes the fixture's layer content (zipped) as boto3 does, from an S3 object;
    /// returns the new version's ARN.
    fn publish_layer(&self, scratch: &Scratch) -> String {
        let zip = intercept_layer::zip_dir(
            &workspace().join(FIXTURE).join("layer_content"),
            &scratch.path().join("shared-utils.zip"),
        )
        .expect("zip");
        let script = r#"
import sys, boto3
endpoint, zip_path = sys.argv[1], sys.argv[2]
kwargs = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kwargs)
s3.create_bucket(Bucket="layers")
s3.upload_file(zip_path, "layers", "shared-utils.zip")
answer = boto3.client("lambda", **kwargs).publish_layer_version(
    LayerName="shared-utils", Content={"S3Bucket": "layers", "S3Key": "shared-utils.zip"},
    CompatibleRuntimes=["python3.12"])
print(answer["LayerVersionArn"])
"#;
        let output =
            Command::new(venv_python()).args(["-c", script, &self.0.endpoint]).arg(&zip).output().expect("python runs");
        assert!(output.status.success(), "publishing: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

fn invoke(cache: &Path, endpoint: &str, extra: &[&str]) -> Output {
    let template = workspace().join(FIXTURE).join("template.yaml");
    let mut args = vec![
        "local",
        "invoke",
        "Prices",
        "-t",
        template.to_str().expect("utf-8"),
        "--layer-cache-basedir",
        cache.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let env = [
        ("AWS_ENDPOINT_URL_LAMBDA", endpoint),
        ("AWS_ENDPOINT_URL", ""),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_PROFILE", ""),
    ];
    run_sam_with(&args, &env, Duration::from_secs(300))
}

fn body(output: &Output) -> Value {
    assert_eq!(output.code, Some(0), "{output:#?}");
    let response = output.json_lines().pop().unwrap_or_else(|| panic!("no response: {output:#?}"));
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

#[test]
fn the_fixture_is_a_valid_sam_template() {
    assert_sam_validates(&format!("{FIXTURE}/template.yaml"));
}

#[test]
fn a_layer_given_by_arn_is_downloaded_once_into_the_cache_and_served_from_it() {
    let scratch = Scratch::new("sam-layers-arn");
    let cache = scratch.path().join("layers-pkg");
    let moto = Moto::start();
    assert_eq!(moto.publish_layer(&scratch), ARN, "the template's default ARN is moto's first version");

    let answer = body(&invoke(&cache, &moto.0.endpoint, &[]));
    assert_eq!(answer["with_vat"], 0);
    let event = scratch.path().join("event.json");
    std::fs::write(&event, r#"{"cents": 1250}"#).expect("event");
    let event = event.to_str().expect("utf-8");
    let answer = body(&invoke(&cache, &moto.0.endpoint, &["-e", event]));
    assert_eq!(answer["with_vat"], 1500, "the layer's with_vat adds 20%");
    assert_eq!(answer["from"], "shared_utils");

    // Named as SAM CLI names it: <Name>-<Version>-<the ARN's sha256, 10 hex digits>.
    let folders: Vec<String> = std::fs::read_dir(&cache)
        .expect("the cache exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(folders[0].starts_with("shared-utils-1-") && folders[0].len() == "shared-utils-1-".len() + 10);
    assert!(cache.join(&folders[0]).join("python/shared_utils.py").is_file());

    // A version Lambda does not have is named as not found.
    let missing = invoke(
        &cache,
        &moto.0.endpoint,
        &["--parameter-overrides", "SharedUtilsLayerArn=arn:aws:lambda:us-east-1:123456789012:layer:shared-utils:9"],
    );
    assert_ne!(missing.code, Some(0), "{missing:#?}");
    assert!(
        missing.stderr.contains("Resources.Prices.Properties.Layers: layer arn:aws:lambda:us-east-1:123456789012:layer:shared-utils:9: was not found"),
        "{}",
        missing.stderr
    );

    // With moto gone, the cached layer is used as it is.
    drop(moto);
    let answer = body(&invoke(&cache, "http://127.0.0.1:9", &["-e", event]));
    assert_eq!(answer["with_vat"], 1500);
}

#[test]
fn without_credentials_the_download_says_what_it_needs() {
    let scratch = Scratch::new("sam-layers-arn-no-credentials");
    let template = workspace().join(FIXTURE).join("template.yaml");
    let home = scratch.path().to_str().expect("utf-8");
    let args = ["local", "invoke", "Prices", "-t", template.to_str().expect("utf-8")];
    let env = [
        ("HOME", home),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_PROFILE", ""),
        ("AWS_SHARED_CREDENTIALS_FILE", ""),
        ("AWS_CONFIG_FILE", ""),
    ];
    let output = run_sam_with(&args, &env, Duration::from_secs(120));
    assert_ne!(output.code, Some(0), "{output:#?}");
    assert!(output.stderr.contains(&format!("layer {ARN}: layers given by ARN")), "{}", output.stderr);
    assert!(output.stderr.contains("needs AWS credentials"), "{}", output.stderr);
    assert!(
        !scratch.path().join(".aws-sam/layers-pkg").exists()
            || std::fs::read_dir(scratch.path().join(".aws-sam/layers-pkg")).expect("dir").next().is_none()
    );
}
