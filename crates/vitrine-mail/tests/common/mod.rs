//! Sample emails and a parsed view of formatted messages, shared by the test binaries.
#![allow(dead_code, clippy::unwrap_used)]

use jiff::Timestamp;
use jiff::civil::{Date, date};
use mail_parser::MimeHeaders;
use uuid::Uuid;
use vitrine_mail::*;

pub fn submission_id() -> Uuid {
    Uuid::parse_str("0192f3a4-5b6c-7d8e-9f01-23456789abcd").unwrap()
}

pub fn submission() -> SubmissionRef {
    SubmissionRef {
        submission_id: submission_id(),
        offering_name: "postgres-plus".to_owned(),
        offering_title: "Postgres Plus".to_owned(),
        provider_name: "Acme Data".to_owned(),
    }
}

fn application() -> ApplicationRef {
    ApplicationRef {
        account_id: Uuid::parse_str("0192f3a4-0000-7000-8000-000000000001").unwrap(),
        account_name: "Acme Data".to_owned(),
        legal_name: "Acme Data SAS".to_owned(),
    }
}

fn instant(text: &str) -> Timestamp {
    text.parse().unwrap()
}

const TUESDAY: Date = date(2026, 12, 1);
const THURSDAY: Date = date(2026, 12, 3);

/// Samples of one kind of email: the first fills every optional field, the others leave
/// them out or take the other branches of the templates.
pub fn samples(kind: EmailKind) -> Vec<Email> {
    match kind {
        EmailKind::ProviderApplicationReceived => {
            vec![Email::ProviderApplicationReceived(ApplicationReceived {
                application: application(),
            })]
        }
        EmailKind::ProviderApplicationApproved => vec![
            Email::ProviderApplicationApproved(ApplicationApproved {
                application: application(),
                note: Some("Welcome aboard.\nBilling starts next month.".to_owned()),
            }),
            Email::ProviderApplicationApproved(ApplicationApproved {
                application: application(),
                note: None,
            }),
        ],
        EmailKind::ProviderApplicationRejected => {
            vec![Email::ProviderApplicationRejected(ApplicationRejected {
                application: application(),
                reason: "The website does not load.".to_owned(),
            })]
        }
        EmailKind::SubmissionQueued => vec![
            Email::SubmissionQueued(SubmissionQueued {
                submission: submission(),
                round: 1,
                review_date: TUESDAY,
                decision_date: THURSDAY,
                queue_position: 3,
            }),
            Email::SubmissionQueued(SubmissionQueued {
                submission: submission(),
                round: 2,
                review_date: TUESDAY,
                decision_date: THURSDAY,
                queue_position: 1,
            }),
        ],
        EmailKind::DatesMoved => [
            DatesMovedReason::Holiday,
            DatesMovedReason::Capacity,
            DatesMovedReason::Queue,
            DatesMovedReason::CalendarChange,
        ]
        .into_iter()
        .map(|reason| {
            Email::DatesMoved(DatesMoved {
                submission: submission(),
                reason,
                old_review_date: TUESDAY,
                old_decision_date: THURSDAY,
                new_review_date: date(2026, 12, 8),
                new_decision_date: date(2026, 12, 10),
                queue_position: 2,
            })
        })
        .collect(),
        EmailKind::SessionOpenedAssignments => vec![
            Email::SessionOpenedAssignments(SessionAssignments {
                review_date: TUESDAY,
                decision_date: THURSDAY,
                assignments: vec![
                    Assignment {
                        submission: submission(),
                        round: 2,
                    },
                    Assignment {
                        submission: SubmissionRef {
                            submission_id: Uuid::parse_str("0192f3a4-5b6c-7d8e-9f01-000000000002")
                                .unwrap(),
                            offering_name: "queue-lite".to_owned(),
                            offering_title: "Queue Lite".to_owned(),
                            provider_name: "Beta Systems".to_owned(),
                        },
                        round: 1,
                    },
                ],
            }),
            Email::SessionOpenedAssignments(SessionAssignments {
                review_date: TUESDAY,
                decision_date: THURSDAY,
                assignments: vec![Assignment {
                    submission: submission(),
                    round: 1,
                }],
            }),
            Email::SessionOpenedAssignments(SessionAssignments {
                review_date: TUESDAY,
                decision_date: THURSDAY,
                assignments: vec![],
            }),
        ],
        EmailKind::ThreadMessage => vec![
            Email::ThreadMessage(ThreadMessage {
                submission: submission(),
                author_name: "Vera Validator".to_owned(),
                author_side: ThreadSide::Marketplace,
                text: "Hello,\n\nThe recording stops before deprovisioning. Could you add it?"
                    .to_owned(),
                sent_at: instant("2026-12-01T10:30:00Z"),
            }),
            Email::ThreadMessage(ThreadMessage {
                submission: submission(),
                author_name: "Paul Provider".to_owned(),
                author_side: ThreadSide::Provider,
                text: "Done: new recording uploaded.".to_owned(),
                sent_at: instant("2026-12-02T16:00:00Z"),
            }),
        ],
        EmailKind::DecisionChangesRequested => vec![
            Email::DecisionChangesRequested(ChangesRequested {
                submission: submission(),
                round: 1,
                validator_name: "Vera Validator".to_owned(),
                unmet: vec![
                    UnmetRequirement {
                        title: "Deprovisioning".to_owned(),
                        comment: "The recording stops before the instance is deleted.\nShow the \
                                  deletion and the final bill."
                            .to_owned(),
                    },
                    UnmetRequirement {
                        title: "Changing plan".to_owned(),
                        comment: "Not shown.".to_owned(),
                    },
                ],
            }),
            Email::DecisionChangesRequested(ChangesRequested {
                submission: submission(),
                round: 2,
                validator_name: "Vera Validator".to_owned(),
                unmet: vec![UnmetRequirement {
                    title: "Changing plan".to_owned(),
                    comment: "Still not shown.".to_owned(),
                }],
            }),
        ],
        EmailKind::DecisionApproved => vec![
            Email::DecisionApproved(DecisionApproved {
                submission: submission(),
                round: 2,
                validator_name: "Vera Validator".to_owned(),
                requested_go_live: Some(date(2026, 12, 15)),
            }),
            Email::DecisionApproved(DecisionApproved {
                submission: submission(),
                round: 1,
                validator_name: "Vera Validator".to_owned(),
                requested_go_live: None,
            }),
        ],
        EmailKind::DecisionRejected => vec![Email::DecisionRejected(DecisionRejected {
            submission: submission(),
            round: 1,
            validator_name: "Vera Validator".to_owned(),
            reason: "The service is not billed through the marketplace.".to_owned(),
        })],
        EmailKind::AppealReceived => vec![Email::AppealReceived(AppealReceived {
            submission: submission(),
            round: 1,
            appellant_name: "Paula Provider".to_owned(),
            reason: "Billing goes through the marketplace since June; see the invoice.".to_owned(),
        })],
        EmailKind::AppealDecided => vec![
            Email::AppealDecided(AppealDecided {
                submission: submission(),
                round: 1,
                upheld: true,
                answer: Some("The invoice is for another service.".to_owned()),
            }),
            Email::AppealDecided(AppealDecided {
                submission: submission(),
                round: 1,
                upheld: false,
                answer: None,
            }),
        ],
        EmailKind::DecisionOverdue => vec![
            Email::DecisionOverdue(DecisionOverdue {
                submission: submission(),
                round: 1,
                validator_name: Some("Vera Validator".to_owned()),
                decision_date: THURSDAY,
            }),
            Email::DecisionOverdue(DecisionOverdue {
                submission: submission(),
                round: 1,
                validator_name: None,
                decision_date: THURSDAY,
            }),
        ],
        EmailKind::PublicationScheduled => {
            vec![Email::PublicationScheduled(PublicationScheduled {
                submission: submission(),
                publish_at: instant("2026-12-15T08:00:00Z"),
            })]
        }
        EmailKind::Published => vec![Email::Published(Published {
            submission: submission(),
            published_at: instant("2026-12-15T08:00:00Z"),
        })],
        EmailKind::Unpublished => vec![Email::Unpublished(Unpublished {
            submission: submission(),
            reason: "Customers report data loss; back to limited until it is fixed.".to_owned(),
            unpublished_at: instant("2027-01-04T17:45:00Z"),
        })],
        EmailKind::VerifyEmail => vec![Email::VerifyEmail(VerifyEmail {
            token: ONE_TIME_TOKEN.to_owned(),
            account_name: "Acme Data".to_owned(),
            expires_at: instant("2026-12-03T10:30:00Z"),
        })],
        EmailKind::PasswordReset => vec![Email::PasswordReset(PasswordReset {
            token: ONE_TIME_TOKEN.to_owned(),
            expires_at: instant("2026-12-01T11:30:00Z"),
        })],
        EmailKind::SignUpAttemptExisting => {
            vec![Email::SignUpAttemptExisting(SignUpAttemptExisting {
                attempted_at: instant("2026-12-01T10:30:00Z"),
            })]
        }
        EmailKind::WebhookDisabled => vec![Email::WebhookDisabled(WebhookDisabled {
            endpoint_id: submission_id(),
            account_id: Some(submission_id()),
            account_name: Some("Acme Data".to_owned()),
            url: "https://hooks.acme.example/vitrine".to_owned(),
            reason: "the answer was 503".to_owned(),
            disabled_at: instant("2026-12-02T10:30:00Z"),
        })],
        EmailKind::InboundRefused => {
            let answer = |reason, submission_id| {
                Email::InboundRefused(InboundRefused {
                    reason,
                    received_at: instant("2026-12-01T10:30:00Z"),
                    max_megabytes: 64,
                    submission_id,
                })
            };
            vec![
                answer(RefusalAnswer::Closed, Some(submission_id())),
                answer(RefusalAnswer::NotAccepted, None),
                answer(RefusalAnswer::TooLarge, None),
                answer(RefusalAnswer::Empty, Some(submission_id())),
            ]
        }
    }
}

