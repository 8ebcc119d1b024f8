//! The commands of a revision of a live offering: start one beside the live version, edit
//! it, submit it. A revision is a submission of another kind (its `revision` is set), so
//! once submitted for review everything after (sessions, rounds, thread, decision,
//! publication, appeal) is the go-live code of [`crate::go_live`]; what differs is here:
//! a revision changing only what the operator's rule lets through publishes at once.

use crate::audit::AuditEvent;
use crate::checks::{BrokerRegistration, OSB_VERSIONS, broker_url};
use crate::error::{DomainError, Problems};
use crate::go_live::{Changed, Round, Submission, editable, step};
use crate::ids::SubmissionId;
use crate::offering::{ListingInput, Offering, Visibility, apply_listing};
use crate::permissions::Actor;
use crate::review::RequirementSet;
use crate::revision::{BrokerSettings, ReviewRule, Revision, diff, require_changes};
use crate::submission::{Party, SubmissionState, Transition};
use crate::{Timestamp, UserId, tr, validate};

/// Starts a revision of a public offering: a draft holding a copy of the live version.
/// One open submission per offering (a revision or anything else).
pub fn start(
    actor: &Actor,
    offering: &Offering,
    broker: Option<&BrokerRegistration>,
    open_submission_exists: bool,
    now: Timestamp,
) -> Result<Changed<Submission>, DomainError> {
    actor.require_provider_member(offering.provider_account_id)?;
    if !actor.is_member(offering.provider_account_id) {
        return Err(DomainError::forbidden(tr!(
            "revision.members_only",
            "only members of the provider account revise its offerings",
            "seuls les membres du compte fournisseur révisent ses offres"
        )));
    }
    if offering.visibility != Visibility::Public {
        return Err(DomainError::conflict(tr!(
            "revision.not_public",
            "this offering is not live: edit it directly, its changes are seen by its own audience only",
            "cette offre n’est pas en ligne : modifiez-la directement, seul son public restreint voit ses changements"
        )));
    }
    if open_submission_exists {
        return Err(DomainError::conflict(tr!(
            "revision.open",
            "this offering already has a revision or submission in progress; continue that one",
            "cette offre a déjà une révision ou une soumission en cours ; poursuivez celle-ci"
        )));
    }
    let submission = Submission {
        id: SubmissionId::generate(),
        offering_id: offering.id,
        provider_account_id: offering.provider_account_id,
        state: SubmissionState::Draft,
        rounds: vec![Round::new(1)],
        validator: None,
        publication_at: None,
        revision: Some(Revision::of(offering, broker)),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = AuditEvent::new(Some(actor.user_id), "revision.created", now)
        .subject_submission(
            submission.id,
            submission.offering_id,
            submission.provider_account_id,
        )
        .after(&crate::go_live::summary(&submission));
    Ok((submission, event))
}

/// The broker settings a revision edit proposes.
#[derive(Clone, Debug, Default)]
pub struct BrokerSettingsInput {
    pub url: Option<String>,
    pub username: Option<String>,
    pub api_version: Option<String>,
}

/// Edits what the revision proposes: the listing's fields as for a live edit (the same
/// validation), and the broker settings. The live version is untouched.
pub fn edit(
    actor: &Actor,
    before: &Submission,
    live: &Offering,
    listing: ListingInput,
    broker: Option<BrokerSettingsInput>,
    now: Timestamp,
) -> Result<Changed<Submission>, DomainError> {
    let Some(revision) = &before.revision else {
        return Err(not_a_revision());
    };
    if before.require_visible_to(actor)? != Party::Provider {
        return Err(DomainError::forbidden(tr!(
            "revision.edit_members_only",
            "only members of the provider account edit a revision",
            "seuls les membres du compte fournisseur modifient une révision"
        )));
    }
    if !editable(before.state) {
        let (state_en, state_fr) = before.state.label();
        return Err(DomainError::conflict(tr!(
            "revision.frozen",
            "this revision cannot be edited: it is {state_en}",
            "cette révision ne peut pas être modifiée : son état est {state_fr}"
        )));
    }
    let mut problems = Problems::new();
    // The listing rules are the offering's own: applied to the revision laid over the live
    // version, so a revision holds nothing a live edit would refuse.
    let mut laid_over = revision.applied_to(live);
    let mut proposed = revision.clone();
    if problems
        .check(apply_listing(&mut laid_over, listing))
        .is_some()
    {
        proposed = Revision {
            broker: revision.broker.clone(),
            ..Revision::of(&laid_over, None)
        };
    }
    if let Some(input) = broker {
        match &revision.broker {
            None => problems.push(
                "broker",
                tr!(
                    "revision.no_broker",
                    "this offering has no broker registered: register one first, then revise it",
                    "cette offre n’a pas de broker enregistré : enregistrez-en un d’abord, puis révisez-le"
                ),
            ),
            Some(current) => {
                let mut next = current.clone();
                if let Some(url) = input.url
                    && let Some(url) = problems.check(prefixed(broker_url(&url)))
                {
                    next.url = url;
                }
                if let Some(name) = input.username
                    && let Some(name) =
                        problems.check(validate::text("broker.username", &name, 1, 255))
                {
                    next.username = name;
                }
                if let Some(version) = input.api_version {
                    let version = version.trim();
                    if OSB_VERSIONS.contains(&version) {
                        next.api_version = version.to_owned();
                    } else {
                        let versions = OSB_VERSIONS.join(", ");
                        problems.push(
                            "broker.api_version",
                            tr!(
                                "broker.api_version",
                                "must be one of {versions}",
                                "doit être l’une de ces versions : {versions}"
                            ),
                        );
                    }
                }
                proposed.broker = Some(next);
            }
        }
    }
    problems.into_result()?;
    let mut next = before.clone();
    // After changes were requested, the first edit opens the next round, as for a go-live
    // request.
    if before.state == SubmissionState::ChangesRequested && before.current_round().is_frozen() {
        let round = Round::new(before.current_round().number + 1);
        next.rounds.push(round);
    }
    next.revision = Some(proposed);
    next.version = before.version + 1;
    next.updated_at = now;
    let event = AuditEvent::new(Some(actor.user_id), "revision.edited", now)
        .subject_submission(before.id, before.offering_id, before.provider_account_id)
        .before(&crate::go_live::summary(before))
        .after(&crate::go_live::summary(&next));
    Ok((next, event))
}

/// `broker_url` names its field `url`; in a revision it is `broker.url`.
fn prefixed(result: Result<String, DomainError>) -> Result<String, DomainError> {
    result.map_err(|e| match e {
        DomainError::Invalid(mut fields) => {
            for f in &mut fields {
                f.field = format!("broker.{}", f.field);
            }
            DomainError::Invalid(fields)
        }
        other => other,
    })
}

fn not_a_revision() -> DomainError {
    DomainError::conflict(tr!(
        "revision.not_a_revision",
        "this submission is a go-live request, not a revision of a live offering",
        "cette soumission est une demande de mise en ligne, pas une révision d’une offre en ligne"
    ))
}

/// What submitting a revision did.
#[derive(Clone, Debug, PartialEq)]
pub enum Submitted {
    /// It needs review: queued like a go-live request (emails and queue as for one).
    Queued(Box<Changed<Submission>>),
    /// Nothing it changes needs review: it replaced the live version at once. The broker
    /// registration to write with it, when the revision changed it.
    Published(Box<Published>),
}

/// A revision published at once: the submission, the live offering with its fields, and
/// the broker registration to write with them when the revision changed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub submission: Changed<Submission>,
    pub offering: Changed<Offering>,
    pub broker: Option<BrokerRegistration>,
}

