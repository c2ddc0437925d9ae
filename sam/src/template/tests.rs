//! Template model tests over templates written the way projects write them.

use std::fs;

use super::*;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("intercept-sam-template-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("fn")).expect("scratch");
        fs::create_dir_all(dir.join("layer")).expect("scratch");
        Scratch(dir)
    }

    fn load(&self, yaml: &str, overrides: &[(&str, &str)]) -> Result<Template, TemplateError> {
        let path = self.0.join("template.yaml");
        fs::write(&path, yaml).expect("write template");
        let overrides = overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Template::load(&path, &LoadOptions::default().with_parameter_overrides(overrides))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: global
    Layers: [!Ref Shared]
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer
    Metadata:
      BuildMethod: rust-cargolambda
  Api:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: api
    Properties:
      CodeUri: fn
      Handler: bootstrap
      Runtime: provided.al2023
      MemorySize: !If [IsProd, 1024, 512]
      Environment:
        Variables:
          SHARED: own
          NAME: !Sub '${AWS::StackName}-${Stage}'
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub 'orders-${Stage}'
"#;

#[test]
fn globals_parameters_conditions_and_layers() {
    let scratch = Scratch::new("full");
    let template = scratch.load(TEMPLATE, &[]).expect("loads");
    let function = template.function(None).expect("one function");
    assert_eq!(function.logical_id, "Api");
    assert_eq!(function.timeout, Duration::from_secs(10));
    assert_eq!(function.memory_mb, 512);
    assert_eq!(function.environment["STAGE"], "dev");
    assert_eq!(function.environment["SHARED"], "own", "the function's own value wins");
    assert_eq!(function.environment["NAME"], "local-dev", "SAM CLI's local stack name");
    assert_eq!(function.layers, ["Shared"]);
    assert_eq!(function.build.as_ref().and_then(|b| b.binary.as_deref()), Some("api"));
    assert_eq!(template.layers.len(), 1);
    assert!(template.layers[0].content_uri.ends_with("layer"));

    let prod = scratch.load(TEMPLATE, &[("Stage", "prod")]).expect("loads");
    assert_eq!(prod.functions[0].memory_mb, 1024);
    assert_eq!(prod.functions[0].environment["STAGE"], "prod");
}

#[test]
fn bad_templates_name_file_position_and_property() {
    let scratch = Scratch::new("bad");
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("Resources: [\n", &[], "not valid YAML"),
        ("Transform: x\n", &[], "has no Resources section"),
        (TEMPLATE, &[("Stage", "qa")], "Parameters.Stage: `qa` is not one of its AllowedValues"),
        (TEMPLATE, &[("Nope", "1")], "`Nope` is not a parameter of this template"),
        (
            &TEMPLATE.replace("CodeUri: fn", "CodeUri: missing"),
            &[],
            "Resources.Api.Properties.CodeUri: `missing` does not exist",
        ),
        (
            &TEMPLATE.replace("provided.al2023", "java8"),
            &[],
            "Resources.Api.Properties.Runtime: `java8` is not supported",
        ),
        (&TEMPLATE.replace("!Ref Shared", "!Ref Nowhere"), &[], "!Ref Nowhere: no parameter or resource of that name"),
        (
            &TEMPLATE.replace("Timeout: 10", "Timeout: ten"),
            &[],
            "Resources.Api.Properties.Timeout: `\"ten\"` is not a whole number",
        ),
    ];
    for (yaml, overrides, expected) in cases {
        let error = scratch.load(yaml, overrides).expect_err(expected);
        let shown = error.to_string();
        assert!(shown.starts_with(&scratch.0.join("template.yaml").display().to_string()), "{shown}");
        assert!(shown.contains(expected), "expected `{expected}` in `{shown}`");
    }
    let error = scratch.load(TEMPLATE, &[]).expect("loads").function(Some("Missing")).expect_err("no such function");
    assert!(error.contains("no function `Missing`") && error.contains("it has: Api"), "{error}");
}

