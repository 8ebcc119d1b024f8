//! Appeals of a rejection (of a go-live request or of a revision): the provider appeals
//! once per rejection, within the operator's time (default 14 days after the rejection was
//! released), with a reason; an admin or a validator other than the one who decided (never
//! the same person) upholds the rejection or reopens the submission into a new round that
//! keeps its place in the queue (a resubmission, at its previous round's submission time).

use crate::audit::AuditEvent;
use crate::error::DomainError;
use crate::go_live::{Appeal, Changed, Round, Submission, step};
use crate::permissions::Actor;
use crate::submission::{AppealOutcome, Decision, Transition, transition};
use crate::{Timestamp, tr, validate};
use jiff::ToSpan;

/// Default for `--appeal-days`.
pub const DEFAULT_APPEAL_DAYS: u32 = 14;

/// Until when the current round's rejection may be appealed: `days` after its release.
/// `None` if the round holds no released rejection.
pub fn deadline(s: &Submission, days: u32) -> Option<Timestamp> {
    let decision = s.current_round().decision.as_ref()?;
    if decision.decision != Decision::Reject {
        return None;
    }
    let released = decision.released_at?;
    released.checked_add((i64::from(days) * 24).hours()).ok()
}

/// The provider appeals the released rejection of the current round.
pub fn appeal(
    actor: &Actor,
    before: &Submission,
    reason: &str,
    days: u32,
    now: Timestamp,
) -> Result<Changed<Submission>, DomainError> {
    let party = before.require_visible_to(actor)?;
    let recorded = before.current_round().decision.as_ref().map(|d| d.decision);
    transition(before.state, Transition::Appeal, party, recorded)?;
    if before
        .current_round()
        .decision
        .as_ref()
        .is_some_and(|d| d.appeal.is_some())
    {
        return Err(DomainError::conflict(tr!(
            "appeal.once",
            "this rejection was already appealed; an appeal is heard once",
            "ce refus a déjà fait l’objet d’un appel ; un appel n’est entendu qu’une fois"
        )));
    }
    let until = deadline(before, days).ok_or_else(|| {
        DomainError::conflict(tr!(
            "appeal.no_rejection",
            "there is no released rejection to appeal",
            "il n’y a pas de refus publié dont faire appel"
        ))
    })?;
    if now > until {
        let date = until.strftime("%Y-%m-%d %H:%M UTC").to_string();
        return Err(DomainError::conflict(tr!(
            "appeal.too_late",
            "the time to appeal this rejection ended on {date} ({days} days after it was released)",
            "le délai d’appel de ce refus a pris fin le {date} ({days} jours après sa publication)"
        )));
    }
    let reason = validate::text("reason", reason, 1, 4000)?;
    step(
        Some(actor),
        before,
        Transition::Appeal,
        party,
        now,
        |next| {
            if let Some(decision) = next.current_round_mut().decision.as_mut() {
                decision.appeal = Some(Appeal {
                    reason,
                    by: actor.user_id,
                    at: now,
                    outcome: None,
                    decided_by: None,
                    decided_at: None,
                    answer: None,
                });
            }
            Ok(())
        },
    )
}

/// Whether `actor` may take this appeal: the state machine's answer for their part, and
/// never the validator who decided (whatever part they play now).
pub fn may_take(actor: &Actor, s: &Submission) -> Result<(), DomainError> {
    let party = s.require_visible_to(actor)?;
    let move_ = Transition::DecideAppeal(AppealOutcome::Uphold);
    transition(s.state, move_, party, None)?;
    if s.current_round()
        .decision
        .as_ref()
        .is_some_and(|d| d.by == actor.user_id)
    {
        return Err(DomainError::forbidden(tr!(
            "appeal.same_person",
            "you decided this rejection: its appeal goes to an admin or another validator",
            "vous avez décidé ce refus : son appel revient à un administrateur ou à un autre validateur"
        )));
    }
    Ok(())
}

