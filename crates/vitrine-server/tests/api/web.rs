//! The web pages over HTTP, as a browser without JavaScript sees them: a cookie jar, forms
//! posted as `application/x-www-form-urlencoded`, redirects looked at rather than followed.
//! (The journey in a real browser, with JavaScript, is in the `vitrine` crate's browser
//! tests.) `WebClient` is shared by the other `web_*` test modules.

use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::json;

use vitrine_server::Clock;

use crate::support::{TestApp, each_backend};

/// A browser without JavaScript.
pub struct WebClient {
    http: reqwest::Client,
    base: String,
}

/// A page as received.
pub struct WebPage {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl WebPage {
    /// Where a redirect leads.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        hidden_value(&self.html, "_csrf").expect("the page has a form with a CSRF token")
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.html.contains(text),
            "page ({}) should contain {text:?}:\n{}",
            self.status,
            self.html
        );
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.html.contains(text),
            "page should not contain {text:?}:\n{}",
            self.html
        );
        self
    }
}

/// The value of the first hidden input named `name`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

impl WebClient {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .expect("http client"),
            base: app.base.clone(),
        }
    }

    pub async fn request(&self, builder: reqwest::RequestBuilder) -> WebPage {
        let response = builder.send().await.expect("request sent");
        WebPage {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            html: response.text().await.expect("body"),
        }
    }

    pub fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("accept", "text/html")
    }

    pub async fn get(&self, path: &str) -> WebPage {
        self.request(self.builder(Method::GET, path)).await
    }

    /// Posts a form from this site with the page's CSRF token (fetched from `from`).
    pub async fn post_form(&self, from: &str, action: &str, fields: &[(&str, &str)]) -> WebPage {
        let token = self.get(from).await.csrf();
        let mut body: Vec<(&str, &str)> = vec![("_csrf", &token)];
        body.extend_from_slice(fields);
        let encoded = serde_urlencoded::to_string(&body).expect("form encodes");
        self.request(
            self.builder(Method::POST, action)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", &self.base)
                .header("sec-fetch-site", "same-origin")
                .body(encoded),
        )
        .await
    }

    /// Signs in through the sign-in form.
    pub async fn sign_in(&self, email: &str, password: &str) {
        let page = self
            .post_form(
                "/sign-in",
                "/sign-in",
                &[("email", email), ("password", password), ("_next", "/")],
            )
            .await;
        assert_eq!(page.status, 303, "sign-in should redirect: {}", page.html);
    }
}

/// A user with a password (created by the admin), signed in through the form.
pub async fn signed_in(app: &TestApp, email: &str) -> (WebClient, crate::support::TestUser) {
    let user = app
        .user_with(
            json!({"email": email, "display_name": email, "password": "correct horse battery"}),
        )
        .await;
    let web = WebClient::new(app);
    web.sign_in(email, "correct horse battery").await;
    (web, user)
}

#[tokio::test]
async fn the_catalog_lists_public_offerings_with_search_and_filters() {
    each_backend(|app| async move {
        let app = app;
        let owner = app.user("owner@provider.test").await;
        let provider = app.provider("acme", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "postgres-ha",
            "public",
            &[],
            json!({}),
        )
        .await;
        app.offering(
            &owner.client,
            &provider,
            "redis-cache",
            "public",
            &[],
            json!({"category": "cache", "tags": ["memory"]}),
        )
        .await;
        app.offering(
            &owner.client,
            &provider,
            "secret-thing",
            "private",
            &[],
            json!({}),
        )
        .await;
        let web = WebClient::new(&app);

        let page = web.get("/").await;
        assert_eq!(page.status, 200);
        page.assert_contains("Widget postgres-ha")
            .assert_contains("Widget redis-cache")
            .assert_lacks("secret-thing")
            .assert_contains("2 offerings");
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));

        let page = web.get("/?q=redis").await;
        page.assert_contains("Widget redis-cache")
            .assert_lacks("Widget postgres-ha")
            .assert_contains("1 offering<");
        let page = web.get("/?category=cache").await;
        page.assert_contains("Widget redis-cache")
            .assert_lacks("Widget postgres-ha");
        let page = web.get("/?tag=memory").await;
        page.assert_contains("Widget redis-cache")
            .assert_lacks("Widget postgres-ha");

        let page = web.get("/offerings/redis-cache").await;
        assert_eq!(page.status, 200);
        page.assert_contains("Widget redis-cache")
            .assert_contains("Lite");
        // A private offering is missing for the anonymous visitor, as in the API.
        let missing = web.get("/offerings/secret-thing").await;
        assert_eq!(missing.status, 404);
        missing.assert_contains("does not exist");
    })
    .await;
}

