//! `cargo xtask e2e`: scopeup between real peers. It checks (and, as root on Debian, installs)
//! Node.js, Python and Chromium, installs the pinned npm and PyPI packages under `e2e/`, builds
//! the axum example, starts the upstream provider (`oidc-provider` plus a notes API) once and a
//! fresh example per scenario on free loopback ports, runs each scenario in `e2e/scenarios.mjs`,
//! stops every process (also on failure) and prints one row per scenario.
//!
//! Logs go to `target/e2e/logs/`, screenshots to `target/e2e/screenshots/`.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::suite::{Outcome, cargo, command_line, run_command, succeeds_quietly};

/// The scenarios, in the order they run; each is a key of `SCENARIOS` in `e2e/scenarios.mjs`.
const SCENARIOS: &[&str] = &["ts-2025-11-25", "ts-2026-07-28", "python-form", "phishing"];

/// The oldest Node.js major version the pinned packages support.
const NODE_MAJOR: u32 = 20;

/// The oldest Python the pinned `mcp` package supports.
const PYTHON_MINOR: u32 = 10;

/// How long one scenario may take before it is stopped.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a started process may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The OAuth client the example is registered as at the upstream provider.
const CLIENT_ID: &str = "scopeup-example";

/// The whole suite: prerequisites, installs, build, scenarios.
pub(crate) fn run(root: &Path) -> anyhow::Result<Outcome> {
    let tools = prerequisites()?;
    let dir = root.join("e2e");
    npm_install(&dir, &tools)?;
    let python = python_venv(&dir, &tools)?;
    run_command(cargo(root, "build -p axum-server --locked"))?;
    let example = root.join("target").join("debug").join("axum-server");

    let out = root.join("target").join("e2e");
    let logs = out.join("logs");
    let screenshots = out.join("screenshots");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    fs::create_dir_all(&screenshots)
        .with_context(|| format!("creating {}", screenshots.display()))?;

    let upstream_port = free_port()?;
    let example_port = free_port()?;
    let issuer = format!("http://127.0.0.1:{upstream_port}");
    let listen = format!("127.0.0.1:{example_port}");
    let secret = random_hex()?;

    let mut upstream = Command::new(&tools.node);
    upstream
        .arg(dir.join("upstream.mjs"))
        .current_dir(&dir)
        .env("UPSTREAM_PORT", upstream_port.to_string())
        .env(
            "UPSTREAM_REDIRECT_URI",
            format!("http://{listen}/oauth/callback"),
        )
        .env("UPSTREAM_CLIENT_ID", CLIENT_ID)
        .env("UPSTREAM_CLIENT_SECRET", &secret);
    let _upstream = Process::start("upstream", upstream, &logs.join("upstream.log"))?;
    wait_for_port(
        upstream_port,
        "the upstream provider",
        &logs.join("upstream.log"),
    )?;

    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        let log = logs.join(format!("{scenario}-example.log"));
        // Each scenario starts from an empty data directory of its own, with the example's
        // default store (SQLite) and a key ring generated into it.
        let data = out.join("data").join(scenario);
        remove_dir_if_present(&data)?;
        let mut server = Command::new(&example);
        server
            .args(["--listen", &listen])
            .arg("--data-dir")
            .arg(&data)
            .args(["--issuer", &issuer])
            .args(["--client-id", CLIENT_ID])
            .args(["--provider-name", "Notes ID"])
            .args(["--api-base", &issuer])
            .args(["--baseline-scopes", "openid notes:read offline_access"])
            .env("SCOPEUP_CLIENT_SECRET", &secret)
            .env("RUST_LOG", "info,scopeup=debug,rmcp=warn");
        let started = Instant::now();
        let row = match Process::start("example", server, &log)
            .and_then(|process| wait_for_port(example_port, "the example", &log).map(|()| process))
        {
            Ok(_example) => run_scenario(&tools, &dir, scenario, &listen, &screenshots, &python),
            Err(error) => ScenarioRow::failed(scenario, format!("{error:#}")),
        };
        rows.push((row, started.elapsed().as_secs_f64()));
    }

    print_scenarios(&rows);
    println!("logs: {}", logs.display());
    println!("screenshots: {}", screenshots.display());
    let failed: Vec<&str> = rows
        .iter()
        .filter(|(row, _)| row.status != "pass")
        .map(|(row, _)| row.scenario.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("e2e scenarios failed: {}", failed.join(", "));
    }
    Ok(Outcome::Passed)
}

/// Removes `dir` and everything in it, if it exists.
fn remove_dir_if_present(dir: &Path) -> anyhow::Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("removing {}", dir.display())),
    }
}

