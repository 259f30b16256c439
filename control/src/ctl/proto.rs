//! The control socket's protocol, version [`VERSION`]: one JSON object per line each way.
//!
//! A request names a command and carries its arguments:
//!
//! ```text
//! {"v":1,"cmd":"states","args":{"proto":"tcp","port":80,"limit":20}}
//! ```
//!
//! The answer is `{"v":1,"ok":{...}}`, the reply tagged by `"type"`, or
//! `{"v":1,"error":{"kind":"unknown_command","message":"..."}}`. Parsing is two steps so that
//! every bad request gets a precise error: the envelope (`v`, `cmd`, `args`, nothing else),
//! then the command's own arguments ([`Command::from_parts`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::reply::Reply;

/// Protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Longest request line accepted, in bytes (a `config.apply` carries a whole config.xml).
pub const MAX_REQUEST_LINE: usize = 8 << 20;

/// The envelope of a request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    v: u32,
    cmd: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    args: serde_json::Value,
}

/// Which states a command applies to: every given field must match (none given: all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSelector {
    /// Interface key (`lan`, `wan`, `opt1`): states created by a rule on that interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// Protocol name (`tcp`, `udp`, `icmp`, `icmp6`) or number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// An address or `address/prefix`: either end of the state, before or after NAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// A port: either end of the state, before or after NAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl StateSelector {
    /// Whether no field is set (the selector matches every state).
    pub fn is_empty(&self) -> bool {
        *self == StateSelector::default()
    }
}

/// `states` arguments: a [`StateSelector`]'s fields and a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// As [`StateSelector::iface`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// As [`StateSelector::proto`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// As [`StateSelector::addr`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// As [`StateSelector::port`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// At most this many in the answer (the count covers them all); default [`DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ListArgs {
    /// Which states.
    pub fn selector(&self) -> StateSelector {
        StateSelector {
            iface: self.iface.clone(),
            proto: self.proto.clone(),
            addr: self.addr.clone(),
            port: self.port,
        }
    }
}

/// States listed when a request gives no limit.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Most states one answer lists.
pub const MAX_LIMIT: u32 = 100_000;

/// One command, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Node, version, uptime, CARP roles, sync peer, config.
    Status,
    /// Every vhid's state and counters.
    CarpStatus,
    /// Persistent maintenance mode on or off.
    CarpMaintenance {
        /// On (advskew 254) or off.
        on: bool,
    },
    /// States, one line each.
    States(ListArgs),
    /// How many states match.
    StatesCount(StateSelector),
    /// Remove matching states (the pfsync peer is told). Refuses an empty selector.
    StatesKill(StateSelector),
    /// pfsync status.
    SyncStatus,
    /// Ask the peer for a bulk update.
    SyncResync,
    /// What XMLRPC would change on the secondary.
    SyncDiff,
    /// Filter rules with their counters.
    Rules,
    /// Per-worker rates and drops.
    Stats,
    /// The running config.xml.
    ConfigShow,
    /// Validate a config.xml against this node without applying it.
    ConfigCheck {
        /// The file's contents.
        xml: String,
    },
    /// Validate a config.xml whole, make it the node's config and swap its rules in.
    ConfigApply {
        /// The file's contents.
        xml: String,
    },
    /// Read the node's config file again and swap its rules in (as SIGHUP).
    ConfigReload,
}

/// `carp.maintenance` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceArgs {
    on: bool,
}

/// `config.check` and `config.apply` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct XmlArgs {
    xml: String,
}

/// Every command name, as requests spell them.
pub const COMMANDS: &[&str] = &[
    "status",
    "carp.status",
    "carp.maintenance",
    "states",
    "states.count",
    "states.kill",
    "sync.status",
    "sync.resync",
    "sync.diff",
    "rules",
    "stats",
    "config.show",
    "config.check",
    "config.apply",
    "config.reload",
];

