//! Self-service accounts: signing up, the one-time tokens emailed to prove an address
//! (email verification, password reset), who may sign in with a password, and how failed
//! sign-ins are throttled.
//!
//! The server makes the random secrets and hashes them; here a token is only its purpose,
//! its user and its times. Time is always an argument.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::account::{Account, Membership};
use crate::audit::AuditEvent;
use crate::error::{DomainError, Problems};
use crate::ids::{AccountId, UserId};
use crate::permissions::{MembershipRole, StaffRoles};
use crate::user::{self, Language, NewUser, User};
use crate::{Timestamp, validate};

/// What a one-time token lets its holder do, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// Confirms the address a user signed up with.
    VerifyEmail,
    /// Sets a new password (and so also confirms the address).
    ResetPassword,
}

/// How long an email-verification link works: long enough for a weekend away.
pub const VERIFY_EMAIL_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(48);
/// How long a password-reset link works: a reset is done at once, and a stolen mailbox
/// should give an attacker as short a chance as possible.
pub const RESET_PASSWORD_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(1);

impl TokenPurpose {
    pub const ALL: [TokenPurpose; 2] = [TokenPurpose::VerifyEmail, TokenPurpose::ResetPassword];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn lifetime(self) -> SignedDuration {
        match self {
            TokenPurpose::VerifyEmail => VERIFY_EMAIL_TOKEN_LIFETIME,
            TokenPurpose::ResetPassword => RESET_PASSWORD_TOKEN_LIFETIME,
        }
    }
}

/// `at + by`, or the end of time (a lifetime never overflows in practice; no panic if it did).
fn later(at: Timestamp, by: SignedDuration) -> Timestamp {
    at.saturating_add(by).unwrap_or(Timestamp::MAX)
}

/// A token emailed to a user, without its secret (only the secret's hash is stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeToken {
    pub purpose: TokenPurpose,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When it was used; a used token never works again.
    pub used_at: Option<Timestamp>,
}

/// A new token of `purpose` for `user`, valid for the purpose's lifetime from `now`, and
/// the audit event of sending it. Anyone may ask for one (the email goes to the user's own
/// address), so the event has no actor.
pub fn issue_token(
    purpose: TokenPurpose,
    user: &User,
    now: Timestamp,
) -> (OneTimeToken, AuditEvent) {
    let token = OneTimeToken {
        purpose,
        user_id: user.id,
        created_at: now,
        expires_at: later(now, purpose.lifetime()),
        used_at: None,
    };
    let action = match purpose {
        TokenPurpose::VerifyEmail => "user.email_verification_sent",
        TokenPurpose::ResetPassword => "user.password_reset_requested",
    };
    let event = AuditEvent::new(None, action, now)
        .subject_user(user.id)
        .after(&serde_json::json!({
            "purpose": purpose,
            "expires_at": token.expires_at,
        }));
    (token, event)
}

/// Why a token presented by a client does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// No such token, or one made for another purpose.
    #[error("this link is not valid; ask for a new one")]
    Unknown,
    #[error("this link has expired; ask for a new one")]
    Expired,
    #[error("this link was already used")]
    Used,
}

impl TokenRefusal {
    /// The refusal for people, in both languages.
    pub fn text(self) -> crate::Text {
        match self {
            TokenRefusal::Unknown => crate::tr!(
                "link.unknown",
                "this link is not valid; ask for a new one",
                "ce lien n’est pas valide ; demandez-en un nouveau"
            ),
            TokenRefusal::Expired => crate::tr!(
                "link.expired",
                "this link has expired; ask for a new one",
                "ce lien a expiré ; demandez-en un nouveau"
            ),
            TokenRefusal::Used => crate::tr!(
                "link.used",
                "this link was already used",
                "ce lien a déjà servi"
            ),
        }
    }
}

