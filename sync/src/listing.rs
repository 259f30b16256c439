//! Every state of the node as text, one line each, for the operator and the lab tests
//! (written on request by the sync core, which asks each worker for its states between
//! bursts): what pfsync carries, so that two nodes' files can be compared line by line.

use std::fmt::Write;
use std::io;
use std::path::Path;

use rampart_dataplane::state::{Peer, StateKey, StateSnapshot};

/// `creatorid id proto dir wire stack src dst timeout`, sorted by creator and id.
pub fn format(states: &mut [StateSnapshot]) -> String {
    states.sort_by_key(|s| (s.creatorid, s.id));
    let mut out = String::new();
    for s in states.iter() {
        let _ = writeln!(
            out,
            "{:08x} {:016x} proto {} dir {:?} wire {} stack {} src {} dst {} timeout {:?}",
            s.creatorid,
            s.id,
            s.wire.proto.0,
            s.direction,
            key(&s.wire),
            key(&s.stack),
            peer(&s.src),
            peer(&s.dst),
            s.timeout
        );
    }
    out
}

fn key(k: &StateKey) -> String {
    format!(
        "{}:{}-{}:{}",
        k.addr[0].to_ip(k.af),
        k.port[0],
        k.addr[1].to_ip(k.af),
        k.port[1]
    )
}

fn peer(p: &Peer) -> String {
    format!(
        "[state {} seqlo {} seqhi {} max_win {} wscale {}]",
        p.state, p.seqlo, p.seqhi, p.max_win, p.wscale
    )
}

/// Writes `text` to `path` whole (through a temporary file), so a reader never sees half.
///
/// # Errors
/// What the file system says.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
