//! The IAM policy a Lambda authorizer returns, evaluated against the request's method ARN as
//! API Gateway does: an explicit `Deny` wins, then an `Allow`, and anything else is denied.

use serde_json::Value as Json;

/// What a policy says about one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A statement allows `execute-api:Invoke` on it, and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// No statement allows it.
    NotAllowed,
}

/// `*` matches any run of characters (`/` included) and `?` any one, as IAM's wildcards do.
pub(crate) fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let same = |p: char, t: char| if ignore_case { p.eq_ignore_ascii_case(&t) } else { p == t };
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and where in the text it started matching: backtrack there.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || (pattern[p] != '*' && same(pattern[p], text[t]))) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

fn one_or_many(value: &Json) -> Vec<&str> {
    match value {
        Json::String(one) => vec![one.as_str()],
        Json::Array(many) => many.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Evaluates `policyDocument` for `method_arn`.
///
/// # Errors
/// What is malformed (no statements, a statement without `Effect`, `Action` or `Resource`):
/// API Gateway answers such a policy with a 500.
pub(crate) fn evaluate(policy: &Json, method_arn: &str) -> Result<Decision, String> {
    let statements: Vec<&Json> = match &policy["Statement"] {
        Json::Array(statements) if !statements.is_empty() => statements.iter().collect(),
        statement @ Json::Object(_) => vec![statement],
        _ => return Err("policyDocument.Statement is missing or empty".to_owned()),
    };
    let mut allowed = false;
    for statement in statements {
        let effect = statement["Effect"].as_str().ok_or("a statement has no Effect")?;
        let actions = one_or_many(&statement["Action"]);
        let resources = one_or_many(&statement["Resource"]);
        if actions.is_empty() || resources.is_empty() {
            return Err("a statement has no Action or Resource".to_owned());
        }
        let invokes = actions.iter().any(|action| wildcard_match(action, "execute-api:Invoke", true));
        let covers = resources.iter().any(|resource| wildcard_match(resource, method_arn, false));
        if !(invokes && covers) {
            continue;
        }
        match effect {
            "Deny" => return Ok(Decision::ExplicitDeny),
            "Allow" => allowed = true,
            other => return Err(format!("Effect `{other}` is neither Allow nor Deny")),
        }
    }
    Ok(if allowed { Decision::Allow } else { Decision::NotAllowed })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/orders/42";

    #[test]
    fn wildcards_as_iam_reads_them() {
        assert!(wildcard_match("arn:aws:execute-api:*:*:local/*", ARN, false));
        assert!(wildcard_match("*", ARN, false));
        assert!(wildcard_match("arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/orders/??", ARN, false));
        assert!(wildcard_match("arn:*/GET/*", ARN, false));
        assert!(!wildcard_match("arn:*/POST/*", ARN, false));
        assert!(!wildcard_match("arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/orders", ARN, false));
        assert!(!wildcard_match("arn:*/get/*", ARN, false), "resources are case-sensitive");
        assert!(wildcard_match("execute-api:*", "execute-api:Invoke", true));
        assert!(wildcard_match("Execute-API:invoke", "execute-api:Invoke", true));
        assert!(wildcard_match("a*b*c", "aXXbYYc", false));
        assert!(!wildcard_match("a*b*c", "aXXbYY", false));
    }

    fn policy(statements: Json) -> Json {
        json!({ "Version": "2012-10-17", "Statement": statements })
    }

    #[test]
    fn deny_wins_then_allow_then_nothing() {
        let allow = json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:*/Prod/*"});
        let deny = json!({"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [ARN]});
        assert_eq!(evaluate(&policy(json!([allow])), ARN), Ok(Decision::Allow));
        assert_eq!(evaluate(&policy(json!([allow, deny])), ARN), Ok(Decision::ExplicitDeny));
        assert_eq!(evaluate(&policy(allow.clone()), ARN), Ok(Decision::Allow), "one statement as an object");
        let elsewhere = json!({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:*/Prod/POST/*"});
        assert_eq!(evaluate(&policy(json!([elsewhere])), ARN), Ok(Decision::NotAllowed));
        let other_action = json!({"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"});
        assert_eq!(evaluate(&policy(json!([other_action])), ARN), Ok(Decision::NotAllowed));
        assert!(evaluate(&policy(json!([])), ARN).is_err());
        assert!(evaluate(&json!({}), ARN).is_err());
        assert!(evaluate(&policy(json!([{"Effect": "Allow", "Resource": "*"}])), ARN).is_err());
    }
}
