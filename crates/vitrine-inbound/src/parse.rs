//! One received message, read with mail-parser 0.11 into what vitrine needs: who sent it, to
//! which addresses, what it answers, its text, its attachments, its authentication results
//! and, for a delivery report, what happened to each recipient.

use std::borrow::Cow;

use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::{Language, html, trim};

/// Why bytes could not be read as a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the input is empty")]
    Empty,
    #[error("the input is not an email message (no header fields)")]
    NotAMessage,
    /// Read from an outline, a large body that was cut is not one of the attachments
    /// mail-parser found: taking it would store its first bytes only.
    #[error("a large part of the message could not be located")]
    LargePartLost,
}

impl ParseError {
    /// A stable identifier for logs and translations.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::Empty => "empty-message",
            Self::NotAMessage => "not-a-message",
            Self::LargePartLost => "large-part-lost",
        }
    }
}

/// An address with its display name, as in `From: Ana Souza <ana@acme.example>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub address: String,
    pub name: Option<String>,
}

impl Mailbox {
    /// The part after the last `@`, lowercase.
    pub fn domain(&self) -> Option<String> {
        self.address
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_ascii_lowercase())
    }

    /// The part before the last `@`.
    pub fn local_part(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or(self.address.as_str(), |(local, _)| local)
    }
}

/// The `Return-Path` the final server recorded (the SMTP envelope sender).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnPath {
    /// `<>`: the null sender that delivery reports and automatic replies use.
    Null,
    Address(String),
}

/// Which header field a recipient address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientSource {
    To,
    Cc,
    /// `Delivered-To` (Postfix, Gmail and others add it at delivery).
    DeliveredTo,
    /// `X-Original-To` (Postfix: the envelope recipient before aliases).
    XOriginalTo,
    /// `Envelope-To` or `X-Envelope-To` (Exim and others).
    EnvelopeTo,
}

/// One recipient address of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub source: RecipientSource,
}

/// Where [`InboundMessage::text`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextSource {
    /// A `text/plain` part (preferred whenever there is one).
    Plain,
    /// An HTML-only message, turned into text.
    Html,
    /// No text at all (a message with attachments only, say).
    None,
}

/// An attachment, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the sender gave (`Content-Disposition` filename or `Content-Type` name).
    pub file_name: Option<String>,
    /// The declared type, lowercase `type/subtype` (what the sender's client claimed: the
    /// recording check sniffs the bytes instead).
    pub content_type: String,
    /// Sent inline rather than as an attachment (images of signatures, often).
    pub inline: bool,
    /// The decoded bytes (for an attached message, the message as it was). For a
    /// [`Attachment::spooled`] one, only its first bytes (enough to sniff its type).
    pub bytes: Vec<u8>,
    /// Read from an [`crate::outline::Outline`], a large base64 body left in the spooled
    /// message: where it lies there and its decoded size. `None`: `bytes` is all of it.
    pub spooled: Option<crate::outline::LargePart>,
}

impl Attachment {
    /// The decoded size in bytes.
    pub fn size(&self) -> u64 {
        match &self.spooled {
            Some(part) => part.decoded_len,
            None => self.bytes.len() as u64,
        }
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("inline", &self.inline)
            .field("size", &self.size())
            .field("spooled", &self.spooled.is_some())
            .finish()
    }
}

/// One `Authentication-Results` header field (RFC 8601).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticationResults {
    /// The server that wrote it. Trust only the one your own receiving server writes
    /// (anyone can add such a header field before the message reaches it).
    pub authserv_id: String,
    pub results: Vec<AuthResult>,
}

/// One method's result, such as `dkim=pass header.d=acme.example`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthResult {
    /// Lowercase: `dkim`, `spf`, `dmarc`, `arc`, …
    pub method: String,
    /// Lowercase: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, …
    pub result: String,
    pub reason: Option<String>,
    /// `(ptype.property, value)` in order, the names lowercase: `("header.d", "acme.example")`.
    pub properties: Vec<(String, String)>,
}

impl AuthResult {
    /// The value of a property such as `header.d` or `smtp.mailfrom`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn passed(&self) -> bool {
        self.result == "pass"
    }
}

