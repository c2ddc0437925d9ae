//! Isolation of an environment's processes: a private mount namespace that gives them real
//! `/var/task`, `/opt` and a private `/tmp`, and a memory cgroup that enforces `MemorySize`.
//!
//! Both need root on Linux. Where a namespace cannot be made the environment falls back to
//! rewriting the paths (`LAMBDA_TASK_ROOT` is the code folder, layers are found where they
//! were built) and says so once; where no memory cgroup can be made, memory is measured but
//! not enforced.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// How the environment's processes are contained.
#[derive(Debug)]
pub(crate) struct Isolation {
    namespace: bool,
    /// Whether `/tmp` is the environment's own (not when something it needs lives under /tmp).
    private_tmp: bool,
    code: PathBuf,
    opt: PathBuf,
    tmp: PathBuf,
    cgroup: Option<Cgroup>,
    scratch: PathBuf,
}

#[derive(Debug)]
struct Cgroup {
    dir: PathBuf,
    v1: bool,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn namespaces_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let ready = std::fs::create_dir_all("/var/task").is_ok() && std::fs::create_dir_all("/opt").is_ok();
        let works = ready
            && std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "private", "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !works {
            eprintln!(
                "intercept-sam: no private mount namespace here (needs root and unshare): code and layers stay at their own paths"
            );
        }
        works
    })
}

