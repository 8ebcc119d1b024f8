//! A database that does not answer: readiness says so (503), and every other request gets a
//! bare 500 problem that reveals nothing of the cause.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::civil::Date;
use vitrine_domain::account::ProviderStatus;
use vitrine_domain::audit::{AuditEvent, AuditRecord};
use vitrine_domain::auth::{OneTimeToken, SignInAttempts};
use vitrine_domain::calendar::CalendarSettings;
use vitrine_domain::go_live::Submission;
use vitrine_domain::recording::{Recording, Upload, UploadId};
use vitrine_domain::review::RequirementSet;
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::thread::Message;
use vitrine_domain::user::Email;
use vitrine_domain::{
    Account, AccountId, Offering, OfferingId, OfferingName, RecordingId, SubmissionId, Timestamp,
    TokenId, User, UserId,
};
use vitrine_server::ServerConfig;
use vitrine_store::{
    ApiToken, AuditQuery, CatalogPage, CatalogQuery, IssuedToken, NewEmail, OutboxEmail,
    OutboxQuery, Result, ReviewSessionRecord, SecretHash, Store, StoreError, Validator, Versioned,
};

use crate::support::{Client, TestClock, serve};

struct DownStore {
    /// A pool that never connects (nothing listens on port 1), for the capabilities that
    /// run SQL of their own on the store's pool (checks, webhooks).
    pool: sqlx::PgPool,
}

impl DownStore {
    fn new() -> Self {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(200))
            .connect_lazy("postgres://down@127.0.0.1:1/down")
            .expect("a lazy pool");
        DownStore { pool }
    }
}

fn down() -> StoreError {
    StoreError::Corrupt("secret internal detail: the disk is on fire".into())
}