/// An admin or another validator decides the appeal: the rejection stands (`Uphold`, with
/// a reason), or the submission goes back into the queue (`Reopen`) in a new round holding
/// the same recordings and notes, counted as a resubmission at the rejected round's
/// submission time, so it goes ahead of first-time submissions in its old order.
pub fn decide(
    actor: &Actor,
    before: &Submission,
    outcome: AppealOutcome,
    answer: Option<&str>,
    now: Timestamp,
) -> Result<Changed<Submission>, DomainError> {
    may_take(actor, before)?;
    let party = before.require_visible_to(actor)?;
    let answer = validate::optional_text("answer", answer, 4000)?;
    if outcome == AppealOutcome::Uphold && answer.is_none() {
        return Err(DomainError::invalid(
            "answer",
            tr!(
                "appeal.answer_required",
                "upholding a rejection needs an answer for the provider",
                "maintenir un refus demande une réponse pour le fournisseur"
            ),
        ));
    }
    let move_ = Transition::DecideAppeal(outcome);
    step(Some(actor), before, move_, party, now, |next| {
        let previous = next.current_round().clone();
        if let Some(appeal) = next
            .current_round_mut()
            .decision
            .as_mut()
            .and_then(|d| d.appeal.as_mut())
        {
            appeal.outcome = Some(outcome);
            appeal.decided_by = Some(actor.user_id);
            appeal.decided_at = Some(now);
            appeal.answer = answer;
        }
        if outcome == AppealOutcome::Reopen {
            let mut round = Round::new(previous.number + 1);
            round.recordings = previous.recordings;
            round.notes = previous.notes;
            round.requested_go_live = previous.requested_go_live;
            round.requirements_version = previous.requirements_version;
            round.submitted_at = previous.submitted_at;
            next.rounds.push(round);
        }
        Ok(())
    })
    .map(|(s, event)| (s, renamed(event, outcome)))
}

