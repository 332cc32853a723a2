//! `cargo xtask publish-check`: the library crates as crates.io would receive them. Each is
//! packaged in dependency order and built from its packaged form, with the workspace's own
//! crates resolved from the packages just made; then the declared MSRV is checked with
//! `cargo check --lib` where that toolchain is installed.

use std::path::Path;

use anyhow::Context as _;

use crate::suite::{Outcome, Step, cargo, run_command, succeeds_quietly};

/// `cargo xtask publish-check`.
pub(crate) const PUBLISH_CHECK: &[Step] = &[Step::new("package", package), Step::new("msrv", msrv)];

/// Packages every library crate and builds each from its `.crate` file. Cargo orders the
/// packages by their dependencies and overlays the fresh packages on crates.io for the
/// verification builds, which is exactly what `cargo publish` would check one at a time.
fn package(root: &Path) -> anyhow::Result<Outcome> {
    let crates = library_crates(root)?;
    let mut command = cargo(root, "package --locked --allow-dirty");
    for name in &crates {
        command.args(["--package", name]);
    }
    run_command(command)?;
    println!(
        "packaged and built from their packages: {}",
        crates.join(", ")
    );
    Ok(Outcome::Passed)
}

/// `cargo check --lib` on every library crate with the toolchain the workspace declares as its
/// minimum, in a target directory of its own so it never invalidates the main build.
fn msrv(root: &Path) -> anyhow::Result<Outcome> {
    let version = declared_rust_version(root)?;
    let toolchain = format!("+{version}");
    let mut probe = std::process::Command::new("cargo");
    probe
        .args([toolchain.as_str(), "--version"])
        .current_dir(root);
    if !succeeds_quietly(probe) {
        return Ok(Outcome::Skipped {
            reason: "msrv skipped: the toolchain of the workspace's rust-version is not \
                     installed (install it with `rustup toolchain install <rust-version> \
                     --profile minimal`)",
        });
    }

    let mut command = std::process::Command::new("cargo");
    command
        .args([toolchain.as_str(), "check", "--locked", "--lib"])
        .args(["--target-dir", "target/msrv"])
        .current_dir(root);
    for name in library_crates(root)? {
        command.args(["--package", &name]);
    }
    run_command(command)?;
    println!("the library crates build with Rust {version}");
    Ok(Outcome::Passed)
}

/// The packages under `crates/`, which are the ones published; examples and xtask are not.
fn library_crates(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).context("reading crates/")? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file()
            && let Some(name) = path.file_name().and_then(|name| name.to_str())
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    anyhow::ensure!(!names.is_empty(), "no crates found under crates/");
    Ok(names)
}

/// The `rust-version` of `[workspace.package]` in the root manifest.
fn declared_rust_version(root: &Path) -> anyhow::Result<String> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    rust_version_in(&manifest).context("no `rust-version = \"…\"` line in the root Cargo.toml")
}

fn rust_version_in(manifest: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("rust-version")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_version_is_read_from_the_workspace_manifest() {
        let manifest = "[workspace.package]\nedition = \"2024\"\nrust-version = \"1.88\"\n";
        assert_eq!(rust_version_in(manifest).as_deref(), Some("1.88"));
        assert_eq!(rust_version_in("[package]\nname = \"x\"\n"), None);
    }
}
