//! `cargo xtask worker`: the Worker example built for `wasm32-unknown-unknown`, bound with
//! `wasm-bindgen` at exactly the version the lockfile pins, and run end to end in local workerd
//! (Miniflare) against the demo provider on loopback.
//!
//! Nothing is downloaded but crates from crates.io and the npm packages the e2e lockfile pins;
//! `wasm-bindgen-cli` is installed under `target/tools` and reused.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::suite::{Outcome, cargo, run_command, succeeds_quietly};

/// The Rust target a Worker runs.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Every crate the Worker uses, as the Worker uses it.
const WASM_CRATES: &str = "-p scopeup-core -p scopeup-oauth -p scopeup-store -p scopeup \
                           -p scopeup-worker -p worker-example";

/// The example's package and the stem of its `.wasm`.
const EXAMPLE_PACKAGE: &str = "worker-example";
const EXAMPLE_STEM: &str = "worker_example";

/// Adds the wasm32 target with rustup when it is missing.
pub(crate) fn wasm_target(_root: &Path) -> anyhow::Result<Outcome> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("could not run `rustup`; install the `wasm32-unknown-unknown` target yourself")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == WASM_TARGET)
    {
        return Ok(Outcome::Passed);
    }

    println!("the {WASM_TARGET} target is missing: adding it with rustup");
    let mut add = Command::new("rustup");
    add.args(["target", "add", WASM_TARGET]);
    run_command(add).context("adding the wasm32 target failed; add it with rustup and retry")?;
    Ok(Outcome::Passed)
}

/// Type-checks and lints every crate the Worker uses for wasm32; native clippy cannot see the
/// code that exists on wasm32 only.
pub(crate) fn wasm_check(root: &Path) -> anyhow::Result<Outcome> {
    wasm_target(root)?;
    run_command(cargo(
        root,
        &format!("check --locked --target {WASM_TARGET} {WASM_CRATES}"),
    ))?;
    run_command(cargo(
        root,
        &format!(
            "clippy --locked --target {WASM_TARGET} -p scopeup-worker -p {EXAMPLE_PACKAGE} \
             -- -D warnings"
        ),
    ))?;
    Ok(Outcome::Passed)
}

/// Builds the example for wasm32, binds it with wasm-bindgen, writes the module entry, and
/// prints the size of the `.wasm`.
pub(crate) fn build(root: &Path) -> anyhow::Result<Outcome> {
    wasm_target(root)?;
    run_command(cargo(
        root,
        &format!("build --locked --release --target {WASM_TARGET} -p {EXAMPLE_PACKAGE}"),
    ))?;

    let wasm_bindgen = ensure_wasm_bindgen(root)?;
    let input = root
        .join("target")
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{EXAMPLE_STEM}.wasm"));
    let out_dir = build_dir(root);
    if out_dir.exists() {
        fs::remove_dir_all(&out_dir)
            .with_context(|| format!("could not clear {}", out_dir.display()))?;
    }
    let mut bind = Command::new(&wasm_bindgen);
    bind.arg("--target")
        .arg("module")
        .arg("--out-name")
        .arg(EXAMPLE_STEM)
        .arg("--out-dir")
        .arg(&out_dir)
        .arg(&input);
    run_command(bind)?;
    write_entry(&out_dir)?;

    let wasm = out_dir.join(format!("{EXAMPLE_STEM}_bg.wasm"));
    let raw = fs::metadata(&wasm)
        .with_context(|| format!("no {}", wasm.display()))?
        .len();
    let gzipped = gzip_len(&wasm)?;
    println!(
        "worker size: {} ({} bytes) after wasm-bindgen, {} ({} bytes) gzipped",
        kib(raw),
        raw,
        kib(gzipped),
        gzipped
    );
    Ok(Outcome::Passed)
}

/// Runs the end-to-end flow in local workerd with the npm packages the lockfile pins.
pub(crate) fn e2e(root: &Path) -> anyhow::Result<Outcome> {
    let e2e_dir = root.join("examples/worker/e2e");
    if !succeeds_quietly(node(&e2e_dir, "node", &["--version"])) {
        bail!("node is not installed; the Worker's end-to-end test runs workerd through Node");
    }
    run_command(node(
        &e2e_dir,
        "npm",
        &["ci", "--no-audit", "--no-fund", "--ignore-scripts"],
    ))?;

    run_command(cargo(root, "build --locked -p demo-provider"))?;
    let demo_provider = root.join("target/debug/demo-provider");

    let mut test = node(&e2e_dir, "node", &["--test", "flow.test.mjs"]);
    test.env("WORKER_BUILD_DIR", build_dir(root))
        .env("DEMO_PROVIDER_BIN", demo_provider);
    run_command(test)?;
    Ok(Outcome::Passed)
}