/// The token, if it may be used for `purpose` at `now`: it exists, was made for this
/// purpose, was never used, and has not expired (it works until just before `expires_at`).
pub fn usable_token(
    token: Option<&OneTimeToken>,
    purpose: TokenPurpose,
    now: Timestamp,
) -> Result<&OneTimeToken, TokenRefusal> {
    let token = token
        .filter(|t| t.purpose == purpose)
        .ok_or(TokenRefusal::Unknown)?;
    if token.used_at.is_some() {
        Err(TokenRefusal::Used)
    } else if now >= token.expires_at {
        Err(TokenRefusal::Expired)
    } else {
        Ok(token)
    }
}

/// The token marked used at `now`, with `user` changed by `change` (version increased):
/// what the store writes in one transaction, so that the token works once.
fn redeem(
    token: &OneTimeToken,
    purpose: TokenPurpose,
    user: &User,
    now: Timestamp,
) -> Result<(OneTimeToken, User), DomainError> {
    let token = usable_token(Some(token), purpose, now)
        .map_err(|refusal| DomainError::conflict(refusal.text()))?;
    if token.user_id != user.id {
        return Err(DomainError::NotFound);
    }
    let mut used = token.clone();
    used.used_at = Some(now);
    let mut next = user.clone();
    // The first proof counts: a later one does not move the date.
    next.email_verified_at.get_or_insert(now);
    next.version += 1;
    Ok((used, next))
}

/// Following the verification link: the address is confirmed. Returns the used token, the
/// user, and the audit event.
pub fn verify_email(
    token: &OneTimeToken,
    user: &User,
    now: Timestamp,
) -> Result<(OneTimeToken, User, AuditEvent), DomainError> {
    let (used, next) = redeem(token, TokenPurpose::VerifyEmail, user, now)?;
    let event = AuditEvent::new(Some(user.id), "user.email_verified", now)
        .subject_user(user.id)
        .before(user)
        .after(&next);
    Ok((used, next, event))
}

/// Following the reset link with a new password: the password must follow
/// [`user::check_password`]; receiving the link also proves the address. The caller hashes
/// the password and ends every session of the user in the same write (whoever knew the
/// old password must not stay signed in).
pub fn reset_password(
    token: &OneTimeToken,
    user: &User,
    new_password: &str,
    now: Timestamp,
) -> Result<(OneTimeToken, User, AuditEvent), DomainError> {
    user::check_password("new_password", new_password)?;
    let (used, next) = redeem(token, TokenPurpose::ResetPassword, user, now)?;
    let event = AuditEvent::new(Some(user.id), "user.password_reset", now)
        .subject_user(user.id)
        .before(user)
        .after(&next);
    Ok((used, next, event))
}

/// Why a user who gave the right password may still not sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefusal {
    #[error("verify your email address first")]
    EmailNotVerified,
}

/// Whether `user`, having given the right password, may sign in: only once their address
/// is verified (users created by an admin are; self-service users after the emailed link).
pub fn may_sign_in(user: &User) -> Result<(), SignInRefusal> {
    match user.email_verified_at {
        Some(_) => Ok(()),
        None => Err(SignInRefusal::EmailNotVerified),
    }
}

/// What someone gives to sign up.
#[derive(Clone, Debug, Default)]
pub struct SignUp {
    pub email: String,
    pub display_name: String,
    pub password: String,
    /// The name of the account (organisation) created with the user, who owns it.
    pub account_name: String,
    pub language: Option<Language>,
    pub time_zone: Option<String>,
}

/// A sign-up: the unverified user, their account, the verification token to email them,
/// and the audit events of all three.
#[derive(Clone, Debug)]
pub struct SignedUp {
    pub user: User,
    pub account: Account,
    pub verification: OneTimeToken,
    pub events: Vec<AuditEvent>,
}

/// The account's name follows the rule of [`crate::account::create_account`] (an admin
/// creating an account), checked against it in the tests.
const ACCOUNT_NAME_MAX_CHARS: usize = 200;

