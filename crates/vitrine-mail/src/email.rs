//! What each email says: one variant per email of PRODUCT.md's table, each carrying plain
//! data (strings, dates, numbers) that the caller has already put in the recipient's
//! language where it has a choice (an offering's display name, say).
//!
//! Calendar days ([`Date`]) are the marketplace's days: a review on Tuesday is on Tuesday
//! wherever the reader lives, so they are shown as they are. Instants ([`Timestamp`]) are
//! shown in the reader's time zone.

use crate::thread::ThreadKey;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use uuid::Uuid;

/// The account an application to become a provider belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplicationRef {
    pub account_id: Uuid,
    pub account_name: String,
    /// The legal name given in the application.
    pub legal_name: String,
}

/// The submission an email is about: names its thread and its page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubmissionRef {
    pub submission_id: Uuid,
    /// The offering's programmatic name, as in its address (`postgres-plus`).
    pub offering_name: String,
    /// The offering's display name, in the recipient's language.
    pub offering_title: String,
    /// The provider account's name.
    pub provider_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplicationReceived {
    pub application: ApplicationRef,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplicationApproved {
    pub application: ApplicationRef,
    /// The admin's optional word with the approval.
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplicationRejected {
    pub application: ApplicationRef,
    pub reason: String,
}

/// A round joined the queue: when it will be reviewed and decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubmissionQueued {
    pub submission: SubmissionRef,
    /// 1 for a first submission, 2 and more for resubmissions.
    pub round: u32,
    pub review_date: Date,
    pub decision_date: Date,
    /// 1-based position in the session's queue.
    pub queue_position: u32,
}

/// Why a queued submission's dates moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatesMovedReason {
    /// A holiday fell on the review or decision day.
    Holiday,
    /// The session was full; the submission moved to a later one.
    Capacity,
    /// The queue ahead of it changed: a submission joined it ahead (resubmissions go
    /// first) or one ahead left it (withdrawn, or a validator's capacity went with them).
    Queue,
    /// The marketplace changed its review calendar.
    CalendarChange,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatesMoved {
    pub submission: SubmissionRef,
    pub reason: DatesMovedReason,
    pub old_review_date: Date,
    pub old_decision_date: Date,
    pub new_review_date: Date,
    pub new_decision_date: Date,
    pub queue_position: u32,
}

/// One submission assigned to a validator when a session opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub submission: SubmissionRef,
    pub round: u32,
}

/// A session opened: the validator's assignments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionAssignments {
    pub review_date: Date,
    pub decision_date: Date,
    pub assignments: Vec<Assignment>,
}

/// Which side of a submission's thread wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadSide {
    /// A member of the provider account.
    Provider,
    /// A validator or an admin.
    Marketplace,
}

/// A message in a submission's thread, sent to the other side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadMessage {
    pub submission: SubmissionRef,
    pub author_name: String,
    pub author_side: ThreadSide,
    /// The whole message: the email is where most readers will read it.
    pub text: String,
    pub sent_at: Timestamp,
}

/// A requirement the recording did not meet, with the validator's comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmetRequirement {
    /// In the recipient's language.
    pub title: String,
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangesRequested {
    pub submission: SubmissionRef,
    pub round: u32,
    pub validator_name: String,
    pub unmet: Vec<UnmetRequirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionApproved {
    pub submission: SubmissionRef,
    pub round: u32,
    pub validator_name: String,
    /// The go-live date the provider asked for, if any.
    pub requested_go_live: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionRejected {
    pub submission: SubmissionRef,
    pub round: u32,
    pub validator_name: String,
    pub reason: String,
}

/// To admins and the validators who did not decide: a provider appealed a rejection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppealReceived {
    pub submission: SubmissionRef,
    pub round: u32,
    /// Who appealed (a member of the provider account).
    pub appellant_name: String,
    pub reason: String,
}

/// To the provider's members: their appeal was heard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppealDecided {
    pub submission: SubmissionRef,
    pub round: u32,
    /// `true`: the rejection stands; `false`: the submission is back in the queue.
    pub upheld: bool,
    /// The answer of the admin or validator who heard it (required to uphold).
    pub answer: Option<String>,
}

/// To admins: a decision was not recorded by the end of its decision day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionOverdue {
    pub submission: SubmissionRef,
    pub round: u32,
    /// The assigned validator, if one was assigned.
    pub validator_name: Option<String>,
    pub decision_date: Date,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicationScheduled {
    pub submission: SubmissionRef,
    pub publish_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Published {
    pub submission: SubmissionRef,
    pub published_at: Timestamp,
}

/// An admin took a public offering back to limited visibility. It belongs to the thread of
/// the submission that published it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unpublished {
    pub submission: SubmissionRef,
    pub reason: String,
    pub unpublished_at: Timestamp,
}

