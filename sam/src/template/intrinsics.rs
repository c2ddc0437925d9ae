//! CloudFormation intrinsic functions, in both the short (`!Ref`) and long (`Ref:`) forms.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::yaml::{Node, Value};

/// An intrinsic that cannot be resolved, with the node it came from.
#[derive(Debug)]
pub(crate) struct ResolveError {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

/// What intrinsics can refer to.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// Parameter values after defaults and overrides, and the pseudo parameters.
    pub(crate) parameters: HashMap<String, Json>,
    /// Logical id → resource type.
    pub(crate) resources: HashMap<String, String>,
    /// Condition name → its value.
    pub(crate) conditions: HashMap<String, bool>,
    /// `Mappings` section.
    pub(crate) mappings: Option<Node>,
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) stack_name: String,
}

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

impl Scope {
    /// Resolves every intrinsic in `node` to plain JSON.
    pub(crate) fn resolve(&self, node: &Node) -> Result<Json, ResolveError> {
        match &node.value {
            Value::Null => Ok(Json::Null),
            Value::Bool(b) => Ok(Json::Bool(*b)),
            Value::Int(i) => Ok(json!(i)),
            Value::Float(f) => Ok(json!(f)),
            Value::Str(s) => Ok(Json::String(s.clone())),
            Value::Seq(items) => items.iter().map(|item| self.resolve(item)).collect::<Result<_, _>>().map(Json::Array),
            Value::Tagged(tag, inner) => self.intrinsic(node, &long_name(tag), inner),
            Value::Map(entries) => {
                if let [(name, argument)] = entries.as_slice()
                    && INTRINSICS.contains(&name.as_str())
                {
                    return self.intrinsic(node, name, argument);
                }
                let mut out = serde_json::Map::new();
                for (key, value) in entries {
                    out.insert(key.clone(), self.resolve(value)?);
                }
                Ok(Json::Object(out))
            }
        }
    }

    fn intrinsic(&self, node: &Node, name: &str, argument: &Node) -> Result<Json, ResolveError> {
        let error = |message: String| ResolveError { line: node.line, col: node.col, message };
        match name {
            "Ref" => {
                let target = self.resolve_string(argument)?;
                self.reference(&target)
                    .ok_or_else(|| error(format!("!Ref {target}: no parameter or resource of that name")))
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
                self.attribute(&resource, &attribute)
                    .ok_or_else(|| error(format!("!GetAtt {resource}.{attribute}: no resource named {resource}")))
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
                self.substitute(&template, &variables).map(Json::String).map_err(error)
            }
            "Fn::Join" => {
                let Json::Array(parts) = self.resolve(argument)? else {
                    return Err(error("!Join takes [delimiter, [values]]".to_owned()));
                };
                match parts.as_slice() {
                    [Json::String(delimiter), Json::Array(values)] => {
                        let values: Vec<String> = values.iter().map(json_text).collect();
                        Ok(Json::String(values.join(delimiter)))
                    }
                    _ => Err(error("!Join takes [delimiter, [values]]".to_owned())),
                }
            }
            "Fn::If" => match &argument.value {
                Value::Seq(parts) if parts.len() == 3 => {
                    let condition = self.resolve_string(&parts[0])?;
                    let value = *self
                        .conditions
                        .get(&condition)
                        .ok_or_else(|| error(format!("!If {condition}: no condition of that name in Conditions")))?;
                    self.resolve(if value { &parts[1] } else { &parts[2] })
                }
                _ => Err(error("!If takes [condition, value if true, value if false]".to_owned())),
            },
            "Fn::FindInMap" => {
                let Json::Array(keys) = self.resolve(argument)? else {
                    return Err(error("!FindInMap takes [map, top-level key, second-level key]".to_owned()));
                };
                let keys: Vec<String> = keys.iter().map(json_text).collect();
                let [map, top, second] = keys.as_slice() else {
                    return Err(error("!FindInMap takes [map, top-level key, second-level key]".to_owned()));
                };
                let found = self
                    .mappings
                    .as_ref()
                    .and_then(|m| m.get(map))
                    .and_then(|m| m.get(top))
                    .and_then(|m| m.get(second))
                    .ok_or_else(|| error(format!("!FindInMap: Mappings.{map}.{top}.{second} does not exist")))?;
                self.resolve(found)
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                self.condition(node, name, argument).map(Json::Bool)
            }
            "Fn::Select" => {
                let Json::Array(parts) = self.resolve(argument)? else {
                    return Err(error("!Select takes [index, [values]]".to_owned()));
                };
                match parts.as_slice() {
                    [index, Json::Array(values)] => {
                        let index: usize =
                            json_text(index).parse().map_err(|_| error("!Select: index is not a number".to_owned()))?;
                        values
                            .get(index)
                            .cloned()
                            .ok_or_else(|| error(format!("!Select: index {index} is out of range")))
                    }
                    _ => Err(error("!Select takes [index, [values]]".to_owned())),
                }
            }
            "Fn::Split" => match self.resolve(argument)? {
                Json::Array(parts) if parts.len() == 2 => {
                    let (delimiter, text) = (json_text(&parts[0]), json_text(&parts[1]));
                    Ok(Json::Array(text.split(delimiter.as_str()).map(|p| Json::String(p.to_owned())).collect()))
                }
                _ => Err(error("!Split takes [delimiter, text]".to_owned())),
            },
            other => Err(error(format!("{other} is not supported locally"))),
        }
    }

