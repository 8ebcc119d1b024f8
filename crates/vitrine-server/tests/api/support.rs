//! `TestApp`: the real application on a random loopback port over a fresh database, one per
//! backend, with helpers to seed users, accounts, providers and offerings through the API.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vitrine_domain::{AuditEvent, TokenId, UserId};
use vitrine_server::{Clock, ServerConfig};
use vitrine_store::{ApiToken, Store};
use vitrine_store_testing::TestDatabase;

/// The time the tests start at; moved only by [`TestClock::advance`].
pub const START: &str = "2026-03-02T09:00:00Z";

pub struct TestClock(Mutex<jiff::Timestamp>);

impl Default for TestClock {
    fn default() -> Self {
        TestClock(Mutex::new(START.parse().expect("start time")))
    }
}

impl TestClock {
    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut now = self.0.lock().expect("clock lock");
        *now = now.checked_add(by).expect("time in range");
    }
}

impl Clock for TestClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

pub struct TestApp {
    pub backend: &'static str,
    pub base: String,
    pub store: Arc<dyn Store>,
    pub clock: Arc<TestClock>,
    pub admin: Client,
    pub db_url: String,
    /// Where this app keeps recordings (a temporary directory unless the test chose one).
    pub blob_dir: std::path::PathBuf,
    _blob_dir: Option<tempfile::TempDir>,
    _db: TestDatabase,
}

/// Runs `test` once per available backend (SQLite, then PostgreSQL when configured).
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    each_backend_with(ServerConfig::default, test).await;
}

/// Runs `test` once per available backend on a server with the configuration `config` gives.
pub async fn each_backend_with<C, F, Fut>(config: C, test: F)
where
    C: Fn() -> ServerConfig,
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for db in TestDatabase::all().await {
        let app = TestApp::start(db, config()).await;
        eprintln!("running on {}", app.backend);
        test(app).await;
    }
}

/// Serves `store` on a fresh loopback port and returns its base URL.
pub async fn serve(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServerConfig) -> String {
    let router = vitrine_server::app(store, clock, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server runs");
    });
    format!("http://{addr}")
}

impl TestApp {
    pub async fn start(db: TestDatabase, mut config: ServerConfig) -> TestApp {
        let temporary_blobs = (config.blob_dir == ServerConfig::default().blob_dir)
            .then(|| tempfile::tempdir().expect("temporary blob directory"));
        if let Some(dir) = &temporary_blobs {
            config.blob_dir = dir.path().to_owned();
        }
        if config.secret_key_file.is_none() {
            // Beside the blob directory, not in it: the upload tests count its files.
            config.secret_key_file = Some(config.blob_dir.with_extension("key"));
        }
        let blob_dir = config.blob_dir.clone();
        let store: Arc<dyn Store> = Arc::from(db.open().await);
        let clock = Arc::new(TestClock::default());
        let base = serve(store.clone(), clock.clone(), config).await;
        let secret = vitrine_server::bootstrap_admin(
            store.as_ref(),
            clock.as_ref(),
            "admin@vitrine.test",
            "Admin",
        )
        .await
        .expect("bootstrap admin");
        TestApp {
            backend: db.backend,
            admin: Client::bearer(&base, &secret),
            base,
            store,
            clock,
            db_url: db.url.clone(),
            blob_dir,
            _blob_dir: temporary_blobs,
            _db: db,
        }
    }

    pub fn anonymous(&self) -> Client {
        Client::anonymous(&self.base)
    }

