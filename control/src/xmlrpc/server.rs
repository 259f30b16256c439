//! The secondary's HTTP(S) shell around [`Handler`]: hyper (HTTP/1.1) over rustls on tokio.
//!
//! It does only what HTTP needs: `POST /xmlrpc.php` (other paths 404, other methods 405),
//! a body limit ([`ServerOptions::max_body`], 16 MiB by default: `413 Payload Too Large`,
//! from `Content-Length` before reading or while reading), the `Authorization: Basic`
//! header, and the caller's address. Everything else — authentication, faults, the merge —
//! is the sans-IO handler's, called on tokio's blocking pool under a mutex, so calls are
//! serialised as pfSense's `xmlrpc` lock does and a long apply never stalls the runtime.
//!
//! Faults are HTTP 200 with `text/xml`, as pfSense answers. Limits against slow or
//! numerous clients: [`ServerOptions::max_connections`] (further connections are closed at
//! once), a TLS handshake and request-header timeout, a body read timeout.
//!
//! Shutdown: when the `shutdown` future completes, the listener closes, idle keep-alive
//! connections end, requests in progress finish (their apply included) within
//! [`ServerOptions::grace`], and [`serve`] returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, Span, debug, info, info_span, warn};

use rampart_dataplane::time::MonotonicClock;

use super::auth::Credentials;
use super::handler::{CallContext, Handler};
use super::store::ConfigStore;

/// The only path served.
pub const XMLRPC_PATH: &str = "/xmlrpc.php";

/// Default body limit: 16 MiB (pfSense's nginx allows 200 MiB; a full config is a few
/// hundred KiB).
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// The handler as the server shares it between connections.
pub type SharedHandler<S> = Arc<Mutex<Handler<S>>>;

/// Server limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// Largest request body accepted.
    pub max_body: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time for the TLS handshake and for each request's headers.
    pub header_timeout: Duration,
    /// Time to receive a request body.
    pub body_timeout: Duration,
    /// How long shutdown waits for requests in progress.
    pub grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            max_connections: 32,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(120),
            grace: Duration::from_secs(60),
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Binds `addr` and serves until `shutdown` completes (see the module docs). `tls: None`
/// serves plain HTTP (a pfSense pair whose GUI is HTTP syncs over HTTP).
///
/// # Errors
/// [`ServerError::Bind`] when `addr` cannot be bound.
pub async fn serve<S: ConfigStore + 'static>(
    addr: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    handler: SharedHandler<S>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    serve_listener(listener, tls, handler, options, shutdown).await;
    Ok(())
}

/// [`serve`] on a listener the caller bound (tests bind port 0 and read the port).
pub async fn serve_listener<S: ConfigStore + 'static>(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    handler: SharedHandler<S>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) {
    let local = listener.local_addr().ok();
    info!(addr = ?local, tls = tls.is_some(), "XMLRPC server listening");
    let acceptor = tls.map(TlsAcceptor::from);
    let clock = MonotonicClock::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    warn!(%peer, "too many XMLRPC connections: closing this one");
                    continue;
                };
                let conn = Connection {
                    peer,
                    acceptor: acceptor.clone(),
                    handler: handler.clone(),
                    options,
                    clock,
                    stop: stop_rx.clone(),
                };
                connections.spawn(async move {
                    conn.run(stream).await;
                    drop(slot);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("XMLRPC server: requests still running after the grace period were cut");
        connections.abort_all();
    }
    info!(addr = ?local, "XMLRPC server stopped");
}

/// One accepted connection.
struct Connection<S> {
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    handler: SharedHandler<S>,
    options: ServerOptions,
    clock: MonotonicClock,
    stop: watch::Receiver<bool>,
}

