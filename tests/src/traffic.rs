//! Traffic helpers: polling, ICMP echo, verified TCP transfers, iperf3.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, bind, listen,
    recvfrom, sendto, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use crate::lab::{Host, Lab};

/// Calls `cond` every `interval` until it returns true (→ `true`) or
/// `timeout` has passed (→ `false`).  `cond` is always called at least once
/// and once more at the deadline.
pub fn wait_until(timeout: Duration, interval: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(interval.min(deadline - now));
        if Instant::now() >= deadline {
            return cond();
        }
    }
}

fn remaining(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("deadline passed");
    }
    Ok(left)
}

// ---------------------------------------------------------------- ping ----

/// Result of [`ping`].
#[derive(Clone, Debug, PartialEq)]
pub struct PingStats {
    /// Echo requests sent.
    pub transmitted: u32,
    /// Matching echo replies received.
    pub received: u32,
    /// Mean round-trip time of the replies, if any.
    pub rtt_avg_ms: Option<f64>,
}

static PING_IDENT: AtomicU16 = AtomicU16::new(0);

fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum = sum.wrapping_add(u32::from(word));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut pkt = vec![8u8, 0, 0, 0];
    pkt.extend_from_slice(&ident.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend((0u8..48).map(|i| i.wrapping_add(0x10)));
    let csum = inet_checksum(&pkt);
    pkt[2..4].copy_from_slice(&csum.to_be_bytes());
    pkt
}

