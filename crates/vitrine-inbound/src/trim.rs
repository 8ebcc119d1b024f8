//! The new text of a reply: what the sender wrote now, without the quoted history, the
//! attribution line, the signature or the "Sent from my iPhone" line.
//!
//! # Why this is written here
//!
//! Before writing it, these were looked at:
//!
//! - `email_reply_parser` 0.1.2 (crates.io, a port of Zapier's Python email-reply-parser,
//!   one release, August 2024): tried on this module's fixtures. It handles the English
//!   Gmail forms, but any line *containing* `>` counts as quoted (its quote regex is
//!   unanchored), so "If the file is > 2 GB we split it." disappears; its signature regex
//!   (`--|__|-\w`, also unanchored) makes a line such as "our go-live date" a signature
//!   candidate; it knows no French form ("a écrit :", "De : … Envoyé : …", "Envoyé de mon
//!   iPhone"), recompiles its regexes for every line and `unwrap()`s. Fixing that is a
//!   rewrite.
//! - The well-known ports (GitHub's Ruby `email_reply_parser`, Go `mailstrip` and
//!   `email-reply-parser`, Mailgun's Python `talon`) have no maintained Rust counterpart;
//!   mail-parser reads MIME but does not trim quotes.
//!
//! So this is a small line scanner without regular expressions.
//!
//! # What is removed, and the decisions taken
//!
//! Reading top to bottom, the text stops at the first of:
//! - a signature separator (`-- `, also without its trailing space, which many clients and
//!   the HTML conversion drop);
//! - a mobile signature line ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook
//!   for iOS", "Obtenir Outlook pour iOS", …);
//! - an Outlook original-message separator ("-----Original Message-----", "-----Message
//!   d'origine-----", Thunderbird's "-------- Original Message --------");
//! - an Outlook header block ("From: … Sent: … To: … Subject: …", "De : … Envoyé : … À : …
//!   Objet : …", with "Date:" for "Sent:" as Outlook for Mac and mobile clients write it),
//!   with or without the "________________________________" line above it;
//! - an attribution line ("On Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x> wrote:", "Le lun.
//!   7 déc. 2026 à 10:00, Ana Souza <ana@x> a écrit :", and the Apple Mail and Thunderbird
//!   forms), possibly wrapped over two or three lines, when what follows it is *not* quoted
//!   with `>` (then everything below is history).
//!
//! Lines starting with `>` are dropped wherever they are. An attribution line followed by
//! `>` lines is dropped with them, and reading goes on: in an **interleaved reply** the
//! sender's own lines between the quotes are kept (the quotes they answer are not: the
//! thread already shows them), one blank line between the pieces.
//!
//! **Forwarded messages are kept.** "Begin forwarded message:", "Début du message
//! réexpédié :" and the "---------- Forwarded message ---------" / "Message transféré"
//! lines are not history of this thread: someone forwarding a message into the thread means
//! the thread to read it. The text above the marker is trimmed as usual; from the marker on,
//! everything is kept as it is (the forwarded message's own quotes included). A marker only
//! counts when it comes before any quoted history (a forward inside a quote is history).
//! Outlook writes a forward exactly like a reply (a header block, no marker), so an Outlook
//! forward loses the forwarded part; only the sender's note is kept.
//!
//! A signature without a `-- ` line above it ("Regards, Bob Martin, Head of Product") is
//! kept: nothing tells it from the text reliably, and keeping a few lines too many loses
//! nothing. Outlook's `[cid:image001.png@…]` lines (an inline image, in text) are dropped.
//!
//! Lines lose their trailing spaces, runs of blank lines become one, and leading and
//! trailing blank lines go. An empty result means an empty reply.

use crate::Language;

/// Only the new text of a reply body (see the module documentation).
pub fn new_text(body: &str) -> String {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = body.split('\n').collect();
    match forward_start(&lines) {
        Some(start) => {
            let (head, forwarded) = lines.split_at(start);
            let head = tidy(&own_lines(head));
            let forwarded = tidy_verbatim(forwarded);
            if head.is_empty() {
                forwarded
            } else {
                format!("{head}\n\n{forwarded}")
            }
        }
        None => tidy(&own_lines(&lines)),
    }
}

/// The language of the sender's mail client, as its quoting shows it: the first attribution
/// line, Outlook header block or separator, forward marker or mobile signature outside the
/// quotes ("wrote:" → English, "a écrit :" → French, …).
pub fn quote_language(body: &str) -> Option<Language> {
    let body = body.replace("\r\n", "\n");
    let lines: Vec<&str> = body.split('\n').collect();
    // Apple Mail puts its attribution line inside the quote: look one level down too.
    let one_level_down: Vec<&str> = lines.iter().map(|line| unquote_once(line)).collect();
    for i in 0..lines.len() {
        let line = lines[i];
        if is_blank(line) {
            continue;
        }
        if is_quoted(line) {
            if let Some((_, language)) = attribution_at(&one_level_down, i) {
                return Some(language);
            }
            continue;
        }
        let text = normalize(line);
        let found = attribution_at(&lines, i)
            .map(|(_, language)| language)
            .or_else(|| header_block_at(&lines, i))
            .or_else(|| original_message_separator(&text))
            .or_else(|| forward_marker(&text))
            .or_else(|| mobile_signature(&text));
        if found.is_some() {
            return found;
        }
    }
    None
}

