//! The control socket's server: a Unix stream socket, mode 0600, that answers only its own
//! user and root (`SO_PEERCRED`); one thread accepts, one thread per client serves it (at
//! most [`ServerConfig::max_clients`] at once, the others are told `busy`), every read and
//! write has a timeout. A request that cannot be parsed is answered with an error and never
//! reaches the [`Handler`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use super::proto::{self, Command, CtlError, ErrorKind, MAX_REQUEST_LINE, Response};
use super::reply::Reply;

/// What answers the commands (the daemon implements it over its published snapshots).
pub trait Handler: Send + Sync + 'static {
    /// The answer to `cmd`. Must return within a few seconds: long operations answer with
    /// their progress and let the client poll.
    ///
    /// # Errors
    /// [`CtlError`] for a command that cannot be done.
    fn handle(&self, cmd: Command) -> Result<Reply, CtlError>;
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The socket's path.
    pub path: PathBuf,
    /// Clients served at once.
    pub max_clients: usize,
    /// Longest wait for a client's next request.
    pub read_timeout: Duration,
    /// Longest wait for a client to take an answer.
    pub write_timeout: Duration,
    /// Users allowed besides the server's own (root is always allowed).
    pub extra_uids: Vec<u32>,
}

impl ServerConfig {
    /// Defaults for a socket at `path`: 8 clients, 30 s to send a request, 5 s to take an
    /// answer, only the server's user and root.
    pub fn new(path: PathBuf) -> ServerConfig {
        ServerConfig {
            path,
            max_clients: 8,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(5),
            extra_uids: Vec::new(),
        }
    }
}

/// Why the socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another process answers on the path.
    #[error("{0}: another process already listens there")]
    InUse(PathBuf),
    /// Creating, binding or securing the socket failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// A running server; [`Server::stop`] (or drop) closes it and removes the socket file.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

impl Server {
    /// Opens the socket and starts serving `handler`.
    ///
    /// # Errors
    /// [`ServerError`] if the path is in use or the socket cannot be created.
    pub fn start(config: ServerConfig, handler: Arc<dyn Handler>) -> Result<Server, ServerError> {
        let listener = bind(&config.path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let path = config.path.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ctl".into())
            .spawn(move || accept_loop(&listener, &config, &handler, &flag))
            .map_err(|source| ServerError::Io {
                path: path.clone(),
                source,
            })?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(Server {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, waits for the accept thread and removes the socket file (clients
    /// being served finish their request).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds `path` with mode 0600, replacing a stale socket file but never a live one.
fn bind(path: &Path) -> Result<UnixListener, ServerError> {
    let io_err = |source| ServerError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(io_err)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io_err)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ServerError::InUse(path.to_owned()));
        }
        // Left by a node that died: nobody answers on it.
        std::fs::remove_file(path).map_err(io_err)?;
    }
    let listener = UnixListener::bind(path).map_err(io_err)?;
    // The peer check below is the guard; the mode keeps other users from even connecting.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    listener.set_nonblocking(true).map_err(io_err)?;
    Ok(listener)
}

fn accept_loop(
    listener: &UnixListener,
    config: &ServerConfig,
    handler: &Arc<dyn Handler>,
    stop: &AtomicBool,
) {
    let active = Arc::new(AtomicUsize::new(0));
    let own_uid = nix::unistd::geteuid().as_raw();
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        if let Err(e) = admit(stream, config, own_uid, handler, &active) {
            tracing::warn!(error = %e, "control client dropped");
        }
    }
}

/// Checks the client's user and the client count, then serves it on its own thread.
fn admit(
    mut stream: UnixStream,
    config: &ServerConfig,
    own_uid: u32,
    handler: &Arc<dyn Handler>,
    active: &Arc<AtomicUsize>,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(config.read_timeout))?;
    stream.set_write_timeout(Some(config.write_timeout))?;
    let creds = getsockopt(&stream, PeerCredentials).map_err(io::Error::from)?;
    let uid = creds.uid();
    if uid != own_uid && uid != 0 && !config.extra_uids.contains(&uid) {
        tracing::warn!(
            uid,
            pid = creds.pid(),
            "control client refused: not the node's user"
        );
        let err = CtlError::new(
            ErrorKind::Forbidden,
            format!("uid {uid} may not use this socket (only uid {own_uid} and root)"),
        );
        return stream.write_all(Response::from_result(Err(err)).to_line().as_bytes());
    }
    if active.fetch_add(1, Ordering::AcqRel) >= config.max_clients {
        active.fetch_sub(1, Ordering::AcqRel);
        let err = CtlError::new(
            ErrorKind::Busy,
            format!("{} clients are connected; try again", config.max_clients),
        );
        return stream.write_all(Response::from_result(Err(err)).to_line().as_bytes());
    }
    let handler = handler.clone();
    let active_client = active.clone();
    let pid = creds.pid();
    let spawned = std::thread::Builder::new()
        .name("ctl-client".into())
        .spawn(move || {
            let span = tracing::info_span!("ctl_connection", uid, pid);
            let _enter = span.enter();
            if let Err(e) = serve(stream, handler.as_ref()) {
                tracing::debug!(error = %e, "control client gone");
            }
            active_client.fetch_sub(1, Ordering::AcqRel);
        });
    if spawned.is_err() {
        active.fetch_sub(1, Ordering::AcqRel);
    }
    spawned.map(|_| ())
}

