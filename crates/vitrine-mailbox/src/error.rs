//! What can go wrong, each error naming the server and the step.

use std::fmt;
use std::time::Duration;

/// One step of a conversation with the IMAP server, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Resolve,
    Connect,
    TlsHandshake,
    Greeting,
    StartTls,
    Login,
    Capability,
    Select,
    Search,
    Fetch,
    Store,
    Copy,
    Move,
    Expunge,
    Create,
    Idle,
    Append,
    Status,
    Logout,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Resolve => "resolving the host name",
            Step::Connect => "connecting",
            Step::TlsHandshake => "the TLS handshake",
            Step::Greeting => "the server's greeting",
            Step::StartTls => "STARTTLS",
            Step::Login => "LOGIN",
            Step::Capability => "CAPABILITY",
            Step::Select => "SELECT",
            Step::Search => "UID SEARCH",
            Step::Fetch => "UID FETCH",
            Step::Store => "UID STORE",
            Step::Copy => "UID COPY",
            Step::Move => "UID MOVE",
            Step::Expunge => "EXPUNGE",
            Step::Create => "CREATE",
            Step::Idle => "IDLE",
            Step::Append => "APPEND",
            Step::Status => "STATUS",
            Step::Logout => "LOGOUT",
        })
    }
}

/// Why a poll failed. Every variant names the server (`host:port`).
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The settings cannot work (see [`crate::ImapSettings::problems`]).
    #[error("invalid IMAP settings: {}", .problems.join("; "))]
    Settings { problems: Vec<String> },
    /// [`crate::Security::Plain`] towards an address that is not loopback.
    #[error(
        "IMAP server {server}: refusing plain-text IMAP to {address}, which is not a loopback address \
         (the password would cross the network in the clear); use TLS or STARTTLS"
    )]
    PlainTextRefused { server: String, address: String },
    /// The TLS settings cannot be used (a bad extra root certificate, a host name that is not
    /// a valid TLS server name).
    #[error("IMAP server {server}: TLS cannot be set up: {detail}")]
    TlsSettings { server: String, detail: String },
    /// Resolving, connecting or the TLS handshake failed.
    #[error("IMAP server {server}: {step} failed: {source}")]
    Network {
        server: String,
        step: Step,
        #[source]
        source: std::io::Error,
    },
    /// [`crate::Security::StartTls`] with a server that does not offer it.
    #[error("IMAP server {server} does not offer STARTTLS ({detail})")]
    NoStartTls { server: String, detail: String },
    /// The server said no to the user name and password.
    #[error("IMAP server {server} refused the login of user {user:?}: {detail}")]
    LoginRefused {
        server: String,
        user: String,
        detail: String,
    },
    /// The mailbox to poll does not exist (or the user may not open it).
    #[error("IMAP server {server}: user {user:?} cannot open mailbox {mailbox:?}: {detail}")]
    NoSuchMailbox {
        server: String,
        user: String,
        mailbox: String,
        detail: String,
    },
    /// A step took longer than [`crate::ImapSettings::timeout`].
    #[error("IMAP server {server}: {step} timed out after {after:?}")]
    Timeout {
        server: String,
        step: Step,
        after: Duration,
    },
    /// A large message could not be written to its temporary file (a full disk, a spool
    /// directory that is missing or not writable).
    #[error("cannot spool a large inbound message in {}: {source}", .dir.display())]
    Spool {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The server answered NO or BAD, closed the connection, or said something unreadable.
    #[error("IMAP server {server}: {step} failed: {detail}")]
    Protocol {
        server: String,
        step: Step,
        detail: String,
    },
}

