//! The load run of `cargo xtask bench`: the release axum example twice, once with scopeup in
//! front of its tools and once with the same tools calling the demo API with a held token
//! (`--bench-without-scopeup`), driven by the same concurrent MCP sessions in alternating
//! rounds. Prints tool calls per second, p50 and p99 latency of each, their ratio, and each
//! server's peak resident memory.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's job is to print its figures"
)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use scopeup_bench::proc_status_bytes;
use scopeup_bench::report::duration;
use serde_json::{Value, json};

/// The protocol the sessions speak: one `initialize`, then tool calls on the session.
const PROTOCOL: &str = "2025-11-25";

/// The protocol of the one-off call that fetches a connect link, with no session.
const STATELESS_PROTOCOL: &str = "2026-07-28";

/// `USER_HZ`, the unit of the CPU times in `/proc`: 100 on every Linux target this runs on.
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// The development tokens of the example, one per demo user.
const USERS: [&str; 2] = ["alice", "bob"];

/// How the load is run.
#[derive(Debug, Parser)]
struct Arguments {
    /// The release build of the axum example.
    #[arg(long, default_value = "target/release/axum-server")]
    server: PathBuf,
    /// Concurrent MCP sessions per server.
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// Measured rounds per server; the servers alternate, and each round starts with the one
    /// that went second in the round before.
    #[arg(long, default_value_t = 12)]
    rounds: usize,
    /// Seconds of load in each round.
    #[arg(long, default_value_t = 2)]
    seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(&arguments))
}

async fn run(arguments: &Arguments) -> anyhow::Result<()> {
    let with = Server::start(&arguments.server, "with scopeup", false)?;
    let without = Server::start(&arguments.server, "without scopeup", true)?;
    with.wait_until_ready().await?;
    without.wait_until_ready().await?;

    // scopeup holds a grant for each user, obtained through the picker and the demo provider.
    for user in USERS {
        connect(&with, user).await?;
    }

    let mut sessions = Vec::new();
    for server in [&with, &without] {
        let mut opened = Vec::new();
        for index in 0..arguments.sessions {
            opened.push(Session::open(server, USERS[index % USERS.len()]).await?);
        }
        sessions.push(opened);
    }

    // A warm-up round each, then the measured rounds in alternating order.
    let servers = [&with, &without];
    let warm_up = Duration::from_secs(1);
    for (server, opened) in servers.iter().zip(&mut sessions) {
        drive(server, opened, warm_up).await?;
    }
    let mut totals = [Measured::default(), Measured::default()];
    let mut round_ratios = Vec::new();
    let round_length = Duration::from_secs(arguments.seconds);
    for round in 0..arguments.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut rates = [0.0; 2];
        for index in order {
            let measured = drive(servers[index], &mut sessions[index], round_length).await?;
            rates[index] = measured.calls_per_second();
            totals[index].add(measured);
        }
        round_ratios.push(rates[0] / rates[1]);
    }

    print_results(arguments, &mut totals, servers, &mut round_ratios)
}

/// One example process on a loopback port of its own, killed when dropped.
struct Server {
    name: &'static str,
    base: url::Url,
    process: Child,
}

