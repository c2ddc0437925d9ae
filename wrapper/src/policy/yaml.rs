//! The policy file's YAML: the workspace's one YAML reader (`intercept-yaml`, shared with the
//! emulator's SAM templates), which keeps every node's and every key's line and column, with
//! tags refused.

use intercept_yaml::{Dialect, ErrorKind, Tags};
pub(crate) use intercept_yaml::{Key, Node, Pos, Value};

const POLICY_FILES: Dialect = Dialect { documents: "policy files", tags: Tags::Refuse };

/// Parses the first document of `source`; a syntax error stops everything, with its position.
pub(crate) fn parse(source: &str) -> Result<Node, (Pos, String)> {
    intercept_yaml::parse(source, POLICY_FILES).map_err(|error| match error.kind {
        ErrorKind::Syntax => (error.at, format!("invalid YAML: {}", error.message)),
        ErrorKind::Content => (error.at, error.message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Positions, duplicates and the rest of the reader are tested in intercept-yaml.
    #[test]
    fn policy_messages_name_invalid_yaml_and_refuse_tags() {
        let (at, message) = parse("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(at.line, 2, "{message}");
        assert!(message.contains("this key appears twice"), "{message}");
        let (at, message) = parse("a:\n  - b\n  c: d\n").expect_err("invalid");
        assert_eq!(at.line, 3);
        assert!(message.starts_with("invalid YAML: "), "{message}");
        let (at, message) = parse("auth: !Ref x\n").expect_err("a tag");
        assert_eq!(
            (at, message.as_str()),
            (Pos { line: 1, col: 7 }, "YAML tags (`!Ref`) are not used in policy files")
        );
    }
}
