//! What happened during a failover, in order: the harness's own marks (streams started,
//! master killed, ...) and what the nodes logged (CARP transitions, bulk updates), read back
//! from their logs, which carry RFC 3339 UTC times.

use std::fmt;

use crate::Host;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// Who: `harness`, `fw1` or `fw2`.
    pub who: String,
    /// What happened.
    pub what: String,
}

/// Seconds since the Unix epoch now (the clock the nodes' logs use).
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A mark by the harness, now.
pub fn harness(what: impl Into<String>) -> Mark {
    Mark {
        at: epoch_now(),
        who: "harness".into(),
        what: what.into(),
    }
}

/// The events of `fw`'s log worth a timeline line: the first VIP's CARP transitions and the
/// node's start, stop and bulk update.
pub fn from_log(fw: Host, log: &str) -> Vec<Mark> {
    log.lines()
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(' ')?;
            let what = describe(rest)?;
            Some(Mark {
                at: parse_rfc3339(stamp)?,
                who: fw.name().to_string(),
                what,
            })
        })
        .collect()
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let value = line.get(start..)?.split(' ').next()?;
    Some(value.trim_matches('"'))
}

fn describe(line: &str) -> Option<String> {
    if line.contains("CARP transition") {
        // Every VIP moves together in the lab; the first stands for all.
        if field(line, "vhid")? != "1" {
            return None;
        }
        let (from, to, reason) = (
            field(line, "from")?,
            field(line, "to")?,
            field(line, "reason")?,
        );
        Some(format!("CARP {from} -> {to} ({reason})"))
    } else if line.contains("pfsync bulk update done") {
        Some(format!(
            "bulk update done: {} states in {} ms",
            field(line, "states")?,
            field(line, "took_ms")?
        ))
    } else if line.contains("pfsync bulk update failed") {
        Some("bulk update failed".into())
    } else if line.contains("rampart: starting") {
        Some("started".into())
    } else if line.contains("rampart: stopping") {
        Some("stopping (SIGTERM)".into())
    } else {
        None
    }
}

/// `2026-11-22T13:41:06.843995Z` as seconds since the epoch (UTC only, as the nodes log).
pub fn parse_rfc3339(stamp: &str) -> Option<f64> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + min * 60) as f64 + sec)
}

/// Marks in time order, printed relative to the first.
#[derive(Debug, Clone, Default)]
pub struct Timeline(pub Vec<Mark>);

impl Timeline {
    /// Orders `marks` by time.
    pub fn new(mut marks: Vec<Mark>) -> Timeline {
        marks.sort_by(|a, b| a.at.total_cmp(&b.at));
        Timeline(marks)
    }

    /// Keeps what happened from `from` on (epoch seconds).
    pub fn since(self, from: f64) -> Timeline {
        Timeline(self.0.into_iter().filter(|m| m.at >= from).collect())
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(t0) = self.0.first().map(|m| m.at) else {
            return writeln!(f, "  (nothing happened)");
        };
        for m in &self.0 {
            writeln!(f, "  {:>8.3} s  {:<7}  {}", m.at - t0, m.who, m.what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_match_the_epoch() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
        assert_eq!(
            parse_rfc3339("2026-11-22T13:41:06.25Z"),
            Some(1_795_354_866.25)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22 13:41:06Z"), None);
    }

    #[test]
    fn log_lines_become_marks() {
        let log = "2026-11-22T13:41:06.843995Z  INFO rampart::carp: CARP transition vhid=1 \
                   interface=lan from=BACKUP to=MASTER reason=\"master_down_timer\"\n\
                   2026-11-22T13:41:06.844125Z  INFO rampart::carp: CARP transition vhid=2 \
                   interface=wan from=BACKUP to=MASTER reason=\"master_down_timer\"\n\
                   2026-11-22T13:41:07.000000Z  INFO rampart_sync::lcore: pfsync bulk update \
                   done states=400 took_ms=812\n\
                   port lan rx 5\n";
        let marks = from_log(Host::Fw2, log);
        let what: Vec<&str> = marks.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "CARP BACKUP -> MASTER (master_down_timer)",
                "bulk update done: 400 states in 812 ms"
            ]
        );
        assert!(marks.iter().all(|m| m.who == "fw2"));
    }
}