    /// A client that keeps cookies, as a browser does.
    pub fn browser(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("http client"),
            base: self.base.clone(),
            bearer: None,
        }
    }

    /// Creates a user through the API (as admin), with a token issued through the store.
    pub async fn user(&self, email: &str) -> TestUser {
        self.user_with(json!({"email": email, "display_name": email}))
            .await
    }

    pub async fn user_with(&self, body: Value) -> TestUser {
        let user = self
            .admin
            .post("/api/v1/users", &body)
            .await
            .expect_status(201)
            .json();
        let id: UserId = user["id"].as_str().expect("id").parse().expect("uuid");
        let client = Client::bearer(&self.base, &self.token_for(id).await);
        TestUser {
            id,
            email: user["email"].as_str().expect("email").to_owned(),
            client,
        }
    }

    /// Issues an API token straight into the store (faster than signing in with a
    /// password for each seeded user).
    pub async fn token_for(&self, user: UserId) -> String {
        let bytes: [u8; 32] = rand::random();
        let secret = format!(
            "vit_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let now = self.clock.now();
        let token = ApiToken {
            id: TokenId::generate(),
            user_id: user,
            name: "test".into(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let event = AuditEvent::new(None, "api_token.created", now).subject_token(token.id);
        self.store
            .insert_api_token(&token, &hash, &[event])
            .await
            .expect("insert token");
        secret
    }

    /// An account owned by `owner`.
    pub async fn account(&self, name: &str, owner: &TestUser) -> String {
        let account = self
            .admin
            .post(
                "/api/v1/accounts",
                &json!({"name": name, "owner_user_id": owner.id}),
            )
            .await
            .expect_status(201)
            .json();
        account["id"].as_str().expect("id").to_owned()
    }

    pub async fn add_member(&self, account: &str, user: &TestUser, role: &str) {
        self.admin
            .put(
                &format!("/api/v1/accounts/{account}/members/{}", user.id),
                &json!({"role": role}),
            )
            .await
            .expect_status(200);
    }

    /// An approved provider account owned by `owner`.
    /// A recording of `submission` uploaded by `uploader`, stored as the upload routes
    /// would leave it (a 60 s `demo.mp4`; the bytes are not needed); attach it with a PATCH.
    pub async fn stored_recording(
        &self,
        submission: &str,
        uploader: UserId,
    ) -> vitrine_domain::recording::Recording {
        let recording = vitrine_domain::recording::Recording {
            id: vitrine_domain::RecordingId::generate(),
            submission_id: submission.parse().expect("a submission id"),
            uploaded_by: uploader,
            file_name: "demo.mp4".into(),
            size: 1234,
            sha256: "0".repeat(64),
            media_type: "video/mp4".into(),
            duration_seconds: Some(60.0),
            created_at: self.clock.now(),
        };
        self.store
            .insert_recording(&recording, &[])
            .await
            .expect("recording stored");
        recording
    }

    pub async fn provider(&self, name: &str, owner: &TestUser) -> String {
        let id = self.account(name, owner).await;
        owner
            .client
            .put(
                &format!("/api/v1/accounts/{id}/provider-application"),
                &application(name),
            )
            .await
            .expect_status(200);
        self.admin
            .post(
                &format!("/api/v1/accounts/{id}/provider-application/decision"),
                &json!({"decision": "approve"}),
            )
            .await
            .expect_status(200);
        id
    }

    /// An offering of `provider` created by `by`, then moved to `visibility` with
    /// `allowlist` (the admin publishes).
    pub async fn offering(
        &self,
        by: &Client,
        provider: &str,
        name: &str,
        visibility: &str,
        allowlist: &[&str],
        extra: Value,
    ) {
        let mut body = offering_body(provider, name);
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        by.post("/api/v1/offerings", &body).await.expect_status(201);
        if !allowlist.is_empty() {
            by.put(
                &format!("/api/v1/offerings/{name}/allowlist"),
                &json!({"account_ids": allowlist}),
            )
            .await
            .expect_status(200);
        }
        match visibility {
            "private" => {}
            "limited" => {
                by.put(
                    &format!("/api/v1/offerings/{name}/visibility"),
                    &json!({"visibility": "limited"}),
                )
                .await
                .expect_status(200);
            }
            "public" => {
                self.admin
                    .put(
                        &format!("/api/v1/offerings/{name}/visibility"),
                        &json!({"visibility": "public"}),
                    )
                    .await
                    .expect_status(200);
            }
            other => panic!("unknown visibility {other}"),
        }
    }
}

pub fn application(name: &str) -> Value {
    json!({
        "legal_name": format!("{name} SAS"),
        "contact_email": "ops@provider.test",
        "country": "FR",
        "website": "https://provider.test",
    })
}

pub fn offering_body(provider: &str, name: &str) -> Value {
    json!({
        "provider_account_id": provider,
        "name": name,
        "display_name": {"en": format!("Widget {name}"), "fr": format!("Gadget {name}")},
        "description": {"en": "A widget service for tests"},
        "category": "widgets",
        "tags": ["widget"],
        "plans": [{"name": "lite", "display_name": {"en": "Lite"}, "pricing": {"kind": "free"}}],
    })
}

pub struct TestUser {
    pub id: UserId,
    pub email: String,
    pub client: Client,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    bearer: Option<String>,
}

impl Client {
    pub fn anonymous(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            bearer: None,
        }
    }

    pub fn bearer(base: &str, token: &str) -> Client {
        Client {
            bearer: Some(token.to_owned()),
            ..Client::anonymous(base)
        }
    }

    /// A request with this client's credentials, to customise.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.bearer {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Resp {
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body read").to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    /// Sends `body` as-is with `content_type`.
    pub async fn raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.send(
            self.request(method, path)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Resp {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document of this type and status, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, slug: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type"
        );
        let problem = self.json();
        assert_eq!(problem["type"], format!("/problems/{slug}"), "{problem}");
        assert_eq!(problem["status"], status, "{problem}");
        problem
    }
}

/// The names of the items of a list response.
pub fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The fields a validation problem names, in order.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}
