//! Test support: a real Dovecot IMAP server per test, and a real SMTP server (aiosmtpd) that
//! delivers into its Maildir, for this crate's tests and any other crate's (as a
//! dev-dependency: `vitrine-mailbox.workspace = true` or `{ path = "../vitrine-mailbox" }`).
//!
//! ```no_run
//! # async fn example() {
//! use vitrine_mailbox::testing::{Dovecot, sample_message};
//! let Some(dovecot) = Dovecot::start_or_skip("my_test") else { return };
//! dovecot.append(Dovecot::USER, "INBOX", &sample_message(1, "hello")).await;
//! let settings = dovecot.settings(); // plain IMAP on loopback, user `vitrine`
//! # }
//! ```
//!
//! - [`Dovecot::start_or_skip`] writes a `dovecot.conf` of its own in a fresh temporary
//!   directory (loopback only, a free port, plain-text login allowed, passwords in a
//!   passwd-file, mail as Maildir under the directory, logs there too) and starts `dovecot -F`
//!   as a child process; dropping the value stops it and removes the directory (kept, with the
//!   log printed, when the test panicked). [`DovecotOptions`] add TLS (a throw-away CA and
//!   certificate made with `openssl`) or replace the advertised capabilities (to test a server
//!   without MOVE or IDLE).
//! - Without Dovecot the test says it skipped and returns `None`; with
//!   `VITRINE_TEST_REQUIRE_DOVECOT=1` (CI) that is a failure instead. The binary is
//!   `$VITRINE_TEST_DOVECOT`, else `dovecot` on the `PATH`, else `/usr/sbin/dovecot`
//!   (Debian's `dovecot-imapd`).
//! - [`SmtpSink::start_or_skip`] runs `tests/support/smtp_to_maildir.py` of this crate with
//!   a Python that has `aiosmtpd`: `$VITRINE_TEST_PYTHON`, else
//!   `<workspace>/target/test-venv/bin/python3` (made by `.ci/run`). Each message it receives
//!   lands in a user's Maildir `new/`, as a local delivery agent would put it. The same
//!   variable `VITRINE_TEST_REQUIRE_DOVECOT=1` makes a missing Python or aiosmtpd a failure.
//!
//! Dovecot runs as root here (CI and the development machines are root): the mail belongs to
//! `nobody`. As another user the harness runs Dovecot's processes and the mail as that user.
//!
//! This module panics instead of returning errors: a server that cannot be prepared should
//! stop the test with a clear message.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::error::Step;
use crate::settings::{AfterHandling, ImapSettings, Security};

/// Set to `1` to make a missing Dovecot (or Python with aiosmtpd) a failure instead of a skip.
pub const REQUIRE_DOVECOT_VAR: &str = "VITRINE_TEST_REQUIRE_DOVECOT";
/// The Dovecot binary to run, when it is not `dovecot` on the `PATH` or `/usr/sbin/dovecot`.
pub const DOVECOT_VAR: &str = "VITRINE_TEST_DOVECOT";
/// A Python interpreter that can `import aiosmtpd`.
pub const PYTHON_VAR: &str = "VITRINE_TEST_PYTHON";

/// How the test Dovecot differs from the plain one.
#[derive(Clone, Debug, Default)]
pub struct DovecotOptions {
    /// Also serve IMAPS on a port of its own, and STARTTLS on the plain one, with a
    /// certificate for `localhost` and `127.0.0.1` signed by a throw-away CA
    /// ([`Dovecot::ca_pem`]).
    pub tls: bool,
    /// Replace the capabilities Dovecot advertises after login (`imap_capability`), e.g.
    /// `"IMAP4rev1 LITERAL+ UIDPLUS"` for a server that offers neither MOVE nor IDLE.
    pub capability: Option<String>,
    /// Listen on this plain IMAP port instead of a free one (to restart a server where a
    /// client expects it).
    pub port: Option<u16>,
    /// Keep Dovecot's default `mail_fsync = optimized` (every saved message reaches the disk
    /// before the answer) instead of `never`, which tests use for speed: for benchmarks.
    pub durable: bool,
}