/// Whether `pkt` (IPv4 header + ICMP, as a raw socket delivers it) is the
/// echo reply from `from` to (`ident`, `seq`).
fn is_reply(pkt: &[u8], from: Ipv4Addr, ident: u16, seq: u16) -> bool {
    let Some(&vihl) = pkt.first() else {
        return false;
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    let (Some(src), Some(icmp)) = (pkt.get(12..16), pkt.get(ihl..)) else {
        return false;
    };
    src == from.octets()
        && icmp.len() >= 8
        && icmp.first() == Some(&0)
        && icmp.get(4..6) == Some(&ident.to_be_bytes()[..])
        && icmp.get(6..8) == Some(&seq.to_be_bytes()[..])
}

/// Sends `count` ICMP echo requests from `from`'s namespace to `to`, one
/// every 200 ms, waiting up to 1 s for each reply (like
/// `ping -c N -W 1 -i 0.2`), all within `timeout`.  Implemented with a raw
/// socket, so no `ping` binary is needed.
pub fn ping(
    lab: &Lab,
    from: Host,
    to: Ipv4Addr,
    count: u32,
    timeout: Duration,
) -> Result<PingStats> {
    let deadline = Instant::now() + timeout;
    let ident = (std::process::id() as u16) ^ PING_IDENT.fetch_add(0x9e37, Ordering::Relaxed);
    lab.in_ns(from, move || {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )
        .context("raw ICMP socket")?;
        let dest = SockaddrIn::from(SocketAddrV4::new(to, 0));
        let mut stats = PingStats {
            transmitted: 0,
            received: 0,
            rtt_avg_ms: None,
        };
        let mut rtt_sum = Duration::ZERO;
        let mut buf = [0u8; 2048];
        for i in 0..count {
            if Instant::now() >= deadline {
                break;
            }
            let seq = (i & 0xffff) as u16;
            let sent_at = Instant::now();
            match sendto(
                fd.as_raw_fd(),
                &echo_request(ident, seq),
                &dest,
                MsgFlags::empty(),
            ) {
                Ok(_) => stats.transmitted += 1,
                // No route / neighbour failure: counts as sent and lost.
                Err(
                    Errno::EHOSTUNREACH
                    | Errno::ENETUNREACH
                    | Errno::EHOSTDOWN
                    | Errno::ECONNREFUSED
                    | Errno::ENOPROTOOPT,
                ) => {
                    stats.transmitted += 1;
                }
                Err(e) => return Err(e).context(format!("sendto {to}")),
            }
            let reply_deadline = (sent_at + Duration::from_secs(1)).min(deadline);
            loop {
                let left = reply_deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let tv = TimeVal::new(left.as_secs() as _, left.subsec_micros().max(1) as _);
                setsockopt(&fd, sockopt::ReceiveTimeout, &tv).context("SO_RCVTIMEO")?;
                match recvfrom::<SockaddrIn>(fd.as_raw_fd(), &mut buf) {
                    Ok((n, _)) => {
                        if is_reply(buf.get(..n).unwrap_or_default(), to, ident, seq) {
                            stats.received += 1;
                            rtt_sum += sent_at.elapsed();
                            break;
                        }
                    }
                    // ICMP errors queued on the socket: the reply is lost.
                    Err(
                        Errno::EAGAIN
                        | Errno::EINTR
                        | Errno::EHOSTUNREACH
                        | Errno::ENETUNREACH
                        | Errno::EHOSTDOWN
                        | Errno::ECONNREFUSED
                        | Errno::ENOPROTOOPT,
                    ) => {}
                    Err(e) => return Err(e).context("recvfrom"),
                }
            }
            if i + 1 < count {
                let next = (sent_at + Duration::from_millis(200)).min(deadline);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        }
        if stats.received > 0 {
            stats.rtt_avg_ms = Some(rtt_sum.as_secs_f64() * 1000.0 / f64::from(stats.received));
        }
        Ok(stats)
    })
}

// ------------------------------------------------------ verified TCP ----

/// Fills `buf` with the deterministic pseudo-random byte stream `seed`,
/// starting at stream offset `offset`.  Any chunking of the stream yields
/// the same bytes, so a receiver can check data without buffering it.
pub fn pattern_fill(seed: u64, offset: u64, buf: &mut [u8]) {
    fn splitmix64(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let mut off = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = splitmix64(seed ^ (off / 8).wrapping_mul(0xd6e8_feb8_6659_fd93)).to_le_bytes();
        let within = (off % 8) as usize;
        let take = (8 - within).min(buf.len() - i);
        if let (Some(dst), Some(src)) = (buf.get_mut(i..i + take), word.get(within..within + take))
        {
            dst.copy_from_slice(src);
        }
        i += take;
        off += take as u64;
    }
}

/// Parameters of [`tcp_streams`].
#[derive(Clone, Debug)]
pub struct StreamsConfig {
    /// Number of concurrent connections.
    pub streams: usize,
    /// Bytes sent (and verified) per connection.
    pub bytes_per_stream: u64,
    /// Bound on the whole run, connects included.
    pub timeout: Duration,
    /// Bytes per second each sender keeps to (`None`: as fast as TCP goes). A paced stream
    /// lasts `bytes_per_stream / rate` seconds whatever the path's speed, so a failover can
    /// be timed to fall in the middle of it.
    pub rate_per_stream: Option<u64>,
}

/// Result of [`tcp_transfer`].
#[derive(Clone, Debug, PartialEq)]
pub struct TransferReport {
    /// Bytes the receiver verified against the expected stream.
    pub bytes: u64,
    /// Wall time of the transfer (connect to final acknowledgement).
    pub seconds: f64,
    /// `bytes * 8 / seconds / 1e6`.
    pub mbit_s: f64,
}

/// Result of [`tcp_streams`].
#[derive(Clone, Debug, PartialEq)]
pub struct StreamsReport {
    /// Streams attempted.
    pub streams: usize,
    /// Streams whose every byte the receiver verified and acknowledged.
    pub streams_ok: usize,
    /// Bytes verified by the receiver, over all streams.
    pub bytes_verified: u64,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// Aggregate throughput of verified bytes.
    pub mbit_s: f64,
    /// One line per failure (sender or receiver side).
    pub errors: Vec<String>,
}

impl StreamsReport {
    /// Whether every stream succeeded.
    pub fn all_ok(&self) -> bool {
        self.streams_ok == self.streams && self.errors.is_empty()
    }
}

const MAGIC: u32 = 0x524d_5054; // "RMPT"
const HEADER_LEN: usize = 24;
const CHUNK: usize = 64 * 1024;

fn stream_seed(nonce: u64, index: u32) -> u64 {
    nonce ^ u64::from(index).wrapping_mul(0xa076_1d64_78bd_642f)
}

fn listener_on(port: u16) -> Result<TcpListener> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("TCP socket")?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).context("SO_REUSEADDR")?;
    let addr = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    bind(fd.as_raw_fd(), &addr).with_context(|| format!("bind 0.0.0.0:{port}"))?;
    listen(&fd, Backlog::new(1024).context("backlog")?).context("listen")?;
    Ok(TcpListener::from(fd))
}

