//! Which emails a change causes, and to whom (PRODUCT.md, "Emails"). Handlers and the
//! scheduler call one function here per change; each returns the rendered emails (one per
//! recipient, in the recipient's language and time zone, threaded per submission) that the
//! store then writes to the outbox in the same transaction as the change.

use vitrine_domain::calendar::Session;
use vitrine_domain::go_live::Submission;
use vitrine_domain::review::{RequirementSet, VerdictOutcome};
use vitrine_domain::submission::{Decision, SubmissionState};
use vitrine_domain::{Account, Language, Localized, Offering, Timestamp, User, UserId};
use vitrine_inbound::reply_address::{ReplyKey, ReplyPattern};
use vitrine_mail::{
    AppealDecided, AppealReceived, Assignment, ChangesRequested, DatesMoved, DatesMovedReason,
    DecisionApproved, DecisionOverdue, DecisionRejected, Email, Mailbox, OutgoingEmail,
    PasswordReset, PublicationScheduled, Published, RenderContext, SessionAssignments,
    SignUpAttemptExisting, SubmissionQueued, SubmissionRef, ThreadMessage, ThreadSide,
    UnmetRequirement, Unpublished, VerifyEmail,
};
use vitrine_store::{NewEmail, ReplyKeyGrant};

pub use vitrine_mail::{InboundRefused, RefusalAnswer};

use crate::Services;
use crate::{JobError, JobResult};

/// Who the emails come from and where their links lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    /// `Name <address>`; its domain also makes the Message-IDs.
    pub from: String,
    /// The server's public address, for links.
    pub base_url: String,
    pub marketplace_name: String,
    /// The inbound address pattern (`reply+{key}@mail.example.com`): when set, every email
    /// of a submission's thread carries a `Reply-To` with a key of its own, bound to its
    /// recipient and the thread; without it, emails carry no reply address.
    pub reply_to: Option<ReplyPattern>,
}

/// A rendered email, with the reply key its `Reply-To` carries (stored, hashed, with the
/// email: `NewEmail::with_reply_key`).
#[derive(Clone, Debug)]
pub struct Notice {
    pub email: OutgoingEmail,
    pub reply_key: Option<ReplyKeyGrant>,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            from: "vitrine <noreply@vitrine.localhost>".to_owned(),
            base_url: "http://127.0.0.1:8080".to_owned(),
            marketplace_name: "vitrine".to_owned(),
            reply_to: None,
        }
    }
}

/// A submission with what its emails name.
pub struct About<'a> {
    pub submission: &'a Submission,
    pub offering: &'a Offering,
    pub provider: &'a Account,
}

impl About<'_> {
    fn reference(&self, lang: Language) -> SubmissionRef {
        SubmissionRef {
            submission_id: self.submission.id.0,
            offering_name: self.offering.name.as_str().to_owned(),
            offering_title: localized(&self.offering.display_name, lang),
            provider_name: self.provider.name.clone(),
        }
    }

    fn round(&self) -> u32 {
        self.submission.current_round().number
    }
}

fn localized(text: &Localized, lang: Language) -> String {
    match (lang, &text.fr) {
        (Language::Fr, Some(fr)) => fr.clone(),
        _ => text.en.clone(),
    }
}

