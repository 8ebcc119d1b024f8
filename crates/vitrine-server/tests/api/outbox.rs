//! The outbox dispatcher: emails written with a change reach a real SMTP server; a failing
//! transport retries with backoff and never loses an email; admins see failures and retry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::{AuditEvent, SubmissionId};
use vitrine_mail::{MailTransport, Mailbox, OutgoingEmail, SendError};
use vitrine_server::{Clock, DispatchReport, Dispatcher, DispatcherSettings};
use vitrine_store::{NewEmail, OutboxQuery, OutboxStatus};

use crate::smtp::SmtpServer;
use crate::support::{TestApp, each_backend};

fn email(n: usize, submission: SubmissionId) -> OutgoingEmail {
    let from: Mailbox = "vitrine <noreply@vitrine.test>".parse().expect("from");
    let root = format!("<submission-{submission}@vitrine.test>");
    OutgoingEmail {
        from,
        to: vec![format!("dev{n}@acme.test").parse().expect("to")],
        reply_to: None,
        subject: format!("Email {n}"),
        text: format!("Hello {n}"),
        html: format!("<p>Hello {n}</p>"),
        message_id: format!("<email-{n}-{submission}@vitrine.test>"),
        in_reply_to: Some(root.clone()),
        references: vec![root],
        thread: Some(vitrine_mail::ThreadKey::submission(submission.0)),
        auto_submitted: None,
        language: None,
        date: None,
    }
}

/// Writes `count` emails to the outbox with a change (an edit of a new submission of the
/// world's provider), as the review does; returns the submission.
async fn write_emails(app: &TestApp, count: usize) -> SubmissionId {
    let submission = crate::uploads::draft_submission(app, SubmissionState::Draft).await;
    // The submission above was written without emails; this second change carries them.
    let mut stored = app
        .store
        .submission(submission)
        .await
        .expect("read")
        .expect("submission");
    let now = app.clock.now();
    let emails: Vec<NewEmail> = (0..count)
        .map(|n| {
            let e = email(n, submission);
            NewEmail::new(
                e.to[0].email.to_string(),
                e.subject.clone(),
                Some(submission),
                &e,
                now,
            )
            .expect("email")
        })
        .collect();
    let event = AuditEvent::new(None, "submission.round_edited", now).subject_submission(
        stored.id,
        stored.offering_id,
        stored.provider_account_id,
    );
    stored.version += 1;
    stored.rounds[0].notes = "emails".into();
    app.store
        .update_submission(&stored, &[event], &emails)
        .await
        .expect("update with emails");
    submission
}

async fn outbox(app: &TestApp, status: OutboxStatus) -> Vec<vitrine_store::OutboxEmail> {
    app.store
        .outbox(&OutboxQuery {
            status: Some(status),
            before_id: None,
            limit: 100,
        })
        .await
        .expect("outbox")
}

fn dispatcher(app: &TestApp, transport: Arc<dyn MailTransport>) -> Dispatcher {
    Dispatcher::new(
        app.store.clone(),
        app.clock.clone(),
        transport,
        DispatcherSettings::default(),
    )
}

#[tokio::test]
async fn outbox_emails_reach_a_real_smtp_server() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        let smtp = SmtpServer::start();
        let submission = write_emails(app, 3).await;
        let report = dispatcher(app, Arc::new(smtp.transport()))
            .drain_once()
            .await
            .expect("drain");
        assert_eq!(
            report,
            DispatchReport {
                sent: 3,
                retrying: 0,
                failed: 0
            }
        );
        let mut delivered = smtp.deliveries();
        assert_eq!(delivered.len(), 3);
        // Sessions may run side by side: the order of arrival is not the outbox's.
        delivered.sort_by(|a, b| a.recipients.cmp(&b.recipients));
        for (n, delivery) in delivered.iter().enumerate() {
            assert_eq!(delivery.from, "noreply@vitrine.test");
            let received = delivery.received();
            assert_eq!(received.recipients, vec![format!("dev{n}@acme.test")]);
            assert_eq!(received.subject, format!("Email {n}"));
            assert_eq!(received.text.trim_end(), format!("Hello {n}"));
            assert_eq!(
                received.message_id,
                format!("email-{n}-{submission}@vitrine.test")
            );
            let root = format!("submission-{submission}@vitrine.test");
            assert_eq!(received.in_reply_to, vec![root.clone()]);
            assert_eq!(received.references, vec![root]);
        }
        assert_eq!(outbox(app, OutboxStatus::Sent).await.len(), 3);
        assert!(outbox(app, OutboxStatus::Pending).await.is_empty());
        // Nothing more to send.
        assert_eq!(
            dispatcher(app, Arc::new(Failing::transient()))
                .drain_once()
                .await
                .expect("drain"),
            DispatchReport::default()
        );
    })
    .await;
}