impl MailboxError {
    /// Whether trying again later can help without anyone changing the settings or the
    /// server's configuration (a network fault, a timeout, a server that hung up).
    pub fn retry_helps(&self) -> bool {
        match self {
            MailboxError::Network { .. }
            | MailboxError::Timeout { .. }
            | MailboxError::Spool { .. }
            | MailboxError::Protocol { .. } => true,
            MailboxError::Settings { .. }
            | MailboxError::PlainTextRefused { .. }
            | MailboxError::TlsSettings { .. }
            | MailboxError::NoStartTls { .. }
            | MailboxError::LoginRefused { .. }
            | MailboxError::NoSuchMailbox { .. } => false,
        }
    }

    /// The step that failed, where there was one.
    pub fn step(&self) -> Option<Step> {
        match self {
            MailboxError::Network { step, .. }
            | MailboxError::Timeout { step, .. }
            | MailboxError::Protocol { step, .. } => Some(*step),
            MailboxError::LoginRefused { .. } => Some(Step::Login),
            MailboxError::NoSuchMailbox { .. } => Some(Step::Select),
            MailboxError::NoStartTls { .. } => Some(Step::StartTls),
            MailboxError::TlsSettings { .. } => Some(Step::TlsHandshake),
            MailboxError::Spool { .. } => Some(Step::Fetch),
            MailboxError::Settings { .. } | MailboxError::PlainTextRefused { .. } => None,
        }
    }
}

/// The server's own words from an async-imap error: its NO/BAD text as
/// `[CODE] information` rather than the library's `code: Some(..), info: Some(..)`.
pub(crate) fn server_words(error: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    match error {
        Error::No(text) | Error::Bad(text) => {
            let kind = if matches!(error, Error::No(_)) {
                "NO"
            } else {
                "BAD"
            };
            match tidy_status_text(text) {
                Some(tidy) => format!("{kind} {tidy}"),
                None => format!("{kind} {text}"),
            }
        }
        Error::ConnectionLost => "the server closed the connection".to_owned(),
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection".to_owned()
        }
        other => other.to_string(),
    }
}

/// `code: Some(AuthenticationFailed), info: Some("Authentication failed.")` →
/// `[AuthenticationFailed] Authentication failed.`
fn tidy_status_text(text: &str) -> Option<String> {
    let rest = text.strip_prefix("code: ")?;
    let (code, info) = rest.split_once(", info: ")?;
    let code = code.strip_prefix("Some(").and_then(|c| c.strip_suffix(')'));
    let info = info
        .strip_prefix("Some(\"")
        .and_then(|i| i.strip_suffix("\")"))
        .map(|i| i.replace("\\\"", "\""));
    match (code, info) {
        (Some(code), Some(info)) => Some(format!("[{code}] {info}")),
        (None, Some(info)) => Some(info),
        (Some(code), None) => Some(format!("[{code}]")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts_are_tidied() {
        assert_eq!(
            tidy_status_text(
                r#"code: Some(AuthenticationFailed), info: Some("Authentication failed.")"#
            )
            .as_deref(),
            Some("[AuthenticationFailed] Authentication failed.")
        );
        assert_eq!(
            tidy_status_text(r#"code: None, info: Some("Mailbox doesn't exist: Nope")"#).as_deref(),
            Some("Mailbox doesn't exist: Nope")
        );
        assert_eq!(tidy_status_text("something else"), None);
    }

    #[test]
    fn configuration_errors_do_not_promise_a_retry() {
        let refused = MailboxError::LoginRefused {
            server: "imap.example.org:993".into(),
            user: "inbound".into(),
            detail: "NO [AUTHENTICATIONFAILED] Authentication failed.".into(),
        };
        assert!(!refused.retry_helps());
        assert_eq!(
            refused.to_string(),
            "IMAP server imap.example.org:993 refused the login of user \"inbound\": \
             NO [AUTHENTICATIONFAILED] Authentication failed."
        );
        let lost = MailboxError::Protocol {
            server: "s:1".into(),
            step: Step::Fetch,
            detail: "the server closed the connection".into(),
        };
        assert!(lost.retry_helps());
        assert_eq!(lost.step(), Some(Step::Fetch));
    }
}
