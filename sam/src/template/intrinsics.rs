//! CloudFormation intrinsic functions, in both the short (`!Ref`) and long (`Ref:`) forms,
//! resolved as SAM CLI resolves them locally: what can be known is, `AWS::NoValue` removes the
//! property, and what only a deployment could know is blank, with one warning naming it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde_json::{Value as Json, json};

use super::yaml::{Key, Node, Value};

/// An intrinsic that cannot be resolved, with the node it came from.
#[derive(Debug)]
pub(crate) struct ResolveError {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

/// Something only a deployment could know, left blank, with the node it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

/// What intrinsics can refer to.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// Parameter values after defaults and overrides, and the pseudo parameters.
    pub(crate) parameters: HashMap<String, Json>,
    /// Parameters with neither a `Default` nor an override: blank where referred to.
    pub(crate) missing_parameters: HashSet<String>,
    /// Logical id → resource type.
    pub(crate) resources: HashMap<String, String>,
    /// Condition name → its value.
    pub(crate) conditions: HashMap<String, bool>,
    /// `Mappings` section.
    pub(crate) mappings: Option<Node>,
    pub(crate) region: String,
    pub(crate) account_id: String,
    /// What was left blank, in the order met (each once).
    unresolved: RefCell<Vec<Unresolved>>,
}

/// SAM CLI's `AWS::StackName` locally (`samcli/lib/intrinsic_resolver/intrinsics_symbol_table.py`).
pub(crate) const LOCAL_STACK_NAME: &str = "local";
/// SAM CLI's `AWS::AccountId` locally.
pub(crate) const LOCAL_ACCOUNT_ID: &str = "123456789012";
/// The stack id SAM CLI gives `AWS::StackId` locally, after `stack/<name>/`.
const LOCAL_STACK_UUID: &str = "51af3dc0-da77-11e4-872e-1234567db123";
/// SAM CLI's `AWS::URLSuffix` locally.
const LOCAL_URL_SUFFIX: &str = "localhost";