/// Submits a revision. The operator's rule, applied to the diff from the live version,
/// decides: through review, or published at once (audited, in one transaction).
pub fn submit(
    actor: &Actor,
    before: &Submission,
    live: &Offering,
    live_broker: Option<&BrokerRegistration>,
    rule: &ReviewRule,
    requirements: &RequirementSet,
    now: Timestamp,
) -> Result<Submitted, DomainError> {
    let Some(revision) = &before.revision else {
        return Err(not_a_revision());
    };
    let party = before.require_visible_to(actor)?;
    let changes = diff(&Revision::of(live, live_broker), revision);
    let reviewed = rule.needs_review(&changes);
    let move_ = match (reviewed, before.state) {
        (false, _) => Transition::PublishUnreviewed,
        (true, SubmissionState::ChangesRequested) => Transition::Resubmit,
        (true, _) => Transition::Submit,
    };
    // The state machine first (who, and in which state), then the content.
    crate::submission::transition(before.state, move_, party, None)?;
    require_changes(&changes)?;
    let submission = step(Some(actor), before, move_, party, now, |next| {
        let round = next.current_round_mut();
        round.requirements_version = Some(requirements.version);
        round.submitted_at = Some(now);
        Ok(())
    })?;
    if reviewed {
        return Ok(Submitted::Queued(Box::new(submission)));
    }
    let mut next = revision.applied_to(live);
    next.version = live.version + 1;
    next.updated_at = now;
    let event = AuditEvent::new(Some(actor.user_id), "offering.revision_published", now)
        .subject_offering(live.id, live.provider_account_id)
        .before(live)
        .after(&next);
    Ok(Submitted::Published(Box::new(Published {
        submission,
        offering: (next, event),
        broker: broker_change(revision, live_broker, actor.user_id, now),
    })))
}

