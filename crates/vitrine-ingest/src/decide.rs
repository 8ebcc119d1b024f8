//! What an inbound email may do: the rules, free of I/O, table-tested. The pipeline
//! (`lib.rs`) gathers the facts, asks here, and carries the answer out.

use vitrine_domain::submission::{Party, SubmissionState};

/// Why an inbound email posts nothing. Each has a stable slug (logs, the admin's inbound
/// list, the answer's translation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not an email at all (no header): kept out, never answered.
    Unreadable,
    /// Larger than the limit: refused before it is read.
    TooLarge,
    /// A vacation responder, list mail, read receipt…: never answered (loops).
    AutoReply,
    /// A delivery failure report: the failed addresses are marked bouncing.
    Bounce,
    /// Sent to none of our reply addresses.
    NoReplyKey,
    /// A reply address whose key we never issued.
    UnknownKey,
    /// A reply address whose key was revoked.
    RevokedKey,
    /// From someone other than the address's recipient, or not authenticated when the
    /// operator requires it: never answered (the real sender did not write it).
    ForgedSender,
    /// The reader may no longer write in this thread (left the account, lost the role).
    NotAllowed,
    /// The submission is closed (published, rejected, withdrawn).
    Closed,
    /// Nothing new once quotes and signatures are removed, and no recording.
    EmptyReply,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::Unreadable,
        Reason::TooLarge,
        Reason::AutoReply,
        Reason::Bounce,
        Reason::NoReplyKey,
        Reason::UnknownKey,
        Reason::RevokedKey,
        Reason::ForgedSender,
        Reason::NotAllowed,
        Reason::Closed,
        Reason::EmptyReply,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Reason::Unreadable => "unreadable",
            Reason::TooLarge => "too-large",
            Reason::AutoReply => "auto-reply",
            Reason::Bounce => "bounce",
            Reason::NoReplyKey => "no-reply-key",
            Reason::UnknownKey => "unknown-key",
            Reason::RevokedKey => "revoked-key",
            Reason::ForgedSender => "forged-sender",
            Reason::NotAllowed => "not-allowed",
            Reason::Closed => "closed",
            Reason::EmptyReply => "empty-reply",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.slug() == slug)
    }

    /// Whether the sender gets a polite answer (at most one an hour): never for automatic
    /// mail, bounces and forgeries (answering those makes loops and backscatter), nor for
    /// what is not mail at all.
    pub fn answered(self) -> bool {
        !matches!(
            self,
            Reason::Unreadable | Reason::AutoReply | Reason::Bounce | Reason::ForgedSender
        )
    }

    /// Whether an MTA that pipes mail to `vitrine mail ingest` should bounce it itself as
    /// an unknown address (exit code 67, `EX_NOUSER`).
    pub fn unknown_address(self) -> bool {
        matches!(
            self,
            Reason::NoReplyKey | Reason::UnknownKey | Reason::RevokedKey
        )
    }
}

/// The facts about a reply that came with a valid key.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The From address is the key's recipient's (compared without case).
    pub sender_is_recipient: bool,
    /// The operator trusts its receiving server's `Authentication-Results`, and it does not
    /// say DKIM, SPF or DMARC passed for the From domain. `false` when not required.
    pub unauthenticated: bool,
    /// The key's recipient's part in the submission now (`None`: they no longer see it).
    pub party: Option<Party>,
    pub state: SubmissionState,
    /// New text remains after trimming.
    pub has_text: bool,
    /// Recordings came attached.
    pub has_recordings: bool,
}

/// What a reply with a valid key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Post it: its text as a message (when there is text) and its recordings into the
    /// open round (when `attach` — the round takes recordings and the writer is the
    /// provider), else they are refused with an explanation.
    Post {
        attach: bool,
    },
    Refuse(Reason),
}

