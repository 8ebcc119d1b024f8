//! Real replies from each mail client, in English and French: what the thread would show.

mod support;

use support::{both_line_ends, key_a, pattern};
use vitrine_inbound::Language::{En, Fr};
use vitrine_inbound::classify::Kind;
use vitrine_inbound::parse::TextSource::{Html, Plain};
use vitrine_inbound::{Language, parse::TextSource, triage};

struct Case {
    fixture: &'static str,
    from: &'static str,
    language: Option<Language>,
    source: TextSource,
    new_text: &'static str,
}

const CASES: &[Case] = &[
    Case {
        fixture: "gmail_en.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Plain,
        new_text: "Thanks Ana, good catch. I'll record the checkout again tomorrow morning,\n\
                   this time until the confirmation page.\n\
                   \n\
                   Bob",
    },
    Case {
        fixture: "gmail_fr.eml",
        from: "bob.martin@acme.example",
        language: Some(Fr),
        source: Plain,
        new_text: "Merci Ana, bien vu. Je refais l'enregistrement du paiement demain matin,\n\
                   cette fois jusqu'à la page de confirmation.\n\
                   \n\
                   Bob",
    },
    Case {
        fixture: "gmail_en_html_only.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Html,
        new_text: "Hi Ana,\n\
                   \n\
                   Here is what changed since round 1:\n\
                   * the checkout now runs until the confirmation page\n\
                   * the refund flow is in the refund guide <https://acme.example/docs/refunds>\n\
                   Tell me if anything else is missing — thanks!\n\
                   \n\
                   Bob",
    },
    Case {
        fixture: "gmail_fr_html_only.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Html,
        new_text: "Bonjour Ana,\n\
                   \n\
                   C'est corrigé : le parcours va jusqu'à la confirmation.\n\
                   Bonne journée,\n\
                   Bob",
    },
    Case {
        fixture: "outlook_en.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Plain,
        // A signature without "-- " above it stays: nothing tells it from the text.
        new_text: "Hi Ana,\n\
                   \n\
                   The new recording is attached to the submission now. We also fixed the\n\
                   currency shown on the receipt.\n\
                   \n\
                   Regards,\n\
                   Bob Martin\n\
                   Head of Product, Acme Analytics\n\
                   +44 20 7946 0000",
    },
    Case {
        fixture: "outlook_fr.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Plain,
        new_text: "Bonjour Ana,\n\
                   \n\
                   C'est noté, nous renvoyons un enregistrement complet cet après-midi.\n\
                   \n\
                   Cordialement,\n\
                   Béatrice",
    },
    Case {
        fixture: "outlook_ios_fr.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Plain,
        new_text: "Bonjour,\n\
                   \n\
                   Voici la nouvelle vidéo, avec le remboursement cette fois.\n\
                   \n\
                   Béatrice",
    },
    Case {
        fixture: "outlook_en_html_only.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Html,
        new_text: "Hi Ana,\n\
                   \n\
                   Done: the checkout recording now ends on the confirmation page.\n\
                   \n\
                   Bob",
    },
    Case {
        fixture: "outlook_fr_html_only.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Html,
        new_text: "Bonjour Ana,\n\
                   \n\
                   Le remboursement n’est pas encore en production ; nous l’enregistrerons la semaine prochaine.\n\
                   \n\
                   Béatrice",
    },
    Case {
        fixture: "outlook_signature_logo.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Plain,
        new_text: "Carol will send the recording tomorrow.\n\nBob Martin",
    },
    Case {
        fixture: "apple_mail_en.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Plain,
        // format=flowed: the soft line breaks are joined back.
        new_text: "Hi Ana,\n\
                   \n\
                   Thanks for the quick review. I re-recorded the checkout flow and it now goes all the way to the payment confirmation, including the receipt email that the customer gets at the end.\n\
                   \n\
                   Bob",
    },
    Case {
        fixture: "apple_mail_fr.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Plain,
        new_text: "Parfait, merci. Je renvoie la vidéo ce soir.",
    },
    Case {
        fixture: "apple_mail_forward_en.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Plain,
        // Forwarded content is kept as it is, its own quote and signature included.
        new_text: "Ana, our payments provider confirms the refund flow below.\n\
                   \n\
                   Bob\n\
                   \n\
                   Begin forwarded message:\n\
                   \n\
                   From: Carla Ruiz <carla@payments.example>\n\
                   Subject: Re: Refunds for Acme Analytics\n\
                   Date: 6 December 2026 at 17:12:45 GMT\n\
                   To: Bob Martin <bob.martin@acme.example>\n\
                   \n\
                   Hi Bob,\n\
                   \n\
                   Refunds are enabled on your account since Friday.\n\
                   \n\
                   > Can you confirm refunds are live?\n\
                   \n\
                   Carla\n\
                   --\n\
                   Carla Ruiz, Payments Example",
    },
    Case {
        fixture: "apple_mail_forward_fr.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Plain,
        // The mobile signature above the forward goes; the forwarded message stays.
        new_text: "Pour info, voir ci-dessous.\n\
                   \n\
                   Début du message réexpédié :\n\
                   \n\
                   De: Carla Ruiz <carla@payments.example>\n\
                   Date: 6 décembre 2026 à 17:12:45 UTC+1\n\
                   À: Béatrice Martin <beatrice@acme.example>\n\
                   Objet: Remboursements\n\
                   \n\
                   Les remboursements sont actifs depuis vendredi.\n\
                   \n\
                   Carla",
    },
    Case {
        fixture: "thunderbird_en.eml",
        from: "bob.martin@acme.example",
        language: Some(En),
        source: Plain,
        // Interleaved: the sender's lines between the quotes stay, the quotes go.
        new_text: "Hi Ana,\n\
                   \n\
                   Right, the screen recorder stopped early. The new recording goes up to the confirmation page and shows the receipt.\n\
                   \n\
                   Also: is a recording of the refund flow needed for round 2?",
    },
    Case {
        fixture: "thunderbird_fr.eml",
        from: "beatrice@acme.example",
        language: Some(Fr),
        source: Plain,
        new_text: "Bonjour Ana,\n\
                   \n\
                   Oui, nous ajoutons le remboursement au tour 2.\n\
                   \n\
                   Béatrice",
    },
];

