//! `cargo xtask bench`: the benchmarks of the `scopeup-bench` crate in one run. The criterion
//! benches of the hot path with their ratio table, the memory of 100,000 pending elicitations
//! and grants, and the load run of the release axum example with and without scopeup.
//!
//! What the figures mean, and a recorded run, are in BENCHMARKS.md.

use std::path::Path;
use std::process::Command;

use crate::suite::{Outcome, Step, cargo, run_command};

/// `cargo xtask bench`.
pub(crate) const BENCH: &[Step] = &[
    Step::new("build", build),
    Step::new("criterion", criterion),
    Step::new("memory", memory),
    Step::new("load", load),
];

/// Each criterion benchmark's warm-up and measurement, in seconds: short enough that the whole
/// task stays within minutes, long enough for a stable mean on a quiet machine.
const WARM_UP_SECONDS: &str = "0.5";
const MEASUREMENT_SECONDS: &str = "2";

fn build(root: &Path) -> anyhow::Result<Outcome> {
    run_command(cargo(
        root,
        "build --release --locked -p axum-server -p scopeup-bench --bins",
    ))?;
    Ok(Outcome::Passed)
}

/// The criterion benches; they start a throwaway `redis-server` for the Redis store.
fn criterion(root: &Path) -> anyhow::Result<Outcome> {
    let mut bench = cargo(
        root,
        "bench --locked -p scopeup-bench --bench hot_path -- --noplot",
    );
    bench.args(["--warm-up-time", WARM_UP_SECONDS]);
    bench.args(["--measurement-time", MEASUREMENT_SECONDS]);
    run_command(bench)?;
    Ok(Outcome::Passed)
}

fn memory(root: &Path) -> anyhow::Result<Outcome> {
    let mut memory = Command::new(root.join("target/release/memory"));
    memory.args(["--count", "100000"]).current_dir(root);
    run_command(memory)?;
    Ok(Outcome::Passed)
}

fn load(root: &Path) -> anyhow::Result<Outcome> {
    let mut load = Command::new(root.join("target/release/load"));
    load.arg("--server")
        .arg(root.join("target/release/axum-server"))
        .current_dir(root);
    run_command(load)?;
    Ok(Outcome::Passed)
}