pub fn decide(facts: Facts) -> Verdict {
    if !facts.sender_is_recipient || facts.unauthenticated {
        return Verdict::Refuse(Reason::ForgedSender);
    }
    let Some(party) = facts.party else {
        return Verdict::Refuse(Reason::NotAllowed);
    };
    if !matches!(
        party,
        Party::Provider | Party::AssignedValidator | Party::Admin
    ) {
        return Verdict::Refuse(Reason::NotAllowed);
    }
    if facts.state.is_final() {
        return Verdict::Refuse(Reason::Closed);
    }
    let attach = facts.has_recordings
        && party == Party::Provider
        && matches!(
            facts.state,
            SubmissionState::Draft | SubmissionState::ChangesRequested
        );
    if !facts.has_text && !attach {
        return Verdict::Refuse(Reason::EmptyReply);
    }
    Verdict::Post { attach }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            sender_is_recipient: true,
            unauthenticated: false,
            party: Some(Party::Provider),
            state: SubmissionState::ChangesRequested,
            has_text: true,
            has_recordings: false,
        }
    }

    #[test]
    fn a_reply_from_its_recipient_is_posted() {
        assert_eq!(decide(facts()), Verdict::Post { attach: false });
        let validator = Facts {
            party: Some(Party::AssignedValidator),
            state: SubmissionState::InReview,
            ..facts()
        };
        assert_eq!(decide(validator), Verdict::Post { attach: false });
    }

    #[test]
    fn a_forged_or_unauthenticated_sender_is_refused_first() {
        for f in [
            Facts {
                sender_is_recipient: false,
                ..facts()
            },
            Facts {
                unauthenticated: true,
                ..facts()
            },
            Facts {
                sender_is_recipient: false,
                state: SubmissionState::Published,
                ..facts()
            },
        ] {
            assert_eq!(decide(f), Verdict::Refuse(Reason::ForgedSender));
        }
    }

    #[test]
    fn only_the_thread_s_parties_write() {
        for party in [None, Some(Party::OtherValidator)] {
            assert_eq!(
                decide(Facts { party, ..facts() }),
                Verdict::Refuse(Reason::NotAllowed)
            );
        }
    }

    #[test]
    fn a_closed_submission_takes_no_reply() {
        for state in [
            SubmissionState::Published,
            SubmissionState::Rejected,
            SubmissionState::Withdrawn,
        ] {
            assert!(state.is_final());
            assert_eq!(
                decide(Facts { state, ..facts() }),
                Verdict::Refuse(Reason::Closed)
            );
        }
    }

    #[test]
    fn recordings_go_into_an_open_round_from_the_provider_only() {
        let with_recording = Facts {
            has_recordings: true,
            has_text: false,
            ..facts()
        };
        assert_eq!(decide(with_recording), Verdict::Post { attach: true });
        let draft = Facts {
            state: SubmissionState::Draft,
            ..with_recording
        };
        assert_eq!(decide(draft), Verdict::Post { attach: true });
        // A frozen round: the recording is refused, and with no text nothing is posted.
        let queued = Facts {
            state: SubmissionState::Queued,
            ..with_recording
        };
        assert_eq!(decide(queued), Verdict::Refuse(Reason::EmptyReply));
        assert_eq!(
            decide(Facts {
                has_text: true,
                ..queued
            }),
            Verdict::Post { attach: false }
        );
        // A validator's recording is not the provider's demo.
        let validator = Facts {
            party: Some(Party::AssignedValidator),
            has_text: true,
            ..with_recording
        };
        assert_eq!(decide(validator), Verdict::Post { attach: false });
    }

    #[test]
    fn an_empty_reply_is_refused() {
        assert_eq!(
            decide(Facts {
                has_text: false,
                ..facts()
            }),
            Verdict::Refuse(Reason::EmptyReply)
        );
    }

    #[test]
    fn slugs_are_stable_and_answers_never_loop() {
        for reason in Reason::ALL {
            assert_eq!(Reason::from_slug(reason.slug()), Some(reason));
        }
        for reason in [Reason::AutoReply, Reason::Bounce, Reason::ForgedSender] {
            assert!(!reason.answered(), "{reason:?} must never be answered");
        }
        assert!(Reason::Closed.answered());
        assert!(Reason::UnknownKey.unknown_address());
        assert!(!Reason::Closed.unknown_address());
    }
}
