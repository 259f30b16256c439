//! `dpdk-testpmd` io forwarding over the same `net_pcap` pair: the ceiling. Its stats output
//! is parsed as `../shared/reference/perf_scripts/tpparse.py` does.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::stats::{Summary, summarize};

/// One testpmd run.
#[derive(Debug, Clone)]
pub struct Testpmd {
    /// The binary.
    pub binary: String,
    /// RX files of port 0 and port 1 (replayed forever).
    pub lan: PathBuf,
    /// Port 1's file.
    pub wan: PathBuf,
    /// Mbufs (every replayed frame lives in one).
    pub mbufs: u64,
    /// DPDK file prefix.
    pub prefix: String,
    /// Hugepages or `--no-huge`.
    pub hugepages: bool,
    /// Intervals skipped (warm-up).
    pub warmup: Duration,
    /// Window after the warm-up.
    pub measure: Duration,
}

/// What testpmd reported.
#[derive(Debug, Clone, PartialEq)]
pub struct TestpmdResult {
    /// Sum of RX over both ports per interval, Mpps, after the warm-up.
    pub rx: Summary,
    /// Sum of TX, Mpps (median).
    pub tx_mpps: f64,
    /// "CPU cycles/packet" of the forwarding core (whole run).
    pub cycles_per_packet: f64,
}

/// Parses testpmd's periodic stats: per interval, the sum of `Rx-pps` and `Tx-pps` over the
/// ports; the first `skip` intervals are dropped. `None` if no interval is left.
pub fn parse(log: &str, skip: usize) -> Option<TestpmdResult> {
    let mut port: Option<usize> = None;
    let mut rx: Vec<Vec<f64>> = Vec::new();
    let mut tx: Vec<Vec<f64>> = Vec::new();
    let mut cycles = 0.0;
    for line in log.lines() {
        let line = line.trim();
        if let Some(rest) = line.split("NIC statistics for port").nth(1) {
            port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
            continue;
        }
        let number_after = |key: &str| {
            line.split(key)
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        if let Some(p) = port {
            if rx.len() <= p {
                rx.resize(p + 1, Vec::new());
                tx.resize(p + 1, Vec::new());
            }
            if let Some(v) = number_after("Rx-pps:") {
                rx[p].push(v);
            }
            if let Some(v) = number_after("Tx-pps:") {
                tx[p].push(v);
            }
        }
        if let Some(v) = number_after("CPU cycles/packet=") {
            cycles = v;
        }
    }
    let n = rx.iter().map(Vec::len).min()?;
    let sums = |series: &[Vec<f64>]| -> Vec<f64> {
        (skip..n)
            .map(|i| {
                series
                    .iter()
                    .map(|s| s.get(i).copied().unwrap_or(0.0))
                    .sum::<f64>()
                    / 1e6
            })
            .collect()
    };
    let rx_sums = sums(&rx);
    if rx_sums.is_empty() {
        return None;
    }
    Some(TestpmdResult {
        rx: summarize(&rx_sums),
        tx_mpps: summarize(&sums(&tx)).median,
        cycles_per_packet: cycles,
    })
}

impl Testpmd {
    /// Runs testpmd (main lcore on CPU 0, the forwarding lcore alone on CPU 1) for the
    /// warm-up plus the window, stops it with SIGINT and parses its output.
    ///
    /// # Errors
    /// A message when it cannot start, does not stop, or prints no stats.
    pub fn run(&self) -> Result<TestpmdResult, String> {
        let mut args: Vec<String> = vec!["-l".into(), "0,1".into(), "--no-pci".into()];
        args.push(format!("--file-prefix={}", self.prefix));
        if self.hugepages {
            args.push("--in-memory".into());
        } else {
            args.extend([
                "--no-huge".into(),
                "-m".into(),
                "1024".into(),
                "--no-shconf".into(),
            ]);
        }
        args.push(format!(
            "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            self.lan.display()
        ));
        args.push(format!(
            "--vdev=net_pcap1,rx_pcap={},infinite_rx=1",
            self.wan.display()
        ));
        args.extend(
            [
                "--",
                "--forward-mode=io",
                "--nb-cores=1",
                "--stats-period=1",
                "--record-core-cycles",
            ]
            .map(String::from),
        );
        args.push(format!("--total-num-mbufs={}", self.mbufs));
        let out_path = std::env::temp_dir().join(format!("{}.log", self.prefix));
        let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.binary))?;
        std::thread::sleep(self.warmup + self.measure + Duration::from_secs(1));
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&out_path).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&out_path);
        super::stats::remove_eal_runtime_dir(&self.prefix);
        // testpmd prints about every 2 s with --stats-period=1.
        let skip = (self.warmup.as_secs_f64() / 2.0).ceil() as usize;
        parse(&log, skip).ok_or_else(|| {
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            format!(
                "testpmd printed no stats after the warm-up; its last lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sums_ports_per_interval_and_skips_the_warm_up() {
        let log = "
  ######################## NIC statistics for port 0  ########################
  Throughput (since last show)
  Rx-pps:     10000000          Rx-bps:   1
  Tx-pps:     10000000          Tx-bps:   1
  ######################## NIC statistics for port 1  ########################
  Rx-pps:     12000000          Rx-bps:   1
  Tx-pps:     12000000          Tx-bps:   1
  ######################## NIC statistics for port 0  ########################
  Rx-pps:     20000000          Rx-bps:   1
  Tx-pps:     20000000          Tx-bps:   1
  ######################## NIC statistics for port 1  ########################
  Rx-pps:     22000000          Rx-bps:   1
  Tx-pps:     21000000          Tx-bps:   1
  CPU cycles/packet=53.20 (busy cycles=1 / total io packets=1) at 2600 MHz Clock
";
        let r = parse(log, 1).unwrap();
        assert_eq!(r.rx.median, 42.0);
        assert_eq!(r.tx_mpps, 41.0);
        assert_eq!(r.cycles_per_packet, 53.2);
        assert!(parse(log, 2).is_none());
    }
}
