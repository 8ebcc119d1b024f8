//! `trim::new_text` on each quoting form of each client, in English and French, and on the
//! texts it must leave alone.

use vitrine_inbound::Language;
use vitrine_inbound::trim::{new_text, quote_language};

const QUOTE_EN: &str =
    "> Hello Bob,\n>\n> Please record the checkout again.\n>\n> -- \n> vitrine\n";
const QUOTE_FR: &str =
    "> Bonjour Bob,\n>\n> Merci de refaire l'enregistrement.\n>\n> -- \n> vitrine\n";

fn check(cases: &[(&str, String, &str)]) {
    for (name, body, expected) in cases {
        assert_eq!(new_text(body), *expected, "{name}");
        let crlf = body.replace('\n', "\r\n");
        assert_eq!(new_text(&crlf), *expected, "{name} (CRLF)");
    }
}

#[test]
fn gmail_attributions() {
    check(&[
        (
            "Gmail, English",
            format!(
                "Sounds good.\n\nOn Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example> wrote:\n\n{QUOTE_EN}"
            ),
            "Sounds good.",
        ),
        (
            "Gmail, English, US date",
            format!(
                "Sounds good.\n\nOn Mon, Dec 7, 2026 at 10:00\u{202f}AM Ana Souza <ana@x.example> wrote:\n\n{QUOTE_EN}"
            ),
            "Sounds good.",
        ),
        (
            "Gmail, English, wrapped over two lines",
            format!(
                "Sounds good.\n\nOn Mon, 7 Dec 2026 at 10:00, Ana Souza via vitrine <\nreply+abc@mail.vitrine.example> wrote:\n\n{QUOTE_EN}"
            ),
            "Sounds good.",
        ),
        (
            "Gmail, English, wrapped before wrote",
            format!(
                "Sounds good.\n\nOn Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example>\nwrote:\n\n{QUOTE_EN}"
            ),
            "Sounds good.",
        ),
        (
            "Gmail, French",
            format!(
                "Très bien.\n\nLe lun. 7 déc. 2026 à 10:00, Ana Souza <ana@x.example> a écrit :\n\n{QUOTE_FR}"
            ),
            "Très bien.",
        ),
        (
            "Gmail, French, non-breaking space before the colon",
            format!(
                "Très bien.\n\nLe lun. 7 déc. 2026 à 10:00, Ana Souza <ana@x.example> a écrit\u{a0}:\n\n{QUOTE_FR}"
            ),
            "Très bien.",
        ),
        (
            "Gmail, French, wrapped over two lines",
            format!(
                "Très bien.\n\nLe lun. 7 déc. 2026 à 10:00, Ana Souza via vitrine <reply+abc@mail.vitrine.example> a\nécrit :\n\n{QUOTE_FR}"
            ),
            "Très bien.",
        ),
    ]);
}

