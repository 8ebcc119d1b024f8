//! The web interface: server-rendered pages in English and French over the same API the
//! JSON clients use.
//!
//! **One mechanism for every page.** A page handler reads through the API (`Page::get`)
//! and renders a template; a form posts to a page handler, which turns the form into the
//! API call it stands for (`Form::to_json`, see `forms.rs`) and makes that call as the
//! signed-in user. The API is called in process (the axum router, no network), so the
//! pages can never allow what the API refuses, and a page is complete as soon as the API
//! is. A refusal re-renders the form with what was typed and the API's reasons next to the
//! fields; nothing typed is lost.
//!
//! **One way to answer a form.** Every `POST` handler ends in `Page::submit`: it builds
//! an `Action`, a `Call` (method, API path, JSON body) and what follows its success:
//!
//! - `Call::redirect`: a 303 to a fixed path, with a one-time notice (a translation key);
//! - `Call::redirect_by`: a 303 to a path made of the API's reply (the new offering's
//!   page, the report of what the scheduler ran);
//! - `Call::render`: a page made of the reply (the "email sent" pages).
//!
//! `submit` makes the call (`Page::send`: a 401, 403 or 404 becomes the sign-in redirect or
//! the error page, as for a read; with `Call::credentials_in_body`, for sign-in and the
//! emailed tokens, every refusal is the form's) and, on any other refusal, hands the page
//! and the API's reply to the handler's `on_refusal`, an async closure that re-renders the
//! form (`Page::refused`: 422 or the API's 4xx, what was typed, each field's reason) or,
//! where no form can show it, answers with `Page::refusal_page`. A form that makes calls
//! first ("save, then submit") adds them with `Action::after`: each must succeed before
//! the next, and the first refusal goes to the same `on_refusal`. So no handler tests a
//! form's reply itself; only what answers no refusable call (sign-out, the language
//! switch, a signed-in reader on the sign-in page) redirects with `Page::redirect`.
//!
//! Every posted form passes the same-origin and CSRF-token check of [`forms::Form`] (a
//! handler cannot read a form without it). Errors (`WebError`) become pages in the reader's
//! language through one middleware (`render_errors`). Every response carries a strict
//! Content-Security-Policy: no inline script or style, nothing from another host.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::Environment;
use minijinja::value::Kwargs;
use rand::RngCore;
use serde_json::{Value, json};
use tower::ServiceExt;
use vitrine_domain::user::Language;

use vitrine_http::auth::SESSION_COOKIE;
use vitrine_http::cache::{ShortCache, Weigh, WriteGeneration};

mod account;
mod admin;
mod checks;
pub mod forms;
pub mod i18n;
mod provider;
mod public;
mod review;
mod signup;
mod webhooks;

pub use forms::Form;
use i18n::Translations;

/// The files under `web/`, embedded by `build.rs`.
pub(crate) mod files {
    include!(concat!(env!("OUT_DIR"), "/web_files.rs"));
}

/// The double-submit CSRF cookie; forms carry the same value in `_csrf`.
pub const CSRF_COOKIE: &str = "vitrine_csrf";
/// The language an anonymous visitor chose with the switch.
pub const LANG_COOKIE: &str = "vitrine_lang";
/// A one-time notice (a translation key) shown on the next page, after a redirect.
pub const NOTICE_COOKIE: &str = "vitrine_notice";

/// Policy for every page: everything from vitrine itself, nothing inline, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; \
     font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the page handlers share.
#[derive(Clone)]
pub struct Web(Arc<WebInner>);

/// What the pages need to know of the server they are served by.
#[derive(Clone, Debug, Default)]
pub struct WebSettings {
    /// Mark every cookie the pages set `Secure` (served over HTTPS).
    pub secure_cookies: bool,
    /// How long a page kept by [`Page::render_cached`] may be served (the server's cache
    /// time-to-live; zero keeps none).
    pub cache_ttl: std::time::Duration,
    /// The server's write generation: a page kept before a write is never served after it.
    pub generation: Arc<WriteGeneration>,
}

