//! STUB: PostgreSQL implementation of [`crate::Store`].
pub struct PgStore;
impl PgStore {
    pub async fn connect(_url: &str) -> crate::Result<Self> {
        todo!()
    }
}
