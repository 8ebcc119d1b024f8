//! The `vitrine` binary as an operator runs it: help, bootstrap, migrations, errors, and
//! `serve` answering HTTP, on SQLite and (when `VITRINE_TEST_DATABASE_URL` is set) on
//! PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vitrine_store_testing::TestDatabase;

const VITRINE: &str = env!("CARGO_BIN_EXE_vitrine");

/// Configuration variables of the binary: removed from the child's environment so the
/// developer's own settings cannot change what a test sees.
const CONFIG_VARS: &[&str] = &[
    "VITRINE_CONFIG",
    "VITRINE_LISTEN",
    "VITRINE_DATA_DIR",
    "VITRINE_DATABASE_URL",
    "VITRINE_SECURE_COOKIES",
    "VITRINE_MAX_BODY_BYTES",
    "VITRINE_LOG",
    "VITRINE_REPLY_ADDRESS",
    "VITRINE_MAX_RECORDING_BYTES",
    "VITRINE_S3_ENDPOINT",
    "VITRINE_S3_BUCKET",
    "VITRINE_S3_ACCESS_KEY_ID",
    "VITRINE_S3_SECRET_ACCESS_KEY",
    "VITRINE_S3_SECRET_ACCESS_KEY_FILE",
];

/// `vitrine` with a clean environment.
fn vitrine() -> Command {
    let mut command = Command::new(VITRINE);
    for var in CONFIG_VARS {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// Runs the command to completion.
fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {VITRINE}: {e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        stdout(output),
        stderr(output)
    )
}

/// Where a test's database lives: a data directory (SQLite by default) and, optionally, a
/// database URL.
struct Target {
    data_dir: PathBuf,
    database_url: Option<String>,
}

impl Target {
    fn sqlite(dir: &tempfile::TempDir) -> Target {
        Target {
            data_dir: dir.path().join("data"),
            database_url: None,
        }
    }

    fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.arg("--data-dir").arg(&self.data_dir);
        if let Some(url) = &self.database_url {
            command.arg("--database-url").arg(url);
        }
        command
    }

    /// Runs `admin bootstrap` and returns the token from the last line of its output.
    fn bootstrap(&self, email: &str) -> String {
        let output = run(self.apply(&mut vitrine()).args([
            "admin",
            "bootstrap",
            "--email",
            email,
            "--name",
            "First Admin",
        ]));
        assert!(
            output.status.success(),
            "bootstrap failed\n{}",
            describe(&output)
        );
        let out = stdout(&output);
        let token = out.lines().last().unwrap_or_default().trim().to_owned();
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "the last line of standard output is not a token\n{}",
            describe(&output)
        );
        token
    }
}

/// A running `vitrine serve`, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    /// Starts `serve` on a free port and waits until it prints where it listens.
    fn start(target: &Target, log_dir: &Path) -> Server {
        Server::start_with(target, log_dir, &[])
    }

    /// [`Server::start`] with more `serve` options.
    fn start_with(target: &Target, log_dir: &Path, options: &[&str]) -> Server {
        let log = log_dir.join("serve.log");
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let mut child = target
            .apply(&mut vitrine())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start vitrine serve");
        let stdout = child.stdout.take().expect("serve's stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = line.strip_prefix("vitrine listening on ") {
                    let _ = sender.send(address.trim().to_owned());
                }
            }
        });
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => server.base = base,
            Err(_) => panic!(
                "vitrine serve did not print its address within 60 s\n{}",
                server.log()
            ),
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for serve") {
                assert!(
                    status.success(),
                    "serve did not exit cleanly on SIGTERM: {status}\n{}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within 30 s of SIGTERM\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks the server answers health checks and that `token` signs in as `email`.
async fn check_server_answers(server: &Server, token: &str, email: &str) {
    let client = reqwest::Client::new();

    let healthz = client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(healthz.status(), 200, "/healthz\n{}", server.log());

    let readyz = client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    assert_eq!(readyz.status(), 200, "/readyz\n{}", server.log());

    let anonymous = client
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .expect("GET /api/v1/me");
    assert_eq!(anonymous.status(), 401, "/api/v1/me without a token");

    let me = client
        .get(server.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/v1/me with a token");
    assert_eq!(
        me.status(),
        200,
        "/api/v1/me with the bootstrap token\n{}",
        server.log()
    );
    let body: serde_json::Value = me.json().await.expect("/api/v1/me returns JSON");
    let text = body.to_string();
    assert!(
        text.contains(email),
        "/api/v1/me does not name {email}: {text}"
    );
    assert!(
        text.contains("\"admin\":true"),
        "the bootstrap user is not an admin: {text}"
    );
}

#[test]
fn help_lists_every_subcommand() {
    let output = run(vitrine().arg("--help"));
    assert!(output.status.success(), "{}", describe(&output));
    let help = stdout(&output);
    for command in ["serve", "migrate", "admin"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "`vitrine --help` does not list {command}\n{help}"
        );
    }

    let output = run(vitrine().args(["admin", "--help"]));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("bootstrap"),
        "{}",
        describe(&output)
    );

    for (args, options) in [
        (
            &["serve", "--help"][..],
            &[
                "--listen",
                "--data-dir",
                "--database-url",
                "--config",
                "--secure-cookies",
                "VITRINE_LISTEN",
            ][..],
        ),
        (&["migrate", "--help"][..], &["--database-url"][..]),
        (
            &["admin", "bootstrap", "--help"][..],
            &["--email", "--name"][..],
        ),
    ] {
        let output = run(vitrine().args(args));
        assert!(output.status.success(), "{args:?}\n{}", describe(&output));
        let help = stdout(&output);
        for option in options {
            assert!(
                help.contains(option),
                "{args:?} does not mention {option}\n{help}"
            );
        }
    }
}

