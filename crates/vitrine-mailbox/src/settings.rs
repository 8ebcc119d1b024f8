//! What the poller is told: which server, which account, which mailbox, what to do with a
//! handled message, and the limits.

use std::fmt;
use std::time::Duration;

/// How the connection to the IMAP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAPS, port 993). The server's certificate is checked against
    /// Mozilla's roots (bundled) and [`ImapSettings::extra_root_certificates`].
    Tls,
    /// Plain text, then `STARTTLS` before anything else is said (port 143). A server that does
    /// not offer STARTTLS is refused.
    StartTls,
    /// Plain text, allowed only when every address the host resolves to is a loopback address
    /// (a local Dovecot, a tunnel): the password would otherwise cross a network in the clear.
    Plain,
    /// Plain text to any address. Only for a network the operator trusts as much as loopback.
    PlainRemote,
}

impl Security {
    /// The port this security usually goes with: 993 for TLS, 143 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Tls => 993,
            Security::StartTls | Security::Plain | Security::PlainRemote => 143,
        }
    }
}

/// What becomes of a message once the handler is done with it ([`crate::Handled::Stored`] or
/// [`crate::Handled::Refused`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterHandling {
    /// Marked `\Seen` and moved to this mailbox, created when it is missing. `UID MOVE` where
    /// the server offers MOVE (RFC 6851), else `UID COPY`, `\Deleted` and an expunge of those
    /// messages only (`UID EXPUNGE` where UIDPLUS is offered). The polled mailbox then only
    /// holds what is still to be handled.
    MoveTo(String),
    /// Marked `\Seen` and left where it is; only unseen messages are polled. For a mailbox the
    /// account may not change otherwise; a person reading it in a mail client would hide
    /// messages from vitrine, so prefer [`AfterHandling::MoveTo`].
    MarkSeen,
    /// Marked `\Deleted` and expunged: gone from the server.
    Delete,
}

/// Everything [`crate::poll_once`] and [`crate::run`] need to know. `Debug` hides the password.
#[derive(Clone)]
pub struct ImapSettings {
    /// Host name or address of the IMAP server (also the name its TLS certificate must carry).
    pub host: String,
    /// TCP port (see [`Security::default_port`]).
    pub port: u16,
    pub security: Security,
    /// Login name (IMAP `LOGIN`).
    pub username: String,
    pub password: String,
    /// The mailbox to poll, usually `INBOX`.
    pub mailbox: String,
    pub after_handling: AfterHandling,
    /// How long [`crate::run`] waits between polls when the server offers no IDLE, and how soon
    /// it tries again after a handler answered [`crate::Handled::Retry`].
    pub poll_every: Duration,
    /// How long [`crate::run`] stays in one IDLE before it ends it and polls anyway (servers may
    /// drop an IDLE older than 30 minutes; RFC 2177 says to re-issue it within 29).
    pub idle_refresh: Duration,
    /// Messages larger than this (their `RFC822.SIZE`) are not fetched: the handler is given
    /// their header only ([`crate::Content::TooLarge`]).
    pub max_message_bytes: u64,
    /// Messages larger than this (and within `max_message_bytes`) are not held in memory:
    /// they are fetched in pieces of [`crate::SPOOL_PIECE_BYTES`] (`BODY.PEEK[]<offset.length>`)
    /// into an unnamed temporary file, and handed over as [`crate::Content::Spooled`].
    pub spool_above: u64,
    /// Where spooled messages are written (an unnamed file, gone when closed, even after a
    /// crash); `None`: the system's temporary directory.
    pub spool_dir: Option<std::path::PathBuf>,
    /// How many messages one `UID FETCH` asks for, and so how many are handled between two
    /// moves: what a crash can make the caller see twice.
    pub batch: usize,
    /// Longest wait for any one step: connecting, the TLS handshake, the server's answer to a
    /// command, the next message of a fetch.
    pub timeout: Duration,
    /// Extra certificate authorities (PEM, one or more `CERTIFICATE` blocks) trusted besides
    /// the bundled roots, for a server with a private CA.
    pub extra_root_certificates: Option<String>,
}

