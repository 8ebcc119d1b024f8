//! vitrine's storage: one interface, [`Store`], with a SQLite and a PostgreSQL
//! implementation that pass the same contract test suite.
//!
//! Every write takes the audit events the domain computed with the change and writes both
//! in one transaction. Updates carry the version the aggregate was read at; if someone
//! changed it meanwhile the write is refused with [`StoreError::Conflict`] and nothing is
//! written (optimistic concurrency: two concurrent changes cannot both win).
//!
//! What callers should know:
//! - Times are stored as whole microseconds (UTC): a [`Timestamp`] with nanoseconds comes
//!   back cut to the microsecond. Clocks that feed the store should tick in microseconds so
//!   that what is read equals what was written.
//! - Search follows [`vitrine_domain::search`] exactly on both backends (every term a prefix
//!   of a word of the folded document); the contract tests compare the two on random data.
//! - Catalog pages and totals are cached per catalog generation, a counter every offering
//!   write increases in its transaction and every catalog read checks, so a cached answer is
//!   always the one the database would give (on every server instance).
//! - The go-live review's writes take, besides their audit events, the emails the change
//!   causes ([`NewEmail`]): they are rows of the `outbox` table written in the same
//!   transaction, so a change and its emails are kept or lost together. A dispatcher claims
//!   due rows with a lease ([`Store::claim_outbox`]) and marks each sent or failed.
//! - Scheduled steps happen once even with several servers on one database. A step that
//!   concerns a whole review session (opening it, alerting admins that it is overdue) writes
//!   a mark in `review_sessions` in the same transaction as its effects; the mark is unique,
//!   so of two servers running the step the second gets [`StoreError::Conflict`] and
//!   nothing of its work is kept. Steps on one submission (releasing a decision, publishing)
//!   are transitions, version-checked like any update: of two servers, one wins. Why not a
//!   lease taken before the work: a server that took the lease and died half way would
//!   leave the step to be done again after the lease ran out, possibly after some of its
//!   effects (emails) were sent; a mark committed with the effects cannot be half done.
//!   The cost is that two servers may both compute a step and one throws its work away,
//!   which the scheduler keeps rare by running each step shortly after it falls due.
//! - Self-service accounts keep one-time tokens (email verification, password reset) as
//!   the SHA-256 of their secret, like sessions and API tokens. An email holding such a
//!   token's link is marked ([`NewEmail::holding_secret`]): admins reading the outbox do not
//!   see its payload, and its payload is dropped once sent. Using a token
//!   ([`Store::redeem_one_time_token`]) marks it used in the transaction of its effect, only
//!   if it was unused: of two concurrent uses, one wins.
//! - Sign-in attempts are counted per email address in the database (servers share nothing
//!   else), by [`vitrine_domain::auth::SignInAttempts::after_attempt`]'s rule, in one atomic
//!   statement so that concurrent attempts are all counted.
//! - The schemas live in `migrations/sqlite` and `migrations/postgres`, kept column for
//!   column alike; `open` (and each store's `connect`) applies pending migrations.

use async_trait::async_trait;
use jiff::civil::Date;
use vitrine_domain::account::ProviderStatus;
use vitrine_domain::audit::{AuditEvent, AuditRecord, SubjectKind};
use vitrine_domain::auth::{OneTimeToken, SignInAttempts};
use vitrine_domain::calendar::CalendarSettings;
use vitrine_domain::go_live::Submission;
use vitrine_domain::recording::{Recording, Upload, UploadId};
use vitrine_domain::review::RequirementSet;
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::thread::Message;
use vitrine_domain::user::Email;
use vitrine_domain::{
    Account, AccountId, Audience, Offering, OfferingId, OfferingName, RecordingId, SubmissionId,
    Timestamp, TokenId, User, UserId,
};

