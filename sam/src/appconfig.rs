//! `--appconfig DIR`: an AWS AppConfig Agent-compatible endpoint served from local files, so a
//! function whose `INTERCEPT_POLICY` is `appconfig://application/environment/profile` runs
//! locally as on Lambda (where the AppConfig Agent Lambda extension serves that API on
//! `localhost:2772`).
//!
//! `GET /applications/{application}/environments/{environment}/configurations/{profile}`
//! answers the file `DIR/application/environment/profile`, else `profile.yaml`, `profile.yml` or
//! `profile.json`, read on every request (an edit is served at once), with the agent's
//! `Configuration-Version` header (here a digest of the content). Functions find it through
//! `AWS_APPCONFIG_EXTENSION_HTTP_PORT`, as they find the agent.

use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};

/// The variable through which functions find the endpoint (the agent's own).
pub const PORT_VARIABLE: &str = "AWS_APPCONFIG_EXTENSION_HTTP_PORT";

/// A running endpoint.
#[derive(Debug)]
pub struct AppConfigServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AppConfigServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the AppConfig Agent's API from `dir` on a free port of 127.0.0.1.
///
/// # Errors
/// When `dir` is not a folder or no port can be bound.
pub async fn serve(dir: &Path) -> Result<AppConfigServer, String> {
    if !dir.is_dir() {
        return Err(format!("--appconfig: `{}` is not a folder", dir.display()));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| format!("--appconfig: cannot listen on 127.0.0.1: {error}"))?;
    let port = listener.local_addr().map_err(|error| format!("--appconfig: {error}"))?.port();
    let app = axum::Router::new()
        .route("/applications/{application}/environments/{environment}/configurations/{profile}", get(configuration))
        .with_state(dir.to_path_buf());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(AppConfigServer { port, task })
}

/// The file a location names, if there is one (no part may leave `dir`).
pub fn file_for(dir: &Path, application: &str, environment: &str, profile: &str) -> Option<PathBuf> {
    let safe = |part: &str| !part.is_empty() && part != "." && part != ".." && !part.contains(['/', '\\']);
    if ![application, environment, profile].into_iter().all(safe) {
        return None;
    }
    let folder = dir.join(application).join(environment);
    [String::new(), ".yaml".into(), ".yml".into(), ".json".into()]
        .iter()
        .map(|extension| folder.join(format!("{profile}{extension}")))
        .find(|candidate| candidate.is_file())
}

async fn configuration(
    State(dir): State<PathBuf>,
    UrlPath((application, environment, profile)): UrlPath<(String, String, String)>,
) -> Response {
    let Some(file) = file_for(&dir, &application, &environment, &profile) else {
        let message = format!(
            "no configuration {application}/{environment}/{profile}: expected the file {}",
            dir.join(&application).join(&environment).join(format!("{profile}[.yaml|.yml|.json]")).display()
        );
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    match tokio::fs::read(&file).await {
        Ok(body) => {
            let mut headers = HeaderMap::new();
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("json") => "application/json",
                Some("yaml" | "yml") => "application/x-yaml",
                _ => "text/plain",
            };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            let version = hex::encode(&Sha256::digest(&body)[..8]);
            if let Ok(value) = HeaderValue::from_str(&version) {
                headers.insert("configuration-version", value);
            }
            (StatusCode::OK, headers, body).into_response()
        }
        Err(error) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read {}: {error}", file.display())).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_file_a_location_names_and_reads_it_again_on_each_request() {
        let dir = std::env::temp_dir().join(format!("intercept-sam-appconfig-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("orders/prod")).expect("dir");
        std::fs::write(dir.join("orders/prod/policy.yaml"), "routes: {}\n").expect("write");
        let server = serve(&dir).await.expect("serves");
        let url = |profile: &str| {
            format!("http://127.0.0.1:{}/applications/orders/environments/prod/configurations/{profile}", server.port)
        };
        let client = reqwest::Client::new();
        let first = client.get(url("policy")).send().await.expect("answer");
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["content-type"], "application/x-yaml");
        let version = first.headers()["configuration-version"].clone();
        assert_eq!(first.text().await.expect("body"), "routes: {}\n");
        std::fs::write(dir.join("orders/prod/policy.yaml"), "routes:\n  GET /a:\n    auth: none\n").expect("write");
        let second = client.get(url("policy")).send().await.expect("answer");
        assert_ne!(second.headers()["configuration-version"], version);
        assert!(second.text().await.expect("body").contains("GET /a"));
        let missing = client.get(url("other")).send().await.expect("answer");
        assert_eq!(missing.status(), 404);
        assert!(missing.text().await.expect("body").contains("orders/prod/other"));
        assert!(file_for(&dir, "..", "prod", "policy").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