/// Renders `email` (made in each reader's language) for each recipient.
fn each(
    settings: &MailSettings,
    recipients: &[User],
    email: impl Fn(Language) -> Email,
) -> JobResult<Vec<Notice>> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| JobError::internal("the configured sender address is invalid", e))?;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for user in recipients.iter().filter(|u| seen.insert(u.id)) {
        let email = email(user.language);
        let ctx = RenderContext {
            base_url: settings.base_url.clone(),
            marketplace_name: settings.marketplace_name.clone(),
            recipient_name: user.display_name.clone(),
            recipient_time_zone: user.time_zone.clone(),
        };
        let rendered = vitrine_mail::render(&email, user.language, &ctx)
            .map_err(|e| JobError::internal("rendering an email failed", e))?;
        let to = Mailbox::new(
            Some(user.display_name.clone()),
            user.email
                .as_str()
                .parse()
                .map_err(|e| JobError::internal("a recipient address is invalid", e))?,
        );
        let mut builder = OutgoingEmail::builder(from.clone(), rendered)
            .to(to)
            .thread(email.thread());
        // A reply address per recipient and thread: the key is this email's own, so a
        // leaked address reveals one recipient of one thread, and revoking is per person.
        let mut reply_key = None;
        if let (Some(pattern), Some(submission)) = (&settings.reply_to, email.submission()) {
            let key = ReplyKey::from_bytes(rand::random());
            let address = pattern
                .address_for(&key)
                .parse()
                .map_err(|e| JobError::internal("a reply address is invalid", e))?;
            builder = builder.reply_to(Mailbox::new(
                Some(settings.marketplace_name.clone()),
                address,
            ));
            reply_key = Some(ReplyKeyGrant {
                hash: key.hash(),
                user_id: user.id,
                submission_id: vitrine_domain::SubmissionId(submission.submission_id),
            });
        }
        let message = builder
            .build()
            .map_err(|e| JobError::internal("building an email failed", e))?;
        out.push(Notice {
            email: message,
            reply_key,
        });
    }
    Ok(out)
}

/// A round joined the queue: its provider's members learn the dates and position.
pub fn queued(
    settings: &MailSettings,
    about: &About<'_>,
    session: &Session,
    position: u32,
    members: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, members, |lang| {
        Email::SubmissionQueued(SubmissionQueued {
            submission: about.reference(lang),
            round: about.round(),
            review_date: session.review_date,
            decision_date: session.decision_date,
            queue_position: position,
        })
    })
}

/// A queued submission's dates moved: its provider's members are told.
pub fn dates_moved(
    settings: &MailSettings,
    about: &About<'_>,
    reason: DatesMovedReason,
    old: &Session,
    new: &Session,
    position: u32,
    members: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, members, |lang| {
        Email::DatesMoved(DatesMoved {
            submission: about.reference(lang),
            reason,
            old_review_date: old.review_date,
            old_decision_date: old.decision_date,
            new_review_date: new.review_date,
            new_decision_date: new.decision_date,
            queue_position: position,
        })
    })
}

/// A session opened: one email per validator, listing their new assignments.
pub fn assignments(
    settings: &MailSettings,
    validator: &User,
    session: &Session,
    assigned: &[About<'_>],
) -> JobResult<Vec<Notice>> {
    each(settings, std::slice::from_ref(validator), |lang| {
        Email::SessionOpenedAssignments(SessionAssignments {
            review_date: session.review_date,
            decision_date: session.decision_date,
            assignments: assigned
                .iter()
                .map(|a| Assignment {
                    submission: a.reference(lang),
                    round: a.round(),
                })
                .collect(),
        })
    })
}

/// A message in the thread reaches the other side: the provider's members when staff
/// wrote, the assigned validator (or, before one is assigned, the admins) when the provider
/// did. The caller passes that side's users.
pub fn thread_message(
    settings: &MailSettings,
    about: &About<'_>,
    author: &User,
    from_provider: bool,
    text: &str,
    at: Timestamp,
    other_side: &[User],
) -> JobResult<Vec<Notice>> {
    let recipients: Vec<User> = other_side
        .iter()
        .filter(|u| u.id != author.id)
        .cloned()
        .collect();
    each(settings, &recipients, |lang| {
        Email::ThreadMessage(ThreadMessage {
            submission: about.reference(lang),
            author_name: author.display_name.clone(),
            author_side: if from_provider {
                ThreadSide::Provider
            } else {
                ThreadSide::Marketplace
            },
            text: text.to_owned(),
            sent_at: at,
        })
    })
}

/// A decision released on decision day: changes requested (with every unmet requirement
/// and its comment, in the reader's language), approved or rejected.
pub fn decision_released(
    settings: &MailSettings,
    about: &About<'_>,
    requirements: &RequirementSet,
    validator: Option<&User>,
    members: &[User],
) -> JobResult<Vec<Notice>> {
    let round = about.submission.current_round();
    let Some(decision) = round.decision.as_ref() else {
        return Ok(vec![]);
    };
    let validator_name = validator
        .map(|v| v.display_name.clone())
        .unwrap_or_default();
    each(settings, members, |lang| {
        let submission = about.reference(lang);
        match decision.decision {
            Decision::RequestChanges => Email::DecisionChangesRequested(ChangesRequested {
                submission,
                round: round.number,
                validator_name: validator_name.clone(),
                unmet: decision
                    .verdicts
                    .iter()
                    .filter(|v| v.outcome == VerdictOutcome::NotMet)
                    .map(|v| UnmetRequirement {
                        title: requirements
                            .requirements
                            .iter()
                            .find(|r| r.key == v.requirement)
                            .map(|r| localized(&r.title, lang))
                            .unwrap_or_else(|| v.requirement.clone()),
                        comment: v.comment.clone().unwrap_or_default(),
                    })
                    .collect(),
            }),
            Decision::Approve => Email::DecisionApproved(DecisionApproved {
                submission,
                round: round.number,
                validator_name: validator_name.clone(),
                requested_go_live: round.requested_go_live,
            }),
            Decision::Reject => Email::DecisionRejected(DecisionRejected {
                submission,
                round: round.number,
                validator_name: validator_name.clone(),
                reason: decision.reason.clone().unwrap_or_default(),
            }),
        }
    })
}

/// A provider appealed a rejection: the admins and the validators who did not decide it
/// (who may hear it) are told.
pub fn appeal_received(
    settings: &MailSettings,
    about: &About<'_>,
    round: u32,
    appellant: &User,
    reason: &str,
    staff: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, staff, |lang| {
        Email::AppealReceived(AppealReceived {
            submission: about.reference(lang),
            round,
            appellant_name: appellant.display_name.clone(),
            reason: reason.to_owned(),
        })
    })
}

