//! Test support: a real S3 server, `s3s-fs` (the Rust registry's `s3s-fs` 0.14.1, which
//! checks SigV4 signatures), started per test on a loopback port with a bucket of its own.
//!
//! ```no_run
//! # async fn example() {
//! use vitrine_blob::testing::TestS3;
//! let Some(s3) = TestS3::start_or_skip("my_test") else { return };
//! let store = s3.connect().await; // an S3BlobStore on the test bucket
//! # }
//! ```
//!
//! - The binary is `$VITRINE_TEST_S3S_FS`, else `<workspace>/target/tools/s3s-fs/bin/s3s-fs`
//!   (where `.ci/run` installs it), else `s3s-fs` on the `PATH`.
//! - Without it the test says it skipped and gets `None`; with `VITRINE_TEST_REQUIRE_S3=1`
//!   (CI) that is a failure instead.
//! - Dropping the value stops the server and removes its directory.
//!
//! This module panics instead of returning errors: a server that cannot be prepared should
//! stop the test with a clear message.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::s3::{MIN_PART_SIZE, S3BlobStore, S3Settings};
use crate::upload_states::MemoryUploadStates;

/// Set to `1` to make a missing s3s-fs a failure instead of a skip.
pub const REQUIRE_S3_VAR: &str = "VITRINE_TEST_REQUIRE_S3";
/// The s3s-fs binary to run, when it is not in `target/tools` or on the `PATH`.
pub const S3S_FS_VAR: &str = "VITRINE_TEST_S3S_FS";

/// A running s3s-fs with one bucket, `vitrine-test`.
pub struct TestS3 {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
    /// The upload states every store [`TestS3::connect`] gives shares, as servers on one
    /// database do.
    states: MemoryUploadStates,
}

impl TestS3 {
    pub const ACCESS_KEY: &'static str = "vitrine-test-key";
    pub const SECRET_KEY: &'static str = "vitrine-test-secret";
    pub const BUCKET: &'static str = "vitrine-test";

    /// The binary to run, if there is one.
    pub fn binary() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(S3S_FS_VAR) {
            return Some(PathBuf::from(path));
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let installed = workspace.join("target/tools/s3s-fs/bin/s3s-fs");
        if installed.is_file() {
            return Some(installed);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("s3s-fs"))
                .find(|candidate| candidate.is_file())
        })
    }

    /// Starts s3s-fs, or returns `None` after saying the test skipped (a failure with
    /// `VITRINE_TEST_REQUIRE_S3=1`).
    pub fn start_or_skip(test: &str) -> Option<TestS3> {
        let Some(binary) = Self::binary() else {
            let why = "s3s-fs is not installed (cargo install s3s-fs --version 0.14.1 --features \
                       binary --locked --root target/tools/s3s-fs)";
            if std::env::var(REQUIRE_S3_VAR).is_ok_and(|v| v == "1") {
                panic!("{test}: {why}, and {REQUIRE_S3_VAR}=1 requires it");
            }
            eprintln!("{test}: skipped: {why} (set {REQUIRE_S3_VAR}=1 to make this a failure)");
            return None;
        };
        let root = tempfile::tempdir().expect("a temporary directory for s3s-fs");
        std::fs::create_dir(root.path().join(Self::BUCKET)).expect("the test bucket");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free loopback port");
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                Self::ACCESS_KEY,
                "--secret-key",
                Self::SECRET_KEY,
            ])
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start {}: {e}", binary.display()));
        let server = TestS3 {
            child,
            port,
            root,
            states: MemoryUploadStates::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{test}: s3s-fs did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Settings for the test bucket, with the smallest part size S3 allows (so tests cross
    /// part boundaries with little data).
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint(),
            bucket: Self::BUCKET.to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: Self::ACCESS_KEY.to_owned(),
            secret_access_key: Self::SECRET_KEY.to_owned(),
            allow_http: true,
            part_size: MIN_PART_SIZE,
            // Signed, so s3s-fs checks every part's hash against what was sent.
            unsigned_payload: false,
        }
    }

    /// A store on the test bucket (probed, as at a server's start), its upload states
    /// shared with every other store this gives.
    pub async fn connect(&self) -> S3BlobStore {
        self.connect_with(&self.settings()).await
    }

    /// A store on the test bucket with other settings, its upload states shared likewise.
    pub async fn connect_with(&self, settings: &S3Settings) -> S3BlobStore {
        S3BlobStore::connect(settings)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test S3 server: {e}"))
            .with_upload_states(Arc::new(self.states.clone()))
    }

    /// The upload states the stores share.
    pub fn upload_states(&self) -> &MemoryUploadStates {
        &self.states
    }

    /// Where s3s-fs keeps the bucket's files.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(Self::BUCKET)
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
