//! The node's running config and the one way it changes: a new config.xml is validated whole
//! (parsed, checked against this node's ports, its filter, NAT and CARP vhids compiled), then
//! its rules are swapped in (states kept) and its CARP vhids handed to the CARP thread, which
//! restarts only those that changed. Anything that fails leaves the running config, the file
//! and the rules as they were. SIGHUP, `config reload`, `config apply` and an XMLRPC sync
//! from the primary ([`XmlrpcStore`]) all go through [`ConfigStore`], one at a time; every
//! change is announced to [`ConfigStore::subscribe`]rs (the XMLRPC push on a primary).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rampart_control::config::Config;
use rampart_control::ctl::reply::{ConfigInfo, ConfigOutcome};
use rampart_control::xmlrpc::merge::NODE_LOCAL_SECTIONS;
use rampart_dataplane::nat::Nat;
use rampart_dataplane::rules::Ruleset;
use rampart_dataplane::{NodeError, PolicyHandle};
use sha2::{Digest, Sha256};

use crate::carp::{CarpSetupError, VhidSpec, vhids};
use crate::nat::compile_nat;
use crate::ruleset::{RulesetError, compile_filter_report, port_map};
use crate::setup::{SetupError, node_spec};

/// The config the node runs.
#[derive(Debug, Clone)]
pub struct Running {
    /// The typed config.
    pub config: Config,
    /// Its text, as loaded.
    pub xml: String,
    /// Which, when and how.
    pub info: ConfigInfo,
}

