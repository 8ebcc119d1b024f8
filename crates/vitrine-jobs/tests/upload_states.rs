//! The S3 upload states' keepers, one contract for all: the database's on SQLite and
//! PostgreSQL (what servers share), and the in-memory one (one process's own work).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use vitrine_blob::{MemoryUploadStates, UploadKey, UploadStates};
use vitrine_jobs::upload_states::DatabaseUploadStates;
use vitrine_store_testing::TestDatabase;

async fn keeps_states(states: &dyn UploadStates, backend: &str) {
    let a = UploadKey::new("0195f3c2-7a7e-7cc1-9a51-1f0f1c2d3e4f").expect("key");
    let b = UploadKey::new("other").expect("key");
    assert_eq!(states.load(&a).await.expect("load"), None, "{backend}");
    let before = SystemTime::now() - Duration::from_secs(1);

    assert!(states.create(&a, r#"{"offset":0}"#).await.expect("create"));
    // A second creation of the same key is refused and changes nothing.
    assert!(
        !states.create(&a, r#"{"offset":99}"#).await.expect("create"),
        "{backend}"
    );
    assert_eq!(
        states.load(&a).await.expect("load").as_deref(),
        Some(r#"{"offset":0}"#),
        "{backend}"
    );
    states.save(&a, r#"{"offset":5}"#).await.expect("save");
    assert_eq!(
        states.load(&a).await.expect("load").as_deref(),
        Some(r#"{"offset":5}"#),
        "{backend}"
    );
    // Saving a key never created is a creation (last writer wins).
    states.save(&b, "{}").await.expect("save");

    let later = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(
        states.saved_before(later).await.expect("stale"),
        vec![a.clone(), b.clone()],
        "{backend}"
    );
    assert_eq!(
        states.saved_before(before).await.expect("stale"),
        Vec::<UploadKey>::new(),
        "{backend}"
    );

    states.remove(&a).await.expect("remove");
    assert_eq!(states.load(&a).await.expect("load"), None, "{backend}");
    // Removing what is not there is not an error.
    states.remove(&a).await.expect("remove again");
    assert_eq!(
        states.saved_before(later).await.expect("stale"),
        vec![b.clone()],
        "{backend}"
    );
    // Removed, the key can be created again.
    assert!(states.create(&a, "{}").await.expect("create"), "{backend}");
}

#[tokio::test]
async fn the_database_keeps_upload_states_on_every_backend() {
    for database in TestDatabase::all().await {
        let store = Arc::from(database.open().await);
        keeps_states(&DatabaseUploadStates::new(store), database.backend).await;
    }
}

#[tokio::test]
async fn memory_keeps_upload_states_alike() {
    keeps_states(&MemoryUploadStates::default(), "memory").await;
}