/// Where the bound Worker is written.
fn build_dir(root: &Path) -> PathBuf {
    root.join("target/worker-example")
}

/// A Node or npm command in `dir` with metrics and telemetry off.
fn node(dir: &Path, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("DO_NOT_TRACK", "1")
        .env("npm_config_update_notifier", "false");
    command
}

/// The wasm-bindgen binary at the lockfile's version: one on the `PATH`, else one installed
/// under `target/tools` from crates.io when it is not there yet (several minutes, once per
/// target directory).
fn ensure_wasm_bindgen(root: &Path) -> anyhow::Result<PathBuf> {
    let version = locked_version(root, "wasm-bindgen")?;
    let tools = root.join("target/tools");

    // One on the `PATH` at exactly the pinned version (`cargo install wasm-bindgen-cli
    // --version …`), else one this task installed into the target directory before.
    for binary in [
        PathBuf::from("wasm-bindgen"),
        tools.join("bin/wasm-bindgen"),
    ] {
        if wasm_bindgen_version(&binary).as_deref() == Some(version.as_str()) {
            return Ok(binary);
        }
    }

    println!(
        "installing wasm-bindgen-cli {version} into {}",
        tools.display()
    );
    let mut install = Command::new("cargo");
    install
        .args([
            "install",
            "wasm-bindgen-cli",
            "--version",
            &version,
            "--force",
        ])
        .arg("--root")
        .arg(&tools)
        .arg("--target-dir")
        .arg(tools.join("build"))
        .current_dir(root);
    run_command(install)?;
    Ok(tools.join("bin/wasm-bindgen"))
}

/// The version a `wasm-bindgen` binary reports (`wasm-bindgen 0.2.130`), if it runs.
fn wasm_bindgen_version(binary: &Path) -> Option<String> {
    let output = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().nth(1).map(str::to_owned)
}

/// The version of `package` in `Cargo.lock`.
fn locked_version(root: &Path, package: &str) -> anyhow::Result<String> {
    let lock = fs::read_to_string(root.join("Cargo.lock")).context("could not read Cargo.lock")?;
    version_in_lock(&lock, package).with_context(|| format!("Cargo.lock does not pin {package}"))
}

fn version_in_lock(lock: &str, package: &str) -> Option<String> {
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name_line {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_owned());
        }
    }
    None
}

/// The module workerd loads: the bound module's `fetch` as the default handler, and the store's
/// Durable Object class. wasm-bindgen's `module` target imports the `.wasm` with a source-phase
/// import, which workerd's loader takes as a plain import of a compiled module.
fn write_entry(out_dir: &Path) -> anyhow::Result<()> {
    let glue = out_dir.join(format!("{EXAMPLE_STEM}.js"));
    let text = fs::read_to_string(&glue).with_context(|| format!("no {}", glue.display()))?;
    let text = text.replace("import source ", "import ");
    fs::write(&glue, text).with_context(|| format!("could not write {}", glue.display()))?;

    let entry = format!(
        "import {{ fetch }} from \"./{EXAMPLE_STEM}.js\";\n\
         export {{ ScopeupStore }} from \"./{EXAMPLE_STEM}.js\";\n\
         export default {{ fetch }};\n"
    );
    fs::write(out_dir.join("entry.mjs"), entry).context("could not write entry.mjs")
}

fn gzip_len(path: &Path) -> anyhow::Result<u64> {
    let output = Command::new("gzip")
        .arg("-9")
        .arg("-c")
        .arg(path)
        .output()
        .context("could not run gzip")?;
    if !output.status.success() {
        bail!("gzip failed on {}", path.display());
    }
    Ok(output.stdout.len() as u64)
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_lockfile() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n\n\
                    [[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.80\"\n";
        assert_eq!(
            version_in_lock(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(
            version_in_lock(lock, "wasm-bindgen-futures").as_deref(),
            Some("0.4.80")
        );
        assert_eq!(version_in_lock(lock, "worker"), None);
    }
}