/// Signs someone up: a user with no staff role whose address is not verified yet, and an
/// account they own. Every bad field is listed at once (the password's and the account
/// name's included). Whether the address is already taken is not decided here: the server
/// must answer a taken address exactly like a free one (see the sign-up endpoint).
pub fn sign_up(input: SignUp, now: Timestamp) -> Result<SignedUp, DomainError> {
    let mut problems = Problems::new();
    let user = problems.check(user::validated_user(
        NewUser {
            email: input.email,
            display_name: input.display_name,
            language: input.language,
            time_zone: input.time_zone,
            staff: StaffRoles::default(),
        },
        now,
    ));
    problems.check(user::check_password("password", &input.password));
    let account_name = problems.check(validate::text(
        "account_name",
        &input.account_name,
        1,
        ACCOUNT_NAME_MAX_CHARS,
    ));
    problems.into_result()?;
    let (Some(user), Some(account_name)) = (user, account_name) else {
        unreachable!("Problems is empty only when every check passed")
    };
    let account = Account {
        id: AccountId::generate(),
        name: account_name,
        members: vec![Membership {
            user_id: user.id,
            role: MembershipRole::Owner,
        }],
        provider: None,
        created_at: now,
        version: 1,
    };
    let (verification, sent) = issue_token(TokenPurpose::VerifyEmail, &user, now);
    let events = vec![
        AuditEvent::new(Some(user.id), "user.signed_up", now)
            .subject_user(user.id)
            .after(&user),
        AuditEvent::new(Some(user.id), "account.created", now)
            .subject_account(account.id)
            .after(&account),
        sent,
    ];
    Ok(SignedUp {
        user,
        account,
        verification,
        events,
    })
}

/// How many sign-ins may fail for one email address within [`SIGN_IN_WINDOW`]; the next
/// ones are refused until the window ends, even with the right password.
pub const MAX_FAILED_SIGN_INS: u32 = 5;
/// The throttling window, counted from the first failure.
pub const SIGN_IN_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// Sign-in attempts for one email address in the current window.
///
/// Each attempt is counted *before* its password is checked, and the count is forgotten
/// when an attempt succeeds: so what is counted are failures, and attempts made in parallel
/// cannot all slip through before the first failures are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInAttempts {
    /// When the first attempt of this window was made.
    pub window_started_at: Timestamp,
    /// Attempts since then, the current one included.
    pub count: u32,
}

impl SignInAttempts {
    /// The record after one more attempt at `now` (the reference rule the store's SQL
    /// follows): a new window if there was none or it has ended, else one more attempt.
    pub fn after_attempt(previous: Option<SignInAttempts>, now: Timestamp) -> SignInAttempts {
        match previous {
            Some(p) if now < p.window_ends_at() => SignInAttempts {
                window_started_at: p.window_started_at,
                count: p.count.saturating_add(1),
            },
            _ => SignInAttempts {
                window_started_at: now,
                count: 1,
            },
        }
    }

    pub fn window_ends_at(&self) -> Timestamp {
        later(self.window_started_at, SIGN_IN_WINDOW)
    }

