//! Intrinsics as SAM CLI resolves them locally, over templates written the way projects write them.

use super::super::yaml::parse;
use super::*;

fn scope() -> Scope {
    let mut scope = Scope::new("eu-west-1", LOCAL_ACCOUNT_ID, LOCAL_STACK_NAME);
    scope.parameters.insert("Stage".into(), json!("prod"));
    scope.missing_parameters.insert("DbPassword".into());
    scope.resources.insert("Fn".into(), "AWS::Serverless::Function".into());
    scope.resources.insert("Table".into(), "AWS::DynamoDB::Table".into());
    scope.resources.insert("Shared".into(), "AWS::Serverless::LayerVersion".into());
    scope.conditions.insert("IsProd".into(), true);
    scope.conditions.insert("IsDev".into(), false);
    scope.mappings = Some(parse("Sizes:\n  prod:\n    Memory: 1024\n").expect("yaml"));
    scope
}

fn resolve_in(scope: &Scope, yaml: &str) -> Result<Json, ResolveError> {
    let node = parse(yaml).expect("yaml");
    scope.resolve(node.get("V").expect("V"))
}

fn resolve(yaml: &str) -> Result<Json, ResolveError> {
    resolve_in(&scope(), yaml)
}

#[test]
fn resolves_common_intrinsics() {
    assert_eq!(resolve("V: !Ref Stage").expect("ref"), json!("prod"));
    assert_eq!(resolve("V: {Ref: Stage}").expect("long ref"), json!("prod"));
    assert_eq!(
        resolve("V: !Sub 'api-${Stage}-${AWS::Region}-${!Literal}'").expect("sub"),
        json!("api-prod-eu-west-1-${Literal}")
    );
    assert_eq!(resolve("V: !Sub ['${A}-${Stage}', {A: x}]").expect("sub list"), json!("x-prod"));
    assert_eq!(
        resolve("V: !GetAtt Fn.Arn").expect("getatt"),
        json!("arn:aws:lambda:eu-west-1:123456789012:function:Fn")
    );
    assert_eq!(
        resolve("V: !Sub '${Table.Arn}'").expect("sub getatt"),
        json!("arn:aws:dynamodb:eu-west-1:123456789012:table/Table")
    );
    assert_eq!(resolve("V: !Join ['-', [a, !Ref Stage]]").expect("join"), json!("a-prod"));
    assert_eq!(resolve("V: !If [IsProd, big, small]").expect("if"), json!("big"));
    assert_eq!(resolve("V: !FindInMap [Sizes, !Ref Stage, Memory]").expect("map"), json!(1024));
    assert_eq!(resolve("V: !FindInMap [Sizes, dev, Memory, {DefaultValue: 128}]").expect("default"), json!(128));
    assert_eq!(resolve("V: !Equals [!Ref Stage, prod]").expect("equals"), json!(true));
    assert_eq!(resolve("V: {Fn::Not: [{Fn::Equals: [a, b]}]}").expect("not"), json!(true));
    assert_eq!(resolve("V: !Base64 hello").expect("base64"), json!("aGVsbG8="));
    assert_eq!(resolve("V: {Fn::Base64: !Sub '${Stage}'}").expect("long base64"), json!("cHJvZA=="));
    assert_eq!(resolve("V: !Select [1, !GetAZs '']").expect("azs"), json!("eu-west-1b"));
    assert_eq!(resolve("V: !GetAZs us-west-1").expect("azs of a region"), json!(["us-west-1b", "us-west-1c"]));
}

/// SAM CLI's local values (`intrinsics_symbol_table.py`), with `--region` reaching every one
/// that names a region.
#[test]
fn pseudo_parameters_are_sam_clis_in_the_region_given() {
    let pseudo = |name: &str| resolve(&format!("V: !Ref {name}")).expect(name);
    assert_eq!(pseudo("AWS::Region"), json!("eu-west-1"));
    assert_eq!(pseudo("AWS::StackName"), json!("local"));
    assert_eq!(pseudo("AWS::AccountId"), json!("123456789012"));
    assert_eq!(pseudo("AWS::Partition"), json!("aws"));
    assert_eq!(pseudo("AWS::URLSuffix"), json!("localhost"));
    assert_eq!(
        pseudo("AWS::StackId"),
        json!("arn:aws:cloudformation:eu-west-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123")
    );
    assert_eq!(pseudo("AWS::NotificationARNs"), json!([]));
    let china = Scope::new("cn-north-1", LOCAL_ACCOUNT_ID, LOCAL_STACK_NAME);
    assert_eq!(resolve_in(&china, "V: !Ref AWS::Partition").expect("partition"), json!("aws-cn"));
    assert_eq!(
        resolve("V: !Ref Shared").expect("layer"),
        json!("arn:aws:lambda:eu-west-1:123456789012:layer:Shared:1")
    );
    assert_eq!(resolve("V: !Ref Fn").expect("function"), json!("Fn"), "the name local start-lambda serves it under");
}

