//! Watch mode: rebuild a function when its sources change and retire its old environments.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::build::{build_rust_cached, is_fresh, modified};
use crate::functions::{SpecOptions, build_root};
use crate::invoke_api::Pools;
use crate::pool::FunctionPool;
use crate::template::{BuildMethod, BuildSpec, Template};

/// How often sources are checked.
const POLL: Duration = Duration::from_millis(500);

struct Watched {
    name: String,
    pool: Arc<FunctionPool>,
    code_uri: PathBuf,
    build: BuildSpec,
    executable: Option<PathBuf>,
    /// The build the pool's environments run: the executable's modification time when
    /// they were last (re)started.
    serving: Option<std::time::SystemTime>,
    /// After a failed build, sources are not rebuilt again before this.
    retry_at: Option<std::time::Instant>,
}

/// Watches every function built from source with cargo; returns the watcher's task.
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
                // A Makefile's inputs are its own business: only cargo builds are watched.
                build: function.build.clone().filter(|build| build.method == BuildMethod::RustCargoLambda)?,
                executable: None,
                serving: None,
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
            for item in &mut watched {
                // Whoever rebuilt the executable (this watcher, or the user's own `cargo build`,
                // which leaves it fresh so the watcher never sees it stale), the pool must stop
                // serving the old build.
                let Some(built) = item.executable.as_ref().and_then(|exe| modified(exe)) else { continue };
                let changed = match item.serving {
                    Some(serving) => built != serving,
                    None => built > started,
                };
                if changed {
                    eprintln!(
                        "intercept-sam: {} changed and was rebuilt; new invocations start fresh environments",
                        item.name
                    );
                    item.pool.restart().await;
                }
                item.serving = Some(built);
            }
            tokio::time::sleep(POLL).await;
        }
    })
}
