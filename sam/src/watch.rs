//! Watch mode: rebuild a function when its sources change and retire its old environments.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::build::{build_rust_cached, is_fresh};
use crate::functions::{SpecOptions, build_root};
use crate::invoke_api::Pools;
use crate::pool::FunctionPool;
use crate::template::{BuildSpec, Template};

/// How often sources are checked.
const POLL: Duration = Duration::from_millis(500);

struct Watched {
    name: String,
    pool: Arc<FunctionPool>,
    code_uri: PathBuf,
    build: BuildSpec,
    executable: Option<PathBuf>,
    /// After a failed build, sources are not rebuilt again before this.
    retry_at: Option<std::time::Instant>,
}

/// Watches every function built from source; returns the watcher's task.
#[must_use]
pub fn watch(template: &Template, pools: &Pools, options: &SpecOptions) -> tokio::task::JoinHandle<()> {
    let cache_dir = build_root(template);
    let profile = options.profile.clone();
    let mut watched: Vec<Watched> = template
        .functions
        .iter()
        .filter_map(|function| {
            Some(Watched {
                name: function.logical_id.clone(),
                pool: pools.get(&function.logical_id)?.clone(),
                code_uri: function.code_uri.clone(),
                build: function.build.clone()?,
                executable: None,
                retry_at: None,
            })
        })
        .collect();
    // Builds that finish after this moment are new code, even the watcher's first one.
    let started = std::time::SystemTime::now();
    tokio::spawn(async move {
        loop {
            for item in &mut watched {
                let stale = item.executable.as_ref().is_none_or(|exe| !is_fresh(exe, &item.code_uri));
                if !stale || item.retry_at.is_some_and(|at| std::time::Instant::now() < at) {
                    continue;
                }
                let (code_uri, build, profile, cache) =
                    (item.code_uri.clone(), item.build.clone(), profile.clone(), cache_dir.clone());
                let name = item.name.clone();
                let built = tokio::task::spawn_blocking(move || {
                    build_rust_cached(&name, &code_uri, &build, &profile, Some(&cache))
                })
                .await;
                match built {
                    Ok(Ok(executable)) => {
                        let rebuilt_since_start = std::fs::metadata(&executable)
                            .and_then(|m| m.modified())
                            .is_ok_and(|built| built > started);
                        if item.executable.is_some() || rebuilt_since_start {
                            eprintln!(
                                "intercept-sam: {} changed and was rebuilt; new invocations start fresh environments",
                                item.name
                            );
                            item.pool.restart().await;
                        }
                        item.executable = Some(executable);
                        item.retry_at = None;
                    }
                    Ok(Err(error)) => {
                        eprintln!("intercept-sam: {error}; still serving the previous build");
                        item.retry_at = Some(std::time::Instant::now() + Duration::from_secs(5));
                    }
                    Err(error) => eprintln!("intercept-sam: watching {}: {error}", item.name),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    })
}
