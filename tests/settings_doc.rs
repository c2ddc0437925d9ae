//! The README's settings tables and the settings the code reads cannot drift apart: every core
//! setting declared in `intercept-settings` has a README row whose default is the declared one;
//! every `INTERCEPT_*` / `OTEL_*` variable named in the source of the shipped crates (tests
//! excluded; the core's are named once, in `intercept-settings`) has a row in a README table,
//! and every row names a variable some code reads.

use std::collections::BTreeSet;
use std::path::Path;

use intercept_tests::workspace;

/// Source folders whose settings users set: the core and its declarations, the extension, the
/// layer's scripts, the emulator and the macro.
const SOURCES: [&str; 6] =
    ["wrapper/src", "wrapper/settings/src", "wrapper/macros/src", "extension/src", "layer", "sam/src"];

fn is_setting_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

/// Every `INTERCEPT_*` or `OTEL_*` word in `text`; with `quoted`, only those opening a string
/// literal (what code reads, not what comments mention).
fn setting_names(text: &str, quoted: bool) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for prefix in ["INTERCEPT_", "OTEL_"] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            let preceded_by_word = before.is_some_and(is_setting_char) || (quoted && before != Some('"'));
            let name: String = rest[at..].chars().take_while(|&c| is_setting_char(c)).collect();
            rest = &rest[at + name.len().max(1)..];
            // `OTEL_EXPORTER_OTLP_` alone (a prefix in a comment or format string) is not a setting.
            if !preceded_by_word && !name.ends_with('_') {
                names.insert(name);
            }
        }
    }
    names
}

/// The source without its `#[cfg(test)]` modules: settings only tests use are not the user's.
fn without_tests(source: &str) -> &str {
    source.find("#[cfg(test)]\nmod tests").map_or(source, |at| &source[..at])
}

fn collect(dir: &Path, names: &mut BTreeSet<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            // Benchmarks and test programs are not what users configure.
            if !matches!(file_name, "tests" | "benches" | "target") {
                collect(&path, names);
            }
        } else if file_name.ends_with(".rs") || file_name == "intercept-wrapper" {
            let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            names.extend(setting_names(without_tests(&source), file_name.ends_with(".rs")));
        }
    }
}

/// Names in the first cell of README table rows.
fn documented(readme: &str) -> BTreeSet<String> {
    readme
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1))
        .flat_map(|cell| setting_names(cell, false))
        .collect()
}

#[test]
fn every_setting_the_code_reads_is_in_the_readme_and_back() {
    let root = workspace();
    let mut read = BTreeSet::new();
    for dir in SOURCES {
        collect(&root.join(dir), &mut read);
    }
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let documented = documented(&readme);
    assert!(read.len() > 20, "the scan found too few settings to be working: {read:?}");
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(undocumented.is_empty(), "settings read by the code but missing from README's tables: {undocumented:?}");
    assert!(unread.is_empty(), "README documents settings no code reads: {unread:?}");
}

/// The README's rows: the names in the first cell, and the third cell (the default).
fn rows(readme: &str) -> Vec<(BTreeSet<String>, String)> {
    readme
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            Some((setting_names(cells.get(1)?, false), cells.get(3)?.trim().to_owned()))
        })
        .collect()
}

#[test]
fn every_declared_setting_has_a_row_with_its_default() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let rows = rows(&readme);
    assert!(intercept_settings::ALL.len() > 30, "too few declarations: {}", intercept_settings::ALL.len());
    for setting in intercept_settings::ALL {
        let Some((_, default)) = rows.iter().find(|(names, _)| names.contains(setting.name)) else {
            panic!("{} is declared in intercept-settings but has no README row", setting.name);
        };
        if let Some(declared) = setting.default {
            assert!(
                default.contains(&format!("`{declared}`")),
                "{}: the README's default `{default}` does not say the declared `{declared}`",
                setting.name
            );
        }
    }
}

#[test]
fn the_scanner_finds_names_and_skips_prefixes() {
    let text = r#"get("INTERCEPT_AUTH") "OTEL_EXPORTER_OTLP_{signal}" MY_INTERCEPT_X `OTEL_SERVICE_NAME`"#;
    let all: Vec<_> = setting_names(text, false).into_iter().collect();
    assert_eq!(all, ["INTERCEPT_AUTH", "OTEL_SERVICE_NAME"]);
    let quoted: Vec<_> = setting_names(text, true).into_iter().collect();
    assert_eq!(quoted, ["INTERCEPT_AUTH"]);
}