impl ImapSettings {
    /// Settings for TLS on port 993, polling `INBOX` and moving handled messages to
    /// `Processed`, every 60 s without IDLE, messages up to 25 MiB (those above 4 MiB spooled
    /// to a temporary file), 50 per fetch.
    pub fn new(
        host: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> ImapSettings {
        ImapSettings {
            host: host.into(),
            port: Security::Tls.default_port(),
            security: Security::Tls,
            username: username.into(),
            password: password.into(),
            mailbox: "INBOX".to_owned(),
            after_handling: AfterHandling::MoveTo("Processed".to_owned()),
            poll_every: Duration::from_secs(60),
            idle_refresh: Duration::from_secs(25 * 60),
            max_message_bytes: 25 * 1024 * 1024,
            spool_above: 4 * 1024 * 1024,
            spool_dir: None,
            batch: 50,
            timeout: Duration::from_secs(60),
            extra_root_certificates: None,
        }
    }

    /// `host:port`, as errors and logs name the server.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// What is wrong with these settings, if anything (checked before connecting).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push("the IMAP host is empty".to_owned());
        }
        if self.port == 0 {
            problems.push("the IMAP port is 0".to_owned());
        }
        if self.username.is_empty() {
            problems.push("the IMAP username is empty".to_owned());
        }
        if self.mailbox.trim().is_empty() {
            problems.push("the mailbox to poll is empty".to_owned());
        }
        if let AfterHandling::MoveTo(target) = &self.after_handling {
            if target.trim().is_empty() {
                problems.push("the mailbox to move handled messages to is empty".to_owned());
            } else if target == &self.mailbox
                || (target.eq_ignore_ascii_case("INBOX")
                    && self.mailbox.eq_ignore_ascii_case("INBOX"))
            {
                problems.push(format!(
                    "handled messages would be moved to {target:?}, the mailbox being polled"
                ));
            }
        }
        if self.batch == 0 {
            problems.push("the fetch batch is 0".to_owned());
        }
        if self.timeout.is_zero() {
            problems.push("the IMAP timeout is 0".to_owned());
        }
        if self.poll_every.is_zero() {
            problems.push("the poll interval is 0".to_owned());
        }
        if self.idle_refresh.is_zero() {
            problems.push("the IDLE refresh interval is 0".to_owned());
        }
        for (what, value) in [
            ("username", &self.username),
            ("password", &self.password),
            ("mailbox", &self.mailbox),
        ] {
            if value.contains(['\r', '\n']) {
                problems.push(format!("the IMAP {what} contains a line break"));
            }
        }
        problems
    }
}

impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("mailbox", &self.mailbox)
            .field("after_handling", &self.after_handling)
            .field("poll_every", &self.poll_every)
            .field("idle_refresh", &self.idle_refresh)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("spool_above", &self.spool_above)
            .field("spool_dir", &self.spool_dir)
            .field("batch", &self.batch)
            .field("timeout", &self.timeout)
            .field(
                "extra_root_certificates",
                &self.extra_root_certificates.as_ref().map(|_| "<pem>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let settings = ImapSettings::new("imap.example.org", "inbound", "hunter2");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("inbound"), "{shown}");
    }

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        let settings = ImapSettings::new("imap.example.org", "inbound", "pw");
        assert_eq!(settings.problems(), Vec::<String>::new());
        assert_eq!(settings.server(), "imap.example.org:993");

        let mut bad = settings.clone();
        bad.after_handling = AfterHandling::MoveTo("inbox".to_owned());
        bad.batch = 0;
        bad.password = "a\r\nb".to_owned();
        let problems = bad.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("the mailbox being polled"));
    }

    #[test]
    fn an_ipv6_server_is_bracketed() {
        let mut settings = ImapSettings::new("::1", "u", "p");
        settings.port = 143;
        assert_eq!(settings.server(), "[::1]:143");
    }
}
