//! Layers given by ARN (how Powertools, Datadog or ADOT are attached), downloaded as SAM CLI's
//! `LayerDownloader` downloads them: Lambda's `GetLayerVersion` (a SigV4-signed request with the
//! credentials functions get), its `Content.Location` fetched and extracted into
//! `<--layer-cache-basedir>/<Name>-<Version>-<first 10 hex digits of the ARN's sha256>`, and that
//! folder reused while it exists. The endpoint is `AWS_ENDPOINT_URL_LAMBDA`, else
//! `AWS_ENDPOINT_URL`, else Lambda's in the ARN's region.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use sha2::Digest as _;

use crate::aws_profile::AwsCredentials;

/// A layer version ARN's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerArn {
    /// `arn:aws:lambda:REGION:ACCOUNT:layer:NAME` (what `GetLayerVersion` takes as LayerName).
    pub(crate) layer_arn: String,
    pub(crate) partition: String,
    pub(crate) region: String,
    pub(crate) name: String,
    pub(crate) version: u64,
}

/// Reads `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION`.
///
/// # Errors
/// A message naming the ARN and the form expected.
pub(crate) fn parse(arn: &str) -> Result<LayerArn, String> {
    let bad = || format!("`{arn}` is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)");
    let parts: Vec<&str> = arn.split(':').collect();
    let [prefix, partition, service, region, account, kind, name, version] = parts.as_slice() else {
        return Err(bad());
    };
    let word = |s: &str, extra: &[char]| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(&c))
    };
    let version: u64 = version.parse().map_err(|_| bad())?;
    if *prefix != "arn"
        || *service != "lambda"
        || *kind != "layer"
        || !word(partition, &[])
        || !word(region, &[])
        || !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
        || !word(name, &['_'])
        || name.len() > 140
    {
        return Err(bad());
    }
    Ok(LayerArn {
        layer_arn: parts[..7].join(":"),
        partition: (*partition).to_owned(),
        region: (*region).to_owned(),
        name: (*name).to_owned(),
        version,
    })
}

/// The folder SAM CLI caches the layer in: `<Name>-<Version>-<sha256(arn)[..10]>`.
pub(crate) fn cache_name(arn: &str, parsed: &LayerArn) -> String {
    let digest = hex::encode(sha2::Sha256::digest(arn.as_bytes()));
    format!("{}-{}-{}", parsed.name, parsed.version, &digest[..10])
}

/// SAM CLI's default cache: `~/.aws-sam/layers-pkg`.
pub(crate) fn default_cache_basedir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".aws-sam").join("layers-pkg")
}

/// Lambda's endpoint for `parsed`: `AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL`, or the
/// service's in the ARN's region.
fn endpoint(parsed: &LayerArn, env: &dyn Fn(&str) -> Option<String>) -> String {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    set("AWS_ENDPOINT_URL_LAMBDA").or_else(|| set("AWS_ENDPOINT_URL")).map_or_else(
        || {
            let suffix = if parsed.partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" };
            format!("https://lambda.{}.{suffix}", parsed.region)
        },
        |url| url.trim_end_matches('/').to_owned(),
    )
}