#[tokio::test]
async fn pages_speak_french_when_the_browser_or_the_switch_asks() {
    each_backend(|app| async move {
        let app = app;
        let web = WebClient::new(&app);
        let page = web
            .request(
                web.builder(Method::GET, "/")
                    .header("accept-language", "fr-FR,fr;q=0.9"),
            )
            .await;
        page.assert_contains("<html lang=\"fr\">")
            .assert_contains("Catalogue");

        let page = web.get("/").await;
        page.assert_contains("<html lang=\"en\">");
        let switched = web
            .post_form("/", "/language", &[("lang", "fr"), ("_next", "/sign-in")])
            .await;
        assert_eq!(switched.status, 303);
        assert_eq!(switched.location(), "/sign-in");
        web.get("/sign-in").await.assert_contains("Mot de passe");
        // A refusal says what went wrong in French, then the API's own words, marked English.
        let refused = web
            .post_form(
                "/sign-in",
                "/sign-in",
                &[
                    ("email", "nobody@provider.test"),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        refused
            .assert_contains("La connexion a échoué")
            // The API's reason too, in the reader's language.
            .assert_contains("<p>l’adresse e-mail ou le mot de passe est incorrect</p>");

        // A signed-in user's own setting wins, and the switch changes it (emails follow).
        let (web, user) = signed_in(&app, "bilingual@provider.test").await;
        web.get("/").await.assert_contains("<html lang=\"en\">");
        web.post_form("/", "/language", &[("lang", "fr"), ("_next", "/")])
            .await;
        web.get("/").await.assert_contains("<html lang=\"fr\">");
        let me = user.client.get("/api/v1/me").await.json();
        assert_eq!(me["user"]["language"], "fr");
    })
    .await;
}

#[tokio::test]
async fn sign_in_keeps_the_email_on_refusal_and_signs_in_and_out() {
    each_backend(|app| async move {
        let app = app;
        app.user_with(json!({"email": "pat@provider.test", "display_name": "Pat Doe", "password": "correct horse battery"}))
            .await;
        let web = WebClient::new(&app);
        let refused = web
            .post_form(
                "/sign-in",
                "/sign-in",
                &[("email", "pat@provider.test"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(refused.status, 401);
        refused
            .assert_contains("value=\"pat@provider.test\"")
            .assert_contains("role=\"alert\"")
            .assert_lacks("wrong password!");

        let signed = web
            .post_form(
                "/sign-in?next=/offerings/x",
                "/sign-in",
                &[
                    ("email", "pat@provider.test"),
                    ("password", "correct horse battery"),
                    ("_next", "/offerings/x"),
                ],
            )
            .await;
        assert_eq!(signed.status, 303);
        assert_eq!(signed.location(), "/offerings/x");
        let cookie = signed
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("vitrine_session="))
            .expect("a session cookie")
            .to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        web.get("/").await.assert_contains("Pat Doe").assert_contains("You are signed in.");
        // The notice shows once.
        web.get("/").await.assert_lacks("You are signed in.");

        let out = web.post_form("/", "/sign-out", &[]).await;
        assert_eq!(out.status, 303);
        web.get("/").await.assert_lacks("Pat Doe");

        // `next` cannot lead to another site.
        let page = web
            .post_form(
                "/sign-in",
                "/sign-in",
                &[
                    ("email", "pat@provider.test"),
                    ("password", "correct horse battery"),
                    ("_next", "//evil.example/"),
                ],
            )
            .await;
        assert_eq!(page.location(), "/");
    })
    .await;
}

#[tokio::test]
async fn forms_refuse_a_cross_site_post_and_a_missing_token() {
    each_backend(|app| async move {
        let app = app;
        let (web, user) = signed_in(&app, "victim@provider.test").await;
        let forged = |origin: &str, site: &str, token: Option<&str>| {
            let mut body = vec![("lang", "fr"), ("_next", "/")];
            if let Some(token) = token {
                body.push(("_csrf", token));
            }
            web.builder(Method::POST, "/language")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", origin.to_owned())
                .header("sec-fetch-site", site.to_owned())
                .body(serde_urlencoded::to_string(&body).expect("form"))
        };
        let token = web.get("/").await.csrf();
        for (origin, site, token) in [
            ("https://evil.example", "cross-site", Some(token.as_str())),
            (app.base.as_str(), "same-origin", None),
            (app.base.as_str(), "same-origin", Some("forged-token")),
        ] {
            let page = web.request(forged(origin, site, token)).await;
            assert_eq!(page.status, 403, "{origin} {site} {token:?}");
            page.assert_contains("another site");
        }
        // Nothing changed.
        let me = user.client.get("/api/v1/me").await.json();
        assert_eq!(me["user"]["language"], "en");
    })
    .await;
}

#[tokio::test]
async fn what_users_write_is_shown_as_text() {
    each_backend(|app| async move {
        let app = app;
        let owner = app.user("owner@provider.test").await;
        let provider = app.provider("acme", &owner).await;
        app.offering(
            &owner.client,
            &provider,
            "scripted",
            "public",
            &[],
            json!({"description": {"en": "<script>alert('x')</script> & <b>bold</b>"}}),
        )
        .await;
        let web = WebClient::new(&app);
        for path in ["/", "/offerings/scripted"] {
            let page = web.get(path).await;
            page.assert_lacks("<script>alert")
                .assert_lacks("<b>bold</b>")
                .assert_contains("&lt;script&gt;");
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_get_a_page_in_a_browser_and_a_problem_in_the_api() {
    each_backend(|app| async move {
        let app = app;
        let web = WebClient::new(&app);
        let page = web.get("/no/such/page").await;
        assert_eq!(page.status, 404);
        page.assert_contains("<html")
            .assert_contains("does not exist");
        // In the language the browser asks for.
        let page = web
            .request(
                web.builder(Method::GET, "/no/such/page")
                    .header("accept-language", "fr"),
            )
            .await;
        assert_eq!(page.status, 404);
        page.assert_contains("Cette page n’existe pas");
        let api = app.anonymous().get("/no/such/page").await;
        assert_eq!(api.status, 404);
        assert_eq!(api.json()["type"], "/problems/not-found");
        let api = web.get("/api/v1/nothing").await;
        assert_eq!(api.status, 404);
        assert!(api.html.contains("/problems/not-found"));
    })
    .await;
}

#[tokio::test]
async fn static_files_are_served_with_long_caching() {
    each_backend(|app| async move {
        let app = app;
        let web = WebClient::new(&app);
        let page = web.get("/").await;
        let start = page
            .html
            .find("/static/app.css?v=")
            .expect("stylesheet link");
        let href: String = page.html[start..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        let css = web.get(&href).await;
        assert_eq!(css.status, 200);
        assert!(
            css.headers["content-type"]
                .to_str()
                .expect("type")
                .starts_with("text/css")
        );
        assert!(
            css.headers["cache-control"]
                .to_str()
                .expect("cc")
                .contains("immutable")
        );
        assert_eq!(web.get("/static/nothing.js").await.status, 404);
    })
    .await;
}

/// The links of the emails written since the last call (each email is taken once).
async fn emailed_links(app: &TestApp) -> Vec<String> {
    let lease = std::time::Duration::from_secs(10 * 365 * 24 * 3600);
    let emails = app
        .store
        .claim_outbox(app.clock.now(), lease, 1000)
        .await
        .expect("claim the outbox");
    emails
        .iter()
        .filter_map(|email| {
            let text = email.payload["text"].as_str()?;
            let start = text.find("http://127.0.0.1:8080/")?;
            Some(
                text[start + "http://127.0.0.1:8080".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sign_up_confirm_the_address_and_reset_the_password_in_pages() {
    each_backend(|app| async move {
        let app = app;
        let web = WebClient::new(&app);
        // A refusal keeps what was typed (but never the password) and says why.
        let refused = web
            .post_form(
                "/sign-up",
                "/sign-up",
                &[
                    ("display_name", "Camille Martin"),
                    ("email", "camille@provider.test"),
                    ("password", "short"),
                    ("account_name", "Nuage SAS"),
                    ("language", "fr"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.html);
        refused
            .assert_contains("value=\"Camille Martin\"")
            .assert_contains("value=\"Nuage SAS\"")
            .assert_contains("id=\"f-password-error\"")
            .assert_lacks("value=\"short\"");

        let sent = web
            .post_form(
                "/sign-up",
                "/sign-up",
                &[
                    ("display_name", "Camille Martin"),
                    ("email", "camille@provider.test"),
                    ("password", "a long enough password"),
                    ("account_name", "Nuage SAS"),
                    ("language", "fr"),
                ],
            )
            .await;
        assert_eq!(sent.status, 200, "{}", sent.html);
        sent.assert_contains("camille@provider.test");
        // Not signed in before the address is confirmed.
        let refused = web
            .post_form(
                "/sign-in",
                "/sign-in",
                &[
                    ("email", "camille@provider.test"),
                    ("password", "a long enough password"),
                ],
            )
            .await;
        assert_eq!(refused.status, 403);
        refused.assert_contains("href=\"/verify-email\"");

        let links = emailed_links(&app).await;
        let link = links
            .iter()
            .find(|l| l.starts_with("/verify-email?token="))
            .expect("a confirmation link");
        // Opening the link changes nothing by itself: a button confirms.
        let confirm = web.get(link).await;
        assert_eq!(confirm.status, 200);
        let token = hidden_value(&confirm.html, "token").expect("the token in the form");
        let done = web
            .post_form(link, "/verify-email", &[("token", &token)])
            .await;
        assert_eq!(done.status, 303, "{}", done.html);
        // Signed in, in the language chosen at sign-up.
        let home = web.get("/account").await;
        home.assert_contains("Camille Martin")
            .assert_contains("<html lang=\"fr\">");
        // The link works once.
        let again = web
            .post_form(link, "/verify-email", &[("token", &token)])
            .await;
        assert_eq!(again.status, 410);

        // Password reset through the pages.
        let anonymous = WebClient::new(&app);
        let asked = anonymous
            .post_form(
                "/reset-password",
                "/reset-password",
                &[("email", "camille@provider.test")],
            )
            .await;
        assert_eq!(asked.status, 200);
        let links = emailed_links(&app).await;
        let link = links
            .iter()
            .find(|l| l.starts_with("/reset-password?token="))
            .expect("a reset link");
        let form = anonymous.get(link).await;
        let token = hidden_value(&form.html, "token").expect("token");
        let reset = anonymous
            .post_form(
                link,
                "/reset-password",
                &[("token", &token), ("new_password", "another long password")],
            )
            .await;
        assert_eq!(reset.status, 303, "{}", reset.html);
        assert_eq!(reset.location(), "/sign-in");
        anonymous
            .sign_in("camille@provider.test", "another long password")
            .await;
        // The reset ended the other sessions.
        let ended = web.get("/account").await;
        assert_eq!(ended.status, 303);
    })
    .await;
}

#[tokio::test]
async fn behind_https_every_cookie_the_pages_set_is_secure() {
    let secure = || vitrine_server::ServerConfig {
        secure_cookies: true,
        ..Default::default()
    };
    crate::support::each_backend_with(secure, |app| async move {
        let app = app;
        // Secure cookies are not sent back over plain HTTP, so the test sends them itself.
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        let page = http
            .get(format!("{}/", app.base))
            .send()
            .await
            .expect("page");
        let cookies = |response: &reqwest::Response| -> Vec<String> {
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect()
        };
        let set = cookies(&page);
        let csrf = set
            .iter()
            .find(|c| c.starts_with("vitrine_csrf="))
            .expect("a CSRF cookie");
        assert!(
            csrf.contains("; Secure") && csrf.contains("HttpOnly"),
            "{csrf}"
        );
        let token = csrf["vitrine_csrf=".len()..]
            .split(';')
            .next()
            .expect("value")
            .to_owned();
        let switched = http
            .post(format!("{}/language", app.base))
            .header("cookie", format!("vitrine_csrf={token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("_csrf={token}&lang=fr&_next=%2F"))
            .send()
            .await
            .expect("switch");
        assert_eq!(switched.status(), 303);
        let set = cookies(&switched);
        assert!(!set.is_empty());
        for cookie in set {
            assert!(cookie.contains("; Secure"), "{cookie}");
        }
    })
    .await;
}
