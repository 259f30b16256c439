//! Medians and ranges over runs or intervals.

use serde::{Deserialize, Serialize};

/// Median, minimum and maximum of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Values.
    pub n: usize,
}

/// Removes the empty runtime directory EAL leaves for `file_prefix` (`/var/run/dpdk/<prefix>`
/// for root, `$XDG_RUNTIME_DIR/dpdk/<prefix>` otherwise), even with `--in-memory`.
pub fn remove_eal_runtime_dir(file_prefix: &str) {
    if file_prefix.is_empty() || file_prefix.contains('/') {
        return;
    }
    let mut roots = vec![std::path::PathBuf::from("/var/run/dpdk")];
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
        roots.push(std::path::PathBuf::from(xdg).join("dpdk"));
    }
    for root in roots {
        let _ = std::fs::remove_dir_all(root.join(file_prefix));
    }
}

/// The summary of `values` (all zero for an empty sample); NaNs are ignored.
pub fn summarize(values: &[f64]) -> Summary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return Summary::default();
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Summary {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(summarize(&[3.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        let s = summarize(&[5.0, f64::NAN, 1.0]);
        assert_eq!((s.min, s.max, s.n), (1.0, 5.0, 2));
        assert_eq!(summarize(&[]), Summary::default());
    }
}