#[test]
fn outlook_forms() {
    check(&[
        (
            "Outlook, English, Original Message",
            "Done.\n\n-----Original Message-----\nFrom: Ana Souza <ana@x.example>\nSent: Monday, December 7, 2026 10:00 AM\nTo: Bob <bob@acme.example>\nSubject: Changes requested\n\nHello Bob,\n".to_owned(),
            "Done.",
        ),
        (
            "Outlook, French, Message d'origine",
            "C'est fait.\n\n-----Message d'origine-----\nDe : Ana Souza <ana@x.example>\nEnvoyé : lundi 7 décembre 2026 10:00\nÀ : Bob <bob@acme.example>\nObjet : Modifications demandées\n\nBonjour Bob,\n".to_owned(),
            "C'est fait.",
        ),
        (
            "Outlook, English, underscore line",
            "Done.\n\n________________________________\nFrom: Ana Souza <ana@x.example>\nSent: Monday, December 7, 2026 10:00\nTo: Bob <bob@acme.example>\nSubject: Changes requested\n\nHello Bob,\n".to_owned(),
            "Done.",
        ),
        (
            "Outlook, French, underscore line, non-breaking spaces",
            "C'est fait.\n\n________________________________\nDe\u{a0}: Ana Souza <ana@x.example>\nEnvoyé\u{a0}: lundi 7 décembre 2026 10:00\nÀ\u{a0}: Bob <bob@acme.example>\nObjet\u{a0}: Modifications demandées\n\nBonjour Bob,\n".to_owned(),
            "C'est fait.",
        ),
        (
            "Outlook, header block alone",
            "Done.\n\nFrom: Ana Souza <ana@x.example>\nSent: Monday, December 7, 2026 10:00\nTo: Bob <bob@acme.example>\nCc: Carol <carol@acme.example>\nSubject: Changes requested\n\nHello Bob,\n".to_owned(),
            "Done.",
        ),
        (
            "Outlook for Mac, Date instead of Sent",
            "Done.\n\nFrom: Ana Souza <ana@x.example>\nDate: Monday, 7 December 2026 at 10:00\nTo: Bob <bob@acme.example>\nSubject: Changes requested\n\nHello Bob,\n".to_owned(),
            "Done.",
        ),
        (
            "Outlook, French, header block alone, Date",
            "C'est fait.\n\nDe : Ana Souza <ana@x.example>\nDate : lundi 7 décembre 2026 à 10:00\nÀ : Bob <bob@acme.example>\nObjet : Modifications demandées\n\nBonjour Bob,\n".to_owned(),
            "C'est fait.",
        ),
        (
            "Gmail's text of bold labels",
            "Done.\n\n*From:* Ana Souza <ana@x.example>\n*Sent:* Monday, December 7, 2026 10:00\n*To:* Bob\n*Subject:* Changes requested\n\nHello\n".to_owned(),
            "Done.",
        ),
        (
            "Outlook's inline image reference",
            "Done.\n\nBob Martin\n[cid:image001.png@01DB4A2B.3C4D5E60]\n\nFrom: Ana\nSent: Monday\nTo: Bob\n".to_owned(),
            "Done.\n\nBob Martin",
        ),
    ]);
}

#[test]
fn apple_mail_and_thunderbird_forms() {
    check(&[
        (
            "Apple Mail, English",
            format!("Thanks!\n\nOn 7 Dec 2026, at 10:00, Ana <a@x.example> wrote:\n\n{QUOTE_EN}"),
            "Thanks!",
        ),
        (
            "Apple Mail, English, attribution inside the quote",
            format!("Thanks!\n\n> On 7 Dec 2026, at 10:00, Ana <a@x.example> wrote:\n>\n{QUOTE_EN}"),
            "Thanks!",
        ),
        (
            "Apple Mail, French",
            format!("Merci !\n\nLe 7 déc. 2026 à 10:00, Ana <a@x.example> a écrit :\n\n{QUOTE_FR}"),
            "Merci !",
        ),
        (
            "Thunderbird, English",
            format!("Will do.\n\nOn 07/12/2026 10:00, Ana Souza wrote:\n{QUOTE_EN}"),
            "Will do.",
        ),
        (
            "Thunderbird, French",
            format!("Entendu.\n\nLe 07/12/2026 à 10:00, Ana Souza a écrit :\n{QUOTE_FR}"),
            "Entendu.",
        ),
        (
            "Thunderbird, Original Message (reply inline)",
            "Will do.\n\n-------- Original Message --------\nSubject: Changes requested\nDate: Mon, 7 Dec 2026 10:00:00 +0000\nFrom: Ana Souza <ana@x.example>\nTo: Bob\n\nHello Bob\n".to_owned(),
            "Will do.",
        ),
        (
            "Thunderbird, French, Message original",
            "Entendu.\n\n-------- Message original --------\nSujet : Modifications\nDate : lun. 7 déc. 2026 10:00\nDe : Ana Souza <ana@x.example>\nPour : Bob\n\nBonjour\n".to_owned(),
            "Entendu.",
        ),
        (
            "Unquoted history after an attribution is history all the same",
            "Yes.\n\nOn Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example> wrote:\nHello Bob,\nPlease record the checkout again.\n".to_owned(),
            "Yes.",
        ),
    ]);
}

