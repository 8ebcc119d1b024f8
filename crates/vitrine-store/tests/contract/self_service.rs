//! Self-service accounts: sign-up in one transaction, one-time tokens used once, emails
//! holding a secret hidden and dropped once sent, and sign-in attempts counted by the
//! domain's rule.

use std::time::Duration;

use vitrine_domain::auth::{
    self, SIGN_IN_WINDOW, SignInAttempts, SignUp, SignedUp, TokenPurpose, issue_token,
};
use vitrine_store::{HIDDEN_PAYLOAD, IssuedToken, NewEmail, OutboxQuery};

use super::*;

contract! {
    sign_up_writes_everything_or_nothing => check_sign_up;
    one_time_tokens_work_once => check_one_time_tokens;
    a_password_reset_ends_every_session => check_reset_ends_sessions;
    emails_holding_a_secret_are_hidden_and_dropped_once_sent => check_secret_emails;
    sign_in_attempts_follow_the_domain_rule => check_sign_in_attempts;
}

fn signed_up(email: &str) -> SignedUp {
    auth::sign_up(
        SignUp {
            email: email.into(),
            display_name: "Ana".into(),
            password: "long enough pass".into(),
            account_name: format!("Account of {email}"),
            language: Some(Language::Fr),
            time_zone: Some("Europe/Paris".into()),
        },
        at(0),
    )
    .expect("valid sign-up")
}

fn issued(token: vitrine_domain::auth::OneTimeToken, seed: u8) -> IssuedToken {
    IssuedToken {
        hash: [seed; 32],
        token,
    }
}

fn email_to(address: &str, subject: &str, seconds: i64) -> NewEmail {
    let payload =
        serde_json::json!({ "subject": subject, "text": "link: /verify-email?token=vit_x" });
    NewEmail::new(address, subject, None, &payload, at(seconds)).expect("email")
}

fn all() -> OutboxQuery {
    OutboxQuery {
        limit: 1000,
        ..OutboxQuery::default()
    }
}

async fn check_sign_up(store: &dyn Store) {
    let done = signed_up("ana@example.com");
    let verification = issued(done.verification.clone(), 1);
    let emails = [email_to("ana@example.com", "verify", 0).holding_secret()];
    store
        .sign_up(
            &done.user,
            "$argon2id$hash",
            &done.account,
            &verification,
            &done.events,
            &emails,
        )
        .await
        .expect("sign up");
    let (user, hash) = store
        .user_by_email(&done.user.email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(user, done.user);
    assert_eq!(user.email_verified_at, None);
    assert_eq!(hash.as_deref(), Some("$argon2id$hash"));
    assert_eq!(
        store.account(done.account.id).await.expect("read"),
        Some(done.account.clone())
    );
    assert_eq!(
        store.one_time_token(&[1; 32]).await.expect("read"),
        Some(done.verification.clone())
    );
    assert_eq!(audit_count(store).await, 3);
    assert_eq!(store.outbox(&all()).await.expect("outbox").len(), 1);

    // A taken address: nothing of the second sign-up is kept.
    let twin = signed_up("ana@example.com");
    let result = store
        .sign_up(
            &twin.user,
            "$argon2id$other",
            &twin.account,
            &issued(twin.verification.clone(), 2),
            &twin.events,
            &[email_to("ana@example.com", "verify", 1)],
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::Duplicate { field: "email" })),
        "{result:?}"
    );
    assert_eq!(store.account(twin.account.id).await.expect("read"), None);
    assert_eq!(store.one_time_token(&[2; 32]).await.expect("read"), None);
    assert_eq!(audit_count(store).await, 3);
    assert_eq!(store.outbox(&all()).await.expect("outbox").len(), 1);

    // Audit events and emails alone.
    let notice = AuditEvent::new(None, "user.sign_up_attempted", at(5)).subject_user(user.id);
    store
        .insert_emails(
            std::slice::from_ref(&notice),
            &[email_to("ana@example.com", "notice", 5)],
        )
        .await
        .expect("notice");
    assert_eq!(audit_count(store).await, 4);
    assert_eq!(store.outbox(&all()).await.expect("outbox").len(), 2);
}

