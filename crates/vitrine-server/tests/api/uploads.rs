//! Demo recordings: tus uploads (resume after a dropped connection, checksums, protocol
//! errors), the single streamed upload, type and size refusals that leave nothing behind,
//! Range reads, who may upload and read, and expiry.

use std::path::Path;

use base64::Engine;
use reqwest::Method;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use vitrine_domain::go_live::{Round, Submission};
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::{AuditEvent, OfferingName, SubmissionId};
use vitrine_server::{Clock, ServerConfig};
use vitrine_store_testing::TestDatabase;

use crate::support::{Client, Resp, TestApp};
use crate::world::World;

pub(crate) const MIB: usize = 1024 * 1024;
pub(crate) const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");

/// A well-formed MP4 of `total` bytes: a real short clip followed by a `skip` box that
/// players ignore, filled with a pattern.
pub fn video(total: usize) -> Vec<u8> {
    let clip = include_bytes!("../../../vitrine-blob/tests/fixtures/faststart.mp4");
    assert!(total >= clip.len() + 8, "too short for the clip");
    let mut bytes = clip.to_vec();
    let skip = u32::try_from(total - clip.len()).expect("fits a box");
    bytes.extend_from_slice(&skip.to_be_bytes());
    bytes.extend_from_slice(b"skip");
    bytes.extend((0..total - bytes.len()).map(|i| (i % 251) as u8));
    bytes
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A draft submission of `priv-svc` (the world's provider P), written straight to the store:
/// the submission endpoints and their gate are tested elsewhere.
pub async fn draft_submission(app: &TestApp, state: SubmissionState) -> SubmissionId {
    let name = OfferingName::parse("name", "priv-svc").expect("name");
    let offering = app
        .store
        .offering_by_name(&name)
        .await
        .expect("read offering")
        .expect("offering exists");
    let now = jiff::Timestamp::from_second(1_772_442_000).expect("time");
    let submission = Submission {
        id: SubmissionId::generate(),
        offering_id: offering.id,
        provider_account_id: offering.provider_account_id,
        state,
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
    app.store
        .insert_submission(&submission, &[event], &[])
        .await
        .expect("insert submission");
    submission.id
}

/// Every file under the app's blob directory.
pub(crate) fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub(crate) async fn create(client: &Client, submission: SubmissionId, length: usize) -> Resp {
    client
        .send(
            client
                .request(
                    Method::POST,
                    &format!("/api/v1/submissions/{submission}/uploads"),
                )
                .header(TUS.0, TUS.1)
                .header("Upload-Length", length.to_string())
                .header(
                    "Upload-Metadata",
                    format!("filename {},filetype {}", b64("demo.mp4"), b64("video/mp4")),
                ),
        )
        .await
}

pub(crate) async fn patch(client: &Client, location: &str, offset: usize, chunk: &[u8]) -> Resp {
    client
        .send(
            client
                .request(Method::PATCH, location)
                .header(TUS.0, TUS.1)
                .header("Upload-Offset", offset.to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .body(chunk.to_vec()),
        )
        .await
}

pub(crate) async fn head(client: &Client, location: &str) -> Resp {
    client
        .send(client.request(Method::HEAD, location).header(TUS.0, TUS.1))
        .await
}

pub(crate) fn offset_of(resp: &Resp) -> usize {
    resp.header("upload-offset")
        .expect("Upload-Offset")
        .parse()
        .expect("a number")
}

/// Sends the headers of a PATCH announcing all of `chunk`, then only `sent` bytes of it, and
/// drops the connection, as a client whose network goes away does.
async fn patch_then_drop(
    app: &TestApp,
    token: &str,
    location: &str,
    offset: usize,
    chunk: &[u8],
    sent: usize,
) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        chunk.len()
    );
    stream.write_all(head.as_bytes()).await.expect("headers");
    stream
        .write_all(&chunk[..sent])
        .await
        .expect("part of the body");
    stream.flush().await.expect("flush");
    drop(stream);
}

/// HEAD until the interrupted request has let go of the upload.
async fn settled_offset(client: &Client, location: &str) -> usize {
    for _ in 0..200 {
        let resp = head(client, location).await;
        if resp.status == 200 {
            // Asked twice: the same answer means no request is still writing.
            let again = head(client, location).await.expect_status(200);
            if offset_of(&again) == offset_of(&resp) {
                return offset_of(&resp);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the upload never settled");
}

#[tokio::test]
async fn tus_upload_resumes_after_a_dropped_connection() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let token = app.token_for(w.member.id).await;
        let uploader = Client::bearer(&app.base, &token);
        let submission = draft_submission(app, SubmissionState::Draft).await;
        let bytes = video(3 * MIB + 12_345);

        // Capabilities.
        let options = uploader
            .send(uploader.request(
                Method::OPTIONS,
                &format!("/api/v1/submissions/{submission}/uploads"),
            ))
            .await
            .expect_status(204);
        assert_eq!(options.header("tus-version"), Some("1.0.0"));
        let extensions = options.header("tus-extension").expect("Tus-Extension");
        for extension in ["creation", "termination", "expiration", "checksum"] {
            assert!(extensions.contains(extension), "{extensions}");
        }
        assert_eq!(options.header("tus-checksum-algorithm"), Some("sha256"));
        assert_eq!(
            options.header("tus-max-size"),
            Some(
                ServerConfig::default()
                    .max_recording_bytes
                    .to_string()
                    .as_str()
            )
        );

        let created = create(&uploader, submission, bytes.len())
            .await
            .expect_status(201);
        assert_eq!(created.header("tus-resumable"), Some("1.0.0"));
        assert!(
            created
                .header("upload-expires")
                .expect("Upload-Expires")
                .ends_with(" GMT")
        );
        let location = created.header("location").expect("Location").to_owned();
        assert_eq!(
            offset_of(&head(&uploader, &location).await.expect_status(200)),
            0
        );

        // First chunk, with its checksum.
        let first = &bytes[..MIB];
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(first));
        let resp = uploader
            .send(
                uploader
                    .request(Method::PATCH, &location)
                    .header(TUS.0, TUS.1)
                    .header("Upload-Offset", "0")
                    .header("Upload-Checksum", format!("sha256 {digest}"))
                    .header("Content-Type", "application/offset+octet-stream")
                    .body(first.to_vec()),
            )
            .await
            .expect_status(204);
        assert_eq!(offset_of(&resp), MIB);

        // The second chunk's connection drops half way.
        patch_then_drop(app, &token, &location, MIB, &bytes[MIB..2 * MIB], MIB / 2).await;
        let offset = settled_offset(&uploader, &location).await;
        assert!((MIB..=MIB + MIB / 2).contains(&offset), "offset {offset}");

        // Resume from the server's offset in 1 MiB chunks.
        let mut offset = offset;
        let mut recording_url = None;
        while offset < bytes.len() {
            let end = (offset + MIB).min(bytes.len());
            let resp = patch(&uploader, &location, offset, &bytes[offset..end]).await;
            // As a tus client does: if the interrupted request was still being processed
            // (busy: 423, or it moved the offset: 409), ask the server's offset again.
            if resp.status == 409 || resp.status == 423 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                offset = settled_offset(&uploader, &location).await;
                continue;
            }
            let resp = resp.expect_status(204);
            offset = offset_of(&resp);
            assert_eq!(offset, end);
            recording_url = resp.header("vitrine-recording").map(str::to_owned);
        }
        let recording_url = recording_url.expect("the last chunk names the recording");
        // The upload is gone once finished.
        head(&uploader, &location).await.expect_status(404);

        let id = recording_url
            .rsplit('/')
            .next()
            .expect("id")
            .parse()
            .expect("uuid");
        let recording = app
            .store
            .recording(id)
            .await
            .expect("read")
            .expect("recording row");
        assert_eq!(recording.sha256, sha256_hex(&bytes));
        assert_eq!(recording.size, bytes.len() as u64);
        assert_eq!(recording.media_type, "video/mp4");
        assert_eq!(recording.file_name, "demo.mp4");
        assert_eq!(recording.submission_id, submission);
        assert!(recording.duration_seconds.is_some());
        let served = uploader.get(&recording_url).await.expect_status(200);
        assert_eq!(sha256_hex(&served.body), recording.sha256);
        assert_eq!(served.header("content-type"), Some("video/mp4"));
    })
    .await;
}