#[test]
fn each_client_reply_shows_only_its_new_text() {
    let pattern = pattern();
    for case in CASES {
        for (name, message) in both_line_ends(case.fixture) {
            let triage = triage(&message, &pattern, 1 << 20);
            assert_eq!(triage.text, case.new_text, "{name}: new text");
            assert_eq!(triage.kind, Kind::Reply, "{name}: kind");
            assert_eq!(triage.refusal(), None, "{name}: posted");
            assert_eq!(
                triage.key.as_ref().map(|k| k.hash()),
                Some(key_a().hash()),
                "{name}: key"
            );
            assert_eq!(message.language, case.language, "{name}: language");
            assert_eq!(message.text_source, case.source, "{name}: text source");
            assert_eq!(
                message.from.as_ref().map(|f| f.address.as_str()),
                Some(case.from),
                "{name}: from"
            );
        }
    }
}

#[test]
fn html_only_replies_lose_the_gmail_quote_and_the_outlook_header_block() {
    for fixture in [
        "gmail_en_html_only.eml",
        "gmail_fr_html_only.eml",
        "outlook_en_html_only.eml",
        "outlook_fr_html_only.eml",
    ] {
        let message = support::load(fixture);
        // The quoted history is in the converted text, as quotes or a header block...
        assert!(
            message.text.contains("> Ana Souza")
                || message.text.contains("From: Ana Souza")
                || message.text.contains("De : Ana Souza"),
            "{fixture}: {}",
            message.text
        );
        assert!(message.html.is_some());
        // ...and nothing of it, nor any markup or style, is left in the new text.
        let new_text = vitrine_inbound::trim::new_text(&message.text);
        for gone in ["Ana Souza", "vitrine", "<div", "margin", "&nbsp;", "\u{a0}"] {
            assert!(
                !new_text.contains(gone),
                "{fixture}: {gone:?} in {new_text:?}"
            );
        }
    }
}

#[test]
fn headers_of_a_gmail_reply() {
    let message = support::load("gmail_en.eml");
    assert_eq!(
        message.message_id.as_deref(),
        Some("CAF=k3Yq8vH+2mZ1xJrP0Lw@mail.gmail.com")
    );
    assert_eq!(
        message.subject.as_deref(),
        Some("Re: Changes requested: Acme Analytics — round 1")
    );
    assert_eq!(
        message.from.as_ref().and_then(|f| f.name.as_deref()),
        Some("Bob Martin")
    );
    assert_eq!(
        message.in_reply_to,
        ["0190f3a9-1111-7d2b-9a4f-3b2c1d0e9f8a@mail.vitrine.example"]
    );
    assert_eq!(
        message.references,
        [
            "0190f3a2-7c1e-7d2b-9a4f-3b2c1d0e9f8a@mail.vitrine.example",
            "0190f3a9-1111-7d2b-9a4f-3b2c1d0e9f8a@mail.vitrine.example",
        ]
    );
    assert_eq!(
        message.date.map(|d| d.to_string()).as_deref(),
        Some("2026-12-07T11:02:01Z")
    );
    assert!(message.attachments.is_empty());
}

