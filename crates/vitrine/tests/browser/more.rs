//! What the go-live journey does not go through: an upload that loses its connection or
//! its page half-way, a forgotten password, a withdrawn submission and an unpublished
//! offering. The world is made through the API (as the README's scripts do); what a
//! person does is done in the browser.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::harness::{Api, Backend, Browser, Chromium, PASSWORD, Server, string_at};
use super::setup;
use super::texts::Texts;

const PROVIDER_EMAIL: &str = "olga@acme.test";
const ADMIN_EMAIL: &str = "admin@market.test";
const VALIDATOR_EMAIL: &str = "vera@market.test";
/// The widget's chunk (`CHUNK_BYTES` in upload.js).
const CHUNK: u64 = 8 * 1024 * 1024;
/// The recordings the upload test makes: larger than two chunks.
const BIG: usize = 20 * 1024 * 1024;
/// Where the dropped PATCH is cut: the server has these bytes of it when the answer is lost.
const CUT: u64 = 3 * 1024 * 1024;

/// A real WebM (vitrine-blob's fixture) followed by `size` - its length bytes of `fill`:
/// the server sniffs the container from the first bytes and reads the duration from its
/// header, so the padding makes a large file it accepts.
fn big_recording(dir: &Path, name: &str, fill: u8, size: usize) -> (PathBuf, Vec<u8>) {
    let clip = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vitrine-blob/tests/fixtures/clip.webm"),
    )
    .expect("the WebM fixture");
    let mut bytes = clip;
    bytes.resize(size, fill);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    (path, bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An approved provider (`PROVIDER_EMAIL`, signed in to the API) whose offering `name`
/// (shown as `title`) passes the go-live checklist: limited, three steps attested.
async fn ready_offering(
    server: &Server,
    provider: Option<&setup::Provider>,
    name: &str,
    title: &str,
) -> (Api, setup::Provider) {
    let admin = server.admin();
    let provider = match provider {
        Some(p) => setup::Provider {
            account_id: p.account_id.clone(),
        },
        None => setup::approved_provider(&admin, PROVIDER_EMAIL, "Olga Owner", "Acme").await,
    };
    let olga = Api::sign_in_as(&server.base, PROVIDER_EMAIL).await;
    olga.post(
        "/api/v1/offerings",
        json!({
            "provider_account_id": provider.account_id,
            "name": name,
            "display_name": {"en": title},
            "description": {"en": "Managed PostgreSQL."},
            "category": "databases",
            "documentation_url": "https://docs.acme.example",
            "support_contact": "help@acme.example",
            "plans": [{"name": "lite", "display_name": {"en": "Lite"}, "pricing": {"kind": "free"}}],
        }),
    )
    .await;
    olga.put(
        &format!("/api/v1/offerings/{name}/visibility"),
        json!({"visibility": "limited"}),
    )
    .await;
    for step in ["documentation", "broker_hosted", "authentication_flow"] {
        olga.put(
            &format!("/api/v1/offerings/{name}/checklist/{step}"),
            json!({"state": "complete"}),
        )
        .await;
    }
    (olga, provider)
}

/// A submission of `offering` with the fixture recording, submitted (queued); its id and
/// schedule.
async fn queued_submission(olga: &Api, offering: &str) -> (String, Value) {
    let created = olga
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/offerings/{offering}/submissions"),
            None,
        )
        .await;
    let submission = string_at(&created, "/submission/id");
    let clip = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vitrine-blob/tests/fixtures/clip.webm"),
    )
    .expect("the WebM fixture");
    let recording = olga
        .put_bytes(
            &format!("/api/v1/submissions/{submission}/recordings?filename=demo.webm"),
            clip,
        )
        .await;
    olga.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/submissions/{submission}"),
        Some(json!({"recordings": [string_at(&recording, "/id")], "notes": "Round one"})),
    )
    .await;
    let submitted = olga
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/submissions/{submission}/submit"),
            None,
        )
        .await;
    let schedule = submitted
        .get("schedule")
        .cloned()
        .unwrap_or_else(|| panic!("no schedule in {submitted}"));
    (submission, schedule)
}

