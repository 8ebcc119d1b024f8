//! Where outgoing emails go: `.eml` files in a directory (the default, for a marketplace
//! that has no mail server yet and for tests) or an SMTP server.

use crate::error::MailError;
use crate::message::OutgoingEmail;
use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;
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

/// Sends through an SMTP server, reusing connections between emails.
#[derive(Clone)]
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// Prepares the transport; no connection is made until the first email.
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        let tls_parameters = || {
            TlsParameters::new(config.host.clone()).map_err(|source| MailError::Tls {
                host: config.host.clone(),
                source,
            })
        };
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls => Tls::Required(tls_parameters()?),
            TlsMode::Tls => Tls::Wrapper(tls_parameters()?),
        };
        // `builder_dangerous` only means "no TLS chosen yet"; the line below chooses it.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(credentials) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                credentials.username.clone(),
                credentials.password.clone(),
            ));
        }
        if let Some(name) = &config.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            server: format!("{}:{} ({})", config.host, config.port, config.tls),
        })
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
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|err| classify(&self.server, &err))
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
