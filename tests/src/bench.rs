//! What the benchmark binaries (`tests/benches/`) share: a report of
//! figures, each optionally beside its baseline from the same run and the
//! target it is held to, printed as a Markdown table and as JSON and written
//! to `target/bench/<name>.json`.
//!
//! Absolute times on a shared two-core machine are noisy; a ratio between
//! two figures measured in the same run is not, so every figure that has a
//! natural baseline carries it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit (`events/s`, `ms`, `MiB`).
    pub unit: String,
    /// The same measure taken differently in the same run, and its label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// `value / baseline.value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The target the figure is held to, as the issue states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Whether the value meets its target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

/// A baseline figure.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What it is (`native`, `one transaction per event`).
    pub label: String,
    /// Its value, in the figure's unit.
    pub value: f64,
}

/// A target: the value must be at least or at most this.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// At least.
    AtLeast(f64),
    /// At most.
    AtMost(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Self::AtLeast(t) => value >= t,
            Self::AtMost(t) => value <= t,
        }
    }

    fn text(self) -> String {
        match self {
            Self::AtLeast(t) => format!("≥ {}", number(t)),
            Self::AtMost(t) => format!("≤ {}", number(t)),
        }
    }
}

/// The figures of one benchmark binary.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The benchmark (`ingest`, `mapping`, `scale`).
    pub bench: String,
    /// How it was run: sizes, loads, the machine's cores.
    pub setup: Vec<(String, String)>,
    /// The figures, in the order they were measured.
    pub figures: Vec<Figure>,
}

impl Report {
    /// An empty report for `bench`.
    pub fn new(bench: &str) -> Self {
        let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        Self {
            bench: bench.to_owned(),
            setup: vec![("cores".to_owned(), cores.to_string())],
            figures: Vec::new(),
        }
    }

    /// Records how the benchmark was run.
    pub fn setup(&mut self, key: &str, value: impl ToString) {
        self.setup.push((key.to_owned(), value.to_string()));
    }

    /// Adds a figure without a baseline and returns it for
    /// [`Self::against`] and [`Self::target`].
    pub fn figure(&mut self, name: &str, value: f64, unit: &str) -> &mut Figure {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            ratio: None,
            target: None,
            met: None,
        });
        let last = self.figures.len() - 1;
        &mut self.figures[last]
    }

    /// The report as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let setup = self
            .setup
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "{} ({setup})\n", self.bench);
        let _ = writeln!(out, "| figure | value | baseline | ratio | target |");
        let _ = writeln!(out, "|---|---:|---|---:|---|");
        for f in &self.figures {
            let baseline = f.baseline.as_ref().map_or(String::new(), |b| {
                format!("{} {}: {}", number(b.value), f.unit, b.label)
            });
            let ratio = f.ratio.map_or(String::new(), |r| format!("{r:.2}x"));
            let target = match (f.target, f.met) {
                (Some(t), Some(met)) => {
                    format!(
                        "{} {}: {}",
                        t.text(),
                        f.unit,
                        if met { "met" } else { "not met" }
                    )
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} {} | {baseline} | {ratio} | {target} |",
                f.name,
                number(f.value),
                f.unit
            );
        }
        out
    }

    /// Prints the table and the JSON, and writes the JSON to
    /// `target/bench/<bench>.json`.
    pub fn publish(&self) -> anyhow::Result<PathBuf> {
        let json = serde_json::to_string_pretty(self)?;
        let dir = crate::repo_root().join("target/bench");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.bench));
        std::fs::write(&path, &json)?;
        let mut stdout = std::io::stdout().lock();
        use std::io::Write as _;
        writeln!(stdout, "{}", self.table())?;
        writeln!(stdout, "{json}")?;
        writeln!(stdout, "written to {}", path.display())?;
        Ok(path)
    }
}

impl Figure {
    /// Sets the baseline the figure is compared with; the ratio is
    /// `value / baseline`.
    pub fn against(&mut self, label: &str, baseline: f64) -> &mut Self {
        self.baseline = Some(Baseline {
            label: label.to_owned(),
            value: baseline,
        });
        self.ratio = (baseline != 0.0).then(|| self.value / baseline);
        self
    }

    /// Sets the target the figure is held to.
    pub fn target(&mut self, target: Target) -> &mut Self {
        self.met = Some(target.met(self.value));
        self.target = Some(target);
        self
    }
}

/// Latency percentiles of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted in place); `None` when empty.
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank.
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Some(Self {
            p50: at(0.50),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

/// Milliseconds as a float, for figures.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The resident and peak resident memory of a process, in MiB, from
/// `/proc/PID/status`.
pub fn rss_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow::anyhow!("no {name} in /proc/{pid}/status"))?;
        let kib: f64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A number with as many decimals as its size needs.
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let whole = format!("{:.0}", v);
        group_thousands(&whole)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn group_thousands(digits: &str) -> String {
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits), |rest| ("-", rest));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut samples).unwrap();
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
        assert!(Percentiles::of(&mut []).is_none());
    }

    #[test]
    fn figures_carry_their_ratio_and_whether_they_meet_their_target() {
        let mut report = Report::new("t");
        report
            .figure("answer p99", 60.0, "ms")
            .against("unbatched", 40.0)
            .target(Target::AtMost(50.0));
        report
            .figure("stored", 12_500.0, "events/s")
            .target(Target::AtLeast(10_000.0));
        let (slow, fast) = (&report.figures[0], &report.figures[1]);
        assert_eq!(slow.ratio, Some(1.5));
        assert_eq!(slow.met, Some(false));
        assert_eq!(fast.met, Some(true));
        let table = report.table();
        assert!(
            table.contains(
                "| answer p99 | 60.0 ms | 40.0 ms: unbatched | 1.50x | ≤ 50.0 ms: not met |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| stored | 12,500 events/s |  |  | ≥ 10,000 events/s: met |"),
            "{table}"
        );
    }

    #[test]
    fn large_numbers_are_grouped() {
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(-4321.0), "-4,321");
        assert_eq!(number(12.345), "12.3");
    }
}
