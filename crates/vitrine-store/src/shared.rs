//! What the SQLite and PostgreSQL stores share: the rows they read, the conversions between
//! rows and domain types, the dynamic SQL of the catalog and the audit log, and
//! [`impl_store!`], which writes the [`crate::Store`] implementation once for both.
//!
//! The two schemas are kept column for column identical (see `migrations/`), so nearly all
//! SQL is the same text on both backends (SQLite accepts `$1` placeholders). What differs is
//! behind the small [`Dialect`] trait: how a list of ids is bound and tested, how a full-text
//! search is written, and how transactions start.
//!
//! Why a macro rather than generic functions over `sqlx::Database`: every query would need
//! higher-ranked bounds for each bound and decoded type and for the executor, which hide the
//! SQL under a page of `where` clauses. The macro expands to plain code per backend, and row
//! decoding stays generic through `#[derive(sqlx::FromRow)]`.

use std::collections::HashMap;

use uuid::Uuid;
use vitrine_domain::account::ProviderStatus;
use vitrine_domain::audit::{AuditEvent, AuditNames, AuditRecord, SubjectKind};
use vitrine_domain::auth::{OneTimeToken, SIGN_IN_WINDOW, SignInAttempts, TokenPurpose};
use vitrine_domain::checklist::Attestations;
use vitrine_domain::user::{Email, Language, StaffRoles};
use vitrine_domain::{
    Account, AccountId, Audience, Localized, Membership, MembershipRole, Offering, OfferingId,
    OfferingName, Plan, ProviderApplication, Timestamp, TokenId, User, UserId, Visibility, search,
};

use jiff::civil::Date;
use vitrine_domain::calendar::CalendarSettings;
use vitrine_domain::go_live::{Round, Submission};
use vitrine_domain::recording::{Recording, Upload, UploadId};
use vitrine_domain::review::RequirementSet;
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::thread::{Message, MessageId, Side};
use vitrine_domain::{RecordingId, SubmissionId};

use crate::{
    ApiToken, AuditQuery, CatalogQuery, OutboxEmail, OutboxQuery, OutboxStatus, Result,
    ReviewSessionRecord, StoreError, Validator, Versioned,
};

/// The few places where SQLite and PostgreSQL need different SQL.
pub(crate) trait Dialect {
    /// Most rows one multi-row statement carries (see [`values_rows`]).
    const ROWS_PER_STATEMENT: usize;
    /// A condition on `column` being one of the ids bound at `param` (bound with
    /// `ids_value`). An empty list matches nothing.
    fn ids_in(column: &str, param: &str) -> String;
    /// A subquery yielding one row per id bound at `param`, in a column named `id`.
    fn id_rows(param: &str) -> String;
    /// `column` in an expression the planner will not answer from an index. The catalog
    /// page is best read by walking the name index in order and stopping after `limit`
    /// rows; SQLite would otherwise gather every visible offering through the visibility
    /// and provider indexes and sort them all.
    fn unindexed(column: &str) -> String;
    /// What a `SELECT` ends with to lock the rows it picks, skipping rows another
    /// transaction holds (PostgreSQL); empty where a write transaction already holds the
    /// whole database (SQLite).
    fn skip_locked() -> &'static str;
    /// A condition on offering `o` matching the full-text query bound at `param`.
    fn search_condition(param: &str) -> String;
    /// The full-text query text for folded, non-empty `terms`, each a word prefix, all
    /// required (the semantics of [`vitrine_domain::search::matches`]).
    fn search_value(terms: &[String]) -> String;
}

/// A value bound to a dynamically built statement.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Uuid(Uuid),
    Text(String),
    Int(i64),
    /// A list of ids, bound the backend's way (see [`Dialect::ids_in`]).
    Ids(Vec<Uuid>),
}

/// Collects the parameters of a dynamically built statement and numbers them.
#[derive(Default)]
pub(crate) struct Params(pub Vec<Param>);

impl Params {
    /// Adds a parameter and returns its placeholder (`$n`).
    pub fn push(&mut self, param: Param) -> String {
        self.0.push(param);
        format!("${}", self.0.len())
    }
}

/// Binds [`Param`]s to a `Query`, `QueryAs` or `QueryScalar` of the store type `$store`.
macro_rules! bind_params {
    ($query:expr, $params:expr, $store:ty) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                $crate::shared::Param::Uuid(v) => query.bind(*v),
                $crate::shared::Param::Text(v) => query.bind(v.as_str()),
                $crate::shared::Param::Int(v) => query.bind(*v),
                $crate::shared::Param::Ids(v) => query.bind(<$store>::ids_value(v)),
            };
        }
        query
    }};
}
pub(crate) use bind_params;

// --- errors ---

/// Wraps a database error with what the store was doing.
pub fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { context, source }
}

/// Like [`db`], but a unique violation becomes [`StoreError::Duplicate`] on `field`.
pub fn unique(
    field: &'static str,
    context: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| match source.as_database_error() {
        Some(e) if e.is_unique_violation() => StoreError::Duplicate { field },
        _ => StoreError::Database { context, source },
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

// --- values ---

/// Times are stored as microseconds since the Unix epoch: an integer sorts and compares the
/// same way on both backends and needs no time zone. Sub-microsecond precision is dropped.
pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn timestamp(us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| corrupt("timestamp", e))
}

pub fn opt_timestamp(us: Option<i64>) -> Result<Option<Timestamp>> {
    us.map(timestamp).transpose()
}

pub(crate) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| corrupt(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

// --- rows ---

macro_rules! user_columns {
    () => {
        "id, email, display_name, language, time_zone, is_admin, is_validator, \
         email_verified_at, password_hash, created_at, version"
    };
}
pub(crate) use user_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    language: String,
    time_zone: String,
    is_admin: bool,
    is_validator: bool,
    email_verified_at: Option<i64>,
    password_hash: Option<String>,
    created_at: i64,
    version: i64,
}

impl UserRow {
    pub fn into_user(self) -> Result<User> {
        Ok(self.into_user_and_hash()?.0)
    }

    /// The user and their password hash.
    pub fn into_user_and_hash(self) -> Result<(User, Option<String>)> {
        let email = Email::parse("email", &self.email).map_err(|e| corrupt("users.email", e))?;
        let language = Language::parse(&self.language)
            .ok_or_else(|| corrupt("users.language", &self.language))?;
        let user = User {
            id: UserId(self.id),
            email,
            display_name: self.display_name,
            language,
            time_zone: self.time_zone,
            staff: StaffRoles {
                admin: self.is_admin,
                validator: self.is_validator,
            },
            email_verified_at: opt_timestamp(self.email_verified_at)?,
            created_at: timestamp(self.created_at)?,
            version: self.version,
        };
        Ok((user, self.password_hash))
    }
}

macro_rules! account_columns {
    () => {
        "a.id, a.name, a.provider_application, a.created_at, a.version"
    };
}
pub(crate) use account_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    name: String,
    provider_application: Option<String>,
    created_at: i64,
    version: i64,
}

impl AccountRow {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    account_id: Uuid,
    user_id: Uuid,
    role: String,
}

/// The provider application's columns: status and submission time are queried, the whole
/// application is JSON.
pub(crate) struct ProviderColumns {
    pub status: Option<&'static str>,
    pub submitted_at: Option<i64>,
    pub json: Option<String>,
}

pub(crate) fn provider_columns(account: &Account) -> Result<ProviderColumns> {
    Ok(match &account.provider {
        None => ProviderColumns {
            status: None,
            submitted_at: None,
            json: None,
        },
        Some(p) => ProviderColumns {
            status: Some(p.status.as_str()),
            submitted_at: Some(micros(p.submitted_at)),
            json: Some(to_json("provider application", p)?),
        },
    })
}

/// The values of child rows (an aggregate's members, tags…) by their parent's id, each
/// list in the order the rows were read.
fn by_parent<V>(children: impl IntoIterator<Item = (Uuid, V)>) -> HashMap<Uuid, Vec<V>> {
    let mut by_parent: HashMap<Uuid, Vec<V>> = HashMap::new();
    for (parent, value) in children {
        by_parent.entry(parent).or_default().push(value);
    }
    by_parent
}