/// Why a config was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file does not validate or cannot run on this node.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Its filter or NAT rules do not compile.
    #[error(transparent)]
    Rules(#[from] RulesetError),
    /// It maps other ports.
    #[error("the ports changed; restart the node to change ports")]
    PortsChanged,
    /// Its CARP VIPs cannot run on this node.
    #[error(transparent)]
    Carp(#[from] CarpSetupError),
    /// It changes a section only this node's operator may change.
    #[error("<{0}> is node-local: it cannot be changed this way")]
    NodeLocal(String),
    /// The config file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The dataplane refused the rules.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Another change is under way (a poisoned lock: a change panicked).
    #[error("the config store is unusable: an earlier change failed badly")]
    Poisoned,
}

/// A config validated and compiled, ready to swap in.
struct Prepared {
    config: Config,
    ruleset: Ruleset,
    nat: Nat,
    vhids: Vec<VhidSpec>,
    outcome: ConfigOutcome,
}

/// The running config and the way to change it.
#[derive(Debug)]
pub struct ConfigStore {
    path: PathBuf,
    running: ArcSwap<Running>,
    policy: Option<PolicyHandle>,
    carp: Option<Arc<ArcSwap<Vec<VhidSpec>>>>,
    change: Mutex<()>,
    changed: tokio::sync::watch::Sender<Arc<Running>>,
}

impl ConfigStore {
    /// The store for the config loaded at start from `path` (its bytes `xml`), whose rules
    /// `policy` swaps (`None`: a node without a firewall) and whose CARP vhids go to `carp`
    /// (`None`: the node cannot run CARP; VIP changes then wait for a restart).
    pub fn new(
        path: PathBuf,
        config: Config,
        xml: String,
        policy: Option<PolicyHandle>,
        carp: Option<Arc<ArcSwap<Vec<VhidSpec>>>>,
    ) -> Self {
        let filter_rules =
            compile_filter_report(&config, &port_map(&config)).map_or(0, |f| f.ruleset.len());
        let info = info(&path, &config, &xml, "start", filter_rules);
        let running = Arc::new(Running { config, xml, info });
        let (changed, _) = tokio::sync::watch::channel(running.clone());
        ConfigStore {
            path,
            running: ArcSwap::new(running),
            policy,
            carp,
            change: Mutex::new(()),
            changed,
        }
    }

    /// A receiver that sees every config the node swaps in (the latest one; a slow reader
    /// skips intermediate ones).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Running>> {
        self.changed.subscribe()
    }

    /// The config file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The running config.
    pub fn current(&self) -> Arc<Running> {
        self.running.load_full()
    }

    /// Validates `xml` whole as the next config of this node, without applying it.
    ///
    /// # Errors
    /// [`ApplyError`] saying what is wrong, with element paths.
    pub fn check(&self, xml: &str) -> Result<ConfigOutcome, ApplyError> {
        let running = self.current();
        Ok(prepare(xml, &running.config, self.carp.is_some())?.outcome)
    }

    /// Reads the config file again and swaps its rules in (SIGHUP, `config reload`).
    ///
    /// # Errors
    /// [`ApplyError`]; the running config and rules stay.
    pub fn reload(&self) -> Result<ConfigOutcome, ApplyError> {
        let _one = self.change.lock().map_err(|_| ApplyError::Poisoned)?;
        let xml = std::fs::read_to_string(&self.path).map_err(|source| ApplyError::Io {
            path: self.path.clone(),
            source,
        })?;
        let prepared = prepare(&xml, &self.current().config, self.carp.is_some())?;
        self.swap(prepared, xml, "reload")
    }

    /// Makes `xml` the node's config: validated whole, written over the config file, its
    /// rules swapped in (`config apply`).
    ///
    /// # Errors
    /// [`ApplyError`]; the running config, the file and the rules stay as they were.
    pub fn apply(&self, xml: &str) -> Result<ConfigOutcome, ApplyError> {
        self.apply_as(xml, "apply", false)
    }

    /// Makes `config` (a merge of the XMLRPC primary's payload into the running config) the
    /// node's config, as [`ConfigStore::apply`] does; refused when a node-local section
    /// (`<interfaces>`, `<hasync>`, `<rampart>`, …) differs from the running one.
    ///
    /// # Errors
    /// [`ApplyError`]; the running config, the file and the rules stay as they were.
    pub fn apply_synced(&self, config: &Config) -> Result<ConfigOutcome, ApplyError> {
        self.apply_as(&config.to_xml(), "xmlrpc", true)
    }

    /// Hands the running CARP vhids to the CARP thread again (XMLRPC
    /// `interfaces_carp_configure`): unchanged vhids keep their role.
    ///
    /// # Errors
    /// [`ApplyError::Carp`] when the running config's VIPs cannot run (they could at start).
    pub fn reconfigure_vips(&self) -> Result<(), ApplyError> {
        let _one = self.change.lock().map_err(|_| ApplyError::Poisoned)?;
        if let Some(carp) = &self.carp {
            let config = &self.current().config;
            carp.store(Arc::new(vhids(config, &port_map(config))?));
        }
        Ok(())
    }

    fn apply_as(&self, xml: &str, how: &str, synced: bool) -> Result<ConfigOutcome, ApplyError> {
        let _one = self.change.lock().map_err(|_| ApplyError::Poisoned)?;
        let previous = self.current();
        let prepared = prepare(xml, &previous.config, self.carp.is_some())?;
        if synced {
            let (old, new) = (previous.config.doc.root(), prepared.config.doc.root());
            if let Some(name) = NODE_LOCAL_SECTIONS
                .iter()
                .find(|name| !old.children_named(name).eq(new.children_named(name)))
            {
                return Err(ApplyError::NodeLocal((*name).to_owned()));
            }
        }
        write_atomically(&self.path, xml)?;
        match self.swap(prepared, xml.to_owned(), how) {
            Ok(outcome) => Ok(outcome),
            Err(err) => {
                // The file goes back to what the node runs.
                let _ = write_atomically(&self.path, &previous.xml);
                Err(err)
            }
        }
    }

    fn swap(&self, p: Prepared, xml: String, how: &str) -> Result<ConfigOutcome, ApplyError> {
        let rules = p.ruleset.len();
        if let Some(policy) = &self.policy {
            policy.set(p.ruleset, p.nat)?;
        }
        if let Some(carp) = &self.carp
            && **carp.load() != p.vhids
        {
            tracing::info!(vhids = p.vhids.len(), "CARP vhids changed");
            carp.store(Arc::new(p.vhids));
        }
        let info = info(&self.path, &p.config, &xml, how, rules);
        let running = Arc::new(Running {
            config: p.config,
            xml,
            info,
        });
        self.running.store(running.clone());
        self.changed.send_replace(running);
        Ok(ConfigOutcome {
            applied: true,
            ..p.outcome
        })
    }
}

