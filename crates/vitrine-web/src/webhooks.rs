//! The webhook pages: an account's endpoints (`/accounts/{id}/webhooks`, its owners and
//! admins) and the marketplace's (`/admin/webhooks`, admins): the list, the form that
//! registers one (its secret shown once, on the page that follows), and each endpoint's
//! page (`/webhooks/{id}`) with its delivery log, rotation, turning it on or off, and
//! sending a delivery again. Everything through the API, as the reader.

use axum::Router;
use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Call, Form, Page, Web, WebError, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route(
            "/accounts/{id}/webhooks",
            get(account_list).post(account_create),
        )
        .route(
            "/admin/webhooks",
            get(marketplace_list).post(marketplace_create),
        )
        .route("/webhooks/{id}", get(endpoint).post(update))
        .route("/webhooks/{id}/rotate", post(rotate))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(redeliver),
        )
}

/// The event types offered, in the API's names (labels are translation keys).
const EVENTS: [&str; 7] = [
    "submission.queued",
    "submission.dates_moved",
    "decision.released",
    "offering.published",
    "offering.unpublished",
    "message.posted",
    "check_run.finished",
];

fn api_list(account: Option<&str>) -> String {
    match account {
        Some(id) => format!("/api/v1/accounts/{}/webhooks", urlencode(id)),
        None => "/api/v1/marketplace/webhooks".to_owned(),
    }
}

fn page_path(account: Option<&str>) -> String {
    match account {
        Some(id) => format!("/accounts/{}/webhooks", urlencode(id)),
        None => "/admin/webhooks".to_owned(),
    }
}

async fn list_context(page: &mut Page, account: Option<&str>) -> Result<Value, WebError> {
    let endpoints = page.get(&api_list(account)).await?;
    Ok(json!({
        "account_id": account,
        "action": page_path(account),
        "endpoints": endpoints["items"],
        "events": EVENTS,
    }))
}

async fn list(mut page: Page, account: Option<&str>) -> Result<Response, WebError> {
    let context = list_context(&mut page, account).await?;
    page.render("webhooks.html", context)
}

async fn create(page: Page, account: Option<String>, form: Form) -> Result<Response, WebError> {
    let back = page_path(account.as_deref());
    let action = Call::new(Method::POST, api_list(account.as_deref()), form.to_json()).render(
        "webhook_secret.html",
        move |reply| json!({"endpoint": reply["endpoint"], "secret": reply["secret"], "back": back}),
    );
    page.submit(action, async |mut page, reply| {
        let context = list_context(&mut page, account.as_deref()).await?;
        page.refused("webhooks.html", context, &form, &reply)
    })
    .await
}

async fn account_list(page: Page, Path(id): Path<String>) -> Result<Response, WebError> {
    list(page, Some(&id)).await
}

async fn account_create(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    create(page, Some(id), form).await
}

async fn marketplace_list(page: Page) -> Result<Response, WebError> {
    list(page, None).await
}

async fn marketplace_create(page: Page, form: Form) -> Result<Response, WebError> {
    create(page, None, form).await
}

fn api_endpoint(id: &str) -> String {
    format!("/api/v1/webhooks/{}", urlencode(id))
}

async fn endpoint_context(page: &mut Page, id: &str) -> Result<Value, WebError> {
    let endpoint = page.get(&api_endpoint(id)).await?;
    let deliveries = page
        .get(&format!("{}/deliveries?limit=50", api_endpoint(id)))
        .await?;
    let back = page_path(endpoint["owner"]["account_id"].as_str());
    Ok(json!({
        "endpoint": endpoint,
        "deliveries": deliveries["items"],
        "back": back,
    }))
}

async fn endpoint(mut page: Page, Path(id): Path<String>) -> Result<Response, WebError> {
    let context = endpoint_context(&mut page, &id).await?;
    page.render("webhook.html", context)
}

async fn update(page: Page, Path(id): Path<String>, form: Form) -> Result<Response, WebError> {
    let action = Call::new(Method::PATCH, api_endpoint(&id), form.to_json()).redirect(
        format!("/webhooks/{}", urlencode(&id)),
        Some("notice.saved"),
    );
    page.submit(action, async |mut page, reply| {
        let context = endpoint_context(&mut page, &id).await?;
        page.refused("webhook.html", context, &form, &reply)
    })
    .await
}

async fn rotate(page: Page, Path(id): Path<String>, form: Form) -> Result<Response, WebError> {
    let back = format!("/webhooks/{}", urlencode(&id));
    let action = Call::new(Method::POST, format!("{}/rotate-secret", api_endpoint(&id)), json!({}))
        .render("webhook_secret.html", move |reply| {
            json!({"endpoint": reply["endpoint"], "secret": reply["secret"], "back": back, "rotated": true})
        });
    page.submit(action, async |mut page, reply| {
        let context = endpoint_context(&mut page, &id).await?;
        page.refused("webhook.html", context, &form, &reply)
    })
    .await
}

async fn redeliver(
    page: Page,
    Path((id, delivery)): Path<(String, String)>,
    form: Form,
) -> Result<Response, WebError> {
    let path = format!(
        "{}/deliveries/{}/redeliver",
        api_endpoint(&id),
        urlencode(&delivery)
    );
    let action = Call::new(Method::POST, path, json!({})).redirect(
        format!("/webhooks/{}", urlencode(&id)),
        Some("notice.webhook_redelivered"),
    );
    page.submit(action, async |mut page, reply| {
        let context = endpoint_context(&mut page, &id).await?;
        page.refused("webhook.html", context, &form, &reply)
    })
    .await
}
