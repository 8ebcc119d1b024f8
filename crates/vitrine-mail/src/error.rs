use thiserror::Error;

/// Why an email could not be rendered or built, or a transport set up. Every one of these
/// is a bug or a bad configuration, never a passing network condition: retrying the same
/// email will not help.
#[derive(Debug, Error)]
pub enum MailError {
    /// The embedded templates failed to load (a syntax error in one of them).
    #[error("the email templates failed to load: {0}")]
    Templates(String),
    #[error("rendering template {template} failed: {source:#}")]
    Render {
        template: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("the recipient's time zone '{name}' is unknown: {source}")]
    TimeZone {
        name: String,
        #[source]
        source: jiff::Error,
    },
    #[error("an email needs at least one recipient")]
    NoRecipient,
    #[error("building the message failed: {0}")]
    Message(#[from] lettre::error::Error),
    #[error("setting up TLS for the SMTP server {host} failed: {source}")]
    Tls {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("setting up TLS for the SMTP server {host} failed: {detail}")]
    TlsSettings { host: String, detail: String },
    #[error("'{address}' has no domain to name Message-IDs after")]
    NoDomain { address: String },
}