/// Validates and compiles `xml` as the successor of `running`; `live_vips`: the node
/// applies CARP VIP changes without a restart.
fn prepare(xml: &str, running: &Config, live_vips: bool) -> Result<Prepared, ApplyError> {
    let config = Config::parse(xml.as_bytes()).map_err(SetupError::from)?;
    node_spec(&config, "check")?;
    let ports = port_map(&config);
    if ports != port_map(running) {
        return Err(ApplyError::PortsChanged);
    }
    let filter = compile_filter_report(&config, &ports)?;
    let nat = compile_nat(&config, &ports)?;
    let vhids = vhids(&config, &ports)?;
    let mut skipped: Vec<String> = nat
        .skipped
        .iter()
        .map(|(path, reason)| format!("{path}: {reason}"))
        .collect();
    skipped.extend(
        filter
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.path, s.reason)),
    );
    let mut restart_needed = Vec::new();
    for (name, changed) in [
        ("system", config.system != running.system),
        ("interfaces", config.interfaces != running.interfaces),
        ("gateways", config.gateways != running.gateways),
        (
            "staticroutes",
            config.static_routes != running.static_routes,
        ),
        (
            "virtualip",
            !live_vips && config.virtual_ips != running.virtual_ips,
        ),
        ("hasync", config.hasync != running.hasync),
        ("rampart", config.rampart != running.rampart),
    ] {
        if changed {
            restart_needed.push(name.to_owned());
        }
    }
    let outcome = ConfigOutcome {
        applied: false,
        filter_rules: filter.ruleset.len(),
        outbound_nat: nat.nat.spec().outbound.len(),
        port_forwards: nat.nat.spec().port_forwards.len(),
        skipped,
        restart_needed,
        sha256: sha256(xml),
    };
    Ok(Prepared {
        config,
        ruleset: filter.ruleset,
        nat: nat.nat,
        vhids,
        outcome,
    })
}

fn info(path: &Path, config: &Config, xml: &str, how: &str, filter_rules: usize) -> ConfigInfo {
    let root = config.doc.root();
    ConfigInfo {
        path: path.display().to_string(),
        sha256: sha256(xml),
        version: config.doc.version().unwrap_or("").to_owned(),
        revision: root
            .child("revision")
            .and_then(|r| r.child_text("time"))
            .map(str::to_owned),
        loaded_unix: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        how: how.to_owned(),
        filter_rules,
    }
}

/// Lowercase hex SHA-256 of `text`.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `text` over `path` through a temporary file beside it, so a reader (or a crash)
/// sees the old file or the new one, never half.
fn write_atomically(path: &Path, text: &str) -> Result<(), ApplyError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let io = |source| ApplyError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The XMLRPC server's view of the node's [`ConfigStore`]: what the primary's payload is
/// merged into, and where the merge result goes (validated whole, written to the config
/// file, rules swapped keeping states, changed CARP vhids restarted — or nothing at all).
#[derive(Debug, Clone)]
pub struct XmlrpcStore {
    store: Arc<ConfigStore>,
    received: Arc<AtomicU64>,
}

impl XmlrpcStore {
    /// The XMLRPC side of `store`; `received` counts the configs applied.
    pub fn new(store: Arc<ConfigStore>, received: Arc<AtomicU64>) -> XmlrpcStore {
        XmlrpcStore { store, received }
    }
}

impl rampart_control::xmlrpc::ConfigStore for XmlrpcStore {
    fn current(&self) -> Arc<Config> {
        Arc::new(self.store.current().config.clone())
    }

    fn apply(
        &mut self,
        new: Config,
        reason: &str,
    ) -> Result<(), rampart_control::xmlrpc::ApplyError> {
        use rampart_control::xmlrpc::ApplyError as Xe;
        let _span = tracing::info_span!("xmlrpc_apply", reason).entered();
        match self.store.apply_synced(&new) {
            Ok(outcome) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                tracing::info!(rules = outcome.filter_rules, "{reason}");
                println!(
                    "rampart: config synced by XMLRPC ({} rules)",
                    outcome.filter_rules
                );
                Ok(())
            }
            Err(err) => {
                tracing::warn!("XMLRPC config refused, nothing changed: {err:#}");
                Err(match err {
                    ApplyError::Io { .. } | ApplyError::Node(_) | ApplyError::Poisoned => {
                        Xe::Failed(err.to_string())
                    }
                    _ => Xe::Refused(err.to_string()),
                })
            }
        }
    }

    fn reconfigure_vips(&mut self) -> Result<(), rampart_control::xmlrpc::ApplyError> {
        self.store
            .reconfigure_vips()
            .map_err(|e| rampart_control::xmlrpc::ApplyError::Failed(e.to_string()))
    }
}