    /// Evaluates a condition expression.
    pub(crate) fn condition(&self, node: &Node, name: &str, argument: &Node) -> Result<bool, ResolveError> {
        let error = |message: String| ResolveError { line: node.line, col: node.col, message };
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
            Value::Map(entries) if entries.len() == 1 => self.condition(node, &entries[0].0, &entries[0].1),
            Value::Bool(b) => Ok(*b),
            _ => Err(ResolveError { line: node.line, col: node.col, message: "expected a condition".to_owned() }),
        }
    }

    fn resolve_string(&self, node: &Node) -> Result<String, ResolveError> {
        Ok(json_text(&self.resolve(node)?))
    }

    fn reference(&self, target: &str) -> Option<Json> {
        if let Some(value) = self.parameters.get(target) {
            return Some(value.clone());
        }
        self.resources.get(target).map(|kind| Json::String(self.physical_id(target, kind)))
    }

    fn physical_id(&self, logical_id: &str, kind: &str) -> String {
        match kind {
            // An API's id: the logical id stands in for the one API Gateway would assign.
            "AWS::Serverless::HttpApi" | "AWS::Serverless::Api" => logical_id.to_owned(),
            "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => {
                format!("arn:aws:lambda:{}:{}:layer:{logical_id}:1", self.region, self.account_id)
            }
            _ => format!("{}-{logical_id}", self.stack_name),
        }
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Option<Json> {
        let kind = self.resources.get(resource)?;
        let (service, prefix) = match kind.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => ("lambda", "function:"),
            "AWS::SQS::Queue" => ("sqs", ""),
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => ("dynamodb", "table/"),
            _ => ("cloudformation", "resource/"),
        };
        let id = self.physical_id(resource, kind);
        Some(Json::String(match attribute {
            "Arn" => format!("arn:aws:{service}:{}:{}:{prefix}{id}", self.region, self.account_id),
            _ => format!("{id}.{attribute}"),
        }))
    }

    fn substitute(&self, template: &str, variables: &serde_json::Map<String, Json>) -> Result<String, String> {
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
            } else if let Some(value) = self.reference(name) {
                out.push_str(&json_text(&value));
            } else if let Some((resource, attribute)) = name.split_once('.')
                && let Some(value) = self.attribute(resource, attribute)
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

/// A scalar's text as CloudFormation would substitute it.
pub(crate) fn json_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    fn scope() -> Scope {
        let mut scope = Scope {
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            stack_name: "demo".into(),
            ..Scope::default()
        };
        scope.parameters.insert("Stage".into(), json!("prod"));
        scope.parameters.insert("AWS::Region".into(), json!("eu-west-1"));
        scope.resources.insert("Fn".into(), "AWS::Serverless::Function".into());
        scope.conditions.insert("IsProd".into(), true);
        scope.mappings = Some(parse("Sizes:\n  prod:\n    Memory: 1024\n").expect("yaml"));
        scope
    }

    fn resolve(yaml: &str) -> Result<Json, ResolveError> {
        let node = parse(yaml).expect("yaml");
        scope().resolve(node.get("V").expect("V"))
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
            json!("arn:aws:lambda:eu-west-1:123456789012:function:demo-Fn")
        );
        assert_eq!(resolve("V: !Join ['-', [a, !Ref Stage]]").expect("join"), json!("a-prod"));
        assert_eq!(resolve("V: !If [IsProd, big, small]").expect("if"), json!("big"));
        assert_eq!(resolve("V: !FindInMap [Sizes, !Ref Stage, Memory]").expect("map"), json!(1024));
        assert_eq!(resolve("V: !Equals [!Ref Stage, prod]").expect("equals"), json!(true));
        assert_eq!(resolve("V: {Fn::Not: [{Fn::Equals: [a, b]}]}").expect("not"), json!(true));
    }

    #[test]
    fn unresolvable_intrinsics_say_what_and_where() {
        let error = resolve("X: 1\nV: !Ref Missing").expect_err("missing");
        assert_eq!((error.line, error.message.as_str()), (2, "!Ref Missing: no parameter or resource of that name"));
        assert!(resolve("V: !Sub '${Nope}'").expect_err("sub").message.contains("${Nope}"));
        assert!(resolve("V: !If [Unknown, a, b]").expect_err("if").message.contains("Unknown"));
        assert!(resolve("V: !FindInMap [Sizes, dev, Memory]").expect_err("map").message.contains("Sizes.dev.Memory"));
    }
}
