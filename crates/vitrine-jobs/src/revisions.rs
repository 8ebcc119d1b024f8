//! Revisions of a live offering and appeals, carried out: load what the domain's command
//! needs, call it, ask `notify` which emails the change causes, and hand the change, its
//! audit events and its emails to one store call. The HTTP routes (`vitrine-revisions`)
//! call these, as the API's submission routes call the scheduler's helpers.
//!
//! Every change to the queue (a revision queued, a submission reopened by an appeal) goes
//! through [`Queue`] and [`scheduler::dates_moved`]: the plan before and after, compared in
//! the change's transaction, and each provider whose dates moved is emailed.

use vitrine_checks_store::ChecksStore;
use vitrine_domain::checks::BrokerRegistration;
use vitrine_domain::go_live::Submission;
use vitrine_domain::offering::ListingInput;
use vitrine_domain::revising::{self, BrokerSettingsInput, Submitted};
use vitrine_domain::revision::{Change, ReviewRule, Revision, diff};
use vitrine_domain::submission::AppealOutcome;
use vitrine_domain::{Actor, DomainError, Offering, appeal, tr};
use vitrine_mail::DatesMovedReason;
use vitrine_store::StoreError;

use crate::notify::{self, About};
use crate::scheduler::{self, Context, DateMoves, Queue};
use crate::{JobResult, Services};

/// The offering's registered broker, if any.
pub async fn live_broker(
    services: &Services,
    offering: &Offering,
) -> JobResult<Option<BrokerRegistration>> {
    Ok(services
        .store
        .broker(offering.id)
        .await?
        .map(|b| b.registration))
}

/// The live version of a revision's offering, as a revision, and the diff to what the
/// revision proposes (empty for a go-live request).
pub async fn compared(services: &Services, s: &Submission) -> JobResult<(Revision, Vec<Change>)> {
    let offering = scheduler::offering_by_id(services, s).await?;
    let live = Revision::of(&offering, live_broker(services, &offering).await?.as_ref());
    let changes = s
        .revision
        .as_ref()
        .map(|proposed| diff(&live, proposed))
        .unwrap_or_default();
    Ok((live, changes))
}

/// Starts a revision of a public offering.
pub async fn start(
    services: &Services,
    actor: &Actor,
    offering: &Offering,
) -> JobResult<Submission> {
    let open = services
        .store
        .open_submission_for(offering.id)
        .await?
        .is_some();
    let broker = live_broker(services, offering).await?;
    let now = services.clock.now();
    let (created, event) = revising::start(actor, offering, broker.as_ref(), open, now)?;
    match services
        .store
        .insert_submission(&created, &[event], &[])
        .await
    {
        // Two starts at once: the store's one-open-per-offering index decides.
        Err(StoreError::Duplicate { .. }) => Err(DomainError::conflict(tr!(
            "revision.open",
            "this offering already has a revision or submission in progress; continue that one",
            "cette offre a déjà une révision ou une soumission en cours ; poursuivez celle-ci"
        ))
        .into()),
        Err(other) => Err(other.into()),
        Ok(()) => Ok(created),
    }
}

/// Edits what a revision proposes.
pub async fn edit(
    services: &Services,
    actor: &Actor,
    s: &Submission,
    listing: ListingInput,
    broker: Option<BrokerSettingsInput>,
) -> JobResult<Submission> {
    let live = scheduler::offering_by_id(services, s).await?;
    let now = services.clock.now();
    let (next, event) = revising::edit(actor, s, &live, listing, broker, now)?;
    services
        .store
        .update_submission(&next, &[event], &[])
        .await?;
    Ok(next)
}

/// Submits a revision: queued for review (its members told the dates, the others whose
/// dates move told too), or published at once by the operator's rule.
pub async fn submit(
    services: &Services,
    actor: &Actor,
    s: &Submission,
    rule: &ReviewRule,
) -> JobResult<Submission> {
    let ctx = scheduler::context(services, s).await?;
    let broker = live_broker(services, &ctx.offering).await?;
    let requirements = services.store.current_requirements().await?;
    let now = services.clock.now();
    match revising::submit(
        actor,
        s,
        &ctx.offering,
        broker.as_ref(),
        rule,
        &requirements,
        now,
    )? {
        Submitted::Queued(queued) => {
            let (next, event) = *queued;
            let queue = Queue::read(services).await?;
            let joined = joining_the_queue(services, actor, &ctx, &queue, &next).await?;
            let mut events = vec![event];
            events.extend(joined.events);
            services
                .store
                .update_submission(&next, &events, &joined.emails)
                .await?;
            Ok(next)
        }
        Submitted::Published(published) => {
            let revising::Published {
                submission: (next, event),
                offering: (offering, offering_event),
                broker,
            } = *published;
            services
                .store
                .publish_revision(
                    &next,
                    &offering,
                    broker.as_ref(),
                    &[event, offering_event],
                    &[],
                )
                .await?;
            Ok(next)
        }
    }
}