/// A transport that fails every send.
struct Failing {
    permanent: bool,
    attempts: Mutex<u32>,
}

impl Failing {
    fn transient() -> Self {
        Self {
            permanent: false,
            attempts: Mutex::new(0),
        }
    }
}

#[async_trait]
impl MailTransport for Failing {
    async fn send(&self, _email: &OutgoingEmail) -> Result<(), SendError> {
        *self.attempts.lock().expect("lock") += 1;
        Err(SendError {
            permanent: self.permanent,
            message: "the relay is down".into(),
        })
    }
}

/// Records what it is given.
#[derive(Default)]
struct Recording(Mutex<Vec<OutgoingEmail>>);

#[async_trait]
impl MailTransport for Recording {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        self.0.lock().expect("lock").push(email.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_transport_retries_with_backoff_and_loses_nothing() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        write_emails(app, 1).await;
        let failing = Arc::new(Failing::transient());
        let d = dispatcher(app, failing.clone());
        let report = d.drain_once().await.expect("drain");
        assert_eq!(report.retrying, 1);
        let pending = outbox(app, OutboxStatus::Pending).await;
        assert_eq!(pending.len(), 1, "still pending after a failure");
        assert_eq!(pending[0].attempts, 1);
        assert!(
            pending[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("relay is down"))
        );
        let first_retry = pending[0].next_attempt_at;
        assert_eq!(
            first_retry.duration_since(app.clock.now()).as_secs(),
            30,
            "first retry after 30 s"
        );
        // Not due yet: nothing is tried.
        assert_eq!(
            d.drain_once().await.expect("drain"),
            DispatchReport::default()
        );
        assert_eq!(*failing.attempts.lock().expect("lock"), 1);
        // Each retry waits twice as long.
        app.clock.advance(jiff::SignedDuration::from_secs(30));
        d.drain_once().await.expect("drain");
        let pending = outbox(app, OutboxStatus::Pending).await;
        assert_eq!(pending[0].attempts, 2);
        assert_eq!(
            pending[0]
                .next_attempt_at
                .duration_since(app.clock.now())
                .as_secs(),
            60
        );
        // Until the last allowed attempt, after which it is failed, still kept.
        let max = DispatcherSettings::default().max_attempts;
        for _ in 2..max {
            app.clock.advance(jiff::SignedDuration::from_hours(1));
            d.drain_once().await.expect("drain");
        }
        assert_eq!(*failing.attempts.lock().expect("lock"), max);
        let failed = outbox(app, OutboxStatus::Failed).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].attempts, max);
        assert!(outbox(app, OutboxStatus::Pending).await.is_empty());

        // The admin sees it and retries it; it goes out through a working transport.
        let listed = app
            .admin
            .get("/api/v1/outbox?status=failed")
            .await
            .expect_status(200)
            .json();
        let items = listed["items"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["status"], "failed");
        let id = items[0]["id"].as_i64().expect("id");
        app.admin
            .post(&format!("/api/v1/outbox/{id}/retry"), &Value::Null)
            .await
            .expect_status(204);
        // Only failed emails can be retried.
        app.admin
            .post(&format!("/api/v1/outbox/{id}/retry"), &Value::Null)
            .await
            .problem(404, "not-found");
        let working = Arc::new(Recording::default());
        let report = dispatcher(app, working.clone())
            .drain_once()
            .await
            .expect("drain");
        assert_eq!(report.sent, 1);
        assert_eq!(working.0.lock().expect("lock").len(), 1);
        let sent = app
            .admin
            .get("/api/v1/outbox?status=sent")
            .await
            .expect_status(200)
            .json();
        assert_eq!(sent["items"].as_array().expect("items").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn permanent_failures_fail_at_once_and_only_admins_see_the_outbox() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        write_emails(app, 2).await;
        let failing = Arc::new(Failing {
            permanent: true,
            attempts: Mutex::new(0),
        });
        let report = dispatcher(app, failing).drain_once().await.expect("drain");
        assert_eq!(report.failed, 2);
        assert_eq!(outbox(app, OutboxStatus::Failed).await.len(), 2);

        let someone = app.user("someone@acme.test").await;
        someone
            .client
            .get("/api/v1/outbox")
            .await
            .problem(403, "forbidden");
        someone
            .client
            .post("/api/v1/outbox/1/retry", &Value::Null)
            .await
            .problem(403, "forbidden");
        app.anonymous()
            .get("/api/v1/outbox")
            .await
            .problem(401, "unauthenticated");
        app.admin
            .get("/api/v1/outbox?status=lost")
            .await
            .problem(422, "validation-failed");
        let all = app
            .admin
            .get("/api/v1/outbox")
            .await
            .expect_status(200)
            .json();
        assert_eq!(all["items"].as_array().expect("items").len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_email_claimed_by_a_dispatcher_that_died_is_sent_after_its_lease() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        write_emails(app, 1).await;
        // A dispatcher claims the email, then dies before sending or marking it.
        let claimed = app
            .store
            .claim_outbox(app.clock.now(), Duration::from_secs(300), 10)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        let working = Arc::new(Recording::default());
        let d = dispatcher(app, working.clone());
        assert_eq!(
            d.drain_once().await.expect("drain").sent,
            0,
            "held by the lease"
        );
        app.clock.advance(jiff::SignedDuration::from_secs(301));
        assert_eq!(d.drain_once().await.expect("drain").sent, 1);
        assert_eq!(working.0.lock().expect("lock").len(), 1);
    })
    .await;
}