/// A running Dovecot; dropping it stops the server.
pub struct Dovecot {
    dir: PathBuf,
    conf: PathBuf,
    binary: PathBuf,
    port: u16,
    tls_port: Option<u16>,
    ca_pem: Option<String>,
    child: Option<Child>,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .finish()
    }
}

/// Says a test skipped, or fails it when the variable demands the tool.
fn skip_or_fail(test: &str, why: &str) {
    if std::env::var(REQUIRE_DOVECOT_VAR).is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and {REQUIRE_DOVECOT_VAR}=1 requires it");
    }
    eprintln!("{test}: skipped: {why} (set {REQUIRE_DOVECOT_VAR}=1 to make this a failure)");
}

fn unique_suffix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port nobody listens on right now (the kernel's pick).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

fn find_dovecot() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(DOVECOT_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("dovecot"))
        .find(|candidate| candidate.is_file());
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/sbin/dovecot");
        debian.is_file().then_some(debian)
    })
}

/// The uid, gid and name this process runs as, from /proc (no libc needed).
fn current_user() -> (u32, u32, String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_default()
    };
    let name = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    (field("Uid:"), field("Gid:"), name)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (needed for the TLS test server): {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a certificate it signed for `localhost` and `127.0.0.1`; returns the CA's PEM.
fn make_certificates(dir: &Path) -> String {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=vitrine test CA",
    ]);
    openssl(dir, &ca);
    let mut request = vec!["req"];
    request.extend(ec);
    request.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &request);
    write_file(
        &dir.join("server.ext"),
        "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n",
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    std::fs::read_to_string(dir.join("ca.pem"))
        .unwrap_or_else(|e| panic!("cannot read the test CA: {e}"))
}

impl Dovecot {
    /// The user every test server has.
    pub const USER: &'static str = "vitrine";
    /// Its password.
    pub const PASSWORD: &'static str = "vitrine-test-password";

    /// A plain Dovecot, or `None` after saying the test skipped (see the module's doc).
    pub fn start_or_skip(test: &str) -> Option<Dovecot> {
        Dovecot::start_with(test, DovecotOptions::default())
    }

    /// A Dovecot with these options, or `None` after saying the test skipped.
    pub fn start_with(test: &str, options: DovecotOptions) -> Option<Dovecot> {
        let Some(binary) = find_dovecot() else {
            skip_or_fail(
                test,
                "Dovecot is not installed (apt-get install dovecot-imapd)",
            );
            return None;
        };
        if options.tls && Command::new("openssl").arg("version").output().is_err() {
            skip_or_fail(
                test,
                "openssl is not installed (needed for a TLS test server)",
            );
            return None;
        }
        // A port picked now may be taken before Dovecot binds it: try a few.
        let mut last_failure = String::new();
        for _ in 0..3 {
            match Dovecot::try_start(&binary, &options) {
                Ok(dovecot) => return Some(dovecot),
                Err(failure) if failure.contains("Address already in use") => {
                    last_failure = failure;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(failure) => panic!("{test}: Dovecot did not start: {failure}"),
            }
        }
        panic!("{test}: Dovecot did not start: {last_failure}");
    }

    fn try_start(binary: &Path, options: &DovecotOptions) -> Result<Dovecot, String> {
        let dir = std::env::temp_dir().join(format!("vitrine-dovecot-{}", unique_suffix()));
        for sub in ["", "state", "mail", "home"] {
            std::fs::create_dir_all(dir.join(sub))
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.join(sub).display()));
        }
        // Dovecot's unprivileged processes must reach their sockets and the passwd-file; the
        // mail and homes belong to the mail user.
        set_mode(&dir, 0o755);
        set_mode(&dir.join("mail"), 0o777);
        set_mode(&dir.join("home"), 0o777);
        let passwd = dir.join("passwd");
        write_file(
            &passwd,
            &format!("{}:{{PLAIN}}{}\n", Dovecot::USER, Dovecot::PASSWORD),
        );
        set_mode(&passwd, 0o644);