fn send_stream(
    addr: SocketAddr,
    index: u32,
    nonce: u64,
    len: u64,
    rate: Option<u64>,
    deadline: Instant,
) -> Result<u64> {
    let mut s =
        TcpStream::connect_timeout(&addr, remaining(deadline)?.min(Duration::from_secs(10)))
            .with_context(|| format!("connect {addr}"))?;
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&index.to_be_bytes());
    header[8..16].copy_from_slice(&nonce.to_be_bytes());
    header[16..24].copy_from_slice(&len.to_be_bytes());
    s.set_write_timeout(Some(remaining(deadline)?))?;
    s.write_all(&header).context("sending header")?;
    let seed = stream_seed(nonce, index);
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    // Paced: about 50 writes a second.
    let step = rate.map_or(CHUNK as u64, |r| (r / 50).clamp(1024, CHUNK as u64));
    let started = Instant::now();
    while sent < len {
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate.max(1) as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait.min(remaining(deadline)?));
            }
        }
        let n = (len - sent).min(step) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        pattern_fill(seed, sent, chunk);
        s.set_write_timeout(Some(remaining(deadline)?))?;
        s.write_all(chunk)
            .with_context(|| format!("sending at offset {sent}"))?;
        sent += n as u64;
    }
    s.shutdown(Shutdown::Write).context("shutdown(write)")?;
    s.set_read_timeout(Some(remaining(deadline)?))?;
    let mut ack = [0u8; 8];
    s.read_exact(&mut ack)
        .context("reading receiver's acknowledgement")?;
    let verified = u64::from_be_bytes(ack);
    if verified != len {
        bail!("receiver verified {verified} of {len} bytes");
    }
    Ok(verified)
}

/// Receives one stream; returns (index, bytes verified).  Errors carry the
/// index when known.
fn receive_stream(
    mut s: TcpStream,
    nonce: u64,
    streams: usize,
    deadline: Instant,
) -> Result<(u32, u64)> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(remaining(deadline)?))?;
    let mut header = [0u8; HEADER_LEN];
    s.read_exact(&mut header).context("reading header")?;
    let field = |r: std::ops::Range<usize>| header.get(r).unwrap_or_default().to_vec();
    let magic = u32::from_be_bytes(field(0..4).try_into().unwrap_or_default());
    let index = u32::from_be_bytes(field(4..8).try_into().unwrap_or_default());
    let their_nonce = u64::from_be_bytes(field(8..16).try_into().unwrap_or_default());
    let len = u64::from_be_bytes(field(16..24).try_into().unwrap_or_default());
    if magic != MAGIC || their_nonce != nonce || index as usize >= streams {
        bail!("bad header (magic {magic:#x}, nonce {their_nonce:#x}, index {index})");
    }
    let seed = stream_seed(nonce, index);
    let mut buf = vec![0u8; CHUNK];
    let mut expect = vec![0u8; CHUNK];
    let mut got = 0u64;
    let mut mismatch: Option<u64> = None;
    while got < len {
        let want = (len - got).min(CHUNK as u64) as usize;
        s.set_read_timeout(Some(remaining(deadline)?))?;
        let n = match s.read(buf.get_mut(..want).unwrap_or_default()) {
            Ok(0) => bail!("stream {index}: EOF after {got} of {len} bytes"),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(format!("stream {index}: read at offset {got}")),
        };
        if mismatch.is_none() {
            let exp = expect.get_mut(..n).unwrap_or_default();
            pattern_fill(seed, got, exp);
            let data = buf.get(..n).unwrap_or_default();
            if let Some(pos) = data.iter().zip(exp.iter()).position(|(a, b)| a != b) {
                mismatch = Some(got + pos as u64);
            }
        }
        got += n as u64;
    }
    let verified = mismatch.unwrap_or(got);
    // The sender shuts down its side after `len` bytes; anything more is wrong.
    let mut extra = [0u8; 1];
    let trailing = matches!(s.read(&mut extra), Ok(n) if n > 0);
    s.set_write_timeout(Some(remaining(deadline)?))?;
    s.write_all(&verified.to_be_bytes())
        .context("sending acknowledgement")?;
    if let Some(at) = mismatch {
        bail!("stream {index}: data mismatch at offset {at}");
    }
    if trailing {
        bail!("stream {index}: data after the announced {len} bytes");
    }
    Ok((index, verified))
}

fn accept_all(
    listener: &TcpListener,
    cfg: &StreamsConfig,
    nonce: u64,
    deadline: Instant,
    senders_done: &AtomicBool,
) -> (Vec<Result<(u32, u64)>>, Vec<String>) {
    let mut errors = Vec::new();
    let accepted = AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        if let Err(e) = listener.set_nonblocking(true) {
            errors.push(format!("listener: {e}"));
            return Vec::new();
        }
        while accepted.load(Ordering::Relaxed) < cfg.streams {
            match listener.accept() {
                Ok((conn, _)) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let spawned = std::thread::Builder::new()
                        .stack_size(256 * 1024)
                        .spawn_scoped(scope, move || {
                            receive_stream(conn, nonce, cfg.streams, deadline)
                        });
                    match spawned {
                        Ok(h) => handles.push(h),
                        Err(e) => errors.push(format!("spawning receiver thread: {e}")),
                    }
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    if Instant::now() >= deadline || senders_done.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => {
                    errors.push(format!("accept: {e}"));
                    break;
                }
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("receiver thread panicked")))
            })
            .collect()
    });
    (results, errors)
}

