//! The environment's processes: spawned with Lambda's variables, logs forwarded line by line,
//! exits recorded in the shared state, signalled by pid.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::Command;

use super::isolation::Isolation;
use super::state::Shared;

/// Whose process it is, which decides the telemetry category of its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Runtime,
    Extension,
}

/// A running process of the environment.
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) pid: u32,
    pub(crate) name: String,
}

impl Process {
    /// Starts `program` and watches it: its output goes to stderr and the Telemetry API, its
    /// exit into the shared state.
    pub(crate) fn spawn(
        shared: &Arc<Shared>,
        role: Role,
        program: &Path,
        args: &[OsString],
        cwd: &Path,
        environment: &[(String, String)],
        isolation: &Isolation,
    ) -> std::io::Result<Process> {
        let (launcher, launcher_args) = isolation.command(program, args, cwd);
        let mut command = Command::new(&launcher);
        command
            .args(&launcher_args)
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so signals reach whatever the process starts too.
            .process_group(0)
            .kill_on_drop(true);
        if launcher == program {
            command.current_dir(cwd);
        }
        let mut child = command.spawn()?;
        let pid = child.id().unwrap_or(0);
        isolation.adopt(pid);
        let name =
            program.file_name().map_or_else(|| program.display().to_string(), |n| n.to_string_lossy().into_owned());
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward_lines(stdout, shared.clone(), role));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_lines(stderr, shared.clone(), role));
        }
        let watcher = shared.clone();
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(error) => format!("lost: {error}"),
            };
            watcher.update(|state| state.exited.insert(pid, status));
        });
        Ok(Process { pid, name })
    }

    /// How it exited, if it has.
    pub(crate) fn exit_status(&self, shared: &Shared) -> Option<String> {
        shared.lock().exited.get(&self.pid).cloned()
    }

    pub(crate) fn terminate(&self) {
        signal(self.pid, libc::SIGTERM);
    }

    pub(crate) fn kill(&self) {
        signal(self.pid, libc::SIGKILL);
    }

    /// Freezes the process group: nothing in it runs until [`Process::thaw`].
    pub(crate) fn freeze(&self) {
        signal(self.pid, libc::SIGSTOP);
    }

    pub(crate) fn thaw(&self) {
        signal(self.pid, libc::SIGCONT);
    }
}

/// Peak resident memory of process `pid` in kB, from `/proc` (0 where it cannot be read).
pub(crate) fn peak_memory_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

#[allow(unsafe_code)]
fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and has no memory effects. The negative pid names
    // the process group the process leads (it was spawned with process_group(0)); a group
    // that is gone makes it fail with ESRCH, which is ignored.
    unsafe {
        libc::kill(-pid, signal);
    }
}

async fn forward_lines(stream: impl AsyncRead + Unpin, shared: Arc<Shared>, role: Role) {
    let mut lines = BufReader::new(stream).lines();
    let (category, event_type) = match role {
        Role::Runtime => ("function", "function"),
        Role::Extension => ("extension", "extension"),
    };
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        shared.log(&line);
        shared.telemetry.emit(category, event_type, serde_json::Value::String(line));
    }
}
