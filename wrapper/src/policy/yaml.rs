//! YAML to a small node tree that keeps every node's and every key's line and column.

use saphyr::{LoadableYamlNode as _, MarkedYaml, Scalar, YamlData};

/// A 1-based line and column in the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) col: usize,
}

/// A parsed YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) at: Pos,
}

/// A mapping key and where it is written (errors about unknown keys point at the key).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) at: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// The YAML type's name, for "expected X, found Y" errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a whole number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses the first document of `source`; a syntax error stops everything, with its position.
pub(crate) fn parse(source: &str) -> Result<Node, (Pos, String)> {
    let documents = MarkedYaml::load_from_str(source).map_err(|error| {
        let at = Pos { line: error.marker().line(), col: error.marker().col() + 1 };
        let info = error.info();
        let message = if info.contains("duplicated key") {
            "this key appears twice in the same mapping".to_owned()
        } else {
            format!("invalid YAML: {info}")
        };
        (at, message)
    })?;
    let document =
        documents.into_iter().next().ok_or_else(|| (Pos { line: 1, col: 1 }, "the file is empty".to_owned()))?;
    convert(&document)
}

fn pos(node: &MarkedYaml<'_>) -> Pos {
    Pos { line: node.span.start.line(), col: node.span.start.col() + 1 }
}

fn convert(node: &MarkedYaml<'_>) -> Result<Node, (Pos, String)> {
    let at = pos(node);
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, _, _) => Value::Str(text.to_string()),
        YamlData::Sequence(items) => Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?),
        YamlData::Mapping(entries) => {
            let mut map = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let name = match &key.data {
                    YamlData::Value(scalar) => scalar_text(scalar),
                    YamlData::Representation(text, _, _) => text.to_string(),
                    _ => return Err((pos(key), "mapping keys must be plain strings".to_owned())),
                };
                map.push((Key { name, at: pos(key) }, convert(value)?));
            }
            Value::Map(map)
        }
        YamlData::Tagged(tag, _) => {
            return Err((at, format!("YAML tags (`{}{}`) are not used in policy files", tag.handle, tag.suffix)));
        }
        YamlData::Alias(_) => return Err((at, "YAML aliases are not supported in policy files".to_owned())),
        YamlData::BadValue => return Err((at, "this value cannot be read".to_owned())),
    };
    Ok(Node { value, at })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_positions() {
        let node = parse("routes:\n  GET /a:\n    auth: none\n").expect("parses");
        let Value::Map(top) = &node.value else { panic!("not a map: {node:?}") };
        let (key, routes) = &top[0];
        assert_eq!((key.name.as_str(), key.at), ("routes", Pos { line: 1, col: 1 }));
        let Value::Map(routes) = &routes.value else { panic!("not a map") };
        assert_eq!(routes[0].0.at, Pos { line: 2, col: 3 });
        let Value::Map(route) = &routes[0].1.value else { panic!("not a map") };
        assert_eq!(route[0].1.at, Pos { line: 3, col: 11 });
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        let (at, message) = parse("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(at.line, 2, "{message}");
        assert!(message.contains("twice"), "{message}");
        let (at, _) = parse("a:\n  - b\n  c: d\n").expect_err("invalid");
        assert_eq!(at.line, 3);
    }
}
