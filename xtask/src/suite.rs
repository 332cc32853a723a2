//! Running an ordered list of steps: child processes, timing, and the closing summary table.
//!
//! What each step runs is left to [`crate::steps`].

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

/// One named step of a task.
pub(crate) struct Step {
    /// The name shown in the summary table.
    name: &'static str,
    /// Runs the step from the workspace root; an error fails the step.
    run: fn(&Path) -> anyhow::Result<Outcome>,
}

impl Step {
    pub(crate) const fn new(name: &'static str, run: fn(&Path) -> anyhow::Result<Outcome>) -> Self {
        Self { name, run }
    }
}

/// How a step that did not fail ended.
pub(crate) enum Outcome {
    Passed,
    /// The step could not run on this machine, and that is not a failure.
    Skipped {
        reason: &'static str,
    },
}

/// Runs `steps` in order from `root`, stopping at the first failure, then prints a summary of
/// the steps that ran. Returns the failure, if any.
pub(crate) fn run(steps: &[Step], root: &Path) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut failure = None;

    for step in steps {
        let started = Instant::now();
        let result = (step.run)(root);
        let seconds = started.elapsed().as_secs_f64();

        let status = match result {
            Ok(Outcome::Passed) => "pass",
            Ok(Outcome::Skipped { reason }) => {
                println!("{reason}");
                notes.push(reason);
                "SKIPPED"
            }
            Err(error) => {
                failure = Some(error.context(format!("step `{}` failed", step.name)));
                "FAIL"
            }
        };
        rows.push((step.name, status, seconds));

        if failure.is_some() {
            break;
        }
    }

    print_summary(&rows);
    for note in notes {
        println!("{note}");
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A `cargo` command to be run from `root`, with `args` split at spaces (no argument of ours
/// contains one).
pub(crate) fn cargo(root: &Path, args: &str) -> Command {
    let mut command = Command::new("cargo");
    command.args(args.split_whitespace()).current_dir(root);
    command
}

/// Prints the command's header line, runs it with inherited stdio, and fails unless it exits
/// successfully.
pub(crate) fn run_command(mut command: Command) -> anyhow::Result<()> {
    let line = command_line(&command);
    println!("==> {line}");

    let status = command
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` exited with {status}");
    }
    Ok(())
}

/// Whether the command runs and exits successfully, with its output discarded: a probe for
/// installed tools such as `cargo nextest --version`.
pub(crate) fn succeeds_quietly(mut command: Command) -> bool {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    status.is_ok_and(|status| status.success())
}

/// The command as a user would type it, environment variables first.
pub(crate) fn command_line(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        let Some(value) = value else { continue };
        words.push(format!(
            "{}={:?}",
            key.display(),
            value.display().to_string()
        ));
    }
    words.push(command.get_program().display().to_string());
    words.extend(command.get_args().map(|arg| arg.display().to_string()));
    words.join(" ")
}

fn print_summary(rows: &[(&str, &str, f64)]) {
    let name_width = rows
        .iter()
        .map(|(name, ..)| name.len())
        .max()
        .unwrap_or(0)
        .max(4);

    println!();
    println!("{:<name_width$}  {:<7}  {:>7}", "step", "result", "seconds");
    for (name, status, seconds) in rows {
        println!("{name:<name_width$}  {status:<7}  {seconds:>7.1}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_shows_environment_then_program_and_arguments() {
        let mut command = cargo(Path::new("."), "doc --workspace");
        command.env("RUSTDOCFLAGS", "-D warnings");

        assert_eq!(
            command_line(&command),
            r#"RUSTDOCFLAGS="-D warnings" cargo doc --workspace"#
        );
    }
}
