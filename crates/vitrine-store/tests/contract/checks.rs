//! Checked prerequisites: broker registrations keep their sealed password unless a new one
//! comes, runs are claimed once, leases renew and run out into interruption with the
//! resources a run had recorded, and the latest finished run is the evidence.

use vitrine_domain::CheckRunId;
use vitrine_domain::ChecklistStep;
use vitrine_domain::checks::{
    BrokerRegistration, CheckRun, FailedCheck, RunState, RunTrigger, Verdict, Verdicts,
};

use super::*;

contract! {
    a_broker_registration_keeps_its_sealed_password => check_broker_registration;
    check_runs_are_claimed_once_and_finish_with_their_verdicts => check_run_lifecycle;
    a_run_whose_lease_ran_out_is_interrupted_with_its_resources => check_interrupted_runs;
}

async fn offering_with_member(store: &dyn Store) -> (Offering, UserId) {
    let user = new_user("dev@example.com", false);
    store.insert_user(&user, None, &[]).await.expect("user");
    let account = new_account("Acme", &[(user.id, MembershipRole::Owner)]);
    store.insert_account(&account, &[]).await.expect("account");
    let offering = new_offering("obj-store", account.id);
    store
        .insert_offering(&offering, &[])
        .await
        .expect("offering");
    (offering, user.id)
}

fn registration(offering: &Offering, by: UserId, url: &str, at_s: i64) -> BrokerRegistration {
    BrokerRegistration {
        offering_id: offering.id,
        url: url.into(),
        username: "vitrine".into(),
        api_version: "2.17".into(),
        updated_at: at(at_s),
        updated_by: by,
    }
}

fn queued(offering: &Offering, by: UserId, at_s: i64) -> CheckRun {
    CheckRun {
        id: CheckRunId::generate(),
        offering_id: offering.id,
        trigger: RunTrigger::Provider,
        started_by: Some(by),
        state: RunState::Queued,
        created_at: at(at_s),
        started_at: None,
        finished_at: None,
        verdicts: None,
        broker: None,
    }
}

