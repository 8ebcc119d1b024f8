//! Where outgoing emails go: `.eml` files in a directory (the default, for a marketplace
//! that has no mail server yet and for tests) or an SMTP server.

use crate::error::MailError;
use crate::message::OutgoingEmail;
use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use uuid::Uuid;

/// A failed send. `permanent` tells the dispatcher whether trying again can succeed: a 5xx
/// reply (unknown mailbox, message refused) or a message that cannot be built will fail the
/// same way every time; a 4xx reply, a refused or dropped connection, a timeout or a full
/// disk may pass.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{} send failure: {message}", if *.permanent { "permanent" } else { "transient" })]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }
}

impl From<MailError> for SendError {
    fn from(err: MailError) -> Self {
        SendError::permanent(err.to_string())
    }
}

/// Sends outgoing emails. Object safe, so the server can hold an `Arc<dyn MailTransport>`
/// chosen by configuration.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError>;
}

/// Writes each email as `<message-id>.eml` into a directory.
///
/// The file appears whole or not at all (written to a temporary name in the same directory,
/// flushed to disk, then renamed), so a reader never sees half a message, even after a
/// crash. Sending the same email again replaces its file: at-least-once delivery from the
/// outbox leaves one file per email.
#[derive(Clone, Debug)]
pub struct FileTransport {
    directory: PathBuf,
}

impl FileTransport {
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self {
            directory: directory.into(),
        }
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The file an email is written to.
    pub fn path_of(&self, email: &OutgoingEmail) -> PathBuf {
        self.directory.join(file_name(&email.message_id))
    }
}

/// A file name from a Message-ID: the id without its brackets, every character outside a
/// safe set replaced, so that no id can climb out of the directory or upset a file system.
fn file_name(message_id: &str) -> String {
    let id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A leading dot would hide the file and would be the temporary files' prefix.
    format!("{}.eml", safe.trim_start_matches('.'))
}

fn write_atomically(directory: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(directory)?;
    let temporary = directory.join(format!(".{}.tmp", Uuid::now_v7()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename lives in the directory: without this a crash right after "sent" could
        // lose the file while the outbox has already marked the email sent.
        #[cfg(unix)]
        std::fs::File::open(directory)?.sync_all()?;
        Ok(())
    })();
    if written.is_err() {
        // Best effort: the write already failed, and that is the error worth reporting.
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[async_trait]
impl MailTransport for FileTransport {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let bytes = email.formatted()?;
        let directory = self.directory.clone();
        let path = self.path_of(email);
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || write_atomically(&directory, &path, &bytes))
            .await
            .map_err(|err| SendError::transient(format!("writing {shown}: {err}")))?
            .map_err(|err| SendError::transient(format!("writing {shown}: {err}")))
    }
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text: only for a relay on the same machine or network.
    None,
    /// Plain connection upgraded with STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl TlsMode {
    /// The port this mode usually runs on.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        }
    }
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::Starttls),
            "tls" => Ok(TlsMode::Tls),
            other => Err(format!(
                "'{other}' is not a TLS mode: use none, starttls or tls"
            )),
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::None => "none",
            TlsMode::Starttls => "starttls",
            TlsMode::Tls => "tls",
        })
    }
}

/// A user name and password for SMTP AUTH.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    // Configuration is logged at start-up; the password must not be.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Where and how to reach the SMTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<SmtpCredentials>,
    /// For connecting and for each command.
    pub timeout: Duration,
    /// The name given in EHLO, usually the sending domain. Without it the address literal
    /// `[127.0.0.1]` is sent: the machine's host name (lettre's `hostname` feature) is, in a
    /// container, a random string that strict relays refuse just the same.
    pub hello_name: Option<String>,
}

impl SmtpConfig {
    /// A configuration with the mode's usual port, no credentials and a 30 s timeout.
    pub fn new(host: impl Into<String>, tls: TlsMode) -> Self {
        Self {
            host: host.into(),
            port: tls.default_port(),
            tls,
            credentials: None,
            timeout: Duration::from_secs(30),
            hello_name: None,
        }
    }
}

