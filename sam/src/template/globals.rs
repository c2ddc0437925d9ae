//! The `Globals` section as SAM's translator reads it: only the sections and properties it
//! supports (anything else is the error `sam deploy` would give), merged into each resource with
//! its rules: the resource's scalars win, maps merge key by key, lists are the global entries then
//! the resource's, an intrinsic on either side takes the resource's value, and
//! `Function.Architectures` is replaced, not joined.

use super::yaml::{Key, Node, Value};

/// The properties each Globals section supports (samtranslator's `Globals.supported_properties`).
const SUPPORTED: &[(&str, &[&str])] = &[
    (
        "Function",
        &[
            "Handler",
            "Runtime",
            "CodeUri",
            "DeadLetterQueue",
            "Description",
            "MemorySize",
            "Timeout",
            "VpcConfig",
            "Environment",
            "Tags",
            "PropagateTags",
            "Tracing",
            "KmsKeyArn",
            "AutoPublishAlias",
            "AutoPublishAliasAllProperties",
            "Layers",
            "DeploymentPreference",
            "RolePath",
            "PermissionsBoundary",
            "ReservedConcurrentExecutions",
            "ProvisionedConcurrencyConfig",
            "AssumeRolePolicyDocument",
            "EventInvokeConfig",
            "FileSystemConfigs",
            "CodeSigningConfigArn",
            "Architectures",
            "SnapStart",
            "EphemeralStorage",
            "FunctionUrlConfig",
            "RuntimeManagementConfig",
            "LoggingConfig",
            "RecursiveLoop",
            "SourceKMSKeyArn",
            "TenancyConfig",
            "DurableConfig",
            "CapacityProviderConfig",
            "FunctionScalingConfig",
            "PublishToLatestPublished",
            "VersionDeletionPolicy",
        ],
    ),
    (
        "Api",
        &[
            "Auth",
            "Name",
            "DefinitionUri",
            "CacheClusterEnabled",
            "CacheClusterSize",
            "MergeDefinitions",
            "Variables",
            "EndpointConfiguration",
            "MethodSettings",
            "BinaryMediaTypes",
            "MinimumCompressionSize",
            "Cors",
            "GatewayResponses",
            "AccessLogSetting",
            "CanarySetting",
            "TracingEnabled",
            "OpenApiVersion",
            "Domain",
            "AlwaysDeploy",
            "PropagateTags",
            "SecurityPolicy",
            "EndpointAccessMode",
        ],
    ),
    (
        "HttpApi",
        &[
            "Auth",
            "AccessLogSettings",
            "StageVariables",
            "Tags",
            "CorsConfiguration",
            "DefaultRouteSettings",
            "Domain",
            "RouteSettings",
            "FailOnWarnings",
            "PropagateTags",
        ],
    ),
    ("SimpleTable", &["SSESpecification"]),
    ("StateMachine", &["PropagateTags"]),
    ("LayerVersion", &["PublishLambdaVersion"]),
    (
        "CapacityProvider",
        &[
            "VpcConfig",
            "OperatorRole",
            "Tags",
            "InstanceRequirements",
            "ScalingConfig",
            "KmsKeyArn",
            "PropagateTags",
            "LoggingConfig",
            "ManagedResourceTags",
        ],
    ),
    (
        "MicroVMImage",
        &[
            "BuildRoleArn",
            "BaseImageArn",
            "BaseImageVersion",
            "Logging",
            "EgressNetworkConnectors",
            "CpuConfigurations",
            "Resources",
            "AdditionalOsCapabilities",
            "Hooks",
            "EnvironmentVariables",
            "Tags",
            "PropagateTags",
        ],
    ),
    ("NetworkConnector", &["OperatorRole", "Tags", "PropagateTags"]),
    (
        "WebSocketApi",
        &[
            "AccessLogSettings",
            "ApiKeySelectionExpression",
            "DefaultRouteSettings",
            "DisableExecuteApiEndpoint",
            "DisableSchemaValidation",
            "Domain",
            "FailOnWarnings",
            "IpAddressType",
            "PropagateTags",
            "RouteSelectionExpression",
            "RouteSettings",
            "StageVariables",
            "Tags",
        ],
    ),
];