#[test]
fn logical_ids_that_are_not_alphanumeric_are_refused_naming_the_resource() {
    let scratch = Scratch::new("ids");
    let layer = |id: &str| {
        format!(
            "Resources:\n  '{id}':\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n      ContentUri: layer\n  \
             Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn\n      \
             Runtime: provided.al2023\n      Layers: [!Ref '{id}']\n"
        )
    };
    let function = |id: &str| {
        format!(
            "Resources:\n  '{id}':\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: fn\n      \
             Runtime: provided.al2023\n"
        )
    };
    let rule = "CloudFormation logical ids are 1 to 255 ASCII letters and digits (A-Z, a-z, 0-9)";
    for (yaml, named) in [
        (layer("../../../victim"), "`../../../victim` is not a valid logical id"),
        (layer("Shared/x"), "`Shared/x` is not a valid logical id"),
        (function(".."), "`..` is not a valid logical id"),
        (function("a/b"), "`a/b` is not a valid logical id"),
        (function("/etc"), "`/etc` is not a valid logical id"),
        (function(""), "a resource has an empty logical id"),
        (function("Héllo"), "`Héllo` is not a valid logical id"),
        (function("Hello-World"), "`Hello-World` is not a valid logical id"),
        (function(&"A".repeat(256)), &format!("the logical id `{}…` is 256 bytes long", "A".repeat(32))),
    ] {
        let error = scratch.load(&yaml, &[]).expect_err(named).to_string();
        assert!(error.contains(&format!("Resources: {named}")), "expected `{named}` in `{error}`");
        assert!(error.contains(rule), "{error}");
    }
    // Resources the emulator only reads are held to the same rule: CloudFormation refuses the template.
    let table = format!("{}  'my.table':\n    Type: AWS::DynamoDB::Table\n", function("Hello"));
    assert!(scratch.load(&table, &[]).expect_err("table").to_string().contains("`my.table` is not a valid logical id"));
    assert!(scratch.load(&function(&"A".repeat(255)), &[]).is_ok(), "255 letters is within the limit");
}

#[test]
fn a_build_binary_must_be_a_cargo_target_name() {
    let scratch = Scratch::new("binary");
    for binary in ["../../bin/sh", "--release", "a b"] {
        let yaml = TEMPLATE.replace("Binary: api", &format!("Binary: '{binary}'"));
        let error = scratch.load(&yaml, &[]).expect_err(binary).to_string();
        assert!(
            error.contains("Resources.Api.Metadata.BuildProperties.Binary")
                && error.contains("not a cargo binary name"),
            "{error}"
        );
    }
}

#[test]
fn build_methods_are_read_and_an_unknown_one_is_named() {
    let scratch = Scratch::new("methods");
    let template = scratch
        .load(&TEMPLATE.replace("BuildMethod: rust-cargolambda\n  Api", "BuildMethod: makefile\n  Api"), &[])
        .expect("loads");
    assert_eq!(template.layers[0].build.as_ref().map(|b| b.method), Some(BuildMethod::Makefile));
    assert_eq!(template.functions[0].build.as_ref().map(|b| b.method), Some(BuildMethod::RustCargoLambda));
    for (name, method) in [
        ("esbuild", BuildMethod::Esbuild),
        ("python3.12", BuildMethod::PythonPip),
        ("nodejs22.x", BuildMethod::NodejsNpm),
    ] {
        let template = scratch.load(&TEMPLATE.replacen("rust-cargolambda", name, 1), &[]).expect(name);
        assert_eq!(template.layers[0].build.as_ref().map(|b| b.method), Some(method), "{name}");
    }
    let error = scratch.load(&TEMPLATE.replacen("rust-cargolambda", "dotnet8", 1), &[]).expect_err("dotnet8");
    assert!(
        error.to_string().contains(
            "Resources.Shared.Metadata.BuildMethod: `dotnet8` is not supported; expected rust-cargolambda, makefile, esbuild"
        ),
        "{error}"
    );
    // Python and Node.js functions with no BuildMethod are built as sam build builds them.
    let defaults = TEMPLATE.replacen(
        "    Metadata:\n      BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: api\n",
        "",
        1,
    );
    for (runtime, method) in [("python3.12", BuildMethod::PythonPip), ("nodejs22.x", BuildMethod::NodejsNpm)] {
        let template = scratch.load(&defaults.replace("provided.al2023", runtime), &[]).expect(runtime);
        assert_eq!(template.functions[0].build.as_ref().map(|b| b.method), Some(method), "{runtime}");
    }
}

/// `sam build` writes its template with each resource's Metadata kept (BuildMethod included) and
/// `SamResourceId` added, CodeUri/ContentUri pointing at what it built: nothing is built again,
/// whatever the method (one this emulator cannot build included).
#[test]
fn resources_of_a_template_sam_build_wrote_are_used_as_built() {
    let scratch = Scratch::new("built");
    let built = TEMPLATE
        .replace("BuildMethod: rust-cargolambda\n  Api", "BuildMethod: esbuild\n      SamResourceId: Shared\n  Api")
        .replace("Binary: api", "Binary: api\n      SamResourceId: Api");
    let template = scratch.load(&built, &[]).expect("loads");
    assert_eq!(template.layers[0].build, None);
    assert_eq!(template.functions[0].build, None);
    // Without the marker the same template is one to build.
    assert!(scratch.load(TEMPLATE, &[]).expect("loads").functions[0].build.is_some());
}

