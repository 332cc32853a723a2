//! `cargo xtask publish-check`: the library crates as crates.io would receive them. Each is
//! packaged in dependency order and built from its packaged form, with the workspace's own
//! crates resolved from the packages just made; then the declared MSRV is checked with
//! `cargo check --lib` where that toolchain is installed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use serde_json::Value;

use crate::suite::{Outcome, Step, cargo, run_command, succeeds_quietly};

/// `cargo xtask publish-check`.
pub(crate) const PUBLISH_CHECK: &[Step] = &[Step::new("package", package), Step::new("msrv", msrv)];

/// Packages every library crate and builds each from its `.crate` file. Cargo orders the
/// packages by their dependencies and overlays the fresh packages on crates.io for the
/// verification builds, which is exactly what `cargo publish` would check one at a time.
pub(crate) fn package(root: &Path) -> anyhow::Result<Outcome> {
    let crates = library_crates(root)?;
    forget_earlier_packages(root, &crates)?;
    let mut command = cargo(root, "package --locked --allow-dirty");
    command.args(["--target-dir", PACKAGE_TARGET_DIR]);
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

/// Where the packages are built: the crates built from their packages get no workspace
/// profile, so they share nothing with the main build.
const PACKAGE_TARGET_DIR: &str = "target/package-check";

/// Forgets what an earlier run made of the library crates' packages. Cargo treats the packages
/// it verifies against as registry crates, which never change for a name and version: it
/// extracts each once into its registry cache and keeps the build of it by fingerprint. Without
/// this, a second run would verify the dependents against the first run's sources. Cargo
/// extracts and builds again whatever it needs.
fn forget_earlier_packages(root: &Path, crates: &[String]) -> anyhow::Result<()> {
    let metadata = Metadata::read(root)?;
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME")?)
            .join(".cargo"),
    };
    let packaged = crates
        .iter()
        .map(|name| {
            let version = metadata
                .version(name)
                .with_context(|| format!("{name} is not in cargo metadata"))?;
            Ok(format!("{name}-{version}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut extracted = Vec::new();
    if let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src")) {
        for registry in registries {
            let registry = registry?.path();
            // Only the local overlays cargo makes for packaging (`-<hash>`), never a real
            // registry's copies, which other projects use.
            let overlay = registry
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('-'));
            if !overlay {
                continue;
            }
            extracted.extend(packaged.iter().map(|package| registry.join(package)));
        }
    }
    let fingerprints = root.join(PACKAGE_TARGET_DIR).join("debug/.fingerprint");
    let built = std::fs::read_dir(&fingerprints)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let file = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            crates.iter().any(|name| {
                file.strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_hexdigit()))
            })
        });
    for path in extracted.into_iter().chain(built) {
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// The declared minimum Rust versions. First, from `cargo metadata`, every package a library
/// crate builds with (normal and build dependencies, on any target) must declare a
/// `rust-version` no newer than the crate's own; this runs everywhere. (Standard-library APIs
/// newer than the declared version are caught by clippy's `incompatible_msrv` in the lint
/// step.) Then `cargo check --lib` on the library crates with each declared toolchain, where
/// installed, in a target directory of its own so it never invalidates the main build.
pub(crate) fn msrv(root: &Path) -> anyhow::Result<Outcome> {
    let metadata = Metadata::read(root)?;
    let libraries = library_crates(root)?;
    let mut too_new = Vec::new();
    let mut unversioned = BTreeSet::new();
    for name in &libraries {
        too_new.extend(metadata.dependencies_newer_than_their_dependent(name)?);
        unversioned.extend(metadata.unversioned_dependencies(name)?);
    }
    anyhow::ensure!(
        too_new.is_empty(),
        "dependencies need a newer Rust than the crates that use them declare:\n  {}",
        too_new.join("\n  ")
    );
    println!(
        "no dependency of the library crates declares a newer rust-version than they do; {} \
         declare none and are not checked here: {}",
        unversioned.len(),
        unversioned.into_iter().collect::<Vec<_>>().join(", ")
    );

    let mut by_version: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for name in &libraries {
        let version = metadata
            .rust_version(name)
            .with_context(|| format!("{name} declares no rust-version"))?;
        by_version.entry(version.to_owned()).or_default().push(name);
    }
    let mut missing = Vec::new();
    for (version, names) in by_version {
        let toolchain = format!("+{version}");
        let mut probe = Command::new("cargo");
        probe
            .args([toolchain.as_str(), "--version"])
            .current_dir(root);
        if !succeeds_quietly(probe) {
            missing.push(version);
            continue;
        }
        let mut command = Command::new("cargo");
        command
            .args([toolchain.as_str(), "check", "--locked", "--lib"])
            .args(["--target-dir", "target/msrv"])
            .current_dir(root);
        for name in &names {
            command.args(["--package", name]);
        }
        run_command(command)?;
        println!("{} build with Rust {version}", names.join(", "));
    }
    if missing.is_empty() {
        Ok(Outcome::Passed)
    } else {
        println!(
            "not installed, so not built with: Rust {} (`rustup toolchain install <version> \
             --profile minimal`)",
            missing.join(", Rust ")
        );
        Ok(Outcome::Skipped {
            reason: "msrv builds skipped: a declared rust-version's toolchain is not installed; \
                     the dependencies' declared versions were checked",
        })
    }
}

/// What `cargo metadata` says of the packages and the resolved graph.
struct Package {
    /// A member of this workspace (no registry or git source).
    local: bool,
    name: String,
    version: String,
    rust_version: Option<String>,
}

struct Metadata {
    /// Package id → its name, version and rust-version.
    packages: HashMap<String, Package>,
    /// Package id → the ids of its normal and build dependencies.
    dependencies: HashMap<String, Vec<String>>,
}

impl Metadata {
    fn read(root: &Path) -> anyhow::Result<Self> {
        let output = cargo(root, "metadata --format-version 1 --locked")
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running cargo metadata")?;
        anyhow::ensure!(output.status.success(), "cargo metadata failed");
        let json: Value =
            serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
        Self::from_json(&json)
    }

    fn from_json(json: &Value) -> anyhow::Result<Self> {
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let mut packages = HashMap::new();
        for package in json["packages"].as_array().context("no packages")? {
            let id = text(&package["id"]).context("a package without an id")?;
            let package = Package {
                local: package["source"].is_null(),
                name: text(&package["name"]).context("a package without a name")?,
                version: text(&package["version"]).context("a package without a version")?,
                rust_version: text(&package["rust_version"]),
            };
            packages.insert(id, package);
        }
        let mut dependencies = HashMap::new();
        for node in json["resolve"]["nodes"]
            .as_array()
            .context("no resolve graph")?
        {
            let id = text(&node["id"]).context("a node without an id")?;
            let built_with = node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|kind| {
                            kind["kind"].is_null() || kind["kind"].as_str() == Some("build")
                        })
                })
                .filter_map(|dep| text(&dep["pkg"]))
                .collect();
            dependencies.insert(id, built_with);
        }
        Ok(Self {
            packages,
            dependencies,
        })
    }

    fn id_of(&self, name: &str) -> Option<&str> {
        self.packages
            .iter()
            .find(|(_, package)| package.local && package.name == name)
            .map(|(id, _)| id.as_str())
    }

    fn version(&self, name: &str) -> Option<&str> {
        Some(&self.packages.get(self.id_of(name)?)?.version)
    }

    fn rust_version(&self, name: &str) -> Option<&str> {
        self.packages
            .get(self.id_of(name)?)?
            .rust_version
            .as_deref()
    }

    /// Every package `name` builds with, directly or not (normal and build dependencies).
    fn built_with(&self, name: &str) -> anyhow::Result<Vec<&Package>> {
        let id = self
            .id_of(name)
            .with_context(|| format!("{name} is not in cargo metadata"))?;
        let mut seen = HashSet::new();
        let mut queue = vec![id];
        let mut packages = Vec::new();
        while let Some(id) = queue.pop() {
            for dependency in self.dependencies.get(id).into_iter().flatten() {
                if seen.insert(dependency.as_str()) {
                    queue.push(dependency);
                    packages.extend(self.packages.get(dependency));
                }
            }
        }
        Ok(packages)
    }

    /// The packages `name` builds with that declare a newer `rust-version` than `name` does,
    /// each as a line to print.
    fn dependencies_newer_than_their_dependent(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let declared = self
            .rust_version(name)
            .with_context(|| format!("{name} declares no rust-version"))?;
        Ok(self
            .built_with(name)?
            .into_iter()
            .filter_map(|package| {
                let version = package.rust_version.as_deref()?;
                newer(version, declared).then(|| {
                    format!(
                        "{name} (rust-version {declared}) builds with {}, which needs {version}",
                        package.name
                    )
                })
            })
            .collect())
    }

    /// The names of the packages `name` builds with that declare no `rust-version`.
    fn unversioned_dependencies(&self, name: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .built_with(name)?
            .into_iter()
            .filter(|package| package.rust_version.is_none())
            .map(|package| package.name.clone())
            .collect())
    }
}

