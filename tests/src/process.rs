//! Child processes with bounded lifetimes: commands run to completion under a
//! timeout, and background processes that are stopped and reaped on `Drop`.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long [`LabProcess`] waits after SIGTERM before it sends SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// `PATH` for children: the caller's plus the sbin directories, where `ip`,
/// `ethtool` and `sysctl` live on Debian (a non-login root shell may lack them).
pub fn child_path() -> OsString {
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    for dir in [
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
    ] {
        let present = std::env::split_paths(&path).any(|p| p == Path::new(dir));
        if !present {
            if !path.is_empty() {
                path.push(":");
            }
            path.push(dir);
        }
    }
    path
}

/// A printable form of a command line, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// Polls `child` until it exits or `deadline` passes.
fn wait_deadline(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().context("waiting for child")? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Runs `cmd` to completion with stdin closed and output captured.  If it
/// has not exited after `timeout` its whole process group is killed and an
/// error (with the output so far) is returned.  A non-zero exit status is
/// *not* an error here; look at `Output::status`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PATH", child_path())
        .process_group(0);
    let desc = describe(&cmd);
    let mut child = cmd.spawn().with_context(|| format!("spawning `{desc}`"))?;
    let out_rx = reader(child.stdout.take());
    let err_rx = reader(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = wait_deadline(&mut child, deadline)?;
    let pgid = pid_of(&child);
    let Some(status) = status else {
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        let out = out_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        let err = err_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        bail!(
            "`{desc}` timed out after {timeout:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    };
    // Something the command left running in the background may hold the
    // pipes open; don't wait for it forever.
    let grace = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    let mut stdout = out_rx.recv_timeout(grace).ok();
    let mut stderr = err_rx.recv_timeout(Duration::from_secs(1)).ok();
    if stdout.is_none() || stderr.is_none() {
        let _ = killpg(pgid, Signal::SIGKILL);
        if stdout.is_none() {
            stdout = out_rx.recv_timeout(Duration::from_secs(1)).ok();
        }
        if stderr.is_none() {
            stderr = err_rx.recv_timeout(Duration::from_secs(1)).ok();
        }
    }
    Ok(Output {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    })
}

/// Like [`run_with_timeout`] but a non-zero exit status is an error; returns
/// stdout as a string.
pub fn run_ok(cmd: Command, timeout: Duration) -> Result<String> {
    let desc = describe(&cmd);
    let out = run_with_timeout(cmd, timeout)?;
    if !out.status.success() {
        bail!(
            "`{desc}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A background process (normally inside a lab namespace) with stdout and
/// stderr going to a log file.  It leads its own process group; on `Drop` the
/// group gets SIGTERM, then SIGKILL after a grace period, and the process is
/// reaped.  Errors during `Drop` are printed to stderr.
#[derive(Debug)]
pub struct LabProcess {
    child: Child,
    label: String,
    log_path: PathBuf,
    status: Option<ExitStatus>,
    grace: Duration,
}

impl LabProcess {
    /// Starts `cmd` in its own process group with output appended to
    /// `log_path` (created, with parent directories, if missing).
    pub fn start(mut cmd: Command, log_path: &Path) -> Result<LabProcess> {
        if let Some(dir) = log_path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating log directory {}", dir.display()))?;
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening log {}", log_path.display()))?;
        let log2 = log.try_clone().context("duplicating log file handle")?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .env("PATH", child_path())
            .process_group(0);
        let label = describe(&cmd);
        let child = cmd.spawn().with_context(|| format!("spawning `{label}`"))?;
        Ok(LabProcess {
            child,
            label,
            log_path: log_path.to_path_buf(),
            status: None,
            grace: DEFAULT_GRACE,
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log so far (lossy UTF-8; empty if unreadable).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Changes the SIGTERM→SIGKILL grace period used by [`LabProcess::stop`]
    /// and `Drop`.
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// Sends `sig` to the process (not its group).  Sending to a process
    /// that has already exited is an error.
    pub fn signal(&mut self, sig: Signal) -> Result<()> {
        if let Some(status) = self.try_status()? {
            bail!(
                "`{}` already exited ({status}); not sending {sig}",
                self.label
            );
        }
        kill(pid_of(&self.child), sig).with_context(|| format!("sending {sig} to `{}`", self.label))
    }

    /// The exit status if the process has exited (reaping it), else `None`.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().context("try_wait")?;
        }
        Ok(self.status)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_status(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still
    /// running afterwards.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = wait_deadline(&mut self.child, Instant::now() + timeout)?;
        }
        Ok(self.status)
    }

    /// Stops the process: SIGTERM to the group, SIGKILL after the grace
    /// period, then reaps it.  Idempotent; returns the exit status.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let pgid = pid_of(&self.child);
        if let Some(status) = self.try_status()? {
            // The leader is gone; make sure nothing it started lingers.
            let _ = killpg(pgid, Signal::SIGKILL);
            return Ok(status);
        }
        match killpg(pgid, Signal::SIGTERM) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => bail!("SIGTERM to `{}`: {e}", self.label),
        }
        if self.wait_timeout(self.grace)?.is_none() {
            eprintln!(
                "lab: `{}` ignored SIGTERM for {:?}; sending SIGKILL",
                self.label, self.grace
            );
        }
        let _ = killpg(pgid, Signal::SIGKILL);
        match self.wait_timeout(Duration::from_secs(5))? {
            Some(status) => Ok(status),
            None => bail!("`{}` (pid {}) survived SIGKILL", self.label, self.pid()),
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("lab: stopping `{}`: {e:#}", self.label);
        }
    }
}
