//! The claim checks an API Gateway JWT authorizer makes, and a few more, on an injected clock.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{AuthError, Principal};

/// What the claims must say.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Vec<String>,
    /// `token_use` values accepted when the claim is present; empty accepts any.
    pub(crate) token_use: Vec<String>,
    pub(crate) leeway: Duration,
    /// The oldest `iat` accepted (then `iat` is required), before the leeway.
    pub(crate) max_age: Option<Duration>,
}

/// A verified token's principal and the time it stops being valid.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) principal: Principal,
    pub(crate) expires_at: Duration,
}

impl ClaimRules {
    /// Checks `exp` (required), `nbf`, `iat`, `iss`, `aud` (or `client_id` without it) and
    /// `token_use` at `now` (since the Unix epoch) and reads the principal.
    pub(crate) fn check(&self, mut claims: Map<String, Value>, now: Duration) -> Result<Checked, AuthError> {
        let now_secs = now.as_secs_f64();
        let leeway = self.leeway.as_secs_f64();
        let exp = numeric(&claims, "exp")?.ok_or(AuthError::Claim("exp"))?;
        if now_secs >= exp + leeway {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = numeric(&claims, "nbf")?
            && now_secs + leeway < nbf
        {
            return Err(AuthError::NotYetValid);
        }
        if let Some(iat) = numeric(&claims, "iat")?
            && iat > now_secs + leeway
        {
            return Err(AuthError::IssuedInFuture);
        }
        if let Some(max_age) = self.max_age {
            let iat = numeric(&claims, "iat")?.ok_or(AuthError::Claim("iat"))?;
            if now_secs > iat + max_age.as_secs_f64() + leeway {
                return Err(AuthError::TooOld);
            }
        }
        let issuer = match claims.get("iss") {
            None => None,
            Some(Value::String(iss)) => Some(iss.clone()),
            Some(_) => return Err(AuthError::Claim("iss")),
        };
        if let Some(expected) = &self.issuer {
            match &issuer {
                None => return Err(AuthError::Claim("iss")),
                Some(iss) if iss != expected => return Err(AuthError::WrongIssuer),
                Some(_) => {}
            }
        }
        if !self.audience.is_empty() {
            let named = |aud: &Value| matches!(aud, Value::String(a) if self.audience.contains(a));
            match (claims.get("aud"), claims.get("client_id")) {
                // Cognito access tokens name their app client in `client_id` and have no `aud`;
                // API Gateway's JWT authorizer reads it as the audience then, and only then.
                (None, Some(client @ Value::String(_))) if named(client) => {}
                (None, Some(Value::String(_))) => return Err(AuthError::WrongAudience),
                (None, Some(_)) => return Err(AuthError::Claim("client_id")),
                (None, None) => return Err(AuthError::Claim("aud")),
                (Some(Value::Array(list)), _) if list.iter().any(named) => {}
                (Some(aud @ Value::String(_)), _) if named(aud) => {}
                (Some(Value::Array(_) | Value::String(_)), _) => return Err(AuthError::WrongAudience),
                (Some(_), _) => return Err(AuthError::Claim("aud")),
            }
        }
        match claims.get("token_use") {
            None => {}
            Some(Value::String(used)) if self.token_use.is_empty() || self.token_use.contains(used) => {}
            Some(Value::String(_)) => return Err(AuthError::TokenUseNotAccepted),
            Some(_) => return Err(AuthError::Claim("token_use")),
        }
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) => sub.clone(),
            _ => return Err(AuthError::Claim("sub")),
        };
        let scopes = scopes(&mut claims)?;
        Ok(Checked {
            principal: Principal { subject, issuer, scopes, claims },
            expires_at: Duration::from_secs_f64((exp + leeway).clamp(0.0, 1.0e12)),
        })
    }
}

fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_f64().filter(|n| n.is_finite()).map(Some).ok_or(AuthError::Claim(name)),
    }
}

