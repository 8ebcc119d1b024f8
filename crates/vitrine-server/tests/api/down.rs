//! A database that does not answer: readiness says so (503), and every other request gets a
//! bare 500 problem that reveals nothing of the cause.

use std::sync::Arc;

use async_trait::async_trait;
use vitrine_domain::account::ProviderStatus;
use vitrine_domain::audit::{AuditEvent, AuditRecord};
use vitrine_domain::user::Email;
use vitrine_domain::{
    Account, AccountId, Offering, OfferingName, Timestamp, TokenId, User, UserId,
};
use vitrine_server::ServerConfig;
use vitrine_store::{
    ApiToken, AuditQuery, CatalogPage, CatalogQuery, Result, SecretHash, Store, StoreError,
};

use crate::support::{Client, TestClock, serve};

struct DownStore;

fn down() -> StoreError {
    StoreError::Corrupt("secret internal detail: the disk is on fire".into())
}

#[async_trait]
impl Store for DownStore {
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
    async fn update_user(&self, _user: &User, _events: &[AuditEvent]) -> Result<()> {
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
    async fn catalog(&self, _query: &CatalogQuery) -> Result<CatalogPage> {
        Err(down())
    }
    async fn audit(&self, _query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Err(down())
    }
}

#[tokio::test]
async fn a_database_that_does_not_answer() {
    let base = serve(
        Arc::new(DownStore),
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
