//! Test support: a real Open Service Broker (openbrokerapi, a Flask app) on a free loopback
//! port, for this crate's tests and other crates' (as a dev-dependency: `vitrine-osb`).
//!
//! ```no_run
//! # async fn example() {
//! use vitrine_osb::testing::{BrokerMode, TestBroker};
//! let Some(broker) = TestBroker::start_or_skip("my_test", BrokerMode::Conformant) else {
//!     return;
//! };
//! let report = vitrine_osb::run(
//!     &broker.target(),
//!     &broker.expectations(),
//!     &TestBroker::policy(),
//!     &vitrine_osb::NoJournal,
//! )
//! .await
//! .expect("a report");
//! assert!(broker.state().await.is_empty(), "nothing left on the broker");
//! # }
//! ```
//!
//! - The broker is `src/testing/broker.py` of this crate (embedded, run with `python3 -c`)
//!   with a Python that has `openbrokerapi`: `$VITRINE_TEST_BROKER_PYTHON`, else
//!   `<workspace>/target/test-venv/bin/python3` (made by `.ci/run`).
//! - Without it the test says it skipped and [`TestBroker::start_or_skip`] returns `None`;
//!   with `VITRINE_TEST_REQUIRE_BROKER=1` (CI) that is a failure instead.
//! - Dropping the value closes the script's standard input, which stops it.
//!
//! This module panics instead of returning errors: a broker that cannot be started should
//! stop the test with a clear message.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use url::Url;

use crate::{Expectations, Policy, Target};

/// Set to `1` to make a missing Python or openbrokerapi a failure instead of a skip.
pub const REQUIRE_BROKER_VAR: &str = "VITRINE_TEST_REQUIRE_BROKER";
/// A Python interpreter that can `import openbrokerapi`.
pub const PYTHON_VAR: &str = "VITRINE_TEST_BROKER_PYTHON";

/// The broker's script.
pub const SCRIPT: &str = include_str!("testing/broker.py");

/// The Basic credentials the test broker accepts.
pub const USERNAME: &str = "broker";
pub const PASSWORD: &str = "broker-password";
/// The catalog's `dashboard_client.id`.
pub const DASHBOARD_CLIENT_ID: &str = "vitrine-test-dashboard";
/// The catalog's plan names.
pub const PLAN_NAMES: [&str; 2] = ["small", "large"];

/// How the broker behaves (see `broker.py` for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerMode {
    /// Everything synchronous and as the spec says.
    Conformant,
    /// Provision, bind, unbind and deprovision asynchronous (`AsyncRequired` without
    /// `accepts_incomplete`), polled with `Retry-After: 1` and the `operation` checked.
    ConformantAsync,
    /// Provision answers 200 instead of 201; DELETE of an unknown instance 404, not 410.
    WrongCodes,
    /// Provision answers 202; `last_operation` answers 501.
    AsyncWithoutLastOperation,
    /// Provision creates the instance, then answers 500.
    FailedProvision,
    /// Provision creates the instance, then sleeps 8 s.
    Slow,
    /// A catalog of several MiB, streamed without a Content-Length.
    HugeCatalog,
    /// The catalog is not JSON.
    InvalidJson,
    /// Two plans share an id.
    DuplicatePlanIds,
    /// A plan schema without `$schema` and with an external `$ref`.
    BadPlanSchema,
    /// Any credentials are accepted.
    NoAuth,
    /// The dashboard redirects with another client_id.
    WrongDashboardClient,
    /// Provision answers 422 `ConcurrencyError`.
    ConcurrencyError,
}

impl BrokerMode {
    pub fn name(self) -> &'static str {
        match self {
            BrokerMode::Conformant => "conformant",
            BrokerMode::ConformantAsync => "conformant-async",
            BrokerMode::WrongCodes => "wrong-codes",
            BrokerMode::AsyncWithoutLastOperation => "async-no-last-operation",
            BrokerMode::FailedProvision => "failed-provision",
            BrokerMode::Slow => "slow",
            BrokerMode::HugeCatalog => "huge-catalog",
            BrokerMode::InvalidJson => "invalid-json",
            BrokerMode::DuplicatePlanIds => "duplicate-plan-ids",
            BrokerMode::BadPlanSchema => "bad-plan-schema",
            BrokerMode::NoAuth => "no-auth",
            BrokerMode::WrongDashboardClient => "wrong-dashboard-client",
            BrokerMode::ConcurrencyError => "concurrency-error",
        }
    }
}

/// What the broker still holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct BrokerState {
    pub instances: Vec<String>,
    /// `instance_id/binding_id`.
    pub bindings: Vec<String>,
}