/// To someone who signed up: the link that confirms their address (and so lets them sign
/// in). Holds a one-time secret: the outbox hides it and drops it once sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyEmail {
    /// The one-time secret the link carries.
    pub token: String,
    /// The account created with the user.
    pub account_name: String,
    /// The link works until then.
    pub expires_at: Timestamp,
}

/// To a user who asked to reset their password: the link to choose a new one. Holds a
/// one-time secret, like [`VerifyEmail`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PasswordReset {
    pub token: String,
    pub expires_at: Timestamp,
}

/// To a user whose address someone tried to sign up with: they may have forgotten they
/// have an account. The sign-up itself answers as if the address were new, so that it does
/// not tell who has an account; this email tells the address's owner instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignUpAttemptExisting {
    pub attempted_at: Timestamp,
}

/// Why an emailed message was not taken, as its sender is told. The words say no more than
/// the sender knows already: every address problem (none of our reply addresses, a key we
/// never issued or revoked, a writer who no longer takes part) reads the same, so an answer
/// tells nobody which addresses, people or submissions exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalAnswer {
    /// The address it went to takes no message from the sender.
    NotAccepted,
    /// Larger than the largest message taken.
    TooLarge,
    /// Nothing new above the quoted history, and no recording.
    Empty,
    /// The submission is closed (the sender took part in it, so may be told).
    Closed,
}

/// To the sender of an email that was not taken: why, and where to go instead. Sent at
/// most once an hour to an address, never to automatic mail, and it repeats nothing the
/// message said (not even its subject: a forged sender would make it carry spam).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboundRefused {
    pub reason: RefusalAnswer,
    /// When the refused message arrived, so the sender knows which one it was.
    pub received_at: Timestamp,
    /// The largest message taken, in MiB (for `TooLarge`).
    pub max_megabytes: u64,
    /// The submission whose page to go to, only when the sender is its verified
    /// participant (a closed submission, an empty reply).
    pub submission_id: Option<Uuid>,
}

/// To the owners of a webhook endpoint (an account's owners, or the admins for the
/// marketplace's) that vitrine disabled after a delivery failed for a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookDisabled {
    pub endpoint_id: Uuid,
    /// The owning account (`None`: the marketplace's endpoint).
    pub account_id: Option<Uuid>,
    pub account_name: Option<String>,
    pub url: String,
    /// The last failure, as vitrine saw it (a status or a transport error).
    pub reason: String,
    pub disabled_at: Timestamp,
}

/// Every email vitrine sends.
///
/// Serialized untagged, so a template sees the variant's fields at the top level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Email {
    ProviderApplicationReceived(ApplicationReceived),
    ProviderApplicationApproved(ApplicationApproved),
    ProviderApplicationRejected(ApplicationRejected),
    SubmissionQueued(SubmissionQueued),
    DatesMoved(DatesMoved),
    SessionOpenedAssignments(SessionAssignments),
    ThreadMessage(ThreadMessage),
    DecisionChangesRequested(ChangesRequested),
    DecisionApproved(DecisionApproved),
    DecisionRejected(DecisionRejected),
    AppealReceived(AppealReceived),
    AppealDecided(AppealDecided),
    DecisionOverdue(DecisionOverdue),
    PublicationScheduled(PublicationScheduled),
    Published(Published),
    Unpublished(Unpublished),
    VerifyEmail(VerifyEmail),
    PasswordReset(PasswordReset),
    SignUpAttemptExisting(SignUpAttemptExisting),
    InboundRefused(InboundRefused),
    WebhookDisabled(WebhookDisabled),
}

/// The kind of an [`Email`], without its data: names its templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmailKind {
    ProviderApplicationReceived,
    ProviderApplicationApproved,
    ProviderApplicationRejected,
    SubmissionQueued,
    DatesMoved,
    SessionOpenedAssignments,
    ThreadMessage,
    DecisionChangesRequested,
    DecisionApproved,
    DecisionRejected,
    AppealReceived,
    AppealDecided,
    DecisionOverdue,
    PublicationScheduled,
    Published,
    Unpublished,
    VerifyEmail,
    PasswordReset,
    SignUpAttemptExisting,
    InboundRefused,
    WebhookDisabled,
}

