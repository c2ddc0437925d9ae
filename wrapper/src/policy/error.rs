//! Errors in a policy file: where (file, line, column) and what.

use std::fmt;

use super::yaml::Pos;

/// One problem in a policy file, at a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyError {
    /// The file as it was named to the parser.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: {}", self.file, self.line, self.column, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in a policy file, in file order (never only the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct PolicyErrors(pub Vec<PolicyError>);

fn render(errors: &[PolicyError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl PolicyErrors {
    /// The errors, in file order.
    #[must_use]
    pub fn errors(&self) -> &[PolicyError] {
        &self.0
    }
}

/// Collects errors while a file is read, so that one run reports all of them.
#[derive(Debug)]
pub(crate) struct Errors {
    file: String,
    list: Vec<PolicyError>,
}

impl Errors {
    pub(crate) fn new(file: &str) -> Self {
        Errors { file: file.to_owned(), list: Vec::new() }
    }

    pub(crate) fn push(&mut self, at: Pos, message: impl Into<String>) {
        self.list.push(PolicyError { file: self.file.clone(), line: at.line, column: at.col, message: message.into() });
    }

    /// The errors so far, as the caller's failure.
    pub(crate) fn fail(self) -> PolicyErrors {
        let mut list = self.list;
        list.sort_by_key(|e| (e.line, e.column));
        PolicyErrors(list)
    }

    pub(crate) fn finish(mut self) -> Result<(), PolicyErrors> {
        if self.list.is_empty() {
            return Ok(());
        }
        self.list.sort_by_key(|e| (e.line, e.column));
        self.list.dedup();
        Err(PolicyErrors(self.list))
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), `word`
/// case-folded: strsim's `osa_distance`.
fn edit_distance(word: &str, candidate: &str) -> usize {
    strsim::osa_distance(&word.to_lowercase(), candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["auth", "rate_limit", "telemetry"];
        assert_eq!(closest("rate_limt", &keys), Some("rate_limit"));
        assert_eq!(closest("ratelimit", &keys), Some("rate_limit"));
        assert_eq!(closest("atuh", &keys), Some("auth"));
        assert_eq!(closest("Telemetry", &keys), Some("telemetry"));
        assert_eq!(closest("logging", &keys), None);
    }
}