/// The programs the suite runs.
struct Tools {
    node: PathBuf,
    npm: PathBuf,
    python: PathBuf,
    chromium: PathBuf,
}

/// Finds Node.js, npm, Python 3 with `venv`, and Chromium; as root on Debian, installs what is
/// missing with apt; elsewhere says what to install.
fn prerequisites() -> anyhow::Result<Tools> {
    let missing = missing_tools();
    if !missing.is_empty() && can_apt() {
        println!(
            "e2e: installing {} with apt-get (running as root on Debian)",
            missing.join(", ")
        );
        run_command(apt(&["update"]))?;
        let mut install = vec!["install", "-y", "--no-install-recommends"];
        install.extend(missing.iter().map(|tool| debian_package(tool)));
        run_command(apt(&install))?;
    }
    let missing = missing_tools();
    if !missing.is_empty() {
        bail!(
            "the e2e suite needs {} (missing or too old: {}). On Debian or Ubuntu: `sudo apt-get \
             install nodejs npm python3 python3-venv chromium` (Node.js {NODE_MAJOR} or newer; \
             get it from https://nodejs.org or NodeSource where the distribution's is older). \
             Point E2E_CHROMIUM at a Chromium or Chrome binary installed elsewhere.",
            "Node.js, npm, Python 3 with venv and Chromium",
            missing.join(", ")
        );
    }
    Ok(Tools {
        node: PathBuf::from("node"),
        npm: PathBuf::from("npm"),
        python: PathBuf::from("python3"),
        chromium: chromium_path(),
    })
}

/// The tools that are missing or too old, by name.
fn missing_tools() -> Vec<&'static str> {
    let mut missing = Vec::new();
    let node_ok = version_of("node", &["--version"]).is_some_and(|version| {
        let major = version.trim().trim_start_matches('v').split('.').next();
        major
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= NODE_MAJOR)
    });
    if !node_ok {
        missing.push("node");
    }
    if !succeeds_quietly(command("npm", &["--version"])) {
        missing.push("npm");
    }
    let python_ok = version_of(
        "python3",
        &[
            "-c",
            "import sys, venv, ensurepip; print(sys.version_info[1] if sys.version_info[0] == 3 \
             else 0)",
        ],
    )
    .and_then(|minor| minor.trim().parse::<u32>().ok())
    .is_some_and(|minor| minor >= PYTHON_MINOR);
    if !python_ok {
        missing.push("python3");
    }
    if !chromium_path().is_file() {
        missing.push("chromium");
    }
    missing
}

fn debian_package(tool: &str) -> &str {
    match tool {
        "python3" => "python3-venv",
        "node" => "nodejs",
        other => other,
    }
}