impl EmailKind {
    pub const ALL: [EmailKind; 21] = [
        EmailKind::ProviderApplicationReceived,
        EmailKind::ProviderApplicationApproved,
        EmailKind::ProviderApplicationRejected,
        EmailKind::SubmissionQueued,
        EmailKind::DatesMoved,
        EmailKind::SessionOpenedAssignments,
        EmailKind::ThreadMessage,
        EmailKind::DecisionChangesRequested,
        EmailKind::DecisionApproved,
        EmailKind::DecisionRejected,
        EmailKind::AppealReceived,
        EmailKind::AppealDecided,
        EmailKind::DecisionOverdue,
        EmailKind::PublicationScheduled,
        EmailKind::Published,
        EmailKind::Unpublished,
        EmailKind::VerifyEmail,
        EmailKind::PasswordReset,
        EmailKind::SignUpAttemptExisting,
        EmailKind::InboundRefused,
        EmailKind::WebhookDisabled,
    ];

    /// The directory of its templates under `templates/<lang>/`; also a stable name for
    /// the outbox and logs.
    pub fn name(self) -> &'static str {
        match self {
            EmailKind::ProviderApplicationReceived => "provider_application_received",
            EmailKind::ProviderApplicationApproved => "provider_application_approved",
            EmailKind::ProviderApplicationRejected => "provider_application_rejected",
            EmailKind::SubmissionQueued => "submission_queued",
            EmailKind::DatesMoved => "dates_moved",
            EmailKind::SessionOpenedAssignments => "session_opened_assignments",
            EmailKind::ThreadMessage => "thread_message",
            EmailKind::DecisionChangesRequested => "decision_changes_requested",
            EmailKind::DecisionApproved => "decision_approved",
            EmailKind::DecisionRejected => "decision_rejected",
            EmailKind::AppealReceived => "appeal_received",
            EmailKind::AppealDecided => "appeal_decided",
            EmailKind::DecisionOverdue => "decision_overdue",
            EmailKind::PublicationScheduled => "publication_scheduled",
            EmailKind::Published => "published",
            EmailKind::Unpublished => "unpublished",
            EmailKind::VerifyEmail => "verify_email",
            EmailKind::PasswordReset => "password_reset",
            EmailKind::SignUpAttemptExisting => "sign_up_attempt_existing",
            EmailKind::InboundRefused => "inbound_refused",
            EmailKind::WebhookDisabled => "webhook_disabled",
        }
    }
}

/// Web pages the emails link to, relative to the server's base URL. Kept here, in one
/// place, so the web pages and the emails can be checked against each other.
pub mod paths {
    use uuid::Uuid;

    pub fn provider_application(account_id: Uuid) -> String {
        format!("/accounts/{account_id}/provider-application")
    }
    pub fn submission(submission_id: Uuid) -> String {
        format!("/submissions/{submission_id}")
    }
    pub fn submission_thread(submission_id: Uuid) -> String {
        format!("/submissions/{submission_id}#thread")
    }
    pub fn offering(offering_name: &str) -> String {
        format!("/offerings/{offering_name}")
    }
    pub const REVIEW_ASSIGNMENTS: &str = "/review/assignments";
    /// An account's webhook endpoints, or the marketplace's (`None`).
    pub fn webhooks(account_id: Option<Uuid>) -> String {
        match account_id {
            Some(id) => format!("/accounts/{id}/webhooks"),
            None => "/admin/webhooks".to_owned(),
        }
    }
    /// The sign-in page.
    pub const SIGN_IN: &str = "/sign-in";

    /// The page that confirms an address with the token (it calls
    /// `POST /api/v1/auth/verify-email`). Tokens are base64url: no escaping needed.
    pub fn verify_email(token: &str) -> String {
        format!("/verify-email?token={token}")
    }
    /// The page that sets a new password with the token (it calls
    /// `POST /api/v1/auth/password-reset/confirm`).
    pub fn reset_password(token: &str) -> String {
        format!("/reset-password?token={token}")
    }
}

impl Email {
    /// Whether the email carries a one-time secret (a link that signs in or sets a
    /// password): the outbox must not show it to admins nor keep it once sent.
    pub fn holds_secret(&self) -> bool {
        matches!(self, Email::VerifyEmail(_) | Email::PasswordReset(_))
    }

