//! AWS Signature Version 4 for the one request the core sends to AWS (Secrets Manager's
//! GetSecretValue): signed headers, no query string, the payload hashed into the signature.

use std::fmt::Write as _;
use std::time::SystemTime;

use ring::{digest, hmac};

/// The credentials a request is signed with.
pub(crate) struct Credentials<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a [u8],
    pub(crate) session_token: Option<&'a str>,
}

/// What is signed: a request without a query string.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The path as it goes on the wire (already percent-encoded), `/` for the root.
    pub(crate) path: &'a str,
    /// Every header to sign, `host` included; `x-amz-date` and `x-amz-security-token` are
    /// added by [`sign`].
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) payload: &'a [u8],
}

/// Signs `request` for `service` in `region` at `time`; returns the headers to add to it:
/// `x-amz-date`, `x-amz-security-token` when there is a session token, and `authorization`.
pub(crate) fn sign(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Vec<(&'static str, String)> {
    sign_path(request, &canonical_path(request.path), credentials, region, service, time)
}

/// [`sign`] for S3, which signs the wire path as it is sent (encoded once, not twice); the
/// payload hash goes in `x-amz-content-sha256`, which `request` must carry.
pub(crate) fn sign_s3(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    region: &str,
    time: SystemTime,
) -> Vec<(&'static str, String)> {
    let path = if request.path.is_empty() { "/" } else { request.path };
    sign_path(request, path, credentials, region, "s3", time)
}

/// The hex SHA-256 of a payload, as `x-amz-content-sha256` carries it.
pub(crate) fn payload_hash(payload: &[u8]) -> String {
    hex_sha256(payload)
}

fn sign_path(
    request: &Request<'_>,
    canonical_path: &str,
    credentials: &Credentials<'_>,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Vec<(&'static str, String)> {
    let amz_date = amz_date(time);
    let date = &amz_date[..8];
    let mut added = vec![("x-amz-date", amz_date.clone())];
    if let Some(token) = credentials.session_token {
        added.push(("x-amz-security-token", token.to_owned()));
    }

    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (*name, *value))
        .chain(added.iter().map(|(name, value)| (*name, value.as_str())))
        .map(|(name, value)| (name.to_ascii_lowercase(), normalize_value(value)))
        .collect();
    // A stable sort keeps repeated headers in request order, as their joined value must be.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    let mut signed_headers = String::new();
    for (index, (name, value)) in headers.iter().enumerate() {
        if index > 0 && headers[index - 1].0 == *name {
            canonical_headers.pop();
            let _ = writeln!(canonical_headers, ",{value}");
            continue;
        }
        let _ = writeln!(canonical_headers, "{name}:{value}");
        if !signed_headers.is_empty() {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }

    let canonical_request = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        canonical_path,
        hex_sha256(request.payload),
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex_sha256(canonical_request.as_bytes()));

    let mut secret = b"AWS4".to_vec();
    secret.extend_from_slice(credentials.secret_access_key);
    let key = [date, region, service, "aws4_request"].iter().fold(secret, |key, part| mac(&key, part.as_bytes()));
    let signature = hex::encode(mac(&key, string_to_sign.as_bytes()));

    added.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
    ));
    added
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC, from humantime's RFC 3339 form.
fn amz_date(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string().chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// A header value with its ends trimmed and runs of spaces folded to one, as SigV4 specifies.
fn normalize_value(value: &str) -> String {
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986's unreserved characters, the only ones SigV4 leaves unencoded.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One path segment (or query value) encoded as SigV4 and the AWS APIs expect: every byte but
/// the unreserved characters, `/` included.
pub(crate) fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, UNRESERVED).to_string()
}