/// Builds accounts from their rows and all their members' rows (ordered by position).
pub(crate) fn accounts_from_rows(
    rows: Vec<AccountRow>,
    members: Vec<MemberRow>,
) -> Result<Vec<Account>> {
    let members = members
        .into_iter()
        .map(|m| {
            let role = MembershipRole::parse(&m.role)
                .ok_or_else(|| corrupt("memberships.role", &m.role))?;
            let user_id = UserId(m.user_id);
            Ok((m.account_id, Membership { user_id, role }))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut by_account = by_parent(members);
    rows.into_iter()
        .map(|row| {
            let provider: Option<ProviderApplication> = row
                .provider_application
                .as_deref()
                .map(|json| from_json("accounts.provider_application", json))
                .transpose()?;
            Ok(Account {
                id: AccountId(row.id),
                name: row.name,
                members: by_account.remove(&row.id).unwrap_or_default(),
                provider,
                created_at: timestamp(row.created_at)?,
                version: row.version,
            })
        })
        .collect()
}

macro_rules! offering_columns {
    () => {
        "o.id, o.name, o.provider_account_id, o.display_name, o.description, o.category, \
         o.documentation_url, o.support_contact, o.plans, o.visibility, o.attestations, \
         o.created_at, o.updated_at, o.version"
    };
}
pub(crate) use offering_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct OfferingRow {
    id: Uuid,
    name: String,
    provider_account_id: Uuid,
    display_name: String,
    description: String,
    category: Option<String>,
    documentation_url: Option<String>,
    support_contact: Option<String>,
    plans: String,
    visibility: String,
    attestations: String,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl OfferingRow {
    pub fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TagRow {
    offering_id: Uuid,
    tag: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AllowRow {
    offering_id: Uuid,
    account_id: Uuid,
}

/// The JSON columns of an offering.
pub(crate) struct OfferingJson {
    pub display_name: String,
    pub description: String,
    pub plans: String,
    pub attestations: String,
    pub search_document: String,
}

pub(crate) fn offering_json(o: &Offering) -> Result<OfferingJson> {
    Ok(OfferingJson {
        display_name: to_json("display name", &o.display_name)?,
        description: to_json("description", &o.description)?,
        plans: to_json("plans", &o.plans)?,
        attestations: to_json("attestations", &o.attestations)?,
        search_document: search::stored_document(o),
    })
}

/// Builds offerings from their rows and the tags and allowlist entries of all of them
/// (each ordered), keeping the rows' order.
pub(crate) fn offerings_from_rows(
    rows: Vec<OfferingRow>,
    tags: Vec<TagRow>,
    allowlist: Vec<AllowRow>,
) -> Result<Vec<Offering>> {
    let mut tags_of = by_parent(tags.into_iter().map(|t| (t.offering_id, t.tag)));
    let mut allowed_of = by_parent(
        allowlist
            .into_iter()
            .map(|a| (a.offering_id, AccountId(a.account_id))),
    );
    rows.into_iter()
        .map(|row| {
            let name =
                OfferingName::parse("name", &row.name).map_err(|e| corrupt("offerings.name", e))?;
            let visibility = Visibility::parse(&row.visibility)
                .ok_or_else(|| corrupt("offerings.visibility", &row.visibility))?;
            let display_name: Localized = from_json("offerings.display_name", &row.display_name)?;
            let description: Localized = from_json("offerings.description", &row.description)?;
            let plans: Vec<Plan> = from_json("offerings.plans", &row.plans)?;
            let attestations: Attestations =
                from_json("offerings.attestations", &row.attestations)?;
            Ok(Offering {
                id: OfferingId(row.id),
                name,
                provider_account_id: AccountId(row.provider_account_id),
                display_name,
                description,
                category: row.category,
                tags: tags_of.remove(&row.id).unwrap_or_default(),
                documentation_url: row.documentation_url,
                support_contact: row.support_contact,
                plans,
                visibility,
                allowlist: allowed_of.remove(&row.id).unwrap_or_default(),
                attestations,
                created_at: timestamp(row.created_at)?,
                updated_at: timestamp(row.updated_at)?,
                version: row.version,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    pub fn into_token(self) -> Result<ApiToken> {
        Ok(ApiToken {
            id: TokenId(self.id),
            user_id: UserId(self.user_id),
            name: self.name,
            created_at: timestamp(self.created_at)?,
            last_used_at: opt_timestamp(self.last_used_at)?,
            revoked_at: opt_timestamp(self.revoked_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at: i64,
    actor: Option<Uuid>,
    action: String,
    subject_kind: String,
    subject_id: String,
    account_id: Option<Uuid>,
    offering_id: Option<Uuid>,
    before: Option<String>,
    after: Option<String>,
    actor_name: Option<String>,
    actor_email: Option<String>,
    account_name: Option<String>,
    offering_name: Option<String>,
}

impl AuditRow {
    pub fn into_record(self) -> Result<AuditRecord> {
        let subject_kind = SubjectKind::parse(&self.subject_kind)
            .ok_or_else(|| corrupt("audit_events.subject_kind", &self.subject_kind))?;
        let json = |what, v: Option<String>| -> Result<Option<serde_json::Value>> {
            v.as_deref().map(|t| from_json(what, t)).transpose()
        };
        Ok(AuditRecord {
            seq: self.seq,
            event: AuditEvent {
                actor: self.actor.map(UserId),
                action: self.action,
                subject_kind,
                subject_id: self.subject_id,
                account_id: self.account_id.map(AccountId),
                offering_id: self.offering_id.map(OfferingId),
                before: json("audit_events.before", self.before)?,
                after: json("audit_events.after", self.after)?,
                at: timestamp(self.at)?,
            },
            names: AuditNames {
                actor_name: self.actor_name,
                actor_email: self.actor_email,
                account_name: self.account_name,
                offering_name: self.offering_name,
            },
        })
    }
}

/// The JSON columns of an audit event.
pub(crate) fn audit_json(event: &AuditEvent) -> Result<(Option<String>, Option<String>)> {
    let before = event
        .before
        .as_ref()
        .map(|v| to_json("audit before", v))
        .transpose()?;
    let after = event
        .after
        .as_ref()
        .map(|v| to_json("audit after", v))
        .transpose()?;
    Ok((before, after))
}

pub(crate) fn ids<T: Copy>(ids: &[T], uuid: impl Fn(T) -> Uuid) -> Vec<Uuid> {
    ids.iter().map(|&id| uuid(id)).collect()
}

pub(crate) fn status_str(status: Option<ProviderStatus>) -> Option<&'static str> {
    status.map(ProviderStatus::as_str)
}

// --- go-live review rows ---

/// Like [`db`], but a unique violation means someone else wrote first:
/// [`StoreError::Conflict`] on `what`.
pub(crate) fn taken(
    what: &'static str,
    context: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| match source.as_database_error() {
        Some(e) if e.is_unique_violation() => StoreError::Conflict { what },
        _ => StoreError::Database { context, source },
    }
}

/// A count or size read back from a signed column.
pub(crate) fn unsigned<T: TryFrom<i64>>(what: &str, n: i64) -> Result<T> {
    T::try_from(n).map_err(|_| corrupt(what, n))
}

/// A count or size to store in a signed column.
pub(crate) fn signed(what: &str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| corrupt(what, n))
}

pub(crate) fn date(text: &str) -> Result<Date> {
    text.parse().map_err(|e| corrupt("date", e))
}

/// The key of the calendar settings in `marketplace_settings`.
pub(crate) const CALENDAR_KEY: &str = "calendar";

pub(crate) fn settings_from_row(row: Option<(String, i64)>) -> Result<Versioned<CalendarSettings>> {
    match row {
        None => Ok(Versioned {
            value: CalendarSettings::default(),
            version: 0,
        }),
        Some((json, version)) => Ok(Versioned {
            value: from_json("marketplace_settings.value", &json)?,
            version,
        }),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ValidatorRow {
    #[sqlx(flatten)]
    user: UserRow,
    capacity: Option<i64>,
}

impl ValidatorRow {
    pub fn into_validator(self, default_capacity: u32) -> Result<Validator> {
        let own_capacity = self
            .capacity
            .map(|c| unsigned("validator_capacities.capacity", c))
            .transpose()?;
        Ok(Validator {
            user: self.user.into_user()?,
            capacity: own_capacity.unwrap_or(default_capacity),
            own_capacity,
        })
    }
}

pub(crate) fn requirements_from_row(version: i64, json: &str) -> Result<RequirementSet> {
    Ok(RequirementSet {
        version: unsigned("requirement_sets.version", version)?,
        requirements: from_json("requirement_sets.requirements", json)?,
    })
}

macro_rules! submission_columns {
    () => {
        "s.id, s.offering_id, s.provider_account_id, s.state, s.validator_id, s.publication_at, \
         s.rounds, s.revision, s.created_at, s.updated_at, s.version"
    };
}
pub(crate) use submission_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct SubmissionRow {
    id: Uuid,
    offering_id: Uuid,
    provider_account_id: Uuid,
    state: String,
    validator_id: Option<Uuid>,
    publication_at: Option<i64>,
    rounds: String,
    revision: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl SubmissionRow {
    pub fn into_submission(self) -> Result<Submission> {
        let state = SubmissionState::parse(&self.state)
            .ok_or_else(|| corrupt("submissions.state", &self.state))?;
        let rounds: Vec<Round> = from_json("submissions.rounds", &self.rounds)?;
        if rounds.is_empty() {
            return Err(corrupt("submissions.rounds", "no round"));
        }
        Ok(Submission {
            id: SubmissionId(self.id),
            offering_id: OfferingId(self.offering_id),
            provider_account_id: AccountId(self.provider_account_id),
            state,
            rounds,
            validator: self.validator_id.map(UserId),
            publication_at: opt_timestamp(self.publication_at)?,
            revision: match self.revision.as_deref() {
                Some(json) => Some(from_json("submissions.revision", json)?),
                None => None,
            },
            created_at: timestamp(self.created_at)?,
            updated_at: timestamp(self.updated_at)?,
            version: self.version,
        })
    }
}

/// The columns of a submission that are queried, besides its JSON rounds.
pub(crate) struct SubmissionColumns {
    pub round_number: i64,
    pub submitted_at: Option<i64>,
    pub rounds: String,
    pub revision: Option<String>,
}

pub(crate) fn submission_values(s: &Submission) -> Result<SubmissionColumns> {
    let current = s
        .rounds
        .last()
        .ok_or_else(|| corrupt("submission", "no round"))?;
    Ok(SubmissionColumns {
        round_number: i64::from(current.number),
        submitted_at: current.submitted_at.map(micros),
        rounds: to_json("rounds", &s.rounds)?,
        revision: match &s.revision {
            Some(r) => Some(to_json("revision", r)?),
            None => None,
        },
    })
}

macro_rules! recording_columns {
    () => {
        "id, submission_id, uploaded_by, file_name, size, sha256, media_type, duration_seconds, \
         created_at"
    };
}
pub(crate) use recording_columns;

/// `SELECT` of every column a row type reads `FROM` its table, then `$rest`, as one static
/// string: `select!(users, "WHERE id = $1")` reads [`UserRow`]s. The others: `accounts a`
/// ([`AccountRow`]), `offerings o` ([`OfferingRow`]), `submissions s` ([`SubmissionRow`]),
/// `recordings` ([`RecordingRow`]); `$rest` names a table by that alias.
macro_rules! select {
    (users, $rest:literal) => {
        $crate::shared::select!(@ user_columns, "users", $rest)
    };
    (accounts, $rest:literal) => {
        $crate::shared::select!(@ account_columns, "accounts a", $rest)
    };
    (offerings, $rest:literal) => {
        $crate::shared::select!(@ offering_columns, "offerings o", $rest)
    };
    (submissions, $rest:literal) => {
        $crate::shared::select!(@ submission_columns, "submissions s", $rest)
    };
    (recordings, $rest:literal) => {
        $crate::shared::select!(@ recording_columns, "recordings", $rest)
    };
    (@ $columns:ident, $from:literal, $rest:literal) => {
        concat!("SELECT ", $crate::shared::$columns!(), " FROM ", $from, " ", $rest)
    };
}
pub(crate) use select;

#[derive(sqlx::FromRow)]
pub(crate) struct RecordingRow {
    id: Uuid,
    submission_id: Uuid,
    uploaded_by: Uuid,
    file_name: String,
    size: i64,
    sha256: String,
    media_type: String,
    duration_seconds: Option<f64>,
    created_at: i64,
}

impl RecordingRow {
    pub fn into_recording(self) -> Result<Recording> {
        Ok(Recording {
            id: RecordingId(self.id),
            submission_id: SubmissionId(self.submission_id),
            uploaded_by: UserId(self.uploaded_by),
            file_name: self.file_name,
            size: unsigned("recordings.size", self.size)?,
            sha256: self.sha256,
            media_type: self.media_type,
            duration_seconds: self.duration_seconds,
            created_at: timestamp(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UploadRow {
    id: Uuid,
    submission_id: Uuid,
    user_id: Uuid,
    declared_length: Option<i64>,
    file_name: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl UploadRow {
    pub fn into_upload(self) -> Result<Upload> {
        Ok(Upload {
            id: UploadId(self.id),
            submission_id: SubmissionId(self.submission_id),
            user_id: UserId(self.user_id),
            declared_length: self
                .declared_length
                .map(|n| unsigned("uploads.declared_length", n))
                .transpose()?,
            file_name: self.file_name,
            created_at: timestamp(self.created_at)?,
            expires_at: timestamp(self.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: Uuid,
    submission_id: Uuid,
    author: Uuid,
    side: String,
    body: String,
    created_at: i64,
}

impl MessageRow {
    pub fn into_message(self) -> Result<Message> {
        Ok(Message {
            id: MessageId(self.id),
            submission_id: SubmissionId(self.submission_id),
            author: UserId(self.author),
            side: Side::parse(&self.side).ok_or_else(|| corrupt("messages.side", &self.side))?,
            body: self.body,
            created_at: timestamp(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReviewSessionRow {
    nominal_date: String,
    opened_at: i64,
    overdue_flagged_at: Option<i64>,
}

impl ReviewSessionRow {
    pub fn into_record(self) -> Result<ReviewSessionRecord> {
        Ok(ReviewSessionRecord {
            nominal_date: date(&self.nominal_date)?,
            opened_at: timestamp(self.opened_at)?,
            overdue_flagged_at: opt_timestamp(self.overdue_flagged_at)?,
        })
    }
}

macro_rules! outbox_columns {
    () => {
        "id, created_at, recipients, subject, submission_id, payload, status, attempts, \
         next_attempt_at, last_error, sent_at, locked_until, holds_secret"
    };
}
pub(crate) use outbox_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    id: i64,
    created_at: i64,
    recipients: String,
    subject: String,
    submission_id: Option<Uuid>,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    sent_at: Option<i64>,
    locked_until: Option<i64>,
    holds_secret: bool,
}

impl OutboxRow {
    pub fn into_email(self) -> Result<OutboxEmail> {
        Ok(OutboxEmail {
            id: self.id,
            created_at: timestamp(self.created_at)?,
            recipients: self.recipients,
            subject: self.subject,
            submission_id: self.submission_id.map(SubmissionId),
            payload: from_json("outbox.payload", &self.payload)?,
            status: OutboxStatus::parse(&self.status)
                .ok_or_else(|| corrupt("outbox.status", &self.status))?,
            attempts: unsigned("outbox.attempts", self.attempts)?,
            next_attempt_at: timestamp(self.next_attempt_at)?,
            last_error: self.last_error,
            sent_at: opt_timestamp(self.sent_at)?,
            locked_until: opt_timestamp(self.locked_until)?,
            holds_secret: self.holds_secret,
        })
    }

    /// The email as admins listing the outbox see it: without the payload of an email that
    /// holds a secret.
    pub fn into_listed_email(self) -> Result<OutboxEmail> {
        let mut email = self.into_email()?;
        if email.holds_secret {
            email.payload = serde_json::Value::String(crate::HIDDEN_PAYLOAD.to_owned());
        }
        Ok(email)
    }
}

/// What stays of an email holding a secret once it is sent.
pub(crate) const SENT_SECRET_PAYLOAD: &str =
    "\"dropped once sent: this email held a one-time link\"";

/// How long used and expired one-time tokens are kept, so that a late click on a link is
/// told it was used or expired rather than unknown; older ones are deleted when a new token
/// is stored.
pub(crate) const ONE_TIME_TOKEN_RETENTION_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;

#[derive(sqlx::FromRow)]
pub(crate) struct OneTimeTokenRow {
    purpose: String,
    user_id: Uuid,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl OneTimeTokenRow {
    pub fn into_token(self) -> Result<OneTimeToken> {
        Ok(OneTimeToken {
            purpose: TokenPurpose::parse(&self.purpose)
                .ok_or_else(|| corrupt("one_time_tokens.purpose", &self.purpose))?,
            user_id: UserId(self.user_id),
            created_at: timestamp(self.created_at)?,
            expires_at: timestamp(self.expires_at)?,
            used_at: opt_timestamp(self.used_at)?,
        })
    }
}

pub(crate) fn sign_in_attempts(window_started_at: i64, failures: i64) -> Result<SignInAttempts> {
    Ok(SignInAttempts {
        window_started_at: timestamp(window_started_at)?,
        count: unsigned("sign_in_failures.failures", failures)?,
    })
}

/// The earliest window start still open at `now`, in stored microseconds: a window that
/// started at or before this has ended ([`SignInAttempts::window_ends_at`]).
pub(crate) fn open_windows_after(now: Timestamp) -> i64 {
    let window = i64::try_from(SIGN_IN_WINDOW.as_micros()).unwrap_or(i64::MAX);
    micros(now).saturating_sub(window)
}

/// `now + lease` in stored microseconds.
pub(crate) fn lease_end(now: Timestamp, lease: std::time::Duration) -> i64 {
    let lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
    micros(now).saturating_add(lease)
}

/// An admin's outbox query: newest first, filtered.
pub(crate) fn outbox_sql(query: &OutboxQuery) -> (String, Vec<Param>) {
    let mut params = Params::default();
    let mut conditions = Vec::new();
    if let Some(status) = query.status {
        let p = params.push(Param::Text(status.as_str().to_owned()));
        conditions.push(format!("status = {p}"));
    }
    if let Some(before) = query.before_id {
        let p = params.push(Param::Int(before));
        conditions.push(format!("id < {p}"));
    }
    let limit = params.push(Param::Int(i64::from(query.limit)));
    let sql = format!(
        "SELECT {} FROM outbox{} ORDER BY id DESC LIMIT {limit}",
        outbox_columns!(),
        where_clause(&conditions)
    );
    (sql, params.0)
}

// --- catalog cache ---

/// Most totals kept for one catalog generation.
const MAX_CACHED_TOTALS: usize = 4096;
/// Most offerings plus allowlist entries held in cached pages (allowlists can be long).
const MAX_CACHED_PAGE_WEIGHT: usize = 200_000;

/// Catalog pages and totals by query, for one catalog generation (see the `catalog_state`
/// table).
///
/// Why: the catalog is read far more than it is written, by many callers asking the same
/// pages, and its total has to visit every visible offering. Only offering writes change
/// what the catalog shows, and each one increases the generation in its transaction; so a
/// page or total computed in a snapshot at generation G is exactly what any read that sees
/// G would compute. The generation is read from the database on every call, which keeps
/// the cache right across server instances; a new generation empties it.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    state: std::sync::Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    generation: i64,
    totals: HashMap<String, u64>,
    pages: HashMap<String, crate::CatalogPage>,
    page_weight: usize,
}

impl CacheState {
    /// The state for `generation`, or `None` for an older one (computed in an older
    /// snapshot than what is cached: not worth keeping).
    fn at(&mut self, generation: i64) -> Option<&mut Self> {
        if generation < self.generation {
            return None;
        }
        if generation > self.generation {
            *self = CacheState {
                generation,
                ..CacheState::default()
            };
        }
        Some(self)
    }
}

impl CatalogCache {
    // A poisoned lock only costs a recomputation: every method treats it as a miss.

    pub fn total(&self, generation: i64, key: &str) -> Option<u64> {
        let state = self.state.lock().ok()?;
        (state.generation == generation)
            .then(|| state.totals.get(key).copied())
            .flatten()
    }

    pub fn put_total(&self, generation: i64, key: String, total: u64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(state) = state.at(generation) else {
            return;
        };
        if state.totals.len() >= MAX_CACHED_TOTALS {
            state.totals.clear();
        }
        state.totals.insert(key, total);
    }

    pub fn page(&self, generation: i64, key: &str) -> Option<crate::CatalogPage> {
        let state = self.state.lock().ok()?;
        (state.generation == generation)
            .then(|| state.pages.get(key).cloned())
            .flatten()
    }

    pub fn put_page(&self, generation: i64, key: String, page: &crate::CatalogPage) {
        let weight: usize = page.items.iter().map(|o| 1 + o.allowlist.len()).sum();
        if weight > MAX_CACHED_PAGE_WEIGHT / 16 {
            return; // a page this heavy would push out many others
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(state) = state.at(generation) else {
            return;
        };
        if state.page_weight + weight > MAX_CACHED_PAGE_WEIGHT {
            state.pages.clear();
            state.page_weight = 0;
        }
        state.page_weight += weight;
        state.pages.insert(key, page.clone());
    }
}

// --- dynamic queries ---

/// The two statements of a catalog page. `count` binds the first `count_params` of `params`,
/// `page` binds them all.
pub(crate) struct CatalogSql {
    /// Identifies the page (its SQL and parameters) in the [`CatalogCache`].
    pub page_key: String,
    /// Identifies the count (its SQL and parameters) in the [`CatalogCache`].
    pub count_key: String,
    pub count: String,
    pub page: String,
    pub params: Vec<Param>,
    pub count_params: usize,
}

/// The catalog query in SQL: [`Audience::admits`], [`search::matches`] and the filters as
/// one `WHERE` clause, evaluated with indexes (see the migrations).
pub(crate) fn catalog_sql<D: Dialect>(query: &CatalogQuery) -> CatalogSql {
    let mut params = Params::default();
    let mut conditions: Vec<String> = Vec::new();
    match &query.audience {
        Audience::Staff => {}
        Audience::Accounts(accounts) if accounts.is_empty() => {
            conditions.push(format!("{} = 'public'", D::unindexed("o.visibility")));
        }
        Audience::Accounts(accounts) => {
            let p = params.push(Param::Ids(ids(accounts, |a| a.0)));
            // Uncorrelated subqueries: each runs once per statement (materialized on
            // SQLite, hashed on PostgreSQL), not once per offering.
            conditions.push(format!(
                "({visibility} = 'public' OR {provides} OR ({visibility} = 'limited' \
                 AND {id} IN (SELECT l.offering_id FROM offering_allowlist l WHERE {listed})))",
                visibility = D::unindexed("o.visibility"),
                provides = D::ids_in(&D::unindexed("o.provider_account_id"), &p),
                id = D::unindexed("o.id"),
                listed = D::ids_in("l.account_id", &p),
            ));
        }
    }
    let terms = search::index_terms(&query.terms);
    if !terms.is_empty() {
        let p = params.push(Param::Text(D::search_value(&terms)));
        conditions.push(D::search_condition(&p));
    }
    if let Some(category) = &query.category {
        let p = params.push(Param::Text(category.clone()));
        conditions.push(format!("o.category = {p}"));
    }
    if let Some(tag) = &query.tag {
        let p = params.push(Param::Text(tag.clone()));
        conditions.push(format!(
            "o.id IN (SELECT t.offering_id FROM offering_tags t WHERE t.tag = {p})"
        ));
    }
    if let Some(provider) = query.provider {
        let p = params.push(Param::Uuid(provider.0));
        conditions.push(format!("o.provider_account_id = {p}"));
    }
    let count_params = params.0.len();
    let count = format!(
        "SELECT COUNT(*) FROM offerings o{}",
        where_clause(&conditions)
    );
    if let Some(after) = &query.after {
        let p = params.push(Param::Text(after.as_str().to_owned()));
        conditions.push(format!("o.name > {p}"));
    }
    // One more than asked tells whether another page follows.
    let limit = params.push(Param::Int(i64::from(query.limit.max(1)) + 1));
    let page = format!(
        "SELECT {} FROM offerings o{} ORDER BY o.name LIMIT {limit}",
        offering_columns!(),
        where_clause(&conditions)
    );
    CatalogSql {
        page_key: format!("{page}\n{:?}", params.0),
        count_key: format!("{count}\n{:?}", &params.0[..count_params]),
        count,
        page,
        params: params.0,
        count_params,
    }
}

/// An audit log query: newest first, filtered, with the names of who and what each
/// record names (primary-key joins: one statement).
pub(crate) fn audit_sql<D: Dialect>(query: &AuditQuery) -> (String, Vec<Param>) {
    let mut params = Params::default();
    let mut conditions = Vec::new();
    if let Some(accounts) = &query.accounts {
        let p = params.push(Param::Ids(ids(accounts, |a| a.0)));
        conditions.push(D::ids_in("e.account_id", &p));
    }
    let mut equal = |column: &str, param: Param| {
        let p = params.push(param);
        conditions.push(format!("{column} = {p}"));
    };
    if let Some(account) = query.account {
        equal("e.account_id", Param::Uuid(account.0));
    }
    if let Some(offering) = query.offering {
        equal("e.offering_id", Param::Uuid(offering.0));
    }
    if let Some(name) = &query.offering_name {
        equal("o.name", Param::Text(name.clone()));
    }
    if let Some(actor) = query.actor {
        equal("e.actor", Param::Uuid(actor.0));
    }
    if let Some(email) = &query.actor_email {
        equal("u.email", Param::Text(email.as_str().to_owned()));
    }
    if let Some(kind) = query.subject_kind {
        equal("e.subject_kind", Param::Text(kind.as_str().to_owned()));
    }
    if let Some(action) = &query.action {
        equal("e.action", Param::Text(action.clone()));
    }
    if let Some(before) = query.before_seq {
        let p = params.push(Param::Int(before));
        conditions.push(format!("e.seq < {p}"));
    }
    let limit = params.push(Param::Int(i64::from(query.limit)));
    let sql = format!(
        "SELECT e.seq, e.at, e.actor, e.action, e.subject_kind, e.subject_id, e.account_id, \
         e.offering_id, e.before, e.after, u.display_name AS actor_name, \
         u.email AS actor_email, a.name AS account_name, o.name AS offering_name \
         FROM audit_events e \
         LEFT JOIN users u ON u.id = e.actor \
         LEFT JOIN accounts a ON a.id = e.account_id \
         LEFT JOIN offerings o ON o.id = e.offering_id{} ORDER BY e.seq DESC LIMIT {limit}",
        where_clause(&conditions)
    );
    (sql, params.0)
}

/// `($1, $2), ($3, $4)`: `rows` rows of `columns` placeholders, numbered from `$1`. A change
/// that writes many rows (a session opening thousands of submissions) costs one statement
/// per [`Dialect::ROWS_PER_STATEMENT`] rows, not one per row.
pub(crate) fn values_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let placeholders: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Writes the [`crate::Store`] implementation for `$store`, whose database is `$db`.
///
/// `$store` has a `pool: sqlx::Pool<$db>` field and a `catalog: Arc<CatalogCache>` field,
/// implements [`Dialect`], and provides:
/// `const BACKEND: &str`; `async fn begin_write(&self)` and `async fn begin_read(&self)`,
/// each returning a `Result<sqlx::Transaction<'static, $db>>`; and `fn ids_value(&[Uuid])`,
/// the value bound for a [`Param::Ids`]. Besides the trait, the macro gives `$store`
/// `async fn open(pool, &Migrator)` (migrate, seed, build: the end of each `connect`) and
/// `pub fn pool(&self)`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::AssertSqlSafe;
            use uuid::Uuid;
            use vitrine_domain::account::ProviderStatus;
            use vitrine_domain::audit::{AuditEvent, AuditRecord};
            use vitrine_domain::auth::{OneTimeToken, SignInAttempts};
            use vitrine_domain::user::Email;
            use vitrine_domain::{
                Account, AccountId, Offering, OfferingName, Timestamp, TokenId, User, UserId,
            };
            use jiff::civil::Date;
            use vitrine_domain::calendar::CalendarSettings;
            use vitrine_domain::go_live::Submission;
            use vitrine_domain::recording::{Recording, Upload, UploadId};
            use vitrine_domain::review::RequirementSet;
            use vitrine_domain::submission::SubmissionState;
            use vitrine_domain::thread::Message;
            use vitrine_domain::{OfferingId, RecordingId, SubmissionId};
            use $crate::shared::{
                AccountRow, AllowRow, AuditRow, Dialect, MemberRow, MessageRow, OfferingRow,
                OneTimeTokenRow, OutboxRow, RecordingRow, ReviewSessionRow, SubmissionRow, TagRow,
                TokenRow, UploadRow, UserRow, ValidatorRow, bind_params, db, micros,
                outbox_columns, select, taken, unique, user_columns,
            };
            use $crate::{
                ApiToken, AuditQuery, CatalogPage, CatalogQuery, IssuedToken, NewEmail, OutboxEmail,
                OutboxQuery, Result, ReviewSessionRecord, SecretHash, StoreError, Validator,
                Versioned,
            };

            type Connection = <$db as sqlx::Database>::Connection;
            type Args = <$db as sqlx::Database>::Arguments;
            type Query<'q> = sqlx::query::Query<'q, $db, Args>;
            type QueryAs<'q, T> = sqlx::query::QueryAs<'q, $db, T, Args>;
            type Done = <$db as sqlx::Database>::QueryResult;
            type Row = <$db as sqlx::Database>::Row;

            fn count(n: i64) -> Result<u64> {
                u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
            }

            /// Ends an optimistic update: nothing matched the id and the previous version.
            fn changed(done: Done, what: &'static str) -> Result<()> {
                if done.rows_affected() == 0 {
                    Err(StoreError::Conflict { what })
                } else {
                    Ok(())
                }
            }

            /// Ends a change of a row that must exist.
            fn found(done: Done) -> Result<()> {
                if done.rows_affected() == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(())
                }
            }

            // The columns an insert and an optimistic update both write, as `$1`...: the
            // id first and the version last (updates match on `version = $last - 1`).

            fn bind_user<'q>(query: Query<'q>, user: &User) -> Query<'q> {
                query
                    .bind(user.id.0)
                    .bind(user.email.as_str())
                    .bind(user.display_name.as_str())
                    .bind(user.language.code())
                    .bind(user.time_zone.as_str())
                    .bind(user.staff.admin)
                    .bind(user.staff.validator)
                    .bind(user.email_verified_at.map(micros))
                    .bind(user.version)
            }

            fn bind_account<'q>(query: Query<'q>, account: &Account) -> Result<Query<'q>> {
                let provider = $crate::shared::provider_columns(account)?;
                Ok(query
                    .bind(account.id.0)
                    .bind(account.name.as_str())
                    .bind(provider.status)
                    .bind(provider.submitted_at)
                    .bind(provider.json)
                    .bind(account.version))
            }

            fn bind_offering<'q>(query: Query<'q>, offering: &Offering) -> Result<Query<'q>> {
                let json = $crate::shared::offering_json(offering)?;
                Ok(query
                    .bind(offering.id.0)
                    .bind(offering.name.as_str())
                    .bind(offering.provider_account_id.0)
                    .bind(json.display_name)
                    .bind(json.description)
                    .bind(offering.category.as_deref())
                    .bind(offering.documentation_url.as_deref())
                    .bind(offering.support_contact.as_deref())
                    .bind(json.plans)
                    .bind(offering.visibility.as_str())
                    .bind(json.attestations)
                    .bind(json.search_document)
                    .bind(micros(offering.updated_at))
                    .bind(offering.version))
            }

            fn bind_submission<'q>(query: Query<'q>, s: &Submission) -> Result<Query<'q>> {
                let columns = $crate::shared::submission_values(s)?;
                Ok(query
                    .bind(s.id.0)
                    .bind(s.offering_id.0)
                    .bind(s.provider_account_id.0)
                    .bind(s.state.as_str())
                    .bind(s.validator.map(|v| v.0))
                    .bind(columns.round_number)
                    .bind(columns.submitted_at)
                    .bind(s.publication_at.map(micros))
                    .bind(columns.rounds)
                    .bind(micros(s.updated_at))
                    .bind(s.version)
                    .bind(columns.revision))
            }

            impl $store {
                /// Appends the audit events of a change, in the change's transaction.
                pub async fn write_audit(conn: &mut Connection, events: &[AuditEvent]) -> Result<()> {
                    for chunk in events.chunks(<$store>::ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "INSERT INTO audit_events (at, actor, action, subject_kind, \
                             subject_id, account_id, offering_id, before, after) VALUES {}",
                            $crate::shared::values_rows(chunk.len(), 9)
                        );
                        let mut query = sqlx::query(AssertSqlSafe(sql));
                        for e in chunk {
                            let (before, after) = $crate::shared::audit_json(e)?;
                            query = query
                                .bind(micros(e.at))
                                .bind(e.actor.map(|a| a.0))
                                .bind(e.action.as_str())
                                .bind(e.subject_kind.as_str())
                                .bind(e.subject_id.as_str())
                                .bind(e.account_id.map(|a| a.0))
                                .bind(e.offering_id.map(|o| o.0))
                                .bind(before)
                                .bind(after);
                        }
                        query
                            .execute(&mut *conn)
                            .await
                            .map_err(db("write audit events"))?;
                    }
                    Ok(())
                }

                /// Writes the emails a change causes to the outbox, in the change's
                /// transaction: they are sent only if the change is kept.
                pub async fn write_outbox(conn: &mut Connection, emails: &[NewEmail]) -> Result<()> {
                    for e in emails {
                        sqlx::query(
                            "INSERT INTO outbox (created_at, recipients, subject, submission_id, \
                             payload, status, attempts, next_attempt_at, holds_secret) \
                             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $1, $6)",
                        )
                        .bind(micros(e.created_at))
                        .bind(e.recipients.as_str())
                        .bind(e.subject.as_str())
                        .bind(e.submission_id.map(|s| s.0))
                        .bind($crate::shared::to_json("outgoing email", &e.payload)?)
                        .bind(e.holds_secret)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("write an email to the outbox"))?;
                        if let Some(key) = &e.reply_key {
                            sqlx::query(
                                "INSERT INTO reply_keys (hash, user_id, submission_id, \
                                 created_at) VALUES ($1, $2, $3, $4)",
                            )
                            .bind(key.hash.as_slice())
                            .bind(key.user_id.0)
                            .bind(key.submission_id.0)
                            .bind(micros(e.created_at))
                            .execute(&mut *conn)
                            .await
                            .map_err(db("write a reply key"))?;
                        }
                    }
                    Ok(())
                }

                // Every change is one write transaction: `begin_write`, the change's own
                // statements, then `commit_all` (its audit events, its emails, commit). A
                // statement that fails, or whose `check` refuses its result, returns before
                // the commit: the transaction is dropped and nothing is written.

                /// Ends a change: writes its audit events and its emails, then commits.
                async fn commit_all(
                    mut tx: sqlx::Transaction<'static, $db>,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                    context: &'static str,
                ) -> Result<()> {
                    Self::write_audit(&mut tx, events).await?;
                    Self::write_outbox(&mut tx, emails).await?;
                    tx.commit().await.map_err(db(context))
                }

                /// Runs one statement of a change; `check` sees its result.
                async fn execute(
                    conn: &mut Connection,
                    statement: Query<'_>,
                    map_err: impl FnOnce(sqlx::Error) -> StoreError,
                    check: impl FnOnce(Done) -> Result<()>,
                ) -> Result<()> {
                    check(statement.execute(&mut *conn).await.map_err(map_err)?)
                }

                /// A change of one statement, with its audit events and emails.
                async fn write(
                    &self,
                    statement: Query<'_>,
                    map_err: impl FnOnce(sqlx::Error) -> StoreError,
                    check: impl FnOnce(Done) -> Result<()>,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                    context: &'static str,
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::execute(&mut tx, statement, map_err, check).await?;
                    Self::commit_all(tx, events, emails, context).await
                }

                async fn insert_user_row(
                    conn: &mut Connection,
                    user: &User,
                    password_hash: Option<&str>,
                ) -> Result<()> {
                    let statement = sqlx::query(
                        "INSERT INTO users (id, email, display_name, language, time_zone, \
                         is_admin, is_validator, email_verified_at, version, password_hash, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    );
                    bind_user(statement, user)
                        .bind(password_hash)
                        .bind(micros(user.created_at))
                        .execute(&mut *conn)
                        .await
                        .map_err(unique("email", "insert a user"))?;
                    Ok(())
                }

                /// Writes a user over the stored one if that is still at the previous version.
                async fn update_user_row(conn: &mut Connection, user: &User) -> Result<()> {
                    let statement = bind_user(
                        sqlx::query(
                            "UPDATE users SET email = $2, display_name = $3, language = $4, \
                             time_zone = $5, is_admin = $6, is_validator = $7, \
                             email_verified_at = $8, version = $9 \
                             WHERE id = $1 AND version = $9 - 1",
                        ),
                        user,
                    );
                    let map_err = unique("email", "update a user");
                    Self::execute(conn, statement, map_err, |d| changed(d, "user")).await
                }

                async fn set_password_row(
                    conn: &mut Connection,
                    user: UserId,
                    password_hash: &str,
                ) -> Result<()> {
                    let statement = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                        .bind(user.0)
                        .bind(password_hash);
                    Self::execute(conn, statement, db("set a password"), found).await
                }

                async fn insert_account_row(conn: &mut Connection, account: &Account) -> Result<()> {
                    bind_account(
                        sqlx::query(
                            "INSERT INTO accounts (id, name, provider_status, \
                             provider_submitted_at, provider_application, version, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        ),
                        account,
                    )?
                    .bind(micros(account.created_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(unique("id", "insert an account"))?;
                    Self::write_members(conn, account).await
                }

                /// Stores a one-time token, and deletes tokens that expired longer ago than
                /// they are kept.
                async fn insert_one_time_token_row(
                    conn: &mut Connection,
                    issued: &IssuedToken,
                ) -> Result<()> {
                    let token = &issued.token;
                    sqlx::query("DELETE FROM one_time_tokens WHERE expires_at < $1")
                        .bind(micros(token.created_at).saturating_sub(
                            $crate::shared::ONE_TIME_TOKEN_RETENTION_MICROS,
                        ))
                        .execute(&mut *conn)
                        .await
                        .map_err(db("delete old one-time tokens"))?;
                    sqlx::query(
                        "INSERT INTO one_time_tokens (hash, purpose, user_id, created_at, \
                         expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&issued.hash[..])
                    .bind(token.purpose.as_str())
                    .bind(token.user_id.0)
                    .bind(micros(token.created_at))
                    .bind(micros(token.expires_at))
                    .bind(token.used_at.map(micros))
                    .execute(&mut *conn)
                    .await
                    .map_err(unique("token", "insert a one-time token"))?;
                    Ok(())
                }

                /// Writes an offering over the stored one if that is still at the previous
                /// version.
                async fn update_offering_row(conn: &mut Connection, offering: &Offering) -> Result<()> {
                    let statement = bind_offering(
                        sqlx::query(
                            "UPDATE offerings SET name = $2, provider_account_id = $3, \
                             display_name = $4, description = $5, category = $6, \
                             documentation_url = $7, support_contact = $8, plans = $9, \
                             visibility = $10, attestations = $11, search_document = $12, \
                             updated_at = $13, version = $14 \
                             WHERE id = $1 AND version = $14 - 1",
                        ),
                        offering,
                    )?;
                    let done = statement
                        .execute(&mut *conn)
                        .await
                        .map_err(unique("name", "update an offering"))?;
                    changed(done, "offering")?;
                    Self::write_offering_parts(conn, offering, true).await
                }

                /// Writes submissions over the stored ones if each is still at the version
                /// before its own; [`StoreError::Conflict`] if any is not (the caller's
                /// transaction is then dropped, so none is written).
                async fn update_submission_rows(
                    conn: &mut Connection,
                    submissions: &[Submission],
                ) -> Result<()> {
                    // `VALUES` columns are named column1, column2… on both backends, in the
                    // order `bind_submission` binds them.
                    for chunk in submissions.chunks(<$store>::ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "UPDATE submissions SET offering_id = v.column2, \
                             provider_account_id = v.column3, state = v.column4, \
                             validator_id = v.column5, round_number = v.column6, \
                             submitted_at = v.column7, publication_at = v.column8, \
                             rounds = v.column9, updated_at = v.column10, version = v.column11, \
                             revision = v.column12 \
                             FROM (VALUES {}) AS v \
                             WHERE submissions.id = v.column1 \
                             AND submissions.version = v.column11 - 1",
                            $crate::shared::values_rows(chunk.len(), 12)
                        );
                        let mut query = sqlx::query(AssertSqlSafe(sql));
                        for s in chunk {
                            query = bind_submission(query, s)?;
                        }
                        let done = query
                            .execute(&mut *conn)
                            .await
                            .map_err(unique("offering", "update submissions"))?;
                        if usize::try_from(done.rows_affected()).ok() != Some(chunk.len()) {
                            return Err(StoreError::Conflict { what: "submission" });
                        }
                    }
                    Ok(())
                }

                async fn read_submissions(
                    &self,
                    query: QueryAs<'_, SubmissionRow>,
                ) -> Result<Vec<Submission>> {
                    self.all(query, "read submissions", SubmissionRow::into_submission)
                        .await
                }

                async fn calendar_settings_in(
                    conn: &mut Connection,
                ) -> Result<Versioned<CalendarSettings>> {
                    let row: Option<(String, i64)> = sqlx::query_as(
                        "SELECT value, version FROM marketplace_settings WHERE key = $1",
                    )
                    .bind($crate::shared::CALENDAR_KEY)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db("read the calendar settings"))?;
                    $crate::shared::settings_from_row(row)
                }

                async fn insert_recording_row(conn: &mut Connection, r: &Recording) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO recordings (id, submission_id, uploaded_by, file_name, size, \
                         sha256, media_type, duration_seconds, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(r.id.0)
                    .bind(r.submission_id.0)
                    .bind(r.uploaded_by.0)
                    .bind(r.file_name.as_str())
                    .bind($crate::shared::signed("recording size", r.size)?)
                    .bind(r.sha256.as_str())
                    .bind(r.media_type.as_str())
                    .bind(r.duration_seconds)
                    .bind(micros(r.created_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(unique("id", "insert a recording"))?;
                    Ok(())
                }

                /// The store on `pool`, once `migrator` has applied its pending migrations
                /// and the default requirement list is stored as version 1 if no version
                /// exists (safe to run on several servers at once).
                async fn open(
                    pool: sqlx::Pool<$db>,
                    migrator: &sqlx::migrate::Migrator,
                ) -> Result<Self> {
                    migrator.run(&pool).await?;
                    let default = vitrine_domain::review::default_requirements();
                    sqlx::query(
                        "INSERT INTO requirement_sets (version, requirements, created_at) \
                         SELECT $1, $2, 0 WHERE NOT EXISTS (SELECT 1 FROM requirement_sets) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(i64::from(default.version))
                    .bind($crate::shared::to_json("requirements", &default.requirements)?)
                    .execute(&pool)
                    .await
                    .map_err(db("seed the demo requirements"))?;
                    Ok(Self {
                        pool,
                        catalog: std::sync::Arc::default(),
                    })
                }

                /// The connection pool, for callers that need SQL of their own (jobs,
                /// uploads).
                pub fn pool(&self) -> &sqlx::Pool<$db> {
                    &self.pool
                }

                /// Rows of `table` whose `column` is one of `ids`, in `order`: one query for
                /// all the aggregates of a page, not one per aggregate.
                async fn rows_for<T>(
                    conn: &mut Connection,
                    columns: &str,
                    table: &str,
                    column: &str,
                    order: &str,
                    ids: &[Uuid],
                ) -> Result<Vec<T>>
                where
                    T: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "SELECT {columns} FROM {table} WHERE {} ORDER BY {order}",
                        <$store>::ids_in(column, "$1")
                    );
                    sqlx::query_as(AssertSqlSafe(sql))
                        .bind(<$store>::ids_value(ids))
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(db("read the parts of aggregates"))
                }

                /// Replaces an account's members.
                async fn write_members(conn: &mut Connection, account: &Account) -> Result<()> {
                    sqlx::query("DELETE FROM memberships WHERE account_id = $1")
                        .bind(account.id.0)
                        .execute(&mut *conn)
                        .await
                        .map_err(db("clear members"))?;
                    for (position, m) in (0_i64..).zip(&account.members) {
                        sqlx::query(
                            "INSERT INTO memberships (account_id, user_id, role, position) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(account.id.0)
                        .bind(m.user_id.0)
                        .bind(m.role.as_str())
                        .bind(position)
                        .execute(&mut *conn)
                        .await
                        .map_err(unique("members", "write a member"))?;
                    }
                    Ok(())
                }

                /// The row `query` reads, if any, decoded.
                async fn optional<R, T>(
                    &self,
                    query: QueryAs<'_, R>,
                    context: &'static str,
                    decode: impl FnOnce(R) -> Result<T>,
                ) -> Result<Option<T>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                {
                    let row = query.fetch_optional(&self.pool).await.map_err(db(context))?;
                    row.map(decode).transpose()
                }

                /// The rows `query` reads, decoded, in its order.
                async fn all<R, T>(
                    &self,
                    query: QueryAs<'_, R>,
                    context: &'static str,
                    decode: impl FnMut(R) -> Result<T>,
                ) -> Result<Vec<T>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                {
                    let rows = query.fetch_all(&self.pool).await.map_err(db(context))?;
                    rows.into_iter().map(decode).collect()
                }

                /// Reads at most one offering (with its allowlist) in one snapshot.
                async fn read_one_offering(
                    &self,
                    query: QueryAs<'_, OfferingRow>,
                ) -> Result<Option<Offering>> {
                    let mut tx = self.begin_read().await?;
                    let rows = query
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db("read an offering"))?;
                    let offerings = Self::complete_offerings(&mut tx, rows).await?;
                    tx.commit().await.map_err(db("end a read"))?;
                    Ok(offerings.into_iter().next())
                }

                /// Reads accounts and their members in one snapshot, in the query's order.
                async fn read_accounts(
                    &self,
                    query: QueryAs<'_, AccountRow>,
                ) -> Result<Vec<Account>> {
                    let mut tx = self.begin_read().await?;
                    let rows = query
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db("read accounts"))?;
                    let ids: Vec<Uuid> = rows.iter().map(AccountRow::id).collect();
                    let members: Vec<MemberRow> = Self::rows_for(
                        &mut tx,
                        "account_id, user_id, role",
                        "memberships",
                        "account_id",
                        "account_id, position",
                        &ids,
                    )
                    .await?;
                    tx.commit().await.map_err(db("end a read"))?;
                    $crate::shared::accounts_from_rows(rows, members)
                }

                /// Writes an offering's tags and allowlist (`replace`: over older ones), and moves the
                /// catalog to its next generation.
                async fn write_offering_parts(
                    conn: &mut Connection,
                    offering: &Offering,
                    replace: bool,
                ) -> Result<()> {
                    sqlx::query("UPDATE catalog_state SET generation = generation + 1")
                        .execute(&mut *conn)
                        .await
                        .map_err(db("move the catalog to its next generation"))?;
                    let id = offering.id.0;
                    if replace {
                        sqlx::query("DELETE FROM offering_tags WHERE offering_id = $1")
                            .bind(id)
                            .execute(&mut *conn)
                            .await
                            .map_err(db("clear tags"))?;
                    }
                    for tag in &offering.tags {
                        sqlx::query(
                            "INSERT INTO offering_tags (offering_id, tag) VALUES ($1, $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(tag.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(db("write a tag"))?;
                    }
                    // An allowlist holds up to 10,000 accounts: change only what changed,
                    // with one statement each way.
                    let allowed = $crate::shared::ids(&offering.allowlist, |a| a.0);
                    if replace {
                        let sql = format!(
                            "DELETE FROM offering_allowlist WHERE offering_id = $1 AND NOT ({})",
                            <$store>::ids_in("account_id", "$2")
                        );
                        sqlx::query(AssertSqlSafe(sql))
                            .bind(id)
                            .bind(<$store>::ids_value(&allowed))
                            .execute(&mut *conn)
                            .await
                            .map_err(db("shrink an allowlist"))?;
                    }
                    if !allowed.is_empty() {
                        // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause.
                        let sql = format!(
                            "INSERT INTO offering_allowlist (offering_id, account_id) \
                             SELECT $1, r.id FROM {} r WHERE true ON CONFLICT DO NOTHING",
                            <$store>::id_rows("$2")
                        );
                        sqlx::query(AssertSqlSafe(sql))
                            .bind(id)
                            .bind(<$store>::ids_value(&allowed))
                            .execute(&mut *conn)
                            .await
                            .map_err(db("grow an allowlist"))?;
                    }
                    Ok(())
                }

                /// Loads the tags and allowlists of these offerings (one query each, not one
                /// per offering) and builds them, in the rows' order.
                async fn complete_offerings(
                    conn: &mut Connection,
                    rows: Vec<OfferingRow>,
                ) -> Result<Vec<Offering>> {
                    if rows.is_empty() {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<Uuid> = rows.iter().map(OfferingRow::id).collect();
                    let tags: Vec<TagRow> = Self::rows_for(
                        conn,
                        "offering_id, tag",
                        "offering_tags",
                        "offering_id",
                        "offering_id, tag",
                        &ids,
                    )
                    .await?;
                    let allowlist: Vec<AllowRow> = Self::rows_for(
                        conn,
                        "offering_id, account_id",
                        "offering_allowlist",
                        "offering_id",
                        "offering_id, account_id",
                        &ids,
                    )
                    .await?;
                    $crate::shared::offerings_from_rows(rows, tags, allowlist)
                }
            }

            #[async_trait]
            impl $crate::Store for $store {
                fn pools(&self) -> $crate::Pools<'_> {
                    (&self.pool).into()
                }

                fn backend(&self) -> &'static str {
                    <$store>::BACKEND
                }

                async fn test_clock_offset(&self) -> Result<i64> {
                    sqlx::query_scalar("SELECT offset_micros FROM test_clock WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db("read the test clock"))
                }

                async fn advance_test_clock(&self, micros: i64) -> Result<i64> {
                    sqlx::query_scalar(
                        "UPDATE test_clock SET offset_micros = offset_micros + $1 \
                         WHERE id = 1 RETURNING offset_micros",
                    )
                    .bind(micros.max(0))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("move the test clock"))
                }

                async fn watch_changes(&self, on_change: $crate::ChangeHandler) -> Result<bool> {
                    self.spawn_change_watch(on_change).await
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err(db("ping"))?;
                    Ok(())
                }

                async fn snapshot_into(&self, file: &std::path::Path) -> Result<bool> {
                    if <$store>::BACKEND != "sqlite" {
                        return Ok(false);
                    }
                    let Some(file) = file.to_str() else {
                        return Err(StoreError::Corrupt(format!(
                            "the snapshot's path {} is not UTF-8",
                            file.display()
                        )));
                    };
                    // One statement, outside any transaction: SQLite copies the database as
                    // of its start while writers go on.
                    sqlx::query("VACUUM INTO $1")
                        .bind(file)
                        .execute(&self.pool)
                        .await
                        .map_err(db("snapshot the database"))?;
                    Ok(true)
                }

                // --- users ---

                async fn insert_user(
                    &self,
                    user: &User,
                    password_hash: Option<&str>,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::insert_user_row(&mut tx, user, password_hash).await?;
                    Self::commit_all(tx, events, &[], "commit a new user").await
                }

                async fn update_user(
                    &self,
                    user: &User,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::update_user_row(&mut tx, user).await?;
                    Self::commit_all(tx, events, emails, "commit a user change").await
                }

                async fn set_password_hash(
                    &self,
                    user: UserId,
                    password_hash: &str,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::set_password_row(&mut tx, user, password_hash).await?;
                    Self::commit_all(tx, events, &[], "commit a password change").await
                }

                async fn user(&self, id: UserId) -> Result<Option<User>> {
                    let query = sqlx::query_as(select!(users, "WHERE id = $1")).bind(id.0);
                    self.optional(query, "read a user", UserRow::into_user).await
                }

                async fn user_by_email(
                    &self,
                    email: &Email,
                ) -> Result<Option<(User, Option<String>)>> {
                    let query = sqlx::query_as(select!(users, "WHERE email = $1"))
                        .bind(email.as_str());
                    self.optional(query, "read a user by email", UserRow::into_user_and_hash).await
                }

                async fn list_users(
                    &self,
                    after_email: Option<&str>,
                    limit: u32,
                ) -> Result<Vec<User>> {
                    let query = sqlx::query_as(select!(
                        users,
                        "WHERE email > $1 ORDER BY email LIMIT $2"
                    ))
                    .bind(after_email.unwrap_or(""))
                    .bind(i64::from(limit));
                    self.all(query, "list users", UserRow::into_user).await
                }

                async fn count_admins(&self) -> Result<u64> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db("count admins"))?;
                    count(n)
                }

                // --- sessions and tokens ---

                async fn insert_session(
                    &self,
                    hash: &SecretHash,
                    user: UserId,
                    created_at: Timestamp,
                    expires_at: Timestamp,
                ) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO sessions (hash, user_id, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&hash[..])
                    .bind(user.0)
                    .bind(micros(created_at))
                    .bind(micros(expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(unique("session", "insert a session"))?;
                    Ok(())
                }

                async fn session_user(
                    &self,
                    hash: &SecretHash,
                    now: Timestamp,
                ) -> Result<Option<(UserId, Timestamp)>> {
                    let query = sqlx::query_as(
                        "SELECT user_id, expires_at FROM sessions \
                         WHERE hash = $1 AND expires_at > $2",
                    )
                    .bind(&hash[..])
                    .bind(micros(now));
                    let decode = |(user, expires): (Uuid, i64)| {
                        Ok((UserId(user), $crate::shared::timestamp(expires)?))
                    };
                    self.optional(query, "read a session", decode).await
                }

                async fn delete_session(&self, hash: &SecretHash) -> Result<()> {
                    sqlx::query("DELETE FROM sessions WHERE hash = $1")
                        .bind(&hash[..])
                        .execute(&self.pool)
                        .await
                        .map_err(db("delete a session"))?;
                    Ok(())
                }

                async fn insert_api_token(
                    &self,
                    token: &ApiToken,
                    hash: &SecretHash,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let statement = sqlx::query(
                        "INSERT INTO api_tokens (id, user_id, name, hash, created_at, \
                         last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(token.id.0)
                    .bind(token.user_id.0)
                    .bind(token.name.as_str())
                    .bind(&hash[..])
                    .bind(micros(token.created_at))
                    .bind(token.last_used_at.map(micros))
                    .bind(token.revoked_at.map(micros));
                    let map_err = unique("token", "insert a token");
                    let context = "commit a new token";
                    self.write(statement, map_err, |_| Ok(()), events, &[], context)
                        .await
                }

                async fn api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>> {
                    let query = sqlx::query_as(
                        "SELECT id, user_id, name, created_at, last_used_at, revoked_at \
                         FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id",
                    )
                    .bind(user.0);
                    self.all(query, "list tokens", TokenRow::into_token).await
                }

                async fn revoke_api_token(
                    &self,
                    user: UserId,
                    id: TokenId,
                    now: Timestamp,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let statement = sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $3 \
                         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(id.0)
                    .bind(user.0)
                    .bind(micros(now));
                    let context = "commit a token revocation";
                    self.write(statement, db("revoke a token"), found, events, &[], context)
                        .await
                }

                async fn token_user(
                    &self,
                    hash: &SecretHash,
                    now: Timestamp,
                ) -> Result<Option<UserId>> {
                    let user: Option<Uuid> = sqlx::query_scalar(
                        "UPDATE api_tokens SET last_used_at = $2 \
                         WHERE hash = $1 AND revoked_at IS NULL RETURNING user_id",
                    )
                    .bind(&hash[..])
                    .bind(micros(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("use a token"))?;
                    Ok(user.map(UserId))
                }

                // --- self-service accounts ---

                async fn sign_up(
                    &self,
                    user: &User,
                    password_hash: &str,
                    account: &Account,
                    verification: &IssuedToken,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::insert_user_row(&mut tx, user, Some(password_hash)).await?;
                    Self::insert_account_row(&mut tx, account).await?;
                    Self::insert_one_time_token_row(&mut tx, verification).await?;
                    Self::commit_all(tx, events, emails, "commit a sign-up").await
                }

                async fn insert_one_time_token(
                    &self,
                    token: &IssuedToken,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::insert_one_time_token_row(&mut tx, token).await?;
                    Self::commit_all(tx, events, emails, "commit a one-time token").await
                }

                async fn one_time_token(
                    &self,
                    hash: &SecretHash,
                ) -> Result<Option<OneTimeToken>> {
                    let query = sqlx::query_as(
                        "SELECT purpose, user_id, created_at, expires_at, used_at \
                         FROM one_time_tokens WHERE hash = $1",
                    )
                    .bind(&hash[..]);
                    self.optional(query, "read a one-time token", OneTimeTokenRow::into_token).await
                }

                async fn redeem_one_time_token(
                    &self,
                    hash: &SecretHash,
                    used_at: Timestamp,
                    user: &User,
                    password_hash: Option<&str>,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    // Only an unused token of this user: of two concurrent uses, the
                    // second finds it used and changes nothing.
                    let statement = sqlx::query(
                        "UPDATE one_time_tokens SET used_at = $2 \
                         WHERE hash = $1 AND user_id = $3 AND used_at IS NULL",
                    )
                    .bind(&hash[..])
                    .bind(micros(used_at))
                    .bind(user.id.0);
                    let map_err = db("use a one-time token");
                    Self::execute(&mut tx, statement, map_err, |d| changed(d, "token")).await?;
                    Self::update_user_row(&mut tx, user).await?;
                    if let Some(password_hash) = password_hash {
                        Self::set_password_row(&mut tx, user.id, password_hash).await?;
                        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                            .bind(user.id.0)
                            .execute(&mut *tx)
                            .await
                            .map_err(db("end a user's sessions"))?;
                    }
                    Self::commit_all(tx, events, &[], "commit a one-time token's use").await
                }

                async fn insert_emails(
                    &self,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let tx = self.begin_write().await?;
                    Self::commit_all(tx, events, emails, "commit emails").await
                }

                async fn count_sign_in_attempt(
                    &self,
                    email: &Email,
                    now: Timestamp,
                ) -> Result<SignInAttempts> {
                    let open_after = $crate::shared::open_windows_after(now);
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM sign_in_failures WHERE window_started_at <= $1")
                        .bind(open_after)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("forget ended sign-in windows"))?;
                    // SignInAttempts::after_attempt in one statement: the row's old values
                    // decide both columns. A concurrent attempt waits for this one's row.
                    let (started, failures): (i64, i64) = sqlx::query_as(
                        "INSERT INTO sign_in_failures (email, window_started_at, failures) \
                         VALUES ($1, $2, 1) ON CONFLICT (email) DO UPDATE SET \
                         window_started_at = CASE WHEN sign_in_failures.window_started_at > $3 \
                         THEN sign_in_failures.window_started_at ELSE $2 END, \
                         failures = CASE WHEN sign_in_failures.window_started_at > $3 \
                         THEN sign_in_failures.failures + 1 ELSE 1 END \
                         RETURNING window_started_at, failures",
                    )
                    .bind(email.as_str())
                    .bind(micros(now))
                    .bind(open_after)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("count a sign-in attempt"))?;
                    tx.commit().await.map_err(db("commit a sign-in attempt"))?;
                    $crate::shared::sign_in_attempts(started, failures)
                }

                async fn clear_sign_in_attempts(&self, email: &Email) -> Result<()> {
                    sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
                        .bind(email.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(db("forget sign-in attempts"))?;
                    Ok(())
                }

                // --- accounts ---

                async fn insert_account(
                    &self,
                    account: &Account,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::insert_account_row(&mut tx, account).await?;
                    Self::commit_all(tx, events, &[], "commit a new account").await
                }

                async fn update_account(
                    &self,
                    account: &Account,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let statement = bind_account(
                        sqlx::query(
                            "UPDATE accounts SET name = $2, provider_status = $3, \
                             provider_submitted_at = $4, provider_application = $5, \
                             version = $6 WHERE id = $1 AND version = $6 - 1",
                        ),
                        account,
                    )?;
                    let check = |d| changed(d, "account");
                    let mut tx = self.begin_write().await?;
                    Self::execute(&mut tx, statement, db("update an account"), check).await?;
                    Self::write_members(&mut tx, account).await?;
                    Self::commit_all(tx, events, &[], "commit an account change").await
                }

                async fn account(&self, id: AccountId) -> Result<Option<Account>> {
                    let query = sqlx::query_as(select!(accounts, "WHERE a.id = $1")).bind(id.0);
                    Ok(self.read_accounts(query).await?.into_iter().next())
                }

                async fn existing_accounts(&self, ids: &[AccountId]) -> Result<Vec<AccountId>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "SELECT id FROM accounts WHERE {} ORDER BY id",
                        <$store>::ids_in("id", "$1")
                    );
                    let found: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(sql))
                        .bind(<$store>::ids_value(&$crate::shared::ids(ids, |a| a.0)))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("check accounts exist"))?;
                    Ok(found.into_iter().map(AccountId).collect())
                }

                async fn account_owners(&self, ids: &[AccountId]) -> Result<Vec<$crate::AccountOwners>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "SELECT a.id, a.name, u.email FROM accounts a \
                         LEFT JOIN memberships m ON m.account_id = a.id AND m.role = $2 \
                         LEFT JOIN users u ON u.id = m.user_id \
                         WHERE {} ORDER BY a.name, a.id, m.position",
                        <$store>::ids_in("a.id", "$1")
                    );
                    let rows: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(AssertSqlSafe(sql))
                        .bind(<$store>::ids_value(&$crate::shared::ids(ids, |a| a.0)))
                        .bind(vitrine_domain::permissions::MembershipRole::Owner.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("read the accounts' owners"))?;
                    let mut accounts: Vec<$crate::AccountOwners> = Vec::new();
                    for (id, name, email) in rows {
                        let id = AccountId(id);
                        if accounts.last().is_none_or(|a| a.id != id) {
                            accounts.push($crate::AccountOwners { id, name, owner_emails: Vec::new() });
                        }
                        if let (Some(email), Some(account)) = (email, accounts.last_mut()) {
                            account.owner_emails.push(
                                Email::parse("users.email", &email)
                                    .map_err(|e| $crate::StoreError::Corrupt(format!("users.email: {e}")))?,
                            );
                        }
                    }
                    Ok(accounts)
                }

                async fn accounts_of_user(&self, user: UserId) -> Result<Vec<Account>> {
                    let query = sqlx::query_as(select!(
                        accounts,
                        "JOIN memberships m ON m.account_id = a.id \
                         WHERE m.user_id = $1 ORDER BY a.name, a.id"
                    ))
                    .bind(user.0);
                    self.read_accounts(query).await
                }

                async fn list_accounts(
                    &self,
                    after: Option<AccountId>,
                    limit: u32,
                ) -> Result<Vec<Account>> {
                    let query = match after {
                        None => sqlx::query_as(select!(accounts, "ORDER BY a.name, a.id LIMIT $1"))
                            .bind(i64::from(limit)),
                        Some(after) => sqlx::query_as(select!(
                            accounts,
                            "WHERE (a.name, a.id) > \
                             (SELECT b.name, b.id FROM accounts b WHERE b.id = $2) \
                             ORDER BY a.name, a.id LIMIT $1"
                        ))
                        .bind(i64::from(limit))
                        .bind(after.0),
                    };
                    self.read_accounts(query).await
                }

                async fn provider_applications(
                    &self,
                    status: Option<ProviderStatus>,
                ) -> Result<Vec<Account>> {
                    let query = match $crate::shared::status_str(status) {
                        None => sqlx::query_as(select!(
                            accounts,
                            "WHERE a.provider_status IS NOT NULL \
                             ORDER BY a.provider_submitted_at, a.id"
                        )),
                        Some(status) => sqlx::query_as(select!(
                            accounts,
                            "WHERE a.provider_status = $1 \
                             ORDER BY a.provider_submitted_at, a.id"
                        ))
                        .bind(status),
                    };
                    self.read_accounts(query).await
                }

                // --- offerings ---

                async fn insert_offering(
                    &self,
                    offering: &Offering,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let statement = bind_offering(
                        sqlx::query(
                            "INSERT INTO offerings (id, name, provider_account_id, \
                             display_name, description, category, documentation_url, \
                             support_contact, plans, visibility, attestations, search_document, \
                             updated_at, version, created_at) VALUES ($1, $2, $3, $4, $5, $6, \
                             $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                        ),
                        offering,
                    )?
                    .bind(micros(offering.created_at));
                    let map_err = unique("name", "insert an offering");
                    let mut tx = self.begin_write().await?;
                    Self::execute(&mut tx, statement, map_err, |_| Ok(())).await?;
                    Self::write_offering_parts(&mut tx, offering, false).await?;
                    Self::commit_all(tx, events, &[], "commit a new offering").await
                }

                async fn update_offering(
                    &self,
                    offering: &Offering,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::update_offering_row(&mut tx, offering).await?;
                    Self::commit_all(tx, events, &[], "commit an offering change").await
                }

                async fn offering_by_name(&self, name: &OfferingName) -> Result<Option<Offering>> {
                    let query = sqlx::query_as(select!(offerings, "WHERE o.name = $1"))
                        .bind(name.as_str());
                    self.read_one_offering(query).await
                }

                async fn offering_by_id(&self, id: OfferingId) -> Result<Option<Offering>> {
                    let query = sqlx::query_as(select!(offerings, "WHERE o.id = $1")).bind(id.0);
                    self.read_one_offering(query).await
                }

                async fn offering_labels(&self, ids: &[OfferingId]) -> Result<Vec<$crate::OfferingLabel>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "SELECT o.id, o.name, a.id, a.name FROM offerings o \
                         JOIN accounts a ON a.id = o.provider_account_id \
                         WHERE {} ORDER BY o.name",
                        <$store>::ids_in("o.id", "$1")
                    );
                    let rows: Vec<(Uuid, String, Uuid, String)> = sqlx::query_as(AssertSqlSafe(sql))
                        .bind(<$store>::ids_value(&$crate::shared::ids(ids, |o| o.0)))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("read the offerings' names"))?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, name, account, provider_name)| $crate::OfferingLabel {
                            id: OfferingId(id),
                            name,
                            provider_account_id: AccountId(account),
                            provider_name,
                        })
                        .collect())
                }

                async fn catalog(&self, query: &CatalogQuery) -> Result<CatalogPage> {
                    let sql = $crate::shared::catalog_sql::<$store>(query);
                    let limit = usize::try_from(query.limit.max(1)).unwrap_or(usize::MAX);
                    const GENERATION: &str = "SELECT generation FROM catalog_state WHERE id = 1";
                    // The common case, a page asked before since the last offering write,
                    // costs one single-row read.
                    let generation: i64 = sqlx::query_scalar(GENERATION)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db("read the catalog generation"))?;
                    if let Some(page) = self.catalog.page(generation, &sql.page_key) {
                        return Ok(page);
                    }
                    let mut tx = self.begin_read().await?;
                    // Again, in the snapshot the page is read in.
                    let generation: i64 = sqlx::query_scalar(GENERATION)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db("read the catalog generation"))?;
                    let mut rows: Vec<OfferingRow> = bind_params!(
                        sqlx::query_as(AssertSqlSafe(sql.page)),
                        &sql.params,
                        $store
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("read a catalog page"))?;
                    let has_more = rows.len() > limit;
                    rows.truncate(limit);
                    // A first page that holds everything is its own count.
                    let total = if query.after.is_none() && !has_more {
                        rows.len() as u64
                    } else if let Some(total) = self.catalog.total(generation, &sql.count_key) {
                        total
                    } else {
                        let n: i64 = bind_params!(
                            sqlx::query_scalar(AssertSqlSafe(sql.count)),
                            &sql.params[..sql.count_params],
                            $store
                        )
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db("count the catalog"))?;
                        let total = count(n)?;
                        self.catalog.put_total(generation, sql.count_key, total);
                        total
                    };
                    let items = Self::complete_offerings(&mut tx, rows).await?;
                    tx.commit().await.map_err(db("end a read"))?;
                    let page = CatalogPage {
                        items,
                        total,
                        has_more,
                    };
                    self.catalog.put_page(generation, sql.page_key, &page);
                    Ok(page)
                }

                // --- audit ---

                async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
                    let (sql, params) = $crate::shared::audit_sql::<$store>(query);
                    let query = bind_params!(sqlx::query_as(AssertSqlSafe(sql)), &params, $store);
                    self.all(query, "read the audit log", AuditRow::into_record).await
                }

                // --- marketplace settings ---

                async fn calendar_settings(&self) -> Result<Versioned<CalendarSettings>> {
                    let mut conn = self.pool.acquire().await.map_err(db("connect"))?;
                    Self::calendar_settings_in(&mut conn).await
                }

                async fn put_calendar_settings(
                    &self,
                    settings: &CalendarSettings,
                    expected_version: i64,
                    now: Timestamp,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<i64> {
                    let value = $crate::shared::to_json("calendar settings", settings)?;
                    // The expected version is the client's: one no row can hold (negative, or
                    // the last i64) is a conflict, not an overflow.
                    let version = match expected_version.checked_add(1) {
                        Some(version) if expected_version >= 0 => version,
                        _ => return Err(StoreError::Conflict { what: "the calendar settings" }),
                    };
                    // Version 0 means "never stored": the first writer inserts the row, and a
                    // second one finds it taken.
                    let statement = if expected_version == 0 {
                        sqlx::query(
                            "INSERT INTO marketplace_settings (key, value, version, updated_at) \
                             VALUES ($1, $2, $3, $4)",
                        )
                    } else {
                        sqlx::query(
                            "UPDATE marketplace_settings SET value = $2, version = $3, \
                             updated_at = $4 WHERE key = $1 AND version = $3 - 1",
                        )
                    }
                    .bind($crate::shared::CALENDAR_KEY)
                    .bind(value)
                    .bind(version)
                    .bind(micros(now));
                    let map_err = taken("calendar settings", "write calendar settings");
                    let check = |d| changed(d, "calendar settings");
                    let context = "commit calendar settings";
                    self.write(statement, map_err, check, events, emails, context)
                        .await?;
                    Ok(version)
                }

                async fn validators(&self) -> Result<Vec<Validator>> {
                    let mut tx = self.begin_read().await?;
                    let settings = Self::calendar_settings_in(&mut tx).await?;
                    let rows: Vec<ValidatorRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        user_columns!(),
                        ", c.capacity FROM users LEFT JOIN validator_capacities c \
                         ON c.user_id = users.id WHERE is_validator ORDER BY email"
                    ))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("list validators"))?;
                    tx.commit().await.map_err(db("end a read"))?;
                    let default = settings.value.default_validator_capacity;
                    rows.into_iter().map(|r| r.into_validator(default)).collect()
                }

                async fn set_validator_capacity(
                    &self,
                    user: UserId,
                    capacity: Option<u32>,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let validator: Option<bool> =
                        sqlx::query_scalar("SELECT is_validator FROM users WHERE id = $1")
                            .bind(user.0)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db("read a validator"))?;
                    if validator != Some(true) {
                        return Err(StoreError::NotFound);
                    }
                    match capacity {
                        Some(capacity) => sqlx::query(
                            "INSERT INTO validator_capacities (user_id, capacity) VALUES ($1, $2) \
                             ON CONFLICT (user_id) DO UPDATE SET capacity = excluded.capacity",
                        )
                        .bind(user.0)
                        .bind(i64::from(capacity)),
                        None => sqlx::query("DELETE FROM validator_capacities WHERE user_id = $1")
                            .bind(user.0),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(db("set a validator's capacity"))?;
                    Self::commit_all(tx, events, emails, "commit a validator's capacity").await
                }

                // --- demo requirements ---

                async fn current_requirements(&self) -> Result<RequirementSet> {
                    let (version, json): (i64, String) = sqlx::query_as(
                        "SELECT version, requirements FROM requirement_sets \
                         ORDER BY version DESC LIMIT 1",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("read the current requirements"))?;
                    $crate::shared::requirements_from_row(version, &json)
                }

                async fn requirements(&self, version: u32) -> Result<Option<RequirementSet>> {
                    let query = sqlx::query_as(
                        "SELECT version, requirements FROM requirement_sets WHERE version = $1",
                    )
                    .bind(i64::from(version));
                    let decode =
                        |(v, json): (i64, String)| $crate::shared::requirements_from_row(v, &json);
                    self.optional(query, "read requirements", decode).await
                }

                async fn put_requirements(
                    &self,
                    set: &RequirementSet,
                    now: Timestamp,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    // Only the version after the current one; two writers of the same version:
                    // the second finds it taken.
                    let statement = sqlx::query(
                        "INSERT INTO requirement_sets (version, requirements, created_at) \
                         SELECT $1, $2, $3 \
                         WHERE (SELECT MAX(version) FROM requirement_sets) = $1 - 1",
                    )
                    .bind(i64::from(set.version))
                    .bind($crate::shared::to_json("requirements", &set.requirements)?)
                    .bind(micros(now));
                    let map_err = taken("requirements", "write requirements");
                    let check = |d| changed(d, "requirements");
                    let context = "commit requirements";
                    self.write(statement, map_err, check, events, &[], context)
                        .await
                }

                // --- recordings and uploads ---

                async fn insert_recording(
                    &self,
                    recording: &Recording,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::insert_recording_row(&mut tx, recording).await?;
                    Self::commit_all(tx, events, &[], "commit a recording").await
                }

                async fn recording(&self, id: RecordingId) -> Result<Option<Recording>> {
                    let query = sqlx::query_as(select!(recordings, "WHERE id = $1")).bind(id.0);
                    self.optional(query, "read a recording", RecordingRow::into_recording).await
                }

                async fn recordings_of(&self, submission: SubmissionId) -> Result<Vec<Recording>> {
                    let query = sqlx::query_as(select!(
                        recordings,
                        "WHERE submission_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(submission.0);
                    self.all(query, "list recordings", RecordingRow::into_recording).await
                }

                async fn insert_upload(&self, upload: &Upload) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO uploads (id, submission_id, user_id, declared_length, \
                         file_name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(upload.id.0)
                    .bind(upload.submission_id.0)
                    .bind(upload.user_id.0)
                    .bind(
                        upload
                            .declared_length
                            .map(|n| $crate::shared::signed("declared length", n))
                            .transpose()?,
                    )
                    .bind(upload.file_name.as_deref())
                    .bind(micros(upload.created_at))
                    .bind(micros(upload.expires_at))
                    .execute(&self.pool)
                    .await
                    .map_err(unique("id", "insert an upload"))?;
                    Ok(())
                }

                async fn upload(&self, id: UploadId) -> Result<Option<Upload>> {
                    let query = sqlx::query_as(
                        "SELECT id, submission_id, user_id, declared_length, file_name, \
                         created_at, expires_at FROM uploads WHERE id = $1",
                    )
                    .bind(id.0);
                    self.optional(query, "read an upload", UploadRow::into_upload).await
                }

                async fn delete_upload(&self, id: UploadId) -> Result<()> {
                    let done = sqlx::query("DELETE FROM uploads WHERE id = $1")
                        .bind(id.0)
                        .execute(&self.pool)
                        .await
                        .map_err(db("delete an upload"))?;
                    found(done)
                }

                async fn delete_expired_credentials(&self, now: Timestamp) -> Result<u64> {
                    let mut tx = self.begin_write().await?;
                    let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                        .bind(micros(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(db("delete expired sessions"))?;
                    let links = sqlx::query("DELETE FROM one_time_tokens WHERE expires_at < $1")
                        .bind(micros(now).saturating_sub(
                            $crate::shared::ONE_TIME_TOKEN_RETENTION_MICROS,
                        ))
                        .execute(&mut *tx)
                        .await
                        .map_err(db("delete old one-time tokens"))?;
                    tx.commit()
                        .await
                        .map_err(db("commit the deletion of expired credentials"))?;
                    Ok(sessions.rows_affected() + links.rows_affected())
                }

                async fn expired_uploads(&self, now: Timestamp) -> Result<Vec<UploadId>> {
                    let ids: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT id FROM uploads WHERE expires_at <= $1 ORDER BY expires_at, id",
                    )
                    .bind(micros(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("list expired uploads"))?;
                    Ok(ids.into_iter().map(UploadId).collect())
                }

                async fn finish_upload(
                    &self,
                    upload: UploadId,
                    recording: &Recording,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let statement =
                        sqlx::query("DELETE FROM uploads WHERE id = $1 AND submission_id = $2")
                            .bind(upload.0)
                            .bind(recording.submission_id.0);
                    Self::execute(&mut tx, statement, db("finish an upload"), found).await?;
                    Self::insert_recording_row(&mut tx, recording).await?;
                    Self::commit_all(tx, events, &[], "commit a finished upload").await
                }

                // --- submissions ---

                async fn insert_submission(
                    &self,
                    submission: &Submission,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let statement = bind_submission(
                        sqlx::query(
                            "INSERT INTO submissions (id, offering_id, provider_account_id, \
                             state, validator_id, round_number, submitted_at, publication_at, \
                             rounds, updated_at, version, revision, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        ),
                        submission,
                    )?
                    .bind(micros(submission.created_at));
                    let map_err = unique("offering", "insert a submission");
                    let context = "commit a new submission";
                    self.write(statement, map_err, |_| Ok(()), events, emails, context)
                        .await
                }

                async fn update_submission(
                    &self,
                    submission: &Submission,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::update_submission_rows(&mut tx, std::slice::from_ref(submission)).await?;
                    Self::commit_all(tx, events, emails, "commit a submission change").await
                }

                async fn submission(&self, id: SubmissionId) -> Result<Option<Submission>> {
                    let query = sqlx::query_as(select!(submissions, "WHERE s.id = $1")).bind(id.0);
                    Ok(self.read_submissions(query).await?.into_iter().next())
                }

                async fn submissions_of_offering(
                    &self,
                    offering: OfferingId,
                ) -> Result<Vec<Submission>> {
                    let query = sqlx::query_as(select!(
                        submissions,
                        "WHERE s.offering_id = $1 ORDER BY s.created_at, s.id"
                    ))
                    .bind(offering.0);
                    self.read_submissions(query).await
                }

                async fn submissions_of_account(
                    &self,
                    account: AccountId,
                ) -> Result<Vec<Submission>> {
                    let query = sqlx::query_as(select!(
                        submissions,
                        "WHERE s.provider_account_id = $1 \
                         ORDER BY s.created_at, s.id"
                    ))
                    .bind(account.0);
                    self.read_submissions(query).await
                }

                async fn open_submission_for(
                    &self,
                    offering: OfferingId,
                ) -> Result<Option<Submission>> {
                    let query = sqlx::query_as(select!(
                        submissions,
                        "WHERE s.offering_id = $1 \
                         AND s.state NOT IN ('rejected', 'published', 'withdrawn')"
                    ))
                    .bind(offering.0);
                    Ok(self.read_submissions(query).await?.into_iter().next())
                }

                async fn submissions_in_state(
                    &self,
                    state: SubmissionState,
                ) -> Result<Vec<Submission>> {
                    let query = sqlx::query_as(select!(
                        submissions,
                        "WHERE s.state = $1 \
                         ORDER BY CASE WHEN s.round_number > 1 THEN 0 ELSE 1 END, \
                         s.submitted_at, s.id"
                    ))
                    .bind(state.as_str());
                    self.read_submissions(query).await
                }

                async fn submissions_for_validator(
                    &self,
                    validator: UserId,
                ) -> Result<Vec<Submission>> {
                    let query = sqlx::query_as(select!(
                        submissions,
                        "WHERE s.validator_id = $1 ORDER BY s.updated_at, s.id"
                    ))
                    .bind(validator.0);
                    self.read_submissions(query).await
                }

                async fn due_publications(&self, now: Timestamp) -> Result<Vec<Submission>> {
                    let query = sqlx::query_as(select!(
                        submissions,
                        "WHERE s.state = 'publication_scheduled' \
                         AND s.publication_at <= $1 ORDER BY s.publication_at, s.id"
                    ))
                    .bind(micros(now));
                    self.read_submissions(query).await
                }

                async fn publish(
                    &self,
                    submission: &Submission,
                    offering: &Offering,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::update_submission_rows(&mut tx, std::slice::from_ref(submission)).await?;
                    Self::update_offering_row(&mut tx, offering).await?;
                    Self::commit_all(tx, events, emails, "commit a publication").await
                }

                async fn publish_revision(
                    &self,
                    submission: &Submission,
                    offering: &Offering,
                    broker: Option<&vitrine_domain::checks::BrokerRegistration>,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    Self::update_submission_rows(&mut tx, std::slice::from_ref(submission)).await?;
                    Self::update_offering_row(&mut tx, offering).await?;
                    if let Some(b) = broker {
                        let statement = sqlx::query(
                            "UPDATE broker_registrations SET url = $2, username = $3, \
                             api_version = $4, updated_at = $5, updated_by = $6 \
                             WHERE offering_id = $1",
                        )
                        .bind(b.offering_id.0)
                        .bind(b.url.as_str())
                        .bind(b.username.as_str())
                        .bind(b.api_version.as_str())
                        .bind(micros(b.updated_at))
                        .bind(b.updated_by.0);
                        let map_err = db("write a revision's broker settings");
                        Self::execute(&mut tx, statement, map_err, found).await?;
                    }
                    Self::commit_all(tx, events, emails, "commit a revision's publication").await
                }

                // --- review sessions ---

                async fn open_review_session(
                    &self,
                    nominal_date: Date,
                    opened_at: Timestamp,
                    submissions: &[Submission],
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    // The mark first: a second server running the same step waits here for
                    // the first to finish, then finds the mark taken, before any other work.
                    let statement = sqlx::query(
                        "INSERT INTO review_sessions (nominal_date, opened_at) VALUES ($1, $2)",
                    )
                    .bind(nominal_date.to_string())
                    .bind(micros(opened_at));
                    let map_err = taken("review session", "mark a session opened");
                    let mut tx = self.begin_write().await?;
                    Self::execute(&mut tx, statement, map_err, |_| Ok(())).await?;
                    Self::update_submission_rows(&mut tx, submissions).await?;
                    Self::commit_all(tx, events, emails, "commit a session opening").await
                }

                async fn review_session(
                    &self,
                    nominal_date: Date,
                ) -> Result<Option<ReviewSessionRecord>> {
                    let query = sqlx::query_as(
                        "SELECT nominal_date, opened_at, overdue_flagged_at FROM review_sessions \
                         WHERE nominal_date = $1",
                    )
                    .bind(nominal_date.to_string());
                    let context = "read a review session";
                    self.optional(query, context, ReviewSessionRow::into_record).await
                }

                async fn flag_session_overdue(
                    &self,
                    nominal_date: Date,
                    at: Timestamp,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let flagged: Option<Option<i64>> = sqlx::query_scalar(
                        "SELECT overdue_flagged_at FROM review_sessions WHERE nominal_date = $1",
                    )
                    .bind(nominal_date.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("read a review session"))?;
                    match flagged {
                        None => return Err(StoreError::NotFound),
                        Some(Some(_)) => return Err(StoreError::Conflict { what: "review session" }),
                        Some(None) => {}
                    }
                    let statement = sqlx::query(
                        "UPDATE review_sessions SET overdue_flagged_at = $2 \
                         WHERE nominal_date = $1 AND overdue_flagged_at IS NULL",
                    )
                    .bind(nominal_date.to_string())
                    .bind(micros(at));
                    let check = |d| changed(d, "review session");
                    Self::execute(&mut tx, statement, db("flag a session overdue"), check).await?;
                    Self::commit_all(tx, events, emails, "commit an overdue flag").await
                }

                // --- thread ---

                async fn insert_message(
                    &self,
                    message: &Message,
                    events: &[AuditEvent],
                    emails: &[NewEmail],
                ) -> Result<()> {
                    let statement = sqlx::query(
                        "INSERT INTO messages (id, submission_id, author, side, body, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(message.id.0)
                    .bind(message.submission_id.0)
                    .bind(message.author.0)
                    .bind(message.side.as_str())
                    .bind(message.body.as_str())
                    .bind(micros(message.created_at));
                    let map_err = unique("id", "insert a message");
                    let context = "commit a message";
                    self.write(statement, map_err, |_| Ok(()), events, emails, context)
                        .await
                }

                async fn messages(&self, submission: SubmissionId) -> Result<Vec<Message>> {
                    let query = sqlx::query_as(
                        "SELECT id, submission_id, author, side, body, created_at FROM messages \
                         WHERE submission_id = $1 ORDER BY created_at, id",
                    )
                    .bind(submission.0);
                    self.all(query, "list messages", MessageRow::into_message).await
                }

                // --- outbox ---

                async fn claim_outbox_leased(
                    &self,
                    now: Timestamp,
                    lease_now: Timestamp,
                    lease: std::time::Duration,
                    limit: u32,
                ) -> Result<Vec<OutboxEmail>> {
                    let sql = format!(
                        "UPDATE outbox SET locked_until = $2 WHERE id IN (SELECT id FROM outbox \
                         WHERE status = 'pending' AND next_attempt_at <= $1 \
                         AND (locked_until IS NULL OR locked_until <= $4) \
                         ORDER BY id LIMIT $3{}) RETURNING {}",
                        <$store>::skip_locked(),
                        outbox_columns!()
                    );
                    let mut tx = self.begin_write().await?;
                    let rows: Vec<OutboxRow> = sqlx::query_as(AssertSqlSafe(sql))
                        .bind(micros(now))
                        .bind($crate::shared::lease_end(lease_now, lease))
                        .bind(i64::from(limit))
                        .bind(micros(lease_now))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db("claim outbox emails"))?;
                    tx.commit().await.map_err(db("commit an outbox claim"))?;
                    let mut emails = rows
                        .into_iter()
                        .map(OutboxRow::into_email)
                        .collect::<Result<Vec<_>>>()?;
                    emails.sort_by_key(|e| e.id);
                    Ok(emails)
                }

                async fn mark_many_sent(&self, ids: &[i64], now: Timestamp) -> Result<Vec<i64>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    // One placeholder per id: portable, and a batch is a few dozen ids.
                    let placeholders = (0..ids.len())
                        .map(|n| format!("${}", n + 3))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!(
                        "UPDATE outbox SET status = 'sent', sent_at = $1, \
                         attempts = attempts + 1, last_error = NULL, locked_until = NULL, \
                         payload = CASE WHEN holds_secret THEN $2 ELSE payload END \
                         WHERE status = 'pending' AND id IN ({placeholders}) RETURNING id"
                    );
                    let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                        .bind(micros(now))
                        .bind($crate::shared::SENT_SECRET_PAYLOAD);
                    for id in ids {
                        query = query.bind(*id);
                    }
                    let mut marked = query
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("mark emails sent"))?;
                    marked.sort_unstable();
                    Ok(marked)
                }

                async fn mark_failed_attempt(
                    &self,
                    id: i64,
                    error: &str,
                    next_attempt_at: Timestamp,
                    permanent: bool,
                ) -> Result<()> {
                    let status = if permanent { "failed" } else { "pending" };
                    let done = sqlx::query(
                        "UPDATE outbox SET status = $4, attempts = attempts + 1, \
                         last_error = $2, next_attempt_at = $3, locked_until = NULL \
                         WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(micros(next_attempt_at))
                    .bind(status)
                    .execute(&self.pool)
                    .await
                    .map_err(db("record a failed send"))?;
                    found(done)
                }

                async fn outbox(&self, query: &OutboxQuery) -> Result<Vec<OutboxEmail>> {
                    let (sql, params) = $crate::shared::outbox_sql(query);
                    let query = bind_params!(sqlx::query_as(AssertSqlSafe(sql)), &params, $store);
                    self.all(query, "read the outbox", OutboxRow::into_listed_email).await
                }

                async fn retry_outbox(
                    &self,
                    id: i64,
                    now: Timestamp,
                    events: &[AuditEvent],
                ) -> Result<()> {
                    let statement = sqlx::query(
                        "UPDATE outbox SET status = 'pending', next_attempt_at = $2, \
                         locked_until = NULL WHERE id = $1 AND status = 'failed'",
                    )
                    .bind(id)
                    .bind(micros(now));
                    let context = "commit an email retry";
                    self.write(statement, db("retry an email"), found, events, &[], context)
                        .await
                }
            }
        };
    };
}
pub(crate) use impl_store;