/// A one-time token as the server makes them (`vit_` and 43 base64url characters).
pub const ONE_TIME_TOKEN: &str = "vit_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd";

pub fn render_context(lang_name: &str) -> RenderContext {
    RenderContext {
        base_url: "https://market.example.com/".to_owned(),
        marketplace_name: "Example Cloud".to_owned(),
        recipient_name: lang_name.to_owned(),
        recipient_time_zone: "Europe/Paris".to_owned(),
    }
}

pub fn mailbox(text: &str) -> Mailbox {
    text.parse().unwrap()
}

/// The headers and parts a test checks, read with a real MIME parser.
#[derive(Debug)]
pub struct Received {
    pub subject: String,
    pub to: Vec<String>,
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub content_type: String,
    pub text: String,
    pub html: String,
}

pub fn parse(raw: &[u8]) -> Received {
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    let list = |value: &mail_parser::HeaderValue| -> Vec<String> {
        value
            .as_text_list()
            .unwrap_or_default()
            .iter()
            .map(|id| format!("<{id}>"))
            .collect()
    };
    let content_type = message.content_type().unwrap();
    Received {
        subject: message.subject().unwrap().to_owned(),
        to: message
            .to()
            .unwrap()
            .iter()
            .map(|addr| addr.address().unwrap().to_owned())
            .collect(),
        message_id: format!("<{}>", message.message_id().unwrap()),
        in_reply_to: list(message.in_reply_to()),
        references: list(message.references()),
        content_type: format!(
            "{}/{}",
            content_type.ctype(),
            content_type.subtype().unwrap_or_default()
        ),
        // On the wire lines end in CRLF (RFC 5322); compare with what was rendered.
        text: message.body_text(0).unwrap().replace("\r\n", "\n"),
        html: message.body_html(0).unwrap().replace("\r\n", "\n"),
    }
}