impl Isolation {
    /// Prepares isolation for one environment: merges the layers into one `/opt`, makes a
    /// private `/tmp`, and a memory cgroup of `memory_mb`.
    ///
    /// `host_paths` are paths the processes use as they are (the bootstrap, an interpreter, files
    /// named in variables): when one lives under the host's `/tmp`, hiding `/tmp` would break
    /// the function, so `/tmp` stays shared and `TMPDIR` names the private folder instead.
    pub(crate) fn prepare(
        code: &Path,
        layers: &[PathBuf],
        memory_mb: u32,
        namespace: bool,
        host_paths: &[PathBuf],
    ) -> std::io::Result<Isolation> {
        let id = format!("intercept-sam-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let scratch = std::env::temp_dir().join(&id);
        let tmp = scratch.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        // The environment's own `/opt`, as Lambda extracts a layer version for it: a later build
        // of the template's layer (which empties its folder first) cannot change it under a
        // running environment. Hard links make it cheap; later layers override earlier ones.
        let opt = scratch.join("opt");
        std::fs::create_dir_all(&opt)?;
        for layer in layers {
            link_tree(layer, &opt)?;
        }
        let namespace = namespace && namespaces_work();
        let in_host_tmp = |path: &PathBuf| {
            let path = path.canonicalize().unwrap_or_else(|_| path.clone());
            path.starts_with("/tmp")
        };
        let needs_host_tmp = std::iter::once(&code.to_owned()).chain(layers).chain(host_paths).any(in_host_tmp);
        if namespace && needs_host_tmp {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "intercept-sam: the function's files live under /tmp, so its /tmp stays the host's (TMPDIR is private)"
                );
            });
        }
        let cgroup = Cgroup::create(&id, u64::from(memory_mb) * 1024 * 1024);
        Ok(Isolation {
            namespace,
            private_tmp: namespace && !needs_host_tmp,
            code: code.to_owned(),
            opt,
            tmp,
            cgroup,
            scratch,
        })
    }

    /// `LAMBDA_TASK_ROOT` as the processes see it.
    pub(crate) fn task_root(&self) -> PathBuf {
        if self.namespace { PathBuf::from("/var/task") } else { self.code.clone() }
    }

    /// `/opt` as the processes see it.
    pub(crate) fn opt(&self) -> PathBuf {
        if self.namespace { PathBuf::from("/opt") } else { self.opt.clone() }
    }

    /// `/opt` on this machine.
    pub(crate) fn opt_on_host(&self) -> &Path {
        &self.opt
    }

    /// `/tmp` as the processes see it.
    pub(crate) fn tmp(&self) -> PathBuf {
        if self.private_tmp { PathBuf::from("/tmp") } else { self.tmp.clone() }
    }

    /// The program and arguments that start `program` inside the environment, in `cwd`.
    pub(crate) fn command(&self, program: &Path, args: &[OsString], cwd: &Path) -> (PathBuf, Vec<OsString>) {
        if !self.namespace {
            return (program.to_owned(), args.to_vec());
        }
        const PRIVATE_TMP: &str = r#"mount --bind "$1" /var/task && mount --bind "$2" /opt && mount --bind "$3" /tmp && cd "$4" && shift 4 && exec "$@""#;
        const SHARED_TMP: &str =
            r#"mount --bind "$1" /var/task && mount --bind "$2" /opt && cd "$4" && shift 4 && exec "$@""#;
        let script = if self.private_tmp { PRIVATE_TMP } else { SHARED_TMP };
        let mut wrapped: Vec<OsString> = ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh"]
            .iter()
            .map(OsString::from)
            .collect();
        wrapped.extend([&self.code, &self.opt, &self.tmp, &cwd.to_owned()].map(|p| p.as_os_str().to_owned()));
        wrapped.push(program.as_os_str().to_owned());
        wrapped.extend(args.iter().cloned());
        (PathBuf::from("unshare"), wrapped)
    }

    /// Puts a process (and so its future children) under the memory limit.
    pub(crate) fn adopt(&self, pid: u32) {
        if let Some(cgroup) = &self.cgroup {
            let _ = std::fs::write(cgroup.dir.join("cgroup.procs"), pid.to_string());
        }
    }

    /// Whether the kernel killed a process of this environment for memory.
    pub(crate) fn oom_killed(&self) -> bool {
        let Some(cgroup) = &self.cgroup else { return false };
        let file = if cgroup.v1 { "memory.oom_control" } else { "memory.events" };
        std::fs::read_to_string(cgroup.dir.join(file)).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0)
            })
        })
    }

    /// The file where the cgroup records the whole environment's peak memory, if there is one.
    pub(crate) fn peak_memory_file(&self) -> Option<PathBuf> {
        let cgroup = self.cgroup.as_ref()?;
        Some(cgroup.dir.join(if cgroup.v1 { "memory.max_usage_in_bytes" } else { "memory.peak" }))
    }

    /// Whether `MemorySize` is enforced.
    pub(crate) fn enforces_memory(&self) -> bool {
        self.cgroup.is_some()
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        if let Some(cgroup) = &self.cgroup {
            let _ = std::fs::remove_dir(&cgroup.dir);
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Cgroup {
    fn create(name: &str, limit_bytes: u64) -> Option<Cgroup> {
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let v2 = Path::new("/sys/fs/cgroup");
        let (dir, v1, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(name), true, "memory.limit_in_bytes")
        } else if std::fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
        {
            (v2.join(name), false, "memory.max")
        } else {
            return None;
        };
        std::fs::create_dir(&dir).ok()?;
        if std::fs::write(dir.join(limit_file), limit_bytes.to_string()).is_err() {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        if v1 {
            // Without swap accounting the limit is on memory alone; make sure nothing swaps around it.
            let _ = std::fs::write(dir.join("memory.swappiness"), "0");
        }
        Some(Cgroup { dir, v1 })
    }
}

/// Recreates the tree `from` in `to`: files hard-linked (copied across file systems), symbolic
/// links kept as links, what `to` already has at the same path replaced.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&entry.path(), &target)?;
            continue;
        }
        if target.symlink_metadata().is_ok() {
            std::fs::remove_file(&target)?;
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if std::fs::hard_link(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer rebuilt while an environment runs (its folder emptied and filled again) leaves
    /// that environment's `/opt` as it was.
    #[test]
    fn each_environment_has_its_own_opt_from_its_layers() {
        let root = std::env::temp_dir().join(format!("intercept-sam-isolation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (first, second, code) = (root.join("first"), root.join("second"), root.join("code"));
        for dir in [first.join("python"), second.join("bin"), code.clone()] {
            std::fs::create_dir_all(dir).expect("folders");
        }
        std::fs::write(first.join("python/shared.py"), "first").expect("file");
        std::fs::write(first.join("wrapper"), "first").expect("file");
        std::fs::write(second.join("wrapper"), "second").expect("file");
        std::os::unix::fs::symlink("../wrapper", second.join("bin/wrapper")).expect("symlink");
        let isolation = Isolation::prepare(&code, &[first.clone(), second], 128, false, &[]).expect("prepares");
        let opt = isolation.opt_on_host().to_owned();
        std::fs::remove_dir_all(&first).expect("the layer's folder emptied by a rebuild");
        let read = |path: &str| std::fs::read_to_string(opt.join(path)).ok();
        assert_eq!(read("python/shared.py").as_deref(), Some("first"));
        assert_eq!(read("wrapper").as_deref(), Some("second"), "later layers override earlier ones");
        assert_eq!(read("bin/wrapper").as_deref(), Some("second"), "symbolic links stay links");
        drop(isolation);
        assert!(!opt.exists(), "the environment's /opt goes with it");
        let _ = std::fs::remove_dir_all(&root);
    }
}