/// Connections kept open at most: as many emails can be under way at once.
const MAX_CONNECTIONS: usize = 10;

/// A connection idle for longer than this is checked (`NOOP`) before it carries an email:
/// relays close idle connections, and a send on a closed one would fail for nothing.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);

/// A connection idle for longer than this is closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// Sends through an SMTP server, reusing connections between emails.
///
/// The connections are opened here, not by lettre's pooled transport, for one reason: they
/// must have `TCP_NODELAY`. lettre writes a message's body and its closing `.` in two
/// writes; with Nagle's algorithm on, the second waits for the server's acknowledgement of
/// the first, which a relay delays (40 ms on Linux), so one connection carried about 22
/// emails a second (`bench/README.md`). lettre's own connection type still speaks SMTP
/// (EHLO, STARTTLS, AUTH, the envelope and the dot-stuffed data); only the socket is ours.
#[derive(Clone)]
pub struct SmtpTransport {
    pool: Arc<SmtpPool>,
}

struct SmtpPool {
    host: String,
    port: u16,
    /// For STARTTLS (lettre upgrades the connection itself).
    starttls: Option<TlsParameters>,
    /// For TLS from the first byte: the handshake is made here, before lettre reads the
    /// greeting.
    implicit_tls: Option<(TlsConnector, ServerName<'static>)>,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
    idle: Mutex<Vec<IdleConnection>>,
    /// One permit per connection that may be open, so at most `MAX_CONNECTIONS` exist.
    permits: Semaphore,
    server: String,
}

struct IdleConnection {
    connection: AsyncSmtpConnection,
    since: Instant,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("server", &self.pool.server)
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// Prepares the transport; no connection is made until the first email.
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let tls_error = |detail: String| MailError::TlsSettings {
            host: config.host.clone(),
            detail,
        };
        let starttls = match config.tls {
            TlsMode::Starttls => Some(TlsParameters::new(config.host.clone()).map_err(
                |source| MailError::Tls {
                    host: config.host.clone(),
                    source,
                },
            )?),
            TlsMode::None | TlsMode::Tls => None,
        };
        let implicit_tls = match config.tls {
            TlsMode::Tls => {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| tls_error(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = ServerName::try_from(config.host.clone()).map_err(|e| {
                    tls_error(format!("{:?} is not a TLS server name: {e}", config.host))
                })?;
                Some((TlsConnector::from(Arc::new(tls)), name))
            }
            TlsMode::None | TlsMode::Starttls => None,
        };
        let hello = match &config.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        Ok(Self {
            pool: Arc::new(SmtpPool {
                host: config.host.clone(),
                port: config.port,
                starttls,
                implicit_tls,
                credentials: config.credentials.as_ref().map(|credentials| {
                    Credentials::new(credentials.username.clone(), credentials.password.clone())
                }),
                timeout: config.timeout,
                hello,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(MAX_CONNECTIONS),
                server: format!("{}:{} ({})", config.host, config.port, config.tls),
            }),
        })
    }
}

impl SmtpPool {
    /// An open connection to send on: an idle one that still answers, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let idle = self
                .idle
                .lock()
                .map_err(|_| SendError::transient("the SMTP connection pool is poisoned"))?
                .pop();
            let Some(IdleConnection {
                mut connection,
                since,
            }) = idle
            else {
                return self.connect().await;
            };
            let idle_for = since.elapsed();
            if idle_for > MAX_IDLE {
                self.close(connection).await;
                continue;
            }
            if idle_for <= CHECK_AFTER_IDLE
                || tokio::time::timeout(self.timeout, connection.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(connection);
            }
            connection.abort().await;
        }
    }

    /// Opens a connection: TCP with `TCP_NODELAY`, TLS when configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let timed_out = || SendError::transient(format!("SMTP {}: timed out", self.server));
        let network = |step: &str, err: std::io::Error| {
            SendError::transient(format!("SMTP {}: {step}: {err}", self.server))
        };
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|err| network("connecting", err))?;
        tcp.set_nodelay(true)
            .map_err(|err| network("setting TCP_NODELAY", err))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit_tls {
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|err| network("TLS handshake", err))?;
                Box::new(ImplicitTls(tls))
            }
            None => Box::new(tcp),
        };
        let opened = async {
            let mut connection =
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
            if let Some(parameters) = &self.starttls {
                if !connection.can_starttls() {
                    return Err(None);
                }
                connection.starttls(parameters.clone(), &self.hello).await?;
            }
            if let Some(credentials) = &self.credentials {
                connection
                    .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await?;
            }
            Ok(connection)
        };
        match tokio::time::timeout(self.timeout, opened).await {
            Err(_) => Err(timed_out()),
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(Some(err))) => Err(classify(&self.server, &err)),
            // The operator asked for STARTTLS: sending in clear instead is not an option,
            // and retrying will not make the server offer it.
            Ok(Err(None)) => Err(SendError::permanent(format!(
                "SMTP {}: the server does not offer STARTTLS",
                self.server
            ))),
        }
    }

    /// Keeps a connection that can carry another email; closes one that cannot.
    async fn release(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let unkept = match self.idle.lock() {
            Ok(mut idle) => {
                idle.push(IdleConnection {
                    connection,
                    since: Instant::now(),
                });
                None
            }
            Err(_) => Some(connection),
        };
        if let Some(connection) = unkept {
            self.close(connection).await;
        }
    }

    async fn close(&self, mut connection: AsyncSmtpConnection) {
        // Polite, bounded, and without consequence if the server is gone already.
        if tokio::time::timeout(self.timeout, connection.quit())
            .await
            .is_err()
        {
            connection.abort().await;
        }
    }
}

