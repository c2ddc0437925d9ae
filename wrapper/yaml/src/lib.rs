//! YAML to a small node tree that keeps every node's and every mapping key's line and column,
//! so that the errors of what reads it can point at `file:line:col`.
//!
//! One reader for the two YAML formats of the workspace: Intercept's policy file (the
//! `intercept` crate, which refuses tags) and the emulator's SAM templates (`intercept-sam`,
//! which keeps CloudFormation's short-form tags such as `!Ref`). What differs is a
//! [`Dialect`].
//!
//! ```
//! use intercept_yaml::{Dialect, Pos, Tags, Value, parse};
//!
//! const TEMPLATES: Dialect = Dialect { documents: "SAM templates", tags: Tags::Keep };
//! let root = parse("Resources:\n  Fn: !Ref Thing\n", TEMPLATES)?;
//! let function = root.get("Resources").and_then(|r| r.get("Fn")).expect("Resources.Fn");
//! assert_eq!(function.at, Pos { line: 2, col: 7 });
//! assert!(matches!(&function.value, Value::Tagged(tag, _) if tag == "Ref"));
//! # Ok::<(), intercept_yaml::Error>(())
//! ```

use std::fmt;

use saphyr::{LoadableYamlNode as _, MarkedYaml, Scalar, YamlData};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A parsed YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where the node starts.
    pub at: Pos,
}

impl Node {
    /// The value under `key` when this node is a mapping.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A mapping key and where it is written (errors about unknown keys point at the key).
///
/// It compares equal to the strings of its name and displays as its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key's text (a number or boolean key as it reads, e.g. `1`, `true`).
    pub name: String,
    /// Where the key is written.
    pub at: Pos,
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.name == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// Any other scalar.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, its keys in the order written.
    Map(Vec<(Key, Node)>),
    /// A tagged node such as `!Ref Thing`: the tag's name (`Ref` for the `!` handle, the handle
    /// and suffix otherwise) and the node it tags. Only with [`Tags::Keep`].
    Tagged(String, Box<Node>),
}

impl Value {
    /// The YAML type's name, for "expected X, found Y" errors.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a whole number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Tagged(..) => "a tagged value",
        }
    }
}

/// What to do with YAML tags (`!Ref Thing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tags {
    /// A tag is an error naming it.
    Refuse,
    /// Tags become [`Value::Tagged`].
    Keep,
}

/// What the documents are called in errors and whether they may carry tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The documents' name in errors, plural: "YAML tags (`!Ref`) are not used in {documents}".
    pub documents: &'static str,
    /// Whether tags are kept or refused.
    pub tags: Tags,
}

/// What kind of problem stopped the reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not YAML; the message is the YAML parser's.
    Syntax,
    /// The YAML is well formed but holds what the documents may not (a key given twice, a
    /// refused tag, a key that is not a scalar, an empty file); the message says which.
    Content,
}

/// Where the reading stopped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Where the problem is.
    pub at: Pos,
    /// Which kind of problem it is.
    pub kind: ErrorKind,
    /// The problem, without its position.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for Error {}

const TWICE: &str = "this key appears twice in the same mapping";

/// Parses the first document of `source`; the first problem stops everything, with its position.
///
/// # Errors
/// An [`Error`] at the problem's line and column: invalid YAML ([`ErrorKind::Syntax`]), or
/// YAML the [`Dialect`] does not allow ([`ErrorKind::Content`]): a key given twice, a tag under [`Tags::Refuse`], a key that is not a scalar, or no document at all.
pub fn parse(source: &str, dialect: Dialect) -> Result<Node, Error> {
    let documents = MarkedYaml::load_from_str(source).map_err(|error| {
        let at = Pos { line: error.marker().line(), col: error.marker().col() + 1 };
        let info = error.info();
        if info.contains("duplicated key") {
            Error { at, kind: ErrorKind::Content, message: format!("duplicate key: {TWICE}") }
        } else {
            Error { at, kind: ErrorKind::Syntax, message: info.to_owned() }
        }
    })?;
    let document = documents.into_iter().next().ok_or_else(|| Error {
        at: Pos { line: 1, col: 1 },
        kind: ErrorKind::Content,
        message: "the file is empty".to_owned(),
    })?;
    convert(&document, dialect)
}

fn pos(node: &MarkedYaml<'_>) -> Pos {
    Pos { line: node.span.start.line(), col: node.span.start.col() + 1 }
}

fn content(at: Pos, message: String) -> Error {
    Error { at, kind: ErrorKind::Content, message }
}

