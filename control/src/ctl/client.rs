//! The client side of the control socket: one connection, requests answered in order.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proto::{Command, CtlError, Response};
use super::reply::Reply;

/// Why a request got no answer from the node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The connection failed or timed out mid-request.
    #[error("talking to the node: {0}")]
    Io(#[from] io::Error),
    /// The node's answer is not a response line.
    #[error("the node's answer is not understood: {0}")]
    Protocol(String),
    /// The node answered with an error.
    #[error("{0}")]
    Node(CtlError),
}

/// A connection to a node's control socket.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects to the socket at `path`; every read and write then waits at most `timeout`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] if nobody listens there or the user may not connect.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let connect_err = |source| ClientError::Connect {
            path: path.to_owned(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(connect_err)?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(connect_err)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(connect_err)?;
        let writer = stream.try_clone().map_err(connect_err)?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends `cmd` and waits for its answer.
    ///
    /// # Errors
    /// [`ClientError::Node`] for the node's error, the others when there is no answer.
    pub fn request(&mut self, cmd: &Command) -> Result<Reply, ClientError> {
        self.writer.write_all(cmd.to_line().as_bytes())?;
        self.writer.flush()?;
        self.read_response()?
            .into_result()
            .map_err(ClientError::Node)
    }

    /// Sends `line` as it is (for tests of bad input) and returns the node's response.
    ///
    /// # Errors
    /// [`ClientError`] when there is no answer.
    pub fn raw(&mut self, line: &[u8]) -> Result<Response, ClientError> {
        self.writer.write_all(line)?;
        self.writer.flush()?;
        self.read_response()
    }

    fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Protocol(
                "the node closed the connection".into(),
            ));
        }
        serde_json::from_str(&line).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
