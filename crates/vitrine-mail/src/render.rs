//! Renders an [`Email`] into subject, text and HTML in the recipient's language.
//!
//! The templates live in `templates/<lang>/<email>/{subject.txt,body.txt,body.html}` and
//! are compiled into the binary: a server never starts with a template missing, and a
//! template with a syntax error or an undefined variable fails the tests (undefined
//! variables are errors, not empty strings). HTML templates escape every value.

use crate::dates::{format_date, format_date_time};
use crate::email::{Email, EmailKind, paths};
use crate::error::MailError;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use minijinja::value::{Serde, Value};
use minijinja::{
    AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior, context, escape_formatter,
};
use std::sync::LazyLock;
use uuid::Uuid;
use vitrine_domain::Language;

/// Who reads the email and where the links lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderContext {
    /// The server's public address, such as `https://market.example.com`.
    pub base_url: String,
    pub marketplace_name: String,
    pub recipient_name: String,
    /// IANA time zone the recipient reads times in.
    pub recipient_time_zone: String,
}

/// A rendered email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The language it is written in (its `Content-Language`).
    pub language: Language,
    /// One line.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The languages every email is written in.
pub const LANGUAGES: [Language; 2] = [Language::En, Language::Fr];

/// The three parts of each email's templates.
pub const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

macro_rules! template {
    ($lang:literal, $file:literal) => {
        (
            concat!($lang, "/", $file),
            include_str!(concat!("../templates/", $lang, "/", $file)),
        )
    };
    ($lang:literal, $email:literal, $part:literal) => {
        (
            concat!($lang, "/", $email, "/", $part),
            include_str!(concat!("../templates/", $lang, "/", $email, "/", $part)),
        )
    };
}

macro_rules! templates {
    ($($email:literal),* $(,)?) => {
        &[
            ("_layout.html", include_str!("../templates/_layout.html")),
            template!("en", "_layout.txt"),
            template!("en", "_layout.html"),
            template!("fr", "_layout.txt"),
            template!("fr", "_layout.html"),
            $(
                template!("en", $email, "subject.txt"),
                template!("en", $email, "body.txt"),
                template!("en", $email, "body.html"),
                template!("fr", $email, "subject.txt"),
                template!("fr", $email, "body.txt"),
                template!("fr", $email, "body.html"),
            )*
        ]
    };
}

/// Every template, by name: `<lang>/<email>/<part>`, the layouts `<lang>/_layout.<ext>`
/// and the HTML skeleton `_layout.html` they share.
pub static TEMPLATES: &[(&str, &str)] = templates!(
    "provider_application_received",
    "provider_application_approved",
    "provider_application_rejected",
    "submission_queued",
    "dates_moved",
    "session_opened_assignments",
    "thread_message",
    "decision_changes_requested",
    "decision_approved",
    "decision_rejected",
    "appeal_received",
    "appeal_decided",
    "decision_overdue",
    "publication_scheduled",
    "published",
    "unpublished",
    "verify_email",
    "password_reset",
    "sign_up_attempt_existing",
    "inbound_refused",
    "webhook_disabled",
);

static ENVIRONMENT: LazyLock<Result<Environment<'static>, String>> =
    LazyLock::new(|| build_environment(TEMPLATES));

fn build_environment(
    templates: &[(&'static str, &'static str)],
) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    // Strict: a misspelt or missing variable is an error that fails the tests, never an
    // empty space in an email already sent.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Block tags on their own line leave no blank line behind: the text bodies read as
    // they are written.
    let syntax = env
        .syntax()
        .to_builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|err| format!("{err:#}"))?;
    env.set_syntax(syntax);
    env.set_formatter(html_formatter);
    env.add_filter("date", date_filter);
    env.add_filter("datetime", date_time_filter);
    env.add_function("submission_link", submission_link);
    for (name, source) in templates {
        env.add_template(name, source)
            .map_err(|err| format!("{name}: {err:#}"))?;
    }
    Ok(env)
}

/// Escapes the five characters that matter in HTML text and quoted attributes, and no
/// others: minijinja's default also escapes `/`, which turns every link into
/// `https:&#x2f;&#x2f;…`, valid but hard to read in the source and mangled by some
/// link-rewriting mail gateways.
fn html_formatter(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match (state.auto_escape(), value.as_str()) {
        (AutoEscape::Html, Some(text)) if !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    other => escaped.push(other),
                }
            }
            out.write_str(&escaped)
                .map_err(|err| minijinja::Error::new(ErrorKind::WriteFailure, err.to_string()))
        }
        _ => escape_formatter(out, state, value),
    }
}

fn environment() -> Result<&'static Environment<'static>, MailError> {
    ENVIRONMENT
        .as_ref()
        .map_err(|message| MailError::Templates(message.clone()))
}

fn template_error(detail: String) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, detail)
}

/// Reads a variable every render context has (see [`render`]).
fn context_string(state: &State, name: &str) -> Result<String, minijinja::Error> {
    state
        .lookup(name)
        .and_then(|value| value.as_str().map(str::to_owned))
        .ok_or_else(|| template_error(format!("the render context has no '{name}'")))
}

