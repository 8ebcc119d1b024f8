//! The go-live submission state machine (PRODUCT.md, "Submission states").
//!
//! ```text
//! draft --submit--> queued --session opens--> in_review --decide--> decided_pending_release
//! decided_pending_release --decision day--> changes_requested | approved | rejected
//! changes_requested --resubmit (new round)--> queued
//! approved --admin schedules--> publication_scheduled --time comes--> published
//! draft | queued | in_review | decided_pending_release --provider--> withdrawn
//! ```
//!
//! Each transition names who may make it; [`transition`] refuses anything else with the
//! reason. The store applies the result only if the state it was computed from is still the
//! stored one, so of two concurrent transitions one wins and the other gets a conflict.

use crate::error::DomainError;
use crate::tr;
use serde::{Deserialize, Serialize};

/// Where a submission stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionState {
    Draft,
    Queued,
    InReview,
    DecidedPendingRelease,
    ChangesRequested,
    Approved,
    Rejected,
    PublicationScheduled,
    Published,
    Withdrawn,
}

impl SubmissionState {
    pub const ALL: [SubmissionState; 10] = [
        SubmissionState::Draft,
        SubmissionState::Queued,
        SubmissionState::InReview,
        SubmissionState::DecidedPendingRelease,
        SubmissionState::ChangesRequested,
        SubmissionState::Approved,
        SubmissionState::Rejected,
        SubmissionState::PublicationScheduled,
        SubmissionState::Published,
        SubmissionState::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionState::Draft => "draft",
            SubmissionState::Queued => "queued",
            SubmissionState::InReview => "in_review",
            SubmissionState::DecidedPendingRelease => "decided_pending_release",
            SubmissionState::ChangesRequested => "changes_requested",
            SubmissionState::Approved => "approved",
            SubmissionState::Rejected => "rejected",
            SubmissionState::PublicationScheduled => "publication_scheduled",
            SubmissionState::Published => "published",
            SubmissionState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// How a refusal names the state: `(English, French)`, read after "it is" / "son état
    /// est".
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            SubmissionState::Draft => ("a draft", "« brouillon »"),
            SubmissionState::Queued => ("queued", "« en file d’attente »"),
            SubmissionState::InReview => ("in review", "« en revue »"),
            SubmissionState::DecidedPendingRelease => (
                "decided, its decision not yet released",
                "« décidée, décision pas encore publiée »",
            ),
            SubmissionState::ChangesRequested => {
                ("waiting for changes", "« modifications demandées »")
            }
            SubmissionState::Approved => ("approved", "« approuvée »"),
            SubmissionState::Rejected => ("rejected", "« refusée »"),
            SubmissionState::PublicationScheduled => {
                ("scheduled for publication", "« publication programmée »")
            }
            SubmissionState::Published => ("published", "« publiée »"),
            SubmissionState::Withdrawn => ("withdrawn", "« retirée »"),
        }
    }

    /// States after which nothing more happens to the submission.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SubmissionState::Rejected | SubmissionState::Published | SubmissionState::Withdrawn
        )
    }
}

/// The decision a validator records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    RequestChanges,
    Reject,
}

/// Who asks for a transition, as far as the state machine cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// A member of the provider account that owns the offering.
    Provider,
    /// The validator assigned to the submission.
    AssignedValidator,
    /// A validator not assigned to it.
    OtherValidator,
    Admin,
    /// The server's scheduler (sessions opening, decision day, publication time).
    Scheduler,
}

/// Something that moves a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    Submit,
    OpenSession,
    Decide(Decision),
    ReleaseDecision,
    Resubmit,
    SchedulePublication,
    Publish,
    Withdraw,
}