fn send_all(
    to: SocketAddr,
    cfg: &StreamsConfig,
    nonce: u64,
    deadline: Instant,
) -> Vec<Result<u64>> {
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..cfg.streams {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let spawned = std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(scope, move || {
                    send_stream(
                        to,
                        index,
                        nonce,
                        cfg.bytes_per_stream,
                        cfg.rate_per_stream,
                        deadline,
                    )
                });
            match spawned {
                Ok(h) => handles.push(Ok(h)),
                Err(e) => handles.push(Err(anyhow!("spawning sender thread: {e}"))),
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.and_then(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("sender thread panicked")))
                })
            })
            .collect()
    })
}

/// Runs `cfg.streams` concurrent TCP connections from `from`'s namespace to
/// `to_addr:port`, accepted by a listener in `to`'s namespace.  Each sender
/// streams `bytes_per_stream` deterministic pseudo-random bytes (seeded per
/// stream and per run); the receiver checks every byte and acknowledges the
/// count it verified.  Failures are reported in the result, not as `Err`
/// (which is kept for setup problems such as a port already in use).
///
/// `to_addr` may differ from `to`'s own address (NAT); `port` 0 is not
/// allowed since the sender must know it.
pub fn tcp_streams(
    lab: &Lab,
    from: Host,
    to: Host,
    to_addr: Ipv4Addr,
    port: u16,
    cfg: &StreamsConfig,
) -> Result<StreamsReport> {
    if port == 0 {
        bail!("tcp_streams: port must be non-zero");
    }
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()).rotate_left(32);
    let listener = lab.in_ns(to, move || listener_on(port))?;
    let target = SocketAddr::V4(SocketAddrV4::new(to_addr, port));
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let senders_done = AtomicBool::new(false);
    let (sent, (received, mut errors)) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| accept_all(&listener, cfg, nonce, deadline, &senders_done));
        let sent = lab.in_ns(from, || Ok(send_all(target, cfg, nonce, deadline)));
        senders_done.store(true, Ordering::Release);
        let received = receiver
            .join()
            .unwrap_or_else(|_| (Vec::new(), vec!["receiver panicked".to_string()]));
        (sent, received)
    });
    let seconds = start.elapsed().as_secs_f64();
    let sent = sent?;
    let mut streams_ok = 0;
    for (i, r) in sent.iter().enumerate() {
        match r {
            Ok(_) => streams_ok += 1,
            Err(e) => errors.push(format!("sender {i}: {e:#}")),
        }
    }
    let mut bytes_verified = 0;
    for r in &received {
        match r {
            Ok((_, n)) => bytes_verified += n,
            Err(e) => errors.push(format!("receiver: {e:#}")),
        }
    }
    let mbit_s = if seconds > 0.0 {
        bytes_verified as f64 * 8.0 / seconds / 1e6
    } else {
        0.0
    };
    Ok(StreamsReport {
        streams: cfg.streams,
        streams_ok,
        bytes_verified,
        seconds,
        mbit_s,
        errors,
    })
}

/// One verified TCP transfer of `bytes` from `from` to a receiver in `to`
/// listening on `port`, connecting to `to_addr:port`; 30 s bound.  Errors
/// unless every byte arrived intact.
pub fn tcp_transfer(
    lab: &Lab,
    from: Host,
    to: Host,
    to_addr: Ipv4Addr,
    port: u16,
    bytes: u64,
) -> Result<TransferReport> {
    let cfg = StreamsConfig {
        streams: 1,
        bytes_per_stream: bytes,
        timeout: Duration::from_secs(30),
        rate_per_stream: None,
    };
    let r = tcp_streams(lab, from, to, to_addr, port, &cfg)?;
    if !r.all_ok() || r.bytes_verified != bytes {
        bail!(
            "TCP transfer {from} -> {to_addr}:{port} failed ({} of {bytes} bytes verified): {}",
            r.bytes_verified,
            r.errors.join("; ")
        );
    }
    Ok(TransferReport {
        bytes: r.bytes_verified,
        seconds: r.seconds,
        mbit_s: r.mbit_s,
    })
}