fn convert(node: &MarkedYaml<'_>, dialect: Dialect) -> Result<Node, Error> {
    let at = pos(node);
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, _, _) => Value::Str(text.to_string()),
        YamlData::Sequence(items) => {
            Value::Seq(items.iter().map(|item| convert(item, dialect)).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(entries) => {
            let mut map: Vec<(Key, Node)> = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let name = match &key.data {
                    YamlData::Value(scalar) => scalar_text(scalar),
                    YamlData::Representation(text, _, _) => text.to_string(),
                    _ => return Err(content(pos(key), "mapping keys must be plain scalars".to_owned())),
                };
                // The parser refuses a key written twice; this catches two spellings of one
                // key (`1` and `"1"`).
                if map.iter().any(|(existing, _)| existing.name == name) {
                    return Err(content(pos(key), format!("duplicate key `{name}`: {TWICE}")));
                }
                map.push((Key { name, at: pos(key) }, convert(value, dialect)?));
            }
            Value::Map(map)
        }
        YamlData::Tagged(tag, inner) => match dialect.tags {
            Tags::Keep => {
                let name = if tag.handle == "!" { tag.suffix.clone() } else { format!("{}{}", tag.handle, tag.suffix) };
                Value::Tagged(name, Box::new(convert(inner, dialect)?))
            }
            Tags::Refuse => {
                let message =
                    format!("YAML tags (`{}{}`) are not used in {}", tag.handle, tag.suffix, dialect.documents);
                return Err(content(at, message));
            }
        },
        YamlData::Alias(_) => {
            return Err(content(at, format!("YAML aliases are not supported in {}", dialect.documents)));
        }
        YamlData::BadValue => return Err(content(at, "this value cannot be read".to_owned())),
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

    const POLICY: Dialect = Dialect { documents: "policy files", tags: Tags::Refuse };
    const TEMPLATE: Dialect = Dialect { documents: "SAM templates", tags: Tags::Keep };

    #[test]
    fn keys_and_values_keep_their_positions() {
        let node = parse("routes:\n  GET /a:\n    auth: none\n", POLICY).expect("parses");
        let Value::Map(top) = &node.value else { panic!("not a map: {node:?}") };
        let (key, routes) = &top[0];
        assert_eq!((key.name.as_str(), key.at), ("routes", Pos { line: 1, col: 1 }));
        let Value::Map(routes) = &routes.value else { panic!("not a map") };
        assert_eq!(routes[0].0.at, Pos { line: 2, col: 3 });
        let Value::Map(route) = &routes[0].1.value else { panic!("not a map") };
        assert_eq!(route[0].1.at, Pos { line: 3, col: 11 });
        assert_eq!(route[0].1.value, Value::Str("none".to_owned()));
    }

    #[test]
    fn tags_are_kept_or_refused_by_dialect() {
        let source = "A:\n  B: !Ref Thing\n  C: !GetAtt [X, Arn]\n  D: !<tag:x> y\n";
        let node = parse(source, TEMPLATE).expect("parses");
        let b = node.get("A").and_then(|a| a.get("B")).expect("A.B");
        assert_eq!(b.at, Pos { line: 2, col: 6 });
        let Value::Tagged(tag, inner) = &b.value else { panic!("not tagged: {b:?}") };
        assert_eq!((tag.as_str(), &inner.value), ("Ref", &Value::Str("Thing".to_owned())));
        let c = node.get("A").and_then(|a| a.get("C")).expect("A.C");
        assert!(
            matches!(&c.value, Value::Tagged(tag, inner) if tag == "GetAtt" && matches!(inner.value, Value::Seq(_)))
        );

        let error = parse(source, POLICY).expect_err("a tag in a policy file");
        assert_eq!((error.at, error.kind), (Pos { line: 2, col: 6 }, ErrorKind::Content));
        assert_eq!(error.message, "YAML tags (`!Ref`) are not used in policy files");
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        for dialect in [POLICY, TEMPLATE] {
            let error = parse("a: 1\na: 2\n", dialect).expect_err("duplicate");
            assert_eq!((error.at.line, error.kind), (2, ErrorKind::Content), "{error}");
            assert!(error.message.contains("duplicate") && error.message.contains(TWICE), "{error}");

            let error = parse("a: 1\n\"1\": 2\n1: 3\n", dialect).expect_err("one key spelled twice");
            assert_eq!(
                (error.at, error.message.as_str()),
                (Pos { line: 3, col: 1 }, "duplicate key `1`: this key appears twice in the same mapping")
            );

            let error = parse("a:\n  - b\n  c: d\n", dialect).expect_err("invalid");
            assert_eq!((error.at.line, error.kind), (3, ErrorKind::Syntax), "{error}");

            // The YAML loader resolves an alias to a copy of its anchor's node.
            let node = parse("a: &x 1\nb: *x\n", dialect).expect("alias");
            assert_eq!(node.get("b").map(|b| (&b.value, b.at)), Some((&Value::Int(1), Pos { line: 2, col: 4 })));

            let error = parse("", dialect).expect_err("empty");
            assert_eq!(error.to_string(), "1:1: the file is empty");

            let error = parse("? [a, b]\n: c\n", dialect).expect_err("a list as a key");
            assert_eq!(
                (error.at, error.message.as_str()),
                (Pos { line: 1, col: 3 }, "mapping keys must be plain scalars")
            );
        }
    }

    #[test]
    fn keys_read_as_their_names() {
        let node = parse("1: a\ntrue: b\nname: c\n", POLICY).expect("parses");
        let Value::Map(entries) = &node.value else { panic!("not a map") };
        let names: Vec<&str> = entries.iter().map(|(key, _)| key.name.as_str()).collect();
        assert_eq!(names, ["1", "true", "name"]);
        assert!(entries[2].0 == "name");
        assert_eq!(format!("{}", entries[2].0), "name");
        assert_eq!(node.get("true").map(|n| &n.value), Some(&Value::Str("b".to_owned())));
    }
}