/// Checks the Globals section as SAM's translator does; the error gives the node at fault, its
/// location and SAM's message.
pub(super) fn check(globals: &Node) -> Result<(), (&Node, String, String)> {
    let Value::Map(sections) = &globals.value else {
        return Err((globals, "Globals".to_owned(), "must be a non-empty mapping".to_owned()));
    };
    for (Key { name: section, .. }, properties) in sections {
        let Some((_, supported)) = SUPPORTED.iter().find(|(name, _)| name == section) else {
            let names: Vec<&str> = SUPPORTED.iter().map(|(name, _)| *name).collect();
            return Err((
                properties,
                "Globals".to_owned(),
                format!("'{section}' is not supported. Must be one of the following values - {}", names.join(", ")),
            ));
        };
        let Value::Map(properties_map) = &properties.value else {
            return Err((properties, format!("Globals.{section}"), "must be a mapping".to_owned()));
        };
        for (Key { name: key, .. }, value) in properties_map {
            if !supported.contains(&key.as_str()) {
                return Err((
                    value,
                    format!("Globals.{section}"),
                    format!(
                        "'{key}' is not a supported property of '{section}'. Must be one of the following values - {}",
                        supported.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Whether `node` is an intrinsic function (`!Ref x`, `{"Fn::If": ...}`): its value is not
/// known when merging, so the resource's own value is taken.
fn is_intrinsic(node: &Node) -> bool {
    match &node.value {
        Value::Tagged(..) => true,
        Value::Map(entries) => entries.len() == 1 && (entries[0].0 == "Ref" || entries[0].0.name.starts_with("Fn::")),
        _ => false,
    }
}

/// SAM's merge of a Globals section into a resource's properties.
pub(super) fn merge(globals: &Node, properties: &Node, section: &str) -> Node {
    merge_at(globals, properties, section)
}

fn merge_at(globals: &Node, properties: &Node, path: &str) -> Node {
    if is_intrinsic(globals) || is_intrinsic(properties) || path == "Function.Architectures" {
        return properties.clone();
    }
    match (&globals.value, &properties.value) {
        (Value::Map(global), Value::Map(own)) => {
            let mut merged = global.clone();
            for (key, value) in own {
                match merged.iter_mut().find(|(k, _)| k.name == key.name) {
                    Some((_, existing)) => *existing = merge_at(existing, value, &format!("{path}.{key}")),
                    None => merged.push((key.clone(), value.clone())),
                }
            }
            Node { value: Value::Map(merged), ..properties.clone() }
        }
        (Value::Seq(global), Value::Seq(own)) => {
            Node { value: Value::Seq(global.iter().chain(own).cloned().collect()), ..properties.clone() }
        }
        _ => properties.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::yaml;

    fn node(text: &str) -> Node {
        yaml::parse(text).expect("yaml")
    }

    #[test]
    fn unsupported_sections_and_properties_are_named_as_sam_names_them() {
        assert!(check(&node("Function: {Timeout: 3, Layers: [a]}\nApi: {DefinitionUri: x.yaml}\n")).is_ok());
        let (_, location, message) = check(&node("Function: {Events: {}}\n")).expect_err("Events");
        assert_eq!(location, "Globals.Function");
        assert!(message.starts_with("'Events' is not a supported property of 'Function'. Must be one of"), "{message}");
        let (_, location, message) = check(&node("Queue: {Foo: 1}\n")).expect_err("Queue");
        assert_eq!(location, "Globals");
        assert!(message.starts_with("'Queue' is not supported. Must be one of the following values - Function, Api"));
    }

    #[test]
    fn lists_join_maps_merge_and_architectures_and_intrinsics_take_the_resources() {
        let globals = node(
            "Layers: [g]\nArchitectures: [x86_64]\nEnvironment: {Variables: {A: g, B: g}}\nTimeout: 3\n\
             Tags: !Ref Shared\n",
        );
        let own = node("Layers: [o]\nArchitectures: [arm64]\nEnvironment: {Variables: {B: o}}\nTags: {team: o}\n");
        let merged = merge(&globals, &own, "Function");
        let text = |key: &str| format!("{:?}", merged.get(key).map(|n| &n.value));
        assert!(text("Layers").contains("\"g\"") && text("Layers").contains("\"o\""), "{}", text("Layers"));
        assert!(!text("Architectures").contains("x86_64"), "{}", text("Architectures"));
        let variables = merged.get("Environment").and_then(|e| e.get("Variables")).expect("variables");
        assert!(format!("{:?}", variables.get("A").map(|n| &n.value)).contains("\"g\""));
        assert!(format!("{:?}", variables.get("B").map(|n| &n.value)).contains("\"o\""));
        assert!(text("Timeout").contains('3'));
        assert!(text("Tags").contains("team"), "the resource's map replaces a global intrinsic: {}", text("Tags"));
    }
}
