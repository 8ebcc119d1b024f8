//! Recordings in an S3 bucket (a real s3s-fs): a tus upload in chunks that cross part
//! boundaries, resumed through another server sharing the database and the bucket; the
//! finished recording's checksum, duration and ranged reads; the sweep aborting an abandoned
//! multipart upload; `recordings migrate` both ways, verified.

use base64::Engine;
use object_store::multipart::MultipartStore;
use object_store::{ObjectStore, ObjectStoreExt};
use reqwest::Method;
use sha2::{Digest, Sha256};
use vitrine_blob::testing::TestS3;
use vitrine_blob::{
    BlobStore, LocalBlobStore, MIN_PART_SIZE, S3BlobStore, UploadKey, UploadStates,
};
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::{RecordingId, SubmissionId};
use vitrine_jobs::migrate::{MigrationSummary, migrate_recordings};
use vitrine_jobs::upload_states::{DatabaseUploadStates, bind_to_database};
use vitrine_server::{Clock, ServerConfig};

use crate::support::Client;
use crate::uploads::{
    MIB, TUS, create, draft_submission, files_under, head, offset_of, patch, sha256_hex, video,
};
use crate::world::World;

fn on_bucket(bucket: &S3BlobStore) -> impl Fn() -> ServerConfig + use<> {
    let bucket = bucket.clone();
    move || ServerConfig {
        recording_store: Some(BlobStore::from(bucket.clone())),
        ..ServerConfig::default()
    }
}

/// Every object in the bucket under `prefix`.
async fn objects(bucket: &S3BlobStore, prefix: &str) -> Vec<String> {
    let prefix = object_store::path::Path::from(prefix);
    let mut listing = bucket.object_store().list(Some(&prefix));
    let mut names = Vec::new();
    while let Some(meta) = futures_util::StreamExt::next(&mut listing).await {
        names.push(meta.expect("listing").location.to_string());
    }
    names
}

fn recording_id(url: &str) -> RecordingId {
    url.rsplit('/').next().expect("id").parse().expect("uuid")
}

#[tokio::test]
async fn a_tus_upload_to_the_bucket_resumes_on_another_server_and_serves_ranges() {
    let Some(s3) = TestS3::start_or_skip(
        "a_tus_upload_to_the_bucket_resumes_on_another_server_and_serves_ranges",
    ) else {
        return;
    };
    // Signed payloads, and unsigned ones (the parts a PATCH fills are streamed as they
    // arrive).
    for unsigned_payload in [false, true] {
        let bucket = s3
            .connect_with(&vitrine_blob::S3Settings {
                unsigned_payload,
                ..s3.settings()
            })
            .await;
        resumes_on_another_server(&bucket).await;
    }
}