        let port = options.port.unwrap_or_else(free_port);
        let tls_port = options.tls.then(free_port);
        let ca_pem = options.tls.then(|| make_certificates(&dir));
        let (uid, gid, name) = current_user();
        let (mail_user, service_users) = if uid == 0 {
            ("uid=nobody gid=nogroup".to_owned(), String::new())
        } else {
            (
                format!("uid={uid} gid={gid}"),
                format!("default_internal_user = {name}\ndefault_login_user = {name}\n"),
            )
        };
        let d = dir.display();
        let ssl = match (&tls_port, options.tls) {
            (Some(_), true) => {
                format!("ssl = yes\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key\n")
            }
            _ => "ssl = no\n".to_owned(),
        };
        let fsync = if options.durable {
            "optimized"
        } else {
            "never"
        };
        let capability = options
            .capability
            .as_ref()
            .map(|c| format!("  imap_capability = {c}\n"))
            .unwrap_or_default();
        let conf = format!(
            "# Written by vitrine_mailbox::testing for one test.\n\
             protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             info_log_path = {d}/dovecot.log\n\
             {service_users}\
             {ssl}\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             auth_failure_delay = 0\n\
             mail_location = maildir:{d}/mail/%u\n\
             mail_fsync = {fsync}\n\
             passdb {{\n  driver = passwd-file\n  args = {passwd}\n}}\n\
             userdb {{\n  driver = static\n  args = {mail_user} home={d}/home/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  \
             inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n  }}\n}}\n\
             protocol imap {{\n  mail_max_userip_connections = 100\n{capability}}}\n",
            passwd = passwd.display(),
            imaps = tls_port.unwrap_or(0),
        );
        let conf_path = dir.join("dovecot.conf");
        write_file(&conf_path, &conf);

