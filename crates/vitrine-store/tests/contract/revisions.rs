//! Revisions of a live offering and appeals: a submission's revision and a decision's
//! appeal round-trip; a revision's publication writes the submission, the live offering
//! and the broker settings together, or none of them.

use vitrine_domain::checks::BrokerRegistration;
use vitrine_domain::go_live::{Appeal, RecordedDecision, Round, Submission};
use vitrine_domain::revision::{BrokerSettings, Revision};
use vitrine_domain::submission::{AppealOutcome, Decision, SubmissionState};
use vitrine_domain::{RecordingId, SubmissionId};

use super::*;

contract! {
    a_revision_and_an_appeal_round_trip => check_round_trip;
    a_revision_publication_writes_all_or_nothing => check_revision_publication;
}

struct Live {
    offering: Offering,
    broker: BrokerRegistration,
    member: UserId,
}

async fn live(store: &dyn Store, name: &str) -> Live {
    let user = new_user(&format!("dev@{name}.example"), false);
    store.insert_user(&user, None, &[]).await.expect("user");
    let account = new_account(name, &[(user.id, MembershipRole::Owner)]);
    store.insert_account(&account, &[]).await.expect("account");
    let mut offering = new_offering(name, account.id);
    offering.visibility = Visibility::Public;
    store
        .insert_offering(&offering, &[])
        .await
        .expect("offering");
    let broker = BrokerRegistration {
        offering_id: offering.id,
        url: "https://broker.example".into(),
        username: "vitrine".into(),
        api_version: "2.17".into(),
        updated_at: at(1),
        updated_by: user.id,
    };
    store
        .put_broker(&broker, Some(b"sealed"), &[])
        .await
        .expect("broker");
    Live {
        offering,
        broker,
        member: user.id,
    }
}

fn revision_of(l: &Live) -> Submission {
    let mut revision = Revision::of(&l.offering, Some(&l.broker));
    revision.display_name.en = "Revised".into();
    revision.broker = Some(BrokerSettings {
        url: "https://broker2.example".into(),
        ..BrokerSettings::of(&l.broker)
    });
    Submission {
        id: SubmissionId::generate(),
        offering_id: l.offering.id,
        provider_account_id: l.offering.provider_account_id,
        state: SubmissionState::PublicationScheduled,
        rounds: vec![Round {
            number: 1,
            recordings: vec![],
            notes: String::new(),
            requested_go_live: None,
            requirements_version: Some(1),
            submitted_at: Some(at(5)),
            decision: None,
        }],
        validator: None,
        publication_at: Some(at(50)),
        revision: Some(revision),
        created_at: at(5),
        updated_at: at(5),
        version: 1,
    }
}

async fn check_round_trip(store: &dyn Store) {
    let l = live(store, "trip").await;
    let mut s = revision_of(&l);
    s.state = SubmissionState::Appealed;
    s.rounds[0].recordings = vec![RecordingId::generate()];
    s.rounds[0].decision = Some(RecordedDecision {
        decision: Decision::Reject,
        verdicts: vec![],
        reason: Some("prices".into()),
        by: l.member,
        at: at(6),
        released_at: Some(at(7)),
        appeal: Some(Appeal {
            reason: "they are fair".into(),
            by: l.member,
            at: at(8),
            outcome: Some(AppealOutcome::Reopen),
            decided_by: Some(l.member),
            decided_at: Some(at(9)),
            answer: None,
        }),
    });
    store.insert_submission(&s, &[], &[]).await.expect("insert");
    assert_eq!(store.submission(s.id).await.expect("read"), Some(s.clone()));
    // An appealed submission is still open: a second one for the offering is refused.
    assert_eq!(
        store
            .open_submission_for(l.offering.id)
            .await
            .expect("open"),
        Some(s.clone())
    );
    let mut next = s.clone();
    next.revision = None;
    next.version += 1;
    store
        .update_submission(&next, &[], &[])
        .await
        .expect("update");
    assert_eq!(store.submission(s.id).await.expect("read"), Some(next));
}

async fn check_revision_publication(store: &dyn Store) {
    let l = live(store, "rev").await;
    let scheduled = revision_of(&l);
    store
        .insert_submission(&scheduled, &[], &[])
        .await
        .expect("insert");
    let revision = scheduled.revision.clone().expect("a revision");
    let mut published = scheduled.clone();
    published.state = SubmissionState::Published;
    published.version += 1;
    let mut offering = revision.applied_to(&l.offering);
    offering.version += 1;
    offering.updated_at = at(50);
    let broker =
        revision
            .broker
            .as_ref()
            .expect("settings")
            .applied_to(&l.broker, l.member, at(50));
    let events = [offering_event(
        &offering,
        None,
        "offering.revision_published",
    )];
    let customers = CatalogQuery {
        audience: Audience::Accounts(vec![]),
        terms: vec![],
        category: None,
        tag: None,
        provider: None,
        after: None,
        limit: 10,
    };
    let before = store.catalog(&customers).await.expect("catalog");
    assert_eq!(before.items[0].display_name.en, l.offering.display_name.en);

    // A stale offering: nothing is written, neither the submission nor the broker.
    let stale = Offering {
        version: offering.version + 1,
        ..offering.clone()
    };
    let events_before = audit_count(store).await;
    assert!(matches!(
        store
            .publish_revision(&published, &stale, Some(&broker), &events, &[])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.submission(scheduled.id).await.expect("read"),
        Some(scheduled.clone())
    );
    let stored = store.broker(l.offering.id).await.expect("broker");
    assert_eq!(stored.map(|b| b.registration), Some(l.broker.clone()));
    assert_eq!(audit_count(store).await, events_before);
    assert_eq!(
        store.catalog(&customers).await.expect("catalog").items,
        before.items
    );

    store
        .publish_revision(&published, &offering, Some(&broker), &events, &[])
        .await
        .expect("publish");
    assert_eq!(
        store.submission(scheduled.id).await.expect("read"),
        Some(published)
    );
    let stored = store
        .broker(l.offering.id)
        .await
        .expect("broker")
        .expect("kept");
    assert_eq!(stored.registration, broker);
    assert_eq!(stored.password_sealed, b"sealed", "the password stays");
    let after = store.catalog(&customers).await.expect("catalog");
    assert_eq!(after.items[0].display_name.en, "Revised");
    assert_eq!(audit_count(store).await, events_before + 1);
}