fn can_apt() -> bool {
    Path::new("/etc/debian_version").exists()
        && version_of("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn apt(args: &[&str]) -> Command {
    let mut apt = command("apt-get", args);
    apt.env("DEBIAN_FRONTEND", "noninteractive");
    apt
}

fn chromium_path() -> PathBuf {
    std::env::var_os("E2E_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn command(program: &str, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args);
    command
}

/// The program's standard output, when it runs and succeeds.
fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let output = command(program, args).stderr(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `npm ci` from the committed lockfile, skipped when `node_modules` was installed from the
/// same lockfile.
fn npm_install(dir: &Path, tools: &Tools) -> anyhow::Result<()> {
    let lock = dir.join("package-lock.json");
    let stamp = dir.join("node_modules").join(".scopeup-e2e-lock");
    if same_contents(&lock, &stamp) {
        println!("e2e: npm packages are installed from the current lockfile");
        return Ok(());
    }
    let mut npm = Command::new(&tools.npm);
    npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(dir);
    run_command(npm)?;
    fs::copy(&lock, &stamp).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

/// A venv under `e2e/.venv` with the pinned requirements; reused when it was installed from
/// the same requirements file. Returns its interpreter.
fn python_venv(dir: &Path, tools: &Tools) -> anyhow::Result<PathBuf> {
    let venv = dir.join(".venv");
    let python = venv.join("bin").join("python");
    let requirements = dir.join("requirements.txt");
    let stamp = venv.join(".scopeup-e2e-requirements");
    if python.is_file() && same_contents(&requirements, &stamp) {
        println!("e2e: the Python venv is installed from the current requirements");
        return Ok(python);
    }
    let mut create = Command::new(&tools.python);
    create.args(["-m", "venv"]).arg(&venv);
    run_command(create)?;
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        "-r",
    ])
    .arg(&requirements);
    run_command(pip)?;
    fs::copy(&requirements, &stamp).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}

fn same_contents(a: &Path, b: &Path) -> bool {
    match (fs::read(a), fs::read(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 24];
    fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Waits until something listens on the loopback port.
fn wait_for_port(port: u16, what: &str, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{what} did not listen on port {port} within {} s; see {}",
        START_TIMEOUT.as_secs(),
        log.display()
    )
}

/// A started child process, stopped when dropped.
struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn start(name: &'static str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let line = command_line(&command);
        println!("e2e: starting {name}: {line} (log: {})", log.display());
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("could not start `{line}`"))?;
        Ok(Self { name, child })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Err(error) = self.child.kill() {
            eprintln!("e2e: stopping {} failed: {error}", self.name);
        }
        let _ = self.child.wait();
    }
}

/// One scenario's line in the summary.
struct ScenarioRow {
    scenario: String,
    peer: String,
    protocol: String,
    shape: String,
    status: String,
}

impl ScenarioRow {
    fn failed(scenario: &str, error: String) -> Self {
        eprintln!("e2e: {scenario}: {error}");
        Self {
            scenario: scenario.to_owned(),
            peer: "-".to_owned(),
            protocol: "-".to_owned(),
            shape: "-".to_owned(),
            status: "FAIL".to_owned(),
        }
    }
}

/// Runs `node scenarios.mjs <scenario>`, echoing its output, and reads its `E2E-RESULT` line.
fn run_scenario(
    tools: &Tools,
    dir: &Path,
    scenario: &str,
    listen: &str,
    screenshots: &Path,
    python: &Path,
) -> ScenarioRow {
    let mut node = Command::new(&tools.node);
    node.arg(dir.join("scenarios.mjs"))
        .arg(scenario)
        .current_dir(dir)
        .env("E2E_MCP_URL", format!("http://{listen}/mcp"))
        .env("E2E_SCREENSHOTS", screenshots)
        .env("E2E_PYTHON", python)
        .env("E2E_CHROMIUM", &tools.chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    println!("==> {}", command_line(&node));
    let mut child = match node.spawn() {
        Ok(child) => child,
        Err(error) => {
            return ScenarioRow::failed(scenario, format!("could not start node: {error}"));
        }
    };

    // A watchdog stops a scenario that hangs.
    let finished = Arc::new(AtomicBool::new(false));
    let pid = child.id();
    let watchdog = {
        let finished = Arc::clone(&finished);
        std::thread::spawn(move || {
            let deadline = Instant::now() + SCENARIO_TIMEOUT;
            while Instant::now() < deadline {
                if finished.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = Command::new("kill").arg(pid.to_string()).status();
            true
        })
    };

    let mut result = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match line.strip_prefix("E2E-RESULT ") {
                Some(json) => result = Some(json.to_owned()),
                None => println!("{line}"),
            }
        }
    }
    let status = child.wait();
    finished.store(true, Ordering::Relaxed);
    let timed_out = watchdog.join().unwrap_or(false);
    if timed_out {
        return ScenarioRow::failed(
            scenario,
            format!("timed out after {} s", SCENARIO_TIMEOUT.as_secs()),
        );
    }
    let Some(json) = result else {
        return ScenarioRow::failed(
            scenario,
            format!("no result line; node exited with {status:?}"),
        );
    };
    let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let field = |name: &str| value[name].as_str().unwrap_or("?").to_owned();
    let passed = status.is_ok_and(|status| status.success()) && field("status") == "pass";
    ScenarioRow {
        scenario: scenario.to_owned(),
        peer: field("peer"),
        protocol: field("protocol"),
        shape: field("shape"),
        status: if passed { "pass" } else { "FAIL" }.to_owned(),
    }
}

fn print_scenarios(rows: &[(ScenarioRow, f64)]) {
    let width = |get: fn(&ScenarioRow) -> &str, title: &str| {
        rows.iter()
            .map(|(row, _)| get(row).chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (s, p, v, a) = (
        width(|row| &row.scenario, "scenario"),
        width(|row| &row.peer, "peer"),
        width(|row| &row.protocol, "protocol"),
        width(|row| &row.shape, "answer shape"),
    );
    println!();
    println!(
        "{:<s$}  {:<p$}  {:<v$}  {:<a$}  {:<6}  {:>7}",
        "scenario", "peer", "protocol", "answer shape", "result", "seconds"
    );
    for (row, seconds) in rows {
        println!(
            "{:<s$}  {:<p$}  {:<v$}  {:<a$}  {:<6}  {seconds:>7.1}",
            row.scenario, row.peer, row.protocol, row.shape, row.status
        );
    }
}
