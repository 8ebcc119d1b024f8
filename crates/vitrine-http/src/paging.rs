//! Paging: page sizes and opaque cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::problem::{ApiError, ApiResult};
use vitrine_domain::{Text, tr};

fn not_a_cursor() -> Text {
    tr!(
        "field.cursor",
        "is not a cursor this server returned",
        "n’est pas un curseur renvoyé par ce serveur"
    )
}

/// Page sizes: 20 unless asked, at most 100.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

pub fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid_field(
            "limit",
            tr!(
                "field.range",
                "must be between 1 and {MAX_LIMIT}",
                "doit être compris entre 1 et {MAX_LIMIT}"
            ),
        )),
    }
}

/// Cursors are opaque to clients: base64url of the position (a name, an id, a sequence
/// number), so that their format can change without breaking anyone.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::invalid_field("cursor", not_a_cursor()))
}

/// Decodes a cursor and parses the position inside it. An empty one (`?cursor=`, a form's
/// blank field) is no cursor: the first page.
pub fn decode_cursor_as<T>(
    cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> ApiResult<Option<T>> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            decode_cursor(c).and_then(|position| {
                parse(&position).ok_or_else(|| ApiError::invalid_field("cursor", not_a_cursor()))
            })
        })
        .transpose()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page (empty: the first page).
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Trims a page fetched with one extra item and gives the cursor of the next page.
pub fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: u32,
    position: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&position(last)))
    } else {
        None
    }
}

/// The cursor of the page after a catalog page, if there is one.
pub fn catalog_next_cursor(page: &vitrine_store::CatalogPage) -> Option<String> {
    page.items
        .last()
        .filter(|_| page.has_more)
        .map(|last| encode_cursor(last.name.as_str()))
}
