//! Maintainer tasks for the scopeup workspace, run as `cargo xtask <task>`.
//!
//! Each task is an ordered list of steps (see [`steps`]); [`suite`] runs such a list, stops at
//! the first failure and ends with a summary table. `cargo xtask ci` is exactly what CI runs.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "xtask is a command-line tool: printing progress and results is its job"
)]

mod bench;
mod e2e;
mod publish;
mod steps;
mod suite;
#[cfg(test)]
mod tidy;
mod worker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Maintainer tasks for the scopeup workspace.
#[derive(Debug, Parser)]
#[command(bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// The tasks; each one maps to an ordered list of steps in [`steps`].
///
/// A heavier suite (`e2e`, `worker`, `bench`, `fuzz`) joins as a variant here with its own list
/// of steps, and as extra steps at the end of [`steps::CI`] once CI should run it.
#[derive(Debug, Subcommand)]
enum Task {
    /// Run exactly what CI runs, in order: fmt, clippy, tests, e2e, docs, cargo-deny, then the
    /// wasm32 check and the Worker example end to end in local workerd.
    Ci,
    /// Run the end-to-end suite: the example between a real OAuth server (oidc-provider), the
    /// official MCP SDK clients and headless Chromium.
    E2e,
    /// Format the whole workspace in place.
    Fmt,
    /// Package every library crate as crates.io would receive it, build each from its package,
    /// and check the declared MSRV where that toolchain is installed.
    PublishCheck,
    /// Fuzz the parsers of untrusted input for a bounded time (`SCOPEUP_FUZZ_SECONDS`, 60 by
    /// default) with cargo-fuzz on nightly, or run their property tests where nightly is missing.
    Fuzz,
    /// Build the Worker example for wasm32 and run it end to end in local workerd.
    Worker,
    /// Measure what scopeup costs: criterion benches of the hot path beside their baselines,
    /// the memory of 100,000 pending elicitations and grants, and the example under load with
    /// and without scopeup. See BENCHMARKS.md.
    Bench,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let steps = match cli.task {
        Task::Ci => steps::CI,
        Task::Fmt => steps::FMT,
        Task::E2e => steps::E2E,
        Task::PublishCheck => publish::PUBLISH_CHECK,
        Task::Fuzz => steps::FUZZ,
        Task::Worker => steps::WORKER,
        Task::Bench => bench::BENCH,
    };

    // The error is printed on one line, without the backtrace anyhow's `Debug` would add.
    let result = workspace_root().and_then(|root| suite::run(steps, &root));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the directory above this crate's manifest.
fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .context("xtask's manifest directory has no parent directory")?;
    Ok(root.to_path_buf())
}
