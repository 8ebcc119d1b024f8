//! The go-live review's storage: settings, requirements, recordings and uploads,
//! submissions, publication, review sessions, the thread and the outbox. Tests that need
//! two servers on one database open the same database twice (two pools).

use std::time::Duration;

use jiff::civil::{Date, date};
use vitrine_domain::calendar::CalendarSettings;
use vitrine_domain::go_live::{RecordedDecision, Round, Submission};
use vitrine_domain::recording::{Recording, Upload, UploadId};
use vitrine_domain::review::{RequirementSet, default_requirements};
use vitrine_domain::submission::{Decision, SubmissionState};
use vitrine_domain::thread::{Message, MessageId, Side};
use vitrine_domain::{RecordingId, SubmissionId};
use vitrine_store::{NewEmail, OutboxQuery, OutboxStatus};

use super::*;

contract! {
    calendar_settings_and_capacities_are_version_checked => check_settings;
    requirement_versions_follow_each_other => check_requirements;
    uploads_become_recordings_once => check_uploads;
    submissions_round_trip_and_conflict => check_submissions;
    publication_writes_both_or_neither => check_publication;
    outbox_claims_leases_and_retries => check_outbox;
    thread_keeps_messages_in_order => check_thread;
}

// --- builders ---

/// A provider account with an offering, and a validator.
struct World {
    member: User,
    validator: User,
    account: Account,
    offering: Offering,
}

async fn world(store: &dyn Store, name: &str) -> World {
    let member = new_user(&format!("member@{name}.example"), false);
    store.insert_user(&member, None, &[]).await.expect("member");
    let mut validator = new_user(&format!("validator@{name}.example"), false);
    validator.staff.validator = true;
    store
        .insert_user(&validator, None, &[])
        .await
        .expect("validator");
    let account = new_account(name, &[(member.id, MembershipRole::Owner)]);
    store.insert_account(&account, &[]).await.expect("account");
    let mut offering = new_offering(name, account.id);
    offering.visibility = Visibility::Limited;
    store
        .insert_offering(&offering, &[])
        .await
        .expect("offering");
    World {
        member,
        validator,
        account,
        offering,
    }
}

fn round(number: u32, submitted: Option<i64>) -> Round {
    Round {
        number,
        recordings: vec![RecordingId::generate()],
        notes: format!("round {number}"),
        requested_go_live: Some(date(2030, 1, 15)),
        requirements_version: submitted.map(|_| 1),
        submitted_at: submitted.map(at),
        decision: None,
    }
}

fn new_submission(w: &World) -> Submission {
    Submission {
        id: SubmissionId::generate(),
        offering_id: w.offering.id,
        provider_account_id: w.account.id,
        state: SubmissionState::Draft,
        rounds: vec![round(1, None)],
        validator: None,
        publication_at: None,
        revision: None,
        created_at: at(10),
        updated_at: at(10),
        version: 1,
    }
}

/// `s` moved to `state` at `seconds`, one version on.
fn moved(s: &Submission, state: SubmissionState, seconds: i64) -> Submission {
    let mut next = s.clone();
    next.state = state;
    next.updated_at = at(seconds);
    next.version += 1;
    next
}

fn submission_event(s: &Submission, action: &str) -> AuditEvent {
    AuditEvent::new(None, action, s.updated_at)
        .subject_submission(s.id, s.offering_id, s.provider_account_id)
        .after(&s.state)
}

fn email(subject: &str, submission: Option<SubmissionId>, seconds: i64) -> NewEmail {
    let payload = serde_json::json!({ "subject": subject, "to": ["p@example.com"] });
    NewEmail::new("p@example.com", subject, submission, &payload, at(seconds)).expect("email")
}

fn all_emails() -> OutboxQuery {
    OutboxQuery {
        limit: 1000,
        ..OutboxQuery::default()
    }
}

async fn outbox_subjects(store: &dyn Store) -> Vec<String> {
    let mut subjects: Vec<String> = store
        .outbox(&all_emails())
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| e.subject)
        .collect();
    subjects.reverse(); // oldest first
    subjects
}

fn is_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

// --- settings ---