/// Whether the Rust version `a` is newer than `b`; missing parts count as 0 ("1.88" = 1.88.0).
fn newer(a: &str, b: &str) -> bool {
    let parts = |version: &str| -> Vec<u64> {
        version
            .split('.')
            .map(|part| part.parse().unwrap_or(0))
            .chain(std::iter::repeat(0))
            .take(3)
            .collect()
    };
    parts(a) > parts(b)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_their_numbers() {
        assert!(newer("1.89", "1.88"));
        assert!(newer("1.88.1", "1.88"));
        assert!(newer("1.100", "1.99.9"));
        assert!(!newer("1.88", "1.88.0"));
        assert!(!newer("1.85", "1.88"));
    }

    #[test]
    fn a_dependency_needing_a_newer_rust_is_found_through_the_graph() {
        let json = serde_json::json!({
            "packages": [
                {"id": "lib", "name": "lib", "version": "1.0.0", "rust_version": "1.88"},
                {"id": "mid", "name": "mid", "version": "1.0.0", "rust_version": "1.70"},
                {"id": "deep", "name": "deep", "version": "1.0.0", "rust_version": "1.90"},
                {"id": "test-only", "name": "test-only", "version": "1.0.0", "rust_version": "1.95"},
                {"id": "unversioned", "name": "unversioned", "version": "1.0.0", "rust_version": null},
            ],
            "resolve": {"nodes": [
                {"id": "lib", "deps": [
                    {"pkg": "mid", "dep_kinds": [{"kind": null}]},
                    {"pkg": "test-only", "dep_kinds": [{"kind": "dev"}]},
                    {"pkg": "unversioned", "dep_kinds": [{"kind": "build"}]},
                ]},
                {"id": "mid", "deps": [{"pkg": "deep", "dep_kinds": [{"kind": null}]}]},
                {"id": "deep", "deps": []},
                {"id": "test-only", "deps": []},
                {"id": "unversioned", "deps": []},
            ]},
        });
        let metadata = Metadata::from_json(&json).unwrap();
        assert_eq!(metadata.rust_version("lib"), Some("1.88"));
        assert_eq!(
            metadata
                .dependencies_newer_than_their_dependent("lib")
                .unwrap(),
            ["lib (rust-version 1.88) builds with deep, which needs 1.90"]
        );
        assert_eq!(
            metadata
                .dependencies_newer_than_their_dependent("mid")
                .unwrap(),
            ["mid (rust-version 1.70) builds with deep, which needs 1.90"]
        );
    }
}