mod error;
mod inbound;
pub use error::StoreError;
pub use inbound::{Bouncing, InboundEmail, InboundOutcome, InboundStore, ReplyKey};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A personal API token, without its secret (only the SHA-256 of the secret is stored).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    /// What the user called it, to recognise it in the list.
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

/// SHA-256 of a random secret (session cookie, API token or one-time token). Secrets are
/// never stored.
pub type SecretHash = [u8; 32];

/// A one-time token to store: the SHA-256 of its secret, and what it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub hash: SecretHash,
    pub token: OneTimeToken,
}

/// A catalog query: who asks, what they search, and where the page starts.
#[derive(Clone, Debug)]
pub struct CatalogQuery {
    pub audience: Audience,
    /// Folded search terms ([`vitrine_domain::search::terms`]); empty for no search.
    pub terms: Vec<String>,
    pub category: Option<String>,
    pub tag: Option<String>,
    /// Only offerings of this provider account (for a provider's own list).
    pub provider: Option<AccountId>,
    /// Start after this name (the cursor); results are ordered by name.
    pub after: Option<OfferingName>,
    /// Page size, at least 1.
    pub limit: u32,
}

/// One page of catalog results.
#[derive(Clone, Debug)]
pub struct CatalogPage {
    pub items: Vec<Offering>,
    /// Offerings matching the query the caller may see, on all pages.
    pub total: u64,
    /// Whether more results follow the last item.
    pub has_more: bool,
}

/// An account by its name, with who owns it (see [`Store::account_owners`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountOwners {
    pub id: AccountId,
    pub name: String,
    pub owner_emails: Vec<Email>,
}

/// An offering's name with its provider account's (see [`Store::offering_labels`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferingLabel {
    pub id: OfferingId,
    pub name: String,
    pub provider_account_id: AccountId,
    pub provider_name: String,
}

/// Which audit records to read.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// `None`: the whole log; `Some(ids)`: records whose account is one of `ids`.
    pub accounts: Option<Vec<AccountId>>,
    pub account: Option<AccountId>,
    pub offering: Option<vitrine_domain::OfferingId>,
    /// The offering by its name.
    pub offering_name: Option<String>,
    pub actor: Option<UserId>,
    /// The actor by their email address.
    pub actor_email: Option<Email>,
    pub subject_kind: Option<SubjectKind>,
    /// Exact action name, such as `offering.created`.
    pub action: Option<String>,
    /// Newest first; start strictly before this sequence number.
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// A value with the version it was stored at, for an optimistic update (0: never stored,
/// the value is the default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

/// A user with the validator role and their per-session capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub user: User,
    /// What the validator reviews per session: their own capacity, or the calendar's default.
    pub capacity: u32,
    /// Their own capacity, when an admin set one.
    pub own_capacity: Option<u32>,
}

/// An email to write to the outbox with the change that causes it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEmail {
    /// Who it goes to, for admins reading the outbox (`a@x.example, b@y.example`).
    pub recipients: String,
    /// Its subject, for admins reading the outbox.
    pub subject: String,
    /// The submission whose thread it belongs to, if any.
    pub submission_id: Option<SubmissionId>,
    /// The email as the dispatcher will send it (a serialised `vitrine_mail::OutgoingEmail`).
    pub payload: serde_json::Value,
    /// When it was written; it is first due then.
    pub created_at: Timestamp,
    /// Its body holds a secret (a one-time link): hidden from admins reading the outbox,
    /// dropped once sent.
    pub holds_secret: bool,
    /// The key of the reply address its `Reply-To` carries, stored (hashed) with it.
    pub reply_key: Option<ReplyKeyGrant>,
}

/// A reply address's key, as stored: the SHA-256 of the key, whose reply it admits (the
/// recipient) and into which thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyKeyGrant {
    pub hash: SecretHash,
    pub user_id: UserId,
    pub submission_id: SubmissionId,
}

