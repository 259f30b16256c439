//! XMLRPC configuration sync on a running node (pfSense's HA config sync; the protocol
//! side is `rampart_control::xmlrpc`).
//!
//! * **Secondary**: with `<rampart><xmlrpc><listen>`, the node serves `POST /xmlrpc.php` on
//!   that management address (HTTPS with the configured certificate, or one generated
//!   self-signed on first start and kept beside the config file; plain HTTP when
//!   `<system><webgui><protocol>` is `http`, as the primary then speaks HTTP). A payload is
//!   merged with pfSense's rules into the running config, validated whole and applied
//!   through the same [`ConfigStore`] as `config apply` ([`XmlrpcStore`]); node-local
//!   sections never change; any error changes nothing and the fault says why.
//! * **Primary**: with `<hasync><synchronizetoip>`, every config the node swaps in (at
//!   start, `config apply`/`reload`, SIGHUP) is pushed in the background: version check,
//!   the sections `<hasync><synchronize*>` select, 4 attempts 1 s apart. Pushes never
//!   overlap; changes made during one are pushed once it ends (the latest config only).
//!   The outcome goes into [`XmlrpcReport`] (status, `sync status`, metrics); a failure
//!   is also logged at warn. The secondary's certificate is checked against
//!   `<rampart><xmlrpc><peerfingerprint>`, or not at all with `<insecure/>`; with neither,
//!   an HTTPS push fails and says so.
//! * **Dry run** ([`XmlrpcHandles::diff`]): what a push would change on the secondary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rampart_control::config::{Config, XmlrpcSettings};
use rampart_control::ctl::reply::{SectionDiffEntry, SyncDiffReport, XmlrpcPush, XmlrpcReport};
use rampart_control::xmlrpc::server::DEFAULT_MAX_BODY;
use rampart_control::xmlrpc::tls::TlsError;
use rampart_control::xmlrpc::{
    Handler, HandlerOptions, PayloadError, Peer, PeerVerification, SectionChange, ServerOptions,
    SyncError, dry_run, load_or_generate, push, serve_listener,
};
use thiserror::Error;
use tokio::sync::{oneshot, watch};
use tracing::Instrument as _;

use crate::ctl::config::{ConfigStore, Running, XmlrpcStore};

