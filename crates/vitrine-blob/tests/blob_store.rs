//! The blob store as the tus and streaming endpoints will use it: real files in a
//! temporary directory, bodies as streams of frames.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use vitrine_blob::{
    AppendOutcome, AppendRequest, BlobError, LocalBlobStore, MediaType, RecordingInfo,
    RecordingKey, Sha256Expectation, UploadKey,
};

const MIB: usize = 1024 * 1024;
const MAX_SIZE: u64 = 2 * 1024 * 1024 * 1024;

struct Check {
    _dir: TempDir,
    root: PathBuf,
    store: LocalBlobStore,
}

fn check() -> Check {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("blobs");
    let store = LocalBlobStore::open(&root).expect("the store opens");
    Check {
        _dir: dir,
        root,
        store,
    }
}

impl Check {
    /// Every file under the root (directories left out).
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("a readable directory") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.root, &mut found);
        found.sort();
        found
    }

    fn part_path(&self, key: &UploadKey) -> PathBuf {
        self.root.join("uploads").join(format!("{key}.part"))
    }

    fn part_len(&self, key: &UploadKey) -> u64 {
        std::fs::metadata(self.part_path(key))
            .expect("the upload's file")
            .len()
    }

    async fn append(
        &self,
        key: &UploadKey,
        offset: u64,
        declared_length: Option<u64>,
        bytes: &[u8],
    ) -> Result<AppendOutcome, BlobError> {
        self.store
            .append(
                key,
                request(offset, declared_length),
                frames(bytes, 64 * 1024),
            )
            .await
    }
}

impl Check {
    /// A new upload named `name` for a video of `len` bytes, declared up front.
    async fn start_upload(&self, name: &str, len: usize) -> (UploadKey, Vec<u8>, Option<u64>) {
        let key = upload_key(name);
        let video = padded_video(len);
        let declared = Some(len as u64);
        self.store
            .create_upload(&key, declared, MAX_SIZE)
            .await
            .expect("the upload is created");
        (key, video, declared)
    }
}

fn request(expected_offset: u64, declared_length: Option<u64>) -> AppendRequest {
    AppendRequest {
        expected_offset,
        declared_length,
        max_size: MAX_SIZE,
        checksum: None,
        body_length: None,
    }
}

fn upload_key(name: &str) -> UploadKey {
    UploadKey::new(name).expect("a valid key")
}

fn recording_key(name: &str) -> RecordingKey {
    RecordingKey::new(name).expect("a valid key")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("a fixture under tests/fixtures")
}

/// A request body as the HTTP layer hands it over.
type Body = stream::Iter<std::vec::IntoIter<Result<Bytes, io::Error>>>;

/// `bytes` cut into frames of `frame_len`, as a request body arrives.
fn frames(bytes: &[u8], frame_len: usize) -> Body {
    let frames: Vec<_> = bytes
        .chunks(frame_len)
        .map(|frame| Ok(Bytes::copy_from_slice(frame)))
        .collect();
    stream::iter(frames)
}

/// `bytes` as frames, then a failure, as when the client's connection drops.
fn frames_then_failure(bytes: &[u8]) -> Body {
    let mut items: Vec<_> = bytes
        .chunks(64 * 1024)
        .map(|frame| Ok(Bytes::copy_from_slice(frame)))
        .collect();
    items.push(Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "client went away",
    )));
    stream::iter(items)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn tus_checksum(bytes: &[u8]) -> Sha256Expectation {
    let header = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
    );
    Sha256Expectation::from_tus_header(&header).expect("a well-formed header")
}

/// A real MP4 (2.4 s, `moov` first) grown to `len` bytes with a trailing `free` box, which
/// players skip: a recording of any size with a known duration.
fn padded_video(len: usize) -> Vec<u8> {
    let mut video = fixture("faststart.mp4");
    let free_len = len - video.len();
    video.extend_from_slice(&u32::try_from(free_len).expect("under 4 GiB").to_be_bytes());
    video.extend_from_slice(b"free");
    video.extend((0..free_len - 8).map(|i| (i * 7 + i / 251) as u8));
    video
}

fn assert_close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a duration");
    assert!(
        (actual - expected).abs() < 1e-9,
        "duration {actual}, expected {expected}"
    );
}