/// What a submission joining the queue writes with it: its members learn its dates and place;
/// those whose dates it moves are told (with an audit event each).
async fn joining_the_queue(
    services: &Services,
    actor: &Actor,
    ctx: &Context,
    queue: &Queue,
    next: &Submission,
) -> JobResult<DateMoves> {
    let now = services.clock.now();
    let after = queue.with(next);
    let placement = after
        .plan(now)
        .into_iter()
        .find(|p| p.id == next.id)
        .ok_or_else(|| crate::JobError::internal("a queued submission has no place", next.id))?;
    let about = About {
        submission: next,
        offering: &ctx.offering,
        provider: &ctx.provider,
    };
    let rendered = notify::queued(
        &services.mail,
        &about,
        &placement.session,
        placement.position,
        &ctx.members,
    )?;
    let mut moves = scheduler::dates_moved(
        services,
        Some(actor.user_id),
        (queue, now),
        &after,
        DatesMovedReason::Queue,
        now,
    )
    .await?;
    let mut emails = scheduler::outbox(rendered, Some(next.id), now)?;
    emails.append(&mut moves.emails);
    moves.emails = emails;
    Ok(moves)
}

/// The provider appeals a rejection; the admins and the validators who did not decide are
/// emailed, in the same transaction.
pub async fn file_appeal(
    services: &Services,
    actor: &Actor,
    s: &Submission,
    reason: &str,
    days: u32,
) -> JobResult<Submission> {
    let now = services.clock.now();
    let (next, event) = appeal::appeal(actor, s, reason, days, now)?;
    // A new submission started since the rejection holds the offering's one open place.
    if let Some(open) = services.store.open_submission_for(s.offering_id).await?
        && open.id != s.id
    {
        return Err(DomainError::conflict(tr!(
            "appeal.other_open",
            "another submission of this offering is in progress: withdraw it before appealing",
            "une autre soumission de cette offre est en cours : retirez-la avant de faire appel"
        ))
        .into());
    }
    let ctx = scheduler::context(services, &next).await?;
    let decider = s.current_round().decision.as_ref().map(|d| d.by);
    let staff = notify::staff(services, |u| {
        (u.staff.admin || u.staff.validator) && Some(u.id) != decider
    })
    .await?;
    let appellant = notify::user(services, Some(actor.user_id))
        .await?
        .ok_or_else(|| crate::JobError::internal("the appellant is missing", actor.user_id))?;
    let about = About {
        submission: &next,
        offering: &ctx.offering,
        provider: &ctx.provider,
    };
    let round = next.current_round().number;
    let rendered =
        notify::appeal_received(&services.mail, &about, round, &appellant, reason, &staff)?;
    let emails = scheduler::outbox(rendered, Some(next.id), now)?;
    services
        .store
        .update_submission(&next, &[event], &emails)
        .await?;
    Ok(next)
}

/// An admin or another validator hears the appeal. Reopening queues a new round in its old
/// place: the provider is told the outcome and the dates, and whoever it moves is told.
pub async fn decide_appeal(
    services: &Services,
    actor: &Actor,
    s: &Submission,
    outcome: AppealOutcome,
    answer: Option<&str>,
) -> JobResult<Submission> {
    let now = services.clock.now();
    let (next, event) = appeal::decide(actor, s, outcome, answer, now)?;
    let ctx = scheduler::context(services, &next).await?;
    let about = About {
        submission: &next,
        offering: &ctx.offering,
        provider: &ctx.provider,
    };
    let round = s.current_round().number;
    let upheld = outcome == AppealOutcome::Uphold;
    let rendered =
        notify::appeal_decided(&services.mail, &about, round, upheld, answer, &ctx.members)?;
    let mut emails = scheduler::outbox(rendered, Some(next.id), now)?;
    let mut events = vec![event];
    if !upheld {
        let queue = Queue::read(services).await?;
        let joined = joining_the_queue(services, actor, &ctx, &queue, &next).await?;
        emails.extend(joined.emails);
        events.extend(joined.events);
    }
    services
        .store
        .update_submission(&next, &events, &emails)
        .await?;
    Ok(next)
}