impl AuthenticationResults {
    /// The first result of a method (`"dkim"`, `"spf"`, `"dmarc"`).
    pub fn result_of(&self, method: &str) -> Option<&AuthResult> {
        self.results
            .iter()
            .find(|r| r.method.eq_ignore_ascii_case(method))
    }

    /// A passing result that vouches for `domain` (the From domain): `dmarc=pass` with
    /// `header.from` of that domain, `dkim=pass` with `header.d` (or `header.i`), or
    /// `spf=pass` with `smtp.mailfrom` (or `smtp.helo`) of the same organisation (equal, or
    /// one a subdomain of the other: relaxed alignment, without a public-suffix list).
    pub fn aligned_pass(&self, domain: &str) -> Option<&AuthResult> {
        let keys: &[(&str, &[&str])] = &[
            ("dmarc", &["header.from"]),
            ("dkim", &["header.d", "header.i"]),
            ("spf", &["smtp.mailfrom", "smtp.helo"]),
        ];
        keys.iter().find_map(|(method, properties)| {
            self.results.iter().find(|r| {
                r.method == *method
                    && r.passed()
                    && properties.iter().any(|p| {
                        r.property(p)
                            .map(|v| v.rsplit('@').next().unwrap_or(v))
                            .is_some_and(|d| aligned(d, domain))
                    })
            })
        })
    }
}

fn aligned(a: &str, b: &str) -> bool {
    let a = a.trim().trim_end_matches('.').to_ascii_lowercase();
    let b = b.trim().trim_end_matches('.').to_ascii_lowercase();
    !a.is_empty()
        && !b.is_empty()
        && (a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")))
}

/// What a multipart/report says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// RFC 3464 (or RFC 6533) delivery status notification.
    DeliveryStatus(DeliveryStatus),
    /// RFC 8098 message disposition notification (a read receipt).
    DispositionNotification,
    /// Another report type (its `report-type`, lowercase).
    Other(String),
}

/// The `message/delivery-status` part of a DSN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub reporting_mta: Option<String>,
    pub recipients: Vec<RecipientStatus>,
}

/// One recipient's block of a DSN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientStatus {
    /// `Final-Recipient`, without its address type (`rfc822;`).
    pub final_recipient: Option<String>,
    /// `Original-Recipient`, without its address type.
    pub original_recipient: Option<String>,
    pub action: Option<DsnAction>,
    /// `Status`, such as `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code`, without its type (`smtp;`).
    pub diagnostic: Option<String>,
}

impl RecipientStatus {
    /// The address to report: the original recipient if given, else the final one.
    pub fn address(&self) -> Option<&str> {
        self.original_recipient
            .as_deref()
            .or(self.final_recipient.as_deref())
    }

    /// `Action: failed`, or no action but a permanent (5.x.x) status.
    pub fn failed(&self) -> bool {
        match &self.action {
            Some(action) => *action == DsnAction::Failed,
            None => self.status.as_deref().is_some_and(|s| s.starts_with('5')),
        }
    }
}

/// RFC 3464's `Action` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
    Other(String),
}

impl DsnAction {
    fn parse(value: &str) -> Self {
        let value = value
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match value.as_str() {
            "failed" => Self::Failed,
            "delayed" => Self::Delayed,
            "delivered" => Self::Delivered,
            "relayed" => Self::Relayed,
            "expanded" => Self::Expanded,
            _ => Self::Other(value),
        }
    }
}

/// A top-level header field, unfolded (encoded words are left as they are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

/// One received message, read.
#[derive(Clone, Debug)]
pub struct InboundMessage {
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub return_path: Option<ReturnPath>,
    /// `Delivered-To`, `X-Original-To`, `Envelope-To`, `To` and `Cc`, in that order.
    pub recipients: Vec<Recipient>,
    /// Decoded.
    pub subject: Option<String>,
    /// `In-Reply-To`, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References`, without angle brackets, oldest first.
    pub references: Vec<String>,
    pub date: Option<jiff::Timestamp>,
    /// From `Content-Language`, else from the language of the quote's attribution line or
    /// header block (the sender's mail client writes it in its user's language), else `None`.
    pub language: Option<Language>,
    /// The body as text, lines ending in `\n`: the `text/plain` parts (format=flowed
    /// joined back), or the HTML turned into text when there is no plain part. Quotes and
    /// signatures are still in it: [`crate::trim::new_text`] takes them out.
    pub text: String,
    pub text_source: TextSource,
    /// The first HTML body, as sent.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Every `Authentication-Results` field, topmost (most recently added) first.
    pub authentication_results: Vec<AuthenticationResults>,
    /// What a `multipart/report` (or a delivery-status part anywhere) says.
    pub report: Option<Report>,
    /// Every top-level header field, in order.
    pub headers: Vec<HeaderField>,
}