#[tokio::test]
async fn resumable_upload_in_chunks_refuses_a_wrong_offset() {
    let check = check();
    let (key, video, declared) = check.start_upload("resumable", 3 * MIB + 123).await;
    assert_eq!(check.store.upload_offset(&key).await.unwrap(), 0);

    // A first chunk shorter than the sniffing window is kept while more is to come.
    let first = check
        .append(&key, 0, declared, &video[..1000])
        .await
        .unwrap();
    assert_eq!(
        first,
        AppendOutcome {
            offset: 1000,
            complete: false,
            media_type: None
        }
    );

    let second = check
        .append(&key, 1000, declared, &video[1000..MIB])
        .await
        .unwrap();
    assert_eq!(
        second,
        AppendOutcome {
            offset: MIB as u64,
            complete: false,
            media_type: Some(MediaType::Mp4)
        }
    );

    // A client that lost track of the offset is told where the upload stands.
    for wrong in [0, 1000, 2 * MIB as u64] {
        let error = check
            .append(&key, wrong, declared, &video[MIB..2 * MIB])
            .await
            .unwrap_err();
        assert!(
            matches!(error, BlobError::OffsetMismatch { requested, stored } if requested == wrong && stored == MIB as u64),
            "{error}"
        );
        assert_eq!(error.http_status(), 409);
    }
    assert_eq!(check.store.upload_offset(&key).await.unwrap(), MIB as u64);
    assert_eq!(check.part_len(&key), MIB as u64);

    let third = check
        .append(&key, MIB as u64, declared, &video[MIB..])
        .await
        .unwrap();
    assert_eq!(
        third,
        AppendOutcome {
            offset: video.len() as u64,
            complete: true,
            media_type: Some(MediaType::Mp4)
        }
    );

    let info = check
        .store
        .finish(&key, &recording_key("rec-1"))
        .await
        .unwrap();
    assert_eq!(
        (info.size, info.sha256_hex.as_str(), info.media_type),
        (
            video.len() as u64,
            sha256_hex(&video).as_str(),
            MediaType::Mp4
        )
    );
    assert_close(info.duration_seconds, 2.4);
    assert_eq!(check.files(), vec![check.root.join("recordings/rec-1")]);
    assert_eq!(
        std::fs::read(check.store.recording_path(&recording_key("rec-1"))).unwrap(),
        video
    );
}

#[tokio::test]
async fn interrupted_upload_keeps_what_arrived_and_resumes_after_a_restart() {
    let check = check();
    let (key, video, declared) = check.start_upload("interrupted", 3 * MIB).await;

    let half = video.len() / 2 + 17;
    let request = request(0, declared);
    let error = check
        .store
        .append(&key, request, frames_then_failure(&video[..half]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BlobError::BodyInterrupted { offset, .. } if offset == half as u64),
        "{error}"
    );
    assert_eq!(check.part_len(&key), half as u64);

    // A new process: no state survives but the files.
    let restarted = LocalBlobStore::open(&check.root).unwrap();
    let offset = restarted.upload_offset(&key).await.unwrap();
    assert_eq!(offset, half as u64);
    let request = AppendRequest {
        expected_offset: offset,
        ..request
    };
    let outcome = restarted
        .append(&key, request, frames(&video[half..], 64 * 1024))
        .await
        .unwrap();
    assert!(outcome.complete);
    let info = restarted
        .finish(&key, &recording_key("resumed"))
        .await
        .unwrap();
    assert_eq!(info.sha256_hex, sha256_hex(&video));
    assert_eq!(info.size, video.len() as u64);
}

