//! `make bench`: the ceiling and rampart's rows as adjacent A/B pairs in one run, the kernel
//! peer, the flows sweep and its plot (method: `../shared/reference/perf.md` §8).
//!
//! Every rampart measurement is its own process (EAL starts once per process): this binary's
//! `run` subcommand.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::flows::{FlowSet, Proto};
use super::inproc::replay_files;
use super::run::RunResult;
use super::stats::{Summary, summarize};
use super::testpmd::{Testpmd, TestpmdResult};

/// What `make bench` runs.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// This binary (for the `run` subprocesses).
    pub exe: PathBuf,
    /// `dpdk-testpmd`.
    pub testpmd: String,
    /// The kernel-peer script, if the kernel row is wanted.
    pub kernel_script: Option<PathBuf>,
    /// A/B rounds.
    pub pairs: usize,
    /// Replayed flows of the ceiling and hit-path rows.
    pub flows: usize,
    /// Connections in the table for the hit-path row.
    pub connections: usize,
    /// Rules for the firewall rows.
    pub rules: usize,
    /// New connections played in the new-connection row.
    pub new_connections: usize,
    /// Frame size.
    pub size: usize,
    /// Transport.
    pub proto: Proto,
    /// Flow counts of the sweep (the plot); empty: no sweep.
    pub sweep_flows: Vec<usize>,
    /// State counts of the states sweep (idle connections beside `flows` replayed).
    pub sweep_states: Vec<usize>,
    /// Rule counts of the rules sweep.
    pub sweep_rules: Vec<usize>,
    /// Worker counts of the workers sweep.
    pub sweep_workers: Vec<usize>,
    /// Files go here.
    pub workdir: PathBuf,
    /// Prefix of every DPDK file prefix and namespace.
    pub prefix: String,
    /// Hugepages.
    pub hugepages: bool,
    /// Warm-up per run.
    pub warmup: Duration,
    /// Window per run.
    pub measure: Duration,
    /// Where the plot goes.
    pub plot: PathBuf,
}

/// One rampart run's command line (besides the common part).
fn rampart_run(spec: &TableSpec, tag: &str, extra: &[String]) -> Result<RunResult, String> {
    let mut cmd = Command::new(&spec.exe);
    cmd.arg("run")
        .arg("--workdir")
        .arg(&spec.workdir)
        .arg("--prefix")
        .arg(format!("{}-{tag}", spec.prefix))
        .arg("--cores")
        .arg("1")
        .arg("--size")
        .arg(spec.size.to_string())
        .arg("--proto")
        .arg(spec.proto.to_string())
        .arg("--warmup")
        .arg(spec.warmup.as_secs_f64().to_string())
        .arg("--secs")
        .arg(spec.measure.as_secs_f64().to_string())
        .args(extra);
    if spec.hugepages {
        cmd.arg("--hugepages");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", spec.exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).map_err(|_| {
        format!(
            "run {tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .join(" | ")
        )
    })
}

fn args(list: &[(&str, String)]) -> Vec<String> {
    list.iter()
        .flat_map(|(k, v)| {
            if v.is_empty() {
                vec![k.to_string()]
            } else {
                vec![k.to_string(), v.clone()]
            }
        })
        .collect()
}

fn ceiling(spec: &TableSpec, flows: usize, tag: &str) -> Result<TestpmdResult, String> {
    let set = FlowSet {
        flows,
        size: spec.size,
        proto: spec.proto,
    };
    let (lans, wans, frames) = replay_files(&set, 1, &spec.workdir).map_err(|e| e.to_string())?;
    let (Some(lan), Some(wan)) = (lans.first(), wans.first()) else {
        return Err("no replay files".into());
    };
    Testpmd {
        binary: spec.testpmd.clone(),
        lan: lan.clone(),
        wan: wan.clone(),
        mbufs: frames + 16_384,
        prefix: format!("{}-{tag}", spec.prefix),
        hugepages: spec.hugepages,
        warmup: spec.warmup,
        measure: spec.measure,
    }
    .run()
}

