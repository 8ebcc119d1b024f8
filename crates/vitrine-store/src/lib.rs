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
//! - The schemas live in `migrations/sqlite` and `migrations/postgres`, kept column for
//!   column alike; `open` (and each store's `connect`) applies pending migrations.

use async_trait::async_trait;
use vitrine_domain::account::ProviderStatus;
use vitrine_domain::audit::{AuditEvent, AuditRecord, SubjectKind};
use vitrine_domain::user::Email;
use vitrine_domain::{
    Account, AccountId, Audience, Offering, OfferingName, Timestamp, TokenId, User, UserId,
};

mod error;
pub use error::StoreError;

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

/// SHA-256 of a random secret (session cookie or API token). Secrets are never stored.
pub type SecretHash = [u8; 32];

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

/// Which audit records to read.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// `None`: the whole log; `Some(ids)`: records whose account is one of `ids`.
    pub accounts: Option<Vec<AccountId>>,
    pub account: Option<AccountId>,
    pub offering: Option<vitrine_domain::OfferingId>,
    pub actor: Option<UserId>,
    pub subject_kind: Option<SubjectKind>,
    /// Exact action name, such as `offering.created`.
    pub action: Option<String>,
    /// Newest first; start strictly before this sequence number.
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The storage interface. Implementations: [`sqlite::SqliteStore`], [`postgres::PgStore`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and metrics (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    // --- users ---
    /// Inserts a user; [`StoreError::Duplicate`] (field `email`) if the email is taken.
    async fn insert_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<()>;
    /// Writes `user`, whose `version` is one more than the stored one.
    async fn update_user(&self, user: &User, events: &[AuditEvent]) -> Result<()>;
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

    // --- accounts ---
    async fn insert_account(&self, account: &Account, events: &[AuditEvent]) -> Result<()>;
    /// Writes `account` (members and provider application included), whose `version` is one
    /// more than the stored one.
    async fn update_account(&self, account: &Account, events: &[AuditEvent]) -> Result<()>;
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;
    /// Which of `ids` exist.
    async fn existing_accounts(&self, ids: &[AccountId]) -> Result<Vec<AccountId>>;
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
    /// The catalog: offerings the audience may see, matching the query, ordered by name.
    async fn catalog(&self, query: &CatalogQuery) -> Result<CatalogPage>;

    // --- audit ---
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
}

pub mod postgres;
mod shared;
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

pub mod testing;