#[tokio::test]
async fn checksum_mismatch_leaves_the_offset_unchanged() {
    let check = check();
    let (key, video, declared) = check.start_upload("checksummed", 2 * MIB).await;
    let (first, second) = video.split_at(MIB + 5);
    // Sends `body` at `offset` announcing the sha256 of `announced`.
    let send = |offset: u64, announced: &[u8], body: Body| {
        let request = AppendRequest {
            checksum: Some(tus_checksum(announced)),
            ..request(offset, declared)
        };
        check.store.append(&key, request, body)
    };
    let stored = first.len() as u64;

    let outcome = send(0, first, frames(first, 64 * 1024)).await.unwrap();
    assert_eq!(outcome.offset, stored);

    let mut corrupted = second.to_vec();
    corrupted[1000] ^= 0xFF;
    let error = send(stored, second, frames(&corrupted, 64 * 1024))
        .await
        .unwrap_err();
    assert!(matches!(error, BlobError::ChecksumMismatch), "{error}");
    assert_eq!(error.http_status(), 460);
    assert_eq!(check.part_len(&key), stored);
    assert_eq!(check.store.upload_offset(&key).await.unwrap(), stored);
    assert!(!check.root.join("uploads/checksummed.unverified").exists());

    // A checksummed body cut short cannot be verified: none of it is kept.
    let error = send(stored, second, frames_then_failure(&second[..MIB / 2]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BlobError::BodyInterrupted { offset, .. } if offset == stored),
        "{error}"
    );
    assert_eq!(check.part_len(&key), stored);

    let outcome = send(stored, second, frames(second, 64 * 1024))
        .await
        .unwrap();
    assert!(outcome.complete);
    let info = check
        .store
        .finish(&key, &recording_key("verified"))
        .await
        .unwrap();
    assert_eq!(info.sha256_hex, sha256_hex(&video));
    assert_eq!(
        check.files(),
        vec![check.root.join("recordings/verified")],
        "no marker left"
    );
}

#[tokio::test]
async fn oversized_uploads_are_refused_before_their_bytes_are_kept() {
    let check = check();
    let max_size = 2 * MIB as u64;

    // Declared too large: refused at creation, nothing on disk.
    let key = upload_key("declared-too-large");
    let error = check
        .store
        .create_upload(&key, Some(max_size + 1), max_size)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BlobError::TooLarge { max_size: m } if m == max_size),
        "{error}"
    );
    assert_eq!(error.http_status(), 413);
    assert!(check.files().is_empty());

    // Undeclared length growing past the maximum: the request is refused before a byte
    // past the limit is written, and cut back to where it started.
    let key = upload_key("growing");
    check
        .store
        .create_upload(&key, None, max_size)
        .await
        .unwrap();
    let video = padded_video(3 * MIB);
    let first = 3 * MIB / 2;
    let limited = |offset| AppendRequest {
        max_size,
        ..request(offset, None)
    };
    check
        .store
        .append(&key, limited(0), frames(&video[..first], 64 * 1024))
        .await
        .unwrap();
    let part = check.part_path(&key);
    let watched = stream::iter(
        video[first..]
            .chunks(64 * 1024)
            .map(|frame| frame.to_vec())
            .collect::<Vec<_>>(),
    )
    .map(move |frame| {
        // Asked for more: nothing past the limit may be on disk at any point.
        assert!(std::fs::metadata(&part).unwrap().len() <= max_size);
        Ok::<_, io::Error>(Bytes::from(frame))
    });
    let error = check
        .store
        .append(&key, limited(first as u64), watched)
        .await
        .unwrap_err();
    assert!(matches!(error, BlobError::TooLarge { .. }), "{error}");
    assert_eq!(check.part_len(&key), first as u64);
    assert_eq!(check.store.upload_offset(&key).await.unwrap(), first as u64);

    // More bytes than declared.
    let key = upload_key("past-declared");
    let declared = Some(MIB as u64);
    check
        .store
        .create_upload(&key, declared, max_size)
        .await
        .unwrap();
    let error = check
        .append(&key, 0, declared, &video[..MIB + 1])
        .await
        .unwrap_err();
    assert!(
        matches!(error, BlobError::ExceedsDeclaredLength { declared_length } if declared_length == MIB as u64),
        "{error}"
    );
    assert_eq!(error.http_status(), 413);
    assert_eq!(check.part_len(&key), 0);

    // The single streamed request removes its upload altogether.
    let error = check
        .store
        .store_stream(
            &upload_key("one-go"),
            &recording_key("never"),
            None,
            max_size,
            frames(&video, 64 * 1024),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, BlobError::TooLarge { .. }), "{error}");
    assert!(!check.root.join("uploads/one-go.part").exists());
    assert!(!check.root.join("recordings/never").exists());
}