fn scopes(claims: &mut Map<String, Value>) -> Result<Vec<String>, AuthError> {
    let spaced = |text: &str| text.split_whitespace().map(str::to_owned).collect();
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => Ok(spaced(scope)),
        (Some(_), _) => Err(AuthError::Claim("scope")),
        (None, Some(Value::String(scp))) => Ok(spaced(scp)),
        (None, Some(Value::Array(list))) => {
            list.iter().map(|s| s.as_str().map(str::to_owned).ok_or(AuthError::Claim("scp"))).collect()
        }
        (None, Some(_)) => Err(AuthError::Claim("scp")),
        (None, None) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: Duration = Duration::from_secs(1_700_000_000);

    fn check(rules: &ClaimRules, claims: Value) -> Result<Checked, AuthError> {
        let Value::Object(map) = claims else { panic!("object") };
        rules.check(map, NOW)
    }

    #[test]
    fn each_claim_check_fails_with_its_reason() {
        let rules = ClaimRules {
            issuer: Some("https://id".into()),
            audience: vec!["api".into()],
            token_use: vec!["access".into()],
            leeway: Duration::ZERO,
            max_age: None,
        };
        let now = NOW.as_secs();
        let good = json!({"sub":"a","iss":"https://id","aud":["x","api"],"exp":now+60,"scp":["r","w"]});
        let checked = check(&rules, good.clone()).expect("valid");
        assert_eq!(checked.principal.scopes, ["r", "w"]);
        assert_eq!(checked.expires_at, NOW + Duration::from_secs(60));
        let with = |key: &str, value: Value| {
            let mut claims = good.clone();
            claims[key] = value;
            claims
        };
        let without = |key: &str| {
            let mut claims = good.clone();
            claims.as_object_mut().expect("object").remove(key);
            claims
        };
        let cases = [
            (with("exp", json!(now)), AuthError::Expired),
            (with("exp", json!("soon")), AuthError::Claim("exp")),
            (without("exp"), AuthError::Claim("exp")),
            (with("nbf", json!(now + 1)), AuthError::NotYetValid),
            (with("iat", json!(now + 1)), AuthError::IssuedInFuture),
            (with("iss", json!("https://id/")), AuthError::WrongIssuer),
            (without("iss"), AuthError::Claim("iss")),
            (with("aud", json!("other")), AuthError::WrongAudience),
            (with("aud", json!([])), AuthError::WrongAudience),
            (with("aud", json!(7)), AuthError::Claim("aud")),
            (without("aud"), AuthError::Claim("aud")),
            (with("token_use", json!("id")), AuthError::TokenUseNotAccepted),
            (with("token_use", json!(["access"])), AuthError::Claim("token_use")),
            (without("sub"), AuthError::Claim("sub")),
            (with("sub", json!(42)), AuthError::Claim("sub")),
            (with("scope", json!(["a"])), AuthError::Claim("scope")),
        ];
        for (claims, expected) in cases {
            assert_eq!(check(&rules, claims.clone()).err(), Some(expected), "{claims}");
        }
    }

    #[test]
    fn client_id_is_the_audience_only_without_aud() {
        let rules = ClaimRules { audience: vec!["app".into()], ..ClaimRules::default() };
        let now = NOW.as_secs();
        let cognito_access = json!({"sub":"a","client_id":"app","token_use":"access","exp":now+60});
        assert!(check(&rules, cognito_access).is_ok());
        let other_client = json!({"sub":"a","client_id":"other","exp":now+60});
        assert_eq!(check(&rules, other_client).err(), Some(AuthError::WrongAudience));
        let not_text = json!({"sub":"a","client_id":["app"],"exp":now+60});
        assert_eq!(check(&rules, not_text).err(), Some(AuthError::Claim("client_id")));
        let aud_decides = json!({"sub":"a","aud":"other","client_id":"app","exp":now+60});
        assert_eq!(check(&rules, aud_decides).err(), Some(AuthError::WrongAudience));
        let null_aud = json!({"sub":"a","aud":null,"client_id":"app","exp":now+60});
        assert_eq!(check(&rules, null_aud).err(), Some(AuthError::Claim("aud")));
        let any_audience = ClaimRules::default();
        assert!(check(&any_audience, json!({"sub":"a","client_id":"other","token_use":"x","exp":now+60})).is_ok());
    }

    #[test]
    fn max_age_refuses_old_tokens_and_tokens_without_iat() {
        let rules = ClaimRules { max_age: Some(Duration::from_secs(300)), ..ClaimRules::default() };
        let now = 1_700_000_000_u64;
        let check = |claims: Value| match claims {
            Value::Object(map) => rules.check(map, Duration::from_secs(now)),
            _ => unreachable!(),
        };
        assert!(check(json!({"sub":"a","exp":now+60,"iat":now-300})).is_ok(), "exactly the maximum age");
        assert_eq!(check(json!({"sub":"a","exp":now+60,"iat":now-301})).err(), Some(AuthError::TooOld));
        assert_eq!(check(json!({"sub":"a","exp":now+60})).err(), Some(AuthError::Claim("iat")));
        let leeway = ClaimRules { leeway: Duration::from_secs(30), ..rules.clone() };
        let map = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(leeway.check(map(json!({"sub":"a","exp":now+60,"iat":now-330})), Duration::from_secs(now)).is_ok());
        assert_eq!(
            leeway.check(map(json!({"sub":"a","exp":now+60,"iat":now-331})), Duration::from_secs(now)).err(),
            Some(AuthError::TooOld)
        );
        // Without a maximum, age is not checked and `iat` stays optional.
        let open = ClaimRules::default();
        assert!(open.check(map(json!({"sub":"a","exp":now+60,"iat":0})), Duration::from_secs(now)).is_ok());
    }

    #[test]
    fn leeway_widens_exp_and_nbf() {
        let rules = ClaimRules { leeway: Duration::from_secs(30), ..ClaimRules::default() };
        let now = NOW.as_secs();
        assert!(check(&rules, json!({"sub":"a","exp":now-29,"nbf":now+29,"iat":now+29})).is_ok());
        assert_eq!(check(&rules, json!({"sub":"a","exp":now-30})).err(), Some(AuthError::Expired));
        assert_eq!(check(&rules, json!({"sub":"a","exp":now+60,"nbf":now+31})).err(), Some(AuthError::NotYetValid));
    }
}