async fn resumes_on_another_server(bucket: &S3BlobStore) {
    crate::support::each_backend_with(on_bucket(bucket), |app| {
        let bucket = bucket.clone();
        async move {
            let w = World::build(app).await;
            let app = &w.app;
            // A second server on the same database and bucket, with nothing else shared.
            let other_base =
                crate::support::serve(app.store.clone(), app.clock.clone(), on_bucket(&bucket)())
                    .await;
            let token = app.token_for(w.member.id).await;
            let on_a = Client::bearer(&app.base, &token);
            let on_b = Client::bearer(&other_base, &token);
            let submission = draft_submission(app, SubmissionState::Draft).await;
            // Two whole parts and a last short one.
            let bytes = video(2 * MIN_PART_SIZE + 1_234_567);

            let location = create(&on_a, submission, bytes.len())
                .await
                .expect_status(201)
                .header("location")
                .expect("Location")
                .to_owned();
            // 3 MiB chunks, alternating between the servers (each asks the offset first, as a
            // client resuming does): the first leaves a tail below a part, the second crosses
            // the 5 MiB boundary, and so on. The second carries its checksum.
            let mut offset = 0;
            let mut turn = 0;
            let mut recording_url = None;
            while offset < bytes.len() {
                let client = if turn % 2 == 0 { &on_a } else { &on_b };
                assert_eq!(
                    offset_of(&head(client, &location).await.expect_status(200)),
                    offset
                );
                let end = (offset + 3 * MIB).min(bytes.len());
                let chunk = &bytes[offset..end];
                let resp = if turn == 1 {
                    let digest =
                        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(chunk));
                    client
                        .send(
                            client
                                .request(Method::PATCH, &location)
                                .header(TUS.0, TUS.1)
                                .header("Upload-Offset", offset.to_string())
                                .header("Upload-Checksum", format!("sha256 {digest}"))
                                .header("Content-Type", "application/offset+octet-stream")
                                .body(chunk.to_vec()),
                        )
                        .await
                } else {
                    patch(client, &location, offset, chunk).await
                }
                .expect_status(204);
                offset = offset_of(&resp);
                assert_eq!(offset, end);
                recording_url = resp.header("vitrine-recording").map(str::to_owned);
                turn += 1;
            }
            let recording_url = recording_url.expect("the last chunk names the recording");
            head(&on_a, &location).await.expect_status(404);
            head(&on_b, &location).await.expect_status(404);

            let recording = app
                .store
                .recording(recording_id(&recording_url))
                .await
                .expect("read")
                .expect("recording row");
            assert_eq!(recording.sha256, sha256_hex(&bytes));
            assert_eq!(recording.size, bytes.len() as u64);
            assert_eq!(recording.media_type, "video/mp4");
            assert!(
                recording.duration_seconds.is_some_and(|d| d > 0.0),
                "{recording:?}"
            );
            // The bytes are in the bucket, none on the servers' disk; nothing of the upload
            // is left over.
            assert!(
                objects(&bucket, "recordings")
                    .await
                    .contains(&format!("recordings/{}", recording.id))
            );
            assert_eq!(
                objects(&bucket, &format!("uploads/{}", recording.id)).await,
                Vec::<String>::new()
            );
            assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());

            // Served whole and by range, through either server, to the provider only.
            let whole = w.owner.client.get(&recording_url).await.expect_status(200);
            assert_eq!(sha256_hex(&whole.body), recording.sha256);
            let ranged = on_b
                .send(
                    on_b.request(Method::GET, &recording_url)
                        .header("Range", "bytes=5242000-5243999"),
                )
                .await
                .expect_status(206);
            assert_eq!(ranged.body, &bytes[5_242_000..5_244_000]);
            assert_eq!(
                ranged.header("content-range"),
                Some(format!("bytes 5242000-5243999/{}", bytes.len()).as_str())
            );
            let tail = on_a
                .send(
                    on_a.request(Method::GET, &recording_url)
                        .header("Range", "bytes=-100"),
                )
                .await
                .expect_status(206);
            assert_eq!(tail.body, &bytes[bytes.len() - 100..]);
            w.customer
                .client
                .get(&recording_url)
                .await
                .problem(404, "not-found");
        }
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_upload_in_the_bucket_is_aborted_by_the_sweep() {
    let Some(s3) =
        TestS3::start_or_skip("an_abandoned_upload_in_the_bucket_is_aborted_by_the_sweep")
    else {
        return;
    };
    let bucket = s3.connect().await;
    crate::support::each_backend_with(on_bucket(&bucket), |app| {
        let bucket = bucket.clone();
        async move {
            let w = World::build(app).await;
            let app = &w.app;
            let provider = &w.owner.client;
            let submission = draft_submission(app, SubmissionState::Draft).await;
            let bytes = video(3 * MIN_PART_SIZE);
            let location = create(provider, submission, bytes.len())
                .await
                .expect_status(201)
                .header("location")
                .expect("Location")
                .to_owned();
            // One whole part and a tail.
            patch(provider, &location, 0, &bytes[..MIN_PART_SIZE + 1000])
                .await
                .expect_status(204);
            let upload_id = location.rsplit('/').next().expect("id").to_owned();
            // Where it stands is in the database, not in the bucket.
            let states = DatabaseUploadStates::new(app.store.clone());
            let key = UploadKey::new(upload_id.as_str()).expect("key");
            let state: serde_json::Value = serde_json::from_str(
                &states
                    .load(&key)
                    .await
                    .expect("the upload's state")
                    .expect("a saved state"),
            )
            .expect("json");
            let multipart_id = state["multipart_id"].as_str().expect("id").to_owned();
            assert_eq!(
                objects(&bucket, &format!("uploads/{upload_id}")).await,
                vec![format!("uploads/{upload_id}/tail-{}", MIN_PART_SIZE + 1000)]
            );
            let blobs = bind_to_database(&BlobStore::from(bucket.clone()), app.store.clone());

            let now = app.clock.now();
            assert_eq!(
                vitrine_server::sweep_expired_uploads(app.store.as_ref(), &blobs, now)
                    .await
                    .expect("sweep"),
                0
            );
            app.clock.advance(jiff::SignedDuration::from_hours(25));
            let now = app.clock.now();
            assert_eq!(
                vitrine_server::sweep_expired_uploads(app.store.as_ref(), &blobs, now)
                    .await
                    .expect("sweep"),
                1
            );
            assert_eq!(
                objects(&bucket, &format!("uploads/{upload_id}")).await,
                Vec::<String>::new()
            );
            assert_eq!(states.load(&key).await.expect("read"), None);
            // S3 no longer knows the multipart upload: it takes no more parts.
            let late = bucket
                .object_store()
                .put_part(
                    &format!("recordings/{upload_id}").into(),
                    &multipart_id,
                    3,
                    object_store::PutPayload::from_static(b"late"),
                )
                .await;
            assert!(
                late.is_err(),
                "the abandoned multipart upload was not aborted"
            );
            assert_eq!(
                app.store
                    .upload(upload_id.parse().expect("uuid"))
                    .await
                    .expect("read"),
                None
            );
        }
    })
    .await;
}

async fn put_recording(w: &World, submission: SubmissionId, bytes: Vec<u8>) -> RecordingId {
    let put = w
        .member
        .client
        .raw(
            Method::PUT,
            &format!("/api/v1/submissions/{submission}/recordings?filename=demo.mp4"),
            "video/mp4",
            bytes,
        )
        .await
        .expect_status(201);
    recording_id(put.header("location").expect("Location"))
}

#[tokio::test]
async fn recordings_migrate_to_the_bucket_and_back_verified() {
    let Some(s3) = TestS3::start_or_skip("recordings_migrate_to_the_bucket_and_back_verified")
    else {
        return;
    };
    let bucket = s3.connect().await;
    crate::support::each_backend(|app| {
        let bucket = bucket.clone();
        async move {
            let w = World::build(app).await;
            let app = &w.app;
            let small = video(300_000);
            let large = video(MIN_PART_SIZE + 777);
            let submission = draft_submission(app, SubmissionState::Draft).await;
            let ids = [
                put_recording(&w, submission, small.clone()).await,
                put_recording(&w, submission, large.clone()).await,
            ];
            let local = BlobStore::from(LocalBlobStore::open(&app.blob_dir).expect("local store"));
            let remote = BlobStore::from(bucket.clone());
            let store = app.store.as_ref();

            let mut lines = Vec::new();
            let summary = migrate_recordings(store, &local, &remote, |progress| {
                lines.push(format!("{}/{}", progress.index, progress.total));
            })
            .await
            .expect("to the bucket");
            assert_eq!(summary.copied, 2, "{summary:?}");
            assert_eq!(summary.bytes_copied, (small.len() + large.len()) as u64);
            assert_eq!(lines, ["1/2", "2/2"]);
            // Run again (as after an interruption): nothing copied twice.
            let again = migrate_recordings(store, &local, &remote, |_| {})
                .await
                .expect("again");
            assert_eq!(
                again,
                MigrationSummary {
                    already_there: 2,
                    ..MigrationSummary::default()
                }
            );

            // A server on the bucket serves them, same bytes.
            let on_bucket_base =
                crate::support::serve(app.store.clone(), app.clock.clone(), on_bucket(&bucket)())
                    .await;
            let token = app.token_for(w.owner.id).await;
            let reader = Client::bearer(&on_bucket_base, &token);
            for (id, bytes) in ids.iter().zip([&small, &large]) {
                let served = reader
                    .get(&format!("/api/v1/recordings/{id}"))
                    .await
                    .expect_status(200);
                assert_eq!(&served.body, bytes);
            }

            // Back to a fresh local directory.
            let fresh = tempfile::tempdir().expect("directory");
            let back = BlobStore::from(LocalBlobStore::open(fresh.path()).expect("local store"));
            let summary = migrate_recordings(store, &remote, &back, |_| {})
                .await
                .expect("back to local disk");
            assert_eq!(summary.copied, 2, "{summary:?}");
            for (id, bytes) in ids.iter().zip([&small, &large]) {
                let file = fresh.path().join("recordings").join(id.to_string());
                assert_eq!(&std::fs::read(&file).expect("copied file"), bytes);
            }

            // A damaged source is caught, and its copy not kept.
            let damaged = app.blob_dir.join("recordings").join(ids[0].to_string());
            let mut altered = small.clone();
            altered[200_000] ^= 0xFF;
            std::fs::write(&damaged, &altered).expect("damage");
            bucket
                .delete_recording(
                    &vitrine_blob::RecordingKey::new(ids[0].to_string()).expect("key"),
                )
                .await
                .expect("delete");
            let refused = migrate_recordings(store, &local, &remote, |_| {}).await;
            let message = refused.expect_err("refused").to_string();
            assert!(message.contains("SHA-256"), "{message}");
            assert!(
                !objects(&bucket, "recordings")
                    .await
                    .contains(&format!("recordings/{}", ids[0]))
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_streamed_put_to_a_bucket_taking_unsigned_payloads_is_one_object() {
    let Some(s3) =
        TestS3::start_or_skip("a_streamed_put_to_a_bucket_taking_unsigned_payloads_is_one_object")
    else {
        return;
    };
    let bucket = s3
        .connect_with(&vitrine_blob::S3Settings {
            unsigned_payload: true,
            ..s3.settings()
        })
        .await;
    crate::support::each_backend_with(on_bucket(&bucket), |app| {
        let bucket = bucket.clone();
        async move {
            let w = World::build(app).await;
            let app = &w.app;
            let submission = draft_submission(app, SubmissionState::Draft).await;
            // Two parts' worth: a multipart upload would have cut it.
            let bytes = video(2 * MIN_PART_SIZE + 999);
            let id = put_recording(&w, submission, bytes.clone()).await;
            let recording = app.store.recording(id).await.expect("read").expect("row");
            assert_eq!(recording.sha256, sha256_hex(&bytes));
            assert_eq!(recording.size, bytes.len() as u64);
            assert!(recording.duration_seconds.is_some_and(|d| d > 0.0));
            // One PutObject: a completed multipart upload's ETag ends in `-<parts>`.
            let meta = bucket
                .object_store()
                .head(&format!("recordings/{id}").into())
                .await
                .expect("the object");
            assert!(
                meta.e_tag.as_deref().is_some_and(|tag| !tag.contains('-')),
                "{meta:?}"
            );
            assert_eq!(objects(&bucket, "uploads").await, Vec::<String>::new());
            assert_eq!(files_under(&app.blob_dir), Vec::<String>::new());
            let served = w
                .member
                .client
                .get(&recording_path(id))
                .await
                .expect_status(200);
            assert!(served.body == bytes, "other bytes served");

            // Not a video: refused, and nothing is left in the bucket (which the backends'
            // runs share).
            let before = objects(&bucket, "recordings").await;
            assert!(before.contains(&format!("recordings/{id}")), "{before:?}");
            let refused = w
                .member
                .client
                .raw(
                    Method::PUT,
                    &format!("/api/v1/submissions/{submission}/recordings?filename=notes.mp4"),
                    "video/mp4",
                    vec![b'x'; 100_000],
                )
                .await;
            assert_eq!(refused.status, 415, "{refused:?}");
            assert_eq!(objects(&bucket, "recordings").await, before);
        }
    })
    .await;
}

fn recording_path(id: RecordingId) -> String {
    format!("/api/v1/recordings/{id}")
}
