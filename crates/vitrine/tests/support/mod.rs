//! Real `vitrine serve` processes for the tests that need them (several servers, the
//! schemathesis run), started on a free loopback port and killed when dropped.

#![allow(dead_code)] // each test binary uses its own part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const VITRINE: &str = env!("CARGO_BIN_EXE_vitrine");

/// `vitrine` with the data directory (and database) given and none of the test run's own
/// `VITRINE_*` variables, so the child reads only what the test says.
pub fn vitrine_command(data_dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(VITRINE);
    for (name, _) in std::env::vars() {
        if name.starts_with("VITRINE_") {
            command.env_remove(name);
        }
    }
    command.arg("--data-dir").arg(data_dir).stdin(Stdio::null());
    if let Some(url) = database_url {
        command.arg("--database-url").arg(url);
    }
    command
}

/// A `vitrine serve` child, killed (SIGKILL) when dropped.
pub struct Serve {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Where its standard error goes.
    pub log: PathBuf,
}

impl Serve {
    /// Starts `serve` on a free loopback port with `args` besides, and waits until it
    /// listens.
    pub fn start(
        data_dir: &Path,
        database_url: Option<&str>,
        log: PathBuf,
        args: &[&str],
    ) -> Serve {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("server log");
        let mut child = vitrine_command(data_dir, database_url)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start vitrine serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix("vitrine listening on ") {
                    let _ = sender.send(address.trim().to_owned());
                }
            }
        });
        let base = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "serve did not start\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Serve { child, base, log }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
