//! The primary's side: push the config to the secondary as pfSense's
//! `rc.filter_synchronize` does, and the dry run.
//!
//! [`push`]: build the payload ([`build_payload`]; nothing is sent when this node has no
//! sync target or nothing is selected), check the secondary's config version with
//! `host_firmware_version("", 240)` (refused when it is missing or differs from the local
//! `<version>`), then `restore_config_section(payload, 900)`. Each call is tried up to
//! [`Peer::attempts`] times (4), [`Peer::retry_delay`] apart (1 s), on any error: transport,
//! non-200, fault, or the legacy `Authentication failed` string — as pfSense does. The
//! result is a [`SyncOutcome`]: ok, or failed with a typed [`SyncError`] and the time; the
//! caller logs it and shows it in status and metrics, so a failed sync is never silent.
//!
//! [`dry_run`]: the same payload and version check, then `backup_config_section` of the
//! payload's sections, merged locally with the secondary's own rules ([`diff::dry_run`]):
//! what would change, section by section, without changing anything.
//!
//! HTTP: HTTP/1.1 (hyper) over TCP or rustls, one connection per call, `POST /xmlrpc.php`
//! with the Basic credentials in the header (never in the URL), `Accept-Encoding:
//! identity`; the URL comes from this node's own GUI settings as pfSense builds it
//! ([`Peer::from_config`]). TLS verification: [`PeerVerification`] (a pinned fingerprint,
//! or an explicit insecure mode).

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::{info, warn};

use crate::config::Config;

use super::auth::Credentials;
use super::codec::{MethodResponse, decode_response, encode_call};
use super::diff::{self, DryRun};
use super::handler::METHOD_PREFIX;
use super::payload::{Payload, PayloadError, build_payload};
use super::server::XMLRPC_PATH;
use super::tls::{PeerVerification, client_config};
use super::value::{Fault, Value};

/// Largest response accepted (a `backup_config_section` answer is a whole config).
pub const MAX_RESPONSE: usize = 64 << 20;

/// pfSense's timeout for ordinary calls (s).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(240);

/// pfSense's timeout for `restore_config_section` (s).
pub const RESTORE_TIMEOUT: Duration = Duration::from_secs(900);

/// The secondary, as the primary reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `https` (true) or `http`.
    pub https: bool,
    /// Host: `hasync/synchronizetoip`, an address or a name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Basic credentials: `hasync/username` (default `admin`) and `hasync/password`.
    pub credentials: Credentials,
    /// How the secondary's certificate is checked (https only).
    pub verification: PeerVerification,
    /// Attempts per call (pfSense: 4).
    pub attempts: u32,
    /// Pause between attempts (pfSense: 1 s).
    pub retry_delay: Duration,
    /// TCP connect and TLS handshake timeout.
    pub connect_timeout: Duration,
}

impl Peer {
    /// The secondary as pfSense's client derives it from this node's config: host
    /// `hasync/synchronizetoip`; port `system/webgui/port`, or 80 for an `http` GUI and 443
    /// otherwise; `https` when the port is 443 or the GUI protocol is `https` — the peer's
    /// GUI must use the same protocol and port as ours.
    ///
    /// # Errors
    /// [`PayloadError::NotConfigured`] without a sync target;
    /// [`PayloadError::NotConfigured`] too for a port that is not a number.
    pub fn from_config(
        config: &Config,
        verification: PeerVerification,
    ) -> Result<Self, PayloadError> {
        let root = config.doc.root();
        let hasync = root.child("hasync").ok_or(PayloadError::NotConfigured)?;
        let host = hasync
            .child_text("synchronizetoip")
            .filter(|h| !h.is_empty())
            .ok_or(PayloadError::NotConfigured)?;
        let webgui = root.child("system").and_then(|s| s.child("webgui"));
        let protocol = webgui.and_then(|w| w.child_text("protocol")).unwrap_or("");
        let port = match webgui
            .and_then(|w| w.child_text("port"))
            .filter(|p| !p.is_empty())
        {
            Some(p) => p.parse().map_err(|_| PayloadError::NotConfigured)?,
            None if protocol == "http" => 80,
            None => 443,
        };
        let username = hasync
            .child_text("username")
            .filter(|u| !u.is_empty())
            .unwrap_or("admin");
        let password = hasync.child_text("password").unwrap_or("");
        Ok(Self {
            https: port == 443 || protocol == "https",
            host: host.to_owned(),
            port,
            credentials: Credentials::new(username, password),
            verification,
            attempts: 4,
            retry_delay: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(10),
        })
    }