/// `submission.decide_appeal` names the outcome in the log: `submission.appeal_upheld`,
/// `submission.appeal_reopened`.
fn renamed(mut event: AuditEvent, outcome: AppealOutcome) -> AuditEvent {
    event.action = match outcome {
        AppealOutcome::Uphold => "submission.appeal_upheld",
        AppealOutcome::Reopen => "submission.appeal_reopened",
    }
    .to_owned();
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::go_live::RecordedDecision;
    use crate::ids::{AccountId, OfferingId, RecordingId, SubmissionId, UserId};
    use crate::permissions::{MembershipRole, StaffRoles};
    use crate::submission::{Party, SubmissionState};

    fn t(hours: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(hours.hours())
            .expect("time")
    }

    struct World {
        member: Actor,
        decider: Actor,
        other_validator: Actor,
        admin: Actor,
        rejected: Submission,
    }

    fn staff(admin: bool, validator: bool) -> Actor {
        Actor::new(UserId::generate(), StaffRoles { admin, validator }, vec![])
    }

    fn world() -> World {
        let account = AccountId::generate();
        let member = Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(account, MembershipRole::Owner)],
        );
        let decider = staff(false, true);
        let mut round = Round::new(1);
        round.recordings = vec![RecordingId::generate()];
        round.notes = "demo".into();
        round.requirements_version = Some(1);
        round.submitted_at = Some(t(1));
        round.decision = Some(RecordedDecision {
            decision: Decision::Reject,
            verdicts: vec![],
            reason: Some("no".into()),
            by: decider.user_id,
            at: t(2),
            released_at: Some(t(24)),
            appeal: None,
        });
        let rejected = Submission {
            id: SubmissionId::generate(),
            offering_id: OfferingId::generate(),
            provider_account_id: account,
            state: SubmissionState::Rejected,
            rounds: vec![round],
            validator: Some(decider.user_id),
            publication_at: None,
            revision: None,
            created_at: t(0),
            updated_at: t(24),
            version: 6,
        };
        World {
            member,
            decider,
            other_validator: staff(false, true),
            admin: staff(true, false),
            rejected,
        }
    }

    #[test]
    fn the_provider_appeals_once_in_time_with_a_reason() {
        let w = world();
        let days = DEFAULT_APPEAL_DAYS;
        assert_eq!(deadline(&w.rejected, days), Some(t(24 + 14 * 24)));
        // (who, when, reason, what comes out)
        let cases: [(&Actor, i64, &str, &str); 5] = [
            (&w.admin, 30, "please", "forbidden"),
            (&w.decider, 30, "please", "forbidden"),
            (&w.member, 30, "  ", "invalid"),
            (&w.member, 24 + 14 * 24 + 1, "please", "conflict"),
            (&w.member, 24 + 14 * 24, "please", "appealed"),
        ];
        for (who, at, reason, expected) in cases {
            let got = match appeal(who, &w.rejected, reason, days, t(at)) {
                Ok((s, _)) => format!("{:?}", s.state).to_lowercase(),
                Err(DomainError::Forbidden(_)) => "forbidden".into(),
                Err(DomainError::Invalid(_)) => "invalid".into(),
                Err(DomainError::Conflict(_)) => "conflict".into(),
                Err(e) => format!("{e:?}"),
            };
            assert_eq!(got, expected, "at {at} by {:?}", who.user_id);
        }
        let (appealed, event) = appeal(&w.member, &w.rejected, "please", days, t(30)).expect("ok");
        assert_eq!(event.action, "submission.appeal");
        // Once the appeal is upheld, the rejection stands and cannot be appealed again.
        let (upheld, _) = decide(
            &w.admin,
            &appealed,
            AppealOutcome::Uphold,
            Some("no"),
            t(31),
        )
        .expect("uphold");
        assert_eq!(upheld.state, SubmissionState::Rejected);
        let Err(DomainError::Conflict(reason)) = appeal(&w.member, &upheld, "again", days, t(32))
        else {
            panic!("once only")
        };
        assert!(reason.en().contains("already appealed"), "{}", reason.en());
        assert!(crate::go_live::actions(&upheld, Party::Provider).is_empty());
        assert_eq!(
            crate::go_live::actions(&w.rejected, Party::Provider),
            ["appeal"]
        );
    }

    #[test]
    fn the_decider_never_takes_the_appeal() {
        let w = world();
        let (appealed, _) =
            appeal(&w.member, &w.rejected, "please", DEFAULT_APPEAL_DAYS, t(30)).expect("ok");
        let Err(DomainError::Forbidden(reason)) =
            decide(&w.decider, &appealed, AppealOutcome::Reopen, None, t(31))
        else {
            panic!("the decider is refused")
        };
        assert!(
            reason
                .en()
                .contains("only an admin or a validator other than")
        );
        // Even as an admin who decided (reassigned since: no longer the assigned validator).
        let mut reassigned = appealed.clone();
        reassigned.validator = None;
        let decider_admin = Actor::new(
            w.decider.user_id,
            StaffRoles {
                admin: true,
                validator: true,
            },
            vec![],
        );
        let Err(DomainError::Forbidden(reason)) = decide(
            &decider_admin,
            &reassigned,
            AppealOutcome::Reopen,
            None,
            t(31),
        ) else {
            panic!("the decider is refused")
        };
        assert!(reason.en().contains("you decided"), "{}", reason.en());
        assert!(matches!(
            decide(&w.member, &appealed, AppealOutcome::Reopen, None, t(31)),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            decide(
                &w.other_validator,
                &appealed,
                AppealOutcome::Uphold,
                None,
                t(31)
            ),
            Err(DomainError::Invalid(_))
        ));
        assert!(may_take(&w.other_validator, &appealed).is_ok());
        assert!(may_take(&w.other_validator, &w.rejected).is_err());
    }

    #[test]
    fn reopening_queues_a_new_round_in_its_old_place() {
        let w = world();
        let (appealed, _) =
            appeal(&w.member, &w.rejected, "please", DEFAULT_APPEAL_DAYS, t(30)).expect("ok");
        let (reopened, event) = decide(
            &w.other_validator,
            &appealed,
            AppealOutcome::Reopen,
            None,
            t(31),
        )
        .expect("reopen");
        assert_eq!(event.action, "submission.appeal_reopened");
        assert_eq!(reopened.state, SubmissionState::Queued);
        assert_eq!(reopened.rounds.len(), 2);
        let round = reopened.current_round();
        assert_eq!(round.submitted_at, Some(t(1)), "keeps its place");
        assert_eq!(round.recordings, w.rejected.rounds[0].recordings);
        assert!(reopened.is_resubmission());
        let appeal = reopened.rounds[0]
            .decision
            .as_ref()
            .and_then(|d| d.appeal.as_ref())
            .expect("kept");
        assert_eq!(appeal.outcome, Some(AppealOutcome::Reopen));
        assert_eq!(appeal.decided_by, Some(w.other_validator.user_id));
    }
}