/// `> text` → `text`, `>> text` → `> text`, other lines unchanged.
fn unquote_once(line: &str) -> &str {
    let trimmed = line.trim_start();
    match trimmed.strip_prefix('>') {
        Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
        None => line,
    }
}

/// The sender's own lines, before the history starts (see the module documentation).
fn own_lines<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut own = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_quoted(line) {
            i += 1;
            continue;
        }
        if history_starts_at(lines, i) {
            break;
        }
        if let Some((length, _)) = attribution_at(lines, i) {
            match next_non_blank(lines, i + length) {
                Some(next) if is_quoted(lines[next]) => {
                    i += length;
                    continue;
                }
                _ => break,
            }
        }
        if !is_inline_image_reference(line) {
            own.push(line);
        }
        i += 1;
    }
    own
}

/// Outlook's plain text shows an inline image (a signature's logo) as `[cid:image001.png@…]`.
fn is_inline_image_reference(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("[cid:") && line.ends_with(']')
}

/// A signature, a mobile signature, or an Outlook separator or header block starts here.
fn history_starts_at(lines: &[&str], i: usize) -> bool {
    let line = lines[i];
    let text = normalize(line);
    is_signature_separator(line)
        || mobile_signature(&text).is_some()
        || original_message_separator(&text).is_some()
        || header_block_at(lines, i).is_some()
        || (is_separator_line(&text)
            && next_non_blank(lines, i + 1)
                .is_some_and(|next| header_block_at(lines, next).is_some()))
}

/// Where a forward marker starts, if one comes before any quoted history.
fn forward_start(lines: &[&str]) -> Option<usize> {
    for i in 0..lines.len() {
        let line = lines[i];
        if is_blank(line) {
            continue;
        }
        if is_quoted(line) {
            return None;
        }
        let text = normalize(line);
        if forward_marker(&text).is_some() {
            return Some(i);
        }
        let signature = is_signature_separator(line) || mobile_signature(&text).is_some();
        if !signature && (history_starts_at(lines, i) || attribution_at(lines, i).is_some()) {
            return None;
        }
    }
    None
}