/// A template written the way projects write them: conditions with `AWS::NoValue`, a shared
/// stack's exports, a parameter only a deployment gives, `LoggingConfig` in Globals.
const REAL_PROJECT: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  SharedStackName: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: python3.12
    LoggingConfig:
      LogFormat: JSON
      ApplicationLogLevel: DEBUG
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      FunctionName: !If [IsProd, orders-api, !Ref AWS::NoValue]
      Timeout: !If [IsProd, 30, !Ref AWS::NoValue]
      Layers:
        - !If [IsProd, !Ref AWS::NoValue, !Ref Shared]
        - !ImportValue shared-layer-arn
      Environment:
        Variables:
          TABLE: !ImportValue {"Fn::Sub": "${SharedStackName}-Table"}
          DEBUG: !If [IsProd, !Ref AWS::NoValue, "1"]
          PROD_ONLY: !If [IsProd, "x", !Ref AWS::NoValue]
          STACK_ID: !Ref AWS::StackId
          ROLE: !GetAtt ApiRole.Arn
"#;

#[test]
fn what_cannot_be_resolved_is_blank_with_one_warning_each_and_no_value_removes() {
    let scratch = Scratch::new("real-project");
    let path = scratch.0.join("template.yaml");
    fs::write(&path, REAL_PROJECT).expect("write template");
    let options = LoadOptions::default().with_region("eu-west-1");
    let template = Template::load(&path, &options).expect("never an abort");
    let function = template.function(None).expect("one function");
    assert_eq!(function.timeout, Duration::from_secs(3), "AWS::NoValue removes Timeout: Lambda's default");
    assert_eq!(function.function_name, None);
    assert_eq!(function.layers, ["Shared"], "the blank import is dropped, warned about");
    let variables: Vec<(&str, &str)> = function.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        variables,
        [
            ("DEBUG", "1"),
            ("ROLE", "arn:aws:iam::123456789012:role/ApiRole"),
            (
                "STACK_ID",
                "arn:aws:cloudformation:eu-west-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123"
            ),
            ("TABLE", ""),
        ]
    );
    assert_eq!(
        function.logging,
        LoggingConfig {
            log_format: Some("JSON".to_owned()),
            application_log_level: Some("DEBUG".to_owned()),
            log_group: None
        }
    );
    let file = path.display().to_string();
    assert_eq!(
        template.warnings,
        [
            format!(
                "{file}:28:11: !ImportValue shared-layer-arn: another stack's export cannot be read locally, so it is blank (\"\")"
            ),
            format!(
                "{file}:31:18: parameter SharedStackName has no Default and no --parameter-overrides value, so it is blank (\"\")"
            ),
            format!(
                "{file}:31:18: !ImportValue -Table: another stack's export cannot be read locally, so it is blank (\"\")"
            ),
        ]
    );

    let prod = scratch.load(REAL_PROJECT, &[("Stage", "prod"), ("SharedStackName", "shared")]).expect("loads");
    let function = prod.function(None).expect("one function");
    assert_eq!((function.timeout, function.function_name.as_deref()), (Duration::from_secs(30), Some("orders-api")));
    assert!(function.layers.is_empty(), "{:?}", function.layers);
    assert_eq!(function.environment.get("PROD_ONLY").map(String::as_str), Some("x"));
    assert!(!function.environment.contains_key("DEBUG"));
    assert!(
        prod.warnings[1].ends_with(
            "!ImportValue shared-Table: another stack's export cannot be read locally, so it is blank (\"\")"
        ),
        "{:?}",
        prod.warnings
    );

    let bad = REAL_PROJECT.replace("LogFormat: JSON", "LogFormat: Json");
    let error = scratch.load(&bad, &[]).expect_err("bad LogFormat").to_string();
    assert!(
        error.contains("Resources.Api.Properties.LoggingConfig.LogFormat: `Json` is not one of Text, JSON"),
        "{error}"
    );
}