/// The layer's folder in `cache_basedir`, downloaded first unless it is there already.
///
/// # Errors
/// A message naming the ARN and what failed: no credentials, Lambda's refusal, the download or
/// the extraction.
pub(crate) fn layer_dir(
    arn: &str,
    cache_basedir: &Path,
    credentials: Option<&AwsCredentials>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, String> {
    let parsed = parse(arn)?;
    let dir = cache_basedir.join(cache_name(arn, &parsed));
    if dir.is_dir() {
        return Ok(dir);
    }
    let credentials = credentials.ok_or_else(|| {
        format!(
            "layer {arn}: layers given by ARN are downloaded with Lambda's GetLayerVersion, which needs AWS \
             credentials (--profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    })?;
    let endpoint = endpoint(&parsed, env);
    std::fs::create_dir_all(cache_basedir).map_err(|e| format!("layer {arn}: {}: {e}", cache_basedir.display()))?;
    // Extracted beside the final folder and renamed into place: a folder that exists is whole,
    // for this process, another one, and SAM CLI sharing the cache.
    let partial = cache_basedir.join(format!(".{}.partial-{}", cache_name(arn, &parsed), std::process::id()));
    let zip_path = partial.with_extension("zip");
    let _ = std::fs::remove_dir_all(&partial);
    let fetched = fetch(&parsed, &endpoint, credentials, &zip_path, DOWNLOAD_LIMIT);
    let extracted = fetched.and_then(|()| {
        intercept_layer::unzip_within(&zip_path, &partial, intercept_layer::Limits::default())
            .map_err(|e| format!("its content is not a usable layer zip: {e}"))
    });
    let _ = std::fs::remove_file(&zip_path);
    let extracted = extracted.map_err(|e| format!("layer {arn}: {e}"))?;
    for skipped in &extracted.skipped {
        eprintln!("warning: layer {arn}: {skipped}");
    }
    match std::fs::rename(&partial, &dir) {
        Ok(()) => Ok(dir),
        // Another process put it there first.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(dir)
        }
        Err(e) => Err(format!("layer {arn}: cannot move it into {}: {e}", dir.display())),
    }
}

/// The most a layer's zip may weigh when downloaded: Lambda's 250 MB unzipped quota
/// (`CodeSizeUnzipped`), which no layer exceeds. The 50 MB `CodeSizeZipped` quota is for direct
/// uploads only: a layer published from S3 may be larger zipped, so it is not the bound here.
const DOWNLOAD_LIMIT: u64 = intercept_layer::UNZIPPED_LIMIT;

/// `GetLayerVersion`, then its `Content.Location` streamed into `zip_path`, refused past `limit`
/// bytes.
fn fetch(
    parsed: &LayerArn,
    endpoint: &str,
    credentials: &AwsCredentials,
    zip_path: &Path,
    limit: u64,
) -> Result<(), String> {
    let encoded_name = parsed.layer_arn.replace(':', "%3A");
    let url = format!("{endpoint}/2018-10-31/layers/{encoded_name}/versions/{}", parsed.version);
    let (parsed, credentials, zip_path) = (parsed.clone(), credentials.clone(), zip_path.to_owned());
    // The `local` commands build environments from sync code, inside or outside tokio: the
    // requests run on a thread and runtime of their own.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start an HTTP client: {e}"))?;
        runtime.block_on(async {
            let client = client()?;
            let signed = signed_get(&url, &parsed.region, &credentials)?;
            let (status, body) = send(&client, signed).await.map_err(|e| format!("GetLayerVersion {url}: {e}"))?;
            if !status.is_success() {
                return Err(refusal(status, &body));
            }
            let response: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| format!("GetLayerVersion answered with something other than JSON: {e}"))?;
            let location = response["Content"]["Location"]
                .as_str()
                .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
                .ok_or_else(|| {
                    let mut content = response["Content"].clone();
                    if let Some(location) = content.get_mut("Location").filter(|l| l.is_string()) {
                        *location =
                            serde_json::Value::String(without_query(location.as_str().unwrap_or("")).to_owned());
                    }
                    format!("GetLayerVersion gave no downloadable Content.Location ({content})")
                })?;
            // The location is presigned: its query string holds the signature, never printed.
            let shown = without_query(location);
            let request = http::Request::get(location)
                .body(Full::new(Bytes::new()))
                .map_err(|e| format!("bad Content.Location {shown}: {e}"))?;
            download(&client, request, &zip_path, limit).await.map_err(|e| format!("downloading {shown}: {e}"))
        })
    })
    .join()
    .map_err(|_| "the download thread panicked".to_owned())?
}