        let stderr = std::fs::File::create(dir.join("stderr.log"))
            .unwrap_or_else(|e| panic!("cannot create Dovecot's stderr log: {e}"));
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut dovecot = Dovecot {
            dir,
            conf: conf_path,
            binary: binary.to_owned(),
            port,
            tls_port,
            ca_pem,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let ports: Vec<u16> = std::iter::once(port).chain(tls_port).collect();
        for listening in ports {
            loop {
                let address = SocketAddr::from(([127, 0, 0, 1], listening));
                if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                    break;
                }
                let exited = dovecot
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    dovecot.child = None;
                    let failure = format!("dovecot exited with {status}:\n{}", dovecot.log());
                    return Err(failure);
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "Dovecot did not listen on port {listening} within 20 s:\n{}",
                        dovecot.log()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(dovecot)
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The plain IMAP port (STARTTLS there too with [`DovecotOptions::tls`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The IMAPS port, with [`DovecotOptions::tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The PEM of the CA that signed the server's certificate, with [`DovecotOptions::tls`]
    /// (for [`ImapSettings::extra_root_certificates`]).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The temporary directory holding the configuration, the log and the mail.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Maildir of a user's INBOX (it exists once the user logged in once).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.join("mail").join(user)
    }

    /// Adds a user (Dovecot reads the passwd-file again when it changes).
    pub fn add_user(&self, user: &str, password: &str) {
        let passwd = self.dir.join("passwd");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&passwd)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", passwd.display()));
        writeln!(file, "{user}:{{PLAIN}}{password}")
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", passwd.display()));
    }

    /// Settings for [`Dovecot::USER`]: plain IMAP on loopback, `INBOX`, handled messages moved
    /// to `Processed`, short timeouts and a 1 s poll interval.
    pub fn settings(&self) -> ImapSettings {
        self.settings_for(Dovecot::USER, Dovecot::PASSWORD)
    }

    /// [`Dovecot::settings`] for another user.
    pub fn settings_for(&self, user: &str, password: &str) -> ImapSettings {
        let mut settings = ImapSettings::new(self.host(), user, password);
        settings.port = self.port;
        settings.security = Security::Plain;
        settings.after_handling = AfterHandling::MoveTo("Processed".to_owned());
        settings.poll_every = Duration::from_secs(1);
        settings.timeout = Duration::from_secs(20);
        settings
    }

    async fn connect(&self, user: &str) -> Connection {
        let password = if user == Dovecot::USER {
            Dovecot::PASSWORD.to_owned()
        } else {
            self.password_of(user)
        };
        Connection::open(&self.settings_for(user, &password))
            .await
            .unwrap_or_else(|e| panic!("test IMAP connection as {user}: {e}\n{}", self.log()))
    }

    fn password_of(&self, user: &str) -> String {
        let passwd = std::fs::read_to_string(self.dir.join("passwd")).unwrap_or_default();
        passwd
            .lines()
            .rev()
            .filter_map(|l| l.split_once(':'))
            .filter(|(u, _)| *u == user)
            .map(|(_, p)| p.trim_start_matches("{PLAIN}").to_owned())
            .next()
            .unwrap_or_else(|| panic!("no test user {user}"))
    }

    /// Appends one message to a user's mailbox (IMAP APPEND), creating the mailbox if needed.
    pub async fn append(&self, user: &str, mailbox: &str, message: &[u8]) {
        self.append_all(user, mailbox, [message.to_vec()]).await;
    }

    /// Appends messages over one connection.
    pub async fn append_all(
        &self,
        user: &str,
        mailbox: &str,
        messages: impl IntoIterator<Item = Vec<u8>>,
    ) {
        let mut connection = self.connect(user).await;
        if !mailbox.eq_ignore_ascii_case("INBOX") {
            connection
                .ensure_mailbox(mailbox)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for message in messages {
            let peer = connection.peer.clone();
            peer.step(
                Step::Append,
                connection.session.append(mailbox, None, None, &message),
            )
            .await
            .unwrap_or_else(|e| panic!("APPEND to {mailbox}: {e}\n{}", self.log()));
        }
        connection.logout().await;
    }

    /// Dovecot's own pace, as the peer of any benchmark of the poller: one
    /// `UID FETCH 1:* BODY.PEEK[]` of [`Dovecot::USER`]'s INBOX over a logged-in async-imap
    /// session (TCP_NODELAY), every answer read. Returns the messages read, their bytes and
    /// how long it took; nothing is marked or moved.
    pub async fn raw_fetch_all(&self) -> (usize, usize, Duration) {
        use futures_util::StreamExt;
        let tcp = tokio::net::TcpStream::connect((self.host(), self.port))
            .await
            .unwrap_or_else(|e| panic!("connect to the test Dovecot: {e}"));
        tcp.set_nodelay(true)
            .unwrap_or_else(|e| panic!("TCP_NODELAY: {e}"));
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .unwrap_or_else(|e| panic!("greeting: {e}"));
        let mut session = client
            .login(Dovecot::USER, Dovecot::PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("login: {e}"));
        session
            .select("INBOX")
            .await
            .unwrap_or_else(|e| panic!("select: {e}"));
        let started = Instant::now();
        let (mut count, mut bytes) = (0, 0);
        {
            let mut answers = session
                .uid_fetch("1:*", "BODY.PEEK[]")
                .await
                .unwrap_or_else(|e| panic!("fetch: {e}"));
            while let Some(answer) = answers.next().await {
                let answer = answer.unwrap_or_else(|e| panic!("fetch answer: {e}"));
                bytes += answer.body().map_or(0, <[u8]>::len);
                count += 1;
            }
        }
        let took = started.elapsed();
        let _ = session.logout().await;
        (count, bytes, took)
    }

    /// How many messages a user's mailbox holds (0 when it does not exist).
    pub async fn count(&self, user: &str, mailbox: &str) -> u32 {
        let mut connection = self.connect(user).await;
        let count = match tokio::time::timeout(
            Duration::from_secs(20),
            connection.session.status(mailbox, "(MESSAGES)"),
        )
        .await
        {
            Ok(Ok(status)) => status.exists,
            Ok(Err(async_imap::error::Error::No(_))) => 0,
            Ok(Err(e)) => panic!("STATUS {mailbox}: {e}\n{}", self.log()),
            Err(_) => panic!("STATUS {mailbox} timed out\n{}", self.log()),
        };
        connection.logout().await;
        count
    }

    /// Dovecot's log (and what it wrote on stderr).
    pub fn log(&self) -> String {
        let mut log = String::new();
        for name in ["stderr.log", "dovecot.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(name))
                && !text.is_empty()
            {
                log.push_str(&format!("--- {name} ---\n{text}"));
            }
        }
        if log.is_empty() {
            log.push_str("(Dovecot logged nothing)");
        }
        log
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to the master (the child: it runs in the foreground) stops its
            // children before it exits; `dovecot stop` does the same, but waits in whole
            // seconds.
            let signalled = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !signalled {
                let _ = Command::new(&self.binary)
                    .arg("-c")
                    .arg(&self.conf)
                    .arg("stop")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "Dovecot of the failed test kept in {}\n{}",
                self.dir.display(),
                self.log()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A real SMTP server (aiosmtpd) on a loopback port that delivers every message it accepts
/// into one user's Maildir on a [`Dovecot`]. Dropping it stops it.
pub struct SmtpSink {
    port: u16,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("port", &self.port)
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

impl SmtpSink {
    /// Starts the sink for `user`'s INBOX, or `None` after saying the test skipped (see the
    /// module's doc for the Python it needs).
    pub async fn start_or_skip(test: &str, dovecot: &Dovecot, user: &str) -> Option<SmtpSink> {
        let python = std::env::var_os(PYTHON_VAR)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_python);
        let has_aiosmtpd = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_aiosmtpd {
            skip_or_fail(
                test,
                &format!(
                    "{} cannot import aiosmtpd (make the venv: /usr/bin/python3 -m venv target/test-venv \
                     && target/test-venv/bin/pip install aiosmtpd, or set {PYTHON_VAR})",
                    python.display()
                ),
            );
            return None;
        }
        // Let Dovecot make the Maildir first, as the mail user.
        dovecot.count(user, "INBOX").await;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_to_maildir.py");
        let port = free_port();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--maildir")
            .arg(dovecot.maildir(user))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            panic!("the SMTP sink has no stdout");
        };
        let mut line = String::new();
        // The script prints `ready` once it accepts connections (or exits on failure).
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{test}: the SMTP sink did not start (said {line:?})");
        }
        Some(SmtpSink { port, child, stdin })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // End of input tells the script to stop.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small plain-text message, CRLF line ends, with a `Message-ID` unique to this process and
/// call: `<n>` and `subject` say which one it is.
pub fn sample_message(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Provider <provider@example.org>\r\n\
         To: reply+abc@inbound.example.org\r\n\
         Subject: {subject}\r\n\
         Message-ID: <test-{n}-{unique}@example.org>\r\n\
         Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Message number {n}.\r\n",
        unique = unique_suffix()
    )
    .into_bytes()
}

/// The `Subject` of a raw message (test helper: unfolded, first occurrence).
pub fn subject_of(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let header = text.split("\r\n\r\n").next().unwrap_or_default();
    header
        .split("\r\n")
        .find_map(|line| line.strip_prefix("Subject: "))
        .map(str::to_owned)
}
