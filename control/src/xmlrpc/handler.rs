//! The secondary's side, sans-IO: one request body in, one response body out.
//!
//! [`Handler::handle`] takes the body, the caller's address and Basic credentials, and the
//! time; it never does I/O itself (the [`ConfigStore`] does the applying). Order:
//!
//! 1. a locked-out address gets fault -1 without any check ([`LoginGuard`]);
//! 2. credentials are checked (fault -1, or -2 without the privilege). Unlike pfSense,
//!    this happens *before* the body is parsed, so an unauthenticated caller learns
//!    nothing about methods or parameters;
//! 3. the body is decoded (fault 0 `Unable to parse request XML…` when it is not
//!    XML-RPC), the method looked up with its `pfsense.` prefix, exactly (fault -32601
//!    `server error. requested method not found`) and its parameters checked (fault
//!    -32602 `server error. invalid method parameters`);
//! 4. the mutating methods refuse a caller whose address is this node's own
//!    `hasync/synchronizetoip` with fault [`fault_code::SYNC_LOOP`] — pfSense answers
//!    `true` and does nothing, which makes a misconfigured pair look healthy (reference
//!    §9 P2);
//! 5. the method runs. A merge result is validated whole ([`Config::from_document`]) and
//!    handed to [`ConfigStore::apply`]; any error is fault [`fault_code::REJECTED`] with the
//!    reason, and nothing has changed. A merge that changes nothing is not applied again,
//!    so the primary's retries are harmless.
//!
//! Methods, each in its 1- and 2-parameter form (the trailing timeout is accepted and
//! ignored: rampart answers when the apply is done): `host_firmware_version`,
//! `restore_config_section`, `merge_config_section`, `merge_installedpackages_section`
//! (and its pre-2.4 name `…_xmlrpc`), `backup_config_section`,
//! `interfaces_carp_configure`. `exec_php`, `exec_shell`, `reboot` and
//! `captive_portal_sync` answer fault [`fault_code::NOT_SUPPORTED`]. The pre-2.4 form with
//! the password as first parameter is not supported (such peers fail the version check
//! anyway).

use std::net::IpAddr;

use tracing::{info, info_span, warn};

use crate::config::Config;
use rampart_dataplane::time::Instant;

use super::auth::{AuthFailure, Credentials, LoginGuard, LoginLimits, authenticate};
use super::codec::{decode_call, encode_fault, encode_response};
use super::merge::{self, MergeError, MergeReport};
use super::store::ConfigStore;
use super::value::{Fault, Value};

/// Fault codes the handler answers with. pfSense's own are 0, -1, -2, -32601 and -32602;
/// the negative single digits from -3 on are rampart's.
pub mod fault_code {
    /// The body is not an XML-RPC call (pfSense: XML_RPC2's `Unable to parse request XML`).
    pub const PARSE: i64 = 0;
    /// Bad credentials, or locked out after too many.
    pub const AUTH: i64 = -1;
    /// Authenticated without the HA-sync privilege.
    pub const PRIVILEGE: i64 = -2;
    /// A method pfSense has that rampart will not run (`exec_php`, …).
    pub const NOT_SUPPORTED: i64 = -3;
    /// The caller is this node's own sync target: a sync loop.
    pub const SYNC_LOOP: i64 = -4;
    /// The payload or the merged config was refused; nothing changed.
    pub const REJECTED: i64 = -5;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong parameters.
    pub const INVALID_PARAMS: i64 = -32602;
}

/// pfSense's method prefix.
pub const METHOD_PREFIX: &str = "pfsense.";

/// Methods pfSense offers that rampart refuses to run.
pub const NOT_SUPPORTED_METHODS: &[&str] =
    &["exec_php", "exec_shell", "reboot", "captive_portal_sync"];

/// What `host_firmware_version` reports besides the config version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerOptions {
    /// `firmware/version` (pfSense: the product version, e.g. `2.7.2-RELEASE`).
    pub firmware_version: String,
    /// `kernel/version` and `base/version` (pfSense: the OS release, e.g. `14.0`).
    pub os_release: String,
    /// `platform` (pfSense: `pfSense`).
    pub platform: String,
    /// Failed-login limits.
    pub limits: LoginLimits,
}