/// Refused with 415, and not a file left under the root; gives what was detected.
fn assert_refused<T: std::fmt::Debug>(
    check: &Check,
    result: Result<T, BlobError>,
) -> Option<String> {
    let error = result.expect_err("a refusal");
    assert_eq!(error.http_status(), 415, "{error}");
    assert!(check.files().is_empty(), "{:?}", check.files());
    match error {
        BlobError::UnsupportedMediaType { detected } => detected,
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn non_video_is_refused_and_leaves_nothing_behind() {
    let check = check();
    let text: Vec<u8> = b"Not a video, just words. "
        .iter()
        .copied()
        .cycle()
        .take(3 * MIB)
        .collect();
    // In one tus request: refused as soon as the first 4 KiB are in.
    let key = upload_key("text");
    let declared = Some(text.len() as u64);
    check
        .store
        .create_upload(&key, declared, MAX_SIZE)
        .await
        .unwrap();
    assert_eq!(
        assert_refused(&check, check.append(&key, 0, declared, &text).await),
        None
    );
    assert!(matches!(
        check.store.upload_offset(&key).await,
        Err(BlobError::UploadNotFound { .. })
    ));

    // A short first chunk waits for more, then the rest gives it away.
    let key = upload_key("text-in-chunks");
    check
        .store
        .create_upload(&key, declared, MAX_SIZE)
        .await
        .unwrap();
    check.append(&key, 0, declared, &text[..100]).await.unwrap();
    assert_refused(
        &check,
        check.append(&key, 100, declared, &text[100..MIB]).await,
    );

    // A whole file shorter than the sniffing window is judged when complete.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let key = upload_key("png");
    let declared = Some(png.len() as u64);
    check
        .store
        .create_upload(&key, declared, MAX_SIZE)
        .await
        .unwrap();
    let detected = assert_refused(&check, check.append(&key, 0, declared, png).await);
    assert_eq!(detected.as_deref(), Some("image/png"));

    // The streamed request with no declared length is judged at the end.
    let (upload, recording) = (upload_key("short"), recording_key("short"));
    let body = frames(&text[..500], 64);
    assert_refused(
        &check,
        check
            .store
            .store_stream(&upload, &recording, None, MAX_SIZE, body)
            .await,
    );
}

#[tokio::test]
async fn real_recordings_give_size_sha256_media_type_and_duration() {
    let check = check();
    // sha256 as printed by sha256sum when the fixtures were made.
    let expectations = [
        (
            "moov-at-end.mp4",
            MediaType::Mp4,
            Some(2.0),
            "b32faebe38b47b4585e2f1854ad1cd353af37b8443f34b343ad28af0f4ebe9bb",
        ),
        (
            "faststart.mp4",
            MediaType::Mp4,
            Some(2.4),
            "3d7d64940dc8c0f8d8826d64ad00c0d7799acf76c6506633fbd7559ad3fc21e5",
        ),
        (
            "fragmented.mp4",
            MediaType::Mp4,
            None,
            "7fe901bf031d6ec2ad843c7e0bc2e7b212c441bfc38a8e9c8b010ff55f188eee",
        ),
        (
            "clip.mov",
            MediaType::QuickTime,
            Some(3.0),
            "c4902367a453988c032900069584150f73699a386e42bd3363b202c7e737f229",
        ),
        (
            "clip.webm",
            MediaType::WebM,
            Some(1.6),
            "be11a84b1f321315545bab3f2ed764e63b4b94315186418fcc52a6e7613529d4",
        ),
        (
            "clip.mkv",
            MediaType::Matroska,
            Some(4.0),
            "a13d4626ef85165e306166b8653f0c65c74be54277a6c3791b55aa23b8c2e1fb",
        ),
        (
            "live.webm",
            MediaType::WebM,
            None,
            "9248426c3e4ac16617c22ab336bf4be00e359b0fcaf3637a868ff4388aeea075",
        ),
    ];
    for (index, (name, media_type, duration, sha256)) in expectations.into_iter().enumerate() {
        let bytes = fixture(name);
        let recording = recording_key(&format!("fixture-{index}"));
        let info = check
            .store
            .store_stream(
                &upload_key(&format!("up-{index}")),
                &recording,
                None,
                MAX_SIZE,
                frames(&bytes, 100),
            )
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(
            (info.size, info.media_type, info.sha256_hex.as_str()),
            (bytes.len() as u64, media_type, sha256),
            "{name}"
        );
        match duration {
            Some(seconds) => assert_close(info.duration_seconds, seconds),
            None => assert_eq!(info.duration_seconds, None, "{name}"),
        }
        // Read back from disk alone, the same answer.
        assert_eq!(
            check.store.recording_info(&recording).await.unwrap(),
            info,
            "{name}"
        );
    }
}

#[tokio::test]
async fn streamed_upload_of_64_mib() {
    // Frames are shared handles to three buffers, so the test holds 192 KiB, not 64 MiB.
    const TOTAL: usize = 64 * MIB;
    const FRAME: usize = 64 * 1024;
    let first = Bytes::from(padded_video(FRAME));
    let filler: Vec<u8> = (0..FRAME).map(|i| (i % 253) as u8).collect();
    // The rest of the file is one more box that players skip, so it stays well formed.
    let mut second = filler.clone();
    second[..4].copy_from_slice(&u32::try_from(TOTAL - FRAME).unwrap().to_be_bytes());
    second[4..8].copy_from_slice(b"skip");
    let (second, filler) = (Bytes::from(second), Bytes::from(filler));
    let body_frames = move |index: usize| match index {
        0 => first.clone(),
        1 => second.clone(),
        _ => filler.clone(),
    };
    let mut expected = Sha256::new();
    for index in 0..TOTAL / FRAME {
        expected.update(body_frames(index));
    }
    let expected: String = expected
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();

    let check = check();
    let body =
        stream::iter((0..TOTAL / FRAME).map(move |index| Ok::<_, io::Error>(body_frames(index))));
    let info = check
        .store
        .store_stream(
            &upload_key("big"),
            &recording_key("big"),
            Some(TOTAL as u64),
            MAX_SIZE,
            body,
        )
        .await
        .unwrap();
    assert_eq!(info.size, TOTAL as u64);
    assert_eq!(info.sha256_hex, expected);
    assert_close(info.duration_seconds, 2.4);
}

#[tokio::test]
async fn expiry_removes_old_part_files_only() {
    let check = check();
    let video = padded_video(10_000);
    let (old, fresh) = (upload_key("old"), upload_key("fresh"));
    for key in [&old, &fresh] {
        check
            .store
            .create_upload(key, Some(video.len() as u64), MAX_SIZE)
            .await
            .unwrap();
        check
            .append(key, 0, Some(video.len() as u64), &video[..5000])
            .await
            .unwrap();
    }
    // The caller's clock decides; here "old" was last written on the first day of 2000.
    let year_2000 = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800);
    std::fs::File::options()
        .write(true)
        .open(check.part_path(&old))
        .unwrap()
        .set_modified(year_2000)
        .unwrap();

    let cutoff = year_2000 + Duration::from_secs(86_400);
    let stale = check.store.stale_uploads(cutoff).await.unwrap();
    assert_eq!(stale, vec![old.clone()]);
    assert_eq!(check.store.expire(&stale).await.unwrap(), vec![old.clone()]);
    assert!(!check.part_path(&old).exists());
    assert_eq!(check.part_len(&fresh), 5000);
    // Expiring what is already gone is not an error.
    assert_eq!(check.store.expire(&[old]).await.unwrap(), vec![]);
}

#[tokio::test]
async fn one_request_at_a_time_per_upload() {
    let check = check();
    let (key, video, declared) = check.start_upload("busy", MIB).await;

    let (frames_tx, frames_rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(4);
    let (polled_tx, polled_rx) = tokio::sync::oneshot::channel::<()>();
    // Tells the test when the store first asks for a frame: it holds the lock by then.
    let body = stream::unfold(
        (frames_rx, Some(polled_tx)),
        |(mut frames_rx, polled_tx)| async move {
            if let Some(polled_tx) = polled_tx {
                let _ = polled_tx.send(());
            }
            frames_rx
                .recv()
                .await
                .map(|frame| (frame, (frames_rx, None)))
        },
    );
    let store = check.store.clone();
    let writing_key = key.clone();
    let writing =
        tokio::spawn(async move { store.append(&writing_key, request(0, declared), body).await });
    polled_rx.await.unwrap();

    let error = check.append(&key, 0, declared, &video).await.unwrap_err();
    assert!(matches!(error, BlobError::UploadBusy { .. }), "{error}");
    assert_eq!(error.http_status(), 423);
    assert!(matches!(
        check.store.terminate(&key).await,
        Err(BlobError::UploadBusy { .. })
    ));
    assert_eq!(
        check
            .store
            .expire(std::slice::from_ref(&key))
            .await
            .unwrap(),
        vec![]
    );
    assert!(matches!(
        check.store.finish(&key, &recording_key("early")).await,
        Err(BlobError::UploadBusy { .. })
    ));

    frames_tx
        .send(Ok(Bytes::from(video.clone())))
        .await
        .unwrap();
    drop(frames_tx);
    let outcome = writing.await.unwrap().unwrap();
    assert!(outcome.complete);
    check.store.terminate(&key).await.unwrap();
    assert!(check.files().is_empty());
}

#[tokio::test]
async fn recordings_are_served_listed_and_deleted() {
    let check = check();
    let bytes = fixture("clip.webm");
    let recording = recording_key("served");
    let info: RecordingInfo = check
        .store
        .store_stream(
            &upload_key("a"),
            &recording,
            Some(bytes.len() as u64),
            MAX_SIZE,
            frames(&bytes, 64),
        )
        .await
        .unwrap();

    // A second upload cannot take the same recording key, and leaves nothing behind.
    let error = check
        .store
        .store_stream(
            &upload_key("b"),
            &recording,
            None,
            MAX_SIZE,
            frames(&bytes, 64),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, BlobError::RecordingExists { .. }),
        "{error}"
    );
    assert_eq!(check.files(), vec![check.root.join("recordings/served")]);

    let opened = check.store.open_recording(&recording).await.unwrap();
    assert_eq!(opened.size, info.size);
    assert_eq!(
        check.store.recording_keys().await.unwrap(),
        vec![recording.clone()]
    );

    check.store.delete_recording(&recording).await.unwrap();
    assert!(matches!(
        check.store.open_recording(&recording).await,
        Err(BlobError::RecordingNotFound { .. })
    ));
    assert!(matches!(
        check.store.delete_recording(&recording).await,
        Err(BlobError::RecordingNotFound { .. })
    ));
    assert!(check.files().is_empty());
}

#[tokio::test]
async fn a_checksummed_request_dropped_half_way_counts_for_nothing() {
    let check = check();
    let (key, video, declared) = check.start_upload("dropped", 3 * MIB).await;
    let (frames_tx, frames_rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(1);
    let body = stream::unfold(frames_rx, |mut frames_rx| async move {
        frames_rx.recv().await.map(|frame| (frame, frames_rx))
    });
    let store = check.store.clone();
    let writing_key = key.clone();
    let request = AppendRequest {
        checksum: Some(tus_checksum(&video)),
        ..request(0, declared)
    };
    let writing = tokio::spawn(async move { store.append(&writing_key, request, body).await });
    // Two megabytes in: at least one batch has gone to disk. Then the server drops the
    // request (shutdown, or the handler cancelled) before the body is complete.
    for frame in video[..2 * MIB].chunks(64 * 1024) {
        frames_tx
            .send(Ok(Bytes::copy_from_slice(frame)))
            .await
            .unwrap();
    }
    writing.abort();
    assert!(writing.await.unwrap_err().is_cancelled());

    // Whether or not the last write is still finishing, none of it counts.
    assert_eq!(check.store.upload_offset(&key).await.unwrap(), 0);
    let outcome = loop {
        match check.append(&key, 0, declared, &video).await {
            Err(BlobError::UploadBusy { .. }) => tokio::task::yield_now().await,
            other => break other.unwrap(),
        }
    };
    assert!(outcome.complete);
    let info = check
        .store
        .finish(&key, &recording_key("dropped"))
        .await
        .unwrap();
    assert_eq!(info.sha256_hex, sha256_hex(&video));
}