/// The rows measured in one round.
#[derive(Debug, Clone, Default)]
struct Round {
    ceiling: Option<TestpmdResult>,
    router: Option<RunResult>,
    hit: Option<RunResult>,
    new: Option<RunResult>,
}

/// A row of the table: per-pair values.
#[derive(Debug, Default)]
struct Row {
    mpps: Vec<f64>,
    cycles: Vec<f64>,
    drop: Vec<f64>,
    ratio: Vec<f64>,
    added_ns: Vec<f64>,
}

impl Row {
    fn push(&mut self, mpps: f64, cycles: f64, drop: f64, ceiling: Option<f64>) {
        self.mpps.push(mpps);
        self.cycles.push(cycles);
        self.drop.push(drop);
        if let Some(c) = ceiling.filter(|c| *c > 0.0 && mpps > 0.0) {
            self.ratio.push(mpps / c);
            self.added_ns.push(1000.0 / mpps - 1000.0 / c);
        }
    }
}

fn fmt_summary(s: &Summary, digits: usize) -> String {
    if s.n == 0 {
        return "n/a".into();
    }
    format!("{:.d$} [{:.d$}–{:.d$}]", s.median, s.min, s.max, d = digits)
}

/// Runs everything and returns the report text (the table, the sweeps, the plot path).
///
/// # Errors
/// A message when the ceiling or a rampart row cannot be measured at all.
pub fn run_table(spec: &TableSpec) -> Result<String, String> {
    std::fs::create_dir_all(&spec.workdir).map_err(|e| e.to_string())?;
    let mut rounds = Vec::new();
    let mut errors = Vec::new();
    let flows = spec.flows.to_string();
    for r in 0..spec.pairs {
        eprintln!("bench: round {}/{}", r + 1, spec.pairs);
        let mut round = Round::default();
        match ceiling(spec, spec.flows, &format!("tp{r}")) {
            Ok(c) => round.ceiling = Some(c),
            Err(e) => errors.push(format!("round {r} ceiling: {e}")),
        }
        let router = args(&[
            ("--mode", "router".into()),
            ("--flows", flows.clone()),
            ("--rules", spec.rules.to_string()),
        ]);
        match rampart_run(spec, &format!("rt{r}"), &router) {
            Ok(v) => round.router = Some(v),
            Err(e) => errors.push(e),
        }
        let hit = args(&[
            ("--mode", "firewall".into()),
            ("--flows", flows.clone()),
            ("--connections", spec.connections.to_string()),
            ("--rules", spec.rules.to_string()),
        ]);
        match rampart_run(spec, &format!("fw{r}"), &hit) {
            Ok(v) => round.hit = Some(v),
            Err(e) => errors.push(e),
        }
        let new = args(&[
            ("--mode", "firewall".into()),
            ("--new-connections", String::new()),
            ("--pfsync", String::new()),
            ("--flows", spec.new_connections.to_string()),
            ("--rules", spec.rules.to_string()),
        ]);
        match rampart_run(spec, &format!("nc{r}"), &new) {
            Ok(v) => round.new = Some(v),
            Err(e) => errors.push(e),
        }
        rounds.push(round);
    }
    let kernel = spec
        .kernel_script
        .as_ref()
        .map(|script| kernel_row(script, spec));

    let mut ceil = Row::default();
    let (mut router, mut hit, mut new) = (Row::default(), Row::default(), Row::default());
    let mut gbps = Vec::new();
    let mut new_sync = Vec::new();
    let mut hz = 0u64;
    let mut states = 0u64;
    for round in &rounds {
        let c = round.ceiling.as_ref().map(|c| c.rx.median);
        if let Some(t) = &round.ceiling {
            ceil.push(t.rx.median, t.cycles_per_packet, 0.0, None);
        }
        if let Some(v) = &round.router {
            router.push(v.rx_mpps, v.cycles_per_packet, v.drop_rate, c);
            hz = v.tsc_hz;
        }
        if let Some(v) = &round.hit {
            hit.push(v.rx_mpps, v.cycles_per_packet, v.drop_rate, c);
            gbps.push(v.tx_gbps);
            states = v.states;
        }
        if let Some(v) = &round.new {
            new.push(v.rx_mpps, v.cycles_per_packet, 0.0, c);
            new_sync.push((
                v.inserts_per_s,
                v.sync_events,
                v.sync_events_dropped,
                v.sync_frames,
            ));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rampart bench: {} B {} frames, 1 forwarding lcore alone on CPU 1 (main lcore on CPU 0), {}, \
         {} adjacent ceiling/rampart rounds; medians [min–max] over rounds, ratios and added ns taken per pair",
        spec.size,
        spec.proto,
        if spec.hugepages {
            "hugepages"
        } else {
            "no hugepages (--no-huge)"
        },
        spec.pairs
    );
    let _ = writeln!(
        out,
        "transport: net_pcap pair, infinite_rx replay of {} flows per direction, TX dropped by the PMD; TSC {:.2} GHz",
        spec.flows,
        hz as f64 / 1e9
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<58} {:>24} {:>22} {:>9} {:>24} {:>22}",
        "row", "Mpps", "cycles/pkt (busy)", "drop", "ratio to ceiling", "added ns/pkt"
    );
    let line = |out: &mut String, name: &str, row: &Row| {
        let _ = writeln!(
            out,
            "{:<58} {:>24} {:>22} {:>9} {:>24} {:>22}",
            name,
            fmt_summary(&summarize(&row.mpps), 2),
            fmt_summary(&summarize(&row.cycles), 0),
            format!("{:.2}%", summarize(&row.drop).median * 100.0),
            fmt_summary(&summarize(&row.ratio), 3),
            fmt_summary(&summarize(&row.added_ns), 1),
        );
    };
    line(
        &mut out,
        "ceiling: dpdk-testpmd io, same net_pcap pair",
        &ceil,
    );
    line(
        &mut out,
        "rampart forwarding, no rules (no firewall)",
        &router,
    );
    line(
        &mut out,
        &format!(
            "rampart stateful hit: {} rules, {} conns ({} states)",
            spec.rules, spec.connections, states
        ),
        &hit,
    );
    line(
        &mut out,
        &format!(
            "rampart new connections (M conns/s), pfsync on, {} rules",
            spec.rules
        ),
        &new,
    );
    match &kernel {
        Some(Ok((mpps, note))) => {
            let _ = writeln!(
                out,
                "{:<58} {:>24} {:>22} {:>9} {:>24} {:>22}",
                "Linux kernel fwd + nftables conntrack (netns, 1 CPU)",
                format!("{mpps:.3}"),
                "",
                "",
                "",
                ""
            );
            let _ = writeln!(out, "  kernel peer: {note}");
            let h = summarize(&hit.mpps).median;
            if *mpps > 0.0 {
                let _ = writeln!(
                    out,
                    "  rampart stateful hit / kernel nftables conntrack = {:.1}×",
                    h / mpps
                );
            }
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "Linux kernel peer: not measured: {e}");
        }
        None => {}
    }
    let _ = writeln!(
        out,
        "  stateful hit forwarded {} Gbit/s at {} B (median)",
        format_args!("{:.2}", summarize(&gbps).median),
        spec.size
    );
    for (i, (inserts, ev, dropped, frames)) in new_sync.iter().enumerate() {
        let _ = writeln!(
            out,
            "  new connections round {}: {:.2} M state inserts/s (2 per connection), {} state events to the sync core, {} lost (ring full), {} pfsync frames sent",
            i + 1,
            inserts / 1e6,
            ev,
            dropped,
            frames
        );
    }
    for e in &errors {
        let _ = writeln!(out, "  error: {e}");
    }
    if !spec.sweep_flows.is_empty() {
        out.push_str(&sweeps(spec)?);
    }
    Ok(out)
}