impl Server {
    fn start(binary: &PathBuf, name: &'static str, without_scopeup: bool) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new(binary);
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--store", "memory", "--audit", "/dev/null"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        if without_scopeup {
            command.arg("--bench-without-scopeup");
        }
        let process = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            name,
            base: url::Url::parse(&format!("http://127.0.0.1:{port}/"))?,
            process,
        })
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        Ok(self.base.join(path)?)
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let metadata = self.url("demo/.well-known/oauth-authorization-server")?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = reqwest::get(metadata.clone()).await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} did not start within 30 s", self.name)
    }

    /// The CPU time the process has used, user and system (`/proc/<pid>/stat`).
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.id()))?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15, counted from the pid.
        let ticks = |index: usize| -> anyhow::Result<u64> {
            let field = fields.get(index).context("short /proc stat")?;
            Ok(field.parse::<u64>()?)
        };
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_millis(
            total * 1_000 / CLOCK_TICKS_PER_SECOND,
        ))
    }

    /// The peak resident set of the process, in bytes.
    fn peak_resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_bytes(&self.process.id().to_string(), "VmHWM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// An MCP session over Streamable HTTP, as one client holds it.
struct Session {
    http: reqwest::Client,
    endpoint: url::Url,
    token: String,
    session_id: Option<String>,
    next_id: u64,
}

impl Session {
    async fn open(server: &Server, user: &str) -> anyhow::Result<Self> {
        let mut session = Self::stateless(server, user)?;
        let initialize = json!({
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "scopeup-load", "version": "1"},
        });
        let (answer, session_id) = session.request("initialize", initialize).await?;
        ensure!(answer["result"]["protocolVersion"] == PROTOCOL, "{answer}");
        session.session_id = session_id;
        ensure!(
            session.session_id.is_some(),
            "no session id from {}",
            server.name
        );
        session.notify("notifications/initialized").await?;
        Ok(session)
    }

    fn stateless(server: &Server, user: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().build()?,
            endpoint: server.url("mcp")?,
            token: format!("demo-{user}"),
            session_id: None,
            next_id: 1,
        })
    }

    /// Calls `list_notes` and fails unless it succeeded.
    async fn list_notes(&mut self) -> anyhow::Result<()> {
        let params = json!({"name": "list_notes", "arguments": {}});
        let (answer, _) = self.request("tools/call", params).await?;
        ensure!(answer["result"]["isError"] == json!(false), "{answer}");
        Ok(())
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> anyhow::Result<(Value, Option<String>)> {
        let id = self.next_id;
        self.next_id += 1;
        let stateless = self.session_id.is_none() && method != "initialize";
        let mut params = params;
        if stateless {
            // A call outside a session carries the client's context itself.
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_PROTOCOL,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "scopeup-load", "version": "1"},
            });
        }
        let name = params["name"].as_str().map(str::to_owned);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut request = self.post(&body);
        if stateless {
            // It names its protocol, method and tool in headers too.
            request = request
                .header("mcp-protocol-version", STATELESS_PROTOCOL)
                .header("mcp-method", method);
            if let Some(name) = name {
                request = request.header("mcp-name", name);
            }
        }
        let response = request.send().await?;
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "{method} answered {status}: {text}");
        Ok((message_with_id(&text, id)?, session_id))
    }

    async fn notify(&self, method: &str) -> anyhow::Result<()> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        let response = self.post(&body).send().await?;
        ensure!(
            response.status().is_success(),
            "{method}: {}",
            response.status()
        );
        Ok(())
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(session_id) = &self.session_id {
            request = request
                .header("mcp-session-id", session_id)
                .header("mcp-protocol-version", PROTOCOL);
        }
        request
    }
}

/// The JSON-RPC message with `id` in a JSON or Server-Sent Events body.
fn message_with_id(text: &str, id: u64) -> anyhow::Result<Value> {
    let messages: Vec<Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text)?]
    } else {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    };
    messages
        .into_iter()
        .find(|message| message["id"] == json!(id))
        .with_context(|| format!("no answer with id {id} in {text}"))
}

/// Connects `user` at the scopeup server the way a person does: the link from a first tool
/// call, the picker, the demo provider's sign-in and consent, and the callback.
async fn connect(server: &Server, user: &str) -> anyhow::Result<()> {
    let mut session = Session::stateless(server, user)?;
    let params = json!({"name": "list_notes", "arguments": {}});
    let (answer, _) = session.request("tools/call", params).await?;
    let link = answer["result"]["structuredContent"]["url"]
        .as_str()
        .with_context(|| format!("no link in {answer}"))?;

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .context("building the browser")?;
    let picker = browser.get(link).send().await?;
    let picker_url = picker.url().clone();
    let picker = picker.text().await?;
    let mut fields = hidden_fields(&picker);
    fields.push(("action".to_owned(), "continue".to_owned()));
    // The picker redirects to the demo provider's sign-in, which reqwest follows.
    let sign_in = browser.post(picker_url).form(&fields).send().await?;
    let sign_in_url = sign_in.url().clone();
    let sign_in = sign_in.text().await?;
    let mut fields = hidden_fields(&sign_in);
    fields.push(("username".to_owned(), user.to_owned()));
    fields.push(("password".to_owned(), user.to_owned()));
    let login = sign_in_url.join(&form_action(&sign_in, "login")?)?;
    let consent = browser.post(login).form(&fields).send().await?;
    let consent_url = consent.url().clone();
    let consent = consent.text().await?;
    let mut fields = hidden_fields(&consent);
    fields.extend(checked_scopes(&consent));
    fields.push(("decision".to_owned(), "allow".to_owned()));
    let decide = consent_url.join(&form_action(&consent, "consent")?)?;
    let done = browser.post(decide).form(&fields).send().await?;
    let status = done.status();
    let page = done.text().await?;
    ensure!(
        status.is_success(),
        "connecting {user} ended with {status}: {page}"
    );

    session.list_notes().await
}

/// The hidden inputs of a page, in order. A scanner for the pages of the example and the demo
/// provider, not a general HTML parser.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    inputs(html)
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The ticked `scope` checkboxes of the demo provider's consent page.
fn checked_scopes(html: &str) -> Vec<(String, String)> {
    inputs(html)
        .filter(|tag| attribute(tag, "name").as_deref() == Some("scope"))
        .filter(|tag| tag.contains("checked"))
        .filter_map(|tag| Some(("scope".to_owned(), attribute(tag, "value")?)))
        .collect()
}