async fn check_settings(store: &dyn Store) {
    let w = world(store, "settings").await;
    let initial = store.calendar_settings().await.expect("settings");
    assert_eq!(initial.version, 0);
    assert_eq!(initial.value, CalendarSettings::default());

    let mut paris = CalendarSettings {
        time_zone: "Europe/Paris".into(),
        default_validator_capacity: 3,
        ..CalendarSettings::default()
    };
    paris.holidays.insert(date(2030, 12, 25));
    let event = AuditEvent::new(Some(w.member.id), "calendar.changed", at(20));
    let version = store
        .put_calendar_settings(
            &paris,
            0,
            at(20),
            std::slice::from_ref(&event),
            &[email("date moved", None, 20)],
        )
        .await
        .expect("first settings");
    assert_eq!(version, 1);
    let stored = store.calendar_settings().await.expect("settings");
    assert_eq!((stored.value.clone(), stored.version), (paris.clone(), 1));

    // Two admins who read version 1 (or the defaults at 0): one wins, the other changes
    // nothing — no settings, no audit event, no email.
    let events_before = audit_count(store).await;
    let mut monday = paris.clone();
    monday.review_weekday = jiff::civil::Weekday::Monday;
    let mut friday = paris.clone();
    friday.review_weekday = jiff::civil::Weekday::Friday;
    let stale_insert = store
        .put_calendar_settings(
            &friday,
            0,
            at(21),
            std::slice::from_ref(&event),
            &[email("x", None, 21)],
        )
        .await;
    assert!(is_conflict(stale_insert));
    assert_eq!(
        store
            .put_calendar_settings(&monday, 1, at(21), std::slice::from_ref(&event), &[])
            .await
            .expect("second settings"),
        2
    );
    let stale = store
        .put_calendar_settings(
            &friday,
            1,
            at(22),
            std::slice::from_ref(&event),
            &[email("y", None, 22)],
        )
        .await;
    assert!(is_conflict(stale));
    let never = store
        .put_calendar_settings(&friday, 7, at(22), std::slice::from_ref(&event), &[])
        .await;
    assert!(is_conflict(never), "a version never stored is stale too");
    // A client's version is incremented by the store: the last i64 and negative ones are
    // conflicts too, not an overflow (this once panicked the request).
    for impossible in [i64::MAX, -1, i64::MIN] {
        let refused = store
            .put_calendar_settings(
                &friday,
                impossible,
                at(22),
                std::slice::from_ref(&event),
                &[],
            )
            .await;
        assert!(is_conflict(refused), "version {impossible}");
    }
    let stored = store.calendar_settings().await.expect("settings");
    assert_eq!((stored.value, stored.version), (monday, 2));
    assert_eq!(audit_count(store).await, events_before + 1);
    assert_eq!(outbox_subjects(store).await, ["date moved"]);

    // Validators: the calendar's default capacity until one is set.
    let validators = store.validators().await.expect("validators");
    assert_eq!(validators.len(), 1);
    assert_eq!(validators[0].user, w.validator);
    assert_eq!(
        (validators[0].capacity, validators[0].own_capacity),
        (3, None)
    );
    store
        .set_validator_capacity(w.validator.id, Some(8), std::slice::from_ref(&event), &[])
        .await
        .expect("capacity");
    store
        .set_validator_capacity(w.validator.id, Some(9), std::slice::from_ref(&event), &[])
        .await
        .expect("capacity again");
    let validators = store.validators().await.expect("validators");
    assert_eq!(
        (validators[0].capacity, validators[0].own_capacity),
        (9, Some(9))
    );
    store
        .set_validator_capacity(w.validator.id, None, std::slice::from_ref(&event), &[])
        .await
        .expect("back to default");
    let validators = store.validators().await.expect("validators");
    assert_eq!(
        (validators[0].capacity, validators[0].own_capacity),
        (3, None)
    );
    // Only validators have a capacity.
    for user in [w.member.id, UserId::generate()] {
        assert!(matches!(
            store.set_validator_capacity(user, Some(2), &[], &[]).await,
            Err(StoreError::NotFound)
        ));
    }
}

// --- requirements ---

async fn check_requirements(store: &dyn Store) {
    let default = default_requirements();
    assert_eq!(
        store.current_requirements().await.expect("current"),
        default
    );
    assert_eq!(
        store.requirements(default.version).await.expect("v1"),
        Some(default.clone())
    );
    let mut second = RequirementSet {
        version: default.version + 1,
        requirements: default.requirements[..2].to_vec(),
    };
    let event = AuditEvent::new(None, "requirements.changed", at(30));
    store
        .put_requirements(&second, at(30), std::slice::from_ref(&event))
        .await
        .expect("second version");
    let events_before = audit_count(store).await;
    // Someone else's version 2 (read at version 1), a gap, an old number: all stale.
    second.requirements = default.requirements[..1].to_vec();
    for version in [second.version, second.version + 2, default.version] {
        let set = RequirementSet {
            version,
            ..second.clone()
        };
        assert!(is_conflict(
            store
                .put_requirements(&set, at(31), std::slice::from_ref(&event))
                .await
        ));
    }
    assert_eq!(audit_count(store).await, events_before);
    let current = store.current_requirements().await.expect("current");
    assert_eq!(current.version, default.version + 1);
    assert_eq!(current.requirements, default.requirements[..2].to_vec());
    // Older versions stay readable: rounds are judged against the version they were
    // submitted under.
    assert_eq!(
        store.requirements(default.version).await.expect("v1"),
        Some(default.clone())
    );
    assert_eq!(store.requirements(99).await.expect("v99"), None);
}