#[test]
fn function_url_invoke_modes_are_read_and_an_unknown_one_is_named() {
    let scratch = Scratch::new("invoke-mode");
    let with_url =
        |config: &str| TEMPLATE.replace("      Handler: bootstrap\n", &format!("      Handler: bootstrap\n{config}"));
    let mode = |config: &str| scratch.load(&with_url(config), &[]).map(|t| t.functions[0].function_url);
    assert_eq!(mode("").expect("loads"), None);
    assert_eq!(mode("      FunctionUrlConfig: {AuthType: NONE}\n").expect("loads"), Some(InvokeMode::Buffered));
    assert_eq!(
        mode("      FunctionUrlConfig: {AuthType: NONE, InvokeMode: RESPONSE_STREAM}\n").expect("loads"),
        Some(InvokeMode::ResponseStream)
    );
    let error = mode("      FunctionUrlConfig: {AuthType: NONE, InvokeMode: STREAM}\n").expect_err("unknown mode");
    assert!(
        error.to_string().contains(
            "Resources.Api.Properties.FunctionUrlConfig.InvokeMode: `STREAM` is not one of BUFFERED, RESPONSE_STREAM"
        ),
        "{error}"
    );
}

/// CloudFormation's own Lambda types: `Code` as a local path or inline `ZipFile`, `Content` as a
/// local path; `Globals` do not apply to them; S3 code is named as what cannot run.
#[test]
fn lambda_functions_and_layer_versions_of_cloudformation() {
    let scratch = Scratch::new("lambda-types");
    let template = scratch
        .load(
            "Globals:\n  Function:\n    Timeout: 30\nResources:\n  Lib:\n    Type: AWS::Lambda::LayerVersion\n    \
             Properties:\n      Content: layer\n  Local:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
             Runtime: python3.12\n      Handler: app.handler\n      Code: fn\n      MemorySize: 512\n      \
             Layers: [!Ref Lib]\n  Inline:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
             Runtime: nodejs22.x\n      Handler: index.handler\n      Code:\n        ZipFile: 'exports.handler = async () => 1;'\n",
            &[],
        )
        .expect("loads");
    let local = template.function(Some("Local")).expect("Local");
    assert_eq!(local.code_uri, scratch.0.join("fn").canonicalize().expect("canonical"));
    assert_eq!((local.memory_mb, local.timeout), (512, std::time::Duration::from_secs(3)), "no Globals");
    assert_eq!(local.layers, ["Lib"]);
    assert_eq!(local.build.as_ref().map(|b| b.method), Some(BuildMethod::PythonPip), "sam build builds it");
    assert_eq!(template.layers[0].content_uri, scratch.0.join("layer").canonicalize().expect("canonical"));
    let inline = template.function(Some("Inline")).expect("Inline");
    assert_eq!(inline.inline_code.as_deref(), Some("exports.handler = async () => 1;"));
    assert_eq!(inline.build, None);
    assert_eq!(inline_file_name(&inline.runtime), "index.js");
}

/// Code in S3 or a container image and layer content in S3 cannot run locally: as SAM CLI does,
/// each such resource (and a function using such a layer) is left out with one warning naming
/// it and why, the rest of the template runs, and invoking one by name says why it cannot.
#[test]
fn lambda_resources_in_s3_or_images_are_left_out_with_a_warning() {
    let scratch = Scratch::new("lambda-s3");
    let yaml = "Resources:\n  Local:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      \
                Handler: app.handler\n      Code: fn\n  InS3:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
                Runtime: python3.12\n      Handler: a.b\n      Code: {S3Bucket: b, S3Key: k}\n  Image:\n    \
                Type: AWS::Lambda::Function\n    Properties:\n      PackageType: Image\n      \
                Code: {ImageUri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest}\n  S3Layer:\n    \
                Type: AWS::Lambda::LayerVersion\n    Properties:\n      Content: {S3Bucket: b, S3Key: layer.zip}\n  \
                OnS3Layer:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      \
                Handler: app.handler\n      Code: fn\n      Layers: [!Ref S3Layer]\n";
    let template = scratch.load(yaml, &[]).expect("the template loads");
    let ids: Vec<&str> = template.functions.iter().map(|f| f.logical_id.as_str()).collect();
    assert_eq!(ids, ["Local"], "only the local function runs");
    assert!(template.layers.is_empty());
    assert!(template.function(Some("Local")).is_ok());
    for (id, why) in [
        ("InS3", "its Code is in S3 (S3Bucket/S3Key)"),
        ("Image", "its Code is a container image (ImageUri)"),
        ("S3Layer", "its Content is in S3 (S3Bucket/S3Key)"),
        ("OnS3Layer", "its layer S3Layer is left out"),
    ] {
        let warnings: Vec<&String> =
            template.warnings.iter().filter(|w| w.contains(&format!("Resources.{id}:"))).collect();
        assert_eq!(warnings.len(), 1, "one warning for {id}: {:?}", template.warnings);
        assert!(warnings[0].contains(why) && warnings[0].contains("cannot run locally"), "{}", warnings[0]);
        assert!(warnings[0].starts_with(&scratch.0.join("template.yaml").display().to_string()), "{}", warnings[0]);
    }
    for (id, why) in [("InS3", "is in S3"), ("Image", "needs Docker"), ("OnS3Layer", "its layer S3Layer")] {
        let error = template.function(Some(id)).expect_err(id);
        assert!(
            error.contains(&format!("function `{id}`")) && error.contains("cannot run locally") && error.contains(why),
            "{error}"
        );
    }
    let error = template.function(Some("Nowhere")).expect_err("unknown");
    assert!(error.contains("no function `Nowhere`"), "{error}");

    let only_s3 = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      \
                   Handler: a.b\n      Code: {S3Bucket: b, S3Key: k}\n";
    let error = scratch.load(only_s3, &[]).expect("loads").function(None).expect_err("nothing to run");
    assert!(error.contains("function `Fn`") && error.contains("is in S3"), "{error}");
}