    /// The URL, without credentials (for logs): `https://172.16.0.2:443/xmlrpc.php`.
    #[must_use]
    pub fn url(&self) -> String {
        format!(
            "{}://{}/xmlrpc.php",
            if self.https { "https" } else { "http" },
            self.authority()
        )
    }

    /// `host:port`, an IPv6 address in brackets.
    fn authority(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]:{}", self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Why one XML-RPC call failed (after its last attempt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Connecting, TLS or HTTP failed.
    #[error("communications error: {0}")]
    Transport(String),
    /// No answer in time.
    #[error("timed out after {} s", .0.as_secs())]
    Timeout(Duration),
    /// An HTTP status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The answer is not an XML-RPC response.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The secondary answered a fault.
    #[error("fault {} : {}", .0.code, .0.message)]
    Fault(Fault),
    /// The legacy answer `Authentication failed` (pfSense ≤ 2.3, OPNsense).
    #[error("authentication failure")]
    AuthFailed,
}

/// Which call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `host_firmware_version`.
    VersionCheck,
    /// `restore_config_section`.
    Restore,
    /// `backup_config_section` (dry run).
    Backup,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::VersionCheck => "pfsense.host_firmware_version",
            Self::Restore => "pfsense.restore_config_section",
            Self::Backup => "pfsense.backup_config_section",
        })
    }
}

/// Why a sync did not happen or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Nothing to send, or this node is not a primary.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The secondary's answer has no `config_version`.
    #[error(
        "The software configuration version of the other member could not be determined. \
         Skipping synchronization to avoid causing a problem!"
    )]
    VersionUnknown,
    /// The secondary runs another config version.
    #[error(
        "The other member is on a different configuration version ({remote}, this node {local}). \
         Sync will not be done to prevent problems!"
    )]
    VersionMismatch {
        /// This node's `<version>`.
        local: String,
        /// The secondary's.
        remote: String,
    },
    /// A call failed on every attempt.
    #[error("{stage} failed after {attempts} attempt(s): {error}")]
    Call {
        /// The call.
        stage: Stage,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: CallError,
    },
    /// The dry run could not merge the secondary's sections (the push would fail too).
    #[error("the payload cannot be merged: {0}")]
    Merge(String),
}

/// A sync that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDone {
    /// The payload's top-level members.
    pub sections: Vec<String>,
    /// The secondary's config version.
    pub remote_version: String,
    /// Attempts `restore_config_section` took.
    pub attempts: u32,
}

/// The result of [`push`]: where, when, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// The secondary's URL, or `""` when none is configured.
    pub url: String,
    /// When the sync ended.
    pub finished: SystemTime,
    /// Done, or why not.
    pub result: Result<SyncDone, SyncError>,
}

impl SyncOutcome {
    /// Whether the sync went through.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

impl fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(done) => write!(
                f,
                "XMLRPC sync successfully completed with {} ({} sections).",
                self.url,
                done.sections.join(", ")
            ),
            Err(e) => write!(f, "XMLRPC sync to {} failed: {e}", self.url),
        }
    }
}

/// Pushes `config` to its secondary (see the module docs). Never panics; every failure is
/// in the outcome.
pub async fn push(config: &Config, peer: &Peer) -> SyncOutcome {
    let url = peer.url();
    let result = push_inner(config, peer).await;
    match &result {
        Ok(done) => info!(%url, sections = ?done.sections, "XMLRPC sync successfully completed"),
        Err(e) => warn!(%url, error = %e, "XMLRPC sync failed"),
    }
    SyncOutcome {
        url,
        finished: SystemTime::now(),
        result,
    }
}

async fn push_inner(config: &Config, peer: &Peer) -> Result<SyncDone, SyncError> {
    let payload = build_payload(config)?;
    let remote_version = check_version(config, peer).await?;
    let (reply, attempts) = call_with_retries(
        peer,
        "restore_config_section",
        &[payload.value.clone(), Value::Int(secs(RESTORE_TIMEOUT))],
        RESTORE_TIMEOUT,
    )
    .await;
    reply.map_err(|error| SyncError::Call {
        stage: Stage::Restore,
        attempts,
        error,
    })?;
    Ok(SyncDone {
        sections: payload.sections,
        remote_version,
        attempts,
    })
}