/// Wraps the page's XMLHttpRequest so every request the widget makes is logged in
/// sessionStorage (`xhr`: method, Upload-Offset, bytes sent), and, by `mode`:
/// `drop`: the second PATCH sends only its first [`CUT`] bytes and its answer is lost, as
/// when the connection drops (the widget sees a network error); `stall`: the second PATCH
/// is never sent (the page is reloaded meanwhile); `watch`: nothing else. The bar's highest
/// value and every status line are logged too (`upload-max`, `upload-statuses`).
async fn watch_uploads(b: &Browser, mode: &str) {
    b.script(
        r#"
        const mode = arguments[0];
        const cut = arguments[1];
        const log = (key, value) => {
            const list = JSON.parse(sessionStorage.getItem(key) || '[]');
            list.push(value);
            sessionStorage.setItem(key, JSON.stringify(list));
        };
        let patches = 0;
        class Watched extends window.XMLHttpRequest {
            open(method, url, ...rest) {
                this.vitrineMethod = method;
                this.vitrineHeaders = {};
                return super.open(method, url, ...rest);
            }
            setRequestHeader(name, value) {
                this.vitrineHeaders[name.toLowerCase()] = value;
                return super.setRequestHeader(name, value);
            }
            send(body) {
                const entry = {
                    method: this.vitrineMethod,
                    offset: this.vitrineHeaders['upload-offset'] === undefined
                        ? null : Number(this.vitrineHeaders['upload-offset']),
                    bytes: body && body.size !== undefined ? body.size : 0,
                };
                if (this.vitrineMethod === 'PATCH') {
                    patches += 1;
                    if (mode === 'stall' && patches === 2) {
                        entry.stalled = true;
                        log('xhr', entry);
                        return;
                    }
                    if (mode === 'drop' && patches === 2) {
                        const lost = this.onerror;
                        this.onload = this.onerror = this.onabort = this.ontimeout = null;
                        this.addEventListener('loadend', () => lost.call(this));
                        entry.bytes = Math.min(cut, body.size);
                        entry.dropped = true;
                        log('xhr', entry);
                        return super.send(body.slice(0, cut));
                    }
                }
                log('xhr', entry);
                return super.send(body);
            }
        }
        window.XMLHttpRequest = Watched;
        const bar = document.getElementById('upload-progress');
        const status = document.getElementById('upload-status');
        new MutationObserver(() => {
            const max = Math.max(Number(sessionStorage.getItem('upload-max') || 0), bar.value);
            sessionStorage.setItem('upload-max', String(max));
        }).observe(bar, {attributes: true, childList: true, characterData: true, subtree: true});
        new MutationObserver(() => {
            const list = JSON.parse(sessionStorage.getItem('upload-statuses') || '[]');
            if (list[list.length - 1] !== status.textContent) list.push(status.textContent);
            sessionStorage.setItem('upload-statuses', JSON.stringify(list));
        }).observe(status, {childList: true, characterData: true, subtree: true});
        "#,
        vec![json!(mode), json!(CUT)],
    )
    .await;
}

/// Forgets what [`watch_uploads`] logged.
async fn clear_upload_log(b: &Browser) {
    b.script(
        "for (const key of ['xhr', 'upload-max', 'upload-statuses']) sessionStorage.removeItem(key);",
        vec![],
    )
    .await;
}

/// What [`watch_uploads`] logged under `key`.
async fn logged(b: &Browser, key: &str) -> Value {
    let raw = b
        .script(
            "return sessionStorage.getItem(arguments[0]);",
            vec![json!(key)],
        )
        .await;
    raw.as_str()
        .map(|s| serde_json::from_str(s).expect("logged JSON"))
        .unwrap_or(Value::Null)
}