async fn check_broker_registration(store: &dyn Store) {
    let (offering, user) = offering_with_member(store).await;
    assert_eq!(store.broker(offering.id).await.expect("read"), None);
    // Changing a registration that does not exist (no password to keep) is refused.
    let first = registration(&offering, user, "https://broker.example", 1);
    assert!(matches!(
        store.put_broker(&first, None, &[]).await,
        Err(StoreError::NotFound)
    ));
    let event = offering_event(&offering, Some(user), "offering.broker_registered");
    store
        .put_broker(&first, Some(b"sealed-1"), std::slice::from_ref(&event))
        .await
        .expect("register");
    let stored = store
        .broker(offering.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(stored.registration, first);
    assert_eq!(stored.password_sealed, b"sealed-1");
    // A change without a password keeps the sealed one; with one, rotates it.
    let moved = registration(&offering, user, "https://broker2.example", 2);
    store.put_broker(&moved, None, &[]).await.expect("change");
    let stored = store
        .broker(offering.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(stored.registration.url, "https://broker2.example");
    assert_eq!(stored.password_sealed, b"sealed-1");
    store
        .put_broker(&moved, Some(b"sealed-2"), &[])
        .await
        .expect("rotate");
    let stored = store
        .broker(offering.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(stored.password_sealed, b"sealed-2");
    assert_eq!(
        audit_count(store).await,
        1,
        "the event was written with the change"
    );
}

async fn check_run_lifecycle(store: &dyn Store) {
    let (offering, user) = offering_with_member(store).await;
    let older = queued(&offering, user, 10);
    let newer = queued(&offering, user, 20);
    store.insert_check_run(&older, &[]).await.expect("queue");
    store.insert_check_run(&newer, &[]).await.expect("queue");
    let listed = store.check_runs(offering.id, 10).await.expect("list");
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        [newer.id, older.id],
        "newest first"
    );
    assert_eq!(
        store.latest_finished_run(offering.id).await.expect("read"),
        None
    );

    // The oldest queued run is claimed first, each once.
    let claimed = store
        .claim_check_run(at(30), at(90))
        .await
        .expect("claim")
        .expect("one");
    assert_eq!(claimed.id, older.id);
    assert_eq!(claimed.state, RunState::Running);
    assert_eq!(claimed.started_at, Some(at(30)));
    let second = store
        .claim_check_run(at(30), at(90))
        .await
        .expect("claim")
        .expect("one");
    assert_eq!(second.id, newer.id);
    assert_eq!(
        store.claim_check_run(at(30), at(90)).await.expect("claim"),
        None
    );
    assert!(
        store
            .renew_check_run(older.id, at(150))
            .await
            .expect("renew")
    );

    let verdicts = Verdicts {
        documentation: Verdict::Passed,
        broker: Verdict::Failed,
        sign_in: Verdict::NotChecked,
        failed: vec![FailedCheck {
            step: ChecklistStep::BrokerHosted,
            check: "catalog.unique_ids".into(),
        }],
    };
    store
        .add_check_resource(older.id, "instance:1", r#"{"kind":"instance"}"#, at(31))
        .await
        .expect("record");
    store
        .finish_check_run(older.id, at(40), &verdicts, r#"{"checks":[]}"#, &[])
        .await
        .expect("finish");
    let finished = store
        .check_run(older.id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(finished.state, RunState::Finished);
    assert_eq!(finished.finished_at, Some(at(40)));
    assert_eq!(finished.verdicts, Some(verdicts.clone()));
    assert_eq!(
        store.check_report(older.id).await.expect("read").as_deref(),
        Some(r#"{"checks":[]}"#)
    );
    // A finished run cannot be finished again, nor renewed.
    assert!(matches!(
        store
            .finish_check_run(older.id, at(41), &verdicts, "{}", &[])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        !store
            .renew_check_run(older.id, at(200))
            .await
            .expect("renew")
    );
    assert_eq!(
        store
            .latest_finished_run(offering.id)
            .await
            .expect("read")
            .map(|r| r.id),
        Some(older.id)
    );
    // Its resources are forgotten: a later interruption sweep finds nothing of it.
    let swept = store
        .interrupt_stale_check_runs(at(10_000), at(10_030))
        .await
        .expect("sweep");
    assert_eq!(swept.len(), 1, "only the other running run");
    assert_eq!(swept[0].run.id, newer.id);
    assert!(swept[0].resources.is_empty());
}

async fn check_interrupted_runs(store: &dyn Store) {
    let (offering, user) = offering_with_member(store).await;
    let run = queued(&offering, user, 10);
    store.insert_check_run(&run, &[]).await.expect("queue");
    store
        .claim_check_run(at(20), at(80))
        .await
        .expect("claim")
        .expect("one");
    store
        .add_check_resource(run.id, "instance:a", "A", at(21))
        .await
        .expect("record");
    store
        .add_check_resource(run.id, "binding:b", "B", at(22))
        .await
        .expect("record");
    store
        .add_check_resource(run.id, "binding:b", "B again", at(23))
        .await
        .expect("recording twice is once");
    store
        .remove_check_resource(run.id, "binding:b")
        .await
        .expect("forget");
    // Before the lease ends nothing is interrupted.
    assert!(
        store
            .interrupt_stale_check_runs(at(79), at(109))
            .await
            .expect("sweep")
            .is_empty()
    );
    let swept = store
        .interrupt_stale_check_runs(at(80), at(110))
        .await
        .expect("sweep");
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].run.state, RunState::Interrupted);
    assert_eq!(
        swept[0].resources,
        [("instance:a".to_owned(), "A".to_owned())]
    );
    // The server that lost its lease learns it when it renews, and cannot finish.
    assert!(!store.renew_check_run(run.id, at(200)).await.expect("renew"));
    assert!(
        store
            .finish_check_run(run.id, at(90), &Verdicts::default(), "{}", &[])
            .await
            .is_err()
    );
    // While its cleanup's lease lasts, nobody else cleans it up.
    assert!(
        store
            .interrupt_stale_check_runs(at(109), at(139))
            .await
            .expect("sweep")
            .is_empty()
    );
    // The cleaning server died too: once its lease ends the run is cleaned up again, with
    // the resources it still has recorded.
    let again = store
        .interrupt_stale_check_runs(at(110), at(140))
        .await
        .expect("sweep");
    assert_eq!(again.len(), 1, "an unfinished cleanup is taken up again");
    assert_eq!(
        again[0].resources,
        [("instance:a".to_owned(), "A".to_owned())]
    );
    store
        .close_interrupted_run(run.id, at(100), r#"{"leftovers":[]}"#)
        .await
        .expect("close");
    // A closed run is history: never swept again, and a second close changes nothing.
    assert!(
        store
            .interrupt_stale_check_runs(at(10_000), at(10_030))
            .await
            .expect("sweep")
            .is_empty()
    );
    store
        .close_interrupted_run(run.id, at(200), r#"{"late":true}"#)
        .await
        .expect("a late close");
    let closed = store.check_run(run.id).await.expect("read").expect("there");
    assert_eq!(closed.state, RunState::Interrupted);
    assert_eq!(closed.finished_at, Some(at(100)));
    assert_eq!(
        store.check_report(run.id).await.expect("read").as_deref(),
        Some(r#"{"leftovers":[]}"#),
        "the first close's report stands"
    );
    assert_eq!(
        store.latest_finished_run(offering.id).await.expect("read"),
        None
    );
}