#[test]
fn bootstrap_prints_a_token_then_refuses_a_second_admin() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    target.bootstrap("first@example.com");
    assert!(
        target.data_dir.join("vitrine.db").exists(),
        "the data directory was not created with the database in it"
    );

    let second = run(target.apply(&mut vitrine()).args([
        "admin",
        "bootstrap",
        "--email",
        "second@example.com",
    ]));
    assert_eq!(second.status.code(), Some(1), "{}", describe(&second));
    assert!(
        stdout(&second).trim().is_empty(),
        "a refused bootstrap printed something that looks like a token\n{}",
        describe(&second)
    );
    assert!(
        stderr(&second).contains("already exists"),
        "{}",
        describe(&second)
    );
}

#[test]
fn bootstrap_refuses_an_invalid_email() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    let output =
        run(target
            .apply(&mut vitrine())
            .args(["admin", "bootstrap", "--email", "not an email"]));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stdout(&output).trim().is_empty(), "{}", describe(&output));
    // And the refusal left no admin behind: a valid bootstrap still works.
    target.bootstrap("ok@example.com");
}

#[test]
fn migrate_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    for _ in 0..2 {
        let output = run(target.apply(&mut vitrine()).arg("migrate"));
        assert!(output.status.success(), "{}", describe(&output));
        let out = stdout(&output);
        assert!(out.contains("sqlite"), "{}", describe(&output));
        assert!(
            out.contains(&target.data_dir.join("vitrine.db").display().to_string()),
            "migrate does not say which database\n{}",
            describe(&output)
        );
    }
}

#[test]
fn unreachable_postgres_fails_fast_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 3] = [
        &["migrate"],
        &["admin", "bootstrap", "--email", "a@example.com"],
        &["serve", "--listen", "127.0.0.1:0"],
    ];
    // All three at once: each waits for the store's connect timeout.
    let started = Instant::now();
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            let child = vitrine()
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .args(["--database-url", "postgres://postgres:secret@127.0.0.1:1/x"])
                .args(*args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (args, child)
        })
        .collect();
    for (args, child) in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}\n{}",
            describe(&output)
        );
        let message = stderr(&output);
        assert!(
            message.contains("cannot open the database postgres://postgres:***@127.0.0.1:1/x"),
            "{args:?}: the message does not name the database\n{}",
            describe(&output)
        );
        assert!(
            !message.contains("secret"),
            "{args:?}: the password leaked\n{message}"
        );
        assert!(message.contains("Check that"), "{args:?}\n{message}");
        assert!(
            stdout(&output).is_empty(),
            "{args:?}\n{}",
            describe(&output)
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "took {elapsed:?} to give up on an unreachable database"
    );
}

#[test]
fn an_unsupported_database_url_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(vitrine().current_dir(dir.path()).args([
        "--database-url",
        "mysql://db/vitrine",
        "migrate",
    ]));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains("unsupported database URL mysql://db/vitrine"),
        "{}",
        describe(&output)
    );
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(created.is_empty(), "files were created: {created:?}");
}