/// The path encoded once more (every service but S3 signs the wire path double-encoded),
/// `/` kept; an empty path is `/`.
fn canonical_path(path: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/');
    if path.is_empty() {
        return "/".to_owned();
    }
    percent_encoding::utf8_percent_encode(path, KEEP).to_string()
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// 2015-08-30T12:36:00Z, the time of the AWS signing test suite.
    const SUITE_TIME: Duration = Duration::from_secs(1_440_938_160);
    const SUITE_KEY: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn suite(
        method: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
        token: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let credentials =
            Credentials { access_key_id: "AKIDEXAMPLE", secret_access_key: SUITE_KEY, session_token: token };
        let request = Request { method, path: "/", headers, payload };
        sign(&request, &credentials, "us-east-1", "service", UNIX_EPOCH + SUITE_TIME)
    }

    fn authorization<'a>(added: &'a [(&'static str, String)]) -> &'a str {
        &added.iter().find(|(name, _)| *name == "authorization").expect("an authorization header").1
    }

    struct Vector<'a> {
        name: &'a str,
        method: &'a str,
        headers: Vec<(&'a str, &'a str)>,
        payload: &'a [u8],
        token: Option<&'a str>,
        signed: &'a str,
        signature: &'a str,
    }

    /// Vectors of the AWS Signature Version 4 test suite (as shipped in aws-sigv4's
    /// `aws-signing-test-suite/v4`): the expected signatures are AWS's, not this code's.
    #[test]
    fn signs_the_aws_test_suite_vectors() {
        let host = ("Host", "example.amazonaws.com");
        let cases = [
            Vector {
                name: "get-vanilla",
                method: "GET",
                headers: vec![host],
                payload: b"",
                token: None,
                signed: "host;x-amz-date",
                signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            },
            Vector {
                name: "post-vanilla",
                method: "POST",
                headers: vec![host],
                payload: b"",
                token: None,
                signed: "host;x-amz-date",
                signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            },
            Vector {
                name: "post-header-key-sort",
                method: "POST",
                headers: vec![host, ("My-Header1", "value1")],
                payload: b"",
                token: None,
                signed: "host;my-header1;x-amz-date",
                signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            },
            Vector {
                name: "get-header-value-trim",
                method: "GET",
                headers: vec![host, ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
                payload: b"",
                token: None,
                signed: "host;my-header1;my-header2;x-amz-date",
                signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            },
            Vector {
                name: "post-sts-header-before",
                method: "POST",
                headers: vec![host],
                payload: b"",
                token: Some(SUITE_TOKEN),
                signed: "host;x-amz-date;x-amz-security-token",
                signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
            },
            Vector {
                name: "get-vanilla-with-session-token",
                method: "GET",
                headers: vec![host],
                payload: b"",
                token: Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
                signed: "host;x-amz-date;x-amz-security-token",
                signature: "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
            },
            Vector {
                // The suite signs this body's hash, given here as a header the caller sets.
                name: "post-x-www-form-urlencoded",
                method: "POST",
                headers: vec![
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    host,
                    ("Content-Length", "13"),
                    ("x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
                ],
                payload: b"Param1=value1",
                token: None,
                signed: "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                signature: "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            },
        ];
        for Vector { name, method, headers, payload, token, signed, signature } in cases {
            let added = suite(method, &headers, payload, token);
            let expected = format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders={signed}, Signature={signature}"
            );
            assert_eq!(authorization(&added), expected, "{name}");
            assert_eq!(added[0], ("x-amz-date", "20150830T123600Z".to_owned()), "{name}");
            let sent_token = added.iter().find(|(n, _)| *n == "x-amz-security-token").map(|(_, v)| v.as_str());
            assert_eq!(sent_token, token, "{name}");
        }
    }

    #[test]
    fn repeated_headers_are_joined_in_request_order() {
        // The suite's get-header-key-duplicate: My-Header1 given as value2, value2, value1.
        let headers = [
            ("Host", "example.amazonaws.com"),
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ];
        let added = suite("GET", &headers, b"", None);
        assert!(
            authorization(&added)
                .ends_with("Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
            "{}",
            authorization(&added)
        );
    }

    #[test]
    fn paths_are_encoded_once_more_and_an_empty_one_is_the_root() {
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/a-b_c.d~e/f"), "/a-b_c.d~e/f");
        assert_eq!(canonical_path("/a%20b"), "/a%2520b");
    }

    #[test]
    fn dates_are_basic_iso_8601_in_utc() {
        assert_eq!(amz_date(UNIX_EPOCH + SUITE_TIME), "20150830T123600Z");
        assert_eq!(amz_date(UNIX_EPOCH + SUITE_TIME + Duration::from_millis(999)), "20150830T123600Z");
    }

    /// The request the Secrets Manager client sends, signed here and by the `aws-sigv4` crate
    /// (the AWS SDK's own signer) with the same inputs: the headers must be identical.
    #[test]
    fn signs_a_get_secret_value_request_as_the_aws_sdk_signer_does() {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;

        let body = br#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt key/\u00e9-AbCdEf","VersionStage":"AWSPREVIOUS"}"#;
        let headers = [
            ("host", "secretsmanager.eu-west-1.amazonaws.com"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.GetSecretValue"),
        ];
        let times = [SUITE_TIME, Duration::from_secs(1_800_000_000), Duration::from_secs(4_102_444_799)];
        for (time, token) in times.into_iter().zip([Some(SUITE_TOKEN), None, Some("short-token")]) {
            let time = UNIX_EPOCH + time;
            let credentials =
                Credentials { access_key_id: "ASIAEXAMPLE", secret_access_key: SUITE_KEY, session_token: token };
            let request = Request { method: "POST", path: "/", headers: &headers, payload: body };
            let ours = sign(&request, &credentials, "eu-west-1", "secretsmanager", time);

            let identity = aws_credential_types::Credentials::new(
                "ASIAEXAMPLE",
                std::str::from_utf8(SUITE_KEY).expect("ascii"),
                token.map(str::to_owned),
                None,
                "test",
            )
            .into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("eu-west-1")
                .name("secretsmanager")
                .time(time)
                .settings(SigningSettings::default())
                .build()
                .expect("signing params")
                .into();
            let signable = SignableRequest::new(
                "POST",
                "https://secretsmanager.eu-west-1.amazonaws.com/",
                headers.iter().copied(),
                SignableBody::Bytes(body),
            )
            .expect("signable");
            let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).expect("signed").into_parts();
            let mut theirs: Vec<(String, String)> =
                instructions.headers().map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned())).collect();
            let mut ours: Vec<(String, String)> =
                ours.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
            theirs.sort();
            ours.sort();
            assert_eq!(ours, theirs, "token {token:?}");
        }
    }

    #[test]
    fn signs_an_s3_get_object_as_the_aws_sdk_signer_does() {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
            UriPathNormalizationMode,
        };
        use aws_sigv4::sign::v4;

        // A key with a space and a non-ASCII letter: the wire path is encoded once, and S3 signs
        // it as it is (the SDK's S3 settings: no second encoding, no path normalization).
        let path = "/policies/live/p%C3%A9%20x.yaml";
        let hash = payload_hash(b"");
        let headers = [("host", "s3.eu-west-1.amazonaws.com"), ("x-amz-content-sha256", hash.as_str())];
        let time = UNIX_EPOCH + SUITE_TIME;
        let credentials = Credentials {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: SUITE_KEY,
            session_token: Some(SUITE_TOKEN),
        };
        let request = Request { method: "GET", path, headers: &headers, payload: b"" };
        let ours = sign_s3(&request, &credentials, "eu-west-1", time);

        let identity = aws_credential_types::Credentials::new(
            "ASIAEXAMPLE",
            std::str::from_utf8(SUITE_KEY).expect("ascii"),
            Some(SUITE_TOKEN.to_owned()),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let url = format!("https://s3.eu-west-1.amazonaws.com{path}");
        let signable = SignableRequest::new("GET", &url, headers[..1].iter().copied(), SignableBody::Bytes(b""))
            .expect("signable");
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params).expect("signed").into_parts();
        let mut theirs: Vec<(String, String)> = instructions
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .filter(|(name, _)| name != "x-amz-content-sha256")
            .collect();
        let mut ours: Vec<(String, String)> = ours.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
        theirs.sort();
        ours.sort();
        assert_eq!(ours, theirs);
    }
}