impl Transition {
    /// Every transition, each decision counted.
    pub const ALL: [Transition; 10] = [
        Transition::Submit,
        Transition::OpenSession,
        Transition::Decide(Decision::Approve),
        Transition::Decide(Decision::RequestChanges),
        Transition::Decide(Decision::Reject),
        Transition::ReleaseDecision,
        Transition::Resubmit,
        Transition::SchedulePublication,
        Transition::Publish,
        Transition::Withdraw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Submit => "submit",
            Transition::OpenSession => "open_session",
            Transition::Decide(_) => "decide",
            Transition::ReleaseDecision => "release_decision",
            Transition::Resubmit => "resubmit",
            Transition::SchedulePublication => "schedule_publication",
            Transition::Publish => "publish",
            Transition::Withdraw => "withdraw",
        }
    }

    /// Who may make this transition. Admins may also run the scheduler's steps by hand.
    fn allowed(self, party: Party) -> bool {
        use Party::*;
        match self {
            Transition::Submit | Transition::Resubmit | Transition::Withdraw => party == Provider,
            Transition::Decide(_) => party == AssignedValidator,
            Transition::OpenSession | Transition::ReleaseDecision | Transition::Publish => {
                matches!(party, Scheduler | Admin)
            }
            Transition::SchedulePublication => party == Admin,
        }
    }

    /// Who may make it, `(English, French)`, read after "only" / "seul".
    fn who(self) -> (&'static str, &'static str) {
        match self {
            Transition::Submit | Transition::Resubmit | Transition::Withdraw => (
                "a member of the provider account",
                "un membre du compte fournisseur",
            ),
            Transition::Decide(_) => (
                "the validator assigned to this submission",
                "le validateur assigné à cette soumission",
            ),
            Transition::OpenSession | Transition::ReleaseDecision | Transition::Publish => (
                "the scheduler or an admin",
                "le planificateur ou un administrateur",
            ),
            Transition::SchedulePublication => ("an admin", "un administrateur"),
        }
    }

    /// What it does, `(English, French)`, read before "this submission" / "cette
    /// soumission".
    fn verb(self) -> (&'static str, &'static str) {
        match self {
            Transition::Submit => ("submit", "soumettre"),
            Transition::OpenSession => ("put into review", "mettre en revue"),
            Transition::Decide(_) => ("decide on", "statuer sur"),
            Transition::ReleaseDecision => ("release the decision on", "publier la décision sur"),
            Transition::Resubmit => ("resubmit", "soumettre à nouveau"),
            Transition::SchedulePublication => (
                "schedule the publication of",
                "programmer la publication de",
            ),
            Transition::Publish => ("publish", "publier"),
            Transition::Withdraw => ("withdraw", "retirer"),
        }
    }
}

/// The state a transition leads to from `from`, if it applies there. `released` is the
/// decision recorded before release (needed for [`Transition::ReleaseDecision`]).
fn target(
    from: SubmissionState,
    transition: Transition,
    recorded: Option<Decision>,
) -> Option<SubmissionState> {
    use SubmissionState::*;
    Some(match (from, transition) {
        (Draft, Transition::Submit) => Queued,
        (Queued, Transition::OpenSession) => InReview,
        (InReview, Transition::Decide(_)) => DecidedPendingRelease,
        (DecidedPendingRelease, Transition::ReleaseDecision) => match recorded? {
            Decision::Approve => Approved,
            Decision::RequestChanges => ChangesRequested,
            Decision::Reject => Rejected,
        },
        (ChangesRequested, Transition::Resubmit) => Queued,
        (Approved, Transition::SchedulePublication) => PublicationScheduled,
        (PublicationScheduled, Transition::Publish) => Published,
        (Draft | Queued | InReview | DecidedPendingRelease, Transition::Withdraw) => Withdrawn,
        _ => return None,
    })
}