#[test]
fn a_data_dir_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let data_dir = file.join("data");
    let output = run(vitrine().arg("--data-dir").arg(&data_dir).arg("migrate"));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "cannot create the data directory {}",
            data_dir.display()
        )),
        "{}",
        describe(&output)
    );
    assert!(message.contains("--data-dir"), "{message}");
}

#[test]
fn a_wrong_s3_secret_stops_serve_at_start_up_with_a_clear_message() {
    let Some(s3) = vitrine_blob::testing::TestS3::start_or_skip(
        "a_wrong_s3_secret_stops_serve_at_start_up_with_a_clear_message",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("s3-secret");
    std::fs::write(&secret_file, "not-the-secret\n").unwrap();
    let output = run(vitrine()
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--s3-endpoint", &s3.endpoint(), "--s3-allow-http"])
        .args(["--s3-bucket", vitrine_blob::testing::TestS3::BUCKET])
        .args([
            "--s3-access-key-id",
            vitrine_blob::testing::TestS3::ACCESS_KEY,
        ])
        .arg("--s3-secret-access-key-file")
        .arg(&secret_file));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let message = stderr(&output);
    assert!(
        message.contains("cannot use the recording bucket")
            && message.contains("refused the credentials")
            && message.contains("SignatureDoesNotMatch"),
        "{}",
        describe(&output)
    );
    // It never listened.
    assert!(
        !stdout(&output).contains("listening"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_bad_configuration_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitrine.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:8080\"\ndata_dir = [\n").unwrap();
    let output = run(vitrine().arg("--config").arg(&config).arg("migrate"));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&config.display().to_string()) && message.contains("line 2"),
        "{}",
        describe(&output)
    );
}

/// Where the database lands shows which data directory won: the command line beats the
/// environment, which beats the configuration file.
#[test]
fn command_line_beats_environment_beats_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_env, from_cli) = (
        dir.path().join("from-file"),
        dir.path().join("from-env"),
        dir.path().join("from-cli"),
    );
    let config = dir.path().join("vitrine.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", from_file.display().to_string()),
    )
    .unwrap();
    let db = |d: &Path| d.join("vitrine.db").exists();

    let output = run(vitrine().env("VITRINE_CONFIG", &config).arg("migrate"));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(db(&from_file) && !db(&from_env) && !db(&from_cli));

    let output = run(vitrine()
        .env("VITRINE_CONFIG", &config)
        .env("VITRINE_DATA_DIR", &from_env)
        .arg("migrate"));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(db(&from_env) && !db(&from_cli));

    let output = run(vitrine()
        .env("VITRINE_CONFIG", &config)
        .env("VITRINE_DATA_DIR", &from_env)
        .arg("migrate")
        .arg("--data-dir")
        .arg(&from_cli));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(db(&from_cli));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_health_checks_and_the_bootstrap_token() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    let token = target.bootstrap("admin@example.com");
    let server = Server::start(&target, dir.path());
    check_server_answers(&server, &token, "admin@example.com").await;
    server.terminate();
}