impl InboundMessage {
    /// Reads a raw RFC 5322 message (CRLF or LF line ends).
    pub fn parse(raw: &[u8]) -> Result<Self, ParseError> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(ParseError::Empty);
        }
        let message = MessageParser::default()
            .parse(raw)
            .filter(|m| !m.headers().is_empty())
            .ok_or(ParseError::NotAMessage)?;
        Ok(read(message, None))
    }

    /// Reads a large message from its outline (the skeleton, with its large base64 bodies
    /// cut): the same as [`InboundMessage::parse`] of the whole message, except that the
    /// attachments whose bodies were cut hold only their first bytes and say where the rest
    /// is ([`Attachment::spooled`]).
    pub fn parse_outline(outline: &crate::outline::Outline) -> Result<Self, ParseError> {
        let raw = outline.skeleton.as_slice();
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(ParseError::Empty);
        }
        let message = MessageParser::default()
            .parse(raw)
            .filter(|m| !m.headers().is_empty())
            .ok_or(ParseError::NotAMessage)?;
        let read = read(message, Some(outline));
        let located = read
            .attachments
            .iter()
            .filter(|a| a.spooled.is_some())
            .count();
        if located != outline.large_parts.len() {
            return Err(ParseError::LargePartLost);
        }
        Ok(read)
    }

    /// The first top-level header field of that name (any case), unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every top-level header field of that name (any case), in order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The topmost `Authentication-Results` written by `authserv_id` (your own receiving
    /// server): the only one worth trusting, provided that server removes forged copies.
    pub fn authentication_by(&self, authserv_id: &str) -> Option<&AuthenticationResults> {
        self.authentication_results
            .iter()
            .find(|a| a.authserv_id.eq_ignore_ascii_case(authserv_id))
    }

    /// Whether `authserv_id` vouched for the From address's domain (see
    /// [`AuthenticationResults::aligned_pass`]). An explicit `dmarc=fail` from that server is a failure whatever else passed (an SPF
    /// pass for a look-alike domain, say).
    pub fn sender_authenticated_by(&self, authserv_id: &str) -> bool {
        let Some(domain) = self.from.as_ref().and_then(Mailbox::domain) else {
            return false;
        };
        self.authentication_by(authserv_id).is_some_and(|results| {
            let dmarc_failed = results
                .result_of("dmarc")
                .is_some_and(|r| r.result.eq_ignore_ascii_case("fail"));
            !dmarc_failed && results.aligned_pass(&domain).is_some()
        })
    }
}

fn read(mut message: Message<'_>, outline: Option<&crate::outline::Outline>) -> InboundMessage {
    let mut read = read_parts(&message);
    // Taken out last (moved, not copied: a decoded body is mail-parser's own buffer), once
    // the text and the report, which may read the same parts, were read.
    read.attachments = take_attachments(&mut message, outline);
    read
}