/// A resource whose `Condition` is false does not exist; an unknown condition is named.
#[test]
fn resources_under_a_false_condition_are_absent() {
    let scratch = Scratch::new("resource-condition");
    let yaml = "Parameters:\n  Stage: {Type: String, Default: dev}\nConditions:\n  IsProd: !Equals [!Ref Stage, prod]\n\
                Resources:\n  Always:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn, Handler: bootstrap, Runtime: provided.al2023}\n  \
                ProdOnly:\n    Type: AWS::Serverless::Function\n    Condition: IsProd\n    \
                Properties: {CodeUri: fn, Handler: bootstrap, Runtime: provided.al2023}\n";
    let ids = |overrides: &[(&str, &str)]| -> Vec<String> {
        scratch.load(yaml, overrides).expect("loads").functions.iter().map(|f| f.logical_id.clone()).collect()
    };
    assert_eq!(ids(&[]), ["Always"]);
    assert_eq!(ids(&[("Stage", "prod")]), ["Always", "ProdOnly"]);
    let error = scratch.load(&yaml.replace("Condition: IsProd", "Condition: IsTest"), &[]).expect_err("unknown");
    assert!(
        error.to_string().contains("Resources.ProdOnly.Condition: `IsTest` is not in the template's Conditions"),
        "{error}"
    );
}

/// A nested application with a local Location is loaded with its Parameters; one that nests
/// itself is refused, one in the Serverless Application Repository is skipped with a warning.
#[test]
fn nested_applications_with_a_local_location() {
    let scratch = Scratch::new("nested");
    fs::create_dir_all(scratch.0.join("child/fn")).expect("child");
    fs::write(
        scratch.0.join("child/template.yaml"),
        "Parameters:\n  Name: {Type: String, Default: child}\nResources:\n  Inner:\n    Type: AWS::Serverless::Function\n    \
         Properties:\n      CodeUri: fn\n      Handler: bootstrap\n      Runtime: provided.al2023\n      \
         Environment: {Variables: {NAME: !Ref Name}}\n",
    )
    .expect("child template");
    let parent = "Resources:\n  Outer:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn, Handler: bootstrap, Runtime: provided.al2023}\n  \
                  Child:\n    Type: AWS::Serverless::Application\n    Properties:\n      Location: child/template.yaml\n      \
                  Parameters: {Name: given}\n  Sar:\n    Type: AWS::Serverless::Application\n    Properties:\n      \
                  Location: {ApplicationId: 'arn:aws:serverlessrepo:us-east-1:123456789012:applications/x', SemanticVersion: 1.0.0}\n";
    let template = scratch.load(parent, &[]).expect("loads");
    let inner = template.function(Some("Child/Inner")).expect("by full path");
    assert_eq!(inner.environment["NAME"], "given");
    assert_eq!(inner.code_uri, scratch.0.join("child/fn").canonicalize().expect("canonical"));
    assert_eq!(template.function(Some("Inner")).expect("by logical id").full_path(), "Child/Inner");
    assert!(
        template.warnings.iter().any(|w| w.contains("Resources.Sar: the application at")),
        "{:?}",
        template.warnings
    );

    let looping =
        "Resources:\n  Me:\n    Type: AWS::Serverless::Application\n    Properties:\n      Location: template.yaml\n";
    let error = scratch.load(looping, &[]).expect_err("a cycle").to_string();
    assert!(error.contains("nests a template that is already being loaded"), "{error}");
}