/// The token of a printed `/reset-password?token=…` link.
fn link_token(text: &str) -> String {
    let start = text
        .find("/reset-password?token=")
        .expect("a password link")
        + 22;
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_chooses_a_password_through_the_printed_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    let output = run(target.apply(&mut vitrine()).args([
        "admin",
        "bootstrap",
        "--email",
        "admin@example.com",
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let explained = stderr(&output);
    assert!(
        explained.contains("http://127.0.0.1:8080/reset-password?token=vit_"),
        "{explained}"
    );
    let first = link_token(&explained);
    // Another link on request, printed alone on standard output.
    let output = run(target.apply(&mut vitrine()).args([
        "admin",
        "password-link",
        "--email",
        "admin@example.com",
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let second = link_token(&stdout(&output));
    assert_ne!(first, second);
    let unknown = run(target.apply(&mut vitrine()).args([
        "admin",
        "password-link",
        "--email",
        "nobody@example.com",
    ]));
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("nobody@example.com"),
        "{}",
        describe(&unknown)
    );

    let server = Server::start(&target, dir.path());
    let http = reqwest::Client::new();
    let set = http
        .post(server.url("/api/v1/auth/password-reset/confirm"))
        .json(&serde_json::json!({"token": first, "new_password": "the admin's password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        set.status(),
        204,
        "{}",
        set.text().await.unwrap_or_default()
    );
    let signed_in = http
        .post(server.url("/api/v1/auth/sign-in"))
        .json(
            &serde_json::json!({"email": "admin@example.com", "password": "the admin's password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_and_serve_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        data_dir: dir.path().join("data"),
        database_url: Some(database.url.clone()),
    };
    let token = target.bootstrap("admin@example.com");
    let second = run(target.apply(&mut vitrine()).args([
        "admin",
        "bootstrap",
        "--email",
        "second@example.com",
    ]));
    assert_eq!(second.status.code(), Some(1), "{}", describe(&second));

    let migrate = run(target.apply(&mut vitrine()).arg("migrate"));
    assert!(migrate.status.success(), "{}", describe(&migrate));
    assert!(
        stdout(&migrate).contains("postgres"),
        "{}",
        describe(&migrate)
    );

    let server = Server::start(&target, dir.path());
    check_server_answers(&server, &token, "admin@example.com").await;
    server.terminate();
    // Only the server's data directory is created; the database is elsewhere.
    assert!(!target.data_dir.join("vitrine.db").exists());
}

/// The repository's root, where README.md and scripts/ live.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The part of scripts/walkthrough.sh that README.md shows.
fn walkthrough_section() -> String {
    let script = std::fs::read_to_string(repo_root().join("scripts/walkthrough.sh"))
        .expect("read scripts/walkthrough.sh");
    let start = script
        .find("# --- walkthrough start")
        .and_then(|i| script[i..].find('\n').map(|j| i + j + 1))
        .expect("scripts/walkthrough.sh marks where the walkthrough starts");
    let end = script
        .find("# --- walkthrough end")
        .expect("scripts/walkthrough.sh marks where the walkthrough ends");
    script[start..end].to_owned()
}

#[test]
fn readme_shows_the_walkthrough_script_verbatim() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md");
    let section = walkthrough_section();
    assert!(
        readme.contains(&format!("```sh\n{section}```")),
        "README.md must show the walkthrough section of scripts/walkthrough.sh verbatim, \
         in one ```sh block:\n{section}"
    );
}

/// Whether the programs the walkthrough needs are installed; `VITRINE_TEST_REQUIRE_TOOLS=1`
/// (set by .ci/run) turns their absence into a failure.
fn walkthrough_tools_present() -> bool {
    let missing: Vec<&str> = ["bash", "curl", "jq"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("VITRINE_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("VITRINE_TEST_REQUIRE_TOOLS=1 but {missing:?} are not installed");
    }
    eprintln!("skipped: the README walkthrough needs {missing:?} (install them to run it)");
    false
}

/// Runs `scripts/<script>` against a live server (started with `options`) on `target`'s
/// database; its standard output if it succeeds.
fn run_script(target: &Target, log_dir: &Path, script: &str, options: &[&str]) -> String {
    let server = Server::start_with(target, log_dir, options);
    let mut command = Command::new("bash");
    command
        .arg(repo_root().join("scripts").join(script))
        .env("VITRINE_BIN", VITRINE)
        .env("VITRINE_URL", &server.base)
        .env("VITRINE_DATA_DIR", &target.data_dir)
        .stdin(Stdio::null());
    for var in CONFIG_VARS {
        if *var != "VITRINE_DATA_DIR" {
            command.env_remove(var);
        }
    }
    if let Some(url) = &target.database_url {
        command.env("VITRINE_DATABASE_URL", url);
    }
    let output = command.output().expect("run the script");
    assert!(
        output.status.success(),
        "scripts/{script} failed\n{}\n--- server log ---\n{}",
        describe(&output),
        server.log()
    );
    server.terminate();
    stdout(&output)
}

/// Runs scripts/walkthrough.sh against a live server on `target`'s database.
fn run_walkthrough(target: &Target, log_dir: &Path) {
    assert_eq!(
        run_script(target, log_dir, "walkthrough.sh", &[]),
        "acme-db\n{\"items\":[],\"total\":0}\n404\n",
        "the walkthrough's outcome differs from what README.md promises"
    );
}

/// Runs scripts/review-cycle.sh against a live server with the test clock.
fn run_review_cycle(target: &Target, log_dir: &Path) {
    assert_eq!(
        run_script(target, log_dir, "review-cycle.sh", &["--test-clock"]),
        "catalog-listing\nprovision\n{\"queue_position\":1}\n[\"open_due_sessions\"]\n\
         decided_pending_release\n[\"release_due_decisions\"]\nchanges_requested\nacme-db\n\
         approved\npublished\nacme-db\n14\n9\n",
        "the review cycle's outcome differs from what its comments promise"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn review_cycle_script_works_on_sqlite() {
    if !walkthrough_tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_review_cycle(&Target::sqlite(&dir), dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn review_cycle_script_works_on_postgres() {
    if !walkthrough_tools_present() {
        return;
    }
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        data_dir: dir.path().join("data"),
        database_url: Some(database.url.clone()),
    };
    run_review_cycle(&target, dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_walkthrough_works_on_sqlite() {
    if !walkthrough_tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_walkthrough(&Target::sqlite(&dir), dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_walkthrough_works_on_postgres() {
    if !walkthrough_tools_present() {
        return;
    }
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        data_dir: dir.path().join("data"),
        database_url: Some(database.url.clone()),
    };
    run_walkthrough(&target, dir.path());
}

/// `vitrine mail ingest` with `email` on standard input.
fn ingest(target: &Target, extra: &[&str], email: &[u8]) -> Output {
    use std::io::Write;
    let mut command = vitrine();
    target
        .apply(&mut command)
        .args(["mail", "ingest"])
        .args(extra);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {VITRINE}: {e}"));
    match child.stdin.take().expect("stdin").write_all(email) {
        Ok(()) => {}
        // It may answer before reading the message (a configuration error), and exit before
        // the write: the MTA reads the exit code either way.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(error) => panic!("write the email: {error}"),
    }
    child.wait_with_output().expect("vitrine mail ingest ends")
}

#[test]
fn mail_ingest_answers_with_the_exit_codes_mtas_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = Target::sqlite(&dir);
    let email = b"From: someone@example.com\r\nTo: info@in.example.com\r\n\
        Message-ID: <m1@example.com>\r\nSubject: hello\r\n\r\nHello!\r\n";
    // Not configured for replies: EX_CONFIG, with the setting named.
    let output = ingest(&target, &[], email);
    assert_eq!(output.status.code(), Some(78), "{}", describe(&output));
    assert!(
        stderr(&output).contains("--reply-address"),
        "{}",
        describe(&output)
    );
    let pattern = ["--reply-address", "reply+{key}@in.example.com"];
    // Not one of our reply addresses: EX_NOUSER, so the MTA bounces it.
    let output = ingest(&target, &pattern, email);
    assert_eq!(output.status.code(), Some(67), "{}", describe(&output));
    assert!(
        stderr(&output).contains("no-reply-key"),
        "{}",
        describe(&output)
    );
    // An automatic reply is taken (logged, never answered): 0.
    let auto = b"Auto-Submitted: auto-replied\r\nFrom: a@example.com\r\n\
        Message-ID: <m2@example.com>\r\nSubject: Out of office\r\n\r\nAway.\r\n";
    let output = ingest(&target, &pattern, auto);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("auto-reply"),
        "{}",
        describe(&output)
    );
    // The same message again: taken once, 0.
    let output = ingest(&target, &pattern, auto);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("already taken"),
        "{}",
        describe(&output)
    );
    // A large message (a recording) is spooled to a file, not held, and read the same way;
    // nothing is left in the data directory.
    let mut large = b"Auto-Submitted: auto-replied\r\nFrom: a@example.com\r\n\
        Message-ID: <m3@example.com>\r\nSubject: Out of office\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nAway.\r\n--b\r\nContent-Type: video/mp4\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    while large.len() < 6 * 1024 * 1024 {
        large.extend_from_slice(&[b'A'; 76]);
        large.extend_from_slice(b"\r\n");
    }
    large.extend_from_slice(b"--b--\r\n");
    let before: Vec<_> = std::fs::read_dir(&target.data_dir)
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    let output = ingest(&target, &pattern, &large);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stderr(&output).contains("auto-reply"),
        "{}",
        describe(&output)
    );
    let after: Vec<_> = std::fs::read_dir(&target.data_dir)
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    assert_eq!(before, after, "the spool left nothing behind");
    // A bad pattern is a configuration error.
    let output = ingest(&target, &["--reply-address", "reply@in.example.com"], email);
    assert_eq!(output.status.code(), Some(78), "{}", describe(&output));
    // The database cannot be reached: EX_TEMPFAIL, so the MTA retries.
    let output = ingest(
        &Target {
            data_dir: dir.path().join("data2"),
            database_url: Some("postgres://nobody@127.0.0.1:1/none".to_owned()),
        },
        &pattern,
        email,
    );
    assert_eq!(output.status.code(), Some(75), "{}", describe(&output));
}

/// SIGTERM while requests are under way: each of them is answered in full, then the server
/// exits cleanly; `--log-format json` writes one JSON object a line.
#[test]
fn requests_in_flight_when_sigterm_comes_are_all_answered() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    target.bootstrap("admin@example.com");
    let server = Server::start_with(&target, dir.path(), &["--log-format", "json"]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let (started, all_started) = mpsc::channel();
    let requests: Vec<_> = (0..8)
        .map(|n| {
            let address = address.clone();
            let started = started.clone();
            // One address each: the per-account lock (5 failures) is not what this is about.
            let body =
                format!(r#"{{"email":"nobody{n}@example.test","password":"wrong wrong wrong"}}"#);
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(&address).expect("connect");
                write!(
                    stream,
                    "POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: vitrine\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{}",
                    body.len(),
                    &body[..20]
                )
                .expect("send the head");
                stream.flush().expect("flush");
                started.send(()).expect("tell");
                // The rest of the body arrives after SIGTERM.
                std::thread::sleep(Duration::from_millis(1500));
                stream
                    .write_all(&body.as_bytes()[20..])
                    .expect("send the rest");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).expect("read the answer");
                answer
            })
        })
        .collect();
    for _ in 0..8 {
        all_started
            .recv_timeout(Duration::from_secs(10))
            .expect("every request under way");
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log.clone();
    server.terminate();
    for request in requests {
        let answer = request.join().expect("a request thread");
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "a request under way was cut: {answer:?}"
        );
        assert!(answer.contains("/problems/unauthenticated"), "{answer}");
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("vitrine stopped")), "{log}");
}

/// `backup` while `serve` runs, then `restore` into a new data directory: the same admin
/// signs in, the recording bytes and the secret key are the same; neither overwrites.
#[tokio::test(flavor = "multi_thread")]
async fn backup_then_restore_round_trip_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::sqlite(&dir);
    let token = target.bootstrap("admin@example.com");
    let server = Server::start(&target, dir.path());
    check_server_answers(&server, &token, "admin@example.com").await;
    // A recording's bytes, as the blob store keeps them.
    let blob = target.data_dir.join("blobs/recordings/demo.bin");
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::write(&blob, b"recorded bytes").unwrap();
    let key = std::fs::read(target.data_dir.join("secret.key")).expect("serve made the key");

    // Online: the server is still running.
    let backup_dir = dir.path().join("backup");
    let output = run(target.apply(&mut vitrine()).arg("backup").arg(&backup_dir));
    assert!(output.status.success(), "{}", describe(&output));
    let out = stdout(&output);
    assert!(out.contains("Database: SQLite snapshot"), "{out}");
    assert!(out.contains("Recordings: 1 files, 14 bytes"), "{out}");
    assert!(backup_dir.join("vitrine-backup.json").exists());
    // Never over an existing backup.
    let again = run(target.apply(&mut vitrine()).arg("backup").arg(&backup_dir));
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        describe(&again)
    );
    server.terminate();

    let elsewhere = Target {
        data_dir: dir.path().join("restored"),
        database_url: None,
    };
    let output = run(elsewhere
        .apply(&mut vitrine())
        .arg("restore")
        .arg(&backup_dir));
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        std::fs::read(elsewhere.data_dir.join("blobs/recordings/demo.bin")).unwrap(),
        b"recorded bytes"
    );
    assert_eq!(
        std::fs::read(elsewhere.data_dir.join("secret.key")).unwrap(),
        key
    );
    // Restoring again would overwrite: refused, nothing touched.
    let again = run(elsewhere
        .apply(&mut vitrine())
        .arg("restore")
        .arg(&backup_dir));
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("nothing is overwritten"),
        "{}",
        describe(&again)
    );
    let server = Server::start(&elsewhere, &elsewhere.data_dir);
    check_server_answers(&server, &token, "admin@example.com").await;
    server.terminate();
}