fn read_parts(message: &Message<'_>) -> InboundMessage {
    let headers: Vec<HeaderField> = message
        .headers_raw()
        .map(|(name, value)| HeaderField {
            name: name.to_owned(),
            value: unfold(value),
        })
        .collect();
    let raw = |name: &str| {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.clone())
            .collect::<Vec<_>>()
    };

    let mut recipients = Vec::new();
    for (name, source) in [
        ("Delivered-To", RecipientSource::DeliveredTo),
        ("X-Original-To", RecipientSource::XOriginalTo),
        ("Envelope-To", RecipientSource::EnvelopeTo),
        ("X-Envelope-To", RecipientSource::EnvelopeTo),
    ] {
        for value in raw(name) {
            for address in value.split(',') {
                let address = address.trim().trim_start_matches('<').trim_end_matches('>');
                if address.contains('@') {
                    recipients.push(Recipient {
                        address: address.trim().to_owned(),
                        source,
                    });
                }
            }
        }
    }
    for (addresses, source) in [
        (message.to(), RecipientSource::To),
        (message.cc(), RecipientSource::Cc),
    ] {
        for mailbox in addresses.into_iter().flat_map(mailboxes) {
            recipients.push(Recipient {
                address: mailbox.address,
                source,
            });
        }
    }

    let return_path = raw("Return-Path").first().map(|value| {
        let address = value
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if address.is_empty() {
            ReturnPath::Null
        } else {
            ReturnPath::Address(address.to_owned())
        }
    });

    let (text, text_source) = body_text(message);
    let html = message.html_bodies().find_map(|part| match &part.body {
        PartType::Html(html) => Some(html.to_string()),
        _ => None,
    });

    let language = raw("Content-Language")
        .iter()
        .find_map(|v| v.split(',').find_map(Language::from_tag))
        .or_else(|| {
            message.text_bodies().find_map(|part| {
                header_texts(part.content_language())
                    .iter()
                    .find_map(|t| Language::from_tag(t))
            })
        })
        .or_else(|| trim::quote_language(&text));

    InboundMessage {
        message_id: message.message_id().map(str::to_owned),
        from: message.from().into_iter().flat_map(mailboxes).next(),
        reply_to: message.reply_to().into_iter().flat_map(mailboxes).next(),
        return_path,
        recipients,
        subject: message.subject().map(|s| s.trim().to_owned()),
        in_reply_to: header_texts(message.in_reply_to()),
        references: header_texts(message.references()),
        date: message
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| jiff::Timestamp::from_second(d.to_timestamp()).ok()),
        language,
        text,
        text_source,
        html,
        attachments: Vec::new(),
        authentication_results: raw("Authentication-Results")
            .iter()
            .filter_map(|v| parse_authentication_results(v))
            .collect(),
        report: report(message),
        headers,
    }
}

fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 && !line.trim().is_empty() {
            out.push(' ');
        }
        out.push_str(line.trim());
    }
    out.trim().to_owned()
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let address = addr.address.as_deref()?.trim();
            (!address.is_empty()).then(|| Mailbox {
                address: address.to_owned(),
                name: addr
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect()
}

fn header_texts(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(text) => vec![text.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn body_text(message: &Message<'_>) -> (String, TextSource) {
    let mut pieces = Vec::new();
    let mut source = TextSource::None;
    for part in message.text_bodies() {
        match &part.body {
            PartType::Text(text) => {
                let flowed = part
                    .content_type()
                    .and_then(|ct| ct.attribute("format"))
                    .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
                let delsp = part
                    .content_type()
                    .and_then(|ct| ct.attribute("delsp"))
                    .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
                let text = normalize_line_ends(text);
                pieces.push(if flowed { unflow(&text, delsp) } else { text });
                source = TextSource::Plain;
            }
            PartType::Html(html) => {
                pieces.push(html::to_text(html));
                if source == TextSource::None {
                    source = TextSource::Html;
                }
            }
            _ => {}
        }
    }
    if pieces.is_empty()
        && let Some(PartType::Html(html)) = message.html_bodies().next().map(|p| &p.body)
    {
        pieces.push(html::to_text(html));
        source = TextSource::Html;
    }
    let mut text = pieces.join("\n");
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    (text, source)
}

fn normalize_line_ends(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// RFC 3676: a line ending in a space continues on the next line of the same quote depth
/// (the signature separator `-- ` excepted); a leading space added by space-stuffing goes.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<(usize, String)> = None;
    for line in text.split('\n') {
        let depth = line.chars().take_while(|&c| c == '>').count();
        let content = &line[depth..];
        let content = content.strip_prefix(' ').unwrap_or(content);
        let flowed = content.ends_with(' ') && content != "-- ";
        let piece = if flowed && delsp {
            &content[..content.len() - 1]
        } else {
            content
        };
        match &mut open {
            Some((open_depth, joined)) if *open_depth == depth => joined.push_str(piece),
            _ => {
                if let Some((d, joined)) = open.take() {
                    push_quoted(&mut out, d, &joined);
                }
                open = Some((depth, piece.to_owned()));
            }
        }
        if !flowed && let Some((d, joined)) = open.take() {
            push_quoted(&mut out, d, &joined);
        }
    }
    if let Some((d, joined)) = open.take() {
        push_quoted(&mut out, d, &joined);
    }
    // The split above sees one empty line after a final line end.
    if out.ends_with("\n\n") && text.ends_with('\n') {
        out.pop();
    }
    out
}

fn push_quoted(out: &mut String, depth: usize, content: &str) {
    if depth > 0 {
        out.push_str(&">".repeat(depth));
        if !content.is_empty() {
            out.push(' ');
        }
    }
    out.push_str(content);
    out.push('\n');
}

/// The message's attachments, their bodies moved out of `message` (what is left of them
/// there is empty).
fn take_attachments(
    message: &mut Message<'_>,
    outline: Option<&crate::outline::Outline>,
) -> Vec<Attachment> {
    let ids = message.attachments.clone();
    ids.into_iter()
        .filter_map(|id| {
            let part = message.parts.get_mut(usize::try_from(id).ok()?)?;
            let spooled = outline
                .and_then(|o| o.large_part_at(usize::try_from(part.offset_body).ok()?))
                .copied();
            let mut attachment = attachment(part)?;
            attachment.spooled = spooled;
            Some(attachment)
        })
        .collect()
}

fn attachment(part: &mut MessagePart<'_>) -> Option<Attachment> {
    if matches!(part.body, PartType::Multipart(_)) {
        return None;
    }
    let body = std::mem::replace(&mut part.body, PartType::Binary(Cow::Borrowed(&[])));
    // What the type and inline checks below read of the body.
    let was_text = matches!(body, PartType::Text(_));
    let was_html = matches!(body, PartType::Html(_));
    let was_message = matches!(body, PartType::Message(_));
    let was_inline_binary = matches!(body, PartType::InlineBinary(_));
    let bytes: Vec<u8> = match body {
        PartType::Text(text) | PartType::Html(text) => text.into_owned().into_bytes(),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.into_owned(),
        PartType::Message(message) => message.raw_message().to_vec(),
        PartType::Multipart(_) => return None,
    };
    let content_type = match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(subtype) => format!("{}/{}", ct.ctype(), subtype),
            None => ct.ctype().to_owned(),
        },
        None if was_text => "text/plain".to_owned(),
        None if was_html => "text/html".to_owned(),
        None if was_message => "message/rfc822".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
    .to_ascii_lowercase();
    let inline = match part.content_disposition() {
        Some(disposition) => disposition.ctype().eq_ignore_ascii_case("inline"),
        None => was_inline_binary,
    };
    Some(Attachment {
        file_name: part
            .attachment_name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        content_type,
        inline,
        bytes,
        spooled: None,
    })
}

fn report(message: &Message<'_>) -> Option<Report> {
    let report_type = message
        .content_type()
        .filter(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .map(|ct| {
            ct.attribute("report-type")
                .unwrap_or_default()
                .to_ascii_lowercase()
        });
    let status_part = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    });
    if let Some(part) = status_part {
        return Some(Report::DeliveryStatus(parse_delivery_status(
            &String::from_utf8_lossy(part.contents()),
        )));
    }
    match report_type?.as_str() {
        "delivery-status" | "global-delivery-status" => {
            Some(Report::DeliveryStatus(DeliveryStatus::default()))
        }
        "disposition-notification" | "global-disposition-notification" => {
            Some(Report::DispositionNotification)
        }
        other => Some(Report::Other(other.to_owned())),
    }
}

/// Reads the fields of a `message/delivery-status` body: one block per message, then one
/// per recipient, separated by blank lines; fields may be folded.
pub(crate) fn parse_delivery_status(text: &str) -> DeliveryStatus {
    let text = normalize_line_ends(text);
    let mut status = DeliveryStatus::default();
    for block in text.split("\n\n") {
        let fields = block_fields(block);
        if fields.is_empty() {
            continue;
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if let Some(mta) = get("Reporting-MTA") {
            status.reporting_mta = Some(strip_type(&mta));
        }
        let recipient = RecipientStatus {
            final_recipient: get("Final-Recipient").map(|v| strip_type(&v)),
            original_recipient: get("Original-Recipient").map(|v| strip_type(&v)),
            action: get("Action").map(|v| DsnAction::parse(&v)),
            status: get("Status").and_then(|v| v.split_whitespace().next().map(str::to_owned)),
            diagnostic: get("Diagnostic-Code").map(|v| strip_type(&v)),
        };
        if recipient.final_recipient.is_some()
            || recipient.original_recipient.is_some()
            || recipient.action.is_some()
        {
            status.recipients.push(recipient);
        }
    }
    status
}

fn block_fields(block: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// `rfc822; bob@acme.example` → `bob@acme.example`; `smtp; 550 …` → `550 …`.
fn strip_type(value: &str) -> String {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.trim().contains(' ') => rest.trim().to_owned(),
        _ => value.trim().to_owned(),
    }
}

/// Reads one `Authentication-Results` value (RFC 8601): `authserv-id [version]; method=result
/// [reason=…] [ptype.property=value …]; …`. Comments in parentheses are dropped.
pub(crate) fn parse_authentication_results(value: &str) -> Option<AuthenticationResults> {
    let value = strip_comments(value);
    let mut statements = split_outside_quotes(&value, ';').into_iter();
    let authserv_id = statements
        .next()?
        .split_whitespace()
        .next()?
        .to_ascii_lowercase();
    let mut results = Vec::new();
    for statement in statements {
        let mut tokens = split_outside_quotes(&statement, ' ')
            .into_iter()
            .filter(|t| !t.is_empty());
        let Some((method, result)) = tokens.next().and_then(|t| {
            t.split_once('=')
                .map(|(m, r)| (m.trim().to_owned(), r.trim().to_owned()))
        }) else {
            continue; // "none", or something unreadable
        };
        let method = method
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut reason = None;
        let mut properties = Vec::new();
        for token in tokens {
            let Some((name, value)) = token.split_once('=') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = unquote(value.trim());
            if name == "reason" {
                reason = Some(value);
            } else if name.contains('.') {
                properties.push((name, value));
            }
        }
        results.push(AuthResult {
            method,
            result: result.to_ascii_lowercase(),
            reason,
            properties,
        });
    }
    Some(AuthenticationResults {
        authserv_id,
        results,
    })
}

fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn split_outside_quotes(value: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        let is_separator = if separator == ' ' {
            c.is_whitespace()
        } else {
            c == separator
        };
        if is_separator && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_owned()).collect()
}

fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .map(Cow::Borrowed)
        .unwrap_or(Cow::Borrowed(value));
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_results_of_gmail() {
        let value = "mx.google.com;\r\n       dkim=pass header.i=@acme.example header.s=s1 header.b=AbC12;\r\n       spf=pass (google.com: domain of ana@acme.example designates 192.0.2.1 as permitted sender) smtp.mailfrom=ana@acme.example;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=acme.example";
        let results = parse_authentication_results(&unfold(value)).unwrap();
        assert_eq!(results.authserv_id, "mx.google.com");
        let methods: Vec<(&str, &str)> = results
            .results
            .iter()
            .map(|r| (r.method.as_str(), r.result.as_str()))
            .collect();
        assert_eq!(
            methods,
            [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
        );
        let dkim = results.result_of("dkim").unwrap();
        assert_eq!(dkim.property("header.i"), Some("@acme.example"));
        assert_eq!(dkim.property("header.s"), Some("s1"));
        let spf = results.result_of("SPF").unwrap();
        assert_eq!(spf.property("smtp.mailfrom"), Some("ana@acme.example"));
        assert_eq!(
            results
                .aligned_pass("acme.example")
                .map(|r| r.method.as_str()),
            Some("dmarc")
        );
        assert!(results.aligned_pass("evil.example").is_none());
    }

    #[test]
    fn authentication_results_with_version_reason_quotes_and_failures() {
        let value = "mail.vitrine.example 1; dkim=fail reason=\"signature verification failed\" header.d=acme.example; spf=softfail smtp.mailfrom=\"ana smith\"@acme.example; auth=pass (cram-md5) smtp.auth=sender@acme.example; iprev=pass policy.iprev=192.0.2.200";
        let results = parse_authentication_results(value).unwrap();
        assert_eq!(results.authserv_id, "mail.vitrine.example");
        let dkim = results.result_of("dkim").unwrap();
        assert_eq!(dkim.result, "fail");
        assert_eq!(
            dkim.reason.as_deref(),
            Some("signature verification failed")
        );
        assert_eq!(dkim.property("header.d"), Some("acme.example"));
        assert_eq!(results.result_of("spf").unwrap().result, "softfail");
        assert_eq!(
            results.result_of("iprev").unwrap().property("policy.iprev"),
            Some("192.0.2.200")
        );
        assert!(
            results.aligned_pass("acme.example").is_none(),
            "nothing passed for acme"
        );
    }

    #[test]
    fn authentication_results_none_and_garbage() {
        let none = parse_authentication_results("mx.example.org; none").unwrap();
        assert_eq!(none.authserv_id, "mx.example.org");
        assert!(none.results.is_empty());
        assert!(parse_authentication_results("").is_none());
        assert!(parse_authentication_results("   ").is_none());
        let odd =
            parse_authentication_results("mx; dkim; spf=pass smtp.mailfrom=a.example").unwrap();
        assert_eq!(odd.results.len(), 1);
    }

    #[test]
    fn alignment_is_relaxed_to_subdomains() {
        assert!(aligned("mail.acme.example", "acme.example"));
        assert!(aligned("acme.example", "eu.acme.example"));
        assert!(aligned("ACME.example.", "acme.example"));
        assert!(!aligned("notacme.example", "acme.example"));
        assert!(!aligned("", "acme.example"));
    }

    #[test]
    fn delivery_status_fields() {
        let text = "Reporting-MTA: dns; mx.acme.example\r\nX-Postfix-Queue-ID: 4F1\r\nArrival-Date: Mon,  7 Dec 2026 10:00:00 +0000\r\n\r\nFinal-Recipient: rfc822; bob@acme.example\r\nOriginal-Recipient: rfc822;Bob@Acme.example\r\nAction: failed\r\nStatus: 5.1.1 (bad mailbox)\r\nDiagnostic-Code: smtp; 550 5.1.1 <bob@acme.example>: Recipient address\r\n    rejected: User unknown\r\n\r\nFinal-Recipient: rfc822; carol@acme.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n";
        let status = parse_delivery_status(text);
        assert_eq!(status.reporting_mta.as_deref(), Some("mx.acme.example"));
        assert_eq!(status.recipients.len(), 2);
        let bob = &status.recipients[0];
        assert_eq!(bob.address(), Some("Bob@Acme.example"));
        assert_eq!(bob.final_recipient.as_deref(), Some("bob@acme.example"));
        assert_eq!(bob.action, Some(DsnAction::Failed));
        assert_eq!(bob.status.as_deref(), Some("5.1.1"));
        assert_eq!(
            bob.diagnostic.as_deref(),
            Some("550 5.1.1 <bob@acme.example>: Recipient address rejected: User unknown")
        );
        assert!(bob.failed());
        let carol = &status.recipients[1];
        assert_eq!(carol.action, Some(DsnAction::Delayed));
        assert!(!carol.failed());
    }

    #[test]
    fn unflow_joins_soft_breaks_per_quote_depth() {
        let text = "Thanks for the \nnotes, will do.\n-- \nBob\n> This is a \n> long line.\n>> deeper \n>> still\n\n";
        assert_eq!(
            unflow(text, false),
            "Thanks for the notes, will do.\n-- \nBob\n> This is a long line.\n>> deeper still\n\n"
        );
        assert_eq!(unflow("ab \ncd\n", true), "abcd\n");
        assert_eq!(unflow("  stuffed\n", false), " stuffed\n");
    }

    #[test]
    fn unfold_joins_continuation_lines() {
        assert_eq!(unfold(" a\r\n\tb\r\n  c\r\n"), "a b c");
        assert_eq!(unfold("x"), "x");
    }
}