// -------------------------------------------------------------- iperf3 ----

/// Extracts `end.sum_received` of `iperf3 -J` output.
pub fn parse_iperf3_json(json: &str) -> Result<TransferReport> {
    let v: serde_json::Value = serde_json::from_str(json).context("parsing iperf3 JSON")?;
    if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
        bail!("iperf3: {err}");
    }
    let sum = v
        .get("end")
        .and_then(|e| e.get("sum_received"))
        .ok_or_else(|| anyhow!("iperf3 JSON lacks end.sum_received"))?;
    let num = |k: &str| {
        sum.get(k)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| anyhow!("iperf3 JSON lacks end.sum_received.{k}"))
    };
    Ok(TransferReport {
        bytes: num("bytes")? as u64,
        seconds: num("seconds")?,
        mbit_s: num("bits_per_second")? / 1e6,
    })
}

/// Optional alternative to [`tcp_transfer`] using iperf3 (not byte-verified):
/// `iperf3 -s -1 -p PORT` in `to`, `iperf3 -c ADDR -p PORT -n BYTES -J` in
/// `from`.  Errors if iperf3 is not installed.
pub fn iperf3_transfer(
    lab: &Lab,
    from: Host,
    to: Host,
    to_addr: Ipv4Addr,
    port: u16,
    bytes: u64,
) -> Result<TransferReport> {
    let have =
        std::env::split_paths(&crate::process::child_path()).any(|d| d.join("iperf3").is_file());
    if !have {
        bail!("iperf3 not installed (apt-get install iperf3)");
    }
    let port_s = port.to_string();
    let log = lab.log_path(&format!("iperf3-server-{port}"));
    let mut server = lab.spawn(to, &["iperf3", "-s", "-1", "-p", &port_s], &log)?;
    let addr = to_addr.to_string();
    let bytes_s = bytes.to_string();
    let argv = ["iperf3", "-c", &addr, "-p", &port_s, "-n", &bytes_s, "-J"];
    let deadline = Instant::now() + Duration::from_secs(60);
    // The server needs a moment to listen; retry while it refuses.
    let mut last = String::new();
    for _ in 0..25 {
        let out = lab.exec_timeout(from, &argv, remaining(deadline)?)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        match parse_iperf3_json(&stdout) {
            Ok(report) => {
                let _ = server.wait_timeout(Duration::from_secs(2));
                return Ok(report);
            }
            Err(e) => {
                last = format!("{e:#}");
                if !last.contains("refused") {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "iperf3 {from} -> {addr}:{port}: {last}; server log: {}",
        server.log()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_chunking_independent() {
        let mut whole = vec![0u8; 1000];
        pattern_fill(42, 3, &mut whole);
        let mut pieces = vec![0u8; 1000];
        let mut off = 0;
        for len in [1, 7, 8, 13, 100, 871] {
            pattern_fill(42, 3 + off as u64, &mut pieces[off..off + len]);
            off += len;
        }
        assert_eq!(whole, pieces);
        let mut other = vec![0u8; 1000];
        pattern_fill(43, 3, &mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn checksum_of_echo_request_verifies() {
        let pkt = echo_request(0x1234, 7);
        assert_eq!(inet_checksum(&pkt), 0);
    }

    #[test]
    fn reply_matching() {
        let mut pkt = vec![
            0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 10, 2, 20, 10, 10, 1, 10,
        ];
        pkt.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        let from = Ipv4Addr::new(10, 10, 2, 20);
        assert!(is_reply(&pkt, from, 0x1234, 7));
        assert!(!is_reply(&pkt, from, 0x1234, 8));
        assert!(!is_reply(&pkt, Ipv4Addr::new(10, 10, 2, 21), 0x1234, 7));
        assert!(!is_reply(&pkt[..22], from, 0x1234, 7));
    }

    #[test]
    fn iperf3_json() {
        let json = r#"{"start":{},"end":{"sum_sent":{"bytes":5,"seconds":1.0,"bits_per_second":40},
            "sum_received":{"start":0,"end":0.5,"seconds":0.5,"bytes":2097152,"bits_per_second":33554432.0}}}"#;
        let r = parse_iperf3_json(json).unwrap();
        assert_eq!(r.bytes, 2_097_152);
        assert!((r.mbit_s - 33.554432).abs() < 1e-9);
        assert!(
            parse_iperf3_json(r#"{"error":"unable to connect to server: Connection refused"}"#)
                .unwrap_err()
                .to_string()
                .contains("refused")
        );
    }
}