impl NewEmail {
    /// An outbox email carrying `email` (anything the dispatcher can read back) as its payload.
    pub fn new<T: serde::Serialize>(
        recipients: impl Into<String>,
        subject: impl Into<String>,
        submission_id: Option<SubmissionId>,
        email: &T,
        created_at: Timestamp,
    ) -> Result<Self> {
        Ok(Self {
            recipients: recipients.into(),
            subject: subject.into(),
            submission_id,
            payload: serde_json::to_value(email)
                .map_err(|e| StoreError::Corrupt(format!("outgoing email: {e}")))?,
            created_at,
            holds_secret: false,
            reply_key: None,
        })
    }

    /// Stores `grant` with the email (see [`NewEmail::reply_key`]).
    pub fn with_reply_key(mut self, grant: ReplyKeyGrant) -> Self {
        self.reply_key = Some(grant);
        self
    }

    /// Marks the email as holding a secret (see [`NewEmail::holds_secret`]).
    pub fn holding_secret(mut self) -> Self {
        self.holds_secret = true;
        self
    }
}

/// Where an outbox email stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting to be sent (first attempt, or a retry after a transient failure).
    Pending,
    Sent,
    /// Given up on (a permanent failure); an admin may retry it.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// An email in the outbox.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxEmail {
    /// Position in the outbox; strictly increasing.
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub recipients: String,
    pub subject: String,
    pub submission_id: Option<SubmissionId>,
    /// The email as it will be sent (an object), or, for one holding a one-time link only its
    /// recipient may see, a sentence saying so.
    #[schema(value_type = serde_json::Value)]
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is due (again).
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    /// While a dispatcher holds it: no other dispatcher claims it before this instant.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_until: Option<Timestamp>,
    /// Its body holds a one-time link (email verification, password reset): the outbox
    /// listing does not show its payload, and the payload is dropped once sent.
    pub holds_secret: bool,
}

/// What the outbox listing shows instead of the payload of an email holding a secret.
pub const HIDDEN_PAYLOAD: &str =
    "hidden: this email holds a one-time link that only its recipient may see";

/// Which outbox emails to read, newest first.
#[derive(Clone, Debug, Default)]
pub struct OutboxQuery {
    pub status: Option<OutboxStatus>,
    /// Start strictly before this id.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// A review session that opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewSessionRecord {
    /// The session's nominal date ([`vitrine_domain::calendar::Session::nominal_date`]).
    pub nominal_date: Date,
    pub opened_at: Timestamp,
    /// When admins were alerted that decisions of this session are overdue.
    pub overdue_flagged_at: Option<Timestamp>,
}

