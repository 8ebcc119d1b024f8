//! Test support: a webhook receiver the harness starts on a loopback port, which verifies
//! each delivery's signature with the `standardwebhooks` package from PyPI (a library
//! vitrine did not write) and logs what it received (`testing/receiver.py`).
//!
//! Python: `$VITRINE_TEST_PYTHON`, else `<workspace>/target/test-venv/bin/python3`, where
//! `.ci/run` installs `standardwebhooks`. Without it, tests say they skipped; with
//! `VITRINE_TEST_REQUIRE_WEBHOOKS=1` (CI) that is a failure instead.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const REQUIRE_VAR: &str = "VITRINE_TEST_REQUIRE_WEBHOOKS";
pub const PYTHON_VAR: &str = "VITRINE_TEST_PYTHON";
const SCRIPT: &str = include_str!("testing/receiver.py");

/// One request the receiver got.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Received {
    pub id: Option<String>,
    pub verified: bool,
    #[serde(default)]
    pub payload: serde_json::Value,
    #[serde(default)]
    pub error: Option<String>,
}

/// A running receiver; dropping it stops it.
pub struct TestReceiver {
    port: u16,
    dir: PathBuf,
    python: PathBuf,
    child: Option<Child>,
}

fn python() -> PathBuf {
    std::env::var_os(PYTHON_VAR)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/test-venv/bin/python3")
                .components()
                .collect()
        })
}

impl TestReceiver {
    /// Starts a receiver keeping its files in `dir`, or returns `None` after saying the
    /// test skipped (a failure under `VITRINE_TEST_REQUIRE_WEBHOOKS=1`).
    pub fn start_or_skip(test: &str, dir: &Path) -> Option<TestReceiver> {
        let python = python();
        let ready = Command::new(&python)
            .args(["-c", "import standardwebhooks"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ready {
            let why = format!(
                "{} cannot import standardwebhooks (target/test-venv/bin/pip install \
                 standardwebhooks==1.3.0, or set {PYTHON_VAR})",
                python.display()
            );
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {why}, and {REQUIRE_VAR}=1 requires it");
            }
            eprintln!("{test}: skipped: {why} (set {REQUIRE_VAR}=1 to make this a failure)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"));
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut receiver = TestReceiver {
            port,
            dir: dir.to_owned(),
            python,
            child: None,
        };
        receiver.start();
        Some(receiver)
    }

    /// Starts it again on the same port (after [`Self::stop`]).
    pub fn start(&mut self) {
        let script = self.dir.join("receiver.py");
        std::fs::write(&script, SCRIPT).unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        let mut child = Command::new(&self.python)
            .arg(&script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the webhook receiver: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("the receiver's stdout"));
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("the receiver did not start: {e}"));
        assert_eq!(line.trim(), "ready", "the receiver did not start");
        self.child = Some(child);
    }

    /// Stops it (connections are refused until [`Self::start`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// The secret it verifies signatures with.
    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.join("secret"), secret).unwrap_or_else(|e| panic!("secret: {e}"));
    }

    /// Answer `status` to everything from now on (`None`: verify and answer 204 again).
    pub fn answer(&self, status: Option<u16>) {
        let path = self.dir.join("status");
        match status {
            Some(status) => std::fs::write(&path, status.to_string()),
            None => std::fs::remove_file(&path).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            }),
        }
        .unwrap_or_else(|e| panic!("status: {e}"));
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        match std::fs::read_to_string(self.dir.join("received.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}