/// `url` without its query string or fragment (a presigned URL's credentials and signature).
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Streams the answer to `request` into `path`, refused past `limit` bytes (the file removed).
async fn download(
    client: &HttpsClient,
    request: http::Request<Full<Bytes>>,
    path: &Path,
    limit: u64,
) -> Result<(), String> {
    let idle = Duration::from_secs(60);
    let response = tokio::time::timeout(idle, client.request(request))
        .await
        .map_err(|_| "no answer within 60 s".to_owned())?
        .map_err(|e| format!("{e}"))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut file = CappedFile::create(path, limit)?;
    let mut body = response.into_body();
    let streamed = async {
        while let Some(frame) =
            tokio::time::timeout(idle, body.frame()).await.map_err(|_| "stalled for 60 s".to_owned())?
        {
            if let Ok(data) = frame.map_err(|e| format!("{e}"))?.into_data() {
                file.write(&data)?;
            }
        }
        file.finish()
    };
    let result = streamed.await;
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// A file that refuses to grow past `limit` bytes.
struct CappedFile {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    written: u64,
    limit: u64,
}

impl CappedFile {
    fn create(path: &Path, limit: u64) -> Result<Self, String> {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { file: std::io::BufWriter::new(file), path: path.to_owned(), written: 0, limit })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), String> {
        use std::io::Write as _;
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(format!(
                "it is larger than {} bytes, the most a layer can be (Lambda's 250 MB unzipped quota); \
                 download stopped",
                self.limit
            ));
        }
        self.file.write_all(chunk).map_err(|e| format!("{}: {e}", self.path.display()))
    }

    fn finish(mut self) -> Result<(), String> {
        use std::io::Write as _;
        self.file.flush().map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// What Lambda's refusal means, as SAM CLI words it.
fn refusal(status: http::StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let detail: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let message = detail["message"].as_str().or(detail["Message"].as_str()).unwrap_or(&text).to_owned();
    match status.as_u16() {
        404 => format!("was not found (GetLayerVersion: HTTP 404 {message})"),
        401 | 403 => format!(
            "the credentials cannot download it: they need lambda:GetLayerVersion on the layer \
             (GetLayerVersion: HTTP {status} {message})"
        ),
        _ => format!("GetLayerVersion failed: HTTP {status} {message}"),
    }
}

type HttpsClient = intercept_tls::HttpsClient<Full<Bytes>>;

/// An HTTP(S) client trusting the system's CA store, on ring (nothing process-wide installed):
/// the workspace's one builder (`intercept-tls`).
fn client() -> Result<HttpsClient, String> {
    let tls = intercept_tls::client_config(intercept_tls::root_store(true, &[]))
        .map_err(|e| format!("cannot configure TLS: {e}"))?;
    Ok(intercept_tls::https_client(tls, intercept_tls::ClientOptions::default()))
}

/// A GET of `url` signed for Lambda in `region`.
fn signed_get(url: &str, region: &str, credentials: &AwsCredentials) -> Result<http::Request<Full<Bytes>>, String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let uri: http::Uri = url.parse().map_err(|e| format!("bad endpoint URL {url}: {e}"))?;
    let host = uri.authority().map(|a| a.as_str().to_owned()).ok_or_else(|| format!("no host in {url}"))?;
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "intercept-sam",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into();
    let headers = [("host", host.as_str())];
    let signable = SignableRequest::new("GET", url, headers.iter().copied(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| format!("cannot sign the request: {e}"))?.into_parts();
    let mut request = http::Request::get(uri).header("host", host);
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    request.body(Full::new(Bytes::new())).map_err(|e| format!("cannot build the request: {e}"))
}

/// Sends `request` and reads the whole answer, within a minute.
async fn send(client: &HttpsClient, request: http::Request<Full<Bytes>>) -> Result<(http::StatusCode, Bytes), String> {
    let exchange = async {
        let response = client.request(request).await.map_err(|e| format!("{e}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| format!("{e}"))?.to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(60), exchange).await.map_err(|_| "no answer within 60 s".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7";

    #[test]
    fn arns_are_read_and_named_as_sam_caches_them() {
        let parsed = parse(ARN).expect("a layer version ARN");
        assert_eq!(
            parsed.layer_arn,
            "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64"
        );
        assert_eq!((parsed.region.as_str(), parsed.version), ("eu-west-1", 7));
        // hashlib.sha256(ARN.encode()).hexdigest()[:10], as samcli's LayerVersion._compute_layer_name.
        let digest = hex::encode(sha2::Sha256::digest(ARN.as_bytes()));
        assert_eq!(
            cache_name(ARN, &parsed),
            format!("AWSLambdaPowertoolsPythonV3-python312-x86_64-7-{}", &digest[..10])
        );
        for bad in [
            "arn:aws:lambda:eu-west-1:017000801446:layer:Name",
            "arn:aws:lambda:eu-west-1:017000801446:function:Name:1",
            "arn:aws:lambda:eu-west-1:0170008:layer:Name:1",
            "arn:aws:lambda:eu-west-1:017000801446:layer:../x:1",
            "arn:aws:lambda:eu-west-1:017000801446:layer:Name:latest",
            "SharedLayer",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains("is not a layer version ARN"), "{error}");
        }
    }

    #[test]
    fn the_endpoint_is_the_lambda_override_then_the_general_one_then_the_regions() {
        let parsed = parse(ARN).expect("parsed");
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(endpoint(&parsed, &env(&[])), "https://lambda.eu-west-1.amazonaws.com");
        assert_eq!(endpoint(&parsed, &env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/")])), "http://127.0.0.1:5000");
        assert_eq!(
            endpoint(
                &parsed,
                &env(&[("AWS_ENDPOINT_URL", "http://general"), ("AWS_ENDPOINT_URL_LAMBDA", "http://lambda")])
            ),
            "http://lambda"
        );
    }

    /// The request goes out as the AWS SDKs send it: the layer's ARN percent-encoded in the
    /// path, signed (by aws-sigv4, the Rust SDK's signer) for Lambda in the ARN's region, with
    /// the session token when there is one.
    #[test]
    fn get_layer_version_is_signed_for_lambda_in_the_arns_region() {
        let parsed = parse(ARN).expect("parsed");
        let url = format!(
            "http://127.0.0.1:5000/2018-10-31/layers/{}/versions/{}",
            parsed.layer_arn.replace(':', "%3A"),
            parsed.version
        );
        let credentials = AwsCredentials::new("AKIDEXAMPLE", "secret", Some("session-token"));
        let request = signed_get(&url, &parsed.region, &credentials).expect("signed");
        let header = |name: &str| request.headers()[name].to_str().expect("ascii").to_owned();
        assert_eq!(request.uri().path(), url.trim_start_matches("http://127.0.0.1:5000"));
        assert_eq!(header("host"), "127.0.0.1:5000");
        assert_eq!(header("x-amz-security-token"), "session-token");
        let authorization = header("authorization");
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{authorization}");
        assert!(authorization.contains("/eu-west-1/lambda/aws4_request"), "{authorization}");
        assert!(authorization.contains("SignedHeaders=host;x-amz-date"), "{authorization}");
        assert_eq!(header("x-amz-date").len(), "20260101T000000Z".len());
    }

    /// A stand-in for Lambda's GetLayerVersion and S3 (a plain HTTP server on 127.0.0.1:0, one
    /// connection per request): GetLayerVersion names a presigned location on the same server,
    /// which answers `zip_size` bytes.
    fn serve_layer(zip_size: usize) -> String {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let location = format!("{base}/bucket/layer.zip?X-Amz-Credential=AKIDSECRET&X-Amz-Signature=deadbeef");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                let mut stream = stream.expect("connection");
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                reader.read_line(&mut request_line).expect("request line");
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).expect("header") <= 2 {
                        break;
                    }
                }
                let body = if request_line.contains("/2018-10-31/layers/") {
                    serde_json::json!({"Content": {"Location": location}}).to_string().into_bytes()
                } else {
                    vec![b'z'; zip_size]
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
            }
        });
        base
    }

    #[test]
    fn a_download_past_the_limit_stops_names_the_limit_and_hides_the_presigned_query() {
        let parsed = parse(ARN).expect("parsed");
        let endpoint = serve_layer(5000);
        let scratch = std::env::temp_dir().join(format!("intercept-sam-layer-download-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).expect("scratch");
        let zip_path = scratch.join("layer.zip");
        let credentials = AwsCredentials::new("AKIDEXAMPLE", "secret", None);
        let error = fetch(&parsed, &endpoint, &credentials, &zip_path, 1000).expect_err("over the limit");
        assert!(error.contains("larger than 1000 bytes"), "{error}");
        assert!(error.contains(&format!("downloading {endpoint}/bucket/layer.zip:")), "{error}");
        assert!(!error.contains("AKIDSECRET") && !error.contains("deadbeef") && !error.contains('?'), "{error}");
        assert!(!zip_path.exists(), "the partial download is removed");
        let _ = std::fs::remove_dir_all(&scratch);
    }

    #[test]
    fn a_download_within_the_limit_is_written_whole() {
        let parsed = parse(ARN).expect("parsed");
        let endpoint = serve_layer(5000);
        let scratch = std::env::temp_dir().join(format!("intercept-sam-layer-whole-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).expect("scratch");
        let zip_path = scratch.join("layer.zip");
        let credentials = AwsCredentials::new("AKIDEXAMPLE", "secret", None);
        fetch(&parsed, &endpoint, &credentials, &zip_path, 5000).expect("at the limit");
        assert_eq!(std::fs::metadata(&zip_path).expect("written").len(), 5000);
        let _ = std::fs::remove_dir_all(&scratch);
    }

    #[test]
    fn presigned_locations_are_shown_without_their_query() {
        assert_eq!(
            without_query("https://bucket.s3.amazonaws.com/layer.zip?X-Amz-Signature=abc&X-Amz-Credential=AKID"),
            "https://bucket.s3.amazonaws.com/layer.zip"
        );
        assert_eq!(without_query("http://host/layer.zip#frag"), "http://host/layer.zip");
        assert_eq!(without_query("http://host/layer.zip"), "http://host/layer.zip");
    }

    #[test]
    fn without_credentials_the_error_says_what_is_needed_and_a_cached_layer_needs_none() {
        let cache = std::env::temp_dir().join(format!("intercept-sam-layers-arn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let no_env = |_: &str| None;
        let error = layer_dir(ARN, &cache, None, &no_env).expect_err("no credentials");
        assert!(error.contains("needs AWS credentials"), "{error}");
        let parsed = parse(ARN).expect("parsed");
        std::fs::create_dir_all(cache.join(cache_name(ARN, &parsed)).join("python")).expect("cached");
        assert_eq!(layer_dir(ARN, &cache, None, &no_env).expect("cached"), cache.join(cache_name(ARN, &parsed)));
        let _ = std::fs::remove_dir_all(&cache);
    }
}