/// Chooses `path` in the widget once it is ready.
async fn choose(b: &Browser, path: &Path) {
    b.wait_until(
        "the upload widget is ready",
        "return !document.getElementById('upload-file').disabled;",
        vec![],
    )
    .await;
    b.wait_for("#upload-file")
        .await
        .send_keys(&path.display().to_string())
        .await
        .expect("choose the recording");
}

/// Waits for the page to reload listing `count` recordings, then checks the bar reached
/// 100 % and the widget said the file is uploaded.
async fn wait_listed(b: &mut Browser, texts: &Texts, count: usize, file: &str) {
    b.wait_until(
        "the page lists the new recording",
        "return document.readyState === 'complete' \
         && document.querySelectorAll('#recordings li').length === arguments[0];",
        vec![json!(count)],
    )
    .await;
    b.check_page().await;
    assert_eq!(
        logged(b, "upload-max").await.as_f64(),
        Some(100.0),
        "the progress bar did not reach 100 %"
    );
    let statuses = logged(b, "upload-statuses").await;
    assert_eq!(
        statuses.as_array().and_then(|s| s.last()),
        Some(&json!(texts.get(
            "provider.upload.done",
            "en",
            &[("file", file)]
        ))),
        "the widget did not say the upload is done: {statuses}"
    );
    b.assert_shows(file).await;
}

/// The recording the server keeps under `file`: its size and sha256 match `bytes`.
async fn assert_stored(olga: &Api, submission: &str, file: &str, bytes: &[u8]) {
    let recordings = olga
        .get(&format!("/api/v1/submissions/{submission}/recordings"))
        .await;
    let mine: Vec<&Value> = recordings
        .as_array()
        .unwrap_or_else(|| panic!("not a list of recordings: {recordings}"))
        .iter()
        .filter(|r| r.get("file_name") == Some(&json!(file)))
        .collect();
    assert_eq!(mine.len(), 1, "{file} is not stored once: {recordings}");
    assert_eq!(
        mine[0].get("size"),
        Some(&json!(bytes.len())),
        "{file}'s size"
    );
    assert_eq!(
        mine[0].get("sha256"),
        Some(&json!(sha256_hex(bytes))),
        "the server's {file} is not the file chosen"
    );
}

