//! The review scheduler: the steps that happen because time passes (PRODUCT.md, "Weekly
//! review", "Decision day", "Approval and publication").
//!
//! - `open_due_sessions`: the latest session whose opening time has come, if it has not
//!   opened yet: the submissions the queue plan puts in it (or in an earlier session that
//!   was missed) are assigned in queue order, up to the validators' capacities, back to the
//!   previous round's validator where possible, else to the least loaded; they move to
//!   `in_review` and each validator is emailed their assignments. The session's mark is
//!   written in the same transaction (`Store::open_review_session`), so it opens once.
//! - `release_due_decisions`: decisions held until the decision day of the session they
//!   were reviewed in (the latest session opened at or before the decision) are released
//!   and the provider's members emailed. Each release is a version-checked transition.
//! - `flag_overdue`: submissions still in review after the end of their session's decision
//!   day: the admins are emailed once per session (`Store::flag_session_overdue`).
//! - `run_due_publications`: publications whose time has come: the submission and the
//!   offering are written in one transaction, and the provider's members emailed.
//!
//! Every step is safe to run on several servers at once: of two servers doing the same
//! work, one write wins and the other gets a conflict, which is not an error here.

use std::collections::BTreeMap;

use serde::Serialize;
use vitrine_checks_store::ChecksStore;
use vitrine_domain::assignment::{DueSubmission, ValidatorSlot, assign};
use vitrine_domain::calendar::{Placement, QueueEntry, ReviewCalendar, Session, moved, plan_queue};
use vitrine_domain::go_live::{self, Submission};
use vitrine_domain::review::RequirementSet;
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::{Account, Actor, AuditEvent, Offering, SubmissionId, Timestamp, User, UserId};
use vitrine_mail::DatesMovedReason;
use vitrine_store::{NewEmail, StoreError};

use crate::Services;
use crate::notify::{self, About, Notice};
use crate::{JobError, JobResult};

/// The scheduler's steps, in the order a tick runs them.
pub const STEPS: [&str; 4] = [
    "open_due_sessions",
    "release_due_decisions",
    "flag_overdue",
    "run_due_publications",
];

/// What one step did.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepReport {
    pub step: String,
    /// Submissions (or sessions, for `flag_overdue`) the step changed.
    pub changed: u32,
}

/// Runs every step due now, in order.
pub async fn run_due(services: &Services) -> JobResult<Vec<StepReport>> {
    // In a rehearsal another server may have moved the shared clock since this one last
    // looked: the steps run at the rehearsal's time, not at an older one.
    crate::clock::sync_test_clock(&*services.store, &*services.clock).await?;
    let mut reports = Vec::new();
    for step in STEPS {
        reports.push(run_step(services, step, None).await?);
    }
    Ok(reports)
}

/// Runs one step by name; 404 for an unknown name. `by` is the admin running it by hand:
/// the changes are recorded under their name.
pub async fn run_step(
    services: &Services,
    step: &str,
    by: Option<&Actor>,
) -> JobResult<StepReport> {
    let changed = match step {
        "open_due_sessions" => open_due_sessions(services, by).await?,
        "release_due_decisions" => release_due_decisions(services, by).await?,
        "flag_overdue" => flag_overdue(services, by).await?,
        "run_due_publications" => run_due_publications(services, by).await?,
        _ => return Err(JobError::UnknownStep(step.to_owned())),
    };
    Ok(StepReport {
        step: step.to_owned(),
        changed,
    })
}

/// Ticks every `interval` while `alive` can be upgraded (the server that started it holds
/// the other end, so dropping the server ends the ticks).
pub fn spawn<T: Send + Sync + 'static>(
    services: &Services,
    interval: std::time::Duration,
    alive: std::sync::Weak<T>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: the review scheduler does not run");
        return;
    };
    let services = services.clone();
    runtime.spawn(async move {
        // The first tick one interval after start: a server that starts does not race
        // the requests that set it up.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if alive.strong_count() == 0 {
                return;
            }
            if let Err(error) = run_due(&services).await {
                tracing::warn!(?error, "a scheduler tick failed; retrying at the next");
            }
        }
    });
}

/// Whether a store error means another writer won (the step's work is theirs).
fn lost_race(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Conflict { .. } | StoreError::Duplicate { .. }
    )
}

