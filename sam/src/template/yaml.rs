//! YAML to a node tree that keeps CloudFormation's short-form tags and each node's position.

use saphyr::{LoadableYamlNode as _, MarkedYaml, Scalar, YamlData};

/// A parsed YAML node with its line and column (1-based).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: usize,
    pub(crate) col: usize,
}

/// The node's content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// A short-form intrinsic such as `!Ref`, with the tag's name (`Ref`).
    Tagged(String, Box<Node>),
}

/// Where the YAML parser stopped, and why.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

/// Parses the first document of `source`.
pub(crate) fn parse(source: &str) -> Result<Node, ParseError> {
    let documents = MarkedYaml::load_from_str(source).map_err(|error| ParseError {
        line: error.marker().line(),
        col: error.marker().col() + 1,
        message: error.info().to_owned(),
    })?;
    let document = documents.into_iter().next().ok_or_else(|| ParseError {
        line: 1,
        col: 1,
        message: "the file is empty".to_owned(),
    })?;
    convert(&document)
}

fn convert(node: &MarkedYaml<'_>) -> Result<Node, ParseError> {
    let line = node.span.start.line();
    let col = node.span.start.col() + 1;
    let at = |message: String| ParseError { line, col, message };
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, _, _) => Value::Str(text.to_string()),
        YamlData::Sequence(items) => Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?),
        YamlData::Mapping(entries) => {
            let mut map: Vec<(String, Node)> = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match &key.data {
                    YamlData::Value(Scalar::String(text)) => text.to_string(),
                    YamlData::Value(other) => scalar_text(other),
                    _ => return Err(at("mapping keys must be plain scalars".to_owned())),
                };
                if map.iter().any(|(existing, _)| *existing == key) {
                    return Err(at(format!("duplicate key `{key}`")));
                }
                map.push((key, convert(value)?));
            }
            Value::Map(map)
        }
        YamlData::Tagged(tag, inner) => {
            let name = if tag.handle == "!" { tag.suffix.clone() } else { format!("{}{}", tag.handle, tag.suffix) };
            Value::Tagged(name, Box::new(convert(inner)?))
        }
        YamlData::Alias(_) => {
            return Err(at("YAML aliases are not supported in SAM templates".to_owned()));
        }
        YamlData::BadValue => return Err(at("this value cannot be read".to_owned())),
    };
    Ok(Node { value, line, col })
}

fn scalar_value(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::FloatingPoint(f) => Value::Float(f.0),
        Scalar::String(s) => Value::Str(s.to_string()),
    }
}

fn scalar_text(scalar: &Scalar<'_>) -> String {
    match scalar {
        Scalar::Null => "null".to_owned(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}

impl Node {
    /// The value under `key` when this node is a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_form_tags_and_positions() {
        let node = parse("A:\n  B: !Ref Thing\n  C: !GetAtt [X, Arn]\n").expect("parses");
        let b = node.get("A").and_then(|a| a.get("B")).expect("A.B");
        assert_eq!((b.line, b.col), (2, 6));
        match &b.value {
            Value::Tagged(tag, inner) => {
                assert_eq!(tag, "Ref");
                assert_eq!(inner.value, Value::Str("Thing".to_owned()));
            }
            other => panic!("not tagged: {other:?}"),
        }
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let error = parse("A:\n  - b\n  c: d\n").expect_err("invalid");
        assert_eq!(error.line, 3, "{error:?}");
        let error = parse("A: 1\nA: 2\n").expect_err("duplicate");
        assert!(error.message.contains("duplicate"), "{error:?}");
    }
}