async fn check_one_time_tokens(store: &dyn Store) {
    let done = signed_up("bo@example.com");
    store
        .sign_up(
            &done.user,
            "hash",
            &done.account,
            &issued(done.verification.clone(), 1),
            &done.events,
            &[],
        )
        .await
        .expect("sign up");
    let other = new_user("other@example.com", false);
    store.insert_user(&other, None, &[]).await.expect("other");
    let (reset, requested) = issue_token(TokenPurpose::ResetPassword, &done.user, at(10));
    store
        .insert_one_time_token(
            &issued(reset.clone(), 2),
            std::slice::from_ref(&requested),
            &[email_to("bo@example.com", "reset", 10).holding_secret()],
        )
        .await
        .expect("reset token");
    assert_eq!(
        store.one_time_token(&[2; 32]).await.expect("read"),
        Some(reset)
    );
    assert_eq!(store.one_time_token(&[9; 32]).await.expect("read"), None);
    assert!(matches!(
        store
            .insert_one_time_token(&issued(done.verification.clone(), 2), &[], &[])
            .await,
        Err(StoreError::Duplicate { .. })
    ));

    // A stale user (changed meanwhile) or another user's token: nothing is written.
    let (_, verified, event) =
        auth::verify_email(&done.verification, &done.user, at(20)).expect("verify");
    let mut stale = verified.clone();
    stale.version += 1;
    let before = audit_count(store).await;
    assert!(matches!(
        store
            .redeem_one_time_token(&[1; 32], at(20), &stale, None, std::slice::from_ref(&event))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let mut other_next = other.clone();
    other_next.version += 1;
    assert!(matches!(
        store
            .redeem_one_time_token(&[1; 32], at(20), &other_next, None, &[])
            .await,
        Err(StoreError::Conflict { what: "token" })
    ));
    assert_eq!(
        store
            .one_time_token(&[1; 32])
            .await
            .expect("read")
            .and_then(|t| t.used_at),
        None
    );
    assert_eq!(audit_count(store).await, before);

    // Used once: the user is verified, the token marked; a second use changes nothing.
    store
        .redeem_one_time_token(&[1; 32], at(20), &verified, None, &[event])
        .await
        .expect("redeem");
    assert_eq!(
        store.user(done.user.id).await.expect("read"),
        Some(verified.clone())
    );
    assert_eq!(
        store
            .one_time_token(&[1; 32])
            .await
            .expect("read")
            .and_then(|t| t.used_at),
        Some(at(20))
    );
    assert_eq!(audit_count(store).await, before + 1);
    let mut again = verified.clone();
    again.version += 1;
    assert!(matches!(
        store
            .redeem_one_time_token(&[1; 32], at(21), &again, None, &[])
            .await,
        Err(StoreError::Conflict { what: "token" })
    ));
    assert_eq!(
        store.user(done.user.id).await.expect("read"),
        Some(verified)
    );
}

async fn check_reset_ends_sessions(store: &dyn Store) {
    let user = new_user("carl@example.com", false);
    let other = new_user("dora@example.com", false);
    store
        .insert_user(&user, Some("old"), &[])
        .await
        .expect("user");
    store.insert_user(&other, None, &[]).await.expect("other");
    for (seed, owner) in [(1u8, user.id), (2, user.id), (3, other.id)] {
        store
            .insert_session(&[seed; 32], owner, at(0), at(86_400))
            .await
            .expect("session");
    }
    let (token, _) = issue_token(TokenPurpose::ResetPassword, &user, at(10));
    store
        .insert_one_time_token(&issued(token.clone(), 9), &[], &[])
        .await
        .expect("token");
    let (_, next, event) =
        auth::reset_password(&token, &user, "another long one", at(20)).expect("reset");
    store
        .redeem_one_time_token(&[9; 32], at(20), &next, Some("new"), &[event])
        .await
        .expect("redeem");
    let (stored, hash) = store
        .user_by_email(&user.email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(stored, next);
    assert_eq!(hash.as_deref(), Some("new"));
    for seed in [1u8, 2] {
        assert_eq!(
            store.session_user(&[seed; 32], at(30)).await.expect("read"),
            None,
            "session {seed} ended"
        );
    }
    assert_eq!(
        store.session_user(&[3; 32], at(30)).await.expect("read"),
        Some((other.id, at(86_400))),
        "another user's session is untouched"
    );
}

async fn check_secret_emails(store: &dyn Store) {
    store
        .insert_emails(
            &[],
            &[
                email_to("a@example.com", "plain", 1),
                email_to("a@example.com", "secret", 2).holding_secret(),
            ],
        )
        .await
        .expect("emails");
    let listed = store.outbox(&all()).await.expect("outbox");
    let (secret, plain) = (&listed[0], &listed[1]);
    assert_eq!(secret.subject, "secret");
    assert!(secret.holds_secret);
    assert_eq!(secret.payload, serde_json::json!(HIDDEN_PAYLOAD));
    assert!(!plain.holds_secret);
    assert_eq!(plain.payload["subject"], "plain");
    // The dispatcher gets the whole email…
    let claimed = store
        .claim_outbox(at(3), Duration::from_secs(60), 10)
        .await
        .expect("claim");
    let secret = claimed
        .iter()
        .find(|e| e.subject == "secret")
        .expect("claimed");
    assert_eq!(secret.payload["subject"], "secret");
    // …and once it is sent, its body is gone from the database.
    store.mark_sent(secret.id, at(4)).await.expect("sent");
    let listed = store.outbox(&all()).await.expect("outbox");
    assert_eq!(listed[0].payload, serde_json::json!(HIDDEN_PAYLOAD));
    let plain = claimed
        .iter()
        .find(|e| e.subject == "plain")
        .expect("plain");
    store.mark_sent(plain.id, at(4)).await.expect("sent");
    let listed = store.outbox(&all()).await.expect("outbox");
    assert_eq!(listed[1].payload["subject"], "plain", "others keep theirs");
}

async fn check_sign_in_attempts(store: &dyn Store) {
    let ana = Email::parse("e", "ana@example.com").expect("valid");
    let bo = Email::parse("e", "bo@example.com").expect("valid");
    let window = SIGN_IN_WINDOW.as_secs();
    // Attempts at these seconds, alternating addresses, against the reference rule.
    let times = [
        0,
        10,
        60,
        61,
        window - 1,
        window,
        window + 1,
        3 * window,
        3 * window,
        3 * window + 5,
    ];
    let mut expected: [Option<SignInAttempts>; 2] = [None, None];
    for (i, seconds) in times.into_iter().enumerate() {
        for (which, email) in [(0, &ana), (1, &bo)] {
            if i % 2 == which || i > 6 {
                let now = at(seconds);
                let reference = SignInAttempts::after_attempt(expected[which], now);
                let stored = store
                    .count_sign_in_attempt(email, now)
                    .await
                    .expect("count");
                assert_eq!(stored, reference, "{} at {seconds}", email.as_str());
                expected[which] = Some(reference);
            }
        }
    }
    // Clearing starts over.
    store.clear_sign_in_attempts(&ana).await.expect("clear");
    let now = at(3 * window + 6);
    assert_eq!(
        store.count_sign_in_attempt(&ana, now).await.expect("count"),
        SignInAttempts {
            window_started_at: now,
            count: 1
        }
    );
    assert_eq!(
        store
            .count_sign_in_attempt(&bo, now)
            .await
            .expect("count")
            .count,
        expected[1].map_or(0, |r| r.count) + 1,
        "the other address is untouched"
    );

    // Concurrent attempts are all counted.
    let carl = Email::parse("e", "carl@example.com").expect("valid");
    let attempts = (0..8).map(|_| store.count_sign_in_attempt(&carl, now));
    let results = futures_join_all(attempts).await;
    let mut counts: Vec<u32> = results
        .into_iter()
        .map(|r| r.expect("count").count)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<_>>());
}

/// Runs the futures concurrently (on one task, interleaved at their await points).
async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