#[tokio::test]
async fn tus_protocol_errors() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let provider = &w.owner.client;
        let submission = draft_submission(app, SubmissionState::Draft).await;
        let bytes = video(64 * 1024);

        // No or another tus version: 412, naming the version spoken.
        let resp = provider
            .send(
                provider
                    .request(
                        Method::POST,
                        &format!("/api/v1/submissions/{submission}/uploads"),
                    )
                    .header("Upload-Length", "10"),
            )
            .await;
        resp.problem(412, "precondition-failed");
        assert_eq!(resp.header("tus-version"), Some("1.0.0"));
        provider
            .send(
                provider
                    .request(
                        Method::POST,
                        &format!("/api/v1/submissions/{submission}/uploads"),
                    )
                    .header(TUS.0, "0.2.2")
                    .header("Upload-Length", "10"),
            )
            .await
            .problem(412, "precondition-failed");
        // No length.
        provider
            .send(
                provider
                    .request(
                        Method::POST,
                        &format!("/api/v1/submissions/{submission}/uploads"),
                    )
                    .header(TUS.0, TUS.1),
            )
            .await
            .problem(400, "bad-request");

        let location = create(provider, submission, bytes.len())
            .await
            .expect_status(201)
            .header("location")
            .expect("Location")
            .to_owned();
        // Wrong content type.
        provider
            .send(
                provider
                    .request(Method::PATCH, &location)
                    .header(TUS.0, TUS.1)
                    .header("Upload-Offset", "0")
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes[..100].to_vec()),
            )
            .await
            .problem(415, "unsupported-media-type");
        patch(provider, &location, 0, &bytes[..8192])
            .await
            .expect_status(204);
        // Wrong offset: 409, nothing written.
        patch(provider, &location, 100, &bytes[100..200])
            .await
            .problem(409, "conflict");
        // A checksum that does not match: 460, the offset stays.
        let wrong = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"other"));
        let resp = provider
            .send(
                provider
                    .request(Method::PATCH, &location)
                    .header(TUS.0, TUS.1)
                    .header("Upload-Offset", "8192")
                    .header("Upload-Checksum", format!("sha256 {wrong}"))
                    .header("Content-Type", "application/offset+octet-stream")
                    .body(bytes[8192..9000].to_vec()),
            )
            .await;
        resp.problem(460, "checksum-mismatch");
        assert_eq!(
            offset_of(&head(provider, &location).await.expect_status(200)),
            8192
        );
        // An unknown checksum algorithm: 400.
        provider
            .send(
                provider
                    .request(Method::PATCH, &location)
                    .header(TUS.0, TUS.1)
                    .header("Upload-Offset", "8192")
                    .header("Upload-Checksum", "md5 AAAA")
                    .header("Content-Type", "application/offset+octet-stream")
                    .body(bytes[8192..9000].to_vec()),
            )
            .await
            .problem(400, "bad-request");
        // Past the declared length: 413.
        let mut too_long = bytes[8192..].to_vec();
        too_long.extend_from_slice(b"extra");
        patch(provider, &location, 8192, &too_long)
            .await
            .problem(413, "payload-too-large");

        // Termination removes the bytes and the upload.
        provider
            .send(
                provider
                    .request(Method::DELETE, &location)
                    .header(TUS.0, TUS.1),
            )
            .await
            .expect_status(204);
        head(provider, &location).await.expect_status(404);
        assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn non_videos_are_refused_and_leave_nothing() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let provider = &w.owner.client;
        let submission = draft_submission(app, SubmissionState::Draft).await;
        let text: Vec<u8> = b"This is a plain text file, not a video.\n".repeat(300);

        // Through tus: refused once the bytes show what they are.
        let location = create(provider, submission, text.len())
            .await
            .expect_status(201)
            .header("location")
            .expect("Location")
            .to_owned();
        patch(provider, &location, 0, &text)
            .await
            .problem(415, "unsupported-media-type");
        head(provider, &location).await.expect_status(404);
        // Declared as text at creation: refused before anything is stored.
        provider
            .send(
                provider
                    .request(
                        Method::POST,
                        &format!("/api/v1/submissions/{submission}/uploads"),
                    )
                    .header(TUS.0, TUS.1)
                    .header("Upload-Length", "100")
                    .header(
                        "Upload-Metadata",
                        format!(
                            "filename {},filetype {}",
                            b64("notes.txt"),
                            b64("text/plain")
                        ),
                    ),
            )
            .await
            .problem(415, "unsupported-media-type");
        // In one request.
        provider
            .raw(
                Method::PUT,
                &format!("/api/v1/submissions/{submission}/recordings?filename=notes.txt"),
                "application/octet-stream",
                text.clone(),
            )
            .await
            .problem(415, "unsupported-media-type");

        assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
        assert!(
            app.store
                .recordings_of(submission)
                .await
                .expect("read")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn oversized_recordings_are_refused_before_they_are_kept() {
    for db in TestDatabase::all().await {
        let config = ServerConfig {
            max_recording_bytes: MIB as u64,
            ..ServerConfig::default()
        };
        let app = TestApp::start(db, config).await;
        eprintln!("running on {}", app.backend);
        let w = World::build(app).await;
        let app = &w.app;
        let provider = &w.owner.client;
        let submission = draft_submission(app, SubmissionState::Draft).await;
        let big = video(MIB + 1);

        // Declared too long at creation.
        create(provider, submission, big.len())
            .await
            .problem(413, "payload-too-large");
        // In one request: refused on its Content-Length, before reading.
        provider
            .raw(
                Method::PUT,
                &format!("/api/v1/submissions/{submission}/recordings"),
                "video/mp4",
                big.clone(),
            )
            .await
            .problem(413, "payload-too-large");
        assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
        // Exactly the limit is fine.
        let fits = video(MIB);
        let recording = provider
            .raw(
                Method::PUT,
                &format!("/api/v1/submissions/{submission}/recordings?filename=fits.mp4"),
                "video/mp4",
                fits.clone(),
            )
            .await
            .expect_status(201)
            .json();
        assert_eq!(recording["size"], MIB);
        assert_eq!(recording["sha256"], sha256_hex(&fits));
        assert_eq!(recording["file_name"], "fits.mp4");
    }
}

#[tokio::test]
async fn recordings_are_served_with_ranges_to_the_provider_and_staff_only() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let submission = draft_submission(app, SubmissionState::Draft).await;
        let bytes = video(300_000);
        let put = w
            .member
            .client
            .raw(
                Method::PUT,
                &format!("/api/v1/submissions/{submission}/recordings?filename=demo.mp4"),
                "video/mp4",
                bytes.clone(),
            )
            .await
            .expect_status(201);
        let url = put.header("location").expect("Location").to_owned();
        assert_eq!(
            put.json()["id"]
                .as_str()
                .map(|id| format!("/api/v1/recordings/{id}")),
            Some(url.clone())
        );

        let provider = &w.owner.client;
        let whole = provider.get(&url).await.expect_status(200);
        assert_eq!(whole.body, bytes);
        assert_eq!(whole.header("accept-ranges"), Some("bytes"));
        let ranged = |range: &'static str| {
            let provider = provider.clone();
            let url = url.clone();
            async move {
                provider
                    .send(provider.request(Method::GET, &url).header("Range", range))
                    .await
            }
        };
        let part = ranged("bytes=1000-1999").await.expect_status(206);
        assert_eq!(part.body, &bytes[1000..2000]);
        assert_eq!(part.header("content-range"), Some("bytes 1000-1999/300000"));
        assert_eq!(part.header("content-length"), Some("1000"));
        let tail = ranged("bytes=-10").await.expect_status(206);
        assert_eq!(tail.body, &bytes[bytes.len() - 10..]);
        let open = ranged("bytes=299990-").await.expect_status(206);
        assert_eq!(open.body, &bytes[299_990..]);
        let past = ranged("bytes=300000-").await;
        past.problem(416, "range-not-satisfiable");
        assert_eq!(past.header("content-range"), Some("bytes */300000"));

        // Who may read it.
        w.validator.client.get(&url).await.expect_status(200);
        app.admin.get(&url).await.expect_status(200);
        w.other_member
            .client
            .get(&url)
            .await
            .problem(404, "not-found");
        w.customer.client.get(&url).await.problem(404, "not-found");
        app.anonymous()
            .get(&url)
            .await
            .problem(401, "unauthenticated");
        w.customer
            .client
            .get("/api/v1/recordings/0192f000-0000-7000-8000-000000000000")
            .await
            .problem(404, "not-found");
    })
    .await;
}

