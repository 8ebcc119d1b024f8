//! Faults: `vitrine serve` killed with SIGKILL during an upload, between a recording's bytes
//! moving into place and its row's commit, during email dispatch, and during a broker check
//! run, then started again on the same data. No recording is half attached, the upload
//! resumes from the server's offset, what a crash left on disk is cleaned at start-up, no
//! email is lost (at least once), and a check run cut mid-lifecycle is marked interrupted
//! with what it created on the provider's broker removed. Killed while it takes a batch of emailed
//! replies from its IMAP mailbox, it stores each exactly once after the restart. With
//! recordings in a bucket, an upload whose server is killed mid-request resumes through
//! another server on the same database and bucket, checksum right. Killed while it delivers
//! webhooks, every event reaches the receiver after the restart, in order. On SQLite, and on PostgreSQL when `VITRINE_TEST_DATABASE_URL` is set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use vitrine_domain::go_live::{Round, Submission};
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::{AuditEvent, SubmissionId};
use vitrine_mail::{FileTransport, Mailbox, OutgoingEmail};
use vitrine_server::{Clock, Dispatcher, DispatcherSettings};
use vitrine_store::{NewEmail, OutboxQuery, OutboxStatus, Store};
use vitrine_store_testing::TestDatabase;

const MIB: usize = 1024 * 1024;

mod support;
use support::Serve;

fn vitrine_command(data_dir: &Path, database_url: &str) -> Command {
    support::vitrine_command(data_dir, Some(database_url))
}

fn bootstrap(data_dir: &Path, database_url: &str) -> String {
    let output = vitrine_command(data_dir, database_url)
        .args(["admin", "bootstrap", "--email", "admin@vitrine.test"])
        .output()
        .expect("bootstrap");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("token")
        .trim()
        .to_owned()
}