/// The availability zones `Fn::GetAZs` gives where SAM CLI's table lists other zones than `a`
/// to `c`, which every other region gets.
const AVAILABILITY_ZONES: &[(&str, &[&str])] = &[
    ("us-east-1", &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]),
    ("us-west-1", &["us-west-1b", "us-west-1c"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]),
    ("ap-northeast-3", &["ap-northeast-3a"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1c"]),
    ("ca-central-1", &["ca-central-1a", "ca-central-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]),
];

const INTRINSICS: &[&str] = &[
    "Ref",
    "Fn::Sub",
    "Fn::GetAtt",
    "Fn::Join",
    "Fn::If",
    "Fn::FindInMap",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Condition",
    "Fn::Select",
    "Fn::Split",
    "Fn::Base64",
    "Fn::GetAZs",
    "Fn::ImportValue",
];

/// The long name of a short-form tag (`Sub` → `Fn::Sub`, `Ref` → `Ref`).
fn long_name(tag: &str) -> String {
    if tag == "Ref" || tag == "Condition" { tag.to_owned() } else { format!("Fn::{tag}") }
}

/// The short name a user writes (`Fn::ImportValue` → `!ImportValue`), for messages.
fn short_name(name: &str) -> String {
    format!("!{}", name.strip_prefix("Fn::").unwrap_or(name))
}

/// `aws`, `aws-cn` or `aws-us-gov`, from the region, as SAM CLI derives `AWS::Partition`.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.contains("-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl Scope {
    /// A scope with the pseudo parameters as SAM CLI gives them locally, in `region`.
    pub(crate) fn new(region: &str, account_id: &str, stack_name: &str) -> Scope {
        let partition = partition(region);
        let mut scope = Scope { region: region.to_owned(), account_id: account_id.to_owned(), ..Scope::default() };
        for (name, value) in [
            ("AWS::Region", json!(region)),
            ("AWS::AccountId", json!(account_id)),
            ("AWS::StackName", json!(stack_name)),
            (
                "AWS::StackId",
                json!(format!(
                    "arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/{LOCAL_STACK_UUID}"
                )),
            ),
            ("AWS::Partition", json!(partition)),
            ("AWS::URLSuffix", json!(LOCAL_URL_SUFFIX)),
            ("AWS::NotificationARNs", json!([])),
        ] {
            scope.parameters.insert(name.to_owned(), value);
        }
        scope
    }

    /// What was left blank so far, each once, in the order met.
    pub(crate) fn unresolved(&self) -> Vec<Unresolved> {
        self.unresolved.borrow().clone()
    }

    /// Records that `node` could not be resolved here and gives the blank that stands for it.
    fn blank(&self, node: &Node, message: String) -> Json {
        let unresolved = Unresolved { line: node.at.line, col: node.at.col, message };
        let mut all = self.unresolved.borrow_mut();
        if !all.contains(&unresolved) {
            all.push(unresolved);
        }
        Json::String(String::new())
    }

    /// Resolves every intrinsic in `node` to plain JSON (`null` where it is `AWS::NoValue`).
    pub(crate) fn resolve(&self, node: &Node) -> Result<Json, ResolveError> {
        Ok(self.value(node)?.unwrap_or(Json::Null))
    }

    /// Resolves `node`; `None` is `AWS::NoValue`, which removes the map entry or list item holding it.
    fn value(&self, node: &Node) -> Result<Option<Json>, ResolveError> {
        match &node.value {
            Value::Null => Ok(Some(Json::Null)),
            Value::Bool(b) => Ok(Some(Json::Bool(*b))),
            Value::Int(i) => Ok(Some(json!(i))),
            Value::Float(f) => Ok(Some(json!(f))),
            Value::Str(s) => Ok(Some(Json::String(s.clone()))),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.extend(self.value(item)?);
                }
                Ok(Some(Json::Array(out)))
            }
            Value::Tagged(tag, inner) => self.intrinsic(node, &long_name(tag), inner),
            Value::Map(entries) => {
                if let [(Key { name, .. }, argument)] = entries.as_slice()
                    && (INTRINSICS.contains(&name.as_str()) || name.starts_with("Fn::"))
                {
                    return self.intrinsic(node, name, argument);
                }
                let mut out = serde_json::Map::new();
                for (key, value) in entries {
                    if let Some(value) = self.value(value)? {
                        out.insert(key.name.clone(), value);
                    }
                }
                Ok(Some(Json::Object(out)))
            }
        }
    }

    fn intrinsic(&self, node: &Node, name: &str, argument: &Node) -> Result<Option<Json>, ResolveError> {
        let error = |message: String| ResolveError { line: node.at.line, col: node.at.col, message };
        let value = match name {
            "Ref" => {
                let target = self.resolve_string(argument)?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(node, &target)
                    .ok_or_else(|| error(format!("!Ref {target}: no parameter or resource of that name")))?
            }
            "Fn::GetAtt" => {
                let (resource, attribute) = match &argument.value {
                    Value::Seq(parts) if parts.len() == 2 => {
                        (self.resolve_string(&parts[0])?, self.resolve_string(&parts[1])?)
                    }
                    _ => {
                        let text = self.resolve_string(argument)?;
                        let (r, a) = text
                            .split_once('.')
                            .ok_or_else(|| error(format!("!GetAtt {text}: expected Resource.Attribute")))?;
                        (r.to_owned(), a.to_owned())
                    }
                };
                self.attribute(node, &resource, &attribute)
                    .ok_or_else(|| error(format!("!GetAtt {resource}.{attribute}: no resource named {resource}")))?
            }
            "Fn::Sub" => {
                let (template, variables) = match &argument.value {
                    Value::Seq(parts) if parts.len() == 2 => {
                        let template = self.resolve_string(&parts[0])?;
                        let Json::Object(vars) = self.resolve(&parts[1])? else {
                            return Err(error("!Sub [template, variables]: variables must be a mapping".to_owned()));
                        };
                        (template, vars)
                    }
                    _ => (self.resolve_string(argument)?, serde_json::Map::new()),
                };
                Json::String(self.substitute(node, &template, &variables).map_err(error)?)
            }
            "Fn::Join" => {
                let Json::Array(parts) = self.resolve(argument)? else {
                    return Err(error("!Join takes [delimiter, [values]]".to_owned()));
                };
                match parts.as_slice() {
                    [Json::String(delimiter), Json::Array(values)] => {
                        let values: Vec<String> = values.iter().map(json_text).collect();
                        Json::String(values.join(delimiter))
                    }
                    _ => return Err(error("!Join takes [delimiter, [values]]".to_owned())),
                }
            }
            "Fn::If" => match &argument.value {
                Value::Seq(parts) if parts.len() == 3 => {
                    let condition = self.resolve_string(&parts[0])?;
                    let value = *self
                        .conditions
                        .get(&condition)
                        .ok_or_else(|| error(format!("!If {condition}: no condition of that name in Conditions")))?;
                    // Only the branch taken is resolved, as CloudFormation does: the other may
                    // refer to what does not exist under this condition.
                    return self.value(if value { &parts[1] } else { &parts[2] });
                }
                _ => return Err(error("!If takes [condition, value if true, value if false]".to_owned())),
            },
            "Fn::FindInMap" => self.find_in_map(argument).map_err(error)?,
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                Json::Bool(self.condition(node, name, argument)?)
            }
            "Fn::Select" => {
                let Json::Array(parts) = self.resolve(argument)? else {
                    return Err(error("!Select takes [index, [values]]".to_owned()));
                };
                match parts.as_slice() {
                    [index, Json::Array(values)] => {
                        let index: usize =
                            json_text(index).parse().map_err(|_| error("!Select: index is not a number".to_owned()))?;
                        values.get(index).cloned().ok_or_else(|| {
                            error(format!("!Select: index {index} is out of range (the list has {})", values.len()))
                        })?
                    }
                    _ => return Err(error("!Select takes [index, [values]]".to_owned())),
                }
            }
            "Fn::Split" => match self.resolve(argument)? {
                Json::Array(parts) if parts.len() == 2 => {
                    let (delimiter, text) = (json_text(&parts[0]), json_text(&parts[1]));
                    Json::Array(text.split(delimiter.as_str()).map(|p| Json::String(p.to_owned())).collect())
                }
                _ => return Err(error("!Split takes [delimiter, text]".to_owned())),
            },
            "Fn::Base64" => {
                Json::String(base64::engine::general_purpose::STANDARD.encode(self.resolve_string(argument)?))
            }
            "Fn::GetAZs" => {
                let region = match self.resolve_string(argument)? {
                    region if region.is_empty() => self.region.clone(),
                    region => region,
                };
                availability_zones(&region).into_iter().map(Json::String).collect()
            }
            "Fn::ImportValue" => {
                let export = self.resolve_string(argument)?;
                self.blank(
                    node,
                    format!(
                        "!ImportValue {export}: another stack's export cannot be read locally, so it is blank (\"\")"
                    ),
                )
            }
            other => self.blank(node, format!("{} is not evaluated locally, so it is blank (\"\")", short_name(other))),
        };
        Ok(Some(value))
    }

    fn find_in_map(&self, argument: &Node) -> Result<Json, String> {
        let usage = "!FindInMap takes [map, top-level key, second-level key] (and optionally {DefaultValue: x})";
        let Json::Array(keys) = self.resolve(argument).map_err(|e| e.message)? else {
            return Err(usage.to_owned());
        };
        let (names, default) = match keys.as_slice() {
            [map, top, second] => ([map, top, second], None),
            [map, top, second, Json::Object(options)] => ([map, top, second], options.get("DefaultValue")),
            _ => return Err(usage.to_owned()),
        };
        let [map, top, second] = names.map(json_text);
        let found =
            self.mappings.as_ref().and_then(|m| m.get(&map)).and_then(|m| m.get(&top)).and_then(|m| m.get(&second));
        match (found, default) {
            (Some(found), _) => self.resolve(found).map_err(|e| e.message),
            (None, Some(default)) => Ok(default.clone()),
            (None, None) => Err(format!("!FindInMap: Mappings.{map}.{top}.{second} does not exist")),
        }
    }

    /// Evaluates a condition expression.
    pub(crate) fn condition(&self, node: &Node, name: &str, argument: &Node) -> Result<bool, ResolveError> {
        let error = |message: String| ResolveError { line: node.at.line, col: node.at.col, message };
        let operands = |argument: &Node| -> Result<Vec<bool>, ResolveError> {
            match &argument.value {
                Value::Seq(items) => items.iter().map(|item| self.condition_value(item)).collect(),
                _ => Err(error(format!("{name} takes a list"))),
            }
        };
        match name {
            "Fn::Equals" => match self.resolve(argument)? {
                Json::Array(pair) if pair.len() == 2 => Ok(json_text(&pair[0]) == json_text(&pair[1])),
                _ => Err(error("!Equals takes [a, b]".to_owned())),
            },
            "Fn::Not" => match operands(argument)?.as_slice() {
                [value] => Ok(!value),
                _ => Err(error("!Not takes [condition]".to_owned())),
            },
            "Fn::And" => Ok(operands(argument)?.iter().all(|v| *v)),
            "Fn::Or" => Ok(operands(argument)?.iter().any(|v| *v)),
            "Condition" => {
                let condition = self.resolve_string(argument)?;
                self.conditions.get(&condition).copied().ok_or_else(|| error(format!("no condition named {condition}")))
            }
            other => Err(error(format!("{other} is not a condition function"))),
        }
    }

    fn condition_value(&self, node: &Node) -> Result<bool, ResolveError> {
        match &node.value {
            Value::Tagged(tag, inner) => self.condition(node, &long_name(tag), inner),
            Value::Map(entries) if entries.len() == 1 => self.condition(node, &entries[0].0.name, &entries[0].1),
            Value::Bool(b) => Ok(*b),
            _ => Err(ResolveError { line: node.at.line, col: node.at.col, message: "expected a condition".to_owned() }),
        }
    }

    fn resolve_string(&self, node: &Node) -> Result<String, ResolveError> {
        Ok(json_text(&self.resolve(node)?))
    }

    /// What `Ref target` gives: a parameter's value, or a resource's name as SAM CLI gives it
    /// locally (its logical id; a layer's ARN). A parameter without a value is blank.
    fn reference(&self, node: &Node, target: &str) -> Option<Json> {
        if let Some(value) = self.parameters.get(target) {
            return Some(value.clone());
        }
        if self.missing_parameters.contains(target) {
            return Some(self.blank(
                node,
                format!("parameter {target} has no Default and no --parameter-overrides value, so it is blank (\"\")"),
            ));
        }
        self.resources.get(target).map(|kind| Json::String(self.physical_id(target, kind)))
    }

    fn physical_id(&self, logical_id: &str, kind: &str) -> String {
        match kind {
            "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => layer_arn(self, logical_id),
            // SAM CLI names every other resource by its logical id locally: a function's name
            // is what `local start-lambda` serves it under.
            _ => logical_id.to_owned(),
        }
    }

    /// `GetAtt resource.attribute`: `None` when there is no such resource; blank (with a
    /// warning) for an attribute only the deployed resource has.
    fn attribute(&self, node: &Node, resource: &str, attribute: &str) -> Option<Json> {
        let kind = self.resources.get(resource)?;
        let (region, account, partition) = (&self.region, &self.account_id, partition(&self.region));
        let known = match (kind.as_str(), attribute) {
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                Some(format!("arn:{partition}:lambda:{region}:{account}:function:{resource}"))
            }
            ("AWS::SQS::Queue", "Arn") => Some(format!("arn:{partition}:sqs:{region}:{account}:{resource}")),
            ("AWS::SQS::Queue", "QueueName") => Some(resource.to_owned()),
            ("AWS::SQS::Queue", "QueueUrl") => Some(format!("https://sqs.{region}.amazonaws.com/{account}/{resource}")),
            ("AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable", "Arn") => {
                Some(format!("arn:{partition}:dynamodb:{region}:{account}:table/{resource}"))
            }
            ("AWS::SNS::Topic", "TopicArn") => Some(format!("arn:{partition}:sns:{region}:{account}:{resource}")),
            ("AWS::SNS::Topic", "TopicName") => Some(resource.to_owned()),
            ("AWS::S3::Bucket", "Arn") => Some(format!("arn:{partition}:s3:::{resource}")),
            ("AWS::IAM::Role", "Arn") => Some(format!("arn:{partition}:iam::{account}:role/{resource}")),
            ("AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine", "Arn") => {
                Some(format!("arn:{partition}:states:{region}:{account}:stateMachine:{resource}"))
            }
            ("AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion", "Arn") => Some(layer_arn(self, resource)),
            _ => None,
        };
        Some(match known {
            Some(value) => Json::String(value),
            None => self.blank(
                node,
                format!(
                    "!GetAtt {resource}.{attribute}: the {kind}'s {attribute} is only known once deployed, so it is blank (\"\")"
                ),
            ),
        })
    }

    fn substitute(
        &self,
        node: &Node,
        template: &str,
        variables: &serde_json::Map<String, Json>,
    ) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("!Sub: unclosed ${{ in `{template}`"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&json_text(value));
            } else if let Some(value) = self.reference(node, name) {
                out.push_str(&json_text(&value));
            } else if let Some((resource, attribute)) = name.split_once('.')
                && let Some(value) = self.attribute(node, resource, attribute)
            {
                out.push_str(&json_text(&value));
            } else {
                return Err(format!("!Sub: ${{{name}}} names no parameter, resource or variable"));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The ARN `!Ref` gives a layer of the template (version 1, as a first deployment would).
pub(crate) fn layer_arn(scope: &Scope, logical_id: &str) -> String {
    format!("arn:{}:lambda:{}:{}:layer:{logical_id}:1", partition(&scope.region), scope.region, scope.account_id)
}

fn availability_zones(region: &str) -> Vec<String> {
    match AVAILABILITY_ZONES.iter().find(|(name, _)| *name == region) {
        Some((_, zones)) => zones.iter().map(|z| (*z).to_owned()).collect(),
        None => ["a", "b", "c"].iter().map(|suffix| format!("{region}{suffix}")).collect(),
    }
}

/// A scalar's text as CloudFormation would substitute it.
pub(crate) fn json_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
