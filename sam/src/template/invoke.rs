//! What the Invoke API needs of a function: its aliases and published versions, its reserved
//! concurrency, and how its asynchronous invocations are retried and where their records go
//! (`EventInvokeConfig`, `DeadLetterQueue`).

use serde_json::Value as Json;

use super::json_text;

/// Where a record of an asynchronous invocation goes (`DestinationConfig.OnSuccess`/`OnFailure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `Type`: `Lambda`, `SQS`, `SNS`, `EventBridge` or `S3Bucket`.
    pub kind: String,
    /// `Destination`: the target's ARN (blank when SAM would create the queue or topic).
    pub arn: String,
}

/// A function's settings for the Invoke API, from its properties and the template's
/// `AWS::Lambda::Alias`/`AWS::Lambda::Version` resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvokeSettings {
    /// Aliases (`AutoPublishAlias`, `AWS::Lambda::Alias` names) with the version each points to.
    pub aliases: Vec<(String, String)>,
    /// Whether a version is published (`AutoPublishAlias`, an `AWS::Lambda::Version`): the
    /// template's code is then version `1`, the only one a local run has.
    pub published: bool,
    /// `ReservedConcurrentExecutions`.
    pub reserved_concurrency: Option<u32>,
    /// `EventInvokeConfig.MaximumRetryAttempts` (0-2; Lambda's default is 2).
    pub max_retry_attempts: Option<u32>,
    /// `EventInvokeConfig.MaximumEventAgeInSeconds` (60-21600; Lambda's default is 21600).
    pub max_event_age_seconds: Option<u64>,
    /// `EventInvokeConfig.DestinationConfig.OnSuccess`.
    pub on_success: Option<Destination>,
    /// `EventInvokeConfig.DestinationConfig.OnFailure`.
    pub on_failure: Option<Destination>,
    /// `DeadLetterQueue`: its `Type` and `TargetArn`.
    pub dead_letter: Option<Destination>,
}

fn whole(value: &Json, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let text = json_text(value);
    match text.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(format!("{name}: `{text}` is not a whole number in {}-{}", range.start(), range.end())),
    }
}

fn destination(value: &Json, name: &str) -> Result<Option<Destination>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let kind = value["Type"].as_str().ok_or_else(|| format!("{name}.Type is missing"))?;
    if !["Lambda", "SQS", "SNS", "EventBridge", "S3Bucket"].contains(&kind) {
        return Err(format!("{name}.Type: `{kind}` is not one of Lambda, SQS, SNS, EventBridge, S3Bucket"));
    }
    let arn = if value["Destination"].is_null() { String::new() } else { json_text(&value["Destination"]) };
    if kind == "Lambda" && arn.is_empty() {
        return Err(format!("{name}.Destination is required for Type Lambda"));
    }
    Ok(Some(Destination { kind: kind.to_owned(), arn }))
}

/// The settings in a function's resolved properties; an error names the property at fault.
pub(crate) fn settings(properties: &Json) -> Result<InvokeSettings, String> {
    let mut settings = InvokeSettings::default();
    if let Some(alias) = properties["AutoPublishAlias"].as_str().filter(|a| !a.is_empty()) {
        settings.aliases.push((alias.to_owned(), "1".to_owned()));
        settings.published = true;
    }
    settings.reserved_concurrency =
        whole(&properties["ReservedConcurrentExecutions"], "ReservedConcurrentExecutions", 0..=u64::from(u32::MAX))?
            .map(|n| n as u32);
    let config = &properties["EventInvokeConfig"];
    settings.max_retry_attempts =
        whole(&config["MaximumRetryAttempts"], "EventInvokeConfig.MaximumRetryAttempts", 0..=2)?.map(|n| n as u32);
    settings.max_event_age_seconds =
        whole(&config["MaximumEventAgeInSeconds"], "EventInvokeConfig.MaximumEventAgeInSeconds", 60..=21_600)?;
    let destinations = &config["DestinationConfig"];
    settings.on_success = destination(&destinations["OnSuccess"], "EventInvokeConfig.DestinationConfig.OnSuccess")?;
    settings.on_failure = destination(&destinations["OnFailure"], "EventInvokeConfig.DestinationConfig.OnFailure")?;
    let dead_letter = &properties["DeadLetterQueue"];
    if !dead_letter.is_null() {
        let kind = dead_letter["Type"]
            .as_str()
            .filter(|k| ["SQS", "SNS"].contains(k))
            .ok_or_else(|| format!("DeadLetterQueue.Type: `{}` is not SQS or SNS", json_text(&dead_letter["Type"])))?;
        settings.dead_letter = Some(Destination { kind: kind.to_owned(), arn: json_text(&dead_letter["TargetArn"]) });
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_aliases_concurrency_and_event_invoke_config() {
        let properties = json!({
            "AutoPublishAlias": "live",
            "ReservedConcurrentExecutions": 1,
            "EventInvokeConfig": {
                "MaximumRetryAttempts": 1,
                "MaximumEventAgeInSeconds": "120",
                "DestinationConfig": {
                    "OnFailure": {"Type": "Lambda", "Destination": "arn:aws:lambda:us-east-1:123456789012:function:Sink"},
                    "OnSuccess": {"Type": "SQS"},
                },
            },
            "DeadLetterQueue": {"Type": "SNS", "TargetArn": "arn:aws:sns:us-east-1:123456789012:dlq"},
        });
        let settings = settings(&properties).expect("valid");
        assert_eq!(settings.aliases, vec![("live".to_owned(), "1".to_owned())]);
        assert!(settings.published);
        assert_eq!(settings.reserved_concurrency, Some(1));
        assert_eq!(settings.max_retry_attempts, Some(1));
        assert_eq!(settings.max_event_age_seconds, Some(120));
        assert_eq!(settings.on_failure.as_ref().map(|d| d.kind.as_str()), Some("Lambda"));
        assert_eq!(settings.on_success, Some(Destination { kind: "SQS".into(), arn: String::new() }));
        assert_eq!(
            settings.dead_letter.as_ref().map(|d| d.arn.as_str()),
            Some("arn:aws:sns:us-east-1:123456789012:dlq")
        );
        assert_eq!(super::settings(&json!({})).expect("empty"), InvokeSettings::default());
    }

    #[test]
    fn out_of_range_values_name_the_property() {
        let cases = [
            (json!({"EventInvokeConfig": {"MaximumRetryAttempts": 3}}), "MaximumRetryAttempts"),
            (json!({"EventInvokeConfig": {"MaximumEventAgeInSeconds": 10}}), "MaximumEventAgeInSeconds"),
            (json!({"ReservedConcurrentExecutions": -1}), "ReservedConcurrentExecutions"),
            (json!({"EventInvokeConfig": {"DestinationConfig": {"OnFailure": {"Type": "Lambda"}}}}), "OnFailure"),
            (json!({"EventInvokeConfig": {"DestinationConfig": {"OnFailure": {"Type": "Kafka"}}}}), "Kafka"),
            (json!({"DeadLetterQueue": {"Type": "Lambda"}}), "DeadLetterQueue.Type"),
        ];
        for (properties, expected) in cases {
            let error = settings(&properties).expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
    }
}