#[test]
fn signatures() {
    check(&[
        (
            "signature separator",
            "Will do.\n\n-- \nBob Martin\nAcme Analytics\n".to_owned(),
            "Will do.",
        ),
        (
            "signature separator without its space",
            "Will do.\n\n--\nBob Martin\n".to_owned(),
            "Will do.",
        ),
        ("Sent from my iPhone", format!("Ok\n\nSent from my iPhone\n\n{QUOTE_EN}"), "Ok"),
        ("Sent from my iPad", "Ok\n\nSent from my iPad".to_owned(), "Ok"),
        ("Envoyé de mon iPhone", format!("D'accord\n\nEnvoyé de mon iPhone\n\n{QUOTE_FR}"), "D'accord"),
        ("Envoyé depuis mon mobile", "D'accord\n\nEnvoyé depuis mon mobile Orange\n".to_owned(), "D'accord"),
        (
            "Get Outlook for iOS",
            "Ok\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Ana\nSent: Monday\nTo: Bob\nSubject: x\n".to_owned(),
            "Ok",
        ),
        ("Get Outlook for Android", "Ok\n\nGet Outlook for Android\n".to_owned(), "Ok"),
        (
            "Obtenir Outlook pour iOS",
            "D'accord\n\nObtenir Outlook pour iOS<https://aka.ms/o0ukef>\n".to_owned(),
            "D'accord",
        ),
        (
            "Obtenir Outlook pour Android",
            "D'accord\n\nObtenir Outlook pour Android\n".to_owned(),
            "D'accord",
        ),
    ]);
}

#[test]
fn interleaved_replies_keep_the_senders_lines() {
    check(&[
        (
            "bottom-posted, interleaved",
            "On Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example> wrote:\n\
             > Can you record the checkout again?\n\
             \n\
             Yes, tomorrow.\n\
             \n\
             > And the refund flow?\n\
             >\n\
             > It was missing.\n\
             \n\
             Refunds are not live yet; next round.\n\
             \n\
             > Thanks,\n\
             > Ana\n\
             \n\
             -- \n\
             Bob\n"
                .to_owned(),
            "Yes, tomorrow.\n\nRefunds are not live yet; next round.",
        ),
        (
            "French, interleaved without attribution",
            "> Pouvez-vous refaire l'enregistrement ?\nOui, demain.\n> Et le remboursement ?\nPas encore en production.\n".to_owned(),
            "Oui, demain.\nPas encore en production.",
        ),
        (
            "quote only",
            format!("On Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example> wrote:\n{QUOTE_EN}"),
            "",
        ),
    ]);
}

#[test]
fn forwarded_messages_are_kept() {
    check(&[
        (
            "Gmail forward",
            "See below.\n\n---------- Forwarded message ---------\nFrom: Carla <carla@payments.example>\nDate: Sun, 6 Dec 2026 at 17:12\nSubject: Refunds\nTo: Bob <bob@acme.example>\n\nRefunds are live.\n".to_owned(),
            "See below.\n\n---------- Forwarded message ---------\nFrom: Carla <carla@payments.example>\nDate: Sun, 6 Dec 2026 at 17:12\nSubject: Refunds\nTo: Bob <bob@acme.example>\n\nRefunds are live.",
        ),
        (
            "Gmail forward, French",
            "Voir ci-dessous.\n\n---------- Message transféré ---------\nDe : Carla <carla@payments.example>\nDate: dim. 6 déc. 2026 à 17:12\nSubject: Remboursements\nTo: Béatrice\n\nC'est actif.\n".to_owned(),
            "Voir ci-dessous.\n\n---------- Message transféré ---------\nDe : Carla <carla@payments.example>\nDate: dim. 6 déc. 2026 à 17:12\nSubject: Remboursements\nTo: Béatrice\n\nC'est actif.",
        ),
        (
            "Thunderbird forward inline, nothing above",
            "-------- Forwarded Message --------\nSubject: Refunds\nFrom: Carla <carla@payments.example>\n\nRefunds are live.\n".to_owned(),
            "-------- Forwarded Message --------\nSubject: Refunds\nFrom: Carla <carla@payments.example>\n\nRefunds are live.",
        ),
        (
            "a forward inside the quoted history is history",
            "Thanks.\n\nOn Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@x.example> wrote:\n> Begin forwarded message:\n> From: Carla\n".to_owned(),
            "Thanks.",
        ),
        (
            "a forward below an Outlook header block is history",
            "Thanks.\n\nFrom: Ana\nSent: Monday\nTo: Bob\nSubject: Fwd\n\nBegin forwarded message:\n\nold\n".to_owned(),
            "Thanks.",
        ),
    ]);
}