fn kernel_row(script: &Path, spec: &TableSpec) -> Result<(f64, String), String> {
    eprintln!("bench: kernel peer");
    let out = Command::new("bash")
        .arg(script)
        .arg(format!("{}k", spec.prefix))
        .arg("8")
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("kernel_fwd_mpps="))
        .ok_or_else(|| {
            format!(
                "no result ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    let mpps = line
        .split_whitespace()
        .next()
        .and_then(|kv| kv.split('=').nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("unparsable: {line}"))?;
    Ok((mpps, line.to_string()))
}

/// The sweeps: Mpps against flows (ceiling, router, firewall: the plot), against idle states,
/// rules and workers (firewall). One run per point.
fn sweeps(spec: &TableSpec) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsweep: Mpps against replayed flows (1 run per point; states = 2 per flow)"
    );
    let _ = writeln!(
        out,
        "{:>10} {:>14} {:>16} {:>18} {:>12}",
        "flows", "ceiling Mpps", "router Mpps", "firewall Mpps", "fw cyc/pkt"
    );
    let mut points = Vec::new();
    for &flows in &spec.sweep_flows {
        eprintln!("bench: sweep flows {flows}");
        let c = ceiling(spec, flows, &format!("swtp{flows}")).map(|c| c.rx.median);
        let base = |mode: &str| {
            args(&[
                ("--mode", mode.into()),
                ("--flows", flows.to_string()),
                ("--rules", spec.rules.to_string()),
            ])
        };
        let r = rampart_run(spec, &format!("swrt{flows}"), &base("router"));
        let f = rampart_run(spec, &format!("swfw{flows}"), &base("firewall"));
        let get = |v: &Result<RunResult, String>| v.as_ref().map_or(f64::NAN, |v| v.rx_mpps);
        let _ = writeln!(
            out,
            "{:>10} {:>14.2} {:>16.2} {:>18.2} {:>12.0}",
            flows,
            c.as_ref().map_or(f64::NAN, |v| *v),
            get(&r),
            get(&f),
            f.as_ref().map_or(f64::NAN, |v| v.cycles_per_packet)
        );
        points.push((flows, c.unwrap_or(f64::NAN), get(&r), get(&f)));
    }
    write_plot(&spec.plot, &points).map_err(|e| e.to_string())?;
    let _ = writeln!(out, "plot: {}", spec.plot.display());

    let firewall_point = |tag: String, extra: Vec<(&str, String)>| {
        let mut list = vec![("--mode", "firewall".to_string())];
        list.extend(extra);
        rampart_run(spec, &tag, &args(&list))
    };
    if !spec.sweep_states.is_empty() {
        let _ = writeln!(
            out,
            "\nsweep: connections in the table ({} flows replayed, {} rules)",
            spec.flows
                .min(spec.sweep_states.iter().copied().min().unwrap_or(0)),
            spec.rules
        );
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>12} {:>12}",
            "connections", "states", "Mpps", "cyc/pkt"
        );
        for &n in &spec.sweep_states {
            eprintln!("bench: sweep states {n}");
            let flows = spec.flows.min(n);
            let r = firewall_point(
                format!("sws{n}"),
                vec![
                    ("--flows", flows.to_string()),
                    ("--connections", n.to_string()),
                    ("--rules", spec.rules.to_string()),
                ],
            );
            let _ = match r {
                Ok(v) => writeln!(
                    out,
                    "{:>12} {:>12} {:>12.2} {:>12.0}",
                    n, v.states, v.rx_mpps, v.cycles_per_packet
                ),
                Err(e) => writeln!(out, "{n:>12} error: {e}"),
            };
        }
    }
    if !spec.sweep_rules.is_empty() {
        let _ = writeln!(
            out,
            "\nsweep: rules ({} flows, established path, and new connections without pfsync)",
            spec.flows
        );
        let _ = writeln!(
            out,
            "{:>8} {:>14} {:>12} {:>18}",
            "rules", "hit Mpps", "cyc/pkt", "new conns M/s"
        );
        for &n in &spec.sweep_rules {
            eprintln!("bench: sweep rules {n}");
            let hit = firewall_point(
                format!("swr{n}"),
                vec![
                    ("--flows", spec.flows.to_string()),
                    ("--rules", n.to_string()),
                ],
            );
            let new = firewall_point(
                format!("swrn{n}"),
                vec![
                    ("--flows", spec.new_connections.to_string()),
                    ("--rules", n.to_string()),
                    ("--new-connections", String::new()),
                ],
            );
            let _ = writeln!(
                out,
                "{:>8} {:>14.2} {:>12.0} {:>18.3}",
                n,
                hit.as_ref().map_or(f64::NAN, |v| v.rx_mpps),
                hit.as_ref().map_or(f64::NAN, |v| v.cycles_per_packet),
                new.as_ref().map_or(f64::NAN, |v| v.inserts_per_s / 1e6)
            );
        }
    }
    if !spec.sweep_workers.is_empty() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let _ = writeln!(
            out,
            "\nsweep: workers ({} flows, {} rules; {cpus} CPUs here)",
            spec.flows, spec.rules
        );
        for &w in &spec.sweep_workers {
            if w > cpus.saturating_sub(1).max(1) {
                let _ = writeln!(
                    out,
                    "{w:>4} workers: not measured (this machine has {cpus} CPUs: one is the main/sync core's)"
                );
                continue;
            }
            eprintln!("bench: sweep workers {w}");
            let cores: Vec<String> = (1..=w).map(|c| c.to_string()).collect();
            let mut cmd_args = vec![
                ("--flows", spec.flows.to_string()),
                ("--rules", spec.rules.to_string()),
                ("--workers", w.to_string()),
            ];
            cmd_args.push(("--cores", cores.join(",")));
            let r = firewall_point(format!("sww{w}"), cmd_args);
            let _ = match r {
                Ok(v) => writeln!(
                    out,
                    "{w:>4} workers: {:.2} Mpps, {:.0} cycles/pkt",
                    v.rx_mpps, v.cycles_per_packet
                ),
                Err(e) => writeln!(out, "{w:>4} workers: error: {e}"),
            };
        }
    }
    Ok(out)
}

