//! Whatever arrives, nothing panics, and trimming only ever removes lines.

mod support;

use proptest::prelude::*;
use vitrine_inbound::parse::InboundMessage;
use vitrine_inbound::reply_address::ReplyKey;
use vitrine_inbound::trim::new_text;

/// Lines of every kind the trimmer reacts to, and lines it must keep.
const LINES: &[&str] = &[
    "Thanks, will do.",
    "If the file is > 2 GB we split it.",
    "Merci, c'est noté.",
    "  indented text",
    "",
    " ",
    "\u{a0}",
    "> quoted line",
    ">> deeper quote",
    ">",
    "On Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example> wrote:",
    "On Mon, 7 Dec 2026 at 10:00, Ana Souza <",
    "ana@x.example> wrote:",
    "Le lun. 7 déc. 2026 à 10:00, Ana Souza <ana@x.example> a écrit :",
    "-- ",
    "--",
    "Sent from my iPhone",
    "Envoyé de mon iPhone",
    "-----Original Message-----",
    "-----Message d'origine-----",
    "________________________________",
    "From: Ana Souza <ana@x.example>",
    "Sent: Monday, December 7, 2026 10:00",
    "De : Ana Souza",
    "Envoyé : lundi",
    "To: Bob",
    "À : Bob",
    "Subject: Changes requested",
    "Objet : Modifications",
    "[cid:image001.png@01DB4A2B.3C4D5E60]",
];

const FORWARD_MARKERS: &[&str] = &[
    "Begin forwarded message:",
    "Début du message réexpédié :",
    "---------- Forwarded message ---------",
    "-------- Forwarded Message --------",
];

fn body() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(LINES), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn trimming_only_removes_lines(lines in body(), crlf in any::<bool>()) {
        let body = lines.join(if crlf { "\r\n" } else { "\n" });
        let trimmed = new_text(&body);
        let kept: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
        for line in trimmed.split('\n').filter(|_| !trimmed.is_empty()) {
            prop_assert!(kept.contains(&line), "{line:?} is not in the input");
            prop_assert!(!line.trim_start().starts_with('>'), "a quote is left: {line:?}");
        }
        prop_assert!(!trimmed.starts_with('\n') && !trimmed.ends_with('\n'));
        prop_assert!(!trimmed.contains("\n\n\n"), "{trimmed:?}");
        // Trimming what is left changes nothing more, when nothing was taken out from the
        // middle (taking quotes out can join two lines into a new attribution line, as in
        // "On … <" / "> quote" / "… wrote:").
        let middle_removals = lines.iter().any(|l| l.starts_with('>') || l.starts_with("[cid:"));
        if !middle_removals {
            prop_assert_eq!(new_text(&trimmed), trimmed.clone());
        }
    }

    #[test]
    fn a_forward_keeps_everything_after_its_marker(
        marker in prop::sample::select(FORWARD_MARKERS),
        forwarded in prop::collection::vec(prop::sample::select(LINES), 1..20),
    ) {
        let mut lines = vec!["FYI"];
        lines.push("");
        lines.push(marker);
        lines.extend(forwarded.iter().copied());
        let body = lines.join("\n");
        let trimmed = new_text(&body);
        let expected: Vec<&str> = lines[2..].iter().map(|l| l.trim_end()).collect();
        let expected = expected.join("\n");
        prop_assert!(trimmed.starts_with("FYI\n\n"), "{trimmed:?}");
        prop_assert!(trimmed.ends_with(expected.trim_end_matches(['\n', ' '])), "{trimmed:?}");
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = InboundMessage::parse(&bytes);
    }

    #[test]
    fn parsing_damaged_fixtures_never_panics(
        fixture in prop::sample::select(&[
            "gmail_en.eml",
            "outlook_en_html_only.eml",
            "postfix_dsn_failed.eml",
            "reply_with_mp4_and_pdf.eml",
            "thunderbird_fr.eml",
            "exchange_ndr.eml",
        ][..]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..16),
    ) {
        let mut raw = support::raw(fixture);
        for (at, byte, kind) in edits {
            if raw.is_empty() {
                break;
            }
            let i = at.index(raw.len());
            match kind {
                0 => raw[i] = byte,
                1 => raw.insert(i, byte),
                _ => {
                    raw.remove(i);
                }
            }
        }
        if let Ok(message) = InboundMessage::parse(&raw) {
            let _ = vitrine_inbound::triage(&message, &support::pattern(), 1 << 20);
        }
    }

    #[test]
    fn any_key_survives_its_address_in_any_case(bytes in any::<[u8; 32]>(), upper in any::<bool>()) {
        let key = ReplyKey::from_bytes(bytes);
        let pattern = support::pattern();
        let mut address = pattern.address_for(&key);
        if upper {
            address = address.to_uppercase();
        }
        prop_assert!(address.split('@').next().is_some_and(|local| local.len() <= 64));
        prop_assert_eq!(pattern.key_in(&address).map(|k| k.hash()), Some(key.hash()));
    }

    #[test]
    fn html_bodies_of_any_shape_are_read(
        pieces in prop::collection::vec(prop::sample::select(&[
            "<div>", "</div>", "<p>", "</p>", "<br>", "<blockquote>", "</blockquote>",
            "<script>", "</script>", "<style>", "</style>", "&nbsp;", "&amp;", "&#8217;",
            "<a href=\"https://x.example\">", "</a>", "text", "<b>", "<table><tr><td>",
            "<!--", "-->", "<", ">", "é", "\n",
        ][..]), 0..200),
    ) {
        let html: String = pieces.concat();
        let raw = format!(
            "From: a@b.example\nTo: reply@mail.vitrine.example\nSubject: x\nContent-Type: text/html; charset=utf-8\n\n{html}\n"
        );
        let message = InboundMessage::parse(raw.as_bytes());
        prop_assert!(message.is_ok());
        if let Ok(message) = message {
            let _ = new_text(&message.text);
            prop_assert!(!message.text.contains("<script>"));
        }
    }
}