// --- uploads and recordings ---

fn recording_of(w: &World, submission: SubmissionId, seconds: i64) -> Recording {
    Recording {
        id: RecordingId::generate(),
        submission_id: submission,
        uploaded_by: w.member.id,
        file_name: "démo.mp4".into(),
        size: 3 * 1024 * 1024 * 1024,
        sha256: "ab".repeat(32),
        media_type: "video/mp4".into(),
        duration_seconds: Some(93.5),
        created_at: at(seconds),
    }
}

async fn check_uploads(store: &dyn Store) {
    let w = world(store, "uploads").await;
    let submission = new_submission(&w);
    store
        .insert_submission(&submission, &[], &[])
        .await
        .expect("submission");
    let upload = |expires: i64, length: Option<u64>| Upload {
        id: UploadId::generate(),
        submission_id: submission.id,
        user_id: w.member.id,
        declared_length: length,
        file_name: Some("demo.webm".into()),
        created_at: at(40),
        expires_at: at(expires),
    };
    let early = upload(100, Some(5 * 1024 * 1024 * 1024));
    let late = upload(200, None);
    for u in [&early, &late] {
        store.insert_upload(u).await.expect("upload");
        assert_eq!(store.upload(u.id).await.expect("read"), Some(u.clone()));
    }
    assert_eq!(
        store.upload(UploadId::generate()).await.expect("read"),
        None
    );
    assert!(
        store
            .expired_uploads(at(99))
            .await
            .expect("expired")
            .is_empty()
    );
    assert_eq!(
        store.expired_uploads(at(100)).await.expect("expired"),
        [early.id]
    );
    assert_eq!(
        store.expired_uploads(at(500)).await.expect("expired"),
        [early.id, late.id]
    );

    // Finishing: the upload goes and the recording comes, with its event, at once; a second
    // finish (another request, or a retry) finds nothing and adds nothing.
    let recording = recording_of(&w, submission.id, 50);
    // Never onto another submission than the upload's.
    let mut elsewhere = new_submission(&world(store, "elsewhere").await);
    elsewhere.state = SubmissionState::Withdrawn;
    store
        .insert_submission(&elsewhere, &[], &[])
        .await
        .expect("other submission");
    let misplaced = recording_of(&w, elsewhere.id, 50);
    assert!(matches!(
        store.finish_upload(early.id, &misplaced, &[]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.recording(misplaced.id).await.expect("read"), None);
    let event = AuditEvent::new(Some(w.member.id), "recording.uploaded", at(50))
        .subject_submission(submission.id, w.offering.id, w.account.id);
    let events_before = audit_count(store).await;
    store
        .finish_upload(early.id, &recording, std::slice::from_ref(&event))
        .await
        .expect("finish");
    assert_eq!(store.upload(early.id).await.expect("read"), None);
    assert_eq!(
        store.recording(recording.id).await.expect("read"),
        Some(recording.clone())
    );
    let again = recording_of(&w, submission.id, 51);
    assert!(matches!(
        store
            .finish_upload(early.id, &again, std::slice::from_ref(&event))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.recording(again.id).await.expect("read"), None);
    assert_eq!(audit_count(store).await, events_before + 1);

    let direct = recording_of(&w, submission.id, 60);
    store
        .insert_recording(&direct, std::slice::from_ref(&event))
        .await
        .expect("streamed recording");
    assert_eq!(
        store.recordings_of(submission.id).await.expect("list"),
        [recording, direct]
    );

    store.delete_upload(late.id).await.expect("terminate");
    assert!(matches!(
        store.delete_upload(late.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .expired_uploads(at(500))
            .await
            .expect("expired")
            .is_empty()
    );
}

// --- submissions ---

async fn check_submissions(store: &dyn Store) {
    let w = world(store, "subs").await;
    let draft = new_submission(&w);
    store
        .insert_submission(
            &draft,
            &[submission_event(&draft, "submission.created")],
            &[],
        )
        .await
        .expect("insert");
    assert_eq!(
        store.submission(draft.id).await.expect("read"),
        Some(draft.clone())
    );
    assert_eq!(
        store
            .submission(SubmissionId::generate())
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .open_submission_for(w.offering.id)
            .await
            .expect("open"),
        Some(draft.clone())
    );

    // One submission in progress per offering, even from two racing requests.
    let twin = new_submission(&w);
    assert!(matches!(
        store.insert_submission(&twin, &[], &[]).await,
        Err(StoreError::Duplicate { field: "offering" })
    ));

    // Two transitions from the same read: one wins; the loser writes nothing — no state, no
    // audit event, no email.
    let mut queued = moved(&draft, SubmissionState::Queued, 20);
    queued.rounds[0].submitted_at = Some(at(20));
    queued.rounds[0].requirements_version = Some(1);
    let withdrawn = moved(&draft, SubmissionState::Withdrawn, 21);
    store
        .update_submission(
            &queued,
            &[submission_event(&queued, "submission.submit")],
            &[email("queued", Some(draft.id), 20)],
        )
        .await
        .expect("submit");
    let events_before = audit_count(store).await;
    assert!(is_conflict(
        store
            .update_submission(
                &withdrawn,
                &[submission_event(&withdrawn, "submission.withdraw")],
                &[email("withdrawn", Some(draft.id), 21)],
            )
            .await
    ));
    assert_eq!(
        store.submission(draft.id).await.expect("read"),
        Some(queued.clone())
    );
    assert_eq!(audit_count(store).await, events_before);
    assert_eq!(outbox_subjects(store).await, ["queued"]);
    let outbox = store.outbox(&all_emails()).await.expect("outbox");
    assert_eq!(outbox[0].submission_id, Some(draft.id));

    // The queue: resubmissions first, then by submission time.
    let mut queue = vec![queued.clone()];
    for (i, resubmission) in [(1, false), (2, true), (3, false), (4, true)] {
        let other = world(store, &format!("queue{i}")).await;
        let mut s = new_submission(&other);
        s.state = SubmissionState::Queued;
        s.rounds[0].submitted_at = Some(at(30 - i));
        if resubmission {
            s.rounds.push(round(2, Some(40 + i)));
        }
        store.insert_submission(&s, &[], &[]).await.expect("queued");
        queue.push(s);
    }
    let order: Vec<SubmissionId> = store
        .queued_submissions()
        .await
        .expect("queue")
        .iter()
        .map(|s| s.id)
        .collect();
    let ids: Vec<SubmissionId> = queue.iter().map(|s| s.id).collect();
    assert_eq!(order, [ids[2], ids[4], ids[0], ids[3], ids[1]]);
    assert_eq!(
        store
            .submissions_in_state(SubmissionState::InReview)
            .await
            .expect("in review"),
        []
    );

    // In review with a validator, decided, released, approved, scheduled.
    let mut in_review = moved(&queued, SubmissionState::InReview, 50);
    in_review.validator = Some(w.validator.id);
    store
        .update_submission(&in_review, &[], &[])
        .await
        .expect("open");
    assert_eq!(
        store
            .submissions_for_validator(w.validator.id)
            .await
            .expect("assigned"),
        [in_review.clone()]
    );
    let mut decided = moved(&in_review, SubmissionState::DecidedPendingRelease, 60);
    decided.rounds[0].decision = Some(RecordedDecision {
        decision: Decision::Approve,
        verdicts: vec![],
        reason: None,
        by: w.validator.id,
        at: at(60),
        released_at: None,
        appeal: None,
    });
    store
        .update_submission(&decided, &[], &[])
        .await
        .expect("decide");
    let approved = moved(&decided, SubmissionState::Approved, 70);
    store
        .update_submission(&approved, &[], &[])
        .await
        .expect("release");
    let mut scheduled = moved(&approved, SubmissionState::PublicationScheduled, 80);
    scheduled.publication_at = Some(at(1000));
    store
        .update_submission(&scheduled, &[], &[])
        .await
        .expect("schedule");
    assert_eq!(
        store.submission(draft.id).await.expect("read"),
        Some(scheduled.clone())
    );
    assert!(
        store
            .due_publications(at(999))
            .await
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        store.due_publications(at(1000)).await.expect("due"),
        [scheduled.clone()]
    );

    // A final state frees the offering for a new submission.
    let rejected = moved(&scheduled, SubmissionState::Withdrawn, 90);
    store
        .update_submission(&rejected, &[], &[])
        .await
        .expect("withdraw");
    assert_eq!(
        store
            .open_submission_for(w.offering.id)
            .await
            .expect("open"),
        None
    );
    store
        .insert_submission(&twin, &[], &[])
        .await
        .expect("a new submission after the first ended");
    assert_eq!(
        store
            .submissions_of_offering(w.offering.id)
            .await
            .expect("of offering"),
        [rejected.clone(), twin.clone()]
    );
    assert_eq!(
        store
            .submissions_of_account(w.account.id)
            .await
            .expect("of account"),
        [rejected, twin]
    );
}

// --- publication ---

async fn check_publication(store: &dyn Store) {
    let w = world(store, "pub").await;
    let mut scheduled = new_submission(&w);
    scheduled.state = SubmissionState::PublicationScheduled;
    scheduled.publication_at = Some(at(100));
    store
        .insert_submission(&scheduled, &[], &[])
        .await
        .expect("submission");
    let published = moved(&scheduled, SubmissionState::Published, 100);
    let mut public = w.offering.clone();
    public.visibility = Visibility::Public;
    public.version += 1;
    public.updated_at = at(100);
    let events = [
        submission_event(&published, "submission.publish"),
        offering_event(&public, None, "offering.published"),
    ];
    let anonymous = CatalogQuery {
        audience: Audience::Accounts(vec![]),
        terms: vec![],
        category: None,
        tag: None,
        provider: None,
        after: None,
        limit: 10,
    };
    assert_eq!(store.catalog(&anonymous).await.expect("catalog").total, 0);

    // The offering changed meanwhile (its provider edited it): nothing is written, the
    // submission included.
    let edited = Offering {
        version: w.offering.version + 1,
        updated_at: at(90),
        allowlist: vec![],
        ..w.offering.clone()
    };
    store.update_offering(&edited, &[]).await.expect("edit");
    let events_before = audit_count(store).await;
    assert!(is_conflict(
        store
            .publish(
                &published,
                &public,
                &events,
                &[email("published", None, 100)]
            )
            .await
    ));
    assert_eq!(
        store.submission(scheduled.id).await.expect("read"),
        Some(scheduled.clone())
    );
    assert_eq!(
        store
            .offering_by_name(&w.offering.name)
            .await
            .expect("read"),
        Some(edited.clone())
    );
    assert_eq!(audit_count(store).await, events_before);
    assert!(outbox_subjects(store).await.is_empty());

    // A stale submission likewise leaves the offering as it was.
    let public = Offering {
        visibility: Visibility::Public,
        version: edited.version + 1,
        updated_at: at(100),
        ..edited.clone()
    };
    let stale = Submission {
        version: published.version + 1,
        ..published.clone()
    };
    assert!(is_conflict(
        store.publish(&stale, &public, &events, &[]).await
    ));
    assert_eq!(
        store
            .offering_by_name(&w.offering.name)
            .await
            .expect("read"),
        Some(edited)
    );

    // Both fresh: both written, the offering in the catalog for everyone at once.
    store
        .publish(
            &published,
            &public,
            &events,
            &[email("published", None, 100)],
        )
        .await
        .expect("publish");
    assert_eq!(
        store.submission(scheduled.id).await.expect("read"),
        Some(published)
    );
    assert_eq!(
        store
            .offering_by_name(&w.offering.name)
            .await
            .expect("read"),
        Some(public)
    );
    assert_eq!(store.catalog(&anonymous).await.expect("catalog").total, 1);
    assert_eq!(audit_count(store).await, events_before + 2);
    assert_eq!(outbox_subjects(store).await, ["published"]);
}

// --- outbox ---

async fn check_outbox(store: &dyn Store) {
    let w = world(store, "outbox").await;
    let s = new_submission(&w);
    let emails: Vec<NewEmail> = (0..5)
        .map(|i| email(&format!("e{i}"), Some(s.id), 10 + i))
        .collect();
    store
        .insert_submission(&s, &[], &emails)
        .await
        .expect("insert");
    let lease = Duration::from_secs(60);

    // Nothing is due before it was written.
    assert!(
        store
            .claim_outbox(at(9), lease, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let first = store.claim_outbox(at(12), lease, 2).await.expect("claim");
    let subjects: Vec<&str> = first.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e0", "e1"]);
    assert_eq!(first[0].payload["subject"], "e0");
    assert_eq!(first[0].locked_until, Some(at(72)));
    assert_eq!(first[0].status, OutboxStatus::Pending);
    // Held ones are not claimed again while the lease runs…
    let second = store.claim_outbox(at(20), lease, 10).await.expect("claim");
    let subjects: Vec<&str> = second.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e2", "e3", "e4"]);
    assert!(
        store
            .claim_outbox(at(71), lease, 10)
            .await
            .expect("claim")
            .is_empty()
    );

    // …and are once it ran out (the dispatcher died): sent at least once.
    store.mark_sent(first[0].id, at(30)).await.expect("sent");
    let reclaimed = store.claim_outbox(at(72), lease, 10).await.expect("claim");
    let subjects: Vec<&str> = reclaimed.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e1"], "e2..e4 are held until 80");
    assert!(matches!(
        store.mark_sent(first[0].id, at(31)).await,
        Err(StoreError::NotFound)
    ));

    // A transient failure comes back at the given time (the dispatcher's backoff); a
    // permanent one waits for an admin.
    store
        .mark_failed_attempt(reclaimed[0].id, "421 try later", at(200), false)
        .await
        .expect("transient");
    store
        .mark_failed_attempt(second[0].id, "550 no such user", at(300), true)
        .await
        .expect("permanent");
    // At 199: e3 and e4, whose lease ran out at 80; e1 is not due yet, e2 failed for good.
    let stale = store.claim_outbox(at(199), lease, 10).await.expect("claim");
    let subjects: Vec<&str> = stale.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e3", "e4"]);
    let retried = store.claim_outbox(at(200), lease, 10).await.expect("claim");
    let subjects: Vec<&str> = retried.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e1"]);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("421 try later"));
    for e in stale.iter().chain(&retried) {
        store.mark_sent(e.id, at(201)).await.expect("sent");
    }

    let failed = store
        .outbox(&OutboxQuery {
            status: Some(OutboxStatus::Failed),
            ..all_emails()
        })
        .await
        .expect("failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subject, "e2");
    assert_eq!(failed[0].attempts, 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("550 no such user"));
    assert!(matches!(
        store
            .mark_failed_attempt(failed[0].id, "again", at(400), true)
            .await,
        Err(StoreError::NotFound)
    ));

    // An admin retries it: due at once, and the retry is audited.
    let events_before = audit_count(store).await;
    let retry = AuditEvent::new(Some(w.member.id), "outbox.retried", at(500));
    store
        .retry_outbox(failed[0].id, at(500), std::slice::from_ref(&retry))
        .await
        .expect("retry");
    assert_eq!(audit_count(store).await, events_before + 1);
    assert!(matches!(
        store.retry_outbox(failed[0].id, at(500), &[retry]).await,
        Err(StoreError::NotFound)
    ));
    let last = store.claim_outbox(at(500), lease, 10).await.expect("claim");
    assert_eq!(last.len(), 1);
    store.mark_sent(last[0].id, at(501)).await.expect("sent");

    // Paging, newest first.
    let sent = store
        .outbox(&OutboxQuery {
            status: Some(OutboxStatus::Sent),
            limit: 3,
            before_id: None,
        })
        .await
        .expect("sent");
    let subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e4", "e3", "e2"]);
    let rest = store
        .outbox(&OutboxQuery {
            status: Some(OutboxStatus::Sent),
            limit: 3,
            before_id: Some(sent[2].id),
        })
        .await
        .expect("sent");
    let subjects: Vec<&str> = rest.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["e1", "e0"]);
    assert!(
        rest.iter()
            .all(|e| e.sent_at.is_some() && e.locked_until.is_none())
    );
}

// --- thread ---

async fn check_thread(store: &dyn Store) {
    let w = world(store, "thread").await;
    let s = new_submission(&w);
    store.insert_submission(&s, &[], &[]).await.expect("insert");
    let message = |author: UserId, side: Side, body: &str, seconds: i64| Message {
        id: MessageId::generate(),
        submission_id: s.id,
        author,
        side,
        body: body.into(),
        created_at: at(seconds),
    };
    let question = message(
        w.validator.id,
        Side::Validator,
        "Où est la facturation ?",
        20,
    );
    let answer = message(
        w.member.id,
        Side::Provider,
        "At 3:12 in the second video.",
        30,
    );
    for m in [&answer, &question] {
        let event = AuditEvent::new(Some(m.author), "submission.message", m.created_at)
            .subject_submission(s.id, s.offering_id, s.provider_account_id);
        store
            .insert_message(m, &[event], &[email(&m.body, Some(s.id), 40)])
            .await
            .expect("message");
    }
    assert_eq!(
        store.messages(s.id).await.expect("thread"),
        [question, answer]
    );
    assert!(
        store
            .messages(SubmissionId::generate())
            .await
            .expect("none")
            .is_empty()
    );
    assert_eq!(outbox_subjects(store).await.len(), 2);
}

// --- two servers on one database ---

/// Two stores on one database, as two server instances would have.
async fn two_servers(db: &TestDatabase) -> (Box<dyn Store>, Box<dyn Store>) {
    (db.open().await, db.open().await)
}

#[tokio::test]
async fn each_session_step_happens_once_across_servers() {
    for db in TestDatabase::all().await {
        eprintln!("session steps: {}", db.backend);
        let (a, b) = two_servers(&db).await;
        let w = world(a.as_ref(), "sessions").await;
        let mut queued = new_submission(&w);
        queued.state = SubmissionState::Queued;
        a.insert_submission(&queued, &[], &[])
            .await
            .expect("queued");
        let nominal: Date = date(2030, 1, 8);
        let mut in_review = moved(&queued, SubmissionState::InReview, 100);
        in_review.validator = Some(w.validator.id);
        let events = [submission_event(&in_review, "submission.open_session")];
        let emails = [email("your assignments", None, 100)];
        let opened = async |store: &dyn Store| {
            let submissions = std::slice::from_ref(&in_review);
            store
                .open_review_session(nominal, at(100), submissions, &events, &emails)
                .await
        };
        for _ in 0..3 {
            let (x, y) = tokio::join!(opened(a.as_ref()), opened(b.as_ref()));
            let wins = [&x, &y].iter().filter(|r| r.is_ok()).count();
            assert!(wins <= 1, "{x:?} {y:?}");
            assert!(
                [&x, &y].iter().all(|r| r.is_ok() || is_conflict_ref(r)),
                "{x:?} {y:?}"
            );
        }
        assert_eq!(
            a.review_session(nominal)
                .await
                .expect("session")
                .map(|s| s.opened_at),
            Some(at(100))
        );
        assert_eq!(
            a.submission(queued.id).await.expect("read"),
            Some(in_review.clone())
        );
        assert_eq!(outbox_subjects(a.as_ref()).await, ["your assignments"]);
        assert_eq!(
            a.audit(&AuditQuery {
                action: Some("submission.open_session".into()),
                ..everything()
            })
            .await
            .expect("audit")
            .len(),
            1
        );

        // The mark alone decides, even for a session with nothing to move.
        let empty = date(2030, 1, 22);
        let open_empty = async |store: &dyn Store| {
            let emails = [email("empty session", None, 150)];
            store
                .open_review_session(empty, at(150), &[], &[], &emails)
                .await
        };
        let (x, y) = tokio::join!(open_empty(a.as_ref()), open_empty(b.as_ref()));
        assert_eq!(
            [&x, &y].iter().filter(|r| r.is_ok()).count(),
            1,
            "{x:?} {y:?}"
        );
        assert!(is_conflict_ref(if x.is_ok() { &y } else { &x }));

        // A session whose submissions moved meanwhile is not marked opened.
        let other_date = date(2030, 1, 15);
        assert!(is_conflict(
            b.open_review_session(other_date, at(200), &[in_review.clone()], &[], &[])
                .await
        ));
        assert_eq!(b.review_session(other_date).await.expect("read"), None);

        // Overdue: alerted once, and only for a session that opened.
        let flag = async |store: &dyn Store| {
            let emails = [email("overdue", None, 300)];
            store
                .flag_session_overdue(nominal, at(300), &[], &emails)
                .await
        };
        let (x, y) = tokio::join!(flag(a.as_ref()), flag(b.as_ref()));
        assert_eq!(
            [&x, &y].iter().filter(|r| r.is_ok()).count(),
            1,
            "{x:?} {y:?}"
        );
        assert!(is_conflict(flag(a.as_ref()).await));
        assert!(matches!(
            a.flag_session_overdue(other_date, at(300), &[], &[]).await,
            Err(StoreError::NotFound)
        ));
        let session = b
            .review_session(nominal)
            .await
            .expect("read")
            .expect("opened");
        assert_eq!(session.overdue_flagged_at, Some(at(300)));
        assert_eq!(
            outbox_subjects(a.as_ref()).await,
            ["your assignments", "empty session", "overdue"]
        );
    }
}

fn is_conflict_ref<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

#[tokio::test]
async fn concurrent_transitions_one_wins_across_servers() {
    for db in TestDatabase::all().await {
        eprintln!("concurrent transitions: {}", db.backend);
        let (a, b) = two_servers(&db).await;
        let w = world(a.as_ref(), "race").await;
        let mut decided = new_submission(&w);
        decided.state = SubmissionState::DecidedPendingRelease;
        a.insert_submission(&decided, &[], &[])
            .await
            .expect("insert");
        // The provider withdraws through one server while the scheduler releases the
        // decision through the other, both from the same read.
        let withdraw = moved(&decided, SubmissionState::Withdrawn, 10);
        let release = moved(&decided, SubmissionState::Approved, 10);
        let write = async |store: &dyn Store, s: Submission, subject: &'static str| {
            let events = [submission_event(&s, subject)];
            store
                .update_submission(&s, &events, &[email(subject, Some(s.id), 10)])
                .await
        };
        let (x, y) = tokio::join!(
            write(a.as_ref(), withdraw.clone(), "withdrawn"),
            write(b.as_ref(), release.clone(), "released")
        );
        assert_eq!(
            [&x, &y].iter().filter(|r| r.is_ok()).count(),
            1,
            "{x:?} {y:?}"
        );
        assert!(is_conflict_ref(if x.is_ok() { &y } else { &x }));
        let (winner, subject) = if x.is_ok() {
            (&withdraw, "withdrawn")
        } else {
            (&release, "released")
        };
        assert_eq!(
            b.submission(decided.id).await.expect("read").as_ref(),
            Some(winner)
        );
        assert_eq!(outbox_subjects(a.as_ref()).await, [subject]);
        let events = a.audit(&everything()).await.expect("audit");
        let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
        assert_eq!(actions, [subject]);
    }
}

#[tokio::test]
async fn two_dispatchers_never_claim_the_same_email() {
    for db in TestDatabase::all().await {
        eprintln!("outbox claims: {}", db.backend);
        let (a, b) = two_servers(&db).await;
        let w = world(a.as_ref(), "dispatch").await;
        let s = new_submission(&w);
        let emails: Vec<NewEmail> = (0..40).map(|i| email(&format!("m{i}"), None, 1)).collect();
        a.insert_submission(&s, &[], &emails).await.expect("insert");
        let lease = Duration::from_secs(300);
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let (x, y) = tokio::join!(
                a.claim_outbox(at(10), lease, 7),
                b.claim_outbox(at(10), lease, 7)
            );
            let (x, y) = (x.expect("claim a"), y.expect("claim b"));
            if x.is_empty() && y.is_empty() {
                break;
            }
            for e in x.iter().chain(&y) {
                assert!(seen.insert(e.id), "email {} claimed twice", e.id);
            }
        }
        assert_eq!(seen.len(), 40);
    }
}

contract! {
    large_session_openings_are_all_or_nothing => check_large_session;
}

/// A session opening writes its submissions and events in statements of many rows: more
/// than one statement's worth on both backends, and a stale submission in the last
/// statement still undoes the first ones.
async fn check_large_session(store: &dyn Store) {
    let w = world(store, "large").await;
    let mut queued = Vec::new();
    for i in 0..1050 {
        let offering = Offering {
            id: OfferingId::generate(),
            ..new_offering(&format!("large-{i}"), w.account.id)
        };
        store
            .insert_offering(&offering, &[])
            .await
            .expect("offering");
        let s = Submission {
            id: SubmissionId::generate(),
            offering_id: offering.id,
            state: SubmissionState::Queued,
            ..new_submission(&w)
        };
        store.insert_submission(&s, &[], &[]).await.expect("queued");
        queued.push(s);
    }
    let mut opened: Vec<Submission> = queued
        .iter()
        .map(|s| Submission {
            validator: Some(w.validator.id),
            ..moved(s, SubmissionState::InReview, 100)
        })
        .collect();
    let events: Vec<AuditEvent> = opened
        .iter()
        .map(|s| submission_event(s, "submission.open_session"))
        .collect();
    let nominal = date(2030, 1, 8);
    let events_before = audit_count(store).await;

    let last = opened.len() - 1;
    opened[last].version += 1; // read before someone else changed it
    assert!(is_conflict(
        store
            .open_review_session(nominal, at(100), &opened, &events, &[])
            .await
    ));
    assert_eq!(store.review_session(nominal).await.expect("read"), None);
    assert_eq!(audit_count(store).await, events_before);
    assert!(
        store
            .submissions_in_state(SubmissionState::InReview)
            .await
            .expect("in review")
            .is_empty()
    );

    opened[last].version -= 1;
    store
        .open_review_session(nominal, at(100), &opened, &events, &[])
        .await
        .expect("open");
    let in_review = store
        .submissions_in_state(SubmissionState::InReview)
        .await
        .expect("in review");
    assert_eq!(in_review.len(), opened.len());
    assert!(
        in_review
            .iter()
            .all(|s| s.validator == Some(w.validator.id))
    );
    let stored = store.submission(queued[last].id).await.expect("read");
    assert_eq!(stored.as_ref(), Some(&opened[last]));
    let log = store
        .audit(&AuditQuery {
            action: Some("submission.open_session".into()),
            limit: 2000,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(log.len(), opened.len());
    // In the order given: the log reads newest first.
    assert_eq!(log[0].event.subject_id, opened[last].id.to_string());
    assert_eq!(log[last].event.subject_id, opened[0].id.to_string());
}
