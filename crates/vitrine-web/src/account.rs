//! The signed-in reader's own settings: name, language, time zone, password.

use axum::Router;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Call, Form, Page, Web, WebError};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/account", get(show).post(update_profile))
        .route("/account/password", post(change_password))
}

/// Time zones offered first; any IANA name may be typed.
const COMMON_TIME_ZONES: &[&str] = &[
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Montreal",
    "America/Los_Angeles",
    "Asia/Tokyo",
];

fn context(page: &Page) -> Result<Value, WebError> {
    let me = page.require_me()?;
    Ok(json!({ "profile": me["user"], "time_zones": COMMON_TIME_ZONES }))
}

async fn show(page: Page) -> Result<Response, WebError> {
    let context = context(&page)?;
    page.render("account.html", context)
}

async fn update_profile(page: Page, form: Form) -> Result<Response, WebError> {
    page.require_me()?;
    let action = Call::new(Method::PATCH, "/api/v1/me", form.to_json())
        .redirect("/account", Some("notice.saved"));
    page.submit(action, async |page, reply| {
        let context = context(&page)?;
        page.refused("account.html", context, &form, &reply)
    })
    .await
}

async fn change_password(page: Page, form: Form) -> Result<Response, WebError> {
    page.require_me()?;
    let action = Call::new(Method::PUT, "/api/v1/me/password", form.to_json())
        .redirect("/account", Some("notice.password_changed"));
    page.submit(action, async |page, reply| {
        let context = context(&page)?;
        // Passwords are never sent back into the page.
        let mut kept = form.clone();
        kept.fields.retain(|(name, _)| !name.contains("password"));
        page.refused("account.html", context, &kept, &reply)
    })
    .await
}