/// The widget recovers by itself from a connection dropped mid-chunk (resuming at the
/// server's offset, not at the chunk's start), and a page reloaded mid-upload resumes from
/// the server's offset when the same file is chosen again instead of starting over.
pub async fn upload_survives_drop_and_reload(chromium: &Chromium, backend: &Backend) {
    let texts = Texts::load();
    let server = Server::start(backend);
    let (olga, _) = ready_offering(&server, None, "acme-db", "Acme DB").await;
    let files = tempfile::tempdir().expect("a temporary directory");
    let (dropped_path, dropped) = big_recording(files.path(), "dropped.webm", 0, BIG);
    let (reloaded_path, reloaded) = big_recording(files.path(), "reloaded.webm", 1, BIG);

    let mut browser = Browser::start(chromium, &server.base, backend.name).await;
    let b = &mut browser;
    b.sign_in(PROVIDER_EMAIL).await;
    b.visit("/provider/offerings/acme-db/go-live").await;
    b.click_to_load("#start-go-live").await;
    b.wait_for("#round-form").await;
    b.check_page().await;
    let submission = b
        .script(
            "return document.getElementById('upload').getAttribute('data-submission');",
            vec![],
        )
        .await
        .as_str()
        .expect("the widget's submission")
        .to_owned();

    // The second PATCH loses its connection after 3 MiB reached the server.
    clear_upload_log(b).await;
    watch_uploads(b, "drop").await;
    choose(b, &dropped_path).await;
    wait_listed(b, &texts, 1, "dropped.webm").await;
    b.screenshot("en", 30, "upload-after-drop").await;
    let requests = logged(b, "xhr").await;
    let requests = requests.as_array().expect("the logged requests");
    let dropped_at = requests
        .iter()
        .position(|r| r.get("dropped") == Some(&json!(true)))
        .unwrap_or_else(|| panic!("no PATCH was dropped: {requests:?}"));
    let drop_offset = requests[dropped_at]["offset"].as_u64().expect("an offset");
    assert_eq!(
        drop_offset, CHUNK,
        "the second chunk starts after the first"
    );
    assert_eq!(
        requests[dropped_at + 1]["method"],
        json!("HEAD"),
        "the widget did not ask the server where it got to: {requests:?}"
    );
    assert_eq!(
        requests[dropped_at + 2]["offset"],
        json!(CHUNK + CUT),
        "the widget did not resume at the server's offset: {requests:?}"
    );
    let patched: u64 = requests
        .iter()
        .filter(|r| r["method"] == json!("PATCH"))
        .map(|r| r["bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        patched, BIG as u64,
        "bytes were sent twice or not at all: {requests:?}"
    );
    let statuses = logged(b, "upload-statuses").await;
    let resuming = texts.get(
        "provider.upload.resuming",
        "en",
        &[("file", "dropped.webm")],
    );
    assert!(
        statuses
            .as_array()
            .is_some_and(|s| s.iter().any(|line| line == &json!(resuming))),
        "the widget never said it is resuming: {statuses}"
    );
    assert_stored(&olga, &submission, "dropped.webm", &dropped).await;

    // The page is reloaded while the second chunk is on its way; choosing the file again
    // sends only what the server lacks.
    clear_upload_log(b).await;
    watch_uploads(b, "stall").await;
    choose(b, &reloaded_path).await;
    b.wait_until(
        "the second chunk is on its way",
        "return (sessionStorage.getItem('xhr') || '').includes('\"stalled\":true');",
        vec![],
    )
    .await;
    b.script("window.vitrineOldPage = true;", vec![]).await;
    b.client.refresh().await.expect("reload the page");
    b.wait_until(
        "the page reloads",
        "return window.vitrineOldPage === undefined && document.readyState === 'complete';",
        vec![],
    )
    .await;
    b.check_page().await;
    b.assert_hides("reloaded.webm").await;
    clear_upload_log(b).await;
    watch_uploads(b, "watch").await;
    choose(b, &reloaded_path).await;
    wait_listed(b, &texts, 2, "reloaded.webm").await;
    b.screenshot("en", 31, "upload-after-reload").await;
    let requests = logged(b, "xhr").await;
    let requests = requests.as_array().expect("the logged requests");
    assert!(
        requests.iter().all(|r| r["method"] != json!("POST")),
        "the widget started the upload over: {requests:?}"
    );
    assert_eq!(requests[0]["method"], json!("HEAD"), "{requests:?}");
    assert_eq!(
        requests[1]["offset"],
        json!(CHUNK),
        "the widget did not resume at the server's offset: {requests:?}"
    );
    let patched: u64 = requests
        .iter()
        .filter(|r| r["method"] == json!("PATCH"))
        .map(|r| r["bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        patched,
        BIG as u64 - CHUNK,
        "the widget sent again what the server had: {requests:?}"
    );
    assert_stored(&olga, &submission, "reloaded.webm", &reloaded).await;
    browser.finish().await;
}

/// "Forgot your password?" from the sign-in page, the link from the email, a new password;
/// the old one is refused afterwards, and the link works once.
pub async fn password_reset(chromium: &Chromium, backend: &Backend) {
    const EMAIL: &str = "rita@acme.test";
    const NEW_PASSWORD: &str = "a brand new passphrase";
    let texts = Texts::load();
    let server = Server::start(backend);
    server.admin().create_user(EMAIL, "Rita Reset", None).await;
    let mut browser = Browser::start(chromium, &server.base, backend.name).await;
    let b = &mut browser;

    b.visit("/sign-in").await;
    b.click_labelled("main", &texts.get("sign_in.forgot", "en", &[]))
        .await;
    b.wait_for_path("/reset-password").await;
    b.assert_shows(&texts.get("reset.title", "en", &[])).await;
    b.fill("#f-email", EMAIL).await;
    b.screenshot("en", 40, "reset-request").await;
    b.click_to_load("#reset-request-form button[type=submit]")
        .await;
    b.assert_shows(&texts.get("email_sent.reset", "en", &[("email", EMAIL)]))
        .await;
    b.screenshot("en", 41, "reset-email-sent").await;

    let email = server.email_to(EMAIL, "/reset-password?token=").await;
    let link = email
        .split_whitespace()
        .find(|word| word.contains("/reset-password?token="))
        .expect("the reset link")
        .trim_matches(|c: char| c == '<' || c == '>' || c == '(' || c == ')')
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/reset-password?token=", server.base)),
        "the reset link does not lead to the server's public address: {link}"
    );
    b.visit(&link).await;
    b.wait_for("#reset-confirm-form").await;
    b.fill("#f-new_password", NEW_PASSWORD).await;
    b.screenshot("en", 42, "reset-new-password").await;
    b.click_to_load("#reset-confirm-form button[type=submit]")
        .await;
    b.wait_for_path("/sign-in").await;
    b.assert_shows(&texts.get("notice.password_reset", "en", &[]))
        .await;
    b.screenshot("en", 43, "reset-done").await;

    // The old password no longer opens the account; the new one does.
    sign_in_with(b, EMAIL, PASSWORD).await;
    b.wait_for("[role=alert]").await;
    b.assert_hides("Rita Reset").await;
    sign_in_with(b, EMAIL, NEW_PASSWORD).await;
    b.wait_for("form[action='/sign-out']").await;
    b.assert_shows("Rita Reset").await;
    b.sign_out().await;

    // The link was used: a second try is refused and changes nothing.
    b.visit(&link).await;
    let form = b
        .script(
            "return document.getElementById('reset-confirm-form') !== null;",
            vec![],
        )
        .await;
    if form == Value::Bool(true) {
        b.fill("#f-new_password", "yet another passphrase").await;
        b.click_to_load("#reset-confirm-form button[type=submit]")
            .await;
    }
    b.wait_for("[role=alert]").await;
    b.screenshot("en", 44, "reset-link-used").await;
    sign_in_with(b, EMAIL, NEW_PASSWORD).await;
    b.wait_for("form[action='/sign-out']").await;
    browser.finish().await;
}

async fn sign_in_with(b: &mut Browser, email: &str, password: &str) {
    b.visit("/sign-in").await;
    b.fill("#f-email", email).await;
    b.fill("#f-password", password).await;
    b.click_to_load("form[action='/sign-in'] button[type=submit]")
        .await;
}

/// A provider withdraws a queued submission from its page (in English, then read in
/// French); an admin unpublishes a public offering with a reason, after which the
/// anonymous catalog no longer lists it.
pub async fn withdraw_and_unpublish(chromium: &Chromium, backend: &Backend) {
    let texts = Texts::load();
    let server = Server::start(backend);
    let admin = server.admin();
    setup::admin_password(&server).await;
    admin
        .create_user(
            VALIDATOR_EMAIL,
            "Vera Validator",
            Some(json!({"admin": false, "validator": true})),
        )
        .await;
    let (olga, provider) = ready_offering(&server, None, "acme-db", "Acme DB").await;
    let (withdrawn, _) = queued_submission(&olga, "acme-db").await;

    // A second offering goes all the way to public through the API.
    let (olga, _) = ready_offering(&server, Some(&provider), "acme-kv", "Acme KV").await;
    let (published, schedule) = queued_submission(&olga, "acme-kv").await;
    let review_day = string_at(&schedule, "/review_date");
    let decision_day = string_at(&schedule, "/decision_date");
    admin
        .advance_clock_to(&format!("{review_day}T00:00:00Z"))
        .await;
    let vera = Api::sign_in_as(&server.base, VALIDATOR_EMAIL).await;
    let requirements = vera.get("/api/v1/requirements").await;
    let verdicts: Vec<Value> = requirements["requirements"]
        .as_array()
        .unwrap_or_else(|| panic!("no requirements in {requirements}"))
        .iter()
        .map(|r| json!({"requirement": r["key"], "outcome": "met"}))
        .collect();
    vera.post(
        &format!("/api/v1/submissions/{published}/decision"),
        json!({"decision": "approve", "verdicts": verdicts}),
    )
    .await;
    admin
        .advance_clock_to(&format!("{decision_day}T00:00:00Z"))
        .await;
    admin
        .post(
            &format!("/api/v1/submissions/{published}/publication"),
            json!({"at": format!("{decision_day}T12:00:00Z")}),
        )
        .await;
    admin
        .advance_clock_to(&format!("{decision_day}T12:00:00Z"))
        .await;

    let mut browser = Browser::start(chromium, &server.base, backend.name).await;
    let b = &mut browser;
    b.visit("/").await;
    b.assert_shows("Acme KV").await;

    // The provider withdraws the queued one.
    b.sign_in(PROVIDER_EMAIL).await;
    b.visit(&format!("/submissions/{withdrawn}")).await;
    b.assert_shows(&texts.get("submission_state.queued", "en", &[]))
        .await;
    b.screenshot("en", 50, "submission-queued").await;
    b.click_to_load("#withdraw-form button[type=submit]").await;
    b.wait_for_path(&format!("/submissions/{withdrawn}")).await;
    b.assert_shows(&texts.get("submission_state.withdrawn", "en", &[]))
        .await;
    b.assert_shows(&texts.get("submission_page.notice_withdrawn", "en", &[]))
        .await;
    let can_withdraw = b
        .script(
            "return document.getElementById('withdraw-form') !== null;",
            vec![],
        )
        .await;
    assert_eq!(
        can_withdraw,
        Value::Bool(false),
        "a withdrawn submission offers to withdraw"
    );
    b.screenshot("en", 51, "submission-withdrawn").await;
    b.click_to_load("form.lang-switch button[name=lang]").await;
    b.wait_until(
        "the page is in French",
        "return document.documentElement.lang === 'fr';",
        vec![],
    )
    .await;
    b.wait_for_path(&format!("/submissions/{withdrawn}")).await;
    b.assert_shows(&texts.get("submission_state.withdrawn", "fr", &[]))
        .await;
    b.screenshot("fr", 51, "submission-withdrawn").await;
    let state = olga.get(&format!("/api/v1/submissions/{withdrawn}")).await;
    assert_eq!(
        state.pointer("/submission/state"),
        Some(&json!("withdrawn"))
    );
    b.sign_out().await;

    // The admin unpublishes the public one; a reason is required.
    b.sign_in(ADMIN_EMAIL).await;
    b.visit("/admin/publications").await;
    b.wait_for("#public-acme-kv").await;
    b.screenshot("en", 52, "admin-publications").await;
    b.click_to_load("#unpublish-acme-kv button[type=submit]")
        .await;
    b.wait_for("#unpublish-acme-kv-error").await;
    b.wait_for("#public-acme-kv").await;
    b.fill("#unpublish-acme-kv-reason", "The support address bounces.")
        .await;
    b.click_to_load("#unpublish-acme-kv button[type=submit]")
        .await;
    b.wait_for_path("/admin/publications").await;
    b.assert_shows(&texts.get("admin.notice.unpublished", "en", &[]))
        .await;
    let listed = b
        .script(
            "return document.getElementById('public-acme-kv') !== null;",
            vec![],
        )
        .await;
    assert_eq!(
        listed,
        Value::Bool(false),
        "the unpublished offering is still listed as public"
    );
    b.screenshot("en", 53, "admin-unpublished").await;
    b.sign_out().await;
    b.visit("/").await;
    b.assert_hides("Acme KV").await;
    b.screenshot("en", 54, "catalog-after-unpublish").await;
    b.visit("/offerings/acme-kv").await;
    assert_eq!(
        b.status().await,
        404,
        "an anonymous visitor still reaches the unpublished offering"
    );
    browser.finish().await;
}