impl BrokerState {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.bindings.is_empty()
    }
}

/// A running test broker; dropping it stops it.
pub struct TestBroker {
    port: u16,
    mode: BrokerMode,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker")
            .field("port", &self.port)
            .field("mode", &self.mode)
            .finish()
    }
}

/// `<workspace>/target/test-venv/bin/python3`, where `.ci/run` makes the venv.
pub fn default_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-venv/bin/python3")
        .components()
        .collect()
}

fn python() -> PathBuf {
    std::env::var_os(PYTHON_VAR)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(default_python)
}

fn skip_or_fail(test: &str, why: &str) {
    if std::env::var(REQUIRE_BROKER_VAR).is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and {REQUIRE_BROKER_VAR}=1 requires it");
    }
    eprintln!("{test}: skipped: {why} (set {REQUIRE_BROKER_VAR}=1 to make this a failure)");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

impl TestBroker {
    /// The authorization endpoint the dashboard redirects to (never called).
    pub const AUTHORIZE_URL: &'static str = "http://127.0.0.1:9/oauth/authorize";

    /// Starts the broker in `mode`, or returns `None` after saying the test skipped.
    pub fn start_or_skip(test: &str, mode: BrokerMode) -> Option<TestBroker> {
        let python = python();
        let ready = Command::new(&python)
            .args(["-c", "import openbrokerapi, flask"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ready {
            skip_or_fail(
                test,
                &format!(
                    "{} cannot import openbrokerapi (make the venv: /usr/bin/python3 -m venv \
                     target/test-venv && target/test-venv/bin/pip install openbrokerapi==4.7.3, \
                     or set {PYTHON_VAR})",
                    python.display()
                ),
            );
            return None;
        }
        // A port picked free can be taken before the script binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(&python)
                .arg("-c")
                .arg(SCRIPT)
                .args(["--port", &port.to_string()])
                .args(["--mode", mode.name()])
                .args(["--username", USERNAME, "--password", PASSWORD])
                .args(["--authorize-url", Self::AUTHORIZE_URL])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("{test}: cannot start the test broker: {e}"));
            let stdin = child.stdin.take();
            let Some(stdout) = child.stdout.take() else {
                panic!("{test}: the test broker has no stdout");
            };
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            if line.trim() == "ready" {
                return Some(TestBroker {
                    port,
                    mode,
                    child,
                    stdin,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            last = line;
        }
        panic!("{test}: the test broker did not start (said {last:?})");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn mode(&self) -> BrokerMode {
        self.mode
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/", self.port))
            .unwrap_or_else(|e| panic!("the test broker's URL: {e}"))
    }

    /// The broker as a target, with the right credentials and OSB 2.17.
    pub fn target(&self) -> Target {
        Target {
            broker_url: self.url(),
            username: USERNAME.to_owned(),
            password: PASSWORD.to_owned(),
            api_version: "2.17".to_owned(),
        }
    }

    /// The offering the broker matches: its plans, its docs (`/docs`, in en and fr), the
    /// authorization endpoint its dashboard redirects to.
    pub fn expectations(&self) -> Expectations {
        Expectations {
            plan_names: PLAN_NAMES.iter().map(|p| (*p).to_owned()).collect(),
            documentation_url: self.url().join("docs").ok(),
            languages: vec!["en".to_owned(), "fr".to_owned()],
            authorization_endpoint: Url::parse(Self::AUTHORIZE_URL).ok(),
            originating_user: "test-user".to_owned(),
        }
    }

    /// Loopback allowed, short limits (2 s a request, 10 s of polling, 20 ms between polls
    /// without Retry-After).
    pub fn policy() -> Policy {
        Policy {
            allow_private_addresses: true,
            request_timeout: Duration::from_secs(2),
            max_response_bytes: 1024 * 1024,
            max_polling: Duration::from_secs(10),
            poll_interval: Duration::from_millis(20),
        }
    }

    /// A plain HTTP client for talking to the broker around the checker (loopback allowed,
    /// no redirects, the rustls set-up of the checker's).
    pub fn client() -> reqwest::Client {
        crate::guard::client(&Self::policy())
            .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
    }

    /// What the broker still holds (instances and bindings).
    pub async fn state(&self) -> BrokerState {
        let url = format!("http://127.0.0.1:{}/_state", self.port);
        let client = Self::client();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let fetched = async {
                let answer = client.get(&url).send().await.map_err(|e| e.to_string())?;
                answer
                    .json::<BrokerState>()
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            match fetched {
                Ok(state) => return state,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot read the test broker's state: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
