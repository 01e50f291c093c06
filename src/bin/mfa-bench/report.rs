//! Results: exact latency percentiles (every sample kept and sorted), errors by kind, text and
//! JSON.

use std::collections::BTreeMap;

use serde::Serialize;

/// Latency samples of one route, in nanoseconds.
#[derive(Default, Clone)]
pub struct Samples(pub Vec<u64>);

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Nearest-rank percentile of sorted samples: the smallest sample with at least `p` % of the
/// samples at or below it.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Samples {
    pub fn summary(&mut self) -> Latency {
        self.0.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        let sum: u128 = self.0.iter().map(|&n| n as u128).sum();
        Latency {
            count: self.0.len() as u64,
            p50_ms: ms(percentile(&self.0, 50.0)),
            p90_ms: ms(percentile(&self.0, 90.0)),
            p99_ms: ms(percentile(&self.0, 99.0)),
            max_ms: ms(self.0.last().copied().unwrap_or(0)),
            mean_ms: if self.0.is_empty() {
                0.0
            } else {
                sum as f64 / self.0.len() as f64 / 1e6
            },
        }
    }
}

/// One measured run of a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub concurrency: usize,
    /// What the rate counts: "requests" or "flows".
    pub unit: String,
    /// Operations (requests or whole flows) started in the measured window and finished
    /// without error.
    pub ok: u64,
    /// Operations that failed (each counted once, by its first error).
    pub failed: u64,
    /// Measured window (warm-up excluded), seconds.
    pub seconds: f64,
    pub warmup_seconds: f64,
    /// `ok / seconds`.
    pub per_second: f64,
    /// Per route, and `flow` for a whole flow.
    pub latency: BTreeMap<String, Latency>,
    /// "ROUTE: KIND" -> count, e.g. "verify: status 400", "login: timeout".
    pub errors: BTreeMap<String, u64>,
    /// CPU seconds per operation of each process or thread group measured during the window
    /// (when known), in microseconds.
    pub cpu_us_per_op: BTreeMap<String, f64>,
    /// CPU cores in use by each of them during the window.
    pub cpu_cores: BTreeMap<String, f64>,
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} against {} at c={}: {} {} ok in {:.2} s (warm-up {:.1} s excluded) = {:.1} {}/s, {} failed\n",
            self.scenario,
            self.target,
            self.concurrency,
            self.ok,
            self.unit,
            self.seconds,
            self.warmup_seconds,
            self.per_second,
            self.unit,
            self.failed
        );
        out.push_str(&format!(
            "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9}   (ms)\n",
            "route", "count", "p50", "p90", "p99", "max"
        ));
        for (route, l) in &self.latency {
            out.push_str(&format!(
                "  {:<12} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>9.3}\n",
                route, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            ));
        }
        if self.errors.is_empty() {
            out.push_str("  errors: none\n");
        } else {
            for (kind, n) in &self.errors {
                out.push_str(&format!("  error {kind}: {n}\n"));
            }
        }
        for (who, us) in &self.cpu_us_per_op {
            out.push_str(&format!(
                "  cpu {who}: {us:.1} us per {}, {:.2} cores\n",
                self.unit.trim_end_matches('s'),
                self.cpu_cores.get(who).copied().unwrap_or(0.0)
            ));
        }
        out
    }
}

/// Median and spread of several figures.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        let median = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        }
    }

    /// "1234 (1200–1250)" with `decimals` decimals.
    pub fn show(&self, decimals: usize) -> String {
        if self.n == 0 {
            return "n/a".into();
        }
        if self.n == 1 {
            return format!("{:.*}", decimals, self.median);
        }
        format!(
            "{:.*} ({:.*}–{:.*})",
            decimals, self.median, decimals, self.min, decimals, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
    }

    #[test]
    fn spread() {
        let s = Spread::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    }
}
