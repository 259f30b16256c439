//! `rampartctl`: the operator's CLI over a node's control socket.
//!
//! The socket is `--socket PATH`, else `$RAMPART_SOCKET`, else the one the config file
//! names (`--config FILE`, default `/etc/rampart/config.xml`): its `<rampart><ctlsocket>`,
//! or `FILE` with the extension `.sock`.
//!
//! Exit codes: 0 done; 1 the node refused or the command failed (`config apply`/`reload`:
//! also when applied here but the push to the secondary failed); 2 usage error, or
//! `config check`/`config apply` given an invalid file; 3 cannot connect to the socket;
//! 4 no answer or an answer not understood (timeout, protocol).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, Parser, Subcommand};
use rampart::ctl::text;
use rampart_control::ctl::client::{Client, ClientError};
use rampart_control::ctl::reply::{SyncReport, XmlrpcReport};
use rampart_control::ctl::{Command as Cmd, ErrorKind, ListArgs, Reply, StateSelector};

/// Operate a running rampart node.
#[derive(Debug, Parser)]
#[command(version = rampart::VERSION, after_help = EXIT_CODES)]
struct Args {
    /// The node's control socket.
    #[arg(long, short, env = "RAMPART_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// The node's config file, to find its socket.
    #[arg(long, short, default_value = "/etc/rampart/config.xml", global = true)]
    config: PathBuf,
    /// Print the node's answer as JSON (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 15, global = true)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 done, 1 the node refused or the command failed \
(config apply/reload: also when applied here but the push to the secondary failed), \
2 usage error or invalid config file, 3 cannot connect, 4 no answer or one not understood.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Node, version, uptime, CARP roles, sync peer and state, config.
    Status,
    /// CARP virtual IPs.
    Carp {
        #[command(subcommand)]
        action: CarpAction,
    },
    /// Connection states (pfctl -ss); `count` and `kill` take the same filters.
    States {
        #[command(subcommand)]
        action: Option<StatesAction>,
        #[command(flatten)]
        filter: Filter,
        /// Show at most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// pfsync state synchronisation.
    Sync {
        #[command(subcommand)]
        action: SyncAction,
    },
    /// Filter rules with evaluations, states and bytes.
    Rules,
    /// Per-worker packets/s, drops by reason, state inserts/s.
    Stats,
    /// The node's config.xml.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum CarpAction {
    /// Every vhid's state and counters.
    Status,
    /// Maintenance mode (advskew 254): the peer takes the VIPs; persists across restarts.
    Maintenance {
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
}

#[derive(Debug, Clone, Default, ClapArgs)]
struct Filter {
    /// Interface key (lan, wan, opt1): states created by its rules.
    #[arg(long)]
    iface: Option<String>,
    /// tcp, udp, icmp, icmp6 or a protocol number.
    #[arg(long)]
    proto: Option<String>,
    /// An address or network (a.b.c.d/len), either end, before or after NAT.
    #[arg(long)]
    addr: Option<String>,
    /// A port, either end.
    #[arg(long)]
    port: Option<u16>,
}

impl Filter {
    fn or(self, other: Filter) -> StateSelector {
        StateSelector {
            iface: self.iface.or(other.iface),
            proto: self.proto.or(other.proto),
            addr: self.addr.or(other.addr),
            port: self.port.or(other.port),
        }
    }
}

#[derive(Debug, Subcommand)]
enum StatesAction {
    /// How many states match.
    Count(Filter),
    /// Remove the matching states (the pfsync peer removes them too).
    Kill(Filter),
}

#[derive(Debug, Subcommand)]
enum SyncAction {
    /// Peer, lag, counters, bulk progress.
    Status,
    /// Ask the peer for all its states again; shows progress until done.
    Resync {
        /// Return once the request is taken.
        #[arg(long)]
        no_wait: bool,
        /// Seconds to wait for the bulk update.
        #[arg(long, default_value_t = 90)]
        wait: u64,
    },
    /// What XMLRPC would change on the secondary.
    Diff,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print the running config.xml.
    Show,
    /// Validate FILE whole against the node (offline when no node answers).
    Check {
        /// A pfSense config.xml.
        file: PathBuf,
    },
    /// Validate FILE whole, make it the node's config and swap its rules in; on a primary,
    /// then follow its XMLRPC push to the secondary.
    Apply {
        /// A pfSense config.xml.
        file: PathBuf,
        #[command(flatten)]
        push: PushWait,
    },
    /// Read the node's config file again and swap its rules in (as SIGHUP); on a primary,
    /// then follow its XMLRPC push to the secondary.
    Reload {
        #[command(flatten)]
        push: PushWait,
    },
}

/// How long `config apply`/`reload` follow the push to the secondary.
#[derive(Debug, Clone, Copy, ClapArgs)]
struct PushWait {
    /// Return once applied here, without following the push.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for the push to end (it makes up to 4 attempts, 1 s apart).
    #[arg(long, default_value_t = 60)]
    wait: u64,
}

/// A failure and its exit code.
struct Fail {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Fail {
    Fail {
        code,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("rampartctl: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(args: &Args) -> Result<(), Fail> {
    let cmd = match &args.command {
        Command::Status => Cmd::Status,
        Command::Carp { action } => match action {
            CarpAction::Status => Cmd::CarpStatus,
            CarpAction::Maintenance { mode } => Cmd::CarpMaintenance { on: mode == "on" },
        },
        Command::States {
            action,
            filter,
            limit,
        } => match action {
            None => {
                let s = filter.clone().or(Filter::default());
                Cmd::States(ListArgs {
                    iface: s.iface,
                    proto: s.proto,
                    addr: s.addr,
                    port: s.port,
                    limit: *limit,
                })
            }
            Some(StatesAction::Count(f)) => Cmd::StatesCount(f.clone().or(filter.clone())),
            Some(StatesAction::Kill(f)) => Cmd::StatesKill(f.clone().or(filter.clone())),
        },
        Command::Sync { action } => match action {
            SyncAction::Status => Cmd::SyncStatus,
            SyncAction::Resync { .. } => Cmd::SyncResync,
            SyncAction::Diff => Cmd::SyncDiff,
        },
        Command::Rules => Cmd::Rules,
        Command::Stats => Cmd::Stats,
        Command::Config { action } => match action {
            ConfigAction::Show => Cmd::ConfigShow,
            ConfigAction::Check { file } => Cmd::ConfigCheck { xml: read(file)? },
            ConfigAction::Apply { file, .. } => Cmd::ConfigApply { xml: read(file)? },
            ConfigAction::Reload { .. } => Cmd::ConfigReload,
        },
    };
    let socket = socket_path(args);
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut client = match Client::connect(&socket, timeout) {
        Ok(c) => c,
        Err(err) => {
            if let Command::Config {
                action: ConfigAction::Check { file },
            } = &args.command
            {
                return check_offline(file, &err);
            }
            return Err(fail(3, err.to_string()));
        }
    };
    let push_wait = match &args.command {
        Command::Config {
            action: ConfigAction::Apply { push, .. } | ConfigAction::Reload { push },
        } if !push.no_wait => Some(*push),
        _ => None,
    };
    // Pushes ended before this change: the one it triggers ends after.
    let pushes_before = match push_wait {
        Some(_) => xmlrpc_status(&mut client, args.json)?.map(|x| x.pushes_total),
        None => None,
    };
    let reply = request(&mut client, &cmd, args.json)?;
    print(&reply, args.json);
    if let (Some(wait), Some(before)) = (push_wait, pushes_before) {
        let trigger = if matches!(cmd, Cmd::ConfigApply { .. }) {
            "apply"
        } else {
            "reload"
        };
        let wait = Duration::from_secs(wait.wait);
        follow_push(&mut client, before, trigger, wait, args.json)?;
    }
    if let Command::Sync {
        action: SyncAction::Resync {
            no_wait: false,
            wait,
        },
    } = &args.command
        && let Reply::Resync(r) = &reply
    {
        follow_bulk(
            &mut client,
            r.resyncs,
            Duration::from_secs(*wait),
            args.json,
        )?;
    }
    Ok(())
}

fn read(file: &Path) -> Result<String, Fail> {
    std::fs::read_to_string(file).map_err(|e| fail(2, format!("{}: {e}", file.display())))
}

/// `--socket`/`$RAMPART_SOCKET`, else the config's `<ctlsocket>`, else `<config>.sock`.
fn socket_path(args: &Args) -> PathBuf {
    if let Some(s) = &args.socket {
        return s.clone();
    }
    rampart::setup::load_config(&args.config)
        .ok()
        .and_then(|c| c.rampart.and_then(|r| r.ctl_socket))
        .map_or_else(|| args.config.with_extension("sock"), PathBuf::from)
}

/// Sends `cmd`; the node's error becomes exit 1 (2 for an invalid config file).
fn request(client: &mut Client, cmd: &Cmd, json: bool) -> Result<Reply, Fail> {
    match client.request(cmd) {
        Ok(reply) => Ok(reply),
        Err(ClientError::Node(err)) => {
            if json {
                let body = serde_json::json!({ "error": err });
                println!("{body}");
            }
            let invalid_file = matches!(cmd, Cmd::ConfigCheck { .. } | Cmd::ConfigApply { .. })
                && err.kind == ErrorKind::Failed;
            Err(fail(if invalid_file { 2 } else { 1 }, err.message))
        }
        Err(ClientError::Connect { .. }) => Err(fail(3, "cannot connect")),
        Err(err) => Err(fail(4, err.to_string())),
    }
}

fn print(reply: &Reply, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(reply).unwrap_or_default()
        );
    } else {
        print!("{}", text::render(reply));
    }
}

/// Polls the sync status until the bulk update numbered `resync` finishes.
fn follow_bulk(client: &mut Client, resync: u64, wait: Duration, json: bool) -> Result<(), Fail> {
    let deadline = Instant::now() + wait;
    let tty = std::io::stderr().is_terminal() && !json;
    let mut last = String::new();
    loop {
        let Reply::Sync(status) = request(client, &Cmd::SyncStatus, json)? else {
            return Err(fail(4, "the node answered sync status with something else"));
        };
        let line = format!("bulk update {}", text::bulk_line(&status));
        if !json && line != last {
            if tty {
                eprint!("\r\x1b[K{line}");
            } else {
                eprintln!("{line}");
            }
            let _ = std::io::stderr().flush();
            last = line;
        }
        if status.resyncs >= resync && !status.bulk.in_progress() {
            return finish_bulk(&status, tty, json);
        }
        if Instant::now() > deadline {
            if tty {
                eprintln!();
            }
            return Err(fail(1, "the bulk update did not finish in time"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The node's XMLRPC push state, if it is a primary (pushes to a secondary).
fn xmlrpc_status(client: &mut Client, json: bool) -> Result<Option<XmlrpcReport>, Fail> {
    let Reply::Sync(status) = request(client, &Cmd::SyncStatus, json)? else {
        return Err(fail(4, "the node answered sync status with something else"));
    };
    Ok(status.xmlrpc.filter(|x| x.peer.is_some()))
}

/// Polls the sync status until a push that started after the change ends (more than
/// `before` pushes ended, none is running, the last one by `trigger`: a change made during
/// a push is pushed right after it); a failed push exits 1, the change itself staying
/// applied on this node.
fn follow_push(
    client: &mut Client,
    before: u64,
    trigger: &str,
    wait: Duration,
    json: bool,
) -> Result<(), Fail> {
    let deadline = Instant::now() + wait;
    let tty = std::io::stderr().is_terminal() && !json;
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let Some(x) = xmlrpc_status(client, json)? else {
            return Ok(());
        };
        let done = x.pushes_total > before
            && x.state != "running"
            && x.last.as_ref().is_some_and(|p| p.trigger == trigger);
        let line = if done {
            format!("xmlrpc     {}", text::xmlrpc_line(&x))
        } else {
            format!(
                "xmlrpc     pushing to {} ({} s)",
                x.peer.as_deref().unwrap_or("the secondary"),
                started.elapsed().as_secs()
            )
        };
        if !json && line != last {
            if tty {
                eprint!("\r\x1b[K{line}");
            } else {
                eprintln!("{line}");
            }
            let _ = std::io::stderr().flush();
            last = line;
        }
        if done {
            if tty {
                eprintln!();
            }
            if json {
                let body = serde_json::json!({ "xmlrpc": x });
                println!("{body}");
            }
            return match x.last {
                Some(p) if p.ok => Ok(()),
                _ => Err(fail(
                    1,
                    "applied here, but the push to the secondary failed (see above)",
                )),
            };
        }
        if Instant::now() > deadline {
            if tty {
                eprintln!();
            }
            return Err(fail(
                1,
                "applied here; the push to the secondary did not end in time",
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn finish_bulk(status: &SyncReport, tty: bool, json: bool) -> Result<(), Fail> {
    if tty {
        eprintln!();
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Reply::Sync(status.clone())).unwrap_or_default()
        );
    }
    match status.bulk.state.as_str() {
        "done" => Ok(()),
        _ => Err(fail(1, format!("bulk update {}", text::bulk_line(status)))),
    }
}

/// `config check` with no node to ask: validated here, as `rampart --check` does.
fn check_offline(file: &Path, err: &ClientError) -> Result<(), Fail> {
    eprintln!("rampartctl: {err}: checking offline");
    let config = rampart::setup::load_config(file).map_err(|e| fail(2, format!("{e:#}")))?;
    rampart::setup::node_spec(&config, "check").map_err(|e| fail(2, format!("{e:#}")))?;
    println!("{}: valid", file.display());
    Ok(())
}
