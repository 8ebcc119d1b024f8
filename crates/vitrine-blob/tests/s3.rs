//! The S3 backend against a real S3 server (s3s-fs, which checks signatures): uploads cut
//! into parts across requests and across store instances (as two servers would be), the
//! checksum and duration of the result, ranged reads, the start-up probe's messages, and
//! removal of abandoned uploads.

use std::io;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::multipart::MultipartStore;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use vitrine_blob::testing::TestS3;
use vitrine_blob::{
    AppendRequest, BlobError, BlobStore, MIN_PART_SIZE, RecordingKey, S3BlobStore, S3ConnectError,
    S3Settings, UploadKey, UploadStates,
};

const MAX: u64 = 1 << 30;

/// The moov-at-end MP4 fixture followed by filler in a `free` box... built so its duration is
/// known and it is larger than two parts.
fn video(total: usize) -> Vec<u8> {
    let clip = include_bytes!("fixtures/faststart.mp4");
    let mut bytes = clip.to_vec();
    let skip = u32::try_from(total - clip.len()).expect("fits a box");
    bytes.extend_from_slice(&skip.to_be_bytes());
    bytes.extend_from_slice(b"skip");
    bytes.extend((0..total - bytes.len()).map(|i| (i % 251) as u8));
    bytes
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn body(bytes: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> + use<> {
    // In frames of 64 KiB, as a network delivers them.
    let frames: Vec<_> = bytes
        .chunks(64 * 1024)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    futures_util::stream::iter(frames)
}

async fn append(
    store: &BlobStore,
    key: &UploadKey,
    offset: usize,
    bytes: &[u8],
    total: usize,
) -> u64 {
    let request = AppendRequest {
        expected_offset: offset as u64,
        declared_length: Some(total as u64),
        max_size: MAX,
        checksum: None,
        // As a PATCH says it: with unsigned payloads, the parts it fills are streamed.
        body_length: Some(bytes.len() as u64),
    };
    store
        .append(key, request, body(bytes))
        .await
        .unwrap_or_else(|e| panic!("append at {offset}: {e}"))
        .offset
}

#[tokio::test]
async fn an_upload_is_cut_into_parts_and_resumes_on_another_instance() {
    let Some(s3) =
        TestS3::start_or_skip("an_upload_is_cut_into_parts_and_resumes_on_another_instance")
    else {
        return;
    };
    // Signed payloads (parts cut from what was received) and unsigned ones (parts streamed
    // as they arrive), the same upload.
    for unsigned_payload in [false, true] {
        let settings = S3Settings {
            unsigned_payload,
            ..s3.settings()
        };
        let key = UploadKey::new(format!("upload-unsigned-{unsigned_payload}")).expect("key");
        cut_into_parts_and_resumed(&s3, &settings, &key).await;
    }
}

async fn cut_into_parts_and_resumed(s3: &TestS3, settings: &S3Settings, key: &UploadKey) {
    let first = BlobStore::from(s3.connect_with(settings).await);
    let second = BlobStore::from(s3.connect_with(settings).await);
    let total = 2 * MIN_PART_SIZE + 1_234_567;
    let bytes = video(total);
    let key = key.clone();
    first
        .create_upload(&key, Some(total as u64), MAX)
        .await
        .expect("create");

    // Chunks of 3 MiB alternate between the two instances: each request leaves a tail,
    // some cross a part boundary.
    let chunk = 3 * 1024 * 1024;
    let mut offset = 0;
    let mut turn = 0;
    while offset < total {
        let end = (offset + chunk).min(total);
        let store = if turn % 2 == 0 { &first } else { &second };
        assert_eq!(
            store.upload_offset(&key).await.expect("offset"),
            offset as u64
        );
        offset = append(store, &key, offset, &bytes[offset..end], total).await as usize;
        assert_eq!(offset, end);
        turn += 1;
    }
    let recording = RecordingKey::new(key.as_str()).expect("key");
    let info = second.finish(&key, &recording).await.expect("finish");
    let bucket = s3.connect_with(settings).await;
    assert_eq!(info.size, total as u64);
    assert_eq!(info.sha256_hex, hex(&Sha256::digest(&bytes)));
    assert_eq!(info.media_type.mime(), "video/mp4");
    assert!(info.duration_seconds.is_some_and(|d| d > 0.0), "{info:?}");
    assert!(matches!(
        first.upload_offset(&key).await,
        Err(BlobError::UploadNotFound { .. })
    ));

    // Read back whole and by range, from the other instance.
    let reader = first.open_recording(&recording).await.expect("open");
    assert_eq!(reader.size(), total as u64);
    let mut read = Vec::new();
    let mut stream = reader
        .into_stream(1000, 6 * 1024 * 1024)
        .await
        .expect("range");
    while let Some(chunk) = stream.next().await {
        read.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(read, &bytes[1000..1000 + 6 * 1024 * 1024]);
    // Recomputed by reading (recovery, migration): the same.
    assert_eq!(first.recording_info(&recording).await.expect("info"), info);
    // Nothing of the upload is left in the bucket: its recording, and the one before.
    let left = objects(&bucket).await;
    assert!(
        left.contains(&format!("recordings/{recording}")),
        "{left:?}"
    );
    assert!(
        !left.iter().any(|name| name.starts_with("uploads/")),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_part_being_streamed_when_the_body_breaks_keeps_what_arrived() {
    let Some(s3) =
        TestS3::start_or_skip("a_part_being_streamed_when_the_body_breaks_keeps_what_arrived")
    else {
        return;
    };
    let store = BlobStore::from(
        s3.connect_with(&S3Settings {
            unsigned_payload: true,
            ..s3.settings()
        })
        .await,
    );
    let total = 2 * MIN_PART_SIZE + 4321;
    let bytes = video(total);
    let key = UploadKey::new("broken").expect("key");
    store
        .create_upload(&key, Some(total as u64), MAX)
        .await
        .expect("create");
    // The PATCH says it fills the first part and more, and breaks in its middle.
    let half = MIN_PART_SIZE / 2;
    let broken = body(&bytes[..half]).chain(futures_util::stream::iter([Err(io::Error::other(
        "connection reset",
    ))]));
    let request = AppendRequest {
        expected_offset: 0,
        declared_length: Some(total as u64),
        max_size: MAX,
        checksum: None,
        body_length: Some(MIN_PART_SIZE as u64 + 100),
    };
    let outcome = store.append(&key, request, broken).await;
    assert!(
        matches!(outcome, Err(BlobError::BodyInterrupted { offset, .. }) if offset == half as u64),
        "{outcome:?}"
    );
    assert_eq!(
        store.upload_offset(&key).await.expect("offset"),
        half as u64
    );
    // The rest in one request, which streams both parts; the recording is whole.
    assert_eq!(
        append(&store, &key, half, &bytes[half..], total).await,
        total as u64
    );
    let recording = RecordingKey::new("broken").expect("key");
    let info = store.finish(&key, &recording).await.expect("finish");
    assert_eq!(info.sha256_hex, hex(&Sha256::digest(&bytes)));
    let stored = std::fs::read(s3.bucket_dir().join("recordings/broken")).expect("object");
    assert!(stored == bytes, "the bucket holds other bytes");
}

#[tokio::test]
async fn a_single_request_of_unknown_length_and_refusals() {
    let Some(s3) = TestS3::start_or_skip("a_single_request_of_unknown_length_and_refusals") else {
        return;
    };
    let store = BlobStore::from(s3.connect().await);
    let bytes = video(MIN_PART_SIZE + 10);
    let key = UploadKey::new("single").expect("key");
    let recording = RecordingKey::new("single").expect("key");
    let info = store
        .store_stream(&key, &recording, None, MAX, body(&bytes))
        .await
        .expect("stored");
    assert_eq!(info.sha256_hex, hex(&Sha256::digest(&bytes)));

    // Not a video: refused, nothing left.
    let text = vec![b'x'; 10_000];
    let key = UploadKey::new("text").expect("key");
    let refused = store
        .store_stream(
            &key,
            &RecordingKey::new("text").expect("key"),
            Some(10_000),
            MAX,
            body(&text),
        )
        .await;
    assert!(
        matches!(refused, Err(BlobError::UnsupportedMediaType { .. })),
        "{refused:?}"
    );
    assert!(matches!(
        store.upload_offset(&key).await,
        Err(BlobError::UploadNotFound { .. })
    ));

    // Past the declared length: refused, the offset stays.
    let key = UploadKey::new("too-long").expect("key");
    store
        .create_upload(&key, Some(8000), MAX)
        .await
        .expect("create");
    let request = AppendRequest {
        expected_offset: 0,
        declared_length: Some(8000),
        max_size: MAX,
        checksum: None,
        body_length: None,
    };
    let long = store.append(&key, request, body(&bytes[..9000])).await;
    assert!(
        matches!(long, Err(BlobError::ExceedsDeclaredLength { .. })),
        "{long:?}"
    );
    assert_eq!(store.upload_offset(&key).await.expect("offset"), 0);
    // A wrong offset is a conflict.
    let request = AppendRequest {
        expected_offset: 5,
        ..request
    };
    assert!(matches!(
        store.append(&key, request, body(&bytes[..10])).await,
        Err(BlobError::OffsetMismatch {
            requested: 5,
            stored: 0
        })
    ));
}

/// Every object's name in the bucket, sorted.
async fn objects(store: &S3BlobStore) -> Vec<String> {
    let mut names: Vec<String> = store
        .object_store()
        .list(None)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|meta| meta.expect("listing").location.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_recording_of_known_length_goes_up_in_one_put_when_payloads_may_go_unsigned() {
    let Some(s3) = TestS3::start_or_skip(
        "a_recording_of_known_length_goes_up_in_one_put_when_payloads_may_go_unsigned",
    ) else {
        return;
    };
    let unsigned = s3
        .connect_with(&S3Settings {
            unsigned_payload: true,
            ..s3.settings()
        })
        .await;
    let store = BlobStore::from(unsigned.clone());
    // Larger than two parts, so the multipart path would have cut it.
    let bytes = video(2 * MIN_PART_SIZE + 4321);
    let whole = RecordingKey::new("whole").expect("key");
    let info = store
        .store_stream(
            &UploadKey::new("whole").expect("key"),
            &whole,
            Some(bytes.len() as u64),
            MAX,
            body(&bytes),
        )
        .await
        .expect("stored");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.sha256_hex, hex(&Sha256::digest(&bytes)));
    assert_eq!(info.media_type.mime(), "video/mp4");
    assert!(info.duration_seconds.is_some_and(|d| d > 0.0), "{info:?}");
    assert_eq!(store.recording_info(&whole).await.expect("info"), info);
    let stored = std::fs::read(s3.bucket_dir().join("recordings/whole")).expect("the object");
    assert!(stored == bytes, "the bucket holds other bytes");
    // One PutObject: a completed multipart upload's ETag ends in `-<parts>`.
    let meta = unsigned
        .object_store()
        .head(&"recordings/whole".into())
        .await
        .expect("head");
    let e_tag = meta.e_tag.expect("an ETag");
    assert!(
        !e_tag.contains('-'),
        "stored as a multipart upload: {e_tag}"
    );
    // Signed payloads (or an unknown length) take the multipart path.
    let signed = BlobStore::from(s3.connect().await);
    let parts = RecordingKey::new("parts").expect("key");
    signed
        .store_stream(
            &UploadKey::new("parts").expect("key"),
            &parts,
            Some(bytes.len() as u64),
            MAX,
            body(&bytes),
        )
        .await
        .expect("stored in parts");
    let meta = unsigned
        .object_store()
        .head(&"recordings/parts".into())
        .await
        .expect("head");
    assert!(meta.e_tag.is_some_and(|tag| tag.contains("-3")));
    let expected = vec!["recordings/parts".to_owned(), "recordings/whole".to_owned()];
    assert_eq!(objects(&unsigned).await, expected);

    // The refusals leave nothing behind.
    let refuse = |name: &'static str, declared: u64, max: u64, sent: Vec<u8>| {
        let store = store.clone();
        async move {
            store
                .store_stream(
                    &UploadKey::new(name).expect("key"),
                    &RecordingKey::new(name).expect("key"),
                    Some(declared),
                    max,
                    body(&sent),
                )
                .await
        }
    };
    let text = refuse("text", 10_000, MAX, vec![b'x'; 10_000]).await;
    assert!(
        matches!(text, Err(BlobError::UnsupportedMediaType { .. })),
        "{text:?}"
    );
    let short = refuse("short", bytes.len() as u64 + 1, MAX, bytes.clone()).await;
    assert!(
        matches!(short, Err(BlobError::BodyInterrupted { .. })),
        "{short:?}"
    );
    let long = refuse("long", bytes.len() as u64 - 1, MAX, bytes.clone()).await;
    assert!(
        matches!(long, Err(BlobError::ExceedsDeclaredLength { .. })),
        "{long:?}"
    );
    let large = refuse("large", bytes.len() as u64, 1000, bytes.clone()).await;
    assert!(
        matches!(large, Err(BlobError::TooLarge { max_size: 1000 })),
        "{large:?}"
    );
    // A body cut off by the client.
    let half = bytes.len() / 2;
    let frames = body(&bytes[..half]).chain(futures_util::stream::iter([Err(io::Error::other(
        "the client went away",
    ))]));
    let cut = store
        .store_stream(
            &UploadKey::new("cut").expect("key"),
            &RecordingKey::new("cut").expect("key"),
            Some(bytes.len() as u64),
            MAX,
            frames,
        )
        .await;
    assert!(
        matches!(cut, Err(BlobError::BodyInterrupted { .. })),
        "{cut:?}"
    );
    // The same recording twice is refused, the first kept.
    let again = store
        .store_stream(
            &UploadKey::new("again").expect("key"),
            &whole,
            Some(bytes.len() as u64),
            MAX,
            body(&bytes),
        )
        .await;
    assert!(
        matches!(again, Err(BlobError::RecordingExists { .. })),
        "{again:?}"
    );
    assert_eq!(objects(&unsigned).await, expected);
    assert_eq!(store.recording_info(&whole).await.expect("info"), info);
}

#[tokio::test]
async fn terminating_aborts_the_multipart_upload() {
    let Some(s3) = TestS3::start_or_skip("terminating_aborts_the_multipart_upload") else {
        return;
    };
    let s3_store = s3.connect().await;
    let store = BlobStore::from(s3_store.clone());
    let total = 3 * MIN_PART_SIZE;
    let bytes = video(total);
    let key = UploadKey::new("abandoned").expect("key");
    store
        .create_upload(&key, Some(total as u64), MAX)
        .await
        .expect("create");
    append(&store, &key, 0, &bytes[..MIN_PART_SIZE + 100], total).await;
    let state: serde_json::Value = serde_json::from_str(
        &s3.upload_states()
            .load(&key)
            .await
            .expect("state")
            .expect("a saved state"),
    )
    .expect("json");
    let multipart_id = state["multipart_id"].as_str().expect("id").to_owned();

    let stale = store
        .stale_uploads(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .await
        .expect("stale");
    assert_eq!(stale, vec![key.clone()]);
    assert_eq!(
        store.expire(&stale).await.expect("expire"),
        vec![key.clone()]
    );
    // The multipart upload is gone: S3 takes no more parts for it.
    let target = "recordings/abandoned".into();
    let refused = s3_store
        .object_store()
        .put_part(
            &target,
            &multipart_id,
            5,
            Bytes::from_static(b"late").into(),
        )
        .await;
    assert!(
        refused.is_err(),
        "the aborted multipart upload still takes parts"
    );
    let left = s3_store.object_store().list(None).collect::<Vec<_>>().await;
    assert!(left.is_empty(), "{left:?}");

    // Objects under `uploads/` that no state names (a tail a dying server wrote after its
    // upload was removed; the `state.json` of a version that kept states in the bucket)
    // are swept once old enough.
    for name in ["uploads/leftover/state.json", "uploads/leftover/tail-5"] {
        s3_store
            .object_store()
            .put(&name.into(), Bytes::from_static(b"{}").into())
            .await
            .expect("put");
    }
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    assert_eq!(
        store.stale_uploads(an_hour_ago).await.expect("stale"),
        Vec::<UploadKey>::new()
    );
    let leftover = UploadKey::new("leftover").expect("key");
    let stale = store
        .stale_uploads(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .await
        .expect("stale");
    assert_eq!(stale, vec![leftover.clone()]);
    assert_eq!(store.expire(&stale).await.expect("expire"), vec![leftover]);
    assert_eq!(
        store.expire(&stale).await.expect("again"),
        Vec::<UploadKey>::new()
    );
    let left = s3_store.object_store().list(None).collect::<Vec<_>>().await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn the_probe_says_what_is_wrong() {
    let Some(s3) = TestS3::start_or_skip("the_probe_says_what_is_wrong") else {
        return;
    };
    let mut wrong_secret = s3.settings();
    wrong_secret.secret_access_key = "not-the-secret".into();
    let error = S3BlobStore::connect(&wrong_secret)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, S3ConnectError::CredentialsRefused { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(message.contains("secret access key"), "{message}");

    let mut no_bucket = s3.settings();
    no_bucket.bucket = "no-such-bucket".into();
    let error = S3BlobStore::connect(&no_bucket).await.expect_err("refused");
    assert!(
        matches!(error, S3ConnectError::NoSuchBucket { .. }),
        "{error}"
    );

    let mut nobody = s3.settings();
    nobody.endpoint = "http://127.0.0.1:9".into();
    let error = S3BlobStore::connect(&nobody).await.expect_err("refused");
    assert!(
        matches!(error, S3ConnectError::Unreachable { .. }),
        "{error}"
    );
}