impl Default for HandlerOptions {
    fn default() -> Self {
        Self {
            firmware_version: concat!("rampart-", env!("CARGO_PKG_VERSION")).to_owned(),
            os_release: String::new(),
            platform: "rampart".to_owned(),
            limits: LoginLimits::default(),
        }
    }
}

/// Who is calling, and when.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// Now (for the login guard).
    pub now: Instant,
    /// The caller's address (IPv4-mapped IPv6 addresses are treated as IPv4).
    pub peer: IpAddr,
    /// The `Authorization: Basic` credentials, if any.
    pub auth: Option<&'a Credentials>,
}

/// The answer to one request: always HTTP 200 with `text/xml`, faults included.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The `methodResponse` document.
    pub body: String,
    /// The method called, once the body was decoded.
    pub method: Option<String>,
    /// The fault answered, if any (for logs and counters).
    pub fault: Option<Fault>,
}

/// The XMLRPC methods over a [`ConfigStore`].
#[derive(Debug)]
pub struct Handler<S> {
    store: S,
    options: HandlerOptions,
    guard: LoginGuard,
}

type CallResult = Result<Value, Fault>;

fn invalid_params() -> Fault {
    Fault::new(
        fault_code::INVALID_PARAMS,
        "server error. invalid method parameters",
    )
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl<S: ConfigStore> Handler<S> {
    /// A handler over `store`.
    #[must_use]
    pub fn new(store: S, options: HandlerOptions) -> Self {
        let guard = LoginGuard::new(options.limits);
        Self {
            store,
            options,
            guard,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Answers one request body (see the module docs). Never panics.
    pub fn handle(&mut self, body: &[u8], ctx: &CallContext<'_>) -> Response {
        let peer = canonical(ctx.peer);
        let span = info_span!(
            "xmlrpc_call",
            %peer,
            user = ctx.auth.map_or("", |c| c.username.as_str()),
            method = tracing::field::Empty,
        );
        let _entered = span.enter();
        let mut method = None;
        let result = self.call(body, peer, ctx, &mut method);
        if let Some(m) = &method {
            span.record("method", m.as_str());
        }
        match result {
            Ok(value) => Response {
                body: encode_response(&value),
                method,
                fault: None,
            },
            Err(fault) => {
                info!(code = fault.code, message = %fault.message, "fault");
                Response {
                    body: encode_fault(&fault),
                    method,
                    fault: Some(fault),
                }
            }
        }
    }

    fn call(
        &mut self,
        body: &[u8],
        peer: IpAddr,
        ctx: &CallContext<'_>,
        method_out: &mut Option<String>,
    ) -> CallResult {
        let config = self.store.current();
        self.login(&config, peer, ctx)?;
        let call = decode_call(body).map_err(|e| {
            Fault::new(
                fault_code::PARSE,
                format!("Unable to parse request XML: {e}"),
            )
        })?;
        *method_out = Some(call.method.clone());
        let not_found = || {
            Fault::new(
                fault_code::METHOD_NOT_FOUND,
                "server error. requested method not found",
            )
        };
        let name = call
            .method
            .strip_prefix(METHOD_PREFIX)
            .ok_or_else(not_found)?;
        let params = call.params.as_slice();
        match name {
            "host_firmware_version" => Ok(self.firmware_version(&config)),
            "restore_config_section" => {
                let sections = struct_param(params)?;
                self.loop_guard(&config, peer)?;
                self.merge_and_apply(&config, |doc| merge::restore_config_section(doc, sections))
            }
            "merge_config_section" => {
                let section = struct_param(params)?;
                self.loop_guard(&config, peer)?;
                self.merge_and_apply(&config, |doc| merge::merge_config_section(doc, section))
            }
            "merge_installedpackages_section" | "merge_installedpackages_section_xmlrpc" => {
                let section = struct_param(params)?;
                self.loop_guard(&config, peer)?;
                self.merge_and_apply(&config, |doc| {
                    merge::merge_installedpackages_section(doc, section)
                })
            }
            "backup_config_section" => {
                let names = names_param(params)?;
                Ok(merge::backup_config_section(&config.doc, &names))
            }
            "interfaces_carp_configure" => {
                self.loop_guard(&config, peer)?;
                self.store.reconfigure_vips().map_err(|e| {
                    Fault::new(
                        fault_code::REJECTED,
                        format!("VIP reconfiguration failed: {e}"),
                    )
                })?;
                Ok(Value::Bool(true))
            }
            m if NOT_SUPPORTED_METHODS.contains(&m) => Err(Fault::new(
                fault_code::NOT_SUPPORTED,
                format!("{METHOD_PREFIX}{m} is not supported by rampart"),
            )),
            _ => Err(not_found()),
        }
    }

    fn login(&mut self, config: &Config, peer: IpAddr, ctx: &CallContext<'_>) -> Result<(), Fault> {
        let user = ctx.auth.map_or("", |c| c.username.as_str());
        if let Err(retry_after) = self.guard.check(peer, ctx.now) {
            warn!(
                "webConfigurator authentication error for user '{user}' from: {peer} (locked out for {} s)",
                retry_after.as_secs()
            );
            return Err(Fault::new(
                fault_code::AUTH,
                format!(
                    "Authentication failed: too many failed logins from {peer}, retry in {} s",
                    retry_after.as_secs().max(1)
                ),
            ));
        }
        match authenticate(&config.system, ctx.auth) {
            Ok(_) => {
                self.guard.success(peer);
                Ok(())
            }
            Err(AuthFailure::NoPrivilege) => {
                warn!(
                    "webConfigurator authentication error for '{user}' from {peer} not enough privileges"
                );
                Err(Fault::new(
                    fault_code::PRIVILEGE,
                    "Authentication failed: not enough privileges",
                ))
            }
            Err(failure) => {
                // pfSense's auth-log format, which log watchers (sshguard) know.
                warn!(reason = %failure, "webConfigurator authentication error for user '{user}' from: {peer}");
                if failure.counts_as_failure()
                    && let Some(lockout) = self.guard.failure(peer, ctx.now)
                {
                    warn!(%peer, seconds = lockout.as_secs(), "too many failed logins: address locked out");
                }
                Err(Fault::new(
                    fault_code::AUTH,
                    "Authentication failed: Invalid username or password",
                ))
            }
        }
    }

    fn loop_guard(&self, config: &Config, peer: IpAddr) -> Result<(), Fault> {
        let target = config
            .hasync
            .as_ref()
            .and_then(|h| h.synchronize_to_ip.as_deref());
        let is_loop = target.is_some_and(|t| {
            t.parse::<IpAddr>()
                .map_or(t == peer.to_string(), |ip| canonical(ip) == peer)
        });
        if is_loop {
            warn!(%peer, "Disallowing CARP sync loop");
            Err(Fault::new(
                fault_code::SYNC_LOOP,
                format!(
                    "Disallowing CARP sync loop: {peer} is this node's own sync target \
                     (hasync/synchronizetoip); only the primary may have one"
                ),
            ))
        } else {
            Ok(())
        }
    }

    fn firmware_version(&self, config: &Config) -> Value {
        let version = |v: &str| Value::structure([("version", Value::str(v))]);
        let mut members = vec![
            (
                "firmware".to_owned(),
                version(&self.options.firmware_version),
            ),
            ("kernel".to_owned(), version(&self.options.os_release)),
            ("base".to_owned(), version(&self.options.os_release)),
            (
                "platform".to_owned(),
                Value::str(self.options.platform.clone()),
            ),
        ];
        // pfSense cannot send NULL: without a <version> the member is absent, which its
        // client reports as "could not be determined".
        if let Some(v) = config.doc.version() {
            members.push(("config_version".to_owned(), Value::str(v)));
        }
        Value::Struct(members)
    }

    fn merge_and_apply(
        &mut self,
        config: &Config,
        merge: impl FnOnce(
            &crate::config::ConfigDocument,
        ) -> Result<(crate::config::ConfigDocument, MergeReport), MergeError>,
    ) -> CallResult {
        let (doc, report) = merge(&config.doc).map_err(|e| {
            Fault::new(
                fault_code::REJECTED,
                format!("payload refused, nothing changed: {e}"),
            )
        })?;
        if !report.ignored.is_empty() {
            warn!(ignored = ?report.ignored, "node-local parts of the payload were not applied");
        }
        if doc == config.doc {
            info!("{} (no change)", report.summary());
            return Ok(Value::Bool(true));
        }
        let new = Config::from_document(doc).map_err(|errors| {
            Fault::new(
                fault_code::REJECTED,
                format!("merged configuration is invalid, nothing changed: {errors}"),
            )
        })?;
        let summary = report.summary();
        self.store.apply(new, &summary).map_err(|e| {
            Fault::new(
                fault_code::REJECTED,
                format!("configuration not applied, nothing changed: {e}"),
            )
        })?;
        info!("{summary}");
        Ok(Value::Bool(true))
    }
}

/// The first parameter as a struct (an empty array counts: PHP's "array" type).
fn struct_param(params: &[Value]) -> Result<&Value, Fault> {
    match params.first() {
        Some(v @ Value::Struct(_)) => Ok(v),
        Some(v @ Value::Array(a)) if a.is_empty() => Ok(v),
        _ => Err(invalid_params()),
    }
}

/// `backup_config_section`'s list of section names (array or struct of strings).
fn names_param(params: &[Value]) -> Result<Vec<String>, Fault> {
    let items: Vec<&Value> = match params.first() {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Struct(m)) => m.iter().map(|(_, v)| v).collect(),
        _ => return Err(invalid_params()),
    };
    // PHP's array_flip skips what cannot be a key.
    Ok(items
        .into_iter()
        .filter_map(|v| match v {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmlrpc::codec::{MethodResponse, decode_response, encode_call};
    use crate::xmlrpc::store::MemoryStore;
    use std::time::Duration;

    const PRIMARY: &str = include_str!("../../tests/data/ha-primary.xml");

    /// The primary's config as a secondary would hold it: no sync target, a cost-4 admin
    /// hash for speed, a `sync` user with the privilege and one without.
    fn secondary() -> Config {
        let h = bcrypt::hash("secret", 4).unwrap();
        let xml = PRIMARY
            .replace("<synchronizetoip>172.16.0.2</synchronizetoip>", "")
            .replace(
                "$2b$10$13u6qwCOwODv34GyCMgdWub6oQF3RX0rG7c3d3X4JvzuEmAXLYDd2",
                &h,
            )
            .replace(
                "<nextuid>",
                &format!(
                    "<user><name>sync</name><uid>2000</uid><bcrypt-hash>{h}</bcrypt-hash><priv>system-xmlrpc-ha-sync</priv></user>\
                     <user><name>web</name><uid>2001</uid><bcrypt-hash>{h}</bcrypt-hash><priv>page-all</priv></user><nextuid>"
                ),
            );
        Config::parse(xml.as_bytes()).unwrap()
    }

    struct T {
        h: Handler<MemoryStore>,
        store: MemoryStore,
        now: Instant,
    }

    impl T {
        fn new(config: Config) -> Self {
            let store = MemoryStore::new(config);
            let options = HandlerOptions {
                limits: LoginLimits {
                    max_failures: 3,
                    ..LoginLimits::default()
                },
                ..HandlerOptions::default()
            };
            Self {
                h: Handler::new(store.clone(), options),
                store,
                now: Instant::from_secs(1),
            }
        }

        fn call_as(
            &mut self,
            peer: &str,
            user: &str,
            pw: &str,
            body: &str,
        ) -> Result<Value, Fault> {
            let creds = Credentials::new(user, pw);
            let ctx = CallContext {
                now: self.now,
                peer: peer.parse().unwrap(),
                auth: Some(&creds),
            };
            let r = self.h.handle(body.as_bytes(), &ctx);
            match decode_response(r.body.as_bytes()).unwrap() {
                MethodResponse::Value(v) => {
                    assert!(r.fault.is_none());
                    Ok(v)
                }
                MethodResponse::Fault(f) => {
                    assert_eq!(r.fault.as_ref(), Some(&f));
                    Err(f)
                }
            }
        }

        fn call(&mut self, method: &str, params: &[Value]) -> Result<Value, Fault> {
            self.call_as(
                "172.16.0.1",
                "admin",
                "secret",
                &encode_call(method, params),
            )
        }
    }

    fn code(r: Result<Value, Fault>) -> i64 {
        r.unwrap_err().code
    }

    #[test]
    fn test_version() {
        let mut t = T::new(secondary());
        for params in [
            vec![],
            vec![Value::str("")],
            vec![Value::str(""), Value::Int(240)],
        ] {
            let v = t.call("pfsense.host_firmware_version", &params).unwrap();
            assert_eq!(v.member("config_version"), Some(&Value::str("23.3")));
            assert_eq!(v.member("platform"), Some(&Value::str("rampart")));
            assert!(
                v.member("firmware")
                    .and_then(|f| f.member("version"))
                    .is_some()
            );
        }
    }

    #[test]
    fn test_auth_faults_and_lockout() {
        let mut t = T::new(secondary());
        let body = encode_call("pfsense.host_firmware_version", &[]);
        // The sync user has the privilege.
        assert!(t.call_as("10.1.1.1", "sync", "secret", &body).is_ok());
        assert_eq!(
            code(t.call_as("10.1.1.1", "web", "secret", &body)),
            fault_code::PRIVILEGE
        );
        // Failures do not depend on the body being valid.
        assert_eq!(
            code(t.call_as("10.1.1.1", "admin", "bad", "garbage")),
            fault_code::AUTH
        );
        assert_eq!(
            code(t.call_as("10.1.1.1", "nobody", "x", &body)),
            fault_code::AUTH
        );
        assert_eq!(
            code(t.call_as("10.1.1.1", "admin", "", &body)),
            fault_code::AUTH
        );
        // Third failure: locked out, even with the right password.
        let f = t.call_as("10.1.1.1", "admin", "secret", &body).unwrap_err();
        assert_eq!(f.code, fault_code::AUTH);
        assert!(
            f.message.contains("too many failed logins"),
            "{}",
            f.message
        );
        // Another address is unaffected, and the lockout ends.
        assert!(t.call_as("10.1.1.2", "admin", "secret", &body).is_ok());
        t.now = t.now + Duration::from_secs(301);
        assert!(t.call_as("10.1.1.1", "admin", "secret", &body).is_ok());
    }

    #[test]
    fn test_method_and_param_faults() {
        let mut t = T::new(secondary());
        assert_eq!(
            code(t.call("host_firmware_version", &[])),
            fault_code::METHOD_NOT_FOUND
        );
        assert_eq!(
            code(t.call("pfsense.nope", &[])),
            fault_code::METHOD_NOT_FOUND
        );
        assert_eq!(
            code(t.call("pfsense.HOST_FIRMWARE_VERSION", &[])),
            fault_code::METHOD_NOT_FOUND
        );
        assert_eq!(
            code(t.call("pfsense.restore_config_section", &[])),
            fault_code::INVALID_PARAMS
        );
        assert_eq!(
            code(t.call("pfsense.restore_config_section", &[Value::str("")])),
            fault_code::INVALID_PARAMS
        );
        assert_eq!(
            code(t.call("pfsense.backup_config_section", &[Value::str("filter")])),
            fault_code::INVALID_PARAMS
        );
        for m in ["exec_php", "exec_shell", "reboot"] {
            let f = t
                .call(&format!("pfsense.{m}"), &[Value::str("id")])
                .unwrap_err();
            assert_eq!(f.code, fault_code::NOT_SUPPORTED, "{m}");
        }
        let f = t
            .call_as("172.16.0.1", "admin", "secret", "<methodCall>")
            .unwrap_err();
        assert_eq!(f.code, fault_code::PARSE);
        assert!(f.message.starts_with("Unable to parse request XML"));
        assert!(t.store.applied().is_empty());
    }

    fn filter_payload(descr: &str) -> Value {
        Value::structure([(
            "filter",
            Value::structure([(
                "rule",
                Value::Array(vec![Value::structure([
                    ("tracker", Value::str("1700000101")),
                    ("type", Value::str("block")),
                    ("interface", Value::str("lan")),
                    ("ipprotocol", Value::str("inet")),
                    ("source", Value::structure([("any", Value::str(""))])),
                    ("destination", Value::structure([("any", Value::str(""))])),
                    ("descr", Value::str(descr)),
                ])]),
            )]),
        )])
    }

    #[test]
    fn test_restore_applies_once_in_both_forms() {
        let mut t = T::new(secondary());
        let payload = filter_payload("pushed");
        assert_eq!(
            t.call(
                "pfsense.restore_config_section",
                &[payload.clone(), Value::Int(900)]
            ),
            Ok(Value::Bool(true))
        );
        let c = t.store.current();
        assert_eq!(c.filter_rules.len(), 1);
        assert_eq!(c.filter_rules[0].descr, "pushed");
        assert_eq!(
            t.store.applied(),
            ["Merged in config (filter sections) from XMLRPC client."]
        );
        // A retry of the same payload (1-parameter form) changes nothing and is not re-applied.
        assert_eq!(
            t.call("pfsense.restore_config_section", &[payload]),
            Ok(Value::Bool(true))
        );
        assert_eq!(t.store.applied().len(), 1);
    }

    #[test]
    fn test_restore_refusals_change_nothing() {
        let mut t = T::new(secondary());
        let before = t.store.current();
        // A rule on an interface this node does not have: invalid after the merge.
        let mut bad = filter_payload("x");
        if let Value::Struct(m) = &mut bad {
            m[0].1 = Value::structure([(
                "rule",
                Value::Array(vec![Value::structure([
                    ("type", Value::str("pass")),
                    ("interface", Value::str("opt9")),
                    ("source", Value::structure([("any", Value::str(""))])),
                    (
                        "destination",
                        Value::structure([("address", Value::str("NO_SUCH_ALIAS"))]),
                    ),
                ])]),
            )]);
        }
        let f = t
            .call("pfsense.restore_config_section", &[bad, Value::Int(900)])
            .unwrap_err();
        assert_eq!(f.code, fault_code::REJECTED);
        assert!(f.message.contains("nothing changed"), "{}", f.message);
        let f = t
            .call(
                "pfsense.restore_config_section",
                &[filter_payload("bell\u{7}")],
            )
            .unwrap_err();
        assert_eq!(f.code, fault_code::REJECTED);
        assert!(t.store.applied().is_empty());
        assert_eq!(t.store.current(), before);
    }

    #[test]
    fn test_loop_guard_is_a_fault() {
        let mut primary = T::new({
            let c = secondary();
            let xml = c.to_xml().replace(
                "<pfsyncpeerip>",
                "<synchronizetoip>172.16.0.2</synchronizetoip><pfsyncpeerip>",
            );
            Config::parse(xml.as_bytes()).unwrap()
        });
        let body = encode_call(
            "pfsense.restore_config_section",
            &[filter_payload("x"), Value::Int(900)],
        );
        let f = primary
            .call_as("172.16.0.2", "admin", "secret", &body)
            .unwrap_err();
        assert_eq!(f.code, fault_code::SYNC_LOOP);
        let f = primary
            .call_as(
                "::ffff:172.16.0.2",
                "admin",
                "secret",
                &encode_call("pfsense.interfaces_carp_configure", &[]),
            )
            .unwrap_err();
        assert_eq!(f.code, fault_code::SYNC_LOOP);
        // Read-only calls are fine.
        assert!(
            primary
                .call_as(
                    "172.16.0.2",
                    "admin",
                    "secret",
                    &encode_call("pfsense.host_firmware_version", &[])
                )
                .is_ok()
        );
        assert!(primary.store.applied().is_empty());
        assert_eq!(primary.store.vip_reconfigs(), 0);
    }

    #[test]
    fn test_backup_merge_and_carp() {
        let mut t = T::new(secondary());
        let names = Value::Array(vec![
            Value::str("virtualip"),
            Value::str("hasync"),
            Value::str("nothere"),
        ]);
        let v = t.call("pfsense.backup_config_section", &[names]).unwrap();
        let Value::Struct(m) = &v else { panic!() };
        assert_eq!(
            m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["virtualip", "hasync"]
        );
        let merge = Value::structure([(
            "system",
            Value::structure([("timezone", Value::str("Europe/Paris"))]),
        )]);
        assert_eq!(
            t.call("pfsense.merge_config_section", &[merge, Value::Int(240)]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            t.store
                .current()
                .doc
                .section("system")
                .unwrap()
                .child_text("timezone"),
            Some("Europe/Paris")
        );
        let pkgs = Value::structure([("haproxy", Value::structure([("enable", Value::str(""))]))]);
        for m in [
            "merge_installedpackages_section",
            "merge_installedpackages_section_xmlrpc",
        ] {
            assert_eq!(
                t.call(&format!("pfsense.{m}"), std::slice::from_ref(&pkgs)),
                Ok(Value::Bool(true))
            );
        }
        assert!(
            t.store
                .current()
                .doc
                .section("installedpackages")
                .unwrap()
                .has_child("haproxy")
        );
        assert_eq!(
            t.call("pfsense.interfaces_carp_configure", &[]),
            Ok(Value::Bool(true))
        );
        assert_eq!(t.store.vip_reconfigs(), 1);
    }
}