/// Counts the sends under way at once; each send yields a few times, as a network send
/// would, so that the dispatcher's other sends get to start meanwhile.
#[derive(Default)]
struct Overlapping {
    under_way: Mutex<(usize, usize)>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl MailTransport for Overlapping {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        {
            let mut under_way = self.under_way.lock().expect("lock");
            under_way.0 += 1;
            under_way.1 = under_way.1.max(under_way.0);
        }
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        self.under_way.lock().expect("lock").0 -= 1;
        self.sent
            .lock()
            .expect("lock")
            .push(email.message_id.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_is_sent_side_by_side_up_to_the_concurrency() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        write_emails(app, 23).await;
        let transport = Arc::new(Overlapping::default());
        let settings = DispatcherSettings {
            batch: 10,
            concurrency: 4,
            ..DispatcherSettings::default()
        };
        let report = Dispatcher::new(
            app.store.clone(),
            app.clock.clone(),
            transport.clone(),
            settings,
        )
        .drain_once()
        .await
        .expect("drain");
        assert_eq!(report.sent, 23);
        let (under_way, most) = *transport.under_way.lock().expect("lock");
        assert_eq!(
            (under_way, most),
            (0, 4),
            "at most 4 at once, and 4 reached"
        );
        let mut sent = transport.sent.lock().expect("lock").clone();
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 23, "each email once");
        assert_eq!(outbox(app, OutboxStatus::Sent).await.len(), 23);
    })
    .await;
}

#[tokio::test]
async fn an_address_that_bounces_is_not_mailed_again_until_cleared() {
    each_backend(|app| async move {
        let w = crate::world::World::build(app).await;
        let app = &w.app;
        write_emails(app, 2).await;
        app.store
            .mark_bouncing("DEV0@acme.test", app.clock.now(), "dsn-1@mx.acme.test", &[])
            .await
            .expect("marked");
        let sent = Arc::new(Recording::default());
        let report = dispatcher(app, sent.clone())
            .drain_once()
            .await
            .expect("drain");
        let to: Vec<String> = sent
            .0
            .lock()
            .expect("lock")
            .iter()
            .map(|e| e.to[0].email.to_string())
            .collect();
        assert_eq!(to, ["dev1@acme.test"], "{report:?}");
        let failed = outbox(app, OutboxStatus::Failed).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].recipients, "dev0@acme.test");
        assert!(
            failed[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("bounces")),
            "{:?}",
            failed[0].last_error
        );
        // Fixed: cleared, and an admin's retry sends it.
        app.store
            .clear_bouncing("dev0@acme.test", &[])
            .await
            .expect("cleared");
        assert!(
            app.store
                .bouncing("dev0@acme.test")
                .await
                .expect("read")
                .is_none()
        );
    })
    .await;
}