/// A store's connection pool, by backend.
#[derive(Clone, Copy)]
pub enum Pools<'a> {
    Sqlite(&'a sqlx::SqlitePool),
    Postgres(&'a sqlx::PgPool),
}

/// The storage interface. Implementations: [`sqlite::SqliteStore`], [`postgres::PgStore`].
#[async_trait]
pub trait Store: InboundStore + Send + Sync + 'static {
    /// Which backend this is, for logs and metrics (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// The connection pool, for a capability whose storage lives in a crate of its own
    /// (`vitrine-webhooks`), writing its audit events with the backend's `write_audit`.
    fn pools(&self) -> Pools<'_>;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
    /// Writes a consistent copy of the whole database to `file` while it stays in use
    /// (SQLite's `VACUUM INTO`), and says `true`; `false` where the backend has its own
    /// tools for that (PostgreSQL: `pg_dump`). `file` must not exist.
    async fn snapshot_into(&self, file: &std::path::Path) -> Result<bool>;

    // --- users ---
    /// Inserts a user; [`StoreError::Duplicate`] (field `email`) if the email is taken.
    async fn insert_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// Writes `user`, whose `version` is one more than the stored one.
    async fn update_user(
        &self,
        user: &User,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    async fn set_password_hash(
        &self,
        user: UserId,
        password_hash: &str,
        events: &[AuditEvent],
    ) -> Result<()>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// The user with this email and their password hash, if they have one.
    async fn user_by_email(&self, email: &Email) -> Result<Option<(User, Option<String>)>>;
    /// Users ordered by email, starting after `after_email`.
    async fn list_users(&self, after_email: Option<&str>, limit: u32) -> Result<Vec<User>>;
    async fn count_admins(&self) -> Result<u64>;

    // --- sessions and tokens ---
    async fn insert_session(
        &self,
        hash: &SecretHash,
        user: UserId,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// The user of an unexpired session, and when the session expires.
    async fn session_user(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<(UserId, Timestamp)>>;
    async fn delete_session(&self, hash: &SecretHash) -> Result<()>;
    async fn insert_api_token(
        &self,
        token: &ApiToken,
        hash: &SecretHash,
        events: &[AuditEvent],
    ) -> Result<()>;
    async fn api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>>;
    /// Marks a token revoked; [`StoreError::NotFound`] if it is not the user's or already revoked.
    async fn revoke_api_token(
        &self,
        user: UserId,
        id: TokenId,
        now: Timestamp,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// The user of an unrevoked token; records `now` as its last use.
    async fn token_user(&self, hash: &SecretHash, now: Timestamp) -> Result<Option<UserId>>;

    // --- self-service accounts ---
    /// Sign-up in one transaction: the user (with their password hash), the account they
    /// own, the verification token, the audit events and the emails.
    /// [`StoreError::Duplicate`] (field `email`) if the email is taken: then nothing is
    /// written.
    async fn sign_up(
        &self,
        user: &User,
        password_hash: &str,
        account: &Account,
        verification: &IssuedToken,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    /// Stores a one-time token with the audit events and the email that sends it.
    async fn insert_one_time_token(
        &self,
        token: &IssuedToken,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    /// The token whose secret has this hash, used or not, expired or not.
    async fn one_time_token(&self, hash: &SecretHash) -> Result<Option<OneTimeToken>>;
    /// Uses a token, in one transaction: marks it used at `used_at` (if still unused and
    /// `user`'s; [`StoreError::Conflict`] otherwise), writes `user` (version-checked, as
    /// [`Store::update_user`]) and the events. With a `password_hash`, also sets the
    /// password and ends every session of the user.
    async fn redeem_one_time_token(
        &self,
        hash: &SecretHash,
        used_at: Timestamp,
        user: &User,
        password_hash: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// Writes audit events and emails that come with no other change (a notice that
    /// someone tried to sign up with a taken address).
    async fn insert_emails(&self, events: &[AuditEvent], emails: &[NewEmail]) -> Result<()>;
    /// Counts a sign-in attempt for `email` at `now`
    /// ([`SignInAttempts::after_attempt`], atomically) and returns the new record.
    /// Records whose window has ended are deleted on the way.
    async fn count_sign_in_attempt(&self, email: &Email, now: Timestamp) -> Result<SignInAttempts>;
    /// Forgets the attempts for `email` (after a successful sign-in or a password reset).
    async fn clear_sign_in_attempts(&self, email: &Email) -> Result<()>;

    // --- accounts ---
    async fn insert_account(&self, account: &Account, events: &[AuditEvent]) -> Result<()>;
    /// Writes `account` (members and provider application included), whose `version` is one
    /// more than the stored one.
    async fn update_account(&self, account: &Account, events: &[AuditEvent]) -> Result<()>;
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;
    /// Which of `ids` exist.
    async fn existing_accounts(&self, ids: &[AccountId]) -> Result<Vec<AccountId>>;
    /// The accounts of `ids` that exist, by name, each with its owners' email addresses
    /// (in the order they joined): how an allowlist reads. One statement.
    async fn account_owners(&self, ids: &[AccountId]) -> Result<Vec<AccountOwners>>;
    /// Accounts the user is a member of, ordered by name.
    async fn accounts_of_user(&self, user: UserId) -> Result<Vec<Account>>;
    /// All accounts ordered by name then id, after the given account id, for admins.
    async fn list_accounts(&self, after: Option<AccountId>, limit: u32) -> Result<Vec<Account>>;
    /// Accounts with a provider application in `status` (all applications if `None`),
    /// oldest application first.
    async fn provider_applications(&self, status: Option<ProviderStatus>) -> Result<Vec<Account>>;

    // --- offerings ---
    /// Inserts an offering; [`StoreError::Duplicate`] (field `name`) if the name is taken.
    async fn insert_offering(&self, offering: &Offering, events: &[AuditEvent]) -> Result<()>;
    /// Writes `offering` (plans, tags, allowlist, attestations), whose `version` is one more
    /// than the stored one.
    async fn update_offering(&self, offering: &Offering, events: &[AuditEvent]) -> Result<()>;
    async fn offering_by_name(&self, name: &OfferingName) -> Result<Option<Offering>>;
    async fn offering_by_id(&self, id: OfferingId) -> Result<Option<Offering>>;
    /// The offerings of `ids` that exist, each with its provider account's name: how a
    /// list of submissions names them (the calendar view). One statement.
    async fn offering_labels(&self, ids: &[OfferingId]) -> Result<Vec<OfferingLabel>>;
    /// The catalog: offerings the audience may see, matching the query, ordered by name.
    async fn catalog(&self, query: &CatalogQuery) -> Result<CatalogPage>;

    // --- audit ---
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;

    // --- marketplace settings ---
    /// The review calendar's settings; the defaults at version 0 when never set.
    async fn calendar_settings(&self) -> Result<Versioned<CalendarSettings>>;
    /// Writes the calendar settings if they are still at `expected_version`
    /// ([`StoreError::Conflict`] otherwise), with the emails of the dates it moves. Returns
    /// the new version.
    async fn put_calendar_settings(
        &self,
        settings: &CalendarSettings,
        expected_version: i64,
        now: Timestamp,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<i64>;
    /// Users with the validator role, ordered by email, with their capacities.
    async fn validators(&self) -> Result<Vec<Validator>>;
    /// Sets a validator's own capacity (`None`: back to the calendar's default);
    /// [`StoreError::NotFound`] if the user is not a validator.
    async fn set_validator_capacity(
        &self,
        user: UserId,
        capacity: Option<u32>,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;

    // --- demo requirements ---
    /// The current (highest) version of the requirement list.
    async fn current_requirements(&self) -> Result<RequirementSet>;
    async fn requirements(&self, version: u32) -> Result<Option<RequirementSet>>;
    /// Stores a new version, which must be the current one plus one
    /// ([`StoreError::Conflict`] otherwise: someone else changed the list).
    async fn put_requirements(
        &self,
        set: &RequirementSet,
        now: Timestamp,
        events: &[AuditEvent],
    ) -> Result<()>;

    // --- recordings and uploads ---
    async fn insert_recording(&self, recording: &Recording, events: &[AuditEvent]) -> Result<()>;
    async fn recording(&self, id: RecordingId) -> Result<Option<Recording>>;
    /// A submission's recordings, oldest first.
    async fn recordings_of(&self, submission: SubmissionId) -> Result<Vec<Recording>>;
    async fn insert_upload(&self, upload: &Upload) -> Result<()>;
    async fn upload(&self, id: UploadId) -> Result<Option<Upload>>;
    /// [`StoreError::NotFound`] if there is no such upload.
    async fn delete_upload(&self, id: UploadId) -> Result<()>;
    /// Uploads whose `expires_at` is at or before `now`, oldest first.
    async fn expired_uploads(&self, now: Timestamp) -> Result<Vec<UploadId>>;
    /// Deletes sessions that expired at or before `now` and one-time links (email
    /// confirmation, password reset) expired longer ago than they are kept; how many rows
    /// went.
    async fn delete_expired_credentials(&self, now: Timestamp) -> Result<u64>;
    /// Turns a finished upload into a recording in one transaction: the upload row goes, the
    /// recording and its events are written. [`StoreError::NotFound`] if the upload is gone
    /// (finished by another request, terminated or expired) or belongs to another
    /// submission than the recording: then nothing is written.
    async fn finish_upload(
        &self,
        upload: UploadId,
        recording: &Recording,
        events: &[AuditEvent],
    ) -> Result<()>;

    // --- submissions ---
    /// Inserts a new submission; [`StoreError::Duplicate`] (field `offering`) if the offering
    /// already has one in progress (not rejected, published or withdrawn).
    async fn insert_submission(
        &self,
        submission: &Submission,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    /// Writes `submission`, whose `version` is one more than the stored one
    /// ([`StoreError::Conflict`] otherwise, and nothing is written).
    async fn update_submission(
        &self,
        submission: &Submission,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>>;
    /// Every submission of an offering, oldest first.
    async fn submissions_of_offering(&self, offering: OfferingId) -> Result<Vec<Submission>>;
    /// Every submission of a provider account, oldest first.
    async fn submissions_of_account(&self, account: AccountId) -> Result<Vec<Submission>>;
    /// The offering's submission in progress (not rejected, published or withdrawn).
    async fn open_submission_for(&self, offering: OfferingId) -> Result<Option<Submission>>;
    /// Submissions in `state`, in queue order: resubmissions first, then by the time their
    /// current round was submitted (then by id).
    async fn submissions_in_state(&self, state: SubmissionState) -> Result<Vec<Submission>>;
    /// The queue: queued submissions in queue order.
    async fn queued_submissions(&self) -> Result<Vec<Submission>> {
        self.submissions_in_state(SubmissionState::Queued).await
    }
    /// Submissions assigned to a validator, oldest change first.
    async fn submissions_for_validator(&self, validator: UserId) -> Result<Vec<Submission>>;
    /// Submissions whose publication is scheduled at or before `now`.
    async fn due_publications(&self, now: Timestamp) -> Result<Vec<Submission>>;
    /// Publication: writes the published submission and the now public offering in one
    /// transaction, each version-checked; if either is stale, nothing is written.
    async fn publish(
        &self,
        submission: &Submission,
        offering: &Offering,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    /// A revision's publication: the submission, the live offering with the revision's
    /// fields and (when it changed them) the broker settings, in one transaction, each
    /// version-checked or required to exist; the catalog generation moves with the offering.
    async fn publish_revision(
        &self,
        submission: &Submission,
        offering: &Offering,
        broker: Option<&vitrine_domain::checks::BrokerRegistration>,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;

    // --- review sessions (scheduled steps; see the crate docs) ---
    /// Opens the session of `nominal_date`: marks it opened and writes the submissions it
    /// moves (each version-checked), in one transaction. [`StoreError::Conflict`] if the
    /// session was already opened or a submission changed meanwhile: nothing is written.
    async fn open_review_session(
        &self,
        nominal_date: Date,
        opened_at: Timestamp,
        submissions: &[Submission],
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    async fn review_session(&self, nominal_date: Date) -> Result<Option<ReviewSessionRecord>>;
    /// Marks the session's decisions overdue (admins alerted by `emails`), once:
    /// [`StoreError::Conflict`] if already marked, [`StoreError::NotFound`] if the session
    /// never opened.
    async fn flag_session_overdue(
        &self,
        nominal_date: Date,
        at: Timestamp,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;

    // --- thread ---
    async fn insert_message(
        &self,
        message: &Message,
        events: &[AuditEvent],
        emails: &[NewEmail],
    ) -> Result<()>;
    /// A submission's messages, oldest first.
    async fn messages(&self, submission: SubmissionId) -> Result<Vec<Message>>;

    // --- outbox ---
    /// Claims up to `limit` due emails (pending, `next_attempt_at` ≤ `now`, not held by
    /// another dispatcher), oldest first, and holds them until `now + lease`. Two
    /// dispatchers never claim the same email at the same time.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxEmail>> {
        self.claim_outbox_leased(now, now, lease, limit).await
    }
    /// [`Store::claim_outbox`] with the lease measured on a clock of its own: `lease_now`
    /// is the real time even in a rehearsal, so moving the test clock forward (`due_at`)
    /// never ends a lease under way and lets another server send the same email.
    async fn claim_outbox_leased(
        &self,
        due_at: Timestamp,
        lease_now: Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxEmail>>;
    /// Records a successful send. [`StoreError::NotFound`] unless the email is pending.
    async fn mark_sent(&self, id: i64, now: Timestamp) -> Result<()> {
        if self.mark_many_sent(&[id], now).await?.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
    /// Records the successful sends of many emails in one statement; returns the ids that
    /// were pending and are now sent (the others were dealt with elsewhere meanwhile).
    async fn mark_many_sent(&self, ids: &[i64], now: Timestamp) -> Result<Vec<i64>>;
    /// Records a failed attempt: `permanent` gives up (status failed), otherwise the email
    /// is due again at `next_attempt_at`. [`StoreError::NotFound`] unless it is pending.
    async fn mark_failed_attempt(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Timestamp,
        permanent: bool,
    ) -> Result<()>;
    /// The outbox, newest first, for admins.
    async fn outbox(&self, query: &OutboxQuery) -> Result<Vec<OutboxEmail>>;
    /// Makes a failed email pending again, due at `now`. [`StoreError::NotFound`] unless it
    /// failed.
    async fn retry_outbox(&self, id: i64, now: Timestamp, events: &[AuditEvent]) -> Result<()>;

    // --- several servers on one database ---
    /// How far the rehearsal's test clock is ahead of the real clock, in microseconds: one
    /// value for every server on this database.
    async fn test_clock_offset(&self) -> Result<i64>;
    /// Moves the test clock forward by `micros` (not negative) in one statement, so two
    /// advances through two servers both count; returns the new offset.
    async fn advance_test_clock(&self, micros: i64) -> Result<i64>;
    /// Starts telling `on_change` of the changes committed through any server on this
    /// database, until it answers `false`: PostgreSQL's `LISTEN/NOTIFY`; on SQLite (one
    /// server per file) this process's own writes, from SQLite's update hook. `Ok(false)`
    /// where a backend has no such notices.
    async fn watch_changes(&self, on_change: ChangeHandler) -> Result<bool>;
}

/// What a change notice says (see [`Store::watch_changes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Something a cached answer may show was written.
    Write,
    /// The test clock moved.
    Clock,
    /// The connection that hears notices was lost and opened again: notices may have been
    /// missed meanwhile, so assume anything changed.
    Missed,
}

/// Called with each change notice; answers whether to keep listening.
pub type ChangeHandler = std::sync::Arc<dyn Fn(Change) -> bool + Send + Sync>;

pub mod postgres;
mod shared;

/// The store's SQL value and error helpers, for the capabilities whose SQL runs on the
/// store's pools outside this crate (checks, webhooks): one definition of how a time is
/// stored and how a database error is told.
pub mod sql {
    pub use crate::shared::{db, micros, opt_timestamp, timestamp, unique};
}
pub mod sqlite;

/// Opens the store a URL names: `postgres://` or `postgresql://` for PostgreSQL, otherwise
/// SQLite (`sqlite://path` or `sqlite::memory:`; a bare path is taken as a SQLite file).
/// Runs pending migrations.
pub async fn open(url: &str) -> Result<Box<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Box::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Ok(Box::new(
            sqlite::SqliteStore::connect(&format!("sqlite://{url}")).await?,
        ))
    }
}
