//! The go-live submission aggregate: its rounds, verdicts, decision and publication, and the
//! commands that move it. The state machine itself is in [`crate::submission`]; this module
//! adds the data each transition carries and the rules around it.

use crate::account::Account;
use crate::audit::AuditEvent;
use crate::checklist::go_live_blockers;
use crate::checks::Evidence;
use crate::error::{DomainError, Problems};
use crate::ids::{AccountId, OfferingId, RecordingId, SubmissionId, UserId};
use crate::offering::{Offering, Visibility};
use crate::permissions::Actor;
use crate::review::{RequirementSet, Verdict, check_decision};
use crate::revision::Revision;
use crate::submission::{AppealOutcome, Decision, Party, SubmissionState, Transition, transition};
use crate::{Timestamp, tr, validate};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A changed aggregate with the audit event of the change.
pub type Changed<T> = (T, AuditEvent);

/// Most recordings one round may carry.
pub const MAX_RECORDINGS_PER_ROUND: usize = 10;

/// A decision as recorded by the validator (held until decision day).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedDecision {
    pub decision: Decision,
    pub verdicts: Vec<Verdict>,
    pub reason: Option<String>,
    pub by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// When the provider was shown it; `None` while held.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub released_at: Option<Timestamp>,
    /// The provider's appeal of this decision (a rejection), at most one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,
}

/// A provider's appeal of a rejection, and how it was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Appeal {
    pub reason: String,
    pub by: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `None` while it waits for an admin or another validator.
    pub outcome: Option<AppealOutcome>,
    pub decided_by: Option<UserId>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<Timestamp>,
    /// Why it was upheld or reopened, for the provider.
    pub answer: Option<String>,
}

/// One round: what the provider submitted, and what came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Round {
    /// 1 for the first submission, 2 for the first resubmission, …
    pub number: u32,
    pub recordings: Vec<RecordingId>,
    pub notes: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_go_live: Option<Date>,
    /// The requirement list version this round is judged against, fixed at submission.
    pub requirements_version: Option<u32>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<Timestamp>,
    pub decision: Option<RecordedDecision>,
}

impl Round {
    pub(crate) fn new(number: u32) -> Self {
        Self {
            number,
            recordings: vec![],
            notes: String::new(),
            requested_go_live: None,
            requirements_version: None,
            submitted_at: None,
            decision: None,
        }
    }
    /// Frozen rounds cannot change: submitting freezes a round.
    pub fn is_frozen(&self) -> bool {
        self.submitted_at.is_some()
    }
}

/// A go-live submission of an offering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submission {
    pub id: SubmissionId,
    pub offering_id: OfferingId,
    pub provider_account_id: AccountId,
    pub state: SubmissionState,
    /// Every round, oldest first; the last is the current one.
    pub rounds: Vec<Round>,
    /// The validator reviewing it; kept across rounds so resubmissions go back to them.
    pub validator: Option<UserId>,
    /// When the offering is to become public (for a revision: when the revision replaces
    /// the live version), once scheduled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub publication_at: Option<Timestamp>,
    /// For a revision of a live offering: what it proposes (`None`: a go-live request).
    pub revision: Option<Revision>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: i64,
}

impl Submission {
    pub fn current_round(&self) -> &Round {
        // A submission always has at least one round: `create` makes the first and rounds
        // are never removed.
        &self.rounds[self.rounds.len() - 1]
    }

    pub(crate) fn current_round_mut(&mut self) -> &mut Round {
        let last = self.rounds.len() - 1;
        &mut self.rounds[last]
    }

    /// Whether this round is a resubmission (goes ahead in the queue).
    pub fn is_resubmission(&self) -> bool {
        self.current_round().number > 1
    }

    /// The party `actor` plays for this submission.
    pub fn party_of(&self, actor: &Actor) -> Option<Party> {
        if actor.is_member(self.provider_account_id) {
            Some(Party::Provider)
        } else if actor.staff.validator && self.validator == Some(actor.user_id) {
            Some(Party::AssignedValidator)
        } else if actor.is_admin() {
            Some(Party::Admin)
        } else if actor.staff.validator {
            Some(Party::OtherValidator)
        } else {
            None
        }
    }