fn next_non_blank(lines: &[&str], from: usize) -> Option<usize> {
    (from..lines.len()).find(|&i| !is_blank(lines[i]))
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_signature_separator(line: &str) -> bool {
    line.trim_end() == "--"
}

/// Non-breaking and other odd spaces as plain spaces, runs of spaces as one, trimmed.
fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Lowercase, curly apostrophes straight, no space before a colon (French typography puts
/// one there), dashes and spaces trimmed from both ends.
fn key(text: &str) -> String {
    text.to_lowercase()
        .replace('’', "'")
        .replace(" :", ":")
        .trim_matches(|c: char| c == '-' || c == ' ')
        .to_owned()
}

fn mobile_signature(text: &str) -> Option<Language> {
    if text.chars().count() > 80 {
        return None;
    }
    let lower = text.to_lowercase();
    const ENGLISH: &[&str] = &[
        "sent from my ",
        "sent from outlook",
        "sent from mail for windows",
        "sent from yahoo mail",
        "sent from proton mail",
        "sent from protonmail",
        "sent from samsung",
        "sent from gmail mobile",
        "get outlook for ios",
        "get outlook for android",
    ];
    const FRENCH: &[&str] = &[
        "envoyé de mon ",
        "envoyé depuis mon ",
        "envoyé à partir de mon ",
        "envoyé à partir de outlook",
        "envoyé à partir d'outlook",
        "envoyé depuis outlook",
        "envoyé de courrier pour windows",
        "envoyé depuis yahoo mail",
        "obtenir outlook pour ios",
        "obtenir outlook pour android",
        "télécharger outlook pour ios",
        "télécharger outlook pour android",
    ];
    if ENGLISH.iter().any(|p| lower.starts_with(p)) {
        Some(Language::En)
    } else if FRENCH
        .iter()
        .any(|p| lower.replace('’', "'").starts_with(p))
    {
        Some(Language::Fr)
    } else {
        None
    }
}

fn original_message_separator(text: &str) -> Option<Language> {
    if !text.starts_with("--") {
        return None;
    }
    match key(text).as_str() {
        "original message" => Some(Language::En),
        "message d'origine" | "message original" => Some(Language::Fr),
        _ => None,
    }
}

fn forward_marker(text: &str) -> Option<Language> {
    let key = key(text);
    match key.as_str() {
        "begin forwarded message:" | "forwarded message" => Some(Language::En),
        "début du message réexpédié:"
        | "début du message transféré:"
        | "message transféré"
        | "message transmis" => Some(Language::Fr),
        _ => None,
    }
}

/// `________________________________` (Outlook), or a long run of `-`, `─` or `=`.
fn is_separator_line(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    "_-─=".contains(first) && text.chars().count() >= 8 && text.chars().all(|c| c == first)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Sent,
    To,
    Cc,
    Subject,
}

/// `From: …`, `*From:* …` (Gmail's text of bold labels), `De : …`, and the other labels of
/// Outlook's header block, with the language they are in (`None` for `Date`, `Cc`).
fn header_field(text: &str) -> Option<(Field, Option<Language>)> {
    let text = text.trim_start_matches('*');
    let (label, value) = text.split_once(':')?;
    let label = label.trim().trim_end_matches('*').trim().to_lowercase();
    let value = value.trim_start_matches('*').trim();
    if value.is_empty() && label != "cc" {
        return None;
    }
    let field = match label.as_str() {
        "from" => (Field::From, Some(Language::En)),
        "de" => (Field::From, Some(Language::Fr)),
        "sent" => (Field::Sent, Some(Language::En)),
        "envoyé" | "envoyé le" => (Field::Sent, Some(Language::Fr)),
        "date" => (Field::Sent, None),
        "to" => (Field::To, Some(Language::En)),
        "à" | "a" | "pour" => (Field::To, Some(Language::Fr)),
        "cc" | "bcc" | "cci" => (Field::Cc, None),
        "subject" => (Field::Subject, Some(Language::En)),
        "objet" | "sujet" => (Field::Subject, Some(Language::Fr)),
        _ => return None,
    };
    Some(field)
}

/// A `From:`/`De :` line followed, without a blank line, by at least two more header fields
/// of Outlook's block. Returns the block's language.
fn header_block_at(lines: &[&str], i: usize) -> Option<Language> {
    let (Field::From, language) = header_field(&normalize(lines[i]))? else {
        return None;
    };
    let mut seen: Vec<Field> = Vec::new();
    for line in lines.iter().skip(i + 1).take(8) {
        if is_blank(line) {
            break;
        }
        if let Some((field, _)) = header_field(&normalize(line))
            && field != Field::From
            && !seen.contains(&field)
        {
            seen.push(field);
        }
    }
    (seen.len() >= 2).then_some(language.unwrap_or(Language::En))
}

/// "On … wrote:" or "Le … a écrit :" starting at line `i`, over one to three lines, with a
/// digit in it (a date). Returns how many lines it takes and its language.
fn attribution_at(lines: &[&str], i: usize) -> Option<(usize, Language)> {
    let mut joined = String::new();
    for length in 1..=3 {
        let line = lines.get(i + length - 1)?;
        if is_blank(line) || is_quoted(line) {
            return None;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(&normalize(line));
        if joined.len() > 400 {
            return None;
        }
        let lower = joined.to_lowercase();
        if !lower.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        if lower.starts_with("on ") && lower.ends_with(" wrote:") {
            return Some((length, Language::En));
        }
        if lower.starts_with("le ") && key(&lower).ends_with(" a écrit:") {
            return Some((length, Language::Fr));
        }
    }
    None
}

/// Trailing spaces off, runs of blank lines as one, no blank lines at either end.
fn tidy(lines: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() && out.last().is_none_or(|last| last.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|last| last.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Trailing spaces off and no blank lines at either end, the rest as it is.
fn tidy_verbatim(lines: &[&str]) -> String {
    let lines: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        assert!(is_separator_line("________________________________"));
        assert!(!is_separator_line("____"));
        assert!(!is_separator_line("__--__--__"));
        assert_eq!(key("-----Message d’origine-----"), "message d'origine");
        assert_eq!(
            header_field("De : Ana Souza <ana@x>").map(|(f, l)| (f == Field::From, l)),
            Some((true, Some(Language::Fr)))
        );
        assert!(header_field("*From:* Ana").is_some());
        assert!(header_field("Note: bring the recording").is_none());
        assert!(header_field("From:").is_none());
    }

    #[test]
    fn attribution_needs_a_date_and_the_whole_form() {
        let one = ["On Monday I wrote:"];
        assert!(attribution_at(&one, 0).is_none(), "no date");
        let two = ["On Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x>", "wrote:"];
        assert_eq!(attribution_at(&two, 0), Some((2, Language::En)));
        let fr = [
            "Le lun. 7 déc. 2026 à 10:00, Ana Souza <ana@x> a",
            "écrit :",
        ];
        assert_eq!(attribution_at(&fr, 0), Some((2, Language::Fr)));
        let nbsp = ["Le 07/12/2026 à 10:00, Ana Souza a écrit\u{a0}:"];
        assert_eq!(attribution_at(&nbsp, 0), Some((1, Language::Fr)));
    }
}
