//! The go-live submission state machine (PRODUCT.md, "Submission states"), with appeals
//! and the unreviewed publication of a revision. It needs nothing of the domain but its
//! vocabulary (`vitrine-base`), so it is a crate of its own beneath it, re-exported as
//! `vitrine_domain::submission`.
//!
//! ```text
//! draft --submit--> queued --session opens--> in_review --decide--> decided_pending_release
//! decided_pending_release --decision day--> changes_requested | approved | rejected
//! changes_requested --resubmit (new round)--> queued
//! approved --admin schedules--> publication_scheduled --time comes--> published
//! draft | queued | in_review | decided_pending_release --provider--> withdrawn
//! rejected --appeal (provider, once, in time)--> appealed
//! appealed --uphold (admin or another validator)--> rejected
//! appealed --reopen (admin or another validator)--> queued (a new round, keeping its place)
//! draft | changes_requested --publish unreviewed (a revision needing no review)--> published
//! ```
//!
//! Each transition names who may make it; [`transition`] refuses anything else with the
//! reason. The store applies the result only if the state it was computed from is still the
//! stored one, so of two concurrent transitions one wins and the other gets a conflict.

use serde::{Deserialize, Serialize};
use vitrine_base::error::DomainError;
use vitrine_base::tr;

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
    /// A rejection the provider appealed, waiting for an admin or another validator.
    Appealed,
    PublicationScheduled,
    Published,
    Withdrawn,
}

impl SubmissionState {
    pub const ALL: [SubmissionState; 11] = [
        SubmissionState::Draft,
        SubmissionState::Queued,
        SubmissionState::InReview,
        SubmissionState::DecidedPendingRelease,
        SubmissionState::ChangesRequested,
        SubmissionState::Approved,
        SubmissionState::Rejected,
        SubmissionState::Appealed,
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
            SubmissionState::Appealed => "appealed",
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
            SubmissionState::Appealed => ("under appeal", "« en appel »"),
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

/// What the admin or validator taking an appeal decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    /// The rejection stands.
    Uphold,
    /// The submission goes back into the queue in a new round, keeping its place.
    Reopen,
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
    /// The provider appeals a released rejection.
    Appeal,
    /// An admin or a validator other than the decider upholds or reopens.
    DecideAppeal(AppealOutcome),
    /// A revision whose changes need no review replaces the live version at once.
    PublishUnreviewed,
}

impl Transition {
    /// Every transition, each decision and appeal outcome counted.
    pub const ALL: [Transition; 14] = [
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
        Transition::Appeal,
        Transition::DecideAppeal(AppealOutcome::Uphold),
        Transition::DecideAppeal(AppealOutcome::Reopen),
        Transition::PublishUnreviewed,
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
            Transition::Appeal => "appeal",
            Transition::DecideAppeal(_) => "decide_appeal",
            Transition::PublishUnreviewed => "publish_unreviewed",
        }
    }

    /// Who may make this transition. Admins may also run the scheduler's steps by hand.
    fn allowed(self, party: Party) -> bool {
        use Party::*;
        match self {
            Transition::Submit
            | Transition::Resubmit
            | Transition::Withdraw
            | Transition::Appeal
            | Transition::PublishUnreviewed => party == Provider,
            Transition::Decide(_) => party == AssignedValidator,
            // Never the validator who decided: a second pair of eyes.
            Transition::DecideAppeal(_) => matches!(party, Admin | OtherValidator),
            Transition::OpenSession | Transition::ReleaseDecision | Transition::Publish => {
                matches!(party, Scheduler | Admin)
            }
            Transition::SchedulePublication => party == Admin,
        }
    }

    /// Who may make it, `(English, French)`, read after "only" / "seul".
    fn who(self) -> (&'static str, &'static str) {
        match self {
            Transition::Submit
            | Transition::Resubmit
            | Transition::Withdraw
            | Transition::Appeal
            | Transition::PublishUnreviewed => (
                "a member of the provider account",
                "un membre du compte fournisseur",
            ),
            Transition::DecideAppeal(_) => (
                "an admin or a validator other than the one who decided",
                "un administrateur ou un validateur autre que celui qui a décidé",
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
            Transition::Appeal => ("appeal the rejection of", "faire appel du refus de"),
            Transition::DecideAppeal(_) => ("decide on the appeal of", "statuer sur l’appel de"),
            Transition::PublishUnreviewed => ("publish without review", "publier sans revue"),
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
        (Rejected, Transition::Appeal) => Appealed,
        (Appealed, Transition::DecideAppeal(AppealOutcome::Uphold)) => Rejected,
        (Appealed, Transition::DecideAppeal(AppealOutcome::Reopen)) => Queued,
        (Draft | ChangesRequested, Transition::PublishUnreviewed) => Published,
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
    const TRANSITIONS: [Transition; 14] = Transition::ALL;

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
            (Rejected, Transition::Appeal, None, Appealed),
            (
                Appealed,
                Transition::DecideAppeal(AppealOutcome::Uphold),
                None,
                Rejected,
            ),
            (
                Appealed,
                Transition::DecideAppeal(AppealOutcome::Reopen),
                None,
                Queued,
            ),
            (Draft, Transition::PublishUnreviewed, None, Published),
            (
                ChangesRequested,
                Transition::PublishUnreviewed,
                None,
                Published,
            ),
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
    fn appeals_are_for_the_provider_and_decided_by_someone_else() {
        let cases = [
            (Transition::Appeal, Party::Provider, true),
            (Transition::Appeal, Party::Admin, false),
            (Transition::Appeal, Party::AssignedValidator, false),
            (
                Transition::DecideAppeal(AppealOutcome::Reopen),
                Party::Admin,
                true,
            ),
            (
                Transition::DecideAppeal(AppealOutcome::Uphold),
                Party::OtherValidator,
                true,
            ),
            (
                Transition::DecideAppeal(AppealOutcome::Uphold),
                Party::AssignedValidator,
                false,
            ),
            (
                Transition::DecideAppeal(AppealOutcome::Reopen),
                Party::Provider,
                false,
            ),
            (
                Transition::DecideAppeal(AppealOutcome::Reopen),
                Party::Scheduler,
                false,
            ),
        ];
        for (t, party, allowed) in cases {
            let from = if t == Transition::Appeal {
                Rejected
            } else {
                Appealed
            };
            let got = transition(from, t, party, None);
            assert_eq!(got.is_ok(), allowed, "{t:?} {party:?}: {got:?}");
            if !allowed {
                let err = got.expect_err("refused");
                assert!(err.to_string().contains("only"), "names who may: {err}");
            }
        }
    }

    #[test]
    fn released_decisions_cannot_be_withdrawn() {
        for from in [
            ChangesRequested,
            Approved,
            Rejected,
            Appealed,
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
