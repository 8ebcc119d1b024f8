//! Pages for everyone: the catalog, an offering, sign-in and sign-out, the language switch.

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Call, Form, LANG_COOKIE, Page, Web, WebError, local_path, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(catalog))
        .route("/offerings/{name}", get(offering))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/language", post(language))
}

#[derive(Debug, Default, Deserialize)]
struct CatalogFilters {
    q: Option<String>,
    category: Option<String>,
    tag: Option<String>,
    cursor: Option<String>,
}

/// Results per catalog page.
const CATALOG_PAGE: u32 = 20;

async fn catalog(
    mut page: Page,
    Query(filters): Query<CatalogFilters>,
) -> Result<Response, WebError> {
    let mut query = format!("limit={CATALOG_PAGE}");
    for (name, value) in [
        ("q", &filters.q),
        ("category", &filters.category),
        ("tag", &filters.tag),
        ("cursor", &filters.cursor),
    ] {
        if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            query.push_str(&format!("&{name}={}", urlencode(value)));
        }
    }
    let results = page.get(&format!("/api/v1/catalog?{query}")).await?;
    // The next page keeps the filters.
    let next = results
        .get("next_cursor")
        .and_then(Value::as_str)
        .map(|cursor| {
            let mut link = format!("/?cursor={}", urlencode(cursor));
            for (name, value) in [
                ("q", &filters.q),
                ("category", &filters.category),
                ("tag", &filters.tag),
            ] {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    link.push_str(&format!("&{name}={}", urlencode(value)));
                }
            }
            link
        });
    page.render(
        "catalog.html",
        json!({
            "results": results,
            "filters": {"q": filters.q, "category": filters.category, "tag": filters.tag},
            "next": next,
            "first_page": filters.cursor.is_none(),
        }),
    )
}

async fn offering(mut page: Page, Path(name): Path<String>) -> Result<Response, WebError> {
    let offering = page
        .get(&format!("/api/v1/catalog/{}", urlencode(&name)))
        .await?;
    // Its provider's members and staff may manage it: the management view says so.
    let manageable = if page.me.is_some() {
        page.call(
            Method::GET,
            &format!("/api/v1/offerings/{}", urlencode(&name)),
            None,
        )
        .await?
        .is_success()
    } else {
        false
    };
    page.render(
        "offering.html",
        json!({"offering": offering, "manageable": manageable}),
    )
}

#[derive(Debug, Default, Deserialize)]
struct Next {
    next: Option<String>,
}

async fn sign_in_page(page: Page, Query(next): Query<Next>) -> Result<Response, WebError> {
    if page.me.is_some() {
        let to = next.next.as_deref().unwrap_or("/").to_owned();
        return Ok(page.redirect(&to, None));
    }
    page.render("sign_in.html", json!({"next": next.next}))
}

async fn sign_in(page: Page, form: Form) -> Result<Response, WebError> {
    let body = json!({
        "email": form.get("email").unwrap_or_default().trim(),
        "password": form.get("password").unwrap_or_default(),
    });
    let next = form.get("_next").unwrap_or("/").to_owned();
    // A wrong password (401) is the form's to show.
    let action = Call::new(Method::POST, "/api/v1/auth/sign-in", body)
        .credentials_in_body()
        .redirect(local_path(&next), Some("notice.signed_in"));
    page.submit(action, async |page, reply| {
        // The password is never sent back into the page.
        let mut kept = form.clone();
        kept.fields.retain(|(name, _)| name != "password");
        page.refused("sign_in.html", json!({"next": next}), &kept, &reply)
    })
    .await
}

async fn sign_out(mut page: Page, _form: Form) -> Result<Response, WebError> {
    if page.me.is_some() {
        page.call(Method::POST, "/api/v1/auth/sign-out", None)
            .await?;
    }
    Ok(page.redirect("/", Some("notice.signed_out")))
}

/// Switches the language: for a signed-in reader their setting (emails follow it), for
/// anyone a cookie.
async fn language(mut page: Page, form: Form) -> Result<Response, WebError> {
    let lang = match form.get("lang") {
        Some("fr") => "fr",
        _ => "en",
    };
    if page.me.is_some() {
        page.call(
            Method::PATCH,
            "/api/v1/me",
            Some(&json!({ "language": lang })),
        )
        .await?;
    }
    let next = form.get("_next").unwrap_or("/").to_owned();
    let secure = if page.web.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let mut response = page.redirect(local_path(&next), None);
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={lang}; Path=/; SameSite=Lax; Max-Age=31536000{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
