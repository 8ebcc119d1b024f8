//! Outgoing messages: an [`OutgoingEmail`] is a [`Rendered`] email with its sender,
//! recipients, its own `Message-ID` and, for an email of a thread, the thread's root in
//! `In-Reply-To` and `References` (see [`crate::thread`] for why every email points at
//! one root).

use crate::error::MailError;
use crate::render::Rendered;
use lettre::Message;
use lettre::message::MultiPart;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::thread::ThreadKey;
pub use lettre::message::Mailbox;

/// An email ready to send, as the outbox keeps it: sending it again (after a failure, or a
/// crash before the outbox row was marked sent) sends the same Message-ID, so a recipient's
/// client can recognise the duplicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// With its angle brackets, as in the header.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub thread: Option<ThreadKey>,
    /// `Auto-Submitted` (RFC 3834): `auto-replied` on an automatic answer to a received
    /// message, so that the other side's responders never answer it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_submitted: Option<String>,
    /// `Content-Language` (RFC 3282): the language it is written in, `en` or `fr`. Absent
    /// from emails the outbox stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The `Date` header: when the change that caused the email happened, on vitrine's
    /// clock (the test clock in a rehearsal). The dispatcher sets it from the outbox row
    /// when it is absent; without either, the moment it is formatted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<jiff::Timestamp>,
}

/// A header holding one line of text, as written: lettre has no type for these two.
macro_rules! text_header {
    ($(#[$doc:meta])* $type:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        struct $type(String);

        impl lettre::message::header::Header for $type {
            fn name() -> lettre::message::header::HeaderName {
                lettre::message::header::HeaderName::new_from_ascii_str($name)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok(Self(s.to_owned()))
            }

            fn display(&self) -> lettre::message::header::HeaderValue {
                lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(
    /// The `Auto-Submitted` header (RFC 3834 §5).
    AutoSubmitted,
    "Auto-Submitted"
);
text_header!(
    /// The `Content-Language` header (RFC 3282).
    ContentLanguage,
    "Content-Language"
);

impl OutgoingEmail {
    pub fn builder(from: Mailbox, rendered: Rendered) -> OutgoingEmailBuilder {
        OutgoingEmailBuilder {
            from,
            rendered,
            to: Vec::new(),
            reply_to: None,
            thread: None,
            domain: None,
            answering: None,
        }
    }

    /// The MIME message: multipart/alternative, plain text first then HTML (clients show
    /// the last part they can display), UTF-8 throughout, subject encoded as RFC 2047
    /// words when it is not ASCII.
    pub fn to_message(&self) -> Result<Message, MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(in_reply_to) = &self.in_reply_to {
            builder = builder.in_reply_to(in_reply_to.clone());
        }
        if let Some(auto_submitted) = &self.auto_submitted {
            builder = builder.header(AutoSubmitted(auto_submitted.clone()));
        }
        if let Some(language) = &self.language {
            builder = builder.header(ContentLanguage(language.clone()));
        }
        if let Some(date) = self.date {
            // lettre takes a `SystemTime`; an instant before 1970 cannot be a change's time.
            let since_epoch = std::time::Duration::try_from(date.as_duration()).unwrap_or_default();
            builder = builder.date(std::time::UNIX_EPOCH + since_epoch);
        }
        if !self.references.is_empty() {
            // One header, ids separated by spaces (RFC 5322 3.6.4); lettre's `references`
            // replaces rather than appends.
            builder = builder.references(self.references.join(" "));
        }
        let body = MultiPart::alternative_plain_html(self.text.clone(), self.html.clone());
        Ok(builder.multipart(body)?)
    }

    /// The message as it goes on the wire and into an `.eml` file.
    pub fn formatted(&self) -> Result<Vec<u8>, MailError> {
        Ok(self.to_message()?.formatted())
    }
}

/// Builds an [`OutgoingEmail`] with its Message-ID and threading headers.
#[derive(Clone, Debug)]
pub struct OutgoingEmailBuilder {
    from: Mailbox,
    rendered: Rendered,
    to: Vec<Mailbox>,
    reply_to: Option<Mailbox>,
    thread: Option<ThreadKey>,
    domain: Option<String>,
    answering: Option<String>,
}

impl OutgoingEmailBuilder {
    pub fn to(mut self, mailbox: Mailbox) -> Self {
        self.to.push(mailbox);
        self
    }

    pub fn to_all(mut self, mailboxes: impl IntoIterator<Item = Mailbox>) -> Self {
        self.to.extend(mailboxes);
        self
    }

    pub fn reply_to(mut self, mailbox: Mailbox) -> Self {
        self.reply_to = Some(mailbox);
        self
    }

    /// Puts the email in a thread; `None` sends it on its own.
    pub fn thread(mut self, thread: Option<ThreadKey>) -> Self {
        self.thread = thread;
        self
    }

    /// Makes the email an automatic answer to the received message with this Message-ID
    /// (without angle brackets): it points at it (`In-Reply-To`, `References`) instead of a
    /// thread and says `Auto-Submitted: auto-replied` (RFC 3834).
    pub fn answering(mut self, message_id: &str) -> Self {
        self.answering = Some(message_id.to_owned());
        self
    }

    /// The domain Message-IDs are made in. By default the sender's: a domain the
    /// marketplace controls, so ids cannot collide with anyone else's.
    pub fn message_id_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    pub fn build(self) -> Result<OutgoingEmail, MailError> {
        if self.to.is_empty() {
            return Err(MailError::NoRecipient);
        }
        let domain = match self.domain {
            Some(domain) => domain,
            None => self.from.email.domain().to_owned(),
        };
        if domain.is_empty() {
            return Err(MailError::NoDomain {
                address: self.from.email.to_string(),
            });
        }
        // UUID v7: unique without coordination between servers, and sorts by creation.
        let message_id = format!("<{}@{domain}>", Uuid::now_v7());
        let root = self.thread.map(|thread| thread.root_message_id(&domain));
        let (root, auto_submitted) = match self.answering {
            Some(id) => (
                Some(format!("<{}>", id.trim_matches(['<', '>']))),
                Some("auto-replied".to_owned()),
            ),
            None => (root, None),
        };
        Ok(OutgoingEmail {
            from: self.from,
            to: self.to,
            reply_to: self.reply_to,
            subject: self.rendered.subject,
            text: self.rendered.text,
            html: self.rendered.html,
            message_id,
            in_reply_to: root.clone(),
            references: root.into_iter().collect(),
            thread: self.thread,
            auto_submitted,
            language: Some(self.rendered.language.code().to_owned()),
            date: None,
        })
    }
}