/// A point of the flows sweep: flows, ceiling, router and firewall Mpps.
type Point = (usize, f64, f64, f64);
/// A line of the plot: its legend, colour and value at a point.
type Series = (&'static str, &'static str, fn(&Point) -> f64);

/// An SVG line plot of Mpps against flows (log scale), written by hand.
fn write_plot(path: &Path, points: &[Point]) -> std::io::Result<()> {
    let (w, h, left, bottom, top, right) = (720.0, 420.0, 70.0, 60.0, 40.0, 180.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let ymax = points
        .iter()
        .flat_map(|p| [p.1, p.2, p.3])
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.1;
    let lx: Vec<f64> = points.iter().map(|p| (p.0.max(1) as f64).log2()).collect();
    let (xmin, xmax) = (
        lx.iter().copied().fold(f64::INFINITY, f64::min),
        lx.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let span = (xmax - xmin).max(1.0);
    let x = |v: f64| left + (v - xmin) / span * pw;
    let y = |v: f64| top + ph - v / ymax * ph;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="14">Mpps against flows (1 lcore, net_pcap replay, 64 B)</text>"#,
        left
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>"#,
        top + ph,
        left + pw,
        top + ph,
        top + ph
    );
    for i in 0..=5 {
        let v = ymax * f64::from(i) / 5.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{yy}" x2="{}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.1}</text>"##,
            left + pw,
            left - 6.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    for (p, lv) in points.iter().zip(&lx) {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x(*lv),
            top + ph + 18.0,
            p.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">flows (log scale)</text><text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">Mpps</text>"#,
        left + pw / 2.0,
        h - 16.0,
        top + ph / 2.0,
        top + ph / 2.0
    );
    let series: [Series; 3] = [
        ("testpmd io (ceiling)", "#555555", |p| p.1),
        ("rampart, no rules", "#1f77b4", |p| p.2),
        ("rampart stateful", "#d62728", |p| p.3),
    ];
    for (k, (name, colour, get)) in series.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .zip(&lx)
            .filter(|(p, _)| get(p).is_finite())
            .map(|(p, lv)| format!("{:.1},{:.1}", x(*lv), y(get(p))))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for pt in &pts {
            let mut it = pt.split(',');
            let (cx, cy) = (it.next().unwrap_or("0"), it.next().unwrap_or("0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>"#
            );
        }
        let ly = top + 20.0 + 20.0 * k as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            left + pw + 10.0,
            left + pw + 30.0,
            left + pw + 35.0,
            ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)
}