impl Command {
    /// The name requests use for it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::CarpStatus => "carp.status",
            Command::CarpMaintenance { .. } => "carp.maintenance",
            Command::States(_) => "states",
            Command::StatesCount(_) => "states.count",
            Command::StatesKill(_) => "states.kill",
            Command::SyncStatus => "sync.status",
            Command::SyncResync => "sync.resync",
            Command::SyncDiff => "sync.diff",
            Command::Rules => "rules",
            Command::Stats => "stats",
            Command::ConfigShow => "config.show",
            Command::ConfigCheck { .. } => "config.check",
            Command::ConfigApply { .. } => "config.apply",
            Command::ConfigReload => "config.reload",
        }
    }

    /// The command `cmd` with arguments `args` (`null` when absent).
    ///
    /// # Errors
    /// [`CtlError`] of kind [`ErrorKind::UnknownCommand`] or [`ErrorKind::BadArguments`].
    pub fn from_parts(cmd: &str, args: serde_json::Value) -> Result<Command, CtlError> {
        let none = |args: serde_json::Value| -> Result<(), CtlError> {
            match args {
                serde_json::Value::Null => Ok(()),
                serde_json::Value::Object(m) if m.is_empty() => Ok(()),
                _ => Err(CtlError::new(
                    ErrorKind::BadArguments,
                    format!("{cmd} takes no arguments"),
                )),
            }
        };
        let command = match cmd {
            "status" => none(args).map(|()| Command::Status)?,
            "carp.status" => none(args).map(|()| Command::CarpStatus)?,
            "carp.maintenance" => Command::CarpMaintenance {
                on: typed::<MaintenanceArgs>(cmd, args)?.on,
            },
            "states" => Command::States(typed(cmd, args)?),
            "states.count" => Command::StatesCount(typed(cmd, args)?),
            "states.kill" => Command::StatesKill(typed(cmd, args)?),
            "sync.status" => none(args).map(|()| Command::SyncStatus)?,
            "sync.resync" => none(args).map(|()| Command::SyncResync)?,
            "sync.diff" => none(args).map(|()| Command::SyncDiff)?,
            "rules" => none(args).map(|()| Command::Rules)?,
            "stats" => none(args).map(|()| Command::Stats)?,
            "config.show" => none(args).map(|()| Command::ConfigShow)?,
            "config.check" => Command::ConfigCheck {
                xml: typed::<XmlArgs>(cmd, args)?.xml,
            },
            "config.apply" => Command::ConfigApply {
                xml: typed::<XmlArgs>(cmd, args)?.xml,
            },
            "config.reload" => none(args).map(|()| Command::ConfigReload)?,
            other => {
                return Err(CtlError::new(
                    ErrorKind::UnknownCommand,
                    format!(
                        "unknown command {:?} (known: {})",
                        truncate(other, 64),
                        COMMANDS.join(", ")
                    ),
                ));
            }
        };
        Ok(command)
    }

    fn args(&self) -> serde_json::Value {
        let value = match self {
            Command::CarpMaintenance { on } => serde_json::to_value(MaintenanceArgs { on: *on }),
            Command::States(a) => serde_json::to_value(a),
            Command::StatesCount(s) | Command::StatesKill(s) => serde_json::to_value(s),
            Command::ConfigCheck { xml } | Command::ConfigApply { xml } => {
                serde_json::to_value(XmlArgs { xml: xml.clone() })
            }
            _ => Ok(serde_json::Value::Null),
        };
        value.unwrap_or(serde_json::Value::Null)
    }

    /// The request line for this command (with its newline).
    pub fn to_line(&self) -> String {
        let envelope = Envelope {
            v: VERSION,
            cmd: self.name().to_owned(),
            args: self.args(),
        };
        let mut line = serde_json::to_string(&envelope).unwrap_or_default();
        line.push('\n');
        line
    }
}

fn typed<T: DeserializeOwned>(cmd: &str, args: serde_json::Value) -> Result<T, CtlError> {
    let args = if args.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        args
    };
    serde_json::from_value(args)
        .map_err(|e| CtlError::new(ErrorKind::BadArguments, format!("{cmd}: {e}")))
}

/// Parses one request line (without its newline).
///
/// # Errors
/// [`CtlError`] saying what is wrong: not JSON, not the envelope, another version, an
/// unknown command, bad arguments.
pub fn parse_request(line: &[u8]) -> Result<Command, CtlError> {
    if line.len() > MAX_REQUEST_LINE {
        return Err(CtlError::too_long());
    }
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| CtlError::new(ErrorKind::BadJson, format!("not a JSON request: {e}")))?;
    // The version first: a future client's envelope may have fields this one lacks.
    if let Some(v) = value.get("v").and_then(serde_json::Value::as_u64)
        && v != u64::from(VERSION)
    {
        return Err(CtlError::new(
            ErrorKind::BadVersion,
            format!("protocol version {v} is not spoken here (this node speaks {VERSION})"),
        ));
    }
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| {
        CtlError::new(
            ErrorKind::BadRequest,
            format!("expected {{\"v\":{VERSION},\"cmd\":...,\"args\":{{...}}}}: {e}"),
        )
    })?;
    Command::from_parts(&envelope.cmd, envelope.args)
}

/// What kind of failure an error is (stable names for scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The line is not JSON.
    BadJson,
    /// JSON, but not a request envelope.
    BadRequest,
    /// Another protocol version.
    BadVersion,
    /// No such command.
    UnknownCommand,
    /// The command's arguments are wrong.
    BadArguments,
    /// The request line is longer than [`MAX_REQUEST_LINE`].
    TooLong,
    /// The client's user may not use this socket.
    Forbidden,
    /// Too many clients at once.
    Busy,
    /// The node did not answer in time.
    Timeout,
    /// The feature is not running on this node (no CARP, no pfsync, not integrated yet).
    Unavailable,
    /// The command ran and failed (an invalid config, a file that cannot be written).
    Failed,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CtlError {
    /// What kind.
    pub kind: ErrorKind,
    /// For the operator.
    pub message: String,
}

