//! Names from a template that become file names: CloudFormation's rule for logical ids, and cargo's for binaries.

/// The longest logical id CloudFormation accepts.
const MAX_LOGICAL_ID: usize = 255;

/// Whether CloudFormation accepts `id` as a logical id: 1 to 255 ASCII letters and digits.
///
/// The emulator names folders of its build root after logical ids, so this is also what keeps
/// those folders inside it: no separator, no `..`, nothing empty.
pub(crate) fn is_logical_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LOGICAL_ID && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Why `id` is not a logical id, naming it and saying what CloudFormation allows.
pub(crate) fn check_logical_id(id: &str) -> Result<(), String> {
    if is_logical_id(id) {
        return Ok(());
    }
    let rule = "CloudFormation logical ids are 1 to 255 ASCII letters and digits (A-Z, a-z, 0-9)";
    Err(if id.is_empty() {
        format!("a resource has an empty logical id; {rule}")
    } else if id.len() > MAX_LOGICAL_ID {
        format!("the logical id `{}…` is {} bytes long; {rule}", truncated(id), id.len())
    } else {
        // Escaped: the id may hold control characters or anything else a terminal would act on.
        format!("`{}` is not a valid logical id; {rule}", id.escape_debug())
    })
}

fn truncated(id: &str) -> String {
    id.chars().take(32).collect::<String>().escape_debug().to_string()
}

/// Why `name` cannot be the cargo binary `Metadata.BuildProperties.Binary` names: it is given to
/// `cargo build --bin`, so it must be a target name, not a path or an option.
pub(crate) fn check_binary_name(name: &str) -> Result<(), String> {
    let valid =
        !name.is_empty() && !name.starts_with('-') && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a cargo binary name (letters, digits, `-` and `_`, not starting with `-`)",
            name.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_what_cloudformation_accepts() {
        for valid in ["Hello", "HelloFunction2", "A", "123", &"A".repeat(255)] {
            assert!(check_logical_id(valid).is_ok(), "{valid}");
        }
        for invalid in
            ["", "../../../victim", "..", ".", "a/b", "a\\b", "/abs", "Héllo", "Hello-World", "a b", "a\0b", "a.b"]
        {
            let error = check_logical_id(invalid).expect_err(invalid);
            assert!(error.contains("CloudFormation logical ids are 1 to 255 ASCII letters and digits"), "{error}");
        }
        let long = "A".repeat(256);
        assert!(check_logical_id(&long).expect_err("too long").contains("256 bytes long"));
        assert!(check_logical_id("a\nb").expect_err("newline").contains("`a\\nb`"), "control characters are escaped");
    }

    #[test]
    fn binary_names_are_cargo_target_names() {
        for valid in ["api", "my-api", "my_api2"] {
            assert!(check_binary_name(valid).is_ok(), "{valid}");
        }
        for invalid in ["", "-x", "--release", "../api", "a/b", "a b"] {
            assert!(check_binary_name(invalid).is_err(), "{invalid}");
        }
    }
}
