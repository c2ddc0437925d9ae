//! Names and paths from a template never take `intercept-sam` outside its build root: a template
//! whose logical ids are not CloudFormation's letters and digits is refused before anything is
//! built, extracted or removed.

use std::path::Path;
use std::time::Duration;

use intercept_tests::{Scratch, run_sam};

/// A function using a zipped layer: the layer path that extracts into `.aws-sam/intercept/<id>`
/// after removing whatever was there.
fn layer_template(layer_id: &str) -> String {
    format!(
        r#"Resources:
  '{layer_id}':
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer.zip
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: bootstrap
      Runtime: provided.al2023
      Layers: [!Ref '{layer_id}']
"#
    )
}

fn function_template(function_id: &str) -> String {
    format!(
        r#"Resources:
  '{function_id}':
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: bootstrap
      Runtime: provided.al2023
"#
    )
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        found.push(path.display().to_string());
        if path.is_dir() {
            found.extend(files_under(&path));
        }
    }
    found.sort();
    found
}

#[test]
fn bad_logical_ids_are_refused_and_nothing_outside_the_build_root_changes() {
    let scratch = Scratch::new("template-paths");
    // <scratch>/victim is where `.aws-sam/intercept/../../../victim` lands for a template in <scratch>/app.
    let victim = scratch.path().join("victim");
    std::fs::create_dir_all(&victim).expect("canary");
    std::fs::write(victim.join("keep.txt"), "canary").expect("canary");
    let app = scratch.path().join("app");
    std::fs::create_dir_all(app.join("fn")).expect("code folder");
    std::fs::write(app.join("fn/bootstrap"), "#!/bin/sh\nexit 1\n").expect("bootstrap");
    let content = scratch.path().join("layer-content");
    std::fs::create_dir_all(&content).expect("layer content");
    std::fs::write(content.join("planted"), "from the layer").expect("layer file");
    intercept_layer::zip_dir(&content, &app.join("layer.zip")).expect("zip");
    let before = files_under(scratch.path());

    let cases = [
        (layer_template("../../../victim"), "`../../../victim` is not a valid logical id"),
        (layer_template("..\\victim"), "`..\\\\victim` is not a valid logical id"),
        (function_template(".."), "`..` is not a valid logical id"),
        (function_template("../Hello"), "`../Hello` is not a valid logical id"),
        (function_template("Hello/World"), "`Hello/World` is not a valid logical id"),
        (function_template(""), "a resource has an empty logical id"),
        (function_template("Héllo"), "`Héllo` is not a valid logical id"),
    ];
    let template = app.join("template.yaml");
    for (yaml, expected) in &cases {
        std::fs::write(&template, yaml).expect("write template");
        let output = run_sam(
            &["local", "invoke", "-t", template.to_str().expect("utf-8 path"), "--cargo-profile", "dev"],
            Duration::from_secs(60),
        );
        assert_eq!(output.code, Some(1), "{expected}: {output:#?}");
        let stderr = output.stderr.trim();
        assert_eq!(stderr.lines().count(), 1, "one line for {expected}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(&format!("Resources: {expected}")), "{stderr}");
        assert!(
            stderr.contains("CloudFormation logical ids are 1 to 255 ASCII letters and digits (A-Z, a-z, 0-9)"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(victim.join("keep.txt")).ok().as_deref(), Some("canary"), "{expected}");
        let after: Vec<String> =
            files_under(scratch.path()).into_iter().filter(|f| !f.ends_with("template.yaml")).collect();
        let before: Vec<&String> = before.iter().collect();
        assert_eq!(after.iter().collect::<Vec<_>>(), before, "{expected}: files appeared or went away");
    }
}