/// Why XMLRPC could not start.
#[derive(Debug, Error)]
pub enum XmlrpcError {
    /// The async runtime did not start.
    #[error("starting the XMLRPC runtime: {0}")]
    Runtime(std::io::Error),
    /// The certificate could not be loaded or generated.
    #[error("XMLRPC certificate: {0}")]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    #[error("binding the XMLRPC server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a dry run could not tell.
#[derive(Debug, Error)]
pub enum DiffError {
    /// This node pushes to no secondary.
    #[error("XMLRPC Synchronization is not configured: this node has no <hasync><synchronizetoip>")]
    NotPrimary,
    /// The secondary's certificate cannot be checked.
    #[error("{0}")]
    Unverifiable(&'static str),
    /// The dry run failed (version, connection, merge).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// No answer in time.
    #[error("the secondary did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

const NO_PIN: &str = "the secondary's certificate cannot be checked: set \
    <rampart><xmlrpc><peerfingerprint> to the fingerprint the secondary prints at start, \
    or <insecure/> to accept any certificate as pfSense does";

/// Longest a dry run may take (it answers an operator's command).
pub const DIFF_TIMEOUT: Duration = Duration::from_secs(12);

/// XMLRPC on the node: its runtime, server and pusher.
#[derive(Debug)]
pub struct XmlrpcNode {
    runtime: tokio::runtime::Runtime,
    handles: XmlrpcHandles,
    stop_server: Option<oneshot::Sender<()>>,
}

/// What the control socket and the metrics read: the report, and the dry run.
#[derive(Debug, Clone)]
pub struct XmlrpcHandles {
    /// The published report.
    pub status: Arc<ArcSwap<XmlrpcReport>>,
    runtime: tokio::runtime::Handle,
    settings: XmlrpcSettings,
    store: Arc<ConfigStore>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `config` makes this node a sync primary.
fn is_primary(config: &Config) -> bool {
    config
        .hasync
        .as_ref()
        .and_then(|h| h.synchronize_to_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty())
}

/// The secondary as this node reaches it, with the certificate check the settings give.
fn peer(config: &Config, settings: &XmlrpcSettings) -> Result<Peer, PushProblem> {
    let verification = match (settings.peer_fingerprint, settings.insecure) {
        (Some(pin), _) => Some(PeerVerification::Pinned(pin)),
        (None, true) => Some(PeerVerification::Insecure),
        (None, false) => None,
    };
    let peer = Peer::from_config(config, verification.unwrap_or(PeerVerification::Insecure))
        .map_err(PushProblem::Payload)?;
    if peer.https && verification.is_none() {
        return Err(PushProblem::Unpinned(peer.url()));
    }
    Ok(peer)
}

enum PushProblem {
    Payload(PayloadError),
    Unpinned(String),
}

impl XmlrpcNode {
    /// Starts XMLRPC when the config asks for it (`<rampart><xmlrpc>` or a sync target):
    /// the server on `<listen>`, and the pusher that follows `store`. `None` otherwise.
    ///
    /// # Errors
    /// [`XmlrpcError`] when the runtime, the certificate or the listener fails.
    pub fn start(
        config: &Config,
        config_path: &Path,
        store: Arc<ConfigStore>,
    ) -> Result<Option<XmlrpcNode>, XmlrpcError> {
        let settings = config.rampart.as_ref().and_then(|r| r.xmlrpc.clone());
        if settings.is_none() && !is_primary(config) {
            return Ok(None);
        }
        let settings = settings.unwrap_or_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("xmlrpc")
            .enable_all()
            .build()
            .map_err(XmlrpcError::Runtime)?;
        let mut report = XmlrpcReport {
            serving: None,
            fingerprint: None,
            peer: None,
            state: if is_primary(config) { "never" } else { "off" }.into(),
            last: None,
            last_success_unix: None,
            pushes_total: 0,
            failures_total: 0,
            received_total: 0,
        };
        let received = Arc::new(AtomicU64::new(0));
        let mut stop_server = None;
        if let Some(listen) = settings.listen {
            let (url, fingerprint, stop) = start_server(
                &runtime,
                config,
                config_path,
                &settings,
                listen,
                &store,
                &received,
            )?;
            println!(
                "rampart: xmlrpc on {url}{}",
                fingerprint
                    .as_ref()
                    .map_or(String::new(), |f| format!(" (certificate sha256 {f})"))
            );
            report.serving = Some(url);
            report.fingerprint = fingerprint;
            stop_server = Some(stop);
        }
        let status = Arc::new(ArcSwap::from_pointee(report));
        runtime.spawn(push_loop(
            store.subscribe(),
            settings.clone(),
            status.clone(),
            received,
        ));
        let handles = XmlrpcHandles {
            status,
            runtime: runtime.handle().clone(),
            settings,
            store,
        };
        Ok(Some(XmlrpcNode {
            runtime,
            handles,
            stop_server,
        }))
    }

    /// The handles for the control socket and the metrics.
    pub fn handles(&self) -> XmlrpcHandles {
        self.handles.clone()
    }

    /// Stops the server (requests in progress finish) and the pusher. Stop the control
    /// socket first: a dry run needs the runtime.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

impl XmlrpcHandles {
    /// What a push of the running config would change on the secondary (the client's
    /// dry run; nothing changes anywhere). Blocks for at most [`DIFF_TIMEOUT`]; call it
    /// from a thread outside the runtime (the control socket's).
    ///
    /// # Errors
    /// [`DiffError`] saying why it cannot tell.
    pub fn diff(&self) -> Result<SyncDiffReport, DiffError> {
        let running = self.store.current();
        let config = &running.config;
        if !is_primary(config) {
            return Err(DiffError::NotPrimary);
        }
        let mut peer = match peer(config, &self.settings) {
            Ok(p) => p,
            Err(PushProblem::Payload(_)) => return Err(DiffError::NotPrimary),
            Err(PushProblem::Unpinned(_)) => return Err(DiffError::Unverifiable(NO_PIN)),
        };
        // An operator waits: fewer, shorter attempts than a push.
        peer.attempts = 2;
        peer.connect_timeout = Duration::from_secs(4);
        let url = peer.url();
        let span = tracing::info_span!("xmlrpc_dry_run", %url);
        let run = self
            .runtime
            .block_on(async { tokio::time::timeout(DIFF_TIMEOUT, dry_run(config, &peer)).await });
        let _entered = span.enter();
        let run = run.map_err(|_| DiffError::Timeout(DIFF_TIMEOUT))??;
        tracing::info!(changes = run.changes().count(), "XMLRPC dry run");
        Ok(SyncDiffReport {
            peer: url,
            noop: run.is_noop(),
            sections: run
                .sections
                .iter()
                .map(|s| SectionDiffEntry {
                    section: s.section.clone(),
                    change: match s.change {
                        SectionChange::Unchanged => "unchanged",
                        SectionChange::Added => "added",
                        SectionChange::Removed => "removed",
                        SectionChange::Changed(_) => "changed",
                    }
                    .to_owned(),
                    detail: s.to_string(),
                })
                .collect(),
            ignored: run.ignored,
        })
    }
}

/// Binds and starts the server; returns its URL, its certificate's fingerprint and its
/// stop switch.
fn start_server(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    config_path: &Path,
    settings: &XmlrpcSettings,
    listen: SocketAddr,
    store: &Arc<ConfigStore>,
    received: &Arc<AtomicU64>,
) -> Result<(String, Option<String>, oneshot::Sender<()>), XmlrpcError> {
    let plain = config
        .doc
        .root()
        .child("system")
        .and_then(|s| s.child("webgui"))
        .and_then(|w| w.child_text("protocol"))
        == Some("http");
    let (tls, fingerprint) = if plain {
        (None, None)
    } else {
        let (cert, key) = cert_paths(config_path, settings);
        let mut names = vec![listen.ip().to_string()];
        if !config.system.hostname.is_empty() {
            names.push(config.system.hostname.clone());
        }
        let tls = load_or_generate(&cert, &key, &names)?;
        if tls.generated {
            tracing::info!(cert = %cert.display(), "generated a self-signed XMLRPC certificate");
        }
        (Some(tls.config), Some(tls.fingerprint.to_string()))
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|source| XmlrpcError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(listen);
    let url = format!(
        "{}://{addr}/xmlrpc.php",
        if plain { "http" } else { "https" }
    );
    let options = ServerOptions {
        max_body: settings.max_body.map_or(DEFAULT_MAX_BODY, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        }),
        ..ServerOptions::default()
    };
    let handler = Arc::new(Mutex::new(Handler::new(
        XmlrpcStore::new(store.clone(), received.clone()),
        HandlerOptions::default(),
    )));
    let (stop, stopped) = oneshot::channel::<()>();
    runtime.spawn(serve_listener(listener, tls, handler, options, async {
        let _ = stopped.await;
    }));
    Ok((url, fingerprint, stop))
}

/// `<cert>`/`<key>`, else `<config>.xmlrpc.crt`/`.xmlrpc.key` beside the config file.
pub fn cert_paths(config_path: &Path, settings: &XmlrpcSettings) -> (PathBuf, PathBuf) {
    match (&settings.cert, &settings.key) {
        (Some(c), Some(k)) => (PathBuf::from(c), PathBuf::from(k)),
        _ => (
            config_path.with_extension("xmlrpc.crt"),
            config_path.with_extension("xmlrpc.key"),
        ),
    }
}

/// Pushes every config the store swaps in, one push at a time.
async fn push_loop(
    mut changes: watch::Receiver<Arc<Running>>,
    settings: XmlrpcSettings,
    status: Arc<ArcSwap<XmlrpcReport>>,
    received: Arc<AtomicU64>,
) {
    // The config the node started with counts as a change: a restarted primary brings its
    // secondary up to date.
    changes.mark_changed();
    loop {
        let running = tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return; // the store is gone: the node stops
                }
                changes.borrow_and_update().clone()
            }
            // The received count moves without a config change of ours being pushed.
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                publish(&status, |r| r.received_total = received.load(Ordering::Relaxed));
                continue;
            }
        };
        publish(&status, |r| {
            r.received_total = received.load(Ordering::Relaxed)
        });
        let span = tracing::info_span!("xmlrpc_push", trigger = %running.info.how);
        push_one(&running, &settings, &status)
            .instrument(span)
            .await;
    }
}

fn publish(status: &ArcSwap<XmlrpcReport>, edit: impl FnOnce(&mut XmlrpcReport)) {
    let mut r = XmlrpcReport::clone(&status.load());
    edit(&mut r);
    status.store(Arc::new(r));
}

/// One push of `running` (or nothing, when this node is not a primary), recorded.
async fn push_one(running: &Running, settings: &XmlrpcSettings, status: &ArcSwap<XmlrpcReport>) {
    let config = &running.config;
    let trigger = running.info.how.clone();
    if !is_primary(config) {
        publish(status, |r| {
            r.peer = None;
            r.state = "off".into();
        });
        return;
    }
    let peer = match peer(config, settings) {
        Ok(p) => p,
        Err(problem) => {
            let (url, reason) = match problem {
                PushProblem::Payload(e) => (String::new(), e.to_string()),
                PushProblem::Unpinned(url) => (url, NO_PIN.to_owned()),
            };
            tracing::warn!(%url, "XMLRPC sync failed: {reason}");
            record(
                status,
                Some(url),
                trigger,
                Err((reason, 0)),
                SystemTime::now(),
            );
            return;
        }
    };
    let url = peer.url();
    publish(status, |r| {
        r.peer = Some(url.clone());
        r.state = "running".into();
    });
    let outcome = push(config, &peer).await;
    let result = match &outcome.result {
        Ok(done) => {
            println!("rampart: {outcome}");
            Ok((done.sections.clone(), done.attempts))
        }
        Err(e) => {
            let attempts = match e {
                SyncError::Call { attempts, .. } => *attempts,
                SyncError::Payload(_) => 0,
                _ => 1,
            };
            // push() logged it at warn already; the operator's log line too.
            println!("rampart: {outcome}");
            Err((e.to_string(), attempts))
        }
    };
    record(status, Some(url), trigger, result, outcome.finished);
}

/// Records an ended push.
fn record(
    status: &ArcSwap<XmlrpcReport>,
    url: Option<String>,
    trigger: String,
    result: Result<(Vec<String>, u32), (String, u32)>,
    finished: SystemTime,
) {
    let finished_unix = unix(finished);
    publish(status, |r| {
        r.peer = url.filter(|u| !u.is_empty());
        r.pushes_total += 1;
        let push = match result {
            Ok((sections, attempts)) => {
                r.state = "ok".into();
                r.last_success_unix = Some(finished_unix);
                XmlrpcPush {
                    ok: true,
                    finished_unix,
                    trigger,
                    attempts,
                    sections,
                    error: None,
                }
            }
            Err((reason, attempts)) => {
                r.state = "failed".into();
                r.failures_total += 1;
                XmlrpcPush {
                    ok: false,
                    finished_unix,
                    trigger,
                    attempts,
                    sections: Vec::new(),
                    error: Some(reason),
                }
            }
        };
        r.last = Some(push);
    });
}
