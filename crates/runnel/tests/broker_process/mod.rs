//! Starts `runnel serve` as a child process on an ephemeral port, for tests that need a real
//! broker process (clients over TCP, SIGKILL, restart on the same data directory).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running broker; killed (SIGKILL) on drop unless stopped.
pub struct BrokerProcess {
    /// The child process.
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its HTTP listener (`/metrics`) is, if it has one.
    pub http: Option<SocketAddr>,
    /// Its data directory.
    pub data_dir: PathBuf,
}

impl BrokerProcess {
    /// Starts a broker on `data_dir`, listening on `listen` (use port 0 for any free port).
    pub fn start_on(data_dir: &Path, listen: &str) -> BrokerProcess {
        Self::start_with(data_dir, listen, &[])
    }

    /// Starts a broker with extra `serve` arguments.
    pub fn start_with(data_dir: &Path, listen: &str, extra: &[&str]) -> BrokerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runnel"));
        command.args(["serve", "--listen", listen, "--data-dir"]).arg(data_dir).args(extra);
        if !extra.contains(&"--http-listen") {
            command.args(["--http-listen", "127.0.0.1:0"]);
        }
        Self::spawn(command, data_dir)
    }

    /// Starts a broker with extra `serve` arguments whose log (at `info`) goes to `log`.
    pub fn start_logging_to(data_dir: &Path, extra: &[&str], log: &Path) -> BrokerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runnel"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra);
        command.env("RUNNEL_LOG", "info").stderr(std::fs::File::create(log).expect("create the log file"));
        Self::spawn(command, data_dir)
    }

    /// Starts a broker from `command`, which must run `runnel serve` (perhaps through a wrapper
    /// such as `unshare`) and pass on its stdout. Its stderr is inherited unless `command` set it.
    pub fn spawn(mut command: Command, data_dir: &Path) -> BrokerProcess {
        if command.get_envs().all(|(name, _)| name != "RUNNEL_LOG") {
            command.env("RUNNEL_LOG", std::env::var("RUNNEL_LOG").unwrap_or_else(|_| "warn".into()));
        }
        let mut child = command.stdout(Stdio::piped()).spawn().expect("spawn runnel serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout);
        let mut http = None;
        loop {
            let mut line = String::new();
            lines.read_line(&mut line).expect("read the listening line");
            if let Some(address) = line.trim().strip_prefix("runnel http listening on http://") {
                http = Some(address.parse().expect("HTTP address"));
                continue;
            }
            if line.starts_with("runnel listener ") {
                continue;
            }
            let addr = line
                .trim()
                .strip_prefix("runnel listening on ")
                .unwrap_or_else(|| panic!("unexpected line from runnel serve: {line:?}"))
                .parse()
                .expect("address");
            return BrokerProcess { child, addr, http, data_dir: data_dir.to_path_buf() };
        }
    }

    /// Starts a broker on a fresh port.
    pub fn start(data_dir: &Path) -> BrokerProcess {
        Self::start_on(data_dir, "127.0.0.1:0")
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// File descriptors the broker holds open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map(|d| d.count()).unwrap_or(0)
    }

    /// The broker's resident memory in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// SIGTERM, then how long the process took to exit (`None`: still running after `limit`)
    /// and whether it exited successfully.
    pub fn terminate_within(mut self, limit: Duration) -> Option<(Duration, bool)> {
        let started = std::time::Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((started.elapsed(), status.success()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `host:port` for client configs.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