impl CtlError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CtlError {
        CtlError {
            kind,
            message: message.into(),
        }
    }

    /// The answer to a line longer than [`MAX_REQUEST_LINE`].
    pub fn too_long() -> CtlError {
        CtlError::new(
            ErrorKind::TooLong,
            format!("request line longer than {MAX_REQUEST_LINE} bytes"),
        )
    }
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Protocol version.
    pub v: u32,
    /// The reply, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<Reply>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CtlError>,
}

impl Response {
    /// The response for `result`.
    pub fn from_result(result: Result<Reply, CtlError>) -> Response {
        match result {
            Ok(reply) => Response {
                v: VERSION,
                ok: Some(reply),
                error: None,
            },
            Err(err) => Response {
                v: VERSION,
                ok: None,
                error: Some(err),
            },
        }
    }

    /// The line to send (with its newline).
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                "{{\"v\":{VERSION},\"error\":{{\"kind\":\"failed\",\"message\":\"encoding the reply: {}\"}}}}",
                e.to_string().replace(['"', '\\'], "'")
            )
        });
        line.push('\n');
        line
    }

    /// The reply or the error.
    ///
    /// # Errors
    /// The node's error; [`ErrorKind::BadRequest`] if the line has neither.
    pub fn into_result(self) -> Result<Reply, CtlError> {
        match (self.ok, self.error) {
            (_, Some(err)) => Err(err),
            (Some(reply), None) => Ok(reply),
            (None, None) => Err(CtlError::new(
                ErrorKind::BadRequest,
                "the node's answer has neither ok nor error",
            )),
        }
    }
}

/// At most `max` characters of `s` (for echoing client input in errors).
fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn test_round_trip_every_command() {
        let select = StateSelector {
            iface: Some("lan".into()),
            proto: Some("tcp".into()),
            addr: Some("10.0.0.0/8".into()),
            port: Some(80),
        };
        let all = [
            Command::Status,
            Command::CarpStatus,
            Command::CarpMaintenance { on: true },
            Command::States(ListArgs {
                iface: Some("wan".into()),
                port: Some(443),
                limit: Some(5),
                ..ListArgs::default()
            }),
            Command::States(ListArgs::default()),
            Command::StatesCount(StateSelector::default()),
            Command::StatesKill(select),
            Command::SyncStatus,
            Command::SyncResync,
            Command::SyncDiff,
            Command::Rules,
            Command::Stats,
            Command::ConfigShow,
            Command::ConfigCheck { xml: "<a/>".into() },
            Command::ConfigApply {
                xml: "<pfsense>\n\"x\"</pfsense>".into(),
            },
            Command::ConfigReload,
        ];
        for cmd in all {
            let line = cmd.to_line();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert_eq!(parse_request(line.trim_end().as_bytes()), Ok(cmd.clone()));
            assert!(COMMANDS.contains(&cmd.name()));
        }
    }

    #[test]
    fn test_bad_requests_say_why() {
        let kind = |line: &str| parse_request(line.as_bytes()).unwrap_err().kind;
        assert_eq!(kind("status"), ErrorKind::BadJson);
        assert_eq!(kind("{\"v\":1"), ErrorKind::BadJson);
        assert_eq!(kind("[1,2]"), ErrorKind::BadRequest);
        assert_eq!(kind("{\"cmd\":\"status\"}"), ErrorKind::BadRequest);
        assert_eq!(kind("{\"v\":2,\"cmd\":\"status\"}"), ErrorKind::BadVersion);
        assert_eq!(
            kind("{\"v\":1,\"cmd\":\"status\",\"x\":1}"),
            ErrorKind::BadRequest
        );
        assert_eq!(
            kind("{\"v\":1,\"cmd\":\"frob\"}"),
            ErrorKind::UnknownCommand
        );
        assert_eq!(
            kind("{\"v\":1,\"cmd\":\"status\",\"args\":{\"a\":1}}"),
            ErrorKind::BadArguments
        );
        assert_eq!(
            kind("{\"v\":1,\"cmd\":\"states\",\"args\":{\"port\":70000}}"),
            ErrorKind::BadArguments
        );
        assert_eq!(
            kind("{\"v\":1,\"cmd\":\"carp.maintenance\"}"),
            ErrorKind::BadArguments
        );
        let err = parse_request(b"{\"v\":1,\"cmd\":\"frob\"}").unwrap_err();
        assert!(err.message.contains("frob") && err.message.contains("sync.status"));
    }

    #[test]
    fn test_response_lines() {
        let err = Response::from_result(Err(CtlError::new(ErrorKind::Busy, "busy")));
        let line = err.to_line();
        assert_eq!(
            line,
            "{\"v\":1,\"error\":{\"kind\":\"busy\",\"message\":\"busy\"}}\n"
        );
        let back: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(back.into_result().unwrap_err().kind, ErrorKind::Busy);
    }
}