/// An appeal was heard: the provider's members learn whether the rejection stands.
pub fn appeal_decided(
    settings: &MailSettings,
    about: &About<'_>,
    round: u32,
    upheld: bool,
    answer: Option<&str>,
    members: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, members, |lang| {
        Email::AppealDecided(AppealDecided {
            submission: about.reference(lang),
            round,
            upheld,
            answer: answer.map(str::to_owned),
        })
    })
}

/// A decision not recorded by the end of decision day: the admins are alerted.
pub fn overdue(
    settings: &MailSettings,
    about: &About<'_>,
    session: &Session,
    validator: Option<&User>,
    admins: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, admins, |lang| {
        Email::DecisionOverdue(DecisionOverdue {
            submission: about.reference(lang),
            round: about.round(),
            validator_name: validator.map(|v| v.display_name.clone()),
            decision_date: session.decision_date,
        })
    })
}

/// Publication scheduled, done, or undone: the provider's members are told.
pub fn publication(
    settings: &MailSettings,
    about: &About<'_>,
    at: Timestamp,
    unpublished_reason: Option<&str>,
    members: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, members, |lang| {
        let submission = about.reference(lang);
        match (unpublished_reason, about.submission.state) {
            (Some(reason), _) => Email::Unpublished(Unpublished {
                submission,
                reason: reason.to_owned(),
                unpublished_at: at,
            }),
            (None, SubmissionState::Published) => Email::Published(Published {
                submission,
                published_at: at,
            }),
            (None, _) => Email::PublicationScheduled(PublicationScheduled {
                submission,
                publish_at: at,
            }),
        }
    })
}

/// An email about the reader's own account (not threaded), as an outbox row; one that
/// carries a one-time link is marked so the outbox hides it and drops it once sent.
fn to_own_address(
    settings: &MailSettings,
    user: &User,
    email: Email,
    now: Timestamp,
) -> JobResult<NewEmail> {
    let holds_secret = email.holds_secret();
    let rendered = each(settings, std::slice::from_ref(user), |_| email.clone())?;
    let message = rendered
        .into_iter()
        .next()
        .map(|notice| notice.email)
        .ok_or_else(|| JobError::internal("rendering an email", "no email was rendered"))?;
    let row = NewEmail::new(
        user.email.as_str(),
        message.subject.clone(),
        None,
        &message,
        now,
    )
    .map_err(|e| JobError::internal("writing an email to the outbox failed", e))?;
    Ok(if holds_secret {
        row.holding_secret()
    } else {
        row
    })
}

