//! Prometheus text exposition (format 0.0.4) and the small HTTP endpoint that serves it
//! ([`http`]). [`Exposition`] keeps each family's samples together under one `# HELP` and
//! `# TYPE`, escapes label values and refuses names Prometheus would not accept.

pub mod http;

use std::collections::HashSet;
use std::fmt::Write;

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic; the name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    seen: HashSet<String>,
}

/// The family whose samples are being written.
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts family `name`; its samples follow through the returned [`Family`]. A name
    /// already written, or not a valid metric name, gets no samples (they are skipped), so a
    /// mistake never produces an exposition a scraper refuses.
    pub fn family<'a>(&'a mut self, name: &'a str, kind: MetricType, help: &str) -> Family<'a> {
        let fresh = valid_name(name) && self.seen.insert(name.to_owned());
        if fresh {
            let kind = match kind {
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
            };
            let help = help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(self.out, "# HELP {name} {help}");
            let _ = writeln!(self.out, "# TYPE {name} {kind}");
            Family {
                out: &mut self.out,
                name,
            }
        } else {
            Family {
                out: &mut self.out,
                name: "",
            }
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// One sample with `labels` (name, value).
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        if self.name.is_empty() {
            return self;
        }
        self.out.push_str(self.name);
        let labels: Vec<&(&str, &str)> = labels.iter().filter(|(k, _)| valid_label(k)).collect();
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
        self
    }

    /// One sample of an integer counter or gauge.
    pub fn int(&mut self, labels: &[(&str, &str)], value: u64) -> &mut Self {
        // Exact up to 2^53; counters beyond that lose their low bits, as in every client.
        self.sample(labels, value as f64)
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn test_families_and_escaping() {
        let mut e = Exposition::new();
        e.family("a_total", MetricType::Counter, "A.\nsecond line")
            .int(&[("port", "lan")], 3)
            .int(&[("port", "w\"a\\n\n")], 4);
        e.family("b", MetricType::Gauge, "B").sample(&[], 0.25);
        e.family("a_total", MetricType::Counter, "again")
            .int(&[], 9);
        e.family("9bad", MetricType::Gauge, "bad").int(&[], 1);
        e.family("c", MetricType::Gauge, "C")
            .sample(&[("__x", "1"), ("ok", "1")], f64::NAN);
        assert_eq!(
            e.finish(),
            "# HELP a_total A.\\nsecond line\n# TYPE a_total counter\n\
             a_total{port=\"lan\"} 3\na_total{port=\"w\\\"a\\\\n\\n\"} 4\n\
             # HELP b B\n# TYPE b gauge\nb 0.25\n\
             # HELP c C\n# TYPE c gauge\nc{ok=\"1\"} NaN\n"
        );
    }
}
