//! The inbound log's polite answers: at most one an hour per sender, even when two refusals
//! of the same sender are logged at once (two servers, or two messages of one poll).

use vitrine_store::{InboundEmail, InboundOutcome, NewEmail, OutboxQuery};

use super::*;

contract! {
    two_refusals_logged_at_once_answer_their_sender_once => check_racing_answers;
    a_sender_is_answered_again_an_hour_later => check_answer_hour;
}

fn refused(message_id: &str, sender: &str, seconds: i64) -> InboundEmail {
    InboundEmail {
        message_id: message_id.to_owned(),
        received_at: at(seconds),
        sender: sender.to_owned(),
        subject: "Re: your submission".to_owned(),
        submission_id: None,
        user_id: None,
        outcome: InboundOutcome::Refused,
        reason: Some("unknown-key".to_owned()),
        recordings: 0,
        // Not read: the store says whether the answer was sent.
        answered: true,
    }
}

fn answer_to(sender: &str, message_id: &str, seconds: i64) -> NewEmail {
    let payload =
        serde_json::json!({ "subject": "Your email was not accepted", "in_reply_to": message_id });
    NewEmail::new(
        sender,
        "Your email was not accepted",
        None,
        &payload,
        at(seconds),
    )
    .expect("email")
}

/// The answers in the outbox to `sender`.
async fn answers_in_outbox(store: &dyn Store, sender: &str) -> usize {
    store
        .outbox(&OutboxQuery {
            limit: 1000,
            ..OutboxQuery::default()
        })
        .await
        .expect("outbox")
        .iter()
        .filter(|e| e.recipients.eq_ignore_ascii_case(sender))
        .count()
}

async fn check_racing_answers(store: &dyn Store) {
    // Many rounds, so that the two transactions really overlap in some of them.
    for round in 0..20 {
        let sender = format!("stranger{round}@example.com");
        // The same address, written differently by two messages.
        let shouted = sender.to_uppercase();
        let (a, b) = (format!("a{round}@x"), format!("b{round}@x"));
        let (log_a, answer_a) = (refused(&a, &sender, 0), answer_to(&sender, &a, 0));
        let (log_b, answer_b) = (refused(&b, &shouted, 1), answer_to(&shouted, &b, 1));
        let (first, second) = tokio::join!(
            store.record_inbound(&log_a, None, &[], &[], Some(&answer_a)),
            store.record_inbound(&log_b, None, &[], &[], Some(&answer_b)),
        );
        let (first, second) = (first.expect("logged"), second.expect("logged"));
        assert!(
            first ^ second,
            "round {round}: answered {first} and {second}"
        );
        assert_eq!(answers_in_outbox(store, &sender).await, 1, "round {round}");
        // Both are logged; only the answered one says so.
        let a = store
            .inbound_email(&a)
            .await
            .expect("read")
            .expect("logged");
        let b = store
            .inbound_email(&b)
            .await
            .expect("read")
            .expect("logged");
        assert_eq!((a.answered, b.answered), (first, second));
        assert_eq!(store.answers_to(&sender, at(-10)).await.expect("count"), 1);
    }
}

async fn check_answer_hour(store: &dyn Store) {
    let sender = "late@example.com";
    let log = |id: &str, seconds: i64| {
        let id = id.to_owned();
        async move {
            store
                .record_inbound(
                    &refused(&id, sender, seconds),
                    None,
                    &[],
                    &[],
                    Some(&answer_to(sender, &id, seconds)),
                )
                .await
                .expect("logged")
        }
    };
    assert!(log("m1@x", 0).await, "the first refusal is answered");
    assert!(!log("m2@x", 3599).await, "not within the hour");
    assert!(!log("m2b@x", 3600).await, "not at the hour either");
    assert!(
        log("m3@x", 3601).await,
        "more than an hour after the answer"
    );
    assert!(
        !log("m4@x", 3602).await,
        "the hour counts from the last answer"
    );
    assert_eq!(answers_in_outbox(store, sender).await, 2);
    // Without an answer to send, nothing is taken: the next one is still answered.
    let quiet = "quiet@example.com";
    assert!(
        !store
            .record_inbound(&refused("q1@x", quiet, 0), None, &[], &[], None)
            .await
            .expect("logged")
    );
    assert!(
        store
            .record_inbound(
                &refused("q2@x", quiet, 1),
                None,
                &[],
                &[],
                Some(&answer_to(quiet, "q2@x", 1)),
            )
            .await
            .expect("logged")
    );
    let q1 = store
        .inbound_email("q1@x")
        .await
        .expect("read")
        .expect("logged");
    assert!(
        !q1.answered,
        "a refusal without an answer is not logged as answered"
    );
    // A duplicate Message-ID takes no slot and sends nothing.
    let again = store
        .record_inbound(
            &refused("m1@x", "other@example.com", 10),
            None,
            &[],
            &[],
            Some(&answer_to("other@example.com", "m1@x", 10)),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Duplicate { .. })),
        "{again:?}"
    );
    assert_eq!(answers_in_outbox(store, "other@example.com").await, 0);
    assert!(
        log_other(store).await,
        "the duplicate's sender was not marked answered"
    );
}

async fn log_other(store: &dyn Store) -> bool {
    store
        .record_inbound(
            &refused("o1@x", "other@example.com", 20),
            None,
            &[],
            &[],
            Some(&answer_to("other@example.com", "o1@x", 20)),
        )
        .await
        .expect("logged")
}