#[test]
fn decoded_subjects_and_names_in_other_charsets() {
    let outlook = support::load("outlook_fr.eml");
    assert_eq!(
        outlook.from.as_ref().and_then(|f| f.name.as_deref()),
        Some("Béatrice Martin")
    );
    assert_eq!(
        outlook.subject.as_deref(),
        Some("RE\u{a0}: Modifications demandées : Acme Analytics")
    );
    let apple = support::load("apple_mail_fr.eml");
    assert_eq!(
        apple.subject.as_deref(),
        Some("Re\u{a0}: Modifications demandées")
    );
}

#[test]
fn language_comes_from_content_language_then_the_quote() {
    // Content-Language wins.
    assert_eq!(support::load("outlook_en.eml").language, Some(En));
    assert_eq!(support::load("exchange_oof_fr.eml").language, Some(Fr));
    // No Content-Language: the attribution line's language ("a écrit", "wrote").
    assert_eq!(support::load("thunderbird_fr.eml").language, Some(Fr));
    assert_eq!(support::load("gmail_en.eml").language, Some(En));
    // Apple Mail's attribution is inside the quote.
    assert_eq!(support::load("apple_mail_en.eml").language, Some(En));
    // Nothing to tell.
    assert_eq!(support::load("precedence_bulk.eml").language, None);
    assert_eq!(support::load("gmail_vacation_en.eml").language, None);
}

#[test]
fn an_html_only_apple_mail_reply_with_the_attribution_inside_the_blockquote() {
    let raw = "From: Bob Martin <bob.martin@acme.example>\n\
        To: reply@mail.vitrine.example\n\
        Subject: Re: Changes requested\n\
        Content-Type: text/html; charset=utf-8\n\
        Content-Transfer-Encoding: quoted-printable\n\
        \n\
        <html><body style=3D\"overflow-wrap: break-word;\"><div>Uploaded, see the new =\n\
        take.</div><div><br></div><div>Bob</div><div><br><blockquote type=3D\"cite\"><div>=\n\
        On 7 Dec 2026, at 10:00, Ana Souza &lt;ana@vitrine.example&gt; wrote:</div><br =\n\
        class=3D\"Apple-interchange-newline\"><div><div>Hello Bob,<br><br>Please record =\n\
        the checkout again.</div></div></blockquote></div><br></body></html>\n";
    let message = vitrine_inbound::parse::InboundMessage::parse(raw.as_bytes()).expect("a message");
    assert_eq!(message.text_source, Html);
    assert_eq!(message.language, Some(En));
    assert_eq!(
        vitrine_inbound::trim::new_text(&message.text),
        "Uploaded, see the new take.\n\nBob"
    );
}

#[test]
fn an_unknown_content_language_falls_back_to_the_quote() {
    let raw = "From: Bob <bob@acme.example>\nTo: reply@mail.vitrine.example\nSubject: Re: x\nContent-Language: de-DE\n\nOk.\n\nLe 07/12/2026 à 10:00, Ana Souza a écrit :\n> Bonjour\n";
    let message = vitrine_inbound::parse::InboundMessage::parse(raw.as_bytes()).expect("a message");
    assert_eq!(message.language, Some(Fr));
}

#[test]
fn a_signed_reply_shows_its_text_and_refuses_nothing() {
    let raw = "From: Bob <bob@acme.example>\n\
        To: reply+a4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dq@mail.vitrine.example\n\
        Subject: Re: Changes requested\n\
        MIME-Version: 1.0\n\
        Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\n\
        \n\
        --sig\n\
        Content-Type: text/plain; charset=utf-8\n\
        \n\
        Signed and sent.\n\
        \n\
        On Mon, 7 Dec 2026 at 10:00, Ana Souza <ana@vitrine.example> wrote:\n\
        > Hello\n\
        --sig\n\
        Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\n\
        Content-Disposition: attachment; filename=\"smime.p7s\"\n\
        Content-Transfer-Encoding: base64\n\
        \n\
        MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAA==\n\
        --sig--\n";
    let message = vitrine_inbound::parse::InboundMessage::parse(raw.as_bytes()).expect("a message");
    let triage = triage(&message, &pattern(), 1 << 20);
    assert_eq!(triage.text, "Signed and sent.");
    assert_eq!(message.attachments.len(), 1);
    assert!(triage.refused_attachments.is_empty());
    assert_eq!(triage.refusal(), None);
}