#[test]
fn text_that_only_looks_like_markers_is_kept() {
    check(&[
        (
            "a > inside a line",
            "If the file is > 2 GB we split it.\nThe go-live e-mail -- as agreed -- goes out Monday.\n".to_owned(),
            "If the file is > 2 GB we split it.\nThe go-live e-mail -- as agreed -- goes out Monday.",
        ),
        (
            "On … wrote: with no date",
            "On Monday I wrote:\nwe need two recordings.\n".to_owned(),
            "On Monday I wrote:\nwe need two recordings.",
        ),
        (
            "From: in a sentence",
            "From: the whole team, thanks!\nSee you.\n".to_owned(),
            "From: the whole team, thanks!\nSee you.",
        ),
        (
            "a short rule",
            "Steps:\n----\n1. open\n2. pay\n".to_owned(),
            "Steps:\n----\n1. open\n2. pay",
        ),
        (
            "sent from in a sentence",
            "The invoice was sent from my accounting tool yesterday, as you asked, with all the numbers you wanted to see.\n".to_owned(),
            "The invoice was sent from my accounting tool yesterday, as you asked, with all the numbers you wanted to see.",
        ),
    ]);
}

#[test]
fn blank_lines_and_empty_replies() {
    check(&[
        ("empty", String::new(), ""),
        ("blank lines only", "\n \n\u{a0}\n\t\n".to_owned(), ""),
        (
            "leading, trailing and repeated blank lines",
            "\n\n  \nFirst.   \n\n\n\nSecond.\n\n\n".to_owned(),
            "First.\n\nSecond.",
        ),
        (
            "indentation is kept",
            "Steps:\n  1. open\n  2. pay\n".to_owned(),
            "Steps:\n  1. open\n  2. pay",
        ),
    ]);
}

#[test]
fn the_quote_tells_the_clients_language() {
    let cases: &[(&str, Option<Language>)] = &[
        (
            "Ok\n\nOn Mon, 7 Dec 2026 at 10:00, Ana wrote:\n> x\n",
            Some(Language::En),
        ),
        (
            "Ok\n\nLe lun. 7 déc. 2026 à 10:00, Ana a écrit :\n> x\n",
            Some(Language::Fr),
        ),
        (
            "Ok\n\n> Le 7 déc. 2026 à 10:00, Ana <a@x> a écrit :\n> x\n",
            Some(Language::Fr),
        ),
        (
            "Ok\n\n-----Original Message-----\nFrom: Ana\n",
            Some(Language::En),
        ),
        (
            "Ok\n\n-----Message d'origine-----\nDe : Ana\n",
            Some(Language::Fr),
        ),
        (
            "Ok\n\nDe : Ana\nEnvoyé : lundi\nÀ : Bob\n",
            Some(Language::Fr),
        ),
        (
            "Ok\n\nFrom: Ana\nSent: Monday\nTo: Bob\n",
            Some(Language::En),
        ),
        ("Ok\n\nEnvoyé de mon iPhone\n", Some(Language::Fr)),
        ("Ok\n\nSent from my iPhone\n", Some(Language::En)),
        ("Ok\n\nDébut du message réexpédié :\n", Some(Language::Fr)),
        ("Ok\n", None),
        // An older attribution deeper in the quote is someone else's client.
        ("Ok\n\n> > On Mon, 7 Dec 2026 at 10:00, Ana wrote:\n", None),
    ];
    for (body, expected) in cases {
        assert_eq!(quote_language(body), *expected, "{body:?}");
    }
}