#[tokio::test]
async fn only_provider_members_upload_and_only_while_the_round_is_open() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let draft = draft_submission(app, SubmissionState::Draft).await;
        let bytes = video(10_000);
        let put = |client: Client, submission: SubmissionId| {
            let bytes = bytes.clone();
            async move {
                client
                    .raw(
                        Method::PUT,
                        &format!("/api/v1/submissions/{submission}/recordings"),
                        "video/mp4",
                        bytes,
                    )
                    .await
            }
        };
        put(w.validator.client.clone(), draft)
            .await
            .problem(403, "forbidden");
        put(app.admin.clone(), draft)
            .await
            .problem(403, "forbidden");
        put(w.customer.client.clone(), draft)
            .await
            .problem(404, "not-found");
        put(w.other_member.client.clone(), draft)
            .await
            .problem(404, "not-found");
        create(&w.customer.client, draft, bytes.len())
            .await
            .problem(404, "not-found");
        create(&w.validator.client, draft, bytes.len())
            .await
            .problem(403, "forbidden");
        assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
        put(w.member.client.clone(), draft).await.expect_status(201);
    })
    .await;
}

#[tokio::test]
async fn a_frozen_round_takes_no_recordings() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let queued = draft_submission(app, SubmissionState::Queued).await;
        let bytes = video(10_000);
        w.owner
            .client
            .raw(
                Method::PUT,
                &format!("/api/v1/submissions/{queued}/recordings"),
                "video/mp4",
                bytes.clone(),
            )
            .await
            .problem(409, "conflict");
        create(&w.owner.client, queued, bytes.len())
            .await
            .problem(409, "conflict");
        assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn expired_uploads_are_swept() {
    crate::support::each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let provider = &w.owner.client;
        let submission = draft_submission(app, SubmissionState::Draft).await;
        let bytes = video(100_000);
        let created = create(provider, submission, bytes.len())
            .await
            .expect_status(201);
        let location = created.header("location").expect("Location").to_owned();
        patch(provider, &location, 0, &bytes[..50_000])
            .await
            .expect_status(204);
        let blobs = vitrine_blob::BlobStore::from(
            vitrine_blob::LocalBlobStore::open(&app.blob_dir).expect("blob store"),
        );

        // Not yet expired: the sweep leaves it.
        let now = app.clock.now();
        assert_eq!(
            vitrine_server::sweep_expired_uploads(app.store.as_ref(), &blobs, now)
                .await
                .expect("sweep"),
            0
        );
        assert_eq!(files_under(&app.blob_dir).len(), 1);

        app.clock.advance(jiff::SignedDuration::from_hours(25));
        // Expired: no longer answered, even before the sweep.
        head(provider, &location).await.expect_status(404);
        let now = app.clock.now();
        assert_eq!(
            vitrine_server::sweep_expired_uploads(app.store.as_ref(), &blobs, now)
                .await
                .expect("sweep"),
            1
        );
        assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
        let id = location
            .rsplit('/')
            .next()
            .expect("id")
            .parse()
            .expect("uuid");
        assert_eq!(app.store.upload(id).await.expect("read"), None);
    })
    .await;
}
