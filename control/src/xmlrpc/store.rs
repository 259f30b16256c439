//! [`ConfigStore`]: what the XMLRPC handler needs from the node — the running config and a
//! way to replace it — and [`MemoryStore`], an in-memory one for tests and tools.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{Config, ValidationErrors};

/// Why [`ConfigStore::apply`] refused or failed. In every case the running config is the
/// one it was before the call.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The new config does not validate.
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    /// The node refused it (for example a change it cannot make without a restart).
    #[error("refused: {0}")]
    Refused(String),
    /// Applying it failed and was rolled back.
    #[error("apply failed: {0}")]
    Failed(String),
}

/// The node's configuration as the XMLRPC handler sees it. The daemon implements it over
/// its config store; calls come one at a time (the handler is behind a lock, like
/// pfSense's `xmlrpc` lock).
pub trait ConfigStore: Send {
    /// The running configuration (validated).
    fn current(&self) -> Arc<Config>;

    /// Makes `new` the running configuration: checks it whole (it has already passed
    /// [`Config::from_document`]; the node may check more), applies it — ruleset swap that
    /// keeps states, VIPs reconfigured where they changed — and stores it. `reason` is the
    /// change's description for the config history, e.g. `Merged in config (filter
    /// sections) from XMLRPC client.`
    ///
    /// # Errors
    /// [`ApplyError`]; then nothing has changed.
    fn apply(&mut self, new: Config, reason: &str) -> Result<(), ApplyError>;

    /// Re-applies every virtual IP from the running config
    /// (`pfsense.interfaces_carp_configure`). The default does nothing.
    ///
    /// # Errors
    /// [`ApplyError::Failed`] when the node could not.
    fn reconfigure_vips(&mut self) -> Result<(), ApplyError> {
        Ok(())
    }
}

/// A [`ConfigStore`] held in memory. Clones share the same config, so a test can keep one
/// clone and watch what the handler applies.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    config: Arc<Mutex<Arc<Config>>>,
    reasons: Arc<Mutex<Vec<String>>>,
    vip_reconfigs: Arc<AtomicUsize>,
}

impl MemoryStore {
    /// A store holding `config`.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(Mutex::new(Arc::new(config))),
            reasons: Arc::new(Mutex::new(Vec::new())),
            vip_reconfigs: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The reasons of every successful [`ConfigStore::apply`], oldest first.
    #[must_use]
    pub fn applied(&self) -> Vec<String> {
        self.reasons
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times [`ConfigStore::reconfigure_vips`] ran.
    #[must_use]
    pub fn vip_reconfigs(&self) -> usize {
        self.vip_reconfigs.load(Ordering::Relaxed)
    }
}

impl ConfigStore for MemoryStore {
    fn current(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn apply(&mut self, new: Config, reason: &str) -> Result<(), ApplyError> {
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        self.reasons
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(reason.to_owned());
        Ok(())
    }

    fn reconfigure_vips(&mut self) -> Result<(), ApplyError> {
        self.vip_reconfigs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