/// Sign-up, or a new link asked for: the link that confirms the user's address.
pub fn verify_email(
    settings: &MailSettings,
    user: &User,
    token: &str,
    account_name: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> JobResult<NewEmail> {
    let email = Email::VerifyEmail(VerifyEmail {
        token: token.to_owned(),
        account_name: account_name.to_owned(),
        expires_at,
    });
    to_own_address(settings, user, email, now)
}

/// A password reset asked for: the link to choose a new password.
pub fn password_reset(
    settings: &MailSettings,
    user: &User,
    token: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> JobResult<NewEmail> {
    let email = Email::PasswordReset(PasswordReset {
        token: token.to_owned(),
        expires_at,
    });
    to_own_address(settings, user, email, now)
}

/// Someone tried to sign up with the address of an existing user: that user is told.
pub fn sign_up_attempt(
    settings: &MailSettings,
    user: &User,
    now: Timestamp,
) -> JobResult<NewEmail> {
    let email = Email::SignUpAttemptExisting(SignUpAttemptExisting { attempted_at: now });
    to_own_address(settings, user, email, now)
}

/// A webhook endpoint disabled after a day of failures: its managers are told (an
/// account's owners, or the admins for the marketplace's endpoint).
pub fn webhook_disabled(
    settings: &MailSettings,
    disabled: &vitrine_mail::WebhookDisabled,
    managers: &[User],
) -> JobResult<Vec<Notice>> {
    each(settings, managers, |_| {
        Email::WebhookDisabled(disabled.clone())
    })
}

/// The users of an account's memberships (the provider's members).
pub async fn members(services: &Services, account: &Account) -> JobResult<Vec<User>> {
    let mut users = Vec::with_capacity(account.members.len());
    for membership in &account.members {
        if let Some(user) = services.store.user(membership.user_id).await? {
            users.push(user);
        }
    }
    Ok(users)
}

/// Staff users matching `keep` (admins, validators), read page by page.
pub async fn staff(services: &Services, keep: impl Fn(&User) -> bool) -> JobResult<Vec<User>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = services.store.list_users(after.as_deref(), 500).await?;
        let last = page.last().map(|u| u.email.as_str().to_owned());
        out.extend(page.into_iter().filter(|u| keep(u)));
        match last {
            Some(email) => after = Some(email),
            None => return Ok(out),
        }
    }
}

/// One user by id, if they still exist.
pub async fn user(services: &Services, id: Option<UserId>) -> JobResult<Option<User>> {
    match id {
        Some(id) => Ok(services.store.user(id).await?),
        None => Ok(None),
    }
}

/// The polite answer to the sender of a refused email (`vitrine-ingest` decides when one
/// is due). It goes to `address`; `user` is the person with that address, when there is
/// one: their name, language and time zone. Anyone else reads it in `language` (the refused
/// message's, else English) and in UTC. It answers the refused message (`In-Reply-To` its
/// Message-ID, `Auto-Submitted: auto-replied`) and carries no reply address.
pub fn inbound_refused(
    settings: &MailSettings,
    address: &str,
    user: Option<&User>,
    language: Language,
    answer: InboundRefused,
    answering: &str,
    now: Timestamp,
) -> JobResult<NewEmail> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| JobError::internal("the configured sender address is invalid", e))?;
    let language = user.map_or(language, |u| u.language);
    let ctx = RenderContext {
        base_url: settings.base_url.clone(),
        marketplace_name: settings.marketplace_name.clone(),
        recipient_name: user.map_or_else(|| address.to_owned(), |u| u.display_name.clone()),
        recipient_time_zone: user.map_or_else(|| "UTC".to_owned(), |u| u.time_zone.clone()),
    };
    let email = Email::InboundRefused(answer);
    let rendered = vitrine_mail::render(&email, language, &ctx)
        .map_err(|e| JobError::internal("rendering an answer to a refused email failed", e))?;
    let to = Mailbox::new(
        user.map(|u| u.display_name.clone()),
        address
            .parse()
            .map_err(|e| JobError::internal("the refused email's sender is invalid", e))?,
    );
    let message = OutgoingEmail::builder(from, rendered)
        .to(to)
        .answering(answering)
        .build()
        .map_err(|e| JobError::internal("building an answer to a refused email failed", e))?;
    NewEmail::new(address, message.subject.clone(), None, &message, now)
        .map_err(|e| JobError::internal("writing an email to the outbox failed", e))
}
