//! A throwaway `redis-server` for tests: started from the system's binary on a free loopback
//! port, with persistence off, and killed when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming a Redis server the tests may use instead of starting one.
pub const REDIS_URL_VARIABLE: &str = "SCOPEUP_TEST_REDIS_URL";

/// How long a started server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A Redis server for a test: one named by `SCOPEUP_TEST_REDIS_URL`, or a `redis-server` process
/// this value started and kills when dropped.
///
/// Starting one panics with a message saying how to install Redis when `redis-server` is not on
/// the `PATH`: tests that need Redis fail loudly rather than pass without it.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    port: Option<u16>,
    process: Option<Child>,
    data_dir: Option<PathBuf>,
}

impl RedisServer {
    /// The server named by `SCOPEUP_TEST_REDIS_URL` when it is set, else a new one. Tests that
    /// share a server keep their keys apart themselves (the conformance suite's key prefix).
    pub fn shared_or_start() -> Self {
        match std::env::var(REDIS_URL_VARIABLE) {
            Ok(url) if !url.is_empty() => Self {
                url,
                port: None,
                process: None,
                data_dir: None,
            },
            _ => Self::start(),
        }
    }

    /// A new server of this test's own on a free loopback port, which the test may
    /// [`stop`](Self::stop) and [`restart`](Self::restart).
    pub fn start() -> Self {
        Self::start_in(None)
    }

    /// Like [`start`](Self::start), but the server appends every write to a file in `data_dir`
    /// before it answers, so that a [`stop`](Self::stop) and [`restart`](Self::restart) keep the
    /// data, as a production server configured for durability does.
    pub fn start_durable(data_dir: &Path) -> Self {
        Self::start_in(Some(data_dir.to_path_buf()))
    }

    fn start_in(data_dir: Option<PathBuf>) -> Self {
        let port = free_port();
        let mut server = Self {
            url: format!("redis://127.0.0.1:{port}/"),
            port: Some(port),
            process: None,
            data_dir,
        };
        server.restart();
        server
    }

    /// The server's URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server and waits until it is gone; its data is lost. Does nothing to a server
    /// named by `SCOPEUP_TEST_REDIS_URL`.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first if it runs), and waits until
    /// it accepts connections. It starts empty unless it was started durable.
    ///
    /// # Panics
    ///
    /// When the server was named by `SCOPEUP_TEST_REDIS_URL`, when `redis-server` is not
    /// installed, or when it does not start in time.
    pub fn restart(&mut self) {
        let Some(port) = self.port else {
            panic!("the Redis server named by {REDIS_URL_VARIABLE} cannot be restarted by a test");
        };
        self.stop();

        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""]);
        match &self.data_dir {
            None => command.args(["--appendonly", "no"]),
            Some(directory) => command.arg("--dir").arg(directory).args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]),
        };
        let spawned = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let process = match spawned {
            Ok(process) => process,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "`redis-server` is not installed, and the Redis tests need it: install it \
                 (`apt-get install redis-server` on Debian and Ubuntu), or set \
                 {REDIS_URL_VARIABLE} to a server the tests may use"
            ),
            Err(error) => panic!("could not start `redis-server`: {error}"),
        };
        self.process = Some(process);

        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(process) = &mut self.process
                && let Ok(Some(status)) = process.try_wait()
            {
                panic!("`redis-server` on port {port} exited at start: {status}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "`redis-server` did not accept connections on port {port} within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"));
    listener
        .local_addr()
        .unwrap_or_else(|error| panic!("no local address: {error}"))
        .port()
}