/// One line from the client.
enum Line {
    Request(Vec<u8>),
    TooLong,
    Closed,
}

fn read_line(reader: &mut impl BufRead) -> io::Result<Line> {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_REQUEST_LINE).unwrap_or(u64::MAX) + 1;
    let n = reader.take(limit).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(Line::Closed);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() > MAX_REQUEST_LINE {
        return Ok(Line::TooLong);
    }
    Ok(Line::Request(buf))
}

/// Answers the client's requests, one line each, until it closes or times out.
fn serve(stream: UnixStream, handler: &dyn Handler) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let line = match read_line(&mut reader)? {
            Line::Closed => return Ok(()),
            Line::TooLong => {
                // The rest of the line is unread: the stream cannot be trusted any more.
                let answer = Response::from_result(Err(CtlError::too_long()));
                return writer.write_all(answer.to_line().as_bytes());
            }
            Line::Request(line) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let result = match proto::parse_request(&line) {
            Ok(cmd) => {
                let span = tracing::info_span!("ctl_request", cmd = cmd.name());
                let _enter = span.enter();
                let result = handler.handle(cmd);
                if let Err(err) = &result {
                    tracing::info!(kind = ?err.kind, "{}", err.message);
                }
                result
            }
            Err(err) => {
                tracing::info!(kind = ?err.kind, "bad control request: {}", err.message);
                Err(err)
            }
        };
        writer.write_all(Response::from_result(result).to_line().as_bytes())?;
        writer.flush()?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ctl::reply::StateCount;

    struct Echo;

    impl Handler for Echo {
        fn handle(&self, cmd: Command) -> Result<Reply, CtlError> {
            match cmd {
                Command::Rules => Err(CtlError::new(ErrorKind::Failed, "no rules")),
                _ => Ok(Reply::Count(StateCount {
                    total: 1,
                    matched: 0,
                })),
            }
        }
    }

    fn socket_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("rampart-ctl-{}-{name}.sock", std::process::id()))
    }

    fn ask(stream: &mut UnixStream, line: &[u8]) -> Response {
        stream.write_all(line).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    }

    #[test]
    fn test_serves_requests_and_errors_on_one_connection() {
        let path = socket_path("serve");
        let server = Server::start(ServerConfig::new(path.clone()), Arc::new(Echo)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut c = UnixStream::connect(&path).unwrap();
        let ok = ask(&mut c, Command::Status.to_line().as_bytes());
        assert!(matches!(ok.ok, Some(Reply::Count(_))));
        let bad = ask(&mut c, b"{not json\n");
        assert_eq!(bad.error.unwrap().kind, ErrorKind::BadJson);
        let failed = ask(&mut c, Command::Rules.to_line().as_bytes());
        assert_eq!(failed.error.unwrap().message, "no rules");
        // Still served after the errors.
        assert!(
            ask(&mut c, b"\n{\"v\":1,\"cmd\":\"stats\"}\r\n")
                .ok
                .is_some()
        );
        assert!(matches!(
            Server::start(ServerConfig::new(path.clone()), Arc::new(Echo)),
            Err(ServerError::InUse(_))
        ));
        server.stop();
        assert!(!path.exists());
    }

    #[test]
    fn test_oversized_line_is_refused_and_closed() {
        let path = socket_path("long");
        let _server = Server::start(ServerConfig::new(path.clone()), Arc::new(Echo)).unwrap();
        let mut c = UnixStream::connect(&path).unwrap();
        let writer = {
            let mut c = c.try_clone().unwrap();
            std::thread::spawn(move || {
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..9 {
                    if c.write_all(&chunk).is_err() {
                        break;
                    }
                }
            })
        };
        let mut answer = String::new();
        BufReader::new(&mut c).read_line(&mut answer).unwrap();
        let response: Response = serde_json::from_str(&answer).unwrap();
        assert_eq!(response.error.unwrap().kind, ErrorKind::TooLong);
        writer.join().unwrap();
    }

    #[test]
    fn test_client_limit() {
        let path = socket_path("busy");
        let config = ServerConfig {
            max_clients: 1,
            ..ServerConfig::new(path.clone())
        };
        let _server = Server::start(config, Arc::new(Echo)).unwrap();
        let mut first = UnixStream::connect(&path).unwrap();
        assert!(
            ask(&mut first, Command::Status.to_line().as_bytes())
                .ok
                .is_some()
        );
        let mut second = UnixStream::connect(&path).unwrap();
        let mut answer = String::new();
        BufReader::new(&mut second).read_line(&mut answer).unwrap();
        assert!(answer.contains("\"busy\""), "{answer}");
    }

    #[test]
    fn test_stale_socket_is_replaced() {
        let path = socket_path("stale");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = Server::start(ServerConfig::new(path.clone()), Arc::new(Echo)).unwrap();
        let mut c = UnixStream::connect(&path).unwrap();
        assert!(
            ask(&mut c, Command::Status.to_line().as_bytes())
                .ok
                .is_some()
        );
        server.stop();
    }
}
