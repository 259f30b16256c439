//! Worker threads: a std thread, optionally pinned to a CPU, registered with EAL so that it
//! gets an lcore id (and with it the mempool's per-lcore cache).

use std::thread::JoinHandle;

use thiserror::Error;

/// Why a worker thread could not start.
#[derive(Debug, Error)]
pub enum LcoreError {
    /// The OS refused to create the thread.
    #[error("spawning thread {name}: {source}")]
    Spawn {
        /// Thread name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Start `body` on a new thread named `name`, pinned to `cpu` if given, registered as an EAL
/// lcore for its lifetime. Registration failure is logged, not fatal: the thread then uses the
/// mempool without a per-lcore cache, which is slower but correct.
///
/// # Errors
/// [`LcoreError::Spawn`] when the OS cannot create the thread.
pub fn spawn_lcore_thread<T, F>(
    name: &str,
    cpu: Option<usize>,
    body: F,
) -> Result<JoinHandle<T>, LcoreError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            if let Some(cpu) = cpu
                && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
            {
                tracing::warn!(thread = %thread_name, cpu, "could not pin thread to CPU");
            }
            // SAFETY: registers the calling thread with EAL; EAL is initialised before any
            // worker is spawned (workers need ports, ports need EAL).
            let registered = unsafe { dpdk_sys::rte_thread_register() } == 0;
            if !registered {
                let (errno, reason) = super::last_error();
                tracing::warn!(thread = %thread_name, errno, %reason, "rte_thread_register failed");
            }
            let result = body();
            if registered {
                // SAFETY: this thread registered above and is about to exit.
                unsafe { dpdk_sys::rte_thread_unregister() };
            }
            result
        })
        .map_err(|source| LcoreError::Spawn {
            name: name.to_string(),
            source,
        })
}
