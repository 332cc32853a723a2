//! The ratio table: each benchmark beside the baseline measured in the same run, read back from
//! the estimates criterion wrote.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// One line of the table: a benchmark, its baseline, and what the baseline is.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    /// What is measured, as the table shows it.
    pub label: &'static str,
    /// The criterion id of the measured benchmark (`group/function`).
    pub measured: &'static str,
    /// The criterion id of its baseline.
    pub baseline: &'static str,
    /// What the baseline does, in a few words.
    pub baseline_is: &'static str,
}

/// Where criterion keeps its results for these benchmarks.
pub fn output_directory() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => PathBuf::from(home),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"),
    }
}

/// The mean time of a benchmark, in nanoseconds, from the estimates criterion wrote for it in
/// the last run.
pub fn mean_nanos(directory: &Path, id: &str) -> anyhow::Result<f64> {
    let path = directory.join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (did the benchmark run?)", path.display()))?;
    let estimates: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    estimates["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("no mean in {}", path.display()))
}

/// The table of `comparisons` as text, with times from `directory`. A comparison whose
/// benchmark did not run (filtered out on the command line) is left out.
pub fn ratio_table(directory: &Path, comparisons: &[Comparison]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<44} {:>11} {:>11} {:>8}  baseline",
        "benchmark", "scopeup", "baseline", "ratio"
    );
    for comparison in comparisons {
        let (Ok(measured), Ok(baseline)) = (
            mean_nanos(directory, comparison.measured),
            mean_nanos(directory, comparison.baseline),
        ) else {
            continue;
        };
        let _ = writeln!(
            table,
            "{:<44} {:>11} {:>11} {:>7.2}×  {}",
            comparison.label,
            duration(measured),
            duration(baseline),
            measured / baseline,
            comparison.baseline_is,
        );
    }
    table
}

/// A time in nanoseconds with a readable unit.
pub fn duration(nanos: f64) -> String {
    match nanos {
        n if n < 1_000.0 => format!("{n:.0} ns"),
        n if n < 1_000_000.0 => format!("{:.2} µs", n / 1_000.0),
        n => format!("{:.2} ms", n / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_divides_each_mean_by_its_baselines() {
        let directory = tempfile::tempdir().unwrap();
        for (id, mean) in [("group/measured", 900.0), ("group/baseline", 300.0)] {
            let path = directory.path().join(id).join("new");
            std::fs::create_dir_all(&path).unwrap();
            let estimates = serde_json::json!({ "mean": { "point_estimate": mean } });
            std::fs::write(path.join("estimates.json"), estimates.to_string()).unwrap();
        }
        let comparisons = [
            Comparison {
                label: "measured",
                measured: "group/measured",
                baseline: "group/baseline",
                baseline_is: "the cheapest way",
            },
            Comparison {
                label: "not run",
                measured: "group/absent",
                baseline: "group/baseline",
                baseline_is: "",
            },
        ];

        let table = ratio_table(directory.path(), &comparisons);

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "{table}");
        assert!(lines[1].starts_with("measured"), "{table}");
        assert!(lines[1].contains("900 ns"), "{table}");
        assert!(lines[1].contains("300 ns"), "{table}");
        assert!(lines[1].contains("3.00×"), "{table}");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(812.4), "812 ns");
        assert_eq!(duration(1_234.0), "1.23 µs");
        assert_eq!(duration(2_500_000.0), "2.50 ms");
    }
}