    pub fn kind(&self) -> EmailKind {
        match self {
            Email::ProviderApplicationReceived(_) => EmailKind::ProviderApplicationReceived,
            Email::ProviderApplicationApproved(_) => EmailKind::ProviderApplicationApproved,
            Email::ProviderApplicationRejected(_) => EmailKind::ProviderApplicationRejected,
            Email::SubmissionQueued(_) => EmailKind::SubmissionQueued,
            Email::DatesMoved(_) => EmailKind::DatesMoved,
            Email::SessionOpenedAssignments(_) => EmailKind::SessionOpenedAssignments,
            Email::ThreadMessage(_) => EmailKind::ThreadMessage,
            Email::DecisionChangesRequested(_) => EmailKind::DecisionChangesRequested,
            Email::DecisionApproved(_) => EmailKind::DecisionApproved,
            Email::DecisionRejected(_) => EmailKind::DecisionRejected,
            Email::AppealReceived(_) => EmailKind::AppealReceived,
            Email::AppealDecided(_) => EmailKind::AppealDecided,
            Email::DecisionOverdue(_) => EmailKind::DecisionOverdue,
            Email::PublicationScheduled(_) => EmailKind::PublicationScheduled,
            Email::Published(_) => EmailKind::Published,
            Email::Unpublished(_) => EmailKind::Unpublished,
            Email::VerifyEmail(_) => EmailKind::VerifyEmail,
            Email::PasswordReset(_) => EmailKind::PasswordReset,
            Email::SignUpAttemptExisting(_) => EmailKind::SignUpAttemptExisting,
            Email::InboundRefused(_) => EmailKind::InboundRefused,
            Email::WebhookDisabled(_) => EmailKind::WebhookDisabled,
        }
    }

    /// The submission this email is about, if it is about one.
    pub fn submission(&self) -> Option<&SubmissionRef> {
        match self {
            Email::ProviderApplicationReceived(_)
            | Email::ProviderApplicationApproved(_)
            | Email::ProviderApplicationRejected(_)
            | Email::SessionOpenedAssignments(_)
            | Email::VerifyEmail(_)
            | Email::PasswordReset(_)
            | Email::SignUpAttemptExisting(_)
            | Email::WebhookDisabled(_)
            // Not the submission's thread even when it names one: an answer carries no
            // reply address and starts no conversation.
            | Email::InboundRefused(_) => None,
            Email::SubmissionQueued(e) => Some(&e.submission),
            Email::DatesMoved(e) => Some(&e.submission),
            Email::ThreadMessage(e) => Some(&e.submission),
            Email::DecisionChangesRequested(e) => Some(&e.submission),
            Email::DecisionApproved(e) => Some(&e.submission),
            Email::DecisionRejected(e) => Some(&e.submission),
            Email::AppealReceived(e) => Some(&e.submission),
            Email::AppealDecided(e) => Some(&e.submission),
            Email::DecisionOverdue(e) => Some(&e.submission),
            Email::PublicationScheduled(e) => Some(&e.submission),
            Email::Published(e) => Some(&e.submission),
            Email::Unpublished(e) => Some(&e.submission),
        }
    }

    /// The thread this email belongs to: the submission's, if it is about one. An email
    /// about several submissions (a validator's assignments) or about the reader's own
    /// account (verification, password reset) starts no thread.
    pub fn thread(&self) -> Option<ThreadKey> {
        self.submission()
            .map(|submission| ThreadKey::submission(submission.submission_id))
    }

    /// The page the email links to, relative to the base URL.
    pub fn path(&self) -> String {
        match self {
            Email::ProviderApplicationReceived(ApplicationReceived { application })
            | Email::ProviderApplicationApproved(ApplicationApproved { application, .. })
            | Email::ProviderApplicationRejected(ApplicationRejected { application, .. }) => {
                paths::provider_application(application.account_id)
            }
            Email::SessionOpenedAssignments(_) => paths::REVIEW_ASSIGNMENTS.to_owned(),
            Email::VerifyEmail(e) => paths::verify_email(&e.token),
            Email::PasswordReset(e) => paths::reset_password(&e.token),
            Email::SignUpAttemptExisting(_) => paths::SIGN_IN.to_owned(),
            Email::WebhookDisabled(e) => paths::webhooks(e.account_id),
            Email::InboundRefused(e) => match e.submission_id {
                Some(id) => paths::submission(id),
                None => paths::SIGN_IN.to_owned(),
            },
            Email::ThreadMessage(e) => paths::submission_thread(e.submission.submission_id),
            Email::Published(Published { submission, .. })
            | Email::Unpublished(Unpublished { submission, .. }) => {
                paths::offering(&submission.offering_name)
            }
            Email::SubmissionQueued(SubmissionQueued { submission, .. })
            | Email::DatesMoved(DatesMoved { submission, .. })
            | Email::DecisionChangesRequested(ChangesRequested { submission, .. })
            | Email::DecisionApproved(DecisionApproved { submission, .. })
            | Email::DecisionRejected(DecisionRejected { submission, .. })
            | Email::AppealReceived(AppealReceived { submission, .. })
            | Email::AppealDecided(AppealDecided { submission, .. })
            | Email::DecisionOverdue(DecisionOverdue { submission, .. })
            | Email::PublicationScheduled(PublicationScheduled { submission, .. }) => {
                paths::submission(submission.submission_id)
            }
        }
    }
}