    /// `Some(wait)` if the latest attempt (counted in `self`) is refused: more than
    /// [`MAX_FAILED_SIGN_INS`] in a window that has not ended; `wait` is how long until it
    /// does.
    pub fn refusal(&self, now: Timestamp) -> Option<SignedDuration> {
        let ends = self.window_ends_at();
        (self.count > MAX_FAILED_SIGN_INS && now < ends).then(|| now.duration_until(ends))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::create_account;
    use crate::permissions::Actor;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).expect("valid time")
    }

    fn input() -> SignUp {
        SignUp {
            email: "Ana@Example.com".into(),
            display_name: "Ana".into(),
            password: "long enough pass".into(),
            account_name: "Ana's Cloud".into(),
            language: Some(Language::Fr),
            time_zone: Some("Europe/Paris".into()),
        }
    }

    #[test]
    fn sign_up_makes_an_unverified_owner_and_a_token() {
        let now = t(0);
        let done = sign_up(input(), now).expect("valid");
        assert_eq!(done.user.email.as_str(), "ana@example.com");
        assert_eq!(done.user.email_verified_at, None);
        assert_eq!(done.user.staff, StaffRoles::default());
        assert_eq!(done.account.name, "Ana's Cloud");
        assert_eq!(done.account.owners().collect::<Vec<_>>(), [done.user.id]);
        assert_eq!(done.verification.purpose, TokenPurpose::VerifyEmail);
        assert_eq!(done.verification.user_id, done.user.id);
        assert_eq!(
            done.verification.expires_at,
            later(now, SignedDuration::from_hours(48))
        );
        let actions: Vec<_> = done.events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "user.signed_up",
                "account.created",
                "user.email_verification_sent"
            ]
        );
        assert!(
            done.events[..2]
                .iter()
                .all(|e| e.actor == Some(done.user.id))
        );
        assert_eq!(
            may_sign_in(&done.user),
            Err(SignInRefusal::EmailNotVerified)
        );
    }

    #[test]
    fn sign_up_lists_every_bad_field() {
        let bad = SignUp {
            email: "nope".into(),
            display_name: " ".into(),
            password: "short".into(),
            account_name: "".into(),
            language: None,
            time_zone: Some("Mars/Olympus".into()),
        };
        let Err(DomainError::Invalid(errors)) = sign_up(bad, t(0)) else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "email",
                "display_name",
                "time_zone",
                "password",
                "account_name"
            ]
        );
    }

    #[test]
    fn account_names_follow_the_admins_rule() {
        let admin = Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: true,
                validator: false,
            },
            vec![],
        );
        let names = [
            String::new(),
            "  ".into(),
            "a".into(),
            "x".repeat(200),
            "x".repeat(201),
            "bad\u{7}name".into(),
            "  padded  ".into(),
        ];
        for name in names {
            let by_admin = create_account(&admin, &name, UserId::generate(), t(0));
            let by_sign_up = sign_up(
                SignUp {
                    account_name: name.clone(),
                    ..input()
                },
                t(0),
            );
            assert_eq!(by_admin.is_ok(), by_sign_up.is_ok(), "{name:?}");
            if let (Ok((account, _)), Ok(done)) = (by_admin, by_sign_up) {
                assert_eq!(account.name, done.account.name);
            }
        }
    }

    /// (token, purpose asked, time, expected)
    type Row<'a> = (
        Option<&'a OneTimeToken>,
        TokenPurpose,
        Timestamp,
        Result<(), TokenRefusal>,
    );

    #[test]
    fn tokens_work_once_for_their_purpose_until_they_expire() {
        let user = sign_up(input(), t(0)).expect("valid").user;
        for purpose in TokenPurpose::ALL {
            let (token, event) = issue_token(purpose, &user, t(0));
            assert_eq!(event.actor, None);
            let end = later(t(0), purpose.lifetime());
            assert_eq!(token.expires_at, end);
            let other = match purpose {
                TokenPurpose::VerifyEmail => TokenPurpose::ResetPassword,
                TokenPurpose::ResetPassword => TokenPurpose::VerifyEmail,
            };
            let just_before = end.checked_sub(SignedDuration::from_micros(1)).expect("t");
            let used = OneTimeToken {
                used_at: Some(t(1)),
                ..token.clone()
            };
            let table: [Row<'_>; 6] = [
                (Some(&token), purpose, t(0), Ok(())),
                (Some(&token), purpose, just_before, Ok(())),
                (Some(&token), purpose, end, Err(TokenRefusal::Expired)),
                (Some(&token), other, t(0), Err(TokenRefusal::Unknown)),
                (None, purpose, t(0), Err(TokenRefusal::Unknown)),
                (Some(&used), purpose, t(2), Err(TokenRefusal::Used)),
            ];
            for (i, (token, asked, now, expected)) in table.into_iter().enumerate() {
                assert_eq!(
                    usable_token(token, asked, now).map(|_| ()),
                    expected,
                    "{purpose:?} row {i}"
                );
            }
        }
        assert_eq!(
            TokenPurpose::ResetPassword.lifetime(),
            SignedDuration::from_hours(1)
        );
        assert_eq!(
            TokenPurpose::parse("verify_email"),
            Some(TokenPurpose::VerifyEmail)
        );
        assert_eq!(TokenPurpose::parse("nope"), None);
    }

    #[test]
    fn verifying_confirms_the_address_once() {
        let done = sign_up(input(), t(0)).expect("valid");
        let (used, user, event) =
            verify_email(&done.verification, &done.user, t(60)).expect("verified");
        assert_eq!(used.used_at, Some(t(60)));
        assert_eq!(user.email_verified_at, Some(t(60)));
        assert_eq!(user.version, done.user.version + 1);
        assert_eq!(event.action, "user.email_verified");
        assert_eq!(may_sign_in(&user), Ok(()));
        // The used token is refused; a reset token is no verification token.
        assert!(matches!(
            verify_email(&used, &user, t(61)),
            Err(DomainError::Conflict(_))
        ));
        let (reset, _) = issue_token(TokenPurpose::ResetPassword, &user, t(0));
        assert!(verify_email(&reset, &user, t(1)).is_err());
        // Another user's token does not verify this one.
        let other = sign_up(
            SignUp {
                email: "bo@example.com".into(),
                ..input()
            },
            t(0),
        )
        .expect("valid");
        assert_eq!(
            verify_email(&other.verification, &done.user, t(1)).map(|_| ()),
            Err(DomainError::NotFound)
        );
    }

    #[test]
    fn resetting_checks_the_password_and_proves_the_address() {
        let done = sign_up(input(), t(0)).expect("valid");
        let (token, _) = issue_token(TokenPurpose::ResetPassword, &done.user, t(0));
        let Err(DomainError::Invalid(errors)) = reset_password(&token, &done.user, "short", t(1))
        else {
            panic!("a short password is refused")
        };
        assert_eq!(errors[0].field, "new_password");
        let (used, user, event) =
            reset_password(&token, &done.user, "another long one", t(1)).expect("reset");
        assert_eq!(used.used_at, Some(t(1)));
        assert_eq!(user.email_verified_at, Some(t(1)));
        assert_eq!(event.action, "user.password_reset");
        // An already verified address keeps its first date.
        let (token, _) = issue_token(TokenPurpose::ResetPassword, &user, t(2));
        let (_, again, _) = reset_password(&token, &user, "a third long one", t(3)).expect("ok");
        assert_eq!(again.email_verified_at, Some(t(1)));
        // Expired.
        let (token, _) = issue_token(TokenPurpose::ResetPassword, &user, t(0));
        assert!(matches!(
            reset_password(&token, &user, "another long one", t(3600)),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn five_failures_in_fifteen_minutes_then_wait_for_the_window() {
        let mut record = None;
        // Five attempts within the window are let through (their passwords are checked).
        for minute in 0..5 {
            let now = t(minute * 60);
            let next = SignInAttempts::after_attempt(record, now);
            assert_eq!(next.refusal(now), None, "attempt {}", minute + 1);
            record = Some(next);
        }
        // The sixth, at minute 14, is refused until the window started at 0 ends.
        let now = t(14 * 60);
        let sixth = SignInAttempts::after_attempt(record, now);
        assert_eq!(sixth.count, 6);
        assert_eq!(sixth.refusal(now), Some(SignedDuration::from_mins(1)));
        // Just before the end: still refused; at the end, a new window.
        let almost = t(15 * 60 - 1);
        let seventh = SignInAttempts::after_attempt(Some(sixth), almost);
        assert_eq!(seventh.refusal(almost), Some(SignedDuration::from_secs(1)));
        let fresh = SignInAttempts::after_attempt(Some(seventh), t(15 * 60));
        assert_eq!(
            fresh,
            SignInAttempts {
                window_started_at: t(15 * 60),
                count: 1
            }
        );
        assert_eq!(fresh.refusal(t(15 * 60)), None);
    }

    #[test]
    fn failures_spread_over_more_than_the_window_are_not_throttled() {
        let mut record = None;
        for i in 0..20 {
            // One attempt every four minutes: a window never holds more than four.
            let now = t(i * 4 * 60);
            let next = SignInAttempts::after_attempt(record, now);
            assert_eq!(next.refusal(now), None, "attempt {i}");
            record = Some(next);
        }
    }
}