#[async_trait]
impl vitrine_store::InboundStore for DownStore {
    async fn reply_key(&self, _hash: &SecretHash) -> Result<Option<vitrine_store::ReplyKey>> {
        Err(down())
    }
    async fn revoke_reply_keys(
        &self,
        _user: UserId,
        _submission: Option<SubmissionId>,
        _at: jiff::Timestamp,
        _events: &[AuditEvent],
    ) -> Result<u64> {
        Err(down())
    }
    async fn inbound_email(
        &self,
        _message_id: &str,
    ) -> Result<Option<vitrine_store::InboundEmail>> {
        Err(down())
    }
    async fn record_inbound(
        &self,
        _inbound: &vitrine_store::InboundEmail,
        _message: Option<&Message>,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
        _answer: Option<&NewEmail>,
    ) -> Result<bool> {
        Err(down())
    }
    async fn inbound_emails(
        &self,
        _before: Option<i64>,
        _limit: u32,
    ) -> Result<Vec<(i64, vitrine_store::InboundEmail)>> {
        Err(down())
    }
    async fn answers_to(&self, _sender: &str, _since: jiff::Timestamp) -> Result<u64> {
        Err(down())
    }
    async fn mark_bouncing(
        &self,
        _email: &str,
        _since: jiff::Timestamp,
        _report: &str,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn bouncing(&self, _email: &str) -> Result<Option<vitrine_store::Bouncing>> {
        Err(down())
    }
    async fn bouncing_addresses(&self) -> Result<Vec<vitrine_store::Bouncing>> {
        Err(down())
    }
    async fn clear_bouncing(&self, _email: &str, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
}

#[async_trait]
impl Store for DownStore {
    fn pools(&self) -> vitrine_store::Pools<'_> {
        vitrine_store::Pools::Postgres(&self.pool)
    }
    fn backend(&self) -> &'static str {
        "down"
    }
    async fn ping(&self) -> Result<()> {
        Err(down())
    }
    async fn insert_user(
        &self,
        _user: &User,
        _password_hash: Option<&str>,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn update_user(
        &self,
        _user: &User,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn set_password_hash(
        &self,
        _user: UserId,
        _password_hash: &str,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn user(&self, _id: UserId) -> Result<Option<User>> {
        Err(down())
    }
    async fn user_by_email(&self, _email: &Email) -> Result<Option<(User, Option<String>)>> {
        Err(down())
    }
    async fn list_users(&self, _after_email: Option<&str>, _limit: u32) -> Result<Vec<User>> {
        Err(down())
    }
    async fn count_admins(&self) -> Result<u64> {
        Err(down())
    }
    async fn insert_session(
        &self,
        _hash: &SecretHash,
        _user: UserId,
        _created_at: Timestamp,
        _expires_at: Timestamp,
    ) -> Result<()> {
        Err(down())
    }
    async fn session_user(
        &self,
        _hash: &SecretHash,
        _now: Timestamp,
    ) -> Result<Option<(UserId, Timestamp)>> {
        Err(down())
    }
    async fn delete_session(&self, _hash: &SecretHash) -> Result<()> {
        Err(down())
    }
    async fn insert_api_token(
        &self,
        _token: &ApiToken,
        _hash: &SecretHash,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn api_tokens(&self, _user: UserId) -> Result<Vec<ApiToken>> {
        Err(down())
    }
    async fn revoke_api_token(
        &self,
        _user: UserId,
        _id: TokenId,
        _now: Timestamp,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn token_user(&self, _hash: &SecretHash, _now: Timestamp) -> Result<Option<UserId>> {
        Err(down())
    }
    async fn sign_up(
        &self,
        _user: &User,
        _password_hash: &str,
        _account: &Account,
        _verification: &IssuedToken,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn insert_one_time_token(
        &self,
        _token: &IssuedToken,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn one_time_token(&self, _hash: &SecretHash) -> Result<Option<OneTimeToken>> {
        Err(down())
    }
    async fn redeem_one_time_token(
        &self,
        _hash: &SecretHash,
        _used_at: Timestamp,
        _user: &User,
        _password_hash: Option<&str>,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn insert_emails(&self, _events: &[AuditEvent], _emails: &[NewEmail]) -> Result<()> {
        Err(down())
    }
    async fn count_sign_in_attempt(
        &self,
        _email: &Email,
        _now: Timestamp,
    ) -> Result<SignInAttempts> {
        Err(down())
    }
    async fn clear_sign_in_attempts(&self, _email: &Email) -> Result<()> {
        Err(down())
    }
    async fn insert_account(&self, _account: &Account, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
    async fn update_account(&self, _account: &Account, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
    async fn account(&self, _id: AccountId) -> Result<Option<Account>> {
        Err(down())
    }
    async fn existing_accounts(&self, _ids: &[AccountId]) -> Result<Vec<AccountId>> {
        Err(down())
    }
    async fn account_owners(
        &self,
        _ids: &[AccountId],
    ) -> Result<Vec<vitrine_store::AccountOwners>> {
        Err(down())
    }
    async fn offering_labels(
        &self,
        _ids: &[vitrine_domain::OfferingId],
    ) -> Result<Vec<vitrine_store::OfferingLabel>> {
        Err(down())
    }
    async fn accounts_of_user(&self, _user: UserId) -> Result<Vec<Account>> {
        Err(down())
    }
    async fn list_accounts(&self, _after: Option<AccountId>, _limit: u32) -> Result<Vec<Account>> {
        Err(down())
    }
    async fn provider_applications(&self, _status: Option<ProviderStatus>) -> Result<Vec<Account>> {
        Err(down())
    }
    async fn insert_offering(&self, _offering: &Offering, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
    async fn update_offering(&self, _offering: &Offering, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
    async fn offering_by_name(&self, _name: &OfferingName) -> Result<Option<Offering>> {
        Err(down())
    }
    async fn offering_by_id(&self, _id: vitrine_domain::OfferingId) -> Result<Option<Offering>> {
        Err(down())
    }
    async fn catalog(&self, _query: &CatalogQuery) -> Result<CatalogPage> {
        Err(down())
    }
    async fn audit(&self, _query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Err(down())
    }
    async fn calendar_settings(&self) -> Result<Versioned<CalendarSettings>> {
        Err(down())
    }
    async fn put_calendar_settings(
        &self,
        _settings: &CalendarSettings,
        _expected_version: i64,
        _now: Timestamp,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<i64> {
        Err(down())
    }
    async fn validators(&self) -> Result<Vec<Validator>> {
        Err(down())
    }
    async fn set_validator_capacity(
        &self,
        _user: UserId,
        _capacity: Option<u32>,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn current_requirements(&self) -> Result<RequirementSet> {
        Err(down())
    }
    async fn requirements(&self, _version: u32) -> Result<Option<RequirementSet>> {
        Err(down())
    }
    async fn put_requirements(
        &self,
        _set: &RequirementSet,
        _now: Timestamp,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn insert_recording(&self, _recording: &Recording, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
    async fn recording(&self, _id: RecordingId) -> Result<Option<Recording>> {
        Err(down())
    }
    async fn recordings_of(&self, _submission: SubmissionId) -> Result<Vec<Recording>> {
        Err(down())
    }
    async fn insert_upload(&self, _upload: &Upload) -> Result<()> {
        Err(down())
    }
    async fn upload(&self, _id: UploadId) -> Result<Option<Upload>> {
        Err(down())
    }
    async fn delete_upload(&self, _id: UploadId) -> Result<()> {
        Err(down())
    }
    async fn delete_expired_credentials(&self, _now: Timestamp) -> Result<u64> {
        Err(down())
    }
    async fn snapshot_into(&self, _file: &std::path::Path) -> Result<bool> {
        Err(down())
    }
    async fn expired_uploads(&self, _now: Timestamp) -> Result<Vec<UploadId>> {
        Err(down())
    }
    async fn finish_upload(
        &self,
        _upload: UploadId,
        _recording: &Recording,
        _events: &[AuditEvent],
    ) -> Result<()> {
        Err(down())
    }
    async fn insert_submission(
        &self,
        _submission: &Submission,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn update_submission(
        &self,
        _submission: &Submission,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn submission(&self, _id: SubmissionId) -> Result<Option<Submission>> {
        Err(down())
    }
    async fn submissions_of_offering(&self, _offering: OfferingId) -> Result<Vec<Submission>> {
        Err(down())
    }
    async fn submissions_of_account(&self, _account: AccountId) -> Result<Vec<Submission>> {
        Err(down())
    }
    async fn open_submission_for(&self, _offering: OfferingId) -> Result<Option<Submission>> {
        Err(down())
    }
    async fn submissions_in_state(&self, _state: SubmissionState) -> Result<Vec<Submission>> {
        Err(down())
    }
    async fn submissions_for_validator(&self, _validator: UserId) -> Result<Vec<Submission>> {
        Err(down())
    }
    async fn due_publications(&self, _now: Timestamp) -> Result<Vec<Submission>> {
        Err(down())
    }
    async fn publish(
        &self,
        _submission: &Submission,
        _offering: &Offering,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn publish_revision(
        &self,
        _submission: &Submission,
        _offering: &Offering,
        _broker: Option<&vitrine_domain::checks::BrokerRegistration>,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn open_review_session(
        &self,
        _nominal_date: Date,
        _opened_at: Timestamp,
        _submissions: &[Submission],
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn review_session(&self, _nominal_date: Date) -> Result<Option<ReviewSessionRecord>> {
        Err(down())
    }
    async fn flag_session_overdue(
        &self,
        _nominal_date: Date,
        _at: Timestamp,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn insert_message(
        &self,
        _message: &Message,
        _events: &[AuditEvent],
        _emails: &[NewEmail],
    ) -> Result<()> {
        Err(down())
    }
    async fn messages(&self, _submission: SubmissionId) -> Result<Vec<Message>> {
        Err(down())
    }
    async fn claim_outbox_leased(
        &self,
        _now: Timestamp,
        _lease_now: Timestamp,
        _lease: std::time::Duration,
        _limit: u32,
    ) -> Result<Vec<OutboxEmail>> {
        Err(down())
    }
    async fn mark_many_sent(&self, _ids: &[i64], _now: Timestamp) -> Result<Vec<i64>> {
        Err(down())
    }
    async fn mark_failed_attempt(
        &self,
        _id: i64,
        _error: &str,
        _next_attempt_at: Timestamp,
        _permanent: bool,
    ) -> Result<()> {
        Err(down())
    }
    async fn outbox(&self, _query: &OutboxQuery) -> Result<Vec<OutboxEmail>> {
        Err(down())
    }
    async fn retry_outbox(&self, _id: i64, _now: Timestamp, _events: &[AuditEvent]) -> Result<()> {
        Err(down())
    }
    async fn test_clock_offset(&self) -> Result<i64> {
        Err(down())
    }
    async fn advance_test_clock(&self, _micros: i64) -> Result<i64> {
        Err(down())
    }
    async fn watch_changes(&self, _on_change: vitrine_store::ChangeHandler) -> Result<bool> {
        Err(down())
    }
}

#[tokio::test]
async fn a_database_that_does_not_answer() {
    let base = serve(
        Arc::new(DownStore::new()),
        Arc::new(TestClock::default()),
        ServerConfig::default(),
    )
    .await;
    let c = Client::anonymous(&base);
    c.get("/healthz").await.expect_status(200);
    let problem = c.get("/readyz").await.problem(503, "unavailable");
    assert!(!problem.to_string().contains("fire"), "{problem}");
    for path in ["/api/v1/catalog", "/api/v1/catalog/some-svc"] {
        let response = c.get(path).await;
        let problem = response.problem(500, "internal");
        assert!(problem.get("detail").is_none(), "{problem}");
        assert!(!String::from_utf8_lossy(&response.body).contains("fire"));
    }
    Client::bearer(&base, "vit_whatever")
        .get("/api/v1/me")
        .await
        .problem(500, "internal");
}
