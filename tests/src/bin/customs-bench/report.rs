//! The report: every figure beside its ceiling and the ratio, printed as it is measured
//! and collected into Markdown with the machine, the date and the command.

use std::fmt::Write as _;
use std::time::Duration;

pub struct Report {
    quick: bool,
    header: String,
    sections: Vec<Section>,
    total: Option<Duration>,
}

struct Section {
    title: String,
    setup: Vec<String>,
    rows: Vec<Row>,
}

/// One measure: what, the figure, the ceiling it is compared with, and the ratio.
pub struct Row {
    pub measure: String,
    pub figure: String,
    pub ceiling: String,
    pub ratio: String,
}

impl Row {
    pub fn new(
        measure: impl Into<String>,
        figure: impl Into<String>,
        ceiling: impl Into<String>,
        ratio: impl Into<String>,
    ) -> Row {
        Row {
            measure: measure.into(),
            figure: figure.into(),
            ceiling: ceiling.into(),
            ratio: ratio.into(),
        }
    }
}

impl Report {
    pub fn new(quick: bool) -> Report {
        Report {
            quick,
            header: machine_header(quick),
            sections: Vec::new(),
            total: None,
        }
    }

    pub fn header(&self) -> &str {
        &self.header
    }

    /// Starts a section: a benchmark and the lines that describe its setup.
    pub fn section(&mut self, title: &str, setup: &[String]) {
        println!("\n## {title}");
        for line in setup {
            println!("- {line}");
        }
        self.sections.push(Section {
            title: title.into(),
            setup: setup.to_vec(),
            rows: Vec::new(),
        });
    }

    /// Adds a setup line to the current section (something learnt while running).
    pub fn note(&mut self, line: impl Into<String>) {
        let line = line.into();
        println!("- {line}");
        if let Some(section) = self.sections.last_mut() {
            section.setup.push(line);
        }
    }

    pub fn row(&mut self, row: Row) {
        println!(
            "  {}: {}  |  ceiling: {}  |  ratio: {}",
            row.measure, row.figure, row.ceiling, row.ratio
        );
        if let Some(section) = self.sections.last_mut() {
            section.rows.push(row);
        }
    }

    pub fn finish(&mut self, total: Duration) {
        self.total = Some(total);
        println!("\nall benchmarks ran in {:.0} s", total.as_secs_f64());
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header);
        if self.quick {
            let _ = writeln!(
                out,
                "\n_`--quick`: every benchmark small; a smoke test, not figures to compare._"
            );
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n### {}\n", section.title);
            for line in &section.setup {
                let _ = writeln!(out, "- {line}");
            }
            let _ = writeln!(out, "\n| measure | result | ceiling (same run) | ratio |");
            let _ = writeln!(out, "|---|---|---|---|");
            for row in &section.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    row.measure, row.figure, row.ceiling, row.ratio
                );
            }
        }
        if let Some(total) = self.total {
            let _ = writeln!(out, "\nWhole run: {:.0} s.", total.as_secs_f64());
        }
        out
    }
}

/// The machine, the date, the build and the exact command.
fn machine_header(quick: bool) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or("?".into(), |kib| format!("{:.0}", kib / 1024.0 / 1024.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    let now_ms = customs_node::clock::now_ms();
    let date = customs_protocol::Date::from_unix_ms(now_ms);
    let profile = if cfg!(debug_assertions) {
        "debug (figures not comparable)"
    } else {
        "release"
    };
    let command: Vec<String> = std::env::args().collect();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "# customs-bench{}\n\n- Machine: {cores} cores, {cpu}, {memory_gib} GiB, Linux {kernel}\n- Date: {date}\n- Build: {profile}, commit {commit}\n- Command: `{}`",
        if quick { " (--quick)" } else { "" },
        command.join(" ")
    )
}

/// Entries (or anything) per second.
pub fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

pub use customs_tests::percentile;

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A count with thousands separators.
pub fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn ratio(figure: f64, ceiling: f64) -> String {
    format!("{:.2}", figure / ceiling.max(1e-12))
}

/// The `q` quantile (0 to 1) of what a Prometheus histogram counted between two
/// readings of its buckets (`(le, cumulative count)`, +Inf last), interpolated
/// within its bucket as Prometheus's `histogram_quantile` does; `None` when nothing
/// was counted in between.
pub fn histogram_quantile(q: f64, before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<Duration> {
    let counted: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c);
            (le, count - earlier)
        })
        .collect();
    let total = counted.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in &counted {
        if count >= rank {
            // Above the last finite bound nothing tells how far: that bound.
            if le.is_infinite() {
                return Some(Duration::from_secs_f64(lower));
            }
            let share = (rank - below) / (count - below).max(1e-12);
            return Some(Duration::from_secs_f64(lower + (le - lower) * share));
        }
        (lower, below) = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_histogram_between_two_readings() {
        let before = [(0.001, 10.0), (0.002, 10.0), (f64::INFINITY, 10.0)];
        // 100 more under 1 ms, 100 between 1 and 2 ms, 2 above.
        let after = [(0.001, 110.0), (0.002, 210.0), (f64::INFINITY, 212.0)];
        let q = |q| histogram_quantile(q, &before, &after).expect("counted");
        // Rank 101 of 202: the first of the second bucket's hundred.
        assert!(
            (q(0.5).as_secs_f64() - 0.00101).abs() < 1e-9,
            "{:?}",
            q(0.5)
        );
        assert!((q(0.25).as_secs_f64() - 0.000505).abs() < 1e-9);
        assert_eq!(
            q(1.0),
            Duration::from_millis(2),
            "above the last bound: that bound"
        );
        assert_eq!(histogram_quantile(0.5, &after, &after), None);
    }

    #[test]
    fn percentiles_and_numbers() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