/// What a push would change on the secondary, without pushing (see the module docs).
///
/// # Errors
/// [`SyncError`] as for [`push`] (payload, version, the backup call), or
/// [`SyncError::Merge`] when the secondary's sections and the payload do not merge.
pub async fn dry_run(config: &Config, peer: &Peer) -> Result<DryRun, SyncError> {
    let payload: Payload = build_payload(config)?;
    let remote_version = check_version(config, peer).await?;
    let mut names: Vec<Value> = payload
        .sections
        .iter()
        .map(|s| Value::str(s.clone()))
        .collect();
    // The merge reads the secondary's own VIPs and accounts too.
    for extra in ["virtualip", "system"] {
        if !payload.sections.iter().any(|s| s == extra) {
            names.push(Value::str(extra));
        }
    }
    let (reply, attempts) = call_with_retries(
        peer,
        "backup_config_section",
        &[Value::Array(names)],
        CALL_TIMEOUT,
    )
    .await;
    let remote = reply.map_err(|error| SyncError::Call {
        stage: Stage::Backup,
        attempts,
        error,
    })?;
    diff::dry_run(&remote, Some(&remote_version), &payload)
        .map_err(|e| SyncError::Merge(e.to_string()))
}

/// `host_firmware_version`, compared with the local `<version>` (pfSense's loose `!=`:
/// equal strings, or equal numbers such as `23.3` and `23.30`).
async fn check_version(config: &Config, peer: &Peer) -> Result<String, SyncError> {
    let (reply, attempts) = call_with_retries(
        peer,
        "host_firmware_version",
        &[Value::str(""), Value::Int(secs(CALL_TIMEOUT))],
        CALL_TIMEOUT,
    )
    .await;
    let reply = reply.map_err(|error| SyncError::Call {
        stage: Stage::VersionCheck,
        attempts,
        error,
    })?;
    let remote = reply
        .member("config_version")
        .and_then(Value::scalar_text)
        .ok_or(SyncError::VersionUnknown)?;
    let local = config.doc.version().unwrap_or("").to_owned();
    let same = remote == local
        || matches!((remote.trim().parse::<f64>(), local.trim().parse::<f64>()), (Ok(a), Ok(b)) if a == b);
    if same {
        Ok(remote)
    } else {
        Err(SyncError::VersionMismatch { local, remote })
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// One method, up to `peer.attempts` times; returns the last result and the attempts made.
pub async fn call_with_retries(
    peer: &Peer,
    method: &str,
    params: &[Value],
    timeout: Duration,
) -> (Result<Value, CallError>, u32) {
    let body = encode_call(&format!("{METHOD_PREFIX}{method}"), params);
    let attempts = peer.attempts.max(1);
    let mut last = Err(CallError::Transport("not attempted".into()));
    for attempt in 1..=attempts {
        info!(url = %peer.url(), method, attempt, "Beginning XMLRPC sync data");
        last = call_once(peer, &body, timeout).await;
        match &last {
            Ok(_) => return (last, attempt),
            Err(e) if attempt < attempts => {
                warn!(method, attempt, error = %e, "Retrying XMLRPC Request due to error");
                tokio::time::sleep(peer.retry_delay).await;
            }
            Err(_) => return (last, attempt),
        }
    }
    (last, attempts)
}

async fn call_once(peer: &Peer, body: &str, timeout: Duration) -> Result<Value, CallError> {
    let bytes = match tokio::time::timeout(timeout, post(peer, body)).await {
        Ok(r) => r?,
        Err(_) => return Err(CallError::Timeout(timeout)),
    };
    match decode_response(&bytes) {
        Ok(MethodResponse::Value(Value::Str(s))) if s.trim() == "Authentication failed" => {
            Err(CallError::AuthFailed)
        }
        Ok(MethodResponse::Value(v)) => Ok(v),
        Ok(MethodResponse::Fault(f)) => Err(CallError::Fault(f)),
        Err(e) => Err(CallError::BadResponse(e.to_string())),
    }
}

fn transport(e: impl fmt::Display) -> CallError {
    CallError::Transport(e.to_string())
}

async fn post(peer: &Peer, body: &str) -> Result<Bytes, CallError> {
    let authority = peer.authority();
    let connect = TcpStream::connect((peer.host.as_str(), peer.port));
    let tcp = tokio::time::timeout(peer.connect_timeout, connect)
        .await
        .map_err(|_| CallError::Transport(format!("connecting to {authority} timed out")))?
        .map_err(|e| CallError::Transport(format!("connecting to {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let request = Request::post(XMLRPC_PATH)
        .header(HOST, &authority)
        .header(CONTENT_TYPE, "text/xml; charset=utf-8")
        .header(USER_AGENT, concat!("rampart/", env!("CARGO_PKG_VERSION")))
        .header(AUTHORIZATION, peer.credentials.to_basic_header())
        .header(ACCEPT_ENCODING, "identity")
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .map_err(transport)?;
    if !peer.https {
        return exchange(tcp, request).await;
    }
    let connector = TlsConnector::from(client_config(peer.verification).map_err(transport)?);
    // An address is sent as no SNI; a name as SNI (rustls decides).
    let name = match peer.host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(peer.host.clone()).map_err(transport)?,
    };
    let tls = tokio::time::timeout(peer.connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| CallError::Transport(format!("TLS handshake with {authority} timed out")))?
        .map_err(|e| CallError::Transport(format!("TLS with {authority}: {e}")))?;
    exchange(tls, request).await
}

async fn exchange<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: I,
    request: Request<Full<Bytes>>,
) -> Result<Bytes, CallError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(transport)?;
    // The connection task ends when the sender is dropped.
    let driver = tokio::spawn(conn);
    let result = async {
        let response = sender.send_request(request).await.map_err(transport)?;
        if response.status() != StatusCode::OK {
            return Err(CallError::Status(response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(transport)?;
        Ok(body.to_bytes())
    }
    .await;
    drop(sender);
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = include_str!("../../tests/data/ha-primary.xml");

    #[test]
    fn test_peer_from_config() {
        let c = Config::parse(PRIMARY.as_bytes()).unwrap();
        let p = Peer::from_config(&c, PeerVerification::Insecure).unwrap();
        assert_eq!(p.url(), "https://172.16.0.2:443/xmlrpc.php");
        assert_eq!(
            p.credentials,
            Credentials::new("admin", "xmlrpc-sync-secret")
        );
        assert_eq!((p.attempts, p.retry_delay), (4, Duration::from_secs(1)));
        let http = PRIMARY.replace(
            "<protocol>https</protocol>\n\t\t\t<port>443</port>",
            "<protocol>http</protocol>",
        );
        let p = Peer::from_config(
            &Config::parse(http.as_bytes()).unwrap(),
            PeerVerification::Insecure,
        )
        .unwrap();
        assert_eq!(p.url(), "http://172.16.0.2:80/xmlrpc.php");
        let v6 = PRIMARY
            .replace("<port>443</port>", "<port>8443</port>")
            .replace(
                "<synchronizetoip>172.16.0.2</synchronizetoip>",
                "<synchronizetoip>fd00::2</synchronizetoip>",
            );
        let p = Peer::from_config(
            &Config::parse(v6.as_bytes()).unwrap(),
            PeerVerification::Insecure,
        )
        .unwrap();
        assert_eq!(p.url(), "https://[fd00::2]:8443/xmlrpc.php");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn test_failed_sync_says_why() {
        let c = Config::parse(PRIMARY.as_bytes()).unwrap();
        // Nothing listens on port 1 of localhost.
        let mut p = Peer::from_config(&c, PeerVerification::Insecure).unwrap();
        p.host = "127.0.0.1".into();
        p.port = 1;
        let outcome = push(&c, &p).await;
        assert!(!outcome.is_ok());
        match &outcome.result {
            Err(SyncError::Call {
                stage: Stage::VersionCheck,
                attempts: 4,
                error: CallError::Transport(msg),
            }) => {
                assert!(msg.contains("127.0.0.1:1"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            outcome
                .to_string()
                .starts_with("XMLRPC sync to https://127.0.0.1:1/xmlrpc.php failed")
        );
        let not_primary = PRIMARY.replace("<synchronizetoip>172.16.0.2</synchronizetoip>", "");
        let c = Config::parse(not_primary.as_bytes()).unwrap();
        let outcome = push(&c, &p).await;
        assert_eq!(
            outcome.result,
            Err(SyncError::Payload(PayloadError::NotConfigured))
        );
    }
}