fn language(state: &State) -> Result<Language, minijinja::Error> {
    let code = context_string(state, "lang")?;
    Language::parse(&code).ok_or_else(|| template_error(format!("unknown language '{code}'")))
}

/// `{{ review_date|date }}`: a calendar day in full, in the reader's language.
fn date_filter(state: &State, value: &str) -> Result<String, minijinja::Error> {
    let date: Date = value
        .parse()
        .map_err(|err| template_error(format!("'{value}' is not a date: {err}")))?;
    Ok(format_date(date, language(state)?))
}

/// `{{ publish_at|datetime }}`: an instant in the reader's time zone and language.
fn date_time_filter(state: &State, value: &str) -> Result<String, minijinja::Error> {
    let at: Timestamp = value
        .parse()
        .map_err(|err| template_error(format!("'{value}' is not an instant: {err}")))?;
    let zone_name = context_string(state, "time_zone")?;
    let zone = TimeZone::get(&zone_name)
        .map_err(|err| template_error(format!("time zone '{zone_name}': {err}")))?;
    Ok(format_date_time(at, &zone, language(state)?))
}

/// `{{ submission_link(a.submission.submission_id) }}`: the full address of a submission's
/// page, for emails that list several.
fn submission_link(state: &State, submission_id: &str) -> Result<String, minijinja::Error> {
    let id: Uuid = submission_id
        .parse()
        .map_err(|err| template_error(format!("'{submission_id}' is not an id: {err}")))?;
    let base_url = context_string(state, "base_url")?;
    Ok(format!("{base_url}{}", paths::submission(id)))
}

/// The name of one of an email's templates.
pub fn template_name(kind: EmailKind, lang: Language, part: &str) -> String {
    format!("{}/{}/{part}", lang.code(), kind.name())
}

fn render_template(name: &str, values: &Value) -> Result<String, MailError> {
    let render_error = |source| MailError::Render {
        template: name.to_owned(),
        source,
    };
    environment()?
        .get_template(name)
        .and_then(|template| template.render(values))
        .map_err(render_error)
}

/// Renders `email` in `lang` for the reader described by `ctx`.
///
/// Every template sees the email's fields at the top level (`submission`, `reason`, …)
/// plus `lang`, `time_zone`, `base_url`, `marketplace`, `recipient`, `link` (the page the
/// email is about) and, in the bodies, `subject`.
pub fn render(email: &Email, lang: Language, ctx: &RenderContext) -> Result<Rendered, MailError> {
    // Checked once here so that a bad zone is reported as such, not as a template error.
    TimeZone::get(&ctx.recipient_time_zone).map_err(|source| MailError::TimeZone {
        name: ctx.recipient_time_zone.clone(),
        source,
    })?;
    let base_url = ctx.base_url.trim_end_matches('/');
    let values = context! {
        lang => lang.code(),
        time_zone => &ctx.recipient_time_zone,
        base_url => base_url,
        marketplace => &ctx.marketplace_name,
        recipient => &ctx.recipient_name,
        link => format!("{base_url}{}", email.path()),
        ..Value::from(Serde(email))
    };
    let kind = email.kind();
    let subject = render_template(&template_name(kind, lang, "subject.txt"), &values)?;
    // A header is one line, whatever the template's or the data's line breaks and control
    // characters. Not `split_whitespace`: it would also eat French no-break spaces.
    let subject = subject
        .split(|c: char| c.is_ascii_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let values = context! { subject => &subject, ..values };
    let mut text = render_template(&template_name(kind, lang, "body.txt"), &values)?;
    text.push('\n');
    let mut html = render_template(&template_name(kind, lang, "body.html"), &values)?;
    html.push('\n');
    Ok(Rendered {
        language: lang,
        subject,
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_alone(source: &'static str) -> Result<String, minijinja::Error> {
        let env = build_environment(&[("test.txt", source)]).map_err(template_error)?;
        env.get_template("test.txt")?
            .render(context! { lang => "en", known => "yes" })
    }

    #[test]
    fn an_undefined_variable_is_an_error() {
        assert_eq!(render_alone("{{ known }}").ok().as_deref(), Some("yes"));
        let err = render_alone("{{ unknown }}").err().map(|err| err.kind());
        assert_eq!(err, Some(ErrorKind::UndefinedError));
        let err = render_alone("{% if unknown %}x{% endif %}")
            .err()
            .map(|err| err.kind());
        assert_eq!(err, Some(ErrorKind::UndefinedError));
    }

    #[test]
    fn a_missing_template_is_an_error() {
        let err = render_alone("{% include 'en/nowhere.txt' %}")
            .err()
            .map(|err| err.kind());
        assert_eq!(err, Some(ErrorKind::TemplateNotFound));
    }

    #[test]
    fn every_compiled_template_parses() {
        assert!(environment().is_ok(), "{:?}", environment().err());
    }
}