/// Outbox rows for rendered emails, each with the reply key its `Reply-To` carries.
pub fn outbox(
    notices: Vec<Notice>,
    submission: Option<SubmissionId>,
    now: Timestamp,
) -> JobResult<Vec<NewEmail>> {
    notices
        .into_iter()
        .map(|Notice { email, reply_key }| {
            let to = email
                .to
                .iter()
                .map(|m| m.email.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let row = NewEmail::new(to, email.subject.clone(), submission, &email, now)
                .map_err(|e| JobError::internal("writing an email to the outbox failed", e))?;
            Ok(match reply_key {
                Some(grant) => row.with_reply_key(grant),
                None => row,
            })
        })
        .collect()
}

/// The marketplace's calendar.
pub async fn calendar(services: &Services) -> JobResult<ReviewCalendar> {
    let settings = services.store.calendar_settings().await?.value;
    ReviewCalendar::new(settings)
        .map_err(|e| JobError::internal("the stored calendar settings are invalid", e))
}

/// Sum of the validators' capacities: what one session holds.
pub async fn session_capacity(services: &Services) -> JobResult<u32> {
    Ok(services
        .store
        .validators()
        .await?
        .iter()
        .map(|v| v.capacity)
        .fold(0u32, u32::saturating_add))
}

/// Where every queued submission stands at `now`: session, dates and queue position.
pub fn plan(
    calendar: &ReviewCalendar,
    queued: &[Submission],
    capacity: u32,
    now: Timestamp,
) -> Vec<Placement<SubmissionId>> {
    let entries: Vec<QueueEntry<SubmissionId>> = queued
        .iter()
        .filter(|s| s.state == SubmissionState::Queued)
        .map(|s| QueueEntry {
            id: s.id,
            resubmission: s.is_resubmission(),
            submitted_at: s.current_round().submitted_at.unwrap_or(s.updated_at),
        })
        .collect();
    plan_queue(calendar, &entries, capacity, now)
}

/// The review queue as one change finds it: the calendar, what a session holds, and the
/// queued submissions. Every change to the queue (a submission queued, resubmitted or
/// withdrawn, a session opening, the calendar, a validator's capacity, a validator
/// removed) reads it, makes the change on a copy, and hands both to [`dates_moved`], so
/// each provider whose dates moved is told, once per change, by one mechanism.
#[derive(Clone, Debug)]
pub struct Queue {
    pub calendar: ReviewCalendar,
    pub capacity: u32,
    pub queued: Vec<Submission>,
}

impl Queue {
    pub async fn read(services: &Services) -> JobResult<Queue> {
        Ok(Queue {
            calendar: calendar(services).await?,
            capacity: session_capacity(services).await?,
            queued: services.store.queued_submissions().await?,
        })
    }

    /// The queue once `s` is as given: in it if queued, out of it otherwise.
    pub fn with(&self, s: &Submission) -> Queue {
        let mut queue = self.clone();
        queue.queued.retain(|q| q.id != s.id);
        if s.state == SubmissionState::Queued {
            queue.queued.push(s.clone());
        }
        queue
    }

    /// The queue without these submissions (a session took them).
    pub fn without(&self, gone: &[SubmissionId]) -> Queue {
        let mut queue = self.clone();
        queue.queued.retain(|q| !gone.contains(&q.id));
        queue
    }

    pub fn with_calendar(&self, calendar: ReviewCalendar) -> Queue {
        Queue {
            calendar,
            ..self.clone()
        }
    }

    pub fn with_capacity(&self, capacity: u32) -> Queue {
        Queue {
            capacity,
            ..self.clone()
        }
    }

    /// Where every queued submission stands at `at`.
    pub fn plan(&self, at: Timestamp) -> Vec<Placement<SubmissionId>> {
        plan(&self.calendar, &self.queued, self.capacity, at)
    }
}

/// What a change to the queue does to the submissions whose dates it moves: the emails
/// telling their providers, and one `submission.dates_moved` audit event per moved
/// submission (what the webhooks' `submission.dates_moved` is fanned out from). The caller
/// writes both with the change, in its transaction.
#[derive(Debug, Default)]
pub struct DateMoves {
    pub emails: Vec<NewEmail>,
    pub events: Vec<AuditEvent>,
}

/// The date moves between the queue `before` a change (planned at `before_at`) and `after`
/// it (planned at `now`): every submission whose review or decision date differs, earlier
/// or later, gets its providers emailed and an audit event under `by` (the change's author;
/// `None` for the scheduler or the command line). A submission in one of the two only (the
/// one queued or withdrawn) is not told here: its own change says what happened to it.
pub async fn dates_moved(
    services: &Services,
    by: Option<UserId>,
    (before, before_at): (&Queue, Timestamp),
    after: &Queue,
    reason: DatesMovedReason,
    now: Timestamp,
) -> JobResult<DateMoves> {
    let mut moves = DateMoves::default();
    for change in moved(&before.plan(before_at), &after.plan(now)) {
        let Some(s) = after.queued.iter().find(|s| s.id == change.after.id) else {
            continue;
        };
        let ctx = context(services, s).await?;
        let rendered = notify::dates_moved(
            &services.mail,
            &About {
                submission: s,
                offering: &ctx.offering,
                provider: &ctx.provider,
            },
            reason,
            &change.before.session,
            &change.after.session,
            change.after.position,
            &ctx.members,
        )?;
        moves.emails.extend(outbox(rendered, Some(s.id), now)?);
        moves.events.push(dates_moved_event(
            by,
            s,
            &change.before,
            &change.after,
            reason,
            now,
        ));
    }
    Ok(moves)
}

/// The audit record of one submission's dates moving: its place before and after (session,
/// review and decision dates, queue position) and why.
fn dates_moved_event(
    by: Option<UserId>,
    s: &Submission,
    before: &Placement<SubmissionId>,
    after: &Placement<SubmissionId>,
    reason: DatesMovedReason,
    now: Timestamp,
) -> AuditEvent {
    let place = |p: &Placement<SubmissionId>| {
        serde_json::json!({
            "session": p.session.nominal_date,
            "review_date": p.session.review_date,
            "decision_date": p.session.decision_date,
            "queue_position": p.position,
        })
    };
    let mut after_place = place(after);
    if let serde_json::Value::Object(map) = &mut after_place {
        map.insert("round".to_owned(), s.current_round().number.into());
        map.insert(
            "reason".to_owned(),
            serde_json::to_value(reason).unwrap_or_default(),
        );
    }
    AuditEvent::new(by, "submission.dates_moved", now)
        .subject_submission(s.id, s.offering_id, s.provider_account_id)
        .before(&place(before))
        .after(&after_place)
}

/// The latest session that opened at or before `at`.
pub fn session_open_at(calendar: &ReviewCalendar, at: Timestamp) -> Session {
    let mut session = calendar.session_for(at);
    for _ in 0..60 {
        if session.opens_at <= at {
            break;
        }
        session = calendar.session(
            session
                .nominal_date
                .checked_sub(jiff::Span::new().days(7))
                .unwrap_or(session.nominal_date),
        );
    }
    session
}

/// The session a submission in review or decided was reviewed in: the latest that opened
/// at or before it went in review. In review, that is its last change (nothing changes a
/// submission under review but its decision); once decided, the audit log's last
/// `submission.open_session` of it says when (so a decision recorded after the next session
/// opened is still released on its own session's decision day).
pub async fn review_session_of(
    services: &Services,
    calendar: &ReviewCalendar,
    s: &Submission,
) -> JobResult<Session> {
    let mut at = s.updated_at;
    if s.state != SubmissionState::InReview {
        let opened = services
            .store
            .audit(&vitrine_store::AuditQuery {
                offering: Some(s.offering_id),
                subject_kind: Some(vitrine_domain::audit::SubjectKind::Submission),
                action: Some("submission.open_session".to_owned()),
                limit: 100,
                ..Default::default()
            })
            .await?;
        let id = s.id.to_string();
        if let Some(record) = opened.iter().find(|r| r.event.subject_id == id) {
            at = record.event.at;
        } else if let Some(decision) = &s.current_round().decision {
            at = decision.at;
        }
    }
    Ok(session_open_at(calendar, at))
}

/// The requirement version the current round is judged against (the current one for a
/// round not submitted yet).
pub async fn requirements_of(services: &Services, s: &Submission) -> JobResult<RequirementSet> {
    if let Some(version) = s.current_round().requirements_version
        && let Some(set) = services.store.requirements(version).await?
    {
        return Ok(set);
    }
    Ok(services.store.current_requirements().await?)
}

/// What the emails about a submission name: its offering and provider account.
pub struct Context {
    pub offering: Offering,
    pub provider: Account,
    pub members: Vec<User>,
}

pub async fn context(services: &Services, s: &Submission) -> JobResult<Context> {
    let offering = offering_by_id(services, s).await?;
    let provider = services
        .store
        .account(s.provider_account_id)
        .await?
        .ok_or_else(|| JobError::internal("a submission's account is missing", s.id))?;
    let members = notify::members(services, &provider).await?;
    Ok(Context {
        offering,
        provider,
        members,
    })
}

/// The submission's offering.
pub async fn offering_by_id(services: &Services, s: &Submission) -> JobResult<Offering> {
    services
        .store
        .offering_by_id(s.offering_id)
        .await?
        .ok_or_else(|| JobError::internal("a submission's offering is missing", s.id))
}

async fn open_due_sessions(services: &Services, by: Option<&Actor>) -> JobResult<u32> {
    let now = services.clock.now();
    let calendar = calendar(services).await?;
    let session = session_open_at(&calendar, now);
    if services
        .store
        .review_session(session.nominal_date)
        .await?
        .is_some()
    {
        return Ok(0);
    }
    let validators = services.store.validators().await?;
    let capacity = validators
        .iter()
        .map(|v| v.capacity)
        .fold(0u32, u32::saturating_add);
    let queue = Queue {
        calendar: calendar.clone(),
        capacity,
        queued: services.store.queued_submissions().await?,
    };
    let queued = &queue.queued;
    // The plan just before the session opened: what it holds (and what earlier sessions,
    // missed while no server ran, held).
    let before = session
        .opens_at
        .checked_sub(jiff::SignedDuration::from_micros(1))
        .unwrap_or(session.opens_at);
    let placements = queue.plan(before);
    let by_id: BTreeMap<SubmissionId, &Submission> = queued.iter().map(|s| (s.id, s)).collect();
    let due: Vec<DueSubmission<SubmissionId>> = placements
        .iter()
        .filter(|p| p.session.nominal_date <= session.nominal_date)
        .filter_map(|p| by_id.get(&p.id))
        .map(|s| DueSubmission {
            id: s.id,
            previous_validator: s.validator,
        })
        .collect();
    let slots: Vec<ValidatorSlot> = validators
        .iter()
        .map(|v| ValidatorSlot {
            id: v.user.id,
            capacity: v.capacity,
            load: 0,
        })
        .collect();
    let assigned = assign(&due, &slots);
    if assigned.is_empty() {
        // Nothing to open: no mark either, so idle ticks write nothing. A submission queued
        // later goes to a later session (the plan never uses a session already open).
        return Ok(0);
    }
    let mut in_review = Vec::new();
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut per_validator: BTreeMap<UserId, Vec<(Submission, Context)>> = BTreeMap::new();
    for (id, validator) in assigned {
        let Some(before) = by_id.get(&id) else {
            continue;
        };
        let (next, event) = go_live::open_session(by, before, validator, now)?;
        let ctx = context(services, &next).await?;
        in_review.push(next.clone());
        events.push(event);
        per_validator
            .entry(validator)
            .or_default()
            .push((next, ctx));
    }
    let mut emails = Vec::new();
    for (validator, items) in &per_validator {
        let Some(user) = validators.iter().find(|v| v.user.id == *validator) else {
            continue;
        };
        let about: Vec<About<'_>> = items
            .iter()
            .map(|(s, c)| About {
                submission: s,
                offering: &c.offering,
                provider: &c.provider,
            })
            .collect();
        let rendered = notify::assignments(&services.mail, &user.user, &session, &about)?;
        emails.extend(outbox(rendered, None, now)?);
    }
    // What the session could not take (more due than its validators hold) moves on: its
    // providers are told, with the rest of the queue if it moved too.
    let taken: Vec<SubmissionId> = in_review.iter().map(|s| s.id).collect();
    let moves = dates_moved(
        services,
        by.map(|a| a.user_id),
        (&queue, before),
        &queue.without(&taken),
        DatesMovedReason::Capacity,
        now,
    )
    .await?;
    emails.extend(moves.emails);
    let mut audit = vec![
        AuditEvent::new(by.map(|a| a.user_id), "review_session.opened", now).after(
            &serde_json::json!({
                "nominal_date": session.nominal_date,
                "review_date": session.review_date,
                "decision_date": session.decision_date,
                "assigned": in_review.len(),
            }),
        ),
    ];
    audit.extend(events);
    audit.extend(moves.events);
    match services
        .store
        .open_review_session(session.nominal_date, now, &in_review, &audit, &emails)
        .await
    {
        Ok(()) => Ok(u32::try_from(in_review.len()).unwrap_or(u32::MAX)),
        Err(error) if lost_race(&error) => Ok(0),
        Err(error) => Err(error.into()),
    }
}

async fn release_due_decisions(services: &Services, by: Option<&Actor>) -> JobResult<u32> {
    let now = services.clock.now();
    let calendar = calendar(services).await?;
    let pending = services
        .store
        .submissions_in_state(SubmissionState::DecidedPendingRelease)
        .await?;
    let mut changed = 0;
    for s in pending {
        if review_session_of(services, &calendar, &s)
            .await?
            .releases_at
            > now
        {
            continue;
        }
        let (next, event) = go_live::release(by, &s, now)?;
        let ctx = context(services, &next).await?;
        let round = next.current_round();
        let requirements = requirements_of(services, &next).await?;
        let validator = notify::user(services, round.decision.as_ref().map(|d| d.by)).await?;
        let rendered = notify::decision_released(
            &services.mail,
            &About {
                submission: &next,
                offering: &ctx.offering,
                provider: &ctx.provider,
            },
            &requirements,
            validator.as_ref(),
            &ctx.members,
        )?;
        let emails = outbox(rendered, Some(next.id), now)?;
        match services
            .store
            .update_submission(&next, &[event], &emails)
            .await
        {
            Ok(()) => changed += 1,
            Err(error) if lost_race(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(changed)
}

async fn flag_overdue(services: &Services, by: Option<&Actor>) -> JobResult<u32> {
    let now = services.clock.now();
    let calendar = calendar(services).await?;
    let in_review = services
        .store
        .submissions_in_state(SubmissionState::InReview)
        .await?;
    let mut by_session: BTreeMap<jiff::civil::Date, (Session, Vec<Submission>)> = BTreeMap::new();
    for s in in_review {
        let session = review_session_of(services, &calendar, &s).await?;
        if session.overdue_at <= now {
            by_session
                .entry(session.nominal_date)
                .or_insert_with(|| (session, Vec::new()))
                .1
                .push(s);
        }
    }
    if by_session.is_empty() {
        return Ok(0);
    }
    let admins = notify::staff(services, |u| u.staff.admin).await?;
    let mut changed = 0;
    for (nominal, (session, late)) in by_session {
        if services
            .store
            .review_session(nominal)
            .await?
            .is_some_and(|r| r.overdue_flagged_at.is_some())
        {
            continue;
        }
        let mut emails = Vec::new();
        for s in &late {
            let ctx = context(services, s).await?;
            let validator = notify::user(services, s.validator).await?;
            let rendered = notify::overdue(
                &services.mail,
                &About {
                    submission: s,
                    offering: &ctx.offering,
                    provider: &ctx.provider,
                },
                &session,
                validator.as_ref(),
                &admins,
            )?;
            emails.extend(outbox(rendered, Some(s.id), now)?);
        }
        let event = AuditEvent::new(by.map(|a| a.user_id), "review_session.overdue", now).after(
            &serde_json::json!({
                "nominal_date": nominal,
                "decision_date": session.decision_date,
                "submissions": late.iter().map(|s| s.id).collect::<Vec<_>>(),
            }),
        );
        match services
            .store
            .flag_session_overdue(nominal, now, &[event], &emails)
            .await
        {
            Ok(()) => changed += 1,
            Err(error) if lost_race(&error) || matches!(error, StoreError::NotFound) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(changed)
}

async fn run_due_publications(services: &Services, by: Option<&Actor>) -> JobResult<u32> {
    let now = services.clock.now();
    let mut changed = 0;
    for s in services.store.due_publications(now).await? {
        let ctx = context(services, &s).await?;
        let ((next, event), (offering, offering_event)) =
            go_live::publish(by, &s, &ctx.offering, now)?;
        let rendered = notify::publication(
            &services.mail,
            &About {
                submission: &next,
                offering: &offering,
                provider: &ctx.provider,
            },
            now,
            None,
            &ctx.members,
        )?;
        let emails = outbox(rendered, Some(next.id), now)?;
        let events = [event, offering_event];
        let written = match &s.revision {
            // A revision swaps the live fields (and broker settings) in one transaction.
            Some(revision) => {
                let live = services.store.broker(s.offering_id).await?;
                let approver = s.current_round().decision.as_ref().map(|d| d.by);
                let who = by.map(|a| a.user_id).or(approver);
                let broker = who.and_then(|who| {
                    let live = live.as_ref().map(|b| &b.registration);
                    vitrine_domain::revising::broker_change(revision, live, who, now)
                });
                services
                    .store
                    .publish_revision(&next, &offering, broker.as_ref(), &events, &emails)
                    .await
            }
            None => {
                services
                    .store
                    .publish(&next, &offering, &events, &emails)
                    .await
            }
        };
        match written {
            Ok(()) => changed += 1,
            Err(error) if lost_race(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(changed)
}