/// The registration to write when a revision is published, if it changes the broker;
/// `by` is who let it through (the provider when unreviewed, else the approving validator
/// or the admin publishing by hand).
pub fn broker_change(
    revision: &Revision,
    live: Option<&BrokerRegistration>,
    by: UserId,
    now: Timestamp,
) -> Option<BrokerRegistration> {
    let live = live?;
    let proposed: &BrokerSettings = revision.broker.as_ref()?;
    (BrokerSettings::of(live) != *proposed).then(|| proposed.applied_to(live, by, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, OfferingId};
    use crate::offering::{Localized, OfferingName, Plan, Pricing};
    use crate::permissions::{MembershipRole, StaffRoles};
    use crate::review::default_requirements;
    use jiff::ToSpan;

    fn t(hours: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .checked_add(hours.hours())
            .expect("time")
    }

    fn live(account: AccountId) -> Offering {
        Offering {
            id: OfferingId::generate(),
            name: OfferingName::parse("n", "obj-store").expect("valid"),
            provider_account_id: account,
            display_name: Localized {
                en: "Obj".into(),
                fr: Some("Obj FR".into()),
            },
            description: Localized {
                en: "Store".into(),
                fr: None,
            },
            category: None,
            tags: vec![],
            documentation_url: Some("https://docs.acme.example".into()),
            support_contact: None,
            plans: vec![Plan {
                name: "lite".into(),
                display_name: Localized {
                    en: "Lite".into(),
                    fr: None,
                },
                description: Localized::default(),
                pricing: Pricing::Free,
            }],
            visibility: Visibility::Public,
            allowlist: vec![],
            attestations: Default::default(),
            created_at: t(0),
            updated_at: t(0),
            version: 7,
        }
    }

    fn broker(offering: OfferingId, by: UserId) -> BrokerRegistration {
        BrokerRegistration {
            offering_id: offering,
            url: "https://broker.acme.example".into(),
            username: "vitrine".into(),
            api_version: "2.17".into(),
            updated_at: t(0),
            updated_by: by,
        }
    }

    fn member(account: AccountId) -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(account, MembershipRole::Member)],
        )
    }

    fn texts(en: &str) -> ListingInput {
        ListingInput {
            display_name: Some(Localized {
                en: en.into(),
                fr: Some("Nouveau".into()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_revision_starts_from_the_live_version_of_a_public_offering_only() {
        let account = AccountId::generate();
        let me = member(account);
        let mut offering = live(account);
        let (draft, event) = start(&me, &offering, None, false, t(1)).expect("starts");
        assert_eq!(draft.revision, Some(Revision::of(&offering, None)));
        assert_eq!(event.action, "revision.created");
        assert!(matches!(
            start(&me, &offering, None, true, t(1)),
            Err(DomainError::Conflict(_))
        ));
        let stranger = member(AccountId::generate());
        assert_eq!(
            start(&stranger, &offering, None, false, t(1)),
            Err(DomainError::NotFound)
        );
        offering.visibility = Visibility::Limited;
        assert!(matches!(
            start(&me, &offering, None, false, t(1)),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn texts_publish_at_once_and_prices_go_to_review() {
        let account = AccountId::generate();
        let me = member(account);
        let offering = live(account);
        let registered = broker(offering.id, me.user_id);
        let set = default_requirements();
        let rule = ReviewRule::default();
        let (draft, _) = start(&me, &offering, Some(&registered), false, t(1)).expect("starts");
        // Nothing changed: refused, after the state machine said yes.
        assert!(matches!(
            submit(&me, &draft, &offering, Some(&registered), &rule, &set, t(2)),
            Err(DomainError::Invalid(_))
        ));
        let (texts_only, _) =
            edit(&me, &draft, &offering, texts("New"), None, t(2)).expect("edit texts");
        let Ok(Submitted::Published(published)) = submit(
            &me,
            &texts_only,
            &offering,
            Some(&registered),
            &rule,
            &set,
            t(3),
        ) else {
            panic!("texts publish at once")
        };
        let Published {
            submission: (done, _),
            offering: (published, event),
            broker,
        } = *published;
        assert_eq!(done.state, SubmissionState::Published);
        assert_eq!(published.display_name.en, "New");
        assert_eq!(published.version, offering.version + 1);
        assert_eq!(published.visibility, Visibility::Public);
        assert_eq!(event.action, "offering.revision_published");
        assert_eq!(broker, None);

        let priced = ListingInput {
            plans: Some(vec![Plan {
                pricing: Pricing::Subscription {
                    amount: "9.00".into(),
                    currency: "EUR".into(),
                },
                ..offering.plans[0].clone()
            }]),
            ..Default::default()
        };
        let (priced, _) = edit(&me, &draft, &offering, priced, None, t(2)).expect("edit plans");
        let Ok(Submitted::Queued(queued)) = submit(
            &me,
            &priced,
            &offering,
            Some(&registered),
            &rule,
            &set,
            t(3),
        ) else {
            panic!("prices go to review")
        };
        let (queued, event) = *queued;
        assert_eq!(queued.state, SubmissionState::Queued);
        assert_eq!(event.action, "submission.submit");
        assert!(queued.current_round().is_frozen());
        // Frozen now.
        assert!(matches!(
            edit(&me, &queued, &offering, texts("x"), None, t(4)),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn broker_settings_are_checked_and_need_review() {
        let account = AccountId::generate();
        let me = member(account);
        let offering = live(account);
        let registered = broker(offering.id, me.user_id);
        let (draft, _) = start(&me, &offering, None, false, t(1)).expect("starts");
        let input = BrokerSettingsInput {
            url: Some("https://b2.acme.example".into()),
            ..Default::default()
        };
        assert!(matches!(
            edit(&me, &draft, &offering, ListingInput::default(), Some(input.clone()), t(2)),
            Err(DomainError::Invalid(ref f)) if f[0].field == "broker"
        ));
        let (draft, _) = start(&me, &offering, Some(&registered), false, t(1)).expect("starts");
        let bad = BrokerSettingsInput {
            url: Some("ftp://nope".into()),
            api_version: Some("1.0".into()),
            ..Default::default()
        };
        let Err(DomainError::Invalid(fields)) = edit(
            &me,
            &draft,
            &offering,
            ListingInput::default(),
            Some(bad),
            t(2),
        ) else {
            panic!("refused")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["broker.url", "broker.api_version"]);
        let (edited, _) = edit(
            &me,
            &draft,
            &offering,
            ListingInput::default(),
            Some(input),
            t(2),
        )
        .expect("edit broker");
        let changed = broker_change(
            edited.revision.as_ref().expect("revision"),
            Some(&registered),
            me.user_id,
            t(3),
        )
        .expect("a broker change");
        assert_eq!(changed.url, "https://b2.acme.example");
        assert_eq!(changed.username, registered.username);
        let set = default_requirements();
        assert!(matches!(
            submit(
                &me,
                &edited,
                &offering,
                Some(&registered),
                &ReviewRule::default(),
                &set,
                t(3)
            ),
            Ok(Submitted::Queued(_))
        ));
    }

    #[test]
    fn only_the_provider_edits_and_submits() {
        let account = AccountId::generate();
        let me = member(account);
        let offering = live(account);
        let (draft, _) = start(&me, &offering, None, false, t(1)).expect("starts");
        let admin = Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: true,
                validator: false,
            },
            vec![],
        );
        assert!(matches!(
            edit(&admin, &draft, &offering, texts("x"), None, t(2)),
            Err(DomainError::Forbidden(_))
        ));
        let set = default_requirements();
        let rule = ReviewRule::default();
        let (edited, _) = edit(&me, &draft, &offering, texts("x"), None, t(2)).expect("edit");
        assert!(matches!(
            submit(&admin, &edited, &offering, None, &rule, &set, t(3)),
            Err(DomainError::Forbidden(_))
        ));
    }
}
