//! The steps of each task, in the order they run; [`CI`] is exactly what CI runs.
//!
//! A heavier suite (`e2e`, `worker`, `bench`, `fuzz`) adds its step functions here, a list of
//! its own for its subcommand, and the same steps at the end of [`CI`] once CI should run them.

use std::path::Path;

use anyhow::Context as _;

use crate::suite::{Outcome, Step, cargo, command_line, run_command, succeeds_quietly};
use crate::{publish, worker};

/// What CI runs, in order.
pub(crate) const CI: &[Step] = &[
    Step::new("fmt", fmt_check),
    Step::new("clippy", clippy),
    Step::new("tests", tests),
    Step::new("e2e", crate::e2e::run),
    Step::new("docs", docs),
    Step::new("deny", deny),
    Step::new("deny advisories", deny_advisories),
    Step::new("package", publish::package),
    Step::new("msrv", publish::msrv),
    Step::new("wasm32 check", worker::wasm_check),
    Step::new("worker build", worker::build),
    Step::new("worker e2e", worker::e2e),
];

/// `cargo xtask worker`.
pub(crate) const WORKER: &[Step] = &[
    Step::new("wasm32 check", worker::wasm_check),
    Step::new("worker build", worker::build),
    Step::new("worker e2e", worker::e2e),
];

/// `cargo xtask e2e`.
pub(crate) const E2E: &[Step] = &[Step::new("e2e", crate::e2e::run)];

/// `cargo xtask fmt`.
pub(crate) const FMT: &[Step] = &[Step::new("fmt", fmt_write)];

/// `cargo xtask fuzz`: every fuzz target for a bounded time.
pub(crate) const FUZZ: &[Step] = &[Step::new("fuzz www_authenticate", fuzz_www_authenticate)];

/// How long each fuzz target runs unless `SCOPEUP_FUZZ_SECONDS` says otherwise.
const FUZZ_SECONDS: u64 = 60;

/// How many lines of a skipped step's output to show.
const TAIL_LINES: usize = 15;

fn fmt_check(root: &Path) -> anyhow::Result<Outcome> {
    run_command(cargo(root, "fmt --all -- --check"))?;
    Ok(Outcome::Passed)
}

fn fmt_write(root: &Path) -> anyhow::Result<Outcome> {
    run_command(cargo(root, "fmt --all"))?;
    Ok(Outcome::Passed)
}

fn clippy(root: &Path) -> anyhow::Result<Outcome> {
    run_command(cargo(
        root,
        "clippy --workspace --all-targets --locked -- -D warnings",
    ))?;
    Ok(Outcome::Passed)
}

/// The test suite with nextest when it is installed, else with `cargo test`; then the doctests,
/// which nextest does not run.
fn tests(root: &Path) -> anyhow::Result<Outcome> {
    let has_nextest = succeeds_quietly(cargo(root, "nextest --version"));
    let suite = if has_nextest {
        cargo(root, "nextest run --workspace --locked --no-fail-fast")
    } else {
        println!("cargo-nextest is not installed: running the tests with `cargo test`");
        cargo(root, "test --workspace --locked --no-fail-fast")
    };
    run_command(suite)?;

    run_command(cargo(root, "test --workspace --doc --locked"))?;
    Ok(Outcome::Passed)
}

fn docs(root: &Path) -> anyhow::Result<Outcome> {
    let mut doc = cargo(root, "doc --workspace --no-deps --locked");
    doc.env("RUSTDOCFLAGS", "-D warnings");
    run_command(doc)?;
    Ok(Outcome::Passed)
}

/// The checks that need nothing but the lockfile and `deny.toml`.
fn deny(root: &Path) -> anyhow::Result<Outcome> {
    ensure_cargo_deny(root)?;
    run_command(cargo(root, "deny --locked check bans licenses sources"))?;
    Ok(Outcome::Passed)
}

/// The advisories check, which must fetch the RustSec database from GitHub first. Where that
/// fetch fails the step is skipped rather than failed; an advisory that is found still fails it.
fn deny_advisories(root: &Path) -> anyhow::Result<Outcome> {
    ensure_cargo_deny(root)?;

    // The output is captured, to tell an unreachable database from a finding.
    let mut check = cargo(root, "deny --locked check advisories");
    let line = command_line(&check);
    println!("==> {line}");
    let output = check
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    if output.status.success() {
        print!("{stdout}{stderr}");
        return Ok(Outcome::Passed);
    }
    if !advisory_database_unreachable(&stderr) {
        print!("{stdout}{stderr}");
        anyhow::bail!("`{line}` exited with {}", output.status);
    }

    let lines: Vec<&str> = stderr.lines().collect();
    let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    println!("{}", tail.join("\n"));
    Ok(Outcome::Skipped {
        reason: "advisories skipped: the advisory database could not be fetched from this machine",
    })
}

/// Installs cargo-deny when `cargo deny --version` does not run.
fn ensure_cargo_deny(root: &Path) -> anyhow::Result<()> {
    if succeeds_quietly(cargo(root, "deny --version")) {
        return Ok(());
    }

    println!("cargo-deny is not installed: installing it now, which takes several minutes");
    run_command(cargo(root, "install cargo-deny --locked --version 0.20.2"))
}

/// Runs the `www_authenticate` fuzz target with libFuzzer for a bounded time, where a nightly
/// toolchain exists (installing cargo-fuzz when it is missing). Without nightly, libFuzzer
/// cannot run: the same parser is exercised by its property tests with many more cases instead,
/// and the step says so and is marked skipped.
fn fuzz_www_authenticate(root: &Path) -> anyhow::Result<Outcome> {
    let seconds = std::env::var("SCOPEUP_FUZZ_SECONDS")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(FUZZ_SECONDS);

    if !succeeds_quietly(cargo(root, "+nightly --version")) {
        println!(
            "no nightly toolchain: libFuzzer cannot run here; running the parser's property \
             tests (proptest, no libFuzzer) with 20000 cases instead"
        );
        let mut properties = cargo(
            root,
            "test --locked --release -p scopeup-core www_authenticate::tests::properties",
        );
        properties.env("PROPTEST_CASES", "20000");
        run_command(properties)?;
        return Ok(Outcome::Skipped {
            reason: "fuzz: libFuzzer skipped (no nightly toolchain); the property tests ran instead",
        });
    }

    if !succeeds_quietly(cargo(root, "fuzz --version")) {
        println!("cargo-fuzz is not installed: installing it now, which takes a few minutes");
        run_command(cargo(root, "install cargo-fuzz --locked"))?;
    }
    println!("fuzzing with libFuzzer (cargo +nightly fuzz) for {seconds} seconds");
    run_command(cargo(
        root,
        &format!("+nightly fuzz run --fuzz-dir fuzz www_authenticate -- -max_total_time={seconds}"),
    ))?;
    Ok(Outcome::Passed)
}

/// Whether cargo-deny's error output says it could not fetch or open its advisory database, as
/// opposed to reporting advisories.
fn advisory_database_unreachable(stderr: &str) -> bool {
    stderr.contains("advisory database")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_database_fetch_is_recognised() {
        let stderr = "2026-01-01 00:00:00 [ERROR] failed to fetch advisory database \
                      https://github.com/rustsec/advisory-db with cli: failed to connect";

        assert!(advisory_database_unreachable(stderr));
    }

    #[test]
    fn advisory_finding_is_not_mistaken_for_an_unreachable_database() {
        let stderr = "error[vulnerability]: Timing variability in `curve25519-dalek`\n\
                      advisories FAILED";

        assert!(!advisory_database_unreachable(stderr));
    }
}