fn inputs(html: &str) -> impl Iterator<Item = &str> {
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
}

/// The action of the first form whose action contains `part`.
fn form_action(html: &str, part: &str) -> anyhow::Result<String> {
    html.split("<form")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter_map(|tag| attribute(tag, "action"))
        .find(|action| action.contains(part))
        .with_context(|| format!("no form posting to {part}"))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let length = tag[start..].find('"')?;
    Some(
        tag[start..start + length]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/"),
    )
}

/// What a server did under load: in one round, or added up over all of them.
#[derive(Debug, Default)]
struct Measured {
    calls: u64,
    elapsed: Duration,
    /// The server process's CPU time (user and system) over the same span.
    cpu: Duration,
    latencies_micros: Vec<u32>,
}

impl Measured {
    fn add(&mut self, other: Measured) {
        self.calls += other.calls;
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        self.latencies_micros.extend(other.latencies_micros);
    }

    fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's CPU time per tool call, in nanoseconds.
    fn cpu_per_call(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.calls.max(1) as f64
    }

    /// The latency below which `quantile` of the calls finished, in nanoseconds.
    fn percentile(&mut self, quantile: f64) -> f64 {
        self.latencies_micros.sort_unstable();
        let Some(last) = self.latencies_micros.len().checked_sub(1) else {
            return 0.0;
        };
        let index = ((last as f64) * quantile).round() as usize;
        f64::from(self.latencies_micros[index]) * 1_000.0
    }
}

/// Every session calls `list_notes` back to back for `length`; fails on any failed call.
async fn drive(
    server: &Server,
    sessions: &mut Vec<Session>,
    length: Duration,
) -> anyhow::Result<Measured> {
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = tokio::task::JoinSet::new();
    for mut session in sessions.drain(..) {
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let call = Instant::now();
                session.list_notes().await?;
                let micros = u32::try_from(call.elapsed().as_micros()).unwrap_or(u32::MAX);
                latencies.push(micros);
            }
            anyhow::Ok((session, latencies))
        });
    }

    let mut measured = Measured::default();
    while let Some(joined) = tasks.join_next().await {
        let (session, latencies) = joined??;
        measured.calls += latencies.len() as u64;
        measured.latencies_micros.extend(latencies);
        sessions.push(session);
    }
    measured.elapsed = started.elapsed();
    measured.cpu = server.cpu_time()?.saturating_sub(cpu_before);
    Ok(measured)
}

fn print_results(
    arguments: &Arguments,
    totals: &mut [Measured; 2],
    servers: [&Server; 2],
    round_ratios: &mut [f64],
) -> anyhow::Result<()> {
    println!(
        "load: {} MCP sessions per server calling list_notes, {} rounds of {} s each, \
         alternating",
        arguments.sessions, arguments.rounds, arguments.seconds
    );
    println!(
        "{:<16} {:>9} {:>9} {:>10} {:>10} {:>13} {:>14}",
        "server", "calls", "calls/s", "p50", "p99", "CPU per call", "peak resident"
    );
    let mut rows = Vec::new();
    for (server, totals) in servers.iter().zip(totals.iter_mut()) {
        let (p50, p99) = (totals.percentile(0.50), totals.percentile(0.99));
        let peak = server.peak_resident_bytes()?;
        println!(
            "{:<16} {:>9} {:>9.0} {:>10} {:>10} {:>13} {:>10.1} MiB",
            server.name,
            totals.calls,
            totals.calls_per_second(),
            duration(p50),
            duration(p99),
            duration(totals.cpu_per_call()),
            peak as f64 / (1024.0 * 1024.0),
        );
        rows.push((totals.calls_per_second(), p50, p99, totals.cpu_per_call()));
    }

    let (with_rate, with_p50, with_p99, with_cpu) = rows[0];
    let (without_rate, without_p50, without_p99, without_cpu) = rows[1];
    round_ratios.sort_by(f64::total_cmp);
    let median = round_ratios[round_ratios.len() / 2];
    println!(
        "with scopeup: {:.1}% of the tool calls per second without it over all rounds, {:.1}% \
         in the median round (rounds ranged from {:.1}% to {:.1}%; target at least 97%)",
        100.0 * with_rate / without_rate,
        100.0 * median,
        100.0 * round_ratios[0],
        100.0 * round_ratios[round_ratios.len() - 1],
    );
    println!(
        "added per call: {} of server CPU, {} at p50, {} at p99 (target p99 under 100 µs)",
        signed_duration(with_cpu - without_cpu),
        signed_duration(with_p50 - without_p50),
        signed_duration(with_p99 - without_p99),
    );
    Ok(())
}

fn signed_duration(nanos: f64) -> String {
    if nanos < 0.0 {
        format!("-{}", duration(-nanos))
    } else {
        duration(nanos)
    }
}