    /// Who may read the submission: its provider's members and staff; anyone else is told
    /// it does not exist.
    pub fn require_visible_to(&self, actor: &Actor) -> Result<Party, DomainError> {
        self.party_of(actor).ok_or(DomainError::NotFound)
    }
}

pub(crate) fn step(
    actor: Option<&Actor>,
    before: &Submission,
    move_: Transition,
    party: Party,
    now: Timestamp,
    change: impl FnOnce(&mut Submission) -> Result<(), DomainError>,
) -> Result<(Submission, AuditEvent), DomainError> {
    let recorded = before.current_round().decision.as_ref().map(|d| d.decision);
    let state = transition(before.state, move_, party, recorded)?;
    let mut next = before.clone();
    change(&mut next)?;
    next.state = state;
    next.version = before.version + 1;
    next.updated_at = now;
    let event = AuditEvent::new(
        actor.map(|a| a.user_id),
        &format!("submission.{}", move_.as_str()),
        now,
    )
    .subject_submission(before.id, before.offering_id, before.provider_account_id)
    .before(&summary(before))
    .after(&summary(&next));
    Ok((next, event))
}

/// What the audit log keeps of a submission: enough to see what changed, without copying
/// every round each time.
pub(crate) fn summary(s: &Submission) -> serde_json::Value {
    serde_json::json!({
        "state": s.state,
        "round": s.current_round(),
        "validator": s.validator,
        "publication_at": s.publication_at,
        "revision": s.revision,
    })
}

/// Removes a held decision (recorded, not yet released) from a submission's audit summary,
/// for readers who are not staff: a provider learns of a decision on decision day, not
/// earlier through the audit log. Other values are left as they are.
pub fn hide_held_decision(summary: &mut serde_json::Value) {
    if let Some(decision) = summary.pointer_mut("/round/decision")
        && decision.is_object()
        && decision.get("released_at").is_none_or(|r| r.is_null())
    {
        *decision = serde_json::Value::Null;
    }
}

fn party(actor: &Actor, s: &Submission) -> Result<Party, DomainError> {
    s.require_visible_to(actor)
}

/// Whether `actor` may make `move_` on the submission as it stands, before anything else
/// about the request is looked at. A route whose input needs more than the command checks
/// (a default read from the calendar, a file) asks this first, so a request the state
/// forbids is refused as such (409) whatever its input (the rule in ARCHITECTURE.md,
/// "Refusals").
pub fn may(actor: &Actor, before: &Submission, move_: Transition) -> Result<(), DomainError> {
    let p = party(actor, before)?;
    let recorded = before.current_round().decision.as_ref().map(|d| d.decision);
    transition(before.state, move_, p, recorded).map(drop)
}

/// Whether the current round takes new recordings, notes and dates: while a draft, and
/// once a decision asked for changes (the first edit then opens the next round).
pub(crate) fn editable(state: SubmissionState) -> bool {
    matches!(
        state,
        SubmissionState::Draft | SubmissionState::ChangesRequested
    )
}

/// What `party` may do to the submission now, by name: each transition of the state
/// machine it would accept (`submit`, `withdraw`, `decide`, `resubmit`,
/// `schedule_publication`, …), and `edit` when the provider may change the current round.
/// Pages offer exactly these, so they never decide a rule of their own.
pub fn actions(s: &Submission, party: Party) -> Vec<&'static str> {
    let recorded = s.current_round().decision.as_ref().map(|d| d.decision);
    let mut names: Vec<&'static str> = Vec::new();
    let appealed = s
        .current_round()
        .decision
        .as_ref()
        .is_some_and(|d| d.appeal.is_some());
    for move_ in Transition::ALL {
        let name = move_.as_str();
        // Submitting a revision publishes it at once when it needs no review: the one
        // `submit` covers both, so the unreviewed publication is never offered by name.
        let hidden =
            move_ == Transition::PublishUnreviewed || (move_ == Transition::Appeal && appealed);
        if !hidden && transition(s.state, move_, party, recorded).is_ok() && !names.contains(&name)
        {
            names.push(name);
        }
    }
    if party == Party::Provider && editable(s.state) {
        names.push("edit");
    }
    names
}