async fn call(base: &str, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A provider with an offering and a draft submission; returns the owner's token and the
/// submission.
async fn seed(base: &str, admin: &str, store: &dyn Store) -> (String, Submission) {
    use reqwest::Method;
    let owner = call(
        base,
        admin,
        Method::POST,
        "/api/v1/users",
        json!({"email": "owner@acme.test", "display_name": "Owner"}),
    )
    .await;
    let owner_id: vitrine_domain::UserId = owner["id"].as_str().expect("id").parse().expect("uuid");
    let token = vitrine_server::issue_api_token(store, &vitrine_server::SystemClock, owner_id, "t")
        .await
        .expect("token");
    let account = call(
        base,
        admin,
        Method::POST,
        "/api/v1/accounts",
        json!({"name": "Acme", "owner_user_id": owner_id}),
    )
    .await;
    let account = account["id"].as_str().expect("id").to_owned();
    call(
        base,
        &token,
        Method::PUT,
        &format!("/api/v1/accounts/{account}/provider-application"),
        json!({"legal_name": "Acme SAS", "contact_email": "ops@acme.test", "country": "FR", "website": "https://acme.test"}),
    )
    .await;
    call(
        base,
        admin,
        Method::POST,
        &format!("/api/v1/accounts/{account}/provider-application/decision"),
        json!({"decision": "approve"}),
    )
    .await;
    let offering = call(
        base,
        &token,
        Method::POST,
        "/api/v1/offerings",
        json!({
            "provider_account_id": account,
            "name": "widgets",
            "display_name": {"en": "Widgets"},
            "description": {"en": "A widget service"},
            "category": "widgets",
            "plans": [{"name": "lite", "display_name": {"en": "Lite"}, "pricing": {"kind": "free"}}],
        }),
    )
    .await;
    let offering_id = offering
        .pointer("/offering/id")
        .or_else(|| offering.get("id"))
        .and_then(Value::as_str)
        .expect("offering id")
        .parse()
        .expect("uuid");
    let now = vitrine_server::SystemClock.now();
    let submission = Submission {
        id: SubmissionId::generate(),
        offering_id: vitrine_domain::OfferingId(offering_id),
        provider_account_id: vitrine_domain::AccountId(account.parse().expect("uuid")),
        state: SubmissionState::Draft,
        rounds: vec![Round {
            number: 1,
            recordings: vec![],
            notes: String::new(),
            requested_go_live: None,
            requirements_version: None,
            submitted_at: None,
            decision: None,
        }],
        validator: None,
        publication_at: None,
        revision: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = AuditEvent::new(None, "submission.created", now).subject_submission(
        submission.id,
        submission.offering_id,
        submission.provider_account_id,
    );
    store
        .insert_submission(&submission, &[event], &[])
        .await
        .expect("insert submission");
    (token, submission)
}

/// A well-formed MP4 of `total` bytes (a real clip, then a `skip` box).
fn video(total: usize) -> Vec<u8> {
    let clip = include_bytes!("../../vitrine-blob/tests/fixtures/faststart.mp4");
    let mut bytes = clip.to_vec();
    let skip = u32::try_from(total - clip.len()).expect("fits");
    bytes.extend_from_slice(&skip.to_be_bytes());
    bytes.extend_from_slice(b"skip");
    bytes.extend((0..total - bytes.len()).map(|i| (i % 251) as u8));
    bytes
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

async fn tus(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(body).send().await.expect("tus request")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} in {response:?}"))
        .to_owned()
}

/// Creates a tus upload of `length` bytes on the submission; its location.
async fn create_upload(base: &str, token: &str, submission: SubmissionId, length: usize) -> String {
    let created = tus(
        base,
        token,
        reqwest::Method::POST,
        &format!("/api/v1/submissions/{submission}/uploads"),
        &[("Upload-Length", length.to_string())],
        vec![],
    )
    .await;
    assert_eq!(created.status(), 201);
    header(&created, "location")
}

/// PATCHes `body` onto the upload at `offset`.
async fn patch_upload(
    base: &str,
    token: &str,
    location: &str,
    offset: usize,
    body: &[u8],
) -> reqwest::Response {
    let headers = [
        ("Upload-Offset", offset.to_string()),
        ("Content-Type", "application/offset+octet-stream".to_owned()),
    ];
    tus(
        base,
        token,
        reqwest::Method::PATCH,
        location,
        &headers,
        body.to_vec(),
    )
    .await
}

/// Where the server says the upload stands (its HEAD's `Upload-Offset`).
async fn upload_offset(base: &str, token: &str, location: &str) -> usize {
    let response = tus(base, token, reqwest::Method::HEAD, location, &[], vec![]).await;
    assert_eq!(response.status(), 200);
    header(&response, "upload-offset")
        .parse()
        .expect("Upload-Offset is a number")
}

/// Starts a PATCH at `offset` announcing `announced` bytes and sends only `sent`: the
/// connection is left open, the body unfinished, for the caller to kill the server mid-body.
async fn patch_cut_short(
    base: &str,
    token: &str,
    location: &str,
    offset: usize,
    announced: usize,
    sent: &[u8],
) -> tokio::net::TcpStream {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    stream.write_all(sent).await.expect("part of the body");
    stream.flush().await.expect("flush");
    stream
}

/// The submission holds one recording, `bytes` exactly, and the server serves it whole.
async fn assert_one_recording(
    store: &dyn Store,
    base: &str,
    token: &str,
    submission: SubmissionId,
    bytes: &[u8],
) -> vitrine_domain::recording::Recording {
    let mut recordings = store.recordings_of(submission).await.expect("read");
    assert_eq!(recordings.len(), 1);
    let recording = recordings.remove(0);
    assert_eq!(recording.sha256, hex(&Sha256::digest(bytes)));
    assert_eq!(recording.size, bytes.len() as u64);
    let (status, served) = get_recording(base, token, &recording.id.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(hex(&Sha256::digest(&served)), recording.sha256);
    recording
}

#[tokio::test]
async fn upload_killed_with_sigkill_resumes_after_restart_and_nothing_is_half_attached() {
    for db in TestDatabase::all().await {
        eprintln!("running on {}", db.backend);
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let admin = bootstrap(&data_dir, &db.url);
        let server = Serve::start(&data_dir, Some(&db.url), dir.path().join("serve.log"), &[]);
        let store = db.open().await;
        let (token, submission) = seed(&server.base, &admin, store.as_ref()).await;
        let bytes = video(8 * MIB);
        let location = create_upload(&server.base, &token, submission.id, bytes.len()).await;
        let first = patch_upload(&server.base, &token, &location, 0, &bytes[..2 * MIB]).await;
        assert_eq!(first.status(), 204);

        // The rest is announced, half of it sent, and the server is killed mid-body.
        let stream = patch_cut_short(
            &server.base,
            &token,
            &location,
            2 * MIB,
            bytes.len() - 2 * MIB,
            &bytes[2 * MIB..5 * MIB],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.kill();
        drop(stream);

        // Nothing is attached to the submission.
        assert!(
            store
                .recordings_of(submission.id)
                .await
                .expect("read")
                .is_empty()
        );

        let server = Serve::start(&data_dir, Some(&db.url), dir.path().join("serve.log"), &[]);
        let offset = upload_offset(&server.base, &token, &location).await;
        assert!(
            (2 * MIB..=5 * MIB).contains(&offset),
            "resumes from {offset}"
        );
        let last = patch_upload(&server.base, &token, &location, offset, &bytes[offset..]).await;
        assert_eq!(last.status(), 204, "{:?}", last.text().await);
        assert_one_recording(store.as_ref(), &server.base, &token, submission.id, &bytes).await;
        // No part file is left behind.
        let uploads = std::fs::read_dir(data_dir.join("blobs/uploads"))
            .expect("uploads dir")
            .count();
        assert_eq!(uploads, 0);
    }
}

/// Writes `bytes` as a recording file under `id`, as `finish` leaves it (renamed into
/// `recordings/`), last written `age` ago.
fn recording_file(data_dir: &Path, id: &str, bytes: &[u8], age: Duration) -> PathBuf {
    let path = data_dir.join("blobs/recordings").join(id);
    std::fs::write(&path, bytes).expect("recording file");
    let written = std::time::SystemTime::now() - age;
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_modified(written))
        .expect("file time");
    path
}

async fn get_recording(base: &str, token: &str, id: &str) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{base}/api/v1/recordings/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get recording");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

/// SIGKILL between `finish` (the bytes renamed into `recordings/`) and the commit of the
/// recording's row. Hitting that window by racing a kill against a request is not
/// deterministic (it lasts a rename and a commit), so the test makes the state such a kill
/// leaves directly, kills the server and starts it again:
/// - a single-request upload (PUT) cut there leaves a file no row knows of: never served,
///   removed at start-up once older than the grace period, kept while younger (another
///   server on the database may be committing it);
/// - a tus upload cut there leaves its upload row and the file: kept, and the next HEAD
///   commits the row, so the recording is attached whole;
/// - attached recordings, however old, are kept and served.
#[tokio::test]
async fn killed_between_a_recordings_rename_and_its_commit_nothing_is_half_attached() {
    let hour = Duration::from_secs(60 * 60);
    for db in TestDatabase::all().await {
        eprintln!("running on {}", db.backend);
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let log = dir.path().join("serve.log");
        let admin = bootstrap(&data_dir, &db.url);
        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &[]);
        let store = db.open().await;
        let (token, submission) = seed(&server.base, &admin, store.as_ref()).await;
        let bytes = video(MIB);
        let sha256 = hex(&Sha256::digest(&bytes));

        // An attached recording, through the API; then made old.
        let response = reqwest::Client::new()
            .put(format!(
                "{}/api/v1/submissions/{}/recordings?filename=kept.mp4",
                server.base, submission.id
            ))
            .bearer_auth(&token)
            .header("Content-Type", "video/mp4")
            .body(bytes.clone())
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 201);
        let attached: Value = response.json().await.expect("recording");
        let attached = attached["id"].as_str().expect("id").to_owned();
        recording_file(&data_dir, &attached, &bytes, 2 * hour);

        // A tus upload whose bytes were renamed into place, its row not yet committed.
        let tus_upload = vitrine_domain::recording::Upload {
            id: vitrine_domain::recording::UploadId::generate(),
            submission_id: submission.id,
            user_id: store
                .recordings_of(submission.id)
                .await
                .expect("read")
                .first()
                .expect("the attached recording")
                .uploaded_by,
            declared_length: Some(bytes.len() as u64),
            file_name: Some("tus.mp4".into()),
            created_at: vitrine_server::SystemClock.now(),
            expires_at: vitrine_server::SystemClock
                .now()
                .checked_add(jiff::SignedDuration::from_hours(24))
                .expect("in range"),
        };
        store.insert_upload(&tus_upload).await.expect("upload row");
        let tus_id = tus_upload.id.to_string();
        let tus_file = recording_file(&data_dir, &tus_id, &bytes, 2 * hour);

        // Single-request uploads cut there: one long ago, one just now.
        let old_orphan = vitrine_domain::RecordingId::generate().to_string();
        let old_orphan_file = recording_file(&data_dir, &old_orphan, &bytes, 2 * hour);
        let young_orphan = vitrine_domain::RecordingId::generate().to_string();
        let young_orphan_file =
            recording_file(&data_dir, &young_orphan, &bytes, Duration::from_secs(60));

        server.kill();
        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &[]);

        // The start-up sweep removes the old orphan; nothing else.
        let deadline = Instant::now() + Duration::from_secs(30);
        while old_orphan_file.exists() {
            assert!(
                Instant::now() < deadline,
                "the orphan recording is still there\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(young_orphan_file.exists(), "within the grace period");
        assert!(tus_file.exists(), "its upload row still claims it");
        for orphan in [&old_orphan, &young_orphan] {
            let (status, _) = get_recording(&server.base, &token, orphan).await;
            assert_eq!(status, 404, "a recording without a row is never served");
        }
        let (status, served) = get_recording(&server.base, &token, &attached).await;
        assert_eq!(status, 200);
        assert_eq!(hex(&Sha256::digest(&served)), sha256);

        // The tus upload's next HEAD commits its row: attached whole, served.
        let head = tus(
            &server.base,
            &token,
            reqwest::Method::HEAD,
            &format!("/api/v1/submissions/{}/uploads/{tus_id}", submission.id),
            &[],
            vec![],
        )
        .await;
        // Finished now, so 404 as any finished upload, its recording committed.
        assert_eq!(head.status(), 404, "{head:?}");
        let mut ids: Vec<String> = store
            .recordings_of(submission.id)
            .await
            .expect("read")
            .into_iter()
            .map(|r| {
                assert_eq!(r.sha256, sha256, "attached whole");
                r.id.to_string()
            })
            .collect();
        ids.sort();
        let mut expected = vec![attached.clone(), tus_id.clone()];
        expected.sort();
        assert_eq!(ids, expected, "the orphans are not attached");
        let (status, served) = get_recording(&server.base, &token, &tus_id).await;
        assert_eq!(status, 200);
        assert_eq!(hex(&Sha256::digest(&served)), sha256);
    }
}

/// A clock ahead of the real one, as a dispatcher would see it after a lease ran out.
struct Ahead(Duration);

impl Clock for Ahead {
    fn now(&self) -> jiff::Timestamp {
        let ahead = jiff::SignedDuration::try_from(self.0).expect("duration");
        vitrine_server::SystemClock
            .now()
            .checked_add(ahead)
            .expect("in range")
    }
}

async fn count(store: &dyn Store, status: OutboxStatus) -> usize {
    let mut total = 0;
    let mut before_id = None;
    loop {
        let page = store
            .outbox(&OutboxQuery {
                status: Some(status),
                before_id,
                limit: 100,
            })
            .await
            .expect("outbox");
        total += page.len();
        match page.last() {
            Some(last) if page.len() == 100 => before_id = Some(last.id),
            _ => return total,
        }
    }
}

fn eml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn dispatch_killed_with_sigkill_loses_no_email() {
    const EMAILS: usize = 1500;
    for db in TestDatabase::all().await {
        eprintln!("running on {}", db.backend);
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let mail_dir = data_dir.join("mail");
        let admin = bootstrap(&data_dir, &db.url);
        let server = Serve::start(&data_dir, Some(&db.url), dir.path().join("serve.log"), &[]);
        let store: Arc<dyn Store> = Arc::from(db.open().await);
        let (_, mut submission) = seed(&server.base, &admin, store.as_ref()).await;

        // A change that writes many emails at once, as a session opening does.
        let now = vitrine_server::SystemClock.now();
        let from: Mailbox = "vitrine <noreply@vitrine.test>".parse().expect("from");
        let emails: Vec<NewEmail> = (0..EMAILS)
            .map(|n| {
                let email = OutgoingEmail {
                    from: from.clone(),
                    to: vec![format!("dev{n}@acme.test").parse().expect("to")],
                    reply_to: None,
                    subject: format!("Email {n}"),
                    text: format!("Hello {n}"),
                    html: format!("<p>Hello {n}</p>"),
                    message_id: format!("<fault-{n}@vitrine.test>"),
                    in_reply_to: None,
                    references: vec![],
                    thread: None,
                    auto_submitted: None,
                    language: None,
                    date: None,
                };
                NewEmail::new(
                    email.to[0].email.to_string(),
                    email.subject.clone(),
                    None,
                    &email,
                    now,
                )
                .expect("email")
            })
            .collect();
        let event = AuditEvent::new(None, "submission.round_edited", now).subject_submission(
            submission.id,
            submission.offering_id,
            submission.provider_account_id,
        );
        submission.version += 1;
        submission.rounds[0].notes = "many emails".into();
        store
            .update_submission(&submission, &[event], &emails)
            .await
            .expect("write emails");

        // Killed while it is sending.
        let deadline = Instant::now() + Duration::from_secs(30);
        while eml_files(&mail_dir) < 20 {
            assert!(Instant::now() < deadline, "the dispatcher sent nothing");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill();
        let sent_at_kill = count(store.as_ref(), OutboxStatus::Sent).await;
        let files_at_kill = eml_files(&mail_dir);
        assert!(sent_at_kill < EMAILS, "killed too late to test anything");
        // Marked sent only once written.
        assert!(
            sent_at_kill <= files_at_kill,
            "{sent_at_kill} sent, {files_at_kill} files"
        );
        assert_eq!(count(store.as_ref(), OutboxStatus::Failed).await, 0);

        // Restarted, the server sends what nobody holds; what the dead server held is sent
        // once its lease has run out (a dispatcher whose clock is past the lease).
        let _server = Serve::start(&data_dir, Some(&db.url), dir.path().join("serve.log"), &[]);
        let late = Dispatcher::new(
            store.clone(),
            Arc::new(Ahead(
                DispatcherSettings::default().lease + Duration::from_secs(1),
            )),
            Arc::new(FileTransport::new(&mail_dir)),
            DispatcherSettings::default(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(store.as_ref(), OutboxStatus::Sent).await < EMAILS {
            assert!(Instant::now() < deadline, "emails left unsent");
            late.drain_once().await.expect("drain");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(count(store.as_ref(), OutboxStatus::Pending).await, 0);
        // Every email arrived, each once per Message-ID (a resend replaces its own file).
        assert_eq!(eml_files(&mail_dir), EMAILS);
    }
}

/// GETs `path` as the bearer of `token`, answering the JSON body (any status).
async fn get_json(base: &str, token: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `until` every 100 ms for at most `within`, answering its last value.
async fn wait_for<T, F, Fut>(within: Duration, what: &str, mut until: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = until().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A check run against a slow broker (provision creates the instance, then takes 8 s to
/// answer) is killed with SIGKILL while the instance exists on the broker; once the server
/// is back and the run's lease has run out (the test clock moved past it), the run reads
/// `interrupted` in the API and on its page, and the broker holds nothing: the recovery
/// deprovisioned what the journal had written down before the provision went out.
#[tokio::test]
async fn a_check_run_killed_mid_lifecycle_is_interrupted_and_cleaned_up_on_restart() {
    use vitrine_osb::testing::{BrokerMode, TestBroker};
    let Some(broker) = TestBroker::start_or_skip("faults_check_run", BrokerMode::Slow) else {
        return;
    };
    let args = [
        "--test-clock",
        "--allow-private-broker-addresses",
        "--authorization-endpoint",
        TestBroker::AUTHORIZE_URL,
    ];
    for db in TestDatabase::all().await {
        eprintln!("running on {}", db.backend);
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let log = dir.path().join("serve.log");
        let admin = bootstrap(&data_dir, &db.url);
        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &args);
        let store = db.open().await;
        let (token, _) = seed(&server.base, &admin, store.as_ref()).await;
        let target = broker.target();
        call(
            &server.base,
            &token,
            reqwest::Method::PUT,
            "/api/v1/offerings/widgets/broker",
            json!({"url": target.broker_url.as_str(), "username": target.username,
                "password": target.password}),
        )
        .await;
        let run = call(
            &server.base,
            &token,
            reqwest::Method::POST,
            "/api/v1/offerings/widgets/checks",
            json!({}),
        )
        .await;
        let run_id = run["id"].as_str().expect("run id").to_owned();

        // Mid-lifecycle: the instance exists on the broker, its provision not yet answered.
        let instance = wait_for(Duration::from_secs(20), "the instance", || async {
            broker.state().await.instances.first().cloned()
        })
        .await;
        let (_, running) = get_json(
            &server.base,
            &token,
            &format!("/api/v1/offerings/widgets/checks/{run_id}"),
        )
        .await;
        assert_eq!(running["run"]["state"], "running", "{running}");
        server.kill();
        assert_eq!(
            broker.state().await.instances,
            vec![instance.clone()],
            "the killed run left its instance on the broker"
        );

        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &args);
        // The lease (30 s) has not run out yet: the run still reads running.
        let (_, still) = get_json(
            &server.base,
            &token,
            &format!("/api/v1/offerings/widgets/checks/{run_id}"),
        )
        .await;
        assert_eq!(still["run"]["state"], "running", "{still}");
        call(
            &server.base,
            &admin,
            reqwest::Method::POST,
            "/api/v1/test-clock/advance",
            json!({"seconds": 120}),
        )
        .await;
        // Marked interrupted first, then cleaned up: the report comes with the cleanup. The
        // lease is on real time (moving the clock ends none), so this waits for the killed
        // server's last 30 s lease to run out, the runner's next look (every 5 s) and the
        // cleanup: within 90 s even on a loaded machine.
        let view = wait_for(Duration::from_secs(90), "the run cleaned up", || async {
            let (_, view) = get_json(
                &server.base,
                &token,
                &format!("/api/v1/offerings/widgets/checks/{run_id}"),
            )
            .await;
            (view["run"]["state"] == "interrupted" && view["report"].is_object()).then_some(view)
        })
        .await;
        assert!(view["run"]["finished_at"].is_string(), "{view}");
        let check = &view["report"]["checks"][0];
        assert_eq!(check["id"], "run.interrupted", "{view}");
        let detail = check["detail"].as_str().expect("detail");
        assert!(
            detail.contains("1 of 1 resources it had created were removed"),
            "{detail}"
        );
        assert_eq!(view["report"]["leftovers"], json!([]), "{view}");
        assert!(
            broker.state().await.is_empty(),
            "the recovery deprovisioned the instance: {:?}",
            broker.state().await
        );
        // The go-live gate reads no evidence from an interrupted run.
        let (_, managed) = get_json(&server.base, &token, "/api/v1/offerings/widgets").await;
        assert_eq!(managed["checks"], Value::Null, "{managed}");

        // The run's page says so, to a signed-in reader.
        call(
            &server.base,
            &admin,
            reqwest::Method::POST,
            "/api/v1/users",
            json!({"email": "val@vitrine.test", "display_name": "Val",
                "password": "correct horse battery",
                "staff": {"admin": false, "validator": true}}),
        )
        .await;
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let signed_in = browser
            .post(format!("{}/api/v1/auth/sign-in", server.base))
            .json(&json!({"email": "val@vitrine.test", "password": "correct horse battery"}))
            .send()
            .await
            .expect("sign in");
        assert!(signed_in.status().is_success(), "{signed_in:?}");
        let page = browser
            .get(format!("{}/checks/widgets/{run_id}", server.base))
            .header("accept", "text/html")
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        assert!(
            html.contains(
                "<span class=\"state run-state-interrupted\" id=\"run-state\">interrupted</span>"
            ),
            "{html}"
        );
        assert!(html.contains("id=\"check-run.interrupted\""), "{html}");
        assert!(!html.contains("id=\"leftovers\""), "nothing left: {html}");
        server.kill();
    }
}

/// A reply as a mail client writes it: new text above the quoted history.
fn emailed_reply(n: usize, from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Owner <{from}>\r\nTo: {to}\r\nSubject: Re: your submission\r\n\
         Message-ID: <fault-reply-{n}@mail.acme.test>\r\nDate: Thu, 05 Mar 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Reply number {n}: the provisioning step is now shown.\r\n\r\n\
         On Thu, 5 Mar 2026 at 09:00, vitrine <noreply@vitrine.test> wrote:\r\n\
         > Changes were requested on your submission.\r\n"
    )
    .into_bytes()
}

/// Every outbox row of `submission`, whatever its status (one query for all statuses: a
/// row the running dispatcher sends meanwhile is not counted twice).
async fn outbox_of(store: &dyn Store, submission: SubmissionId) -> Vec<vitrine_store::OutboxEmail> {
    let mut rows: Vec<vitrine_store::OutboxEmail> = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .outbox(&OutboxQuery {
                status: None,
                before_id,
                limit: 100,
            })
            .await
            .expect("outbox");
        let full = page.len() == 100;
        before_id = page.last().map(|e| e.id);
        rows.extend(
            page.into_iter()
                .filter(|e| e.submission_id == Some(submission)),
        );
        if !full {
            break;
        }
    }
    rows.sort_by_key(|e| e.id);
    rows.dedup_by_key(|e| e.id);
    rows
}

#[tokio::test]
async fn ingest_killed_with_sigkill_mid_batch_stores_every_reply_exactly_once() {
    use vitrine_inbound::reply_address::{ReplyKey, ReplyPattern};
    use vitrine_mailbox::testing::Dovecot;
    const REPLIES: usize = 200;
    const PATTERN: &str = "reply+{key}@in.vitrine.test";
    for db in TestDatabase::all().await {
        eprintln!("running on {}", db.backend);
        let Some(dovecot) = Dovecot::start_or_skip("ingest_killed_with_sigkill_mid_batch") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let admin = bootstrap(&data_dir, &db.url);
        let log = dir.path().join("serve.log");
        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &[]);
        let store: Arc<dyn Store> = Arc::from(db.open().await);
        let (_, submission) = seed(&server.base, &admin, store.as_ref()).await;
        server.kill();
        let owner_email =
            vitrine_domain::user::Email::parse("email", "owner@acme.test").expect("email");
        let (owner, _) = store
            .user_by_email(&owner_email)
            .await
            .expect("lookup")
            .expect("owner");

        // The owner's reply address, as an email of the thread carries it.
        let key = ReplyKey::from_bytes(Sha256::digest(submission.id.0.as_bytes()).into());
        let pattern = ReplyPattern::parse(PATTERN).expect("pattern");
        let address = pattern.address_for(&key);
        let now = vitrine_server::SystemClock.now();
        // Its payload is not read here (the email itself is not what this test is about).
        let email = json!({"subject": "Changes requested", "reply_to": address});
        let seeded_email = NewEmail::new(
            "owner@acme.test",
            "Changes requested",
            Some(submission.id),
            &email,
            now,
        )
        .expect("email")
        .with_reply_key(vitrine_store::ReplyKeyGrant {
            hash: key.hash(),
            user_id: owner.id,
            submission_id: submission.id,
        });
        store
            .insert_emails(&[], &[seeded_email])
            .await
            .expect("the reply key");

        // A batch of replies waits in the mailbox; the server takes them as it starts.
        dovecot
            .append_all(
                Dovecot::USER,
                "INBOX",
                (0..REPLIES).map(|n| emailed_reply(n, "owner@acme.test", &address)),
            )
            .await;
        let port = dovecot.port().to_string();
        let imap_args = [
            "--reply-address",
            PATTERN,
            "--imap-host",
            dovecot.host(),
            "--imap-port",
            &port,
            "--imap-security",
            "plain",
            "--imap-username",
            Dovecot::USER,
            "--imap-password",
            Dovecot::PASSWORD,
        ];
        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &imap_args);
        let posted = || async { store.messages(submission.id).await.expect("messages").len() };
        let deadline = Instant::now() + Duration::from_secs(60);
        while posted().await < 10 {
            assert!(
                Instant::now() < deadline,
                "the server took no reply\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Killed in the middle of the batch: some replies stored, none of them moved yet.
        server.kill();
        let posted_at_kill = posted().await;
        let moved_at_kill = dovecot.count(Dovecot::USER, "Processed").await as usize;
        eprintln!("killed with {posted_at_kill} replies posted, {moved_at_kill} moved");
        assert!(posted_at_kill < REPLIES, "killed too late to test anything");
        assert!(
            moved_at_kill < posted_at_kill,
            "the kill left no stored reply in the mailbox: nothing is read twice"
        );

        // Restarted, it reads the unmoved ones again: the stored ones change nothing.
        let _server = Serve::start(&data_dir, Some(&db.url), log.clone(), &imap_args);
        let deadline = Instant::now() + Duration::from_secs(120);
        while (dovecot.count(Dovecot::USER, "Processed").await as usize) < REPLIES {
            assert!(
                Instant::now() < deadline,
                "replies left in the mailbox\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(dovecot.count(Dovecot::USER, "INBOX").await, 0);

        // Each reply is in the thread once, from the owner, with its own text.
        let messages = store.messages(submission.id).await.expect("messages");
        assert_eq!(messages.len(), REPLIES);
        let mut texts: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), REPLIES, "a reply was posted twice");
        for n in 0..REPLIES {
            let text = format!("Reply number {n}: the provisioning step is now shown.");
            assert!(texts.contains(&text), "reply {n} is missing");
        }
        assert!(messages.iter().all(|m| m.author == owner.id));
        // Logged once each, as posted.
        let log_rows = store.inbound_emails(None, 1000).await.expect("inbound log");
        assert_eq!(log_rows.len(), REPLIES);
        assert!(
            log_rows
                .iter()
                .all(|(_, e)| e.outcome == vitrine_store::InboundOutcome::Posted)
        );
        // One notification per reply (to the admin: the submission has no validator yet).
        let notifications: Vec<_> = outbox_of(store.as_ref(), submission.id)
            .await
            .into_iter()
            .filter(|e| e.recipients.contains("admin@vitrine.test"))
            .collect();
        assert_eq!(
            notifications.len(),
            REPLIES,
            "a notification was written twice"
        );
    }
}

/// The `--s3-*` arguments of `serve` for the test bucket.
fn bucket_args(s3: &vitrine_blob::testing::TestS3) -> Vec<String> {
    use vitrine_blob::testing::TestS3;
    [
        "--s3-endpoint",
        &s3.endpoint(),
        "--s3-allow-http",
        "--s3-bucket",
        TestS3::BUCKET,
        "--s3-access-key-id",
        TestS3::ACCESS_KEY,
        "--s3-secret-access-key",
        TestS3::SECRET_KEY,
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test]
async fn an_upload_to_the_bucket_started_on_a_server_killed_with_sigkill_resumes_on_another() {
    let Some(s3) = vitrine_blob::testing::TestS3::start_or_skip(
        "an_upload_to_the_bucket_started_on_a_server_killed_with_sigkill_resumes_on_another",
    ) else {
        return;
    };
    // Signed payloads (parts cut once received), then unsigned ones (parts streamed as they
    // arrive): A dies while a part is on its way either way.
    for unsigned in [false, true] {
        let mut bucket_args = bucket_args(&s3);
        bucket_args.push(format!("--s3-unsigned-payload={unsigned}"));
        let bucket_args: Vec<&str> = bucket_args.iter().map(String::as_str).collect();
        for db in TestDatabase::all().await {
            eprintln!("running on {}, unsigned payloads {unsigned}", db.backend);
            let dir = tempfile::tempdir().expect("tempdir");
            // Two machines: a data directory each, one database, one bucket.
            let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
            let admin = bootstrap(&dir_a, &db.url);
            let server_a = Serve::start(
                &dir_a,
                Some(&db.url),
                dir.path().join("a.log"),
                &bucket_args,
            );
            // On PostgreSQL B runs beside A; a SQLite file serves one server at a time, so there
            // B is the machine that replaces A once it died.
            let start_b = || {
                Serve::start(
                    &dir_b,
                    Some(&db.url),
                    dir.path().join("b.log"),
                    &bucket_args,
                )
            };
            let several_servers = db.url.starts_with("postgres");
            let early_b = several_servers.then(start_b);
            let store = db.open().await;
            let (token, submission) = seed(&server_a.base, &admin, store.as_ref()).await;
            // Two whole 8 MiB parts and a last one of 4 MiB.
            let bytes = video(20 * MIB);
            let location = create_upload(&server_a.base, &token, submission.id, bytes.len()).await;
            // 3 MiB: a tail below one part, in the bucket.
            let first = patch_upload(&server_a.base, &token, &location, 0, &bytes[..3 * MIB]).await;
            assert_eq!(first.status(), 204);

            // The rest announced to A, 9 MiB of it sent (a part cut and on its way), then A dies.
            let stream = patch_cut_short(
                &server_a.base,
                &token,
                &location,
                3 * MIB,
                bytes.len() - 3 * MIB,
                &bytes[3 * MIB..12 * MIB],
            )
            .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            server_a.kill();
            drop(stream);
            let server_b = early_b.unwrap_or_else(start_b);

            // B knows where the upload stands: the request A never finished counts for nothing.
            let offset = upload_offset(&server_b.base, &token, &location).await;
            assert_eq!(offset, 3 * MIB);
            let last =
                patch_upload(&server_b.base, &token, &location, offset, &bytes[offset..]).await;
            assert_eq!(last.status(), 204, "{:?}", last.text().await);
            let recording = assert_one_recording(
                store.as_ref(),
                &server_b.base,
                &token,
                submission.id,
                &bytes,
            )
            .await;
            assert!(recording.duration_seconds.is_some());
            // Neither server kept anything on its disk.
            for data_dir in [&dir_a, &dir_b] {
                for sub in ["blobs/uploads", "blobs/recordings"] {
                    let left = std::fs::read_dir(data_dir.join(sub)).map_or(0, |d| d.count());
                    assert_eq!(left, 0, "{}", data_dir.join(sub).display());
                }
            }
        }
    }
}

/// `serve` killed with SIGKILL while it delivers 300 webhooks to one endpoint (a receiver
/// verifying every signature with the `standardwebhooks` package), restarted: every event
/// reaches the receiver, verified, in order (first arrivals), at most the one in flight at
/// the kill twice (at least once, with the same `webhook-id`), and the store holds none
/// pending. What the dead server held is delivered once its lease ran out (a worker whose
/// clock is past the lease).
#[tokio::test]
async fn webhook_delivery_killed_with_sigkill_loses_no_event() {
    use vitrine_webhooks::testing::TestReceiver;
    const EVENTS: usize = 300;
    for db in TestDatabase::all().await {
        eprintln!("running on {}", db.backend);
        let dir = tempfile::tempdir().expect("tempdir");
        let Some(receiver) =
            TestReceiver::start_or_skip("webhook faults", &dir.path().join("receiver"))
        else {
            return;
        };
        let data_dir = dir.path().join("data");
        let admin = bootstrap(&data_dir, &db.url);
        let allow = ["--allow-private-broker-addresses"];
        let log = dir.path().join("serve.log");
        let server = Serve::start(&data_dir, Some(&db.url), log.clone(), &allow);
        let store: Arc<dyn Store> = Arc::from(db.open().await);
        let (token, submission) = seed(&server.base, &admin, store.as_ref()).await;
        let created = call(
            &server.base,
            &token,
            reqwest::Method::POST,
            &format!(
                "/api/v1/accounts/{}/webhooks",
                submission.provider_account_id
            ),
            json!({"url": receiver.url(), "events": ["offering.unpublished"]}),
        )
        .await;
        receiver.set_secret(created["secret"].as_str().expect("a secret"));

        // Many changes at once, written with their audit events (the fan-out's source).
        let now = vitrine_server::SystemClock.now();
        let events: Vec<AuditEvent> = (0..EVENTS)
            .map(|n| {
                AuditEvent::new(None, "offering.visibility_changed", now)
                    .subject_offering(submission.offering_id, submission.provider_account_id)
                    .before(&json!({"visibility": "public"}))
                    .after(&json!({"visibility": "limited", "reason": format!("{n}")}))
            })
            .collect();
        store
            .insert_emails(&events, &[])
            .await
            .expect("write the changes");

        let verified = |receiver: &TestReceiver| -> Vec<usize> {
            receiver
                .received()
                .iter()
                .filter(|r| r.verified)
                .filter_map(|r| r.payload["data"]["reason"].as_str()?.parse().ok())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while verified(&receiver).len() < 20 {
            assert!(
                Instant::now() < deadline,
                "nothing was delivered\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill();
        let at_kill = verified(&receiver).len();
        assert!(at_kill < EVENTS, "killed too late to test anything");

        let _server = Serve::start(&data_dir, Some(&db.url), log.clone(), &allow);
        let sealer = vitrine_checks::Sealer::from_file_or_create(&data_dir.join("secret.key"))
            .expect("the key");
        let settings = vitrine_webhooks::DeliverySettings {
            allow_private_addresses: true,
            ..vitrine_webhooks::DeliverySettings::default()
        };
        let late = vitrine_webhooks::Deliverer::new(
            vitrine_jobs::Services {
                store: store.clone(),
                clock: Arc::new(Ahead(settings.lease + Duration::from_secs(1))),
                mail: Arc::new(vitrine_jobs::MailSettings::default()),
            },
            sealer,
            settings,
        )
        .expect("a worker");
        // One pass past the lease takes over what the dead server held (the restarted one
        // waits behind it: one endpoint's deliveries go one at a time); then the restarted
        // server delivers the rest on its own.
        late.deliver_once().await.expect("deliver");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let counts = vitrine_webhooks::store::WebhookStore::new(store.as_ref())
                .counts()
                .await
                .expect("counts");
            if counts == [("delivered".to_owned(), EVENTS as i64)] {
                break;
            }
            assert!(Instant::now() < deadline, "deliveries left: {counts:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = verified(&receiver);
        let mut first_seen = Vec::new();
        for n in &got {
            if !first_seen.contains(n) {
                first_seen.push(*n);
            }
        }
        assert_eq!(
            first_seen,
            (0..EVENTS).collect::<Vec<_>>(),
            "every event, in order"
        );
        // At least once: the one in flight at the kill may arrive twice (and the pass past
        // the lease may take one the restarted server had just claimed).
        assert!(
            got.len() <= EVENTS + 2,
            "{} received for {EVENTS}",
            got.len()
        );
        assert!(receiver.received().iter().all(|r| r.verified));
    }
}