/// A TLS stream lettre can speak SMTP over (it asks for the peer's address).
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Sorts an SMTP failure into retry or give up.
fn classify(server: &str, err: &lettre::transport::smtp::Error) -> SendError {
    let message = format!("SMTP {server}: {err}");
    // Permanent: the server said 5xx, or lettre refused the message itself (it will refuse
    // it again). Everything else, 4xx replies, connections, timeouts, TLS handshakes and
    // garbled replies, may go through later or after the operator fixes the configuration.
    if err.is_permanent() || err.is_client() {
        SendError::permanent(message)
    } else {
        SendError::transient(message)
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = email.to_message()?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let pool = &self.pool;
        let _permit = pool
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::transient("the SMTP transport is shut down"))?;
        let mut connection = pool.connection().await?;
        match tokio::time::timeout(pool.timeout, connection.send(&envelope, &bytes)).await {
            Ok(Ok(_)) => {
                pool.release(connection).await;
                Ok(())
            }
            Ok(Err(err)) => {
                // lettre closes the connection on any failed step (`has_broken`), so
                // `release` drops it rather than keeping it.
                pool.release(connection).await;
                Err(classify(&pool.server, &err))
            }
            Err(_) => {
                // Mid-exchange: the connection's state is unknown; never reuse it.
                connection.abort().await;
                Err(SendError::transient(format!(
                    "SMTP {}: timed out while sending",
                    pool.server
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_their_directory() {
        assert_eq!(
            file_name("<0192-ab@mail.example.com>"),
            "0192-ab@mail.example.com.eml"
        );
        assert_eq!(file_name("<../../etc/passwd>"), "_.._etc_passwd.eml");
        assert_eq!(file_name("<a/b\\c d>"), "a_b_c_d.eml");
    }

    #[test]
    fn tls_modes_parse_and_print() {
        for mode in [TlsMode::None, TlsMode::Starttls, TlsMode::Tls] {
            assert_eq!(mode.to_string().parse::<TlsMode>(), Ok(mode));
        }
        assert!("ssl".parse::<TlsMode>().is_err());
    }
}
