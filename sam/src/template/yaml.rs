//! SAM templates' YAML: the workspace's one YAML reader (`intercept-yaml`, shared with the
//! policy file), which keeps every node's and key's position and CloudFormation's short-form
//! tags (`!Ref Thing` is [`Value::Tagged`]).

use intercept_yaml::{Dialect, Tags};
pub(crate) use intercept_yaml::{Error as ParseError, Key, Node, Value};

const SAM_TEMPLATES: Dialect = Dialect { documents: "SAM templates", tags: Tags::Keep };

/// Parses the first document of `source`.
pub(crate) fn parse(source: &str) -> Result<Node, ParseError> {
    intercept_yaml::parse(source, SAM_TEMPLATES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_form_tags_and_positions() {
        let node = parse("A:\n  B: !Ref Thing\n  C: !GetAtt [X, Arn]\n").expect("parses");
        let b = node.get("A").and_then(|a| a.get("B")).expect("A.B");
        assert_eq!((b.at.line, b.at.col), (2, 6));
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
        assert_eq!(error.at.line, 3, "{error:?}");
        let error = parse("A: 1\nA: 2\n").expect_err("duplicate");
        assert!(error.message.contains("duplicate"), "{error:?}");
    }
}
