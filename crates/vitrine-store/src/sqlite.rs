//! STUB: SQLite implementation of [`crate::Store`].
pub struct SqliteStore;
impl SqliteStore {
    pub async fn connect(_url: &str) -> crate::Result<Self> {
        todo!()
    }
}
