//! Joining and getting back in: sign-up with email confirmation, a new confirmation link,
//! password reset. Emailed links open a page with a button rather than acting on `GET`, so
//! a mail client that previews links cannot use up the token.

use axum::Router;
use axum::extract::Query;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, ApiReply, Call, Form, Page, Web, WebError};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/sign-up", get(sign_up_page).post(sign_up))
        .route("/verify-email", get(verify_page).post(verify))
        .route("/verify-email/resend", post(resend))
        .route("/reset-password", get(reset_page).post(reset))
}

fn without_passwords(form: &Form) -> Form {
    let mut kept = form.clone();
    kept.fields.retain(|(name, _)| !name.contains("password"));
    kept
}

async fn sign_up_page(page: Page) -> Result<Response, WebError> {
    if page.me.is_some() {
        return Ok(page.redirect("/account", None));
    }
    let lang = page.lang.code();
    page.render("sign_up.html", json!({ "default_language": lang }))
}

/// The API's call for a form that emails a link, then the "email sent" page of `kind`
/// (`verify`, `reset`) for the address the API names.
fn emailing(call: Call, kind: &'static str) -> Action {
    call.render("email_sent.html", move |reply| {
        let email = reply.get("email").cloned().unwrap_or(Value::Null);
        json!({ "email": email, "kind": kind })
    })
}

async fn sign_up(page: Page, form: Form) -> Result<Response, WebError> {
    let mut body = form.to_json();
    if let Value::Object(map) = &mut body {
        map.entry("language")
            .or_insert_with(|| json!(page.lang.code()));
    }
    let action = emailing(
        Call::new(Method::POST, "/api/v1/auth/sign-up", body),
        "verify",
    );
    page.submit(action, async |page, reply| {
        let lang = page.lang.code();
        page.refused(
            "sign_up.html",
            json!({ "default_language": lang }),
            &without_passwords(&form),
            &reply,
        )
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn verify_page(page: Page, Query(query): Query<TokenQuery>) -> Result<Response, WebError> {
    page.render("verify_email.html", json!({ "token": query.token }))
}

/// Shows the API's refusal of a form of the email confirmation page.
async fn verify_refused(page: Page, form: &Form, reply: ApiReply) -> Result<Response, WebError> {
    page.refused(
        "verify_email.html",
        json!({ "token": Value::Null }),
        form,
        &reply,
    )
}

async fn verify(page: Page, form: Form) -> Result<Response, WebError> {
    let body = json!({ "token": form.get("token").unwrap_or_default() });
    let action = Call::new(Method::POST, "/api/v1/auth/verify-email", body)
        .credentials_in_body()
        .redirect("/provider", Some("notice.email_verified"));
    page.submit(action, async |page, reply| {
        verify_refused(page, &form, reply).await
    })
    .await
}

async fn resend(page: Page, form: Form) -> Result<Response, WebError> {
    let body = json!({ "email": form.get("email").unwrap_or_default().trim() });
    let action = emailing(
        Call::new(Method::POST, "/api/v1/auth/verify-email/resend", body),
        "verify",
    );
    page.submit(action, async |page, reply| {
        verify_refused(page, &form, reply).await
    })
    .await
}

/// Without a token: ask for a link. With one (from the email): choose the new password.
async fn reset_page(page: Page, Query(query): Query<TokenQuery>) -> Result<Response, WebError> {
    page.render("reset_password.html", json!({ "token": query.token }))
}

async fn reset(page: Page, form: Form) -> Result<Response, WebError> {
    if let Some(token) = form.get("token").filter(|t| !t.is_empty()) {
        let body = json!({
            "token": token,
            "new_password": form.get("new_password").unwrap_or_default(),
        });
        let action = Call::new(Method::POST, "/api/v1/auth/password-reset/confirm", body)
            .credentials_in_body()
            .redirect("/sign-in", Some("notice.password_reset"));
        return page
            .submit(action, async |page, reply| {
                page.refused(
                    "reset_password.html",
                    json!({ "token": token }),
                    &without_passwords(&form),
                    &reply,
                )
            })
            .await;
    }
    let body = json!({ "email": form.get("email").unwrap_or_default().trim() });
    let action = emailing(
        Call::new(Method::POST, "/api/v1/auth/password-reset", body),
        "reset",
    );
    page.submit(action, async |page, reply| {
        page.refused(
            "reset_password.html",
            json!({ "token": Value::Null }),
            &form,
            &reply,
        )
    })
    .await
}