impl<S: ConfigStore + 'static> Connection<S> {
    async fn run(self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let span = info_span!("xmlrpc_conn", peer = %self.peer);
        match self.acceptor.clone() {
            None => self.http(stream).instrument(span).await,
            Some(acceptor) => {
                let timeout = self.options.header_timeout;
                let handshake = tokio::time::timeout(timeout, acceptor.accept(stream)).await;
                match handshake {
                    Ok(Ok(tls)) => self.http(tls).instrument(span).await,
                    Ok(Err(e)) => span.in_scope(|| debug!(error = %e, "TLS handshake failed")),
                    Err(_) => span.in_scope(|| debug!("TLS handshake timed out")),
                }
            }
        }
    }

    async fn http<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, io: I) {
        let Self {
            peer,
            handler,
            options,
            clock,
            mut stop,
            ..
        } = self;
        let service = service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            let span = info_span!("xmlrpc_request", %peer, path = %req.uri().path());
            async move { Ok::<_, Infallible>(respond(req, peer, handler, options, clock).await) }
                .instrument(span)
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let stopping = async move {
            // Also stops when the server is gone (the sender dropped).
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn respond<S, B>(
    req: Request<B>,
    peer: SocketAddr,
    handler: SharedHandler<S>,
    options: ServerOptions,
    clock: MonotonicClock,
) -> Response<Full<Bytes>>
where
    S: ConfigStore + 'static,
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if req.uri().path() != XMLRPC_PATH {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::POST {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "XML-RPC takes POST\n");
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("POST"));
        return r;
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > options.max_body as u64) {
        warn!(length = declared, "request body over the limit: 413");
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let creds = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| Credentials::from_basic_header(v.as_bytes()));
    let limited = Limited::new(req.into_body(), options.max_body);
    let body = match tokio::time::timeout(options.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            warn!("request body over the limit: 413");
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }
        Ok(Err(e)) => {
            debug!(error = %e, "reading the request body failed");
            return plain(StatusCode::BAD_REQUEST, "could not read the request body\n");
        }
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "request body too slow\n"),
    };
    let span = Span::current();
    let answer = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut handler = handler.lock().unwrap_or_else(PoisonError::into_inner);
        let ctx = CallContext {
            now: clock.now(),
            peer: peer.ip(),
            auth: creds.as_ref(),
        };
        handler.handle(&body, &ctx)
    })
    .await;
    match answer {
        Ok(answer) => {
            let mut r = Response::new(Full::new(Bytes::from(answer.body)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/xml; charset=utf-8"),
            );
            r
        }
        Err(e) => {
            warn!(error = %e, "XMLRPC handler task failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::xmlrpc::handler::HandlerOptions;
    use crate::xmlrpc::store::MemoryStore;

    fn handler() -> SharedHandler<MemoryStore> {
        let xml = include_str!("../../tests/data/ha-primary.xml");
        let store = MemoryStore::new(Config::parse(xml.as_bytes()).unwrap());
        Arc::new(Mutex::new(Handler::new(store, HandlerOptions::default())))
    }

    async fn status(req: Request<Full<Bytes>>, options: ServerOptions) -> StatusCode {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        respond(req, peer, handler(), options, MonotonicClock::default())
            .await
            .status()
    }

    #[tokio::test]
    async fn test_body_limit_while_reading() {
        let options = ServerOptions {
            max_body: 1024,
            ..ServerOptions::default()
        };
        // No Content-Length: the limit trips while the body is read.
        let big = Request::post(XMLRPC_PATH)
            .body(Full::new(Bytes::from(vec![b'x'; 1025])))
            .unwrap();
        assert_eq!(status(big, options).await, StatusCode::PAYLOAD_TOO_LARGE);
        let declared = Request::post(XMLRPC_PATH)
            .header(CONTENT_LENGTH, "1025")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(
            status(declared, options).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // At the limit: answered (a fault, since there are no credentials), HTTP 200.
        let ok = Request::post(XMLRPC_PATH)
            .body(Full::new(Bytes::from(vec![b'x'; 1024])))
            .unwrap();
        assert_eq!(status(ok, options).await, StatusCode::OK);
        let get = Request::get(XMLRPC_PATH)
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(status(get, options).await, StatusCode::METHOD_NOT_ALLOWED);
    }
}
