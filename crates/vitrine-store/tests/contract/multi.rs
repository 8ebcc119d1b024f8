//! Several servers on one database: the rehearsal clock's offset is shared and every
//! advance counts, and committed changes are announced to every listener (on SQLite, the
//! process's own writes: the work done outside requests).

use std::time::Duration;

use vitrine_store::{Change, ChangeHandler};

use super::*;

contract! {
    the_test_clock_is_shared_and_every_advance_counts => check_test_clock;
    committed_changes_are_announced_where_the_backend_can => check_change_notices;
}

async fn check_test_clock(store: &dyn Store) {
    assert_eq!(store.test_clock_offset().await.expect("offset"), 0);
    let (first, second) = tokio::join!(
        store.advance_test_clock(5_000_000),
        store.advance_test_clock(7_000_000)
    );
    let (first, second) = (first.expect("advance"), second.expect("advance"));
    assert_eq!(first.max(second), 12_000_000, "both advances counted");
    assert_eq!(store.test_clock_offset().await.expect("offset"), 12_000_000);
    assert_eq!(
        store.advance_test_clock(-1).await.expect("advance"),
        12_000_000,
        "a negative advance moves nothing"
    );
}

async fn check_change_notices(store: &dyn Store) {
    let (sender, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let on_change: ChangeHandler = std::sync::Arc::new(move |change| sender.send(change).is_ok());
    let listening = store.watch_changes(on_change).await.expect("watch");
    assert!(listening);
    let next = async |notices: &mut tokio::sync::mpsc::UnboundedReceiver<Change>| {
        tokio::time::timeout(Duration::from_secs(5), notices.recv())
            .await
            .expect("a notice within 5 s")
            .expect("the listener runs")
    };
    let user = new_user("notice@vitrine.test", false);
    store
        .insert_user(&user, None, &[user_created(&user, None)])
        .await
        .expect("insert");
    assert_eq!(next(&mut notices).await, Change::Write);
    if store.backend() == "sqlite" {
        // Told again once the commit is surely visible.
        assert_eq!(next(&mut notices).await, Change::Write);
        // The rest is PostgreSQL's: SQLite's test clock is one server's, and its notices
        // count every database of the process, so the tests running beside this one
        // would announce changes during a read.
        return;
    }
    store.advance_test_clock(1).await.expect("advance");
    assert_eq!(next(&mut notices).await, Change::Clock);
    // A read announces nothing.
    store.user(user.id).await.expect("read");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), notices.recv())
            .await
            .is_err(),
        "a read announced a change"
    );
}