pub struct WebInner {
    settings: WebSettings,
    /// The JSON API, called in process.
    api: Router,
    templates: Environment<'static>,
    /// A digest of the static files, in their URLs, so browsers may keep them for a year.
    asset_version: String,
    /// Pages kept by [`Page::render_cached`].
    pages: ShortCache<PageKey, Html>,
}

/// Who reads which page, as what makes its HTML differ: the reader, their browser (its
/// CSRF token is in every form), the language and the address with its query.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PageKey {
    template: &'static str,
    reader: String,
    csrf: String,
    lang: Language,
    uri: String,
}

/// A rendered page kept by [`Page::render_cached`].
#[derive(Clone)]
struct Html(axum::body::Bytes);

impl Weigh for Html {
    fn weight(&self) -> u64 {
        u64::try_from(self.0.len()).unwrap_or(u64::MAX)
    }
}

impl std::ops::Deref for Web {
    type Target = WebInner;
    fn deref(&self) -> &WebInner {
        &self.0
    }
}

/// The pages' routes, over `api` (the JSON API with its state).
pub fn router(settings: WebSettings, api: Router) -> Result<(Router, Web), String> {
    let translations = Arc::new(Translations::load(files::TRANSLATIONS)?);
    let templates = environment(translations.clone())?;
    let asset_version = {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for (name, content) in files::STATIC_FILES {
            digest.update(name.as_bytes());
            digest.update(content.as_bytes());
        }
        hex_prefix(&digest.finalize())
    };
    // Up to 32 MiB of pages (about 1,500 submission pages).
    let pages = ShortCache::new(
        1024,
        32 << 20,
        settings.cache_ttl,
        settings.generation.clone(),
    );
    let web = Web(Arc::new(WebInner {
        settings,
        api,
        templates,
        asset_version,
        pages,
    }));
    let routes = public::routes()
        .merge(account::routes())
        .merge(signup::routes())
        .merge(provider::routes())
        .merge(checks::routes())
        .merge(review::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
        .route("/static/{*file}", get(static_file))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(web.clone());
    Ok((routes, web))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn environment(translations: Arc<Translations>) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in files::TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| format!("web/templates/{name}: {e}"))?;
    }
    env.add_function(
        "t",
        move |state: &minijinja::State, key: &str, kwargs: Kwargs| {
            let args = kwargs
                .args()
                .map(|name| {
                    kwargs
                        .get::<minijinja::Value>(name)
                        .map(|v| (name.to_owned(), v.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, minijinja::Error>(i18n::fill(translations.get(key, lang_of(state)), &args))
        },
    );
    env.add_filter(
        "localized",
        |state: &minijinja::State, text: minijinja::Value| {
            let pick = |lang: &str| {
                text.get_attr(lang)
                    .ok()
                    .filter(|v| !v.is_undefined() && !v.is_none())
                    .map(|v| v.to_string())
                    .filter(|s| !s.is_empty())
            };
            pick(lang_of(state).code())
                .or_else(|| pick("en"))
                .unwrap_or_default()
        },
    );
    // The start of a long text, cut at a word.
    env.add_filter("excerpt", |text: &str, max: usize| {
        if text.chars().count() <= max {
            return text.to_owned();
        }
        let cut: String = text.chars().take(max).collect();
        let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
        format!("{cut}…")
    });
    env.add_filter("date", |state: &minijinja::State, value: &str| match value
        .get(..10)
        .unwrap_or(value)
        .parse::<jiff::civil::Date>()
    {
        Ok(date) => vitrine_mail::dates::format_date(date, lang_of(state)),
        Err(_) => value.to_owned(),
    });
    env.add_filter("datetime", |state: &minijinja::State, value: &str| {
        let zone = state
            .lookup("time_zone")
            .and_then(|v| v.as_str().map(str::to_owned))
            .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        match value.parse::<jiff::Timestamp>() {
            Ok(at) => vitrine_mail::dates::format_date_time(at, &zone, lang_of(state)),
            Err(_) => value.to_owned(),
        }
    });
    // The value typed in a refused form, else the stored one.
    env.add_function(
        "val",
        |state: &minijinja::State, name: &str, default: Option<minijinja::Value>| {
            state
                .lookup("form")
                .and_then(|form| form.get_attr("values").ok())
                .and_then(|values| values.get_attr(name).ok())
                .filter(|v| !v.is_undefined())
                .or(default)
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| v.to_string())
                .unwrap_or_default()
        },
    );
    // A check's title in the reader's language, by the checker's stable id.
    env.add_function("check_title", |state: &minijinja::State, id: &str| {
        vitrine_osb::check_title(id, lang_of(state).code()).to_owned()
    });
    // The API's reason for refusing a field, if it did.
    env.add_function("err", |state: &minijinja::State, name: &str| {
        state
            .lookup("form")
            .and_then(|form| form.get_attr("errors").ok())
            .and_then(|errors| errors.get_attr(name).ok())
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    });
    Ok(env)
}

fn lang_of(state: &minijinja::State) -> Language {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Language::parse))
        .unwrap_or_default()
}

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a page could not be shown; rendered as a page by [`render_errors`].
#[derive(Debug, Clone)]
pub enum WebError {
    NotFound,
    Forbidden,
    /// Sign in first, then come back to `next`.
    SignIn {
        next: String,
    },
    /// A form from another site, or with a stale token.
    CrossSite,
    FormTooLarge,
    /// The API refused (a problem document) where no form can show it.
    Api {
        status: StatusCode,
        problem: Value,
    },
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden | WebError::CrossSite => StatusCode::FORBIDDEN,
            WebError::SignIn { next } => {
                let to = format!("/sign-in?next={}", urlencode(next));
                return Redirect::to(&to).into_response();
            }
            WebError::FormTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Api { status, .. } => *status,
            WebError::Internal(cause) => {
                tracing::error!(%cause, "a page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

pub fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Renders the page of an error a handler returned, in the reader's language.
pub async fn render_errors(State(web): State<Web>, request: Request, next: Next) -> Response {
    // Every request passes here, API calls included: keep only what the error page's
    // language is read from (header values share the request's bytes; most API calls
    // carry neither header, and then nothing is allocated).
    let language_headers: Vec<(HeaderName, HeaderValue)> = request
        .headers()
        .iter()
        .filter(|(name, _)| *name == header::COOKIE || *name == header::ACCEPT_LANGUAGE)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<WebError>().cloned() else {
        return response;
    };
    let status = response.status();
    let mut headers = HeaderMap::new();
    for (name, value) in language_headers {
        headers.append(name, value);
    }
    web.error_page(&headers, status, &error)
}

impl Web {
    /// The page for an error, in the language the request asks for.
    pub fn error_page(
        &self,
        headers: &HeaderMap,
        status: StatusCode,
        error: &WebError,
    ) -> Response {
        let lang = request_language(headers, None);
        let (title, detail) = match error {
            WebError::NotFound => ("error.not_found", None),
            WebError::Forbidden => ("error.forbidden", None),
            WebError::CrossSite => ("error.cross_site", None),
            WebError::FormTooLarge => ("error.too_large", None),
            WebError::Api { problem, .. } => (
                "error.refused",
                problem
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
            WebError::Internal(_) | WebError::SignIn { .. } => ("error.internal", None),
        };
        let context = json!({
            "lang": lang.code(),
            "asset_version": self.asset_version,
            "title_key": title,
            "detail": detail,
            "status": status.as_u16(),
        });
        match self
            .templates
            .get_template("error.html")
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
        {
            Ok(html) => {
                let mut response = (status, html_headers(), html).into_response();
                add_security_headers(response.headers_mut());
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "the error page failed to render");
                status.into_response()
            }
        }
    }
}

fn html_headers() -> [(HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        ),
    ]
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    add_security_headers(response.headers_mut());
    response
}

fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// The reader's language: their setting, else the switch's cookie, else the browser's
/// `Accept-Language`, else English.
fn request_language(headers: &HeaderMap, me: Option<&Value>) -> Language {
    me.and_then(|me| me.pointer("/user/language"))
        .and_then(Value::as_str)
        .and_then(Language::parse)
        .or_else(|| cookie(headers, LANG_COOKIE).and_then(Language::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(i18n::from_accept_language)
        })
        .unwrap_or_default()
}

async fn static_file(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Result<Response, WebError> {
    let (_, content) = files::STATIC_FILES
        .iter()
        .find(|(name, _)| *name == file)
        .ok_or(WebError::NotFound)?;
    let content_type = match file.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            // URLs carry the files' digest (`?v=`), so a copy never goes stale.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        *content,
    )
        .into_response())
}

/// What the API answered to an in-process call.
#[derive(Debug)]
pub struct ApiReply {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiReply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The status of the page re-rendered after this refusal: the API's when it blames the
    /// request (4xx), 422 otherwise.
    pub fn refusal_status(&self) -> StatusCode {
        if self.status.is_client_error() {
            self.status
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

/// One call to the API that a form stands for: method, API path and JSON body. It becomes
/// an [`Action`] once it says what follows its success ([`Call::redirect`],
/// [`Call::redirect_by`], [`Call::render`]).
pub(crate) struct Call {
    method: Method,
    path: String,
    body: Value,
    /// The body carries the credentials (a password, an emailed token): a 401, 403 or 404
    /// refuses what was typed, not the reader, so it goes to the form too.
    credentials_in_body: bool,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>, body: Value) -> Self {
        Self {
            method,
            path: path.into(),
            body,
            credentials_in_body: false,
        }
    }

    /// Every refusal is the form's to show, 401, 403 and 404 included (sign-in, emailed
    /// tokens); otherwise those become the sign-in redirect and the 403 and 404 pages.
    pub fn credentials_in_body(mut self) -> Self {
        self.credentials_in_body = true;
        self
    }

    /// On success, 303 to `to` (a path of this site) with `notice` for the next page.
    pub fn redirect(self, to: impl Into<String>, notice: Option<&'static str>) -> Action {
        self.then(Success::Redirect {
            to: Target::Path(to.into()),
            notice,
        })
    }

    /// On success, 303 to the path `to` makes of the API's reply body (the new offering's
    /// page, the report of what ran), with `notice`.
    pub fn redirect_by(
        self,
        to: impl FnOnce(&Value) -> String + Send + 'static,
        notice: Option<&'static str>,
    ) -> Action {
        self.then(Success::Redirect {
            to: Target::FromReply(Box::new(to)),
            notice,
        })
    }

    /// On success, `template` rendered with the context `context` makes of the API's reply
    /// body (the "email sent" pages, which have nowhere else to go).
    pub fn render(
        self,
        template: &'static str,
        context: impl FnOnce(&Value) -> Value + Send + 'static,
    ) -> Action {
        self.then(Success::Render {
            template,
            context: Box::new(context),
        })
    }

    fn then(self, success: Success) -> Action {
        Action {
            before: Vec::new(),
            call: self,
            success,
        }
    }
}

/// What a posted form does: its API call (after any calls that must succeed first) and
/// what follows its success. [`Page::submit`] makes it.
pub(crate) struct Action {
    before: Vec<Call>,
    call: Call,
    success: Success,
}

impl Action {
    /// Makes `first` before this action's call ("save, then submit"); a refusal of `first`
    /// stops there and is shown as the action's own would be.
    pub fn after(mut self, first: Call) -> Self {
        self.before.insert(0, first);
        self
    }
}

enum Success {
    Redirect {
        to: Target,
        notice: Option<&'static str>,
    },
    Render {
        template: &'static str,
        context: Box<dyn FnOnce(&Value) -> Value + Send>,
    },
}

enum Target {
    Path(String),
    FromReply(Box<dyn FnOnce(&Value) -> String + Send>),
}

/// A form to fill again after the API refused it: what was typed, and why each field was
/// refused.
#[derive(Debug, Default, serde::Serialize)]
pub struct Refusal {
    pub values: HashMap<String, String>,
    pub errors: HashMap<String, String>,
    /// The API's `detail`, shown above the form.
    pub message: Option<String>,
    /// The problem's slug (`email-not-verified`, …), for pages that offer a way out.
    pub kind: Option<String>,
}

impl Refusal {
    /// From a refused form and the API's problem document: each field error is shown
    /// beside the form's field for it ([`Form::field_for_error`]).
    pub fn of(form: &Form, reply: &ApiReply) -> Self {
        let mut errors = HashMap::new();
        if let Some(list) = reply.body.get("errors").and_then(Value::as_array) {
            for error in list {
                if let (Some(field), Some(message)) = (
                    error.get("field").and_then(Value::as_str),
                    error.get("message").and_then(Value::as_str),
                ) {
                    let form_field = form
                        .field_for_error(field, message)
                        .unwrap_or_else(|| field.to_owned());
                    errors.insert(form_field, message.to_owned());
                }
            }
        }
        Self {
            values: form.values(),
            errors,
            message: reply
                .body
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_owned),
            kind: reply
                .body
                .get("type")
                .and_then(Value::as_str)
                .and_then(|t| t.strip_prefix("/problems/"))
                .map(str::to_owned),
        }
    }
}

/// One request to a page: who is reading, in which language, and the means to call the
/// API as them and to answer.
pub(crate) struct Page {
    pub web: Web,
    pub lang: Language,
    /// `GET /api/v1/me` for a signed-in reader.
    pub me: Option<Value>,
    pub csrf: String,
    new_csrf: bool,
    session: Option<String>,
    /// Path and query of this request (where sign-in and the language switch come back to).
    pub uri: String,
    notice: Option<String>,
    /// Cookies the API set during this request (sign-in, sign-out), passed to the browser.
    set_cookies: Vec<HeaderValue>,
    /// The reader's address, handed on to the API so its abuse limits count the reader.
    client: vitrine_http::limits::ClientAddress,
}

impl FromRequestParts<Web> for Page {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, WebError> {
        let headers = &parts.headers;
        let session = cookie(headers, SESSION_COOKIE).map(str::to_owned);
        let (csrf, new_csrf) = match cookie(headers, CSRF_COOKIE) {
            Some(token) => (token.to_owned(), false),
            None => (random_token(), true),
        };
        let notice = cookie(headers, NOTICE_COOKIE)
            .filter(|key| {
                key.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
            })
            .map(str::to_owned);
        let mut page = Page {
            web: web.clone(),
            lang: Language::En,
            me: None,
            csrf,
            new_csrf,
            session,
            uri: parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned()),
            notice,
            set_cookies: Vec::new(),
            client: parts
                .extensions
                .get::<vitrine_http::limits::ClientAddress>()
                .copied()
                .unwrap_or_default(),
        };
        if page.session.is_some() {
            let reply = page.call(Method::GET, "/api/v1/me", None).await?;
            if reply.is_success() {
                page.me = Some(reply.body);
            }
        }
        page.lang = request_language(headers, page.me.as_ref());
        Ok(page)
    }
}

impl Page {
    /// Calls the API in process as this reader.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiReply, WebError> {
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json")
            // The API's refusals come back in the reader's language.
            .header(header::ACCEPT_LANGUAGE, self.lang.code());
        if let Some(session) = &self.session {
            request = request.header(header::COOKIE, format!("{SESSION_COOKIE}={session}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                axum::body::Body::from(
                    serde_json::to_vec(json).map_err(|e| WebError::Internal(e.to_string()))?,
                )
            }
            None => axum::body::Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| WebError::Internal(format!("building an API request: {e}")))?;
        request.extensions_mut().insert(self.client);
        let response = self
            .web
            .api
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| WebError::Internal(format!("calling the API: {e}")))?;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 << 20)
            .await
            .map_err(|e| WebError::Internal(format!("reading an API answer: {e}")))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        for cookie in parts.headers.get_all(header::SET_COOKIE) {
            self.set_cookies.push(cookie.clone());
            // A new session (sign-in) is used by the rest of this request too.
            if let Some(secret) = cookie
                .to_str()
                .ok()
                .and_then(|c| c.strip_prefix(&format!("{SESSION_COOKIE}=")))
                .and_then(|rest| rest.split(';').next())
            {
                self.session = (!secret.is_empty()).then(|| secret.to_owned());
            }
        }
        Ok(ApiReply {
            status: parts.status,
            body,
        })
    }

    /// Reads from the API; a refusal becomes the matching error page (sign-in, 403, 404).
    pub async fn get(&mut self, path: &str) -> Result<Value, WebError> {
        let reply = self.call(Method::GET, path, None).await?;
        self.expect_success(reply).map(|r| r.body)
    }

    /// Sends to the API; `Ok` holds the reply whether it succeeded or was refused with a
    /// problem the form can show (400, 409, 422). Sign-in, 403 and 404 become pages. Forms
    /// send through [`Page::submit`].
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<ApiReply, WebError> {
        let reply = self.call(method, path, Some(body)).await?;
        match reply.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                self.expect_success(reply)
            }
            _ => Ok(reply),
        }
    }

    /// Makes the form's `action` as this reader: on success what the action says follows
    /// (a redirect with its notice, or a page); on a refusal the form can show (or any
    /// refusal, for [`Call::credentials_in_body`]) `on_refusal`, which re-renders the form
    /// (usually with [`Page::refused`]) or answers with [`Page::refusal_page`]. A refusal of
    /// a call made first ([`Action::after`]) goes to `on_refusal` too.
    pub async fn submit(
        mut self,
        action: Action,
        on_refusal: impl AsyncFnOnce(Page, ApiReply) -> Result<Response, WebError>,
    ) -> Result<Response, WebError> {
        let Action {
            before,
            call,
            success,
        } = action;
        for first in before {
            let reply = self.make(first).await?;
            if !reply.is_success() {
                return on_refusal(self, reply).await;
            }
        }
        let reply = self.make(call).await?;
        if !reply.is_success() {
            return on_refusal(self, reply).await;
        }
        match success {
            Success::Redirect { to, notice } => {
                let to = match to {
                    Target::Path(path) => path,
                    Target::FromReply(to) => to(&reply.body),
                };
                Ok(self.redirect(&to, notice))
            }
            Success::Render { template, context } => {
                let context = context(&reply.body);
                self.render(template, context)
            }
        }
    }

    async fn make(&mut self, call: Call) -> Result<ApiReply, WebError> {
        if call.credentials_in_body {
            self.call(call.method, &call.path, Some(&call.body)).await
        } else {
            self.send(call.method, &call.path, &call.body).await
        }
    }

    /// For a refusal no form shows: the error page it stands for (sign-in, 403, 404, or the
    /// API's problem with its status).
    pub async fn refusal_page(self, reply: ApiReply) -> Result<Response, WebError> {
        Err(self.error_of(reply))
    }

    fn expect_success(&self, reply: ApiReply) -> Result<ApiReply, WebError> {
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(self.error_of(reply))
        }
    }

    fn error_of(&self, reply: ApiReply) -> WebError {
        match reply.status {
            StatusCode::UNAUTHORIZED => WebError::SignIn {
                next: self.uri.clone(),
            },
            StatusCode::FORBIDDEN => WebError::Forbidden,
            StatusCode::NOT_FOUND => WebError::NotFound,
            status => WebError::Api {
                status,
                problem: reply.body,
            },
        }
    }

    /// The signed-in reader, or a redirect to sign-in.
    pub fn require_me(&self) -> Result<&Value, WebError> {
        self.me.as_ref().ok_or_else(|| WebError::SignIn {
            next: self.uri.clone(),
        })
    }

    pub fn is_staff(&self, role: &str) -> bool {
        self.me
            .as_ref()
            .and_then(|me| me.pointer(&format!("/user/staff/{role}")))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Renders `template` with `context` plus what every page has (reader, language, CSRF
    /// token, navigation).
    pub fn render(self, template: &str, context: Value) -> Result<Response, WebError> {
        self.render_with_status(StatusCode::OK, template, context)
    }

    /// As [`Page::render`], with another status (422 for a refused form).
    pub fn render_with_status(
        self,
        status: StatusCode,
        template: &str,
        context: Value,
    ) -> Result<Response, WebError> {
        let html = self.render_html(template, context)?;
        let mut response = (status, html_headers(), html).into_response();
        self.finish(&mut response);
        Ok(response)
    }

    /// As [`Page::render`], for a page read far more often than what it shows changes (the
    /// submission page, which its validator keeps open and reloads): its HTML is kept per
    /// reader, browser, language and address under the caches' rule (never served after a
    /// write, at most the time-to-live; see `vitrine_http::cache`), and `context` is read
    /// only when it is not kept. A page with a one-time notice, for a browser given its
    /// first CSRF token, or for no one signed in is neither served from nor kept in it.
    pub async fn render_cached(
        mut self,
        template: &'static str,
        context: impl AsyncFnOnce(&mut Page) -> Result<Value, WebError>,
    ) -> Result<Response, WebError> {
        let Some(key) = self.cache_key(template) else {
            let context = context(&mut self).await?;
            return self.render(template, context);
        };
        let web = self.web.clone();
        let html = web
            .pages
            .get_or_compute(key, || async {
                let context = context(&mut self).await?;
                let html = self.render_html(template, context)?;
                Ok::<_, WebError>(Html(html.into()))
            })
            .await?;
        let mut response = (
            StatusCode::OK,
            html_headers(),
            axum::body::Body::from(html.0),
        )
            .into_response();
        self.finish(&mut response);
        Ok(response)
    }

    fn cache_key(&self, template: &'static str) -> Option<PageKey> {
        if self.new_csrf || self.notice.is_some() {
            return None;
        }
        let reader = self.me.as_ref()?.pointer("/user/id")?.as_str()?;
        Some(PageKey {
            template,
            reader: reader.to_owned(),
            csrf: self.csrf.clone(),
            lang: self.lang,
            uri: self.uri.clone(),
        })
    }

    /// `template` rendered with `context` plus what every page has.
    fn render_html(&self, template: &str, mut context: Value) -> Result<String, WebError> {
        let time_zone = self
            .me
            .as_ref()
            .and_then(|me| me.pointer("/user/time_zone"))
            .cloned()
            .unwrap_or(Value::Null);
        let is_provider = self
            .me
            .as_ref()
            .and_then(|me| me.get("memberships"))
            .and_then(Value::as_array)
            .is_some_and(|m| !m.is_empty());
        let common = json!({
            "lang": self.lang.code(),
            "me": self.me,
            "csrf": self.csrf,
            "uri": self.uri,
            "time_zone": time_zone,
            "is_admin": self.is_staff("admin"),
            "is_validator": self.is_staff("validator"),
            "is_member": is_provider,
            "notice": self.notice,
            "asset_version": self.web.asset_version,
        });
        if let (Value::Object(target), Value::Object(common)) = (&mut context, common) {
            for (key, value) in common {
                target.entry(key).or_insert(value);
            }
        }
        self.web
            .templates
            .get_template(template)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
            .map_err(|e| {
                let kind = e.kind();
                WebError::Internal(format!("rendering {template}: {e:#} ({kind:?})"))
            })
    }

    /// Re-renders `template` after the API refused `form`, with 422 (or the API's status).
    pub fn refused(
        self,
        template: &str,
        mut context: Value,
        form: &Form,
        reply: &ApiReply,
    ) -> Result<Response, WebError> {
        let refusal = Refusal::of(form, reply);
        if let Value::Object(map) = &mut context {
            map.insert(
                "form".to_owned(),
                serde_json::to_value(&refusal).map_err(|e| WebError::Internal(e.to_string()))?,
            );
        }
        self.render_with_status(reply.refusal_status(), template, context)
    }

    /// 303 to `to` (a path of this site), with a notice (a translation key) for the next
    /// page.
    pub fn redirect(self, to: &str, notice: Option<&str>) -> Response {
        let mut response = Redirect::to(local_path(to)).into_response();
        let secure = if self.web.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        if let Some(notice) = notice
            && let Ok(value) = HeaderValue::from_str(&format!(
                "{NOTICE_COOKIE}={notice}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60{secure}"
            ))
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        self.finish(&mut response);
        response
    }

    fn finish(self, response: &mut Response) {
        let secure = if self.web.settings.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let headers = response.headers_mut();
        for cookie in self.set_cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        if self.new_csrf
            && let Ok(value) = HeaderValue::from_str(&format!(
                "{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
                self.csrf
            ))
        {
            headers.append(header::SET_COOKIE, value);
        }
        // The notice was shown on this page (or is being set by a redirect above).
        if self.notice.is_some()
            && !headers
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|c| c.as_bytes().starts_with(NOTICE_COOKIE.as_bytes()))
            && let Ok(value) = HeaderValue::from_str(&format!(
                "{NOTICE_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
            ))
        {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// A `datetime-local` value (`2026-04-01T09:30`, the reader's wall clock) as the instant it
/// is in `time_zone`; anything else as typed, for the API to refuse with the field named.
pub fn local_instant(typed: &str, time_zone: &str) -> String {
    let typed = typed.trim();
    typed
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|wall| {
            let zone = jiff::tz::TimeZone::get(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
            zone.to_timestamp(wall).ok()
        })
        .map_or_else(|| typed.to_owned(), |at| at.to_string())
}

/// `to` if it is a path of this site; `/` otherwise (a `next` parameter cannot send the
/// reader to another site).
pub fn local_path(to: &str) -> &str {
    if to.starts_with('/') && !to.starts_with("//") && !to.starts_with("/\\") {
        to
    } else {
        "/"
    }
}

/// The HTML 404 for a browser on an unknown path (API clients get a problem document).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_parameters_stay_on_this_site() {
        assert_eq!(local_path("/offerings/x?y=1"), "/offerings/x?y=1");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
    }

    #[test]
    fn a_wall_clock_time_is_read_in_the_readers_zone() {
        assert_eq!(
            local_instant("2026-04-01T09:30", "Europe/Paris"),
            "2026-04-01T07:30:00Z"
        );
        assert_eq!(
            local_instant("2026-03-10T09:00", "UTC"),
            "2026-03-10T09:00:00Z"
        );
        assert_eq!(local_instant(" soon ", "UTC"), "soon");
    }

    #[test]
    fn every_problem_type_has_words_in_both_languages() {
        let translations = Translations::load(files::TRANSLATIONS).expect("load");
        for kind in vitrine_http::problem::ProblemKind::ALL {
            let key = format!("problem.{}", kind.slug());
            assert!(translations.contains(&key), "{key} is not translated");
        }
    }

    #[test]
    fn every_template_compiles() {
        let translations = Arc::new(Translations::load(files::TRANSLATIONS).expect("load"));
        let env = environment(translations).expect("templates compile");
        assert!(env.get_template("layout.html").is_ok());
    }
}