/// Applies a transition: the new state, or why it is refused (403 for the wrong party, 409
/// for the wrong state). The party is checked first so that nobody learns more than they
/// may; both reasons name what would be needed.
pub fn transition(
    from: SubmissionState,
    transition: Transition,
    party: Party,
    recorded: Option<Decision>,
) -> Result<SubmissionState, DomainError> {
    let (verb_en, verb_fr) = transition.verb();
    if !transition.allowed(party) {
        let (who_en, who_fr) = transition.who();
        return Err(DomainError::forbidden(tr!(
            "submission.party_forbids",
            "only {who_en} can {verb_en} this submission",
            "seul {who_fr} peut {verb_fr} cette soumission"
        )));
    }
    target(from, transition, recorded).ok_or_else(|| {
        let (state_en, state_fr) = from.label();
        DomainError::conflict(tr!(
            "submission.state_forbids",
            "cannot {verb_en} this submission: it is {state_en}",
            "impossible de {verb_fr} cette soumission : son état est {state_fr}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubmissionState::*;

    const PARTIES: [Party; 5] = [
        Party::Provider,
        Party::AssignedValidator,
        Party::OtherValidator,
        Party::Admin,
        Party::Scheduler,
    ];
    const TRANSITIONS: [Transition; 10] = Transition::ALL;

    /// The whole table of PRODUCT.md: (from, transition, recorded decision, to).
    fn allowed_moves() -> Vec<(
        SubmissionState,
        Transition,
        Option<Decision>,
        SubmissionState,
    )> {
        let mut moves = vec![
            (Draft, Transition::Submit, None, Queued),
            (Queued, Transition::OpenSession, None, InReview),
            (
                DecidedPendingRelease,
                Transition::ReleaseDecision,
                Some(Decision::Approve),
                Approved,
            ),
            (
                DecidedPendingRelease,
                Transition::ReleaseDecision,
                Some(Decision::RequestChanges),
                ChangesRequested,
            ),
            (
                DecidedPendingRelease,
                Transition::ReleaseDecision,
                Some(Decision::Reject),
                Rejected,
            ),
            (ChangesRequested, Transition::Resubmit, None, Queued),
            (
                Approved,
                Transition::SchedulePublication,
                None,
                PublicationScheduled,
            ),
            (PublicationScheduled, Transition::Publish, None, Published),
        ];
        for d in [
            Decision::Approve,
            Decision::RequestChanges,
            Decision::Reject,
        ] {
            moves.push((InReview, Transition::Decide(d), None, DecidedPendingRelease));
        }
        for from in [Draft, Queued, InReview, DecidedPendingRelease] {
            moves.push((from, Transition::Withdraw, None, Withdrawn));
        }
        moves
    }

    #[test]
    fn every_state_transition_and_party() {
        let moves = allowed_moves();
        for from in SubmissionState::ALL {
            for t in TRANSITIONS {
                for recorded in [
                    None,
                    Some(Decision::Approve),
                    Some(Decision::RequestChanges),
                    Some(Decision::Reject),
                ] {
                    let expected = moves
                        .iter()
                        .find(|(f, tr, rec, _)| {
                            *f == from && *tr == t && (rec.is_none() || *rec == recorded)
                        })
                        .map(|(_, _, _, to)| *to)
                        .filter(|_| t != Transition::ReleaseDecision || recorded.is_some());
                    for party in PARTIES {
                        let got = transition(from, t, party, recorded);
                        match (t.allowed(party), expected) {
                            (false, _) => assert!(
                                matches!(got, Err(DomainError::Forbidden(_))),
                                "{from:?} {t:?} {party:?}"
                            ),
                            (true, Some(to)) => assert_eq!(got, Ok(to), "{from:?} {t:?} {party:?}"),
                            (true, None) => assert!(
                                matches!(got, Err(DomainError::Conflict(_))),
                                "{from:?} {t:?} {party:?} {recorded:?}"
                            ),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn who_may_do_what() {
        assert!(transition(Draft, Transition::Submit, Party::Admin, None).is_err());
        assert!(
            transition(
                InReview,
                Transition::Decide(Decision::Approve),
                Party::OtherValidator,
                None
            )
            .is_err()
        );
        assert!(
            transition(
                InReview,
                Transition::Decide(Decision::Approve),
                Party::Admin,
                None
            )
            .is_err()
        );
        assert_eq!(
            transition(Queued, Transition::OpenSession, Party::Admin, None),
            Ok(InReview)
        );
        assert_eq!(
            transition(
                Approved,
                Transition::SchedulePublication,
                Party::Admin,
                None
            ),
            Ok(PublicationScheduled)
        );
        assert!(
            transition(
                Approved,
                Transition::SchedulePublication,
                Party::Scheduler,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn released_decisions_cannot_be_withdrawn() {
        for from in [
            ChangesRequested,
            Approved,
            Rejected,
            PublicationScheduled,
            Published,
            Withdrawn,
        ] {
            let err =
                transition(from, Transition::Withdraw, Party::Provider, None).expect_err("refused");
            assert!(err.to_string().contains("cannot withdraw"), "{err}");
        }
    }

    #[test]
    fn final_states() {
        let finals: Vec<_> = SubmissionState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, [Rejected, Published, Withdrawn]);
        for s in SubmissionState::ALL {
            assert_eq!(SubmissionState::parse(s.as_str()), Some(s));
        }
    }
}
