//! Running Rust code inside a named network namespace.
//!
//! `setns(2)` with `CLONE_NEWNET` changes the namespace of the calling
//! *thread* only, so the closure runs on a fresh thread that first joins the
//! namespace.  Sockets created there stay in that namespace for their whole
//! life, whichever thread uses them afterwards, and threads spawned from the
//! namespace thread inherit its namespace.

use std::fs::File;
use std::path::PathBuf;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use nix::sched::{CloneFlags, setns};

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_RUN_DIR: &str = "/var/run/netns";

/// Path of the bind mount of the named namespace `ns`.
pub fn netns_path(ns: &str) -> PathBuf {
    PathBuf::from(NETNS_RUN_DIR).join(ns)
}

fn enter(ns: &str) -> Result<()> {
    let path = netns_path(ns);
    let file = File::open(&path)
        .with_context(|| format!("opening network namespace {}", path.display()))?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns into network namespace {ns}"))?;
    Ok(())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs `f` on a new thread inside network namespace `ns` and waits for it.
///
/// The closure may borrow from the caller (the thread is scoped).  A panic in
/// `f` is turned into an error.
pub fn in_netns<T, F>(ns: &str, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("netns:{ns}"))
            .spawn_scoped(scope, move || -> Result<T> {
                enter(ns)?;
                f()
            })
            .context("spawning namespace thread")?;
        handle
            .join()
            .map_err(|p| anyhow!("thread in netns {ns} panicked: {}", panic_message(&*p)))?
    })
}

/// Like [`in_netns`], but returns at once with the thread's handle (for
/// background servers).  Join it to get the closure's result.
pub fn spawn_in_netns<T, F>(ns: &str, f: F) -> Result<JoinHandle<Result<T>>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns_owned = ns.to_string();
    std::thread::Builder::new()
        .name(format!("netns:{ns}"))
        .spawn(move || -> Result<T> {
            enter(&ns_owned)?;
            f()
        })
        .context("spawning namespace thread")
}
