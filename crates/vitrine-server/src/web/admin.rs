//! admin pages (being built).

use axum::Router;

use super::Web;

pub fn routes() -> Router<Web> {
    Router::new()
}