/// Starts a draft submission for an offering. The gate of PRODUCT.md applies here: an
/// approved provider and the checklist held; a refusal lists every missing item.
pub fn create(
    actor: &Actor,
    offering: &Offering,
    provider: &Account,
    evidence: Option<&Evidence>,
    open_submission_exists: bool,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    if !actor.is_member(offering.provider_account_id) {
        return Err(DomainError::forbidden(tr!(
            "go_live.members_only",
            "only members of the provider account submit for go-live",
            "seuls les membres du compte fournisseur demandent la mise en ligne"
        )));
    }
    if offering.visibility == Visibility::Public {
        return Err(DomainError::conflict(tr!(
            "go_live.already_public",
            "this offering is already public",
            "cette offre est déjà publique"
        )));
    }
    if open_submission_exists {
        return Err(DomainError::conflict(tr!(
            "go_live.submission_open",
            "this offering already has a submission in progress; continue that one",
            "cette offre a déjà une soumission en cours ; poursuivez celle-ci"
        )));
    }
    let blockers = go_live_blockers(offering, provider, evidence);
    if !blockers.is_empty() {
        return Err(DomainError::Invalid(
            blockers
                .into_iter()
                .map(|b| crate::error::FieldError::new("offering", b))
                .collect(),
        ));
    }
    let submission = Submission {
        id: SubmissionId::generate(),
        offering_id: offering.id,
        provider_account_id: offering.provider_account_id,
        state: SubmissionState::Draft,
        rounds: vec![Round::new(1)],
        validator: None,
        publication_at: None,
        revision: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = AuditEvent::new(Some(actor.user_id), "submission.created", now)
        .subject_submission(
            submission.id,
            submission.offering_id,
            submission.provider_account_id,
        )
        .after(&summary(&submission));
    Ok((submission, event))
}

/// What the provider edits in the current round before submitting it.
#[derive(Clone, Debug, Default)]
pub struct RoundInput {
    pub recordings: Option<Vec<RecordingId>>,
    pub notes: Option<String>,
    /// `Some(None)` clears the requested date.
    pub requested_go_live: Option<Option<Date>>,
}

/// Edits the current round while it is open (a draft, or the next round after changes were
/// requested). The caller checks that the recordings belong to the submission.
pub fn edit_round(
    actor: &Actor,
    before: &Submission,
    input: RoundInput,
    today: Date,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    if party(actor, before)? != Party::Provider {
        return Err(DomainError::forbidden(tr!(
            "submission.edit_members_only",
            "only members of the provider account edit a submission",
            "seuls les membres du compte fournisseur modifient une soumission"
        )));
    }
    if !editable(before.state) {
        let (state_en, state_fr) = before.state.label();
        return Err(DomainError::conflict(tr!(
            "submission.frozen",
            "this submission cannot be edited: it is {state_en}, and stays as it is until a decision asks for changes",
            "cette soumission ne peut pas être modifiée : son état est {state_fr}, et elle reste telle quelle jusqu’à ce qu’une décision demande des modifications"
        )));
    }
    let mut next = before.clone();
    if before.state == SubmissionState::ChangesRequested && before.current_round().is_frozen() {
        let number = before.current_round().number + 1;
        let previous = before.current_round().clone();
        let mut round = Round::new(number);
        round.requested_go_live = previous.requested_go_live;
        next.rounds.push(round);
    }
    let mut problems = Problems::new();
    let round = next.current_round_mut();
    if let Some(recordings) = input.recordings {
        if recordings.len() > MAX_RECORDINGS_PER_ROUND {
            problems.push(
                "recordings",
                tr!(
                    "submission.recordings_count",
                    "at most {MAX_RECORDINGS_PER_ROUND} recordings per round",
                    "{MAX_RECORDINGS_PER_ROUND} enregistrements au plus par tour"
                ),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        round.recordings = recordings.into_iter().filter(|r| seen.insert(*r)).collect();
    }
    if let Some(notes) = input.notes {
        if notes.trim().is_empty() {
            round.notes = String::new();
        } else if let Some(n) = problems.check(validate::text("notes", &notes, 1, 10_000)) {
            round.notes = n;
        }
    }
    if let Some(date) = input.requested_go_live {
        if let Some(d) = date
            && d <= today
        {
            problems.push(
                "requested_go_live",
                tr!(
                    "submission.go_live_date_past",
                    "must be a date in the future",
                    "doit être une date à venir"
                ),
            );
        }
        round.requested_go_live = date;
    }
    problems.into_result()?;
    next.version = before.version + 1;
    next.updated_at = now;
    let event = AuditEvent::new(Some(actor.user_id), "submission.round_edited", now)
        .subject_submission(before.id, before.offering_id, before.provider_account_id)
        .before(&summary(before))
        .after(&summary(&next));
    Ok((next, event))
}

/// Submits the current round: freezes it, fixes the requirement version it is judged
/// against, and queues it. Works for the first round and for resubmissions.
pub fn submit(
    actor: &Actor,
    before: &Submission,
    requirements: &RequirementSet,
    evidence: Option<&Evidence>,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    let p = party(actor, before)?;
    if before.revision.is_some() {
        return Err(DomainError::conflict(tr!(
            "revision.submit_as_revision",
            "this is a revision of a live offering: submit it as a revision (POST /api/v1/submissions/{{id}}/revision/submit)",
            "ceci est une révision d’une offre en ligne : soumettez-la comme révision (POST /api/v1/submissions/{{id}}/revision/submit)"
        )));
    }
    // The latest check run failing blocks the request, as at creation: the validator
    // should not spend a Tuesday on a broker vitrine already knows is broken.
    if let Some(evidence) = evidence.filter(|e| !e.verdicts.passed()) {
        let failed: Vec<&str> = evidence
            .verdicts
            .failed
            .iter()
            .map(|f| f.check.as_str())
            .collect();
        let message = if failed.is_empty() {
            tr!(
                "submission.checks_failed",
                "the latest check run failed (see its report): fix the broker and run the checks again",
                "la dernière vérification a échoué (voyez son rapport) : corrigez le broker et relancez les vérifications"
            )
        } else {
            let failed = failed.join(", ");
            tr!(
                "submission.checks_failed",
                "the latest check run failed ({failed}): fix the broker and run the checks again",
                "la dernière vérification a échoué ({failed}) : corrigez le broker et relancez les vérifications"
            )
        };
        return Err(DomainError::invalid("checks", message));
    }
    let move_ = if before.state == SubmissionState::ChangesRequested {
        Transition::Resubmit
    } else {
        Transition::Submit
    };
    // A resubmission needs a new round with its own recordings.
    if before.state == SubmissionState::ChangesRequested && before.current_round().is_frozen() {
        return Err(DomainError::invalid(
            "recordings",
            tr!(
                "submission.new_recordings_needed",
                "upload new recordings for this round before resubmitting",
                "déposez de nouveaux enregistrements pour ce tour avant de soumettre à nouveau"
            ),
        ));
    }
    step(Some(actor), before, move_, p, now, |next| {
        let round = next.current_round_mut();
        if round.recordings.is_empty() {
            return Err(DomainError::invalid(
                "recordings",
                tr!(
                    "submission.recording_needed",
                    "add at least one demo recording",
                    "ajoutez au moins un enregistrement de démonstration"
                ),
            ));
        }
        round.requirements_version = Some(requirements.version);
        round.submitted_at = Some(now);
        Ok(())
    })
}

/// The scheduler (or an admin by hand) opens the session: the submission goes in review
/// with its validator.
pub fn open_session(
    actor: Option<&Actor>,
    before: &Submission,
    validator: UserId,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    let p = match actor {
        Some(a) if a.is_admin() => Party::Admin,
        Some(_) => Party::Provider,
        None => Party::Scheduler,
    };
    step(actor, before, Transition::OpenSession, p, now, |next| {
        next.validator = Some(validator);
        Ok(())
    })
}

/// The assigned validator records a decision; it is held until decision day.
pub fn decide(
    actor: &Actor,
    before: &Submission,
    requirements: &RequirementSet,
    verdicts: &[Verdict],
    decision: Decision,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    let p = party(actor, before)?;
    if before.current_round().requirements_version != Some(requirements.version) {
        return Err(DomainError::conflict(tr!(
            "review.requirements_version",
            "judge this round against the requirement version it was submitted under",
            "jugez ce tour selon la version des exigences sous laquelle il a été soumis"
        )));
    }
    step(
        Some(actor),
        before,
        Transition::Decide(decision),
        p,
        now,
        |next| {
            let verdicts = check_decision(requirements, verdicts, decision, reason)?;
            let reason = validate::optional_text("reason", reason, 4000)?;
            next.current_round_mut().decision = Some(RecordedDecision {
                decision,
                verdicts,
                reason,
                by: actor.user_id,
                at: now,
                released_at: None,
                appeal: None,
            });
            Ok(())
        },
    )
}

/// Decision day: the held decision reaches the provider.
pub fn release(
    actor: Option<&Actor>,
    before: &Submission,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    let p = match actor {
        Some(a) if a.is_admin() => Party::Admin,
        Some(_) => Party::Provider,
        None => Party::Scheduler,
    };
    step(actor, before, Transition::ReleaseDecision, p, now, |next| {
        if let Some(d) = next.current_round_mut().decision.as_mut() {
            d.released_at = Some(now);
        }
        Ok(())
    })
}

/// The provider withdraws the submission (until its decision is released).
pub fn withdraw(
    actor: &Actor,
    before: &Submission,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    let p = party(actor, before)?;
    step(
        Some(actor),
        before,
        Transition::Withdraw,
        p,
        now,
        |_| Ok(()),
    )
}

/// An admin schedules the publication of an approved submission: at the provider's
/// requested date (start of that day in the marketplace's time zone, given by the caller)
/// or at a time the admin chooses, which may not be in the past.
pub fn schedule_publication(
    actor: &Actor,
    before: &Submission,
    at: Timestamp,
    now: Timestamp,
) -> Result<(Submission, AuditEvent), DomainError> {
    let p = party(actor, before)?;
    step(
        Some(actor),
        before,
        Transition::SchedulePublication,
        p,
        now,
        |next| {
            if at < now {
                return Err(DomainError::invalid(
                    "at",
                    tr!(
                        "publication.time_past",
                        "the publication time is in the past",
                        "l’heure de publication est passée"
                    ),
                ));
            }
            next.publication_at = Some(at);
            Ok(())
        },
    )
}

/// Publication time: the submission is published and the offering becomes public, in one
/// step (the store writes both in one transaction).
pub fn publish(
    actor: Option<&Actor>,
    before: &Submission,
    offering: &Offering,
    now: Timestamp,
) -> Result<(Changed<Submission>, Changed<Offering>), DomainError> {
    let p = match actor {
        Some(a) if a.is_admin() => Party::Admin,
        Some(_) => Party::Provider,
        None => Party::Scheduler,
    };
    if offering.id != before.offering_id {
        return Err(DomainError::conflict(tr!(
            "publication.wrong_offering",
            "this offering is not the submission's",
            "cette offre n’est pas celle de la soumission"
        )));
    }
    let submission = step(actor, before, Transition::Publish, p, now, |_| Ok(()))?;
    // A revision replaces the live fields; a go-live request makes the offering public.
    let (mut next, action) = match &before.revision {
        Some(revision) => (revision.applied_to(offering), "offering.revision_published"),
        None => (offering.clone(), "offering.published"),
    };
    next.visibility = Visibility::Public;
    next.version = offering.version + 1;
    next.updated_at = now;
    let event = AuditEvent::new(actor.map(|a| a.user_id), action, now)
        .subject_offering(offering.id, offering.provider_account_id)
        .before(offering)
        .after(&next);
    Ok((submission, (next, event)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{ProviderApplication, ProviderStatus};
    use crate::attestation::{Attestation, Attestations, StepState};
    use crate::offering::{Localized, OfferingName, Plan, Pricing};
    use crate::permissions::{MembershipRole, StaffRoles};
    use crate::review::{VerdictOutcome, default_requirements};
    use crate::user::Email;
    use jiff::ToSpan;

    fn t(hours: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(hours.hours())
            .expect("time")
    }

    struct World {
        provider: Account,
        offering: Offering,
        member: Actor,
        validator: Actor,
        other_validator: Actor,
        admin: Actor,
        stranger: Actor,
    }

    fn world() -> World {
        let provider_id = AccountId::generate();
        let member = Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(provider_id, MembershipRole::Owner)],
        );
        let provider = Account {
            id: provider_id,
            name: "Acme".into(),
            members: vec![],
            provider: Some(ProviderApplication {
                legal_name: "Acme".into(),
                contact_email: Email::parse("e", "ops@acme.example").expect("valid"),
                country: "FR".into(),
                website: "https://acme.example".into(),
                status: ProviderStatus::Approved,
                reason: None,
                submitted_at: t(0),
                decided_at: Some(t(0)),
                decided_by: None,
            }),
            created_at: t(0),
            version: 3,
        };
        let by = member.user_id;
        let offering = Offering {
            id: OfferingId::generate(),
            name: OfferingName::parse("n", "obj-store").expect("valid"),
            provider_account_id: provider_id,
            display_name: Localized {
                en: "Obj".into(),
                fr: None,
            },
            description: Localized {
                en: "Store".into(),
                fr: None,
            },
            category: Some("storage".into()),
            tags: vec![],
            documentation_url: Some("https://docs.acme.example".into()),
            support_contact: Some("help@acme.example".into()),
            plans: vec![Plan {
                name: "lite".into(),
                display_name: Localized {
                    en: "Lite".into(),
                    fr: None,
                },
                description: Localized::default(),
                pricing: Pricing::Free,
            }],
            visibility: Visibility::Limited,
            allowlist: vec![],
            attestations: Attestations {
                documentation: Some(Attestation {
                    state: StepState::InProgress,
                    by,
                    at: t(0),
                }),
                broker_hosted: Some(Attestation {
                    state: StepState::Complete,
                    by,
                    at: t(0),
                }),
                authentication_flow: Some(Attestation {
                    state: StepState::Complete,
                    by,
                    at: t(0),
                }),
            },
            created_at: t(0),
            updated_at: t(0),
            version: 5,
        };
        World {
            provider,
            offering,
            member,
            validator: Actor::new(
                UserId::generate(),
                StaffRoles {
                    admin: false,
                    validator: true,
                },
                vec![],
            ),
            other_validator: Actor::new(
                UserId::generate(),
                StaffRoles {
                    admin: false,
                    validator: true,
                },
                vec![],
            ),
            admin: Actor::new(
                UserId::generate(),
                StaffRoles {
                    admin: true,
                    validator: false,
                },
                vec![],
            ),
            stranger: Actor::new(
                UserId::generate(),
                StaffRoles::default(),
                vec![(AccountId::generate(), MembershipRole::Owner)],
            ),
        }
    }

    fn verdicts(set: &RequirementSet, unmet: &[&str]) -> Vec<Verdict> {
        set.requirements
            .iter()
            .map(|r| {
                let bad = unmet.contains(&r.key.as_str());
                Verdict {
                    requirement: r.key.clone(),
                    outcome: if bad {
                        VerdictOutcome::NotMet
                    } else {
                        VerdictOutcome::Met
                    },
                    comment: bad.then(|| "not shown".into()),
                }
            })
            .collect()
    }

    fn today() -> Date {
        Date::constant(1970, 1, 1)
    }

    #[test]
    fn each_party_is_offered_exactly_what_it_may_do() {
        use Party::*;
        use SubmissionState::*;
        let w = world();
        let (draft, _) =
            create(&w.member, &w.offering, &w.provider, None, false, t(1)).expect("gate");
        // (A decision's release needs a recorded decision: see two_rounds_then_publication.)
        let cases: [(SubmissionState, Party, &[&str]); 18] = [
            (Draft, Provider, &["submit", "withdraw", "edit"]),
            (Draft, Admin, &[]),
            (Queued, Provider, &["withdraw"]),
            (Queued, Admin, &["open_session"]),
            (InReview, AssignedValidator, &["decide"]),
            (InReview, OtherValidator, &[]),
            (InReview, Provider, &["withdraw"]),
            (DecidedPendingRelease, Provider, &["withdraw"]),
            (ChangesRequested, Provider, &["resubmit", "edit"]),
            (Approved, Provider, &[]),
            (Approved, Admin, &["schedule_publication"]),
            (PublicationScheduled, Admin, &["publish"]),
            (Published, Admin, &[]),
            (Rejected, Provider, &["appeal"]),
            (Rejected, Admin, &[]),
            (Appealed, Admin, &["decide_appeal"]),
            (Appealed, AssignedValidator, &[]),
            (Withdrawn, Provider, &[]),
        ];
        for (state, party, expected) in cases {
            let mut s = draft.clone();
            s.state = state;
            assert_eq!(actions(&s, party), expected, "{state:?} as {party:?}");
        }
    }

    #[test]
    fn two_rounds_then_publication() {
        let w = world();
        let set = default_requirements();
        let (s, _) =
            create(&w.member, &w.offering, &w.provider, None, false, t(1)).expect("gate holds");
        assert_eq!(s.state, SubmissionState::Draft);
        // Nothing to submit yet.
        assert!(matches!(
            submit(&w.member, &s, &set, None, t(2)),
            Err(DomainError::Invalid(_))
        ));
        let input = RoundInput {
            recordings: Some(vec![RecordingId::generate()]),
            notes: Some("Demo".into()),
            requested_go_live: Some(Some(Date::constant(1970, 3, 1))),
        };
        let (s, _) = edit_round(&w.member, &s, input, today(), t(2)).expect("edit");
        let (s, event) = submit(&w.member, &s, &set, None, t(3)).expect("submit");
        assert_eq!(
            (s.state, event.action.as_str()),
            (SubmissionState::Queued, "submission.submit")
        );
        assert!(s.current_round().is_frozen());
        // Frozen: no more edits.
        assert!(matches!(
            edit_round(&w.member, &s, RoundInput::default(), today(), t(4)),
            Err(DomainError::Conflict(_))
        ));
        let (s, _) = open_session(None, &s, w.validator.user_id, t(5)).expect("open");
        assert_eq!(s.party_of(&w.validator), Some(Party::AssignedValidator));
        assert_eq!(s.party_of(&w.other_validator), Some(Party::OtherValidator));
        // Only the assigned validator decides.
        assert!(matches!(
            decide(
                &w.other_validator,
                &s,
                &set,
                &verdicts(&set, &[]),
                Decision::Approve,
                None,
                t(6)
            ),
            Err(DomainError::Forbidden(_))
        ));
        let (s, _) = decide(
            &w.validator,
            &s,
            &set,
            &verdicts(&set, &["provision"]),
            Decision::RequestChanges,
            None,
            t(6),
        )
        .expect("decide");
        assert_eq!(s.state, SubmissionState::DecidedPendingRelease);
        assert_eq!(actions(&s, Party::Admin), ["release_decision"]);
        assert_eq!(actions(&s, Party::AssignedValidator), Vec::<&str>::new());
        let (s, _) = release(None, &s, t(7)).expect("release");
        assert_eq!(s.state, SubmissionState::ChangesRequested);
        // Round 2: resubmitting without new recordings is refused.
        assert!(matches!(
            submit(&w.member, &s, &set, None, t(8)),
            Err(DomainError::Invalid(_))
        ));
        let input = RoundInput {
            recordings: Some(vec![RecordingId::generate()]),
            ..Default::default()
        };
        let (s, _) = edit_round(&w.member, &s, input, today(), t(8)).expect("edit round 2");
        assert_eq!(s.rounds.len(), 2);
        assert_eq!(
            s.current_round().requested_go_live,
            Some(Date::constant(1970, 3, 1)),
            "the requested date carries over"
        );
        assert!(s.is_resubmission());
        let (s, event) = submit(&w.member, &s, &set, None, t(9)).expect("resubmit");
        assert_eq!(event.action, "submission.resubmit");
        let (s, _) = open_session(None, &s, w.validator.user_id, t(10)).expect("open 2");
        let (s, _) = decide(
            &w.validator,
            &s,
            &set,
            &verdicts(&set, &[]),
            Decision::Approve,
            None,
            t(11),
        )
        .expect("approve");
        let (s, _) = release(None, &s, t(12)).expect("release 2");
        assert_eq!(s.state, SubmissionState::Approved);
        assert!(matches!(
            schedule_publication(&w.admin, &s, t(11), t(12)),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            schedule_publication(&w.member, &s, t(20), t(12)),
            Err(DomainError::Forbidden(_))
        ));
        let (s, _) = schedule_publication(&w.admin, &s, t(20), t(12)).expect("schedule");
        let ((s, _), (o, oe)) = publish(None, &s, &w.offering, t(20)).expect("publish");
        assert_eq!(
            (s.state, o.visibility, oe.action.as_str()),
            (
                SubmissionState::Published,
                Visibility::Public,
                "offering.published"
            )
        );
        assert_eq!(
            s.rounds[0].decision.as_ref().map(|d| d.decision),
            Some(Decision::RequestChanges)
        );
    }

    #[test]
    fn gate_lists_everything_missing() {
        let mut w = world();
        w.offering.visibility = Visibility::Private;
        w.offering.plans.clear();
        w.provider.provider.as_mut().expect("applied").status = ProviderStatus::Pending;
        let Err(DomainError::Invalid(errors)) =
            create(&w.member, &w.offering, &w.provider, None, false, t(1))
        else {
            panic!("refused")
        };
        assert_eq!(errors.len(), 3, "{errors:?}");
        let w = world();
        assert!(matches!(
            create(&w.member, &w.offering, &w.provider, None, true, t(1)),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            create(&w.stranger, &w.offering, &w.provider, None, false, t(1)),
            Err(DomainError::NotFound)
        ));
        assert!(matches!(
            create(&w.admin, &w.offering, &w.provider, None, false, t(1)),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn strangers_do_not_see_submissions() {
        let w = world();
        let (s, _) =
            create(&w.member, &w.offering, &w.provider, None, false, t(1)).expect("gate holds");
        assert_eq!(
            s.require_visible_to(&w.stranger),
            Err(DomainError::NotFound)
        );
        assert!(matches!(
            withdraw(&w.stranger, &s, t(2)),
            Err(DomainError::NotFound)
        ));
        let (s, _) = withdraw(&w.member, &s, t(2)).expect("withdraw draft");
        assert_eq!(s.state, SubmissionState::Withdrawn);
    }

    #[test]
    fn held_decisions_leave_the_audit_summary() {
        let w = world();
        let set = default_requirements();
        let (s, _) =
            create(&w.member, &w.offering, &w.provider, None, false, t(1)).expect("gate holds");
        let input = RoundInput {
            recordings: Some(vec![RecordingId::generate()]),
            ..Default::default()
        };
        let (s, _) = edit_round(&w.member, &s, input, today(), t(2)).expect("edit");
        let (s, _) = submit(&w.member, &s, &set, None, t(3)).expect("submit");
        let (s, _) = open_session(None, &s, w.validator.user_id, t(4)).expect("open");
        let (s, decided) = decide(
            &w.validator,
            &s,
            &set,
            &verdicts(&set, &[]),
            Decision::Approve,
            None,
            t(5),
        )
        .expect("decide");
        let mut after = decided.after.clone().expect("after");
        assert!(after.pointer("/round/decision/decision").is_some());
        hide_held_decision(&mut after);
        assert_eq!(
            after.pointer("/round/decision"),
            Some(&serde_json::Value::Null)
        );
        assert_eq!(after["state"], "decided_pending_release");
        let (_, released) = release(None, &s, t(6)).expect("release");
        let mut after = released.after.clone().expect("after");
        hide_held_decision(&mut after);
        assert_eq!(
            after.pointer("/round/decision/decision"),
            Some(&serde_json::json!("approve")),
            "released decisions stay"
        );
    }

    #[test]
    fn requested_date_must_be_future() {
        let w = world();
        let (s, _) =
            create(&w.member, &w.offering, &w.provider, None, false, t(1)).expect("gate holds");
        let input = RoundInput {
            requested_go_live: Some(Some(today())),
            ..Default::default()
        };
        assert!(matches!(
            edit_round(&w.member, &s, input, today(), t(2)),
            Err(DomainError::Invalid(_))
        ));
    }
}