#[test]
fn no_value_removes_the_property_in_maps_and_lists_inside_if_too() {
    let yaml = "V:\n  Keep: 1\n  Gone: !Ref AWS::NoValue\n  IfGone: !If [IsDev, dev, !Ref AWS::NoValue]\n  \
                IfKept: !If [IsProd, !Ref Stage, !Ref AWS::NoValue]\n  \
                List: [a, !Ref AWS::NoValue, !If [IsDev, b, {Ref: AWS::NoValue}], c]\n  \
                Nested: !If [IsProd, {Inner: !Ref AWS::NoValue, Other: x}, y]\n";
    assert_eq!(
        resolve(yaml).expect("resolves"),
        json!({"Keep": 1, "IfKept": "prod", "List": ["a", "c"], "Nested": {"Other": "x"}})
    );
    assert_eq!(resolve("V: !Ref AWS::NoValue").expect("top level"), Json::Null);
    // The branch not taken is never resolved: it may name what does not exist.
    assert_eq!(resolve("V: !If [IsProd, x, !ImportValue nowhere]").expect("if"), json!("x"));
}

#[test]
fn what_only_a_deployment_knows_is_blank_with_one_warning_naming_it() {
    let scope = scope();
    let yaml = "V:\n  Imported: !ImportValue shared-TableName\n  \
                ImportedSub: {Fn::ImportValue: !Sub '${AWS::StackName}-Queue'}\n  \
                Stream: !GetAtt Table.StreamArn\n  \
                InSub: !Sub 'stream=${Table.StreamArn}'\n  \
                Password: !Ref DbPassword\n  \
                Cidr: !Cidr ['10.0.0.0/16', 2, 8]\n";
    let resolved = resolve_in(&scope, yaml).expect("never an abort");
    assert_eq!(
        resolved,
        json!({"Imported": "", "ImportedSub": "", "Stream": "", "InSub": "stream=", "Password": "", "Cidr": ""})
    );
    // Resolving the same nodes again (Globals merged into several functions) warns no more.
    resolve_in(&scope, yaml).expect("again");
    let messages: Vec<(usize, String)> = scope.unresolved().into_iter().map(|u| (u.line, u.message)).collect();
    assert_eq!(
        messages,
        [
            (2, "!ImportValue shared-TableName: another stack's export cannot be read locally, so it is blank (\"\")"),
            (3, "!ImportValue local-Queue: another stack's export cannot be read locally, so it is blank (\"\")"),
            (
                4,
                "!GetAtt Table.StreamArn: the AWS::DynamoDB::Table's StreamArn is only known once deployed, so it is blank (\"\")"
            ),
            (
                5,
                "!GetAtt Table.StreamArn: the AWS::DynamoDB::Table's StreamArn is only known once deployed, so it is blank (\"\")"
            ),
            (6, "parameter DbPassword has no Default and no --parameter-overrides value, so it is blank (\"\")"),
            (7, "!Cidr is not evaluated locally, so it is blank (\"\")"),
        ]
        .map(|(line, message)| (line, message.to_owned()))
    );
}

#[test]
fn template_mistakes_still_say_what_and_where() {
    let error = resolve("X: 1\nV: !Ref Missing").expect_err("missing");
    assert_eq!((error.line, error.message.as_str()), (2, "!Ref Missing: no parameter or resource of that name"));
    assert!(resolve("V: !Sub '${Nope}'").expect_err("sub").message.contains("${Nope}"));
    assert!(resolve("V: !If [Unknown, a, b]").expect_err("if").message.contains("Unknown"));
    assert!(resolve("V: !FindInMap [Sizes, dev, Memory]").expect_err("map").message.contains("Sizes.dev.Memory"));
    assert!(resolve("V: !GetAtt Nowhere.Arn").expect_err("getatt").message.contains("no resource named Nowhere"));
}
