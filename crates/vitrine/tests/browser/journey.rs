//! The go-live journey in the browser, each role as a person would go through it: a
//! provider signs up and confirms the address from the email, applies as a provider; an
//! admin approves; the provider creates an offering with a plan, attests the checklist,
//! moves it to limited visibility and allowlists a customer (who then sees it in the
//! catalog, when an anonymous visitor does not), starts a go-live request, uploads a real
//! video through the page's widget and submits; the test clock opens the session; the
//! validator watches the recording (the browser reads its duration) and requests changes;
//! on decision day the provider reads the unmet requirement, answers in the thread, uploads
//! again and resubmits; the next session approves; the admin schedules the publication; the
//! clock moves; the anonymous catalog shows the offering. Then the key pages in French.
//!
//! The clock is moved with the admin API (`/api/v1/test-clock/advance`), as a rehearsal
//! script would; everything else a person does is done in the browser.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::harness::{Api, Backend, Browser, Chromium, PASSWORD, Server, string_at};
use super::setup;
use super::texts::Texts;

/// The provider who signs up.
const PROVIDER_EMAIL: &str = "olga@acme.test";
const PROVIDER_NAME: &str = "Olga Owner";
const ADMIN_EMAIL: &str = "admin@market.test";
const VALIDATOR_EMAIL: &str = "vera@market.test";
const CUSTOMER_EMAIL: &str = "carl@customer.test";
const OFFERING: &str = "acme-db";
const OFFERING_TITLE: &str = "Acme DB";
/// A real 1.6 s VP8 WebM (a format every chromium plays), from vitrine-blob's fixtures.
const RECORDING: &str = "clip.webm";
const RECORDING_SECONDS: f64 = 1.6;

fn recording_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../vitrine-blob/tests/fixtures")
        .join(RECORDING)
        .canonicalize()
        .expect("the recording fixture")
}

pub async fn run(chromium: &Chromium, backend: &Backend) {
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
    let customer = admin
        .create_user(CUSTOMER_EMAIL, "Carl Customer", None)
        .await;
    let customer_account = admin.create_account("Customer Co", &customer).await;

    let mut browser = Browser::start(chromium, &server.base, backend.name).await;
    let b = &mut browser;

    sign_up(b, &server, &texts).await;
    apply_as_provider(b, &texts).await;

    switch_user(b, ADMIN_EMAIL).await;
    b.visit("/admin/providers").await;
    b.assert_shows(&texts.get("admin.providers.title", "en", &[]))
        .await;
    b.assert_shows("Acme SA").await;
    b.screenshot("en", 13, "admin-providers").await;
    b.click_to_load("form[id^='approve-'] button[type=submit]")
        .await;
    b.wait_for_path("/admin/providers").await;

    switch_user(b, PROVIDER_EMAIL).await;
    b.visit("/provider").await;
    b.assert_shows(&texts.get("provider.status.approved", "en", &[]))
        .await;
    create_offering(b, &texts).await;
    prepare_offering(b, &texts, &customer_account).await;

    // The allowlisted customer sees the limited offering; an anonymous visitor does not.
    switch_user(b, CUSTOMER_EMAIL).await;
    b.visit("/").await;
    b.assert_shows(OFFERING_TITLE).await;
    b.assert_shows(&texts.get("visibility.limited", "en", &[]))
        .await;
    b.screenshot("en", 16, "customer-catalog").await;
    b.sign_out().await;
    b.visit("/").await;
    b.assert_hides(OFFERING_TITLE).await;
    b.visit(&format!("/offerings/{OFFERING}")).await;
    assert_eq!(
        b.status().await,
        404,
        "an anonymous visitor reached a limited offering"
    );

    // Round one: the provider starts the go-live request, uploads and submits.
    switch_user(b, PROVIDER_EMAIL).await;
    b.visit(&format!("/provider/offerings/{OFFERING}/go-live"))
        .await;
    b.click_to_load("#start-go-live").await;
    b.wait_for("#round-form").await;
    b.check_page().await;
    upload_recording(b, &texts).await;
    b.fill(
        "#f-notes",
        "Round one: provisioning and the dashboard sign-in.",
    )
    .await;
    b.screenshot("en", 18, "go-live-uploaded").await;
    b.click_to_load("#submit-round").await;
    b.wait_for("#review-date").await;
    b.check_page().await;
    let submission = b
        .url()
        .await
        .rsplit('/')
        .next()
        .expect("the submission's id in the URL")
        .to_owned();
    b.assert_shows(&texts.get("submission_state.queued", "en", &[]))
        .await;
    b.screenshot("en", 19, "submission-queued").await;
    let (review_day, decision_day) = schedule(&admin, &submission).await;

    // Review day: the session opens; the validator watches and asks for changes.
    admin
        .advance_clock_to(&format!("{review_day}T00:00:00Z"))
        .await;
    switch_user(b, VALIDATOR_EMAIL).await;
    b.visit("/review").await;
    b.assert_shows(OFFERING).await;
    b.screenshot("en", 20, "review-desk").await;
    b.click_to_load(&format!(
        "#my-assignments a[href='/submissions/{submission}']"
    ))
    .await;
    b.wait_for_path(&format!("/submissions/{submission}")).await;
    watch_recording(b).await;
    b.screenshot("en", 21, "validator-submission").await;
    decide(
        b,
        "request_changes",
        Some("Show the instance becoming ready."),
    )
    .await;
    b.assert_shows(&texts.get("submission_page.held", "en", &[]))
        .await;

    // Before decision day the provider sees no decision; on it, the unmet requirement.
    switch_user(b, PROVIDER_EMAIL).await;
    b.visit(&format!("/submissions/{submission}")).await;
    b.assert_hides("Show the instance becoming ready.").await;
    admin
        .advance_clock_to(&format!("{decision_day}T00:00:00Z"))
        .await;
    b.visit(&format!("/submissions/{submission}")).await;
    b.assert_shows(&texts.get("submission_state.changes_requested", "en", &[]))
        .await;
    b.assert_shows(&texts.get("submission_page.not_met", "en", &[]))
        .await;
    b.assert_shows("Show the instance becoming ready.").await;
    b.fill(
        "#f-body-text",
        "The new recording shows the instance becoming ready.",
    )
    .await;
    b.click_to_load("#thread-reply button[type=submit]").await;
    b.wait_for(".thread .message-provider").await;
    b.check_page().await;
    b.assert_shows("The new recording shows the instance becoming ready.")
        .await;
    // The thread names its authors: a person and their part, not a side.
    b.assert_shows(&format!(
        "{PROVIDER_NAME}, {} ({})",
        texts.get("submission_page.role.provider", "en", &[]),
        texts.get("submission_page.from_you", "en", &[])
    ))
    .await;
    b.screenshot("en", 22, "changes-requested").await;

    // Round two: upload again and resubmit; it goes to the next session.
    b.click_to_load("#go-live-link").await;
    b.wait_for("#round-form").await;
    b.check_page().await;
    upload_recording(b, &texts).await;
    b.click_to_load("#submit-round").await;
    b.wait_for("#review-date").await;
    b.check_page().await;
    b.assert_shows(&texts.get("submission_state.queued", "en", &[]))
        .await;
    let (review_day, decision_day) = schedule(&admin, &submission).await;

    admin
        .advance_clock_to(&format!("{review_day}T00:00:00Z"))
        .await;
    switch_user(b, VALIDATOR_EMAIL).await;
    b.visit(&format!("/submissions/{submission}")).await;
    watch_recording(b).await;
    decide(b, "approve", None).await;
    admin
        .advance_clock_to(&format!("{decision_day}T00:00:00Z"))
        .await;

    switch_user(b, PROVIDER_EMAIL).await;
    b.visit(&format!("/submissions/{submission}")).await;
    b.assert_shows(&texts.get("submission_state.approved", "en", &[]))
        .await;
    b.screenshot("en", 23, "approved").await;

    // The admin schedules the publication for noon on decision day; at noon it is public.
    switch_user(b, ADMIN_EMAIL).await;
    b.visit(&format!("/submissions/{submission}")).await;
    b.script(
        "document.getElementById('f-at').value = arguments[0];",
        vec![json!(format!("{decision_day}T12:00"))],
    )
    .await;
    b.click_to_load("#publication-form button[type=submit]")
        .await;
    b.wait_for("#publication-at").await;
    b.check_page().await;
    b.screenshot("en", 24, "publication-scheduled").await;
    admin
        .advance_clock_to(&format!("{decision_day}T12:00:00Z"))
        .await;
    b.sign_out().await;
    b.visit("/").await;
    b.assert_shows(OFFERING_TITLE).await;
    b.screenshot("en", 25, "public-catalog").await;
    b.visit(&format!("/offerings/{OFFERING}")).await;
    assert_eq!(b.status().await, 200);
    b.assert_shows("Managed PostgreSQL").await;
    b.screenshot("en", 26, "public-offering").await;

    in_french(b, &texts, &submission).await;

    browser.finish().await;
}

/// Signs out whoever is signed in, then signs `email` in.
async fn switch_user(browser: &mut Browser, email: &str) {
    browser.visit("/").await;
    let signed_in = browser
        .script(
            "return document.querySelector(\"form[action='/sign-out']\") !== null;",
            vec![],
        )
        .await;
    if signed_in == Value::Bool(true) {
        browser.sign_out().await;
    }
    browser.sign_in(email).await;
}

/// Sign-up through the form, the confirmation link from the email, and the provider signed
/// in afterwards.
async fn sign_up(browser: &mut Browser, server: &Server, texts: &Texts) {
    browser.visit("/").await;
    browser
        .click_labelled("header", &texts.get("nav.sign_up", "en", &[]))
        .await;
    browser.wait_for_path("/sign-up").await;
    browser.fill("#f-display_name", PROVIDER_NAME).await;
    browser.fill("#f-email", PROVIDER_EMAIL).await;
    browser.fill("#f-password", PASSWORD).await;
    browser.fill("#f-account_name", "Acme").await;
    browser.screenshot("en", 10, "sign-up").await;
    browser
        .click_to_load("#sign-up-form button[type=submit]")
        .await;
    browser
        .wait_until(
            "the page says an email was sent",
            "return document.querySelector('[role=status]') !== null;",
            vec![],
        )
        .await;
    browser.check_page().await;
    browser
        .assert_shows(&texts.get("email_sent.verify", "en", &[("email", PROVIDER_EMAIL)]))
        .await;

    let email = server
        .email_to(PROVIDER_EMAIL, "/verify-email?token=")
        .await;
    let link = email
        .split_whitespace()
        .find(|word| word.contains("/verify-email?token="))
        .expect("the confirmation link")
        .trim_matches(|c: char| c == '<' || c == '>' || c == '(' || c == ')');
    assert!(
        link.starts_with(&format!("{}/verify-email?token=", server.base)),
        "the confirmation link does not lead to the server's public address: {link}"
    );
    // Opening the link does not use it up (a mail client's preview must not); the button does.
    browser.visit(link).await;
    browser
        .assert_shows(&texts.get("verify.title", "en", &[]))
        .await;
    browser.screenshot("en", 11, "verify-email").await;
    browser
        .click_labelled("main", &texts.get("verify.submit", "en", &[]))
        .await;
    browser.wait_for("form[action='/sign-out']").await;
    browser.check_page().await;
    browser.assert_shows(PROVIDER_NAME).await;
    browser.wait_for_path("/provider").await;
    browser.screenshot("en", 12, "provider").await;
}

/// The owner applies for the account to become a provider.
async fn apply_as_provider(b: &mut Browser, texts: &Texts) {
    b.assert_shows(&texts.get("provider.apply_title", "en", &[]))
        .await;
    b.fill("#f-legal_name", "Acme SA").await;
    b.fill("#f-contact_email", PROVIDER_EMAIL).await;
    b.fill("#f-country", "FR").await;
    b.fill("#f-website", "https://acme.example").await;
    b.click_to_load("form[id^='apply-'] button[type=submit]")
        .await;
    b.wait_for_path("/provider").await;
    b.assert_shows(&texts.get("provider.status.pending", "en", &[]))
        .await;
}

/// A new offering with one free plan, through the new-offering form.
async fn create_offering(b: &mut Browser, texts: &Texts) {
    b.click_to_load("a[href^='/provider/offerings/new']").await;
    b.wait_for_path("/provider/offerings/new").await;
    b.fill("#f-name", OFFERING).await;
    b.fill("#f-display_name-en", OFFERING_TITLE).await;
    b.fill("#f-display_name-fr", "Acme BD").await;
    b.fill(
        "#f-description-en-text",
        "Managed PostgreSQL with daily backups.",
    )
    .await;
    b.fill(
        "#f-description-fr-text",
        "PostgreSQL géré, sauvegardé chaque jour.",
    )
    .await;
    b.fill("#f-category", "databases").await;
    b.fill("#f-documentation_url", "https://docs.acme.example")
        .await;
    b.fill("#f-support_contact", "help@acme.example").await;
    b.fill("#f-plans-0-name", "lite").await;
    b.fill("#f-plans-0-display_name-en", "Lite").await;
    b.screenshot("en", 14, "new-offering").await;
    b.click_to_load("#create-offering").await;
    b.wait_for_path(&format!("/provider/offerings/{OFFERING}"))
        .await;
    b.assert_shows(&texts.get("notice.provider_offering_created", "en", &[]))
        .await;
}

/// Attests steps 1, 3 and 4, moves the offering to limited visibility and allowlists the
/// customer's account.
async fn prepare_offering(b: &mut Browser, texts: &Texts, customer_account: &str) {
    for step in ["documentation", "broker_hosted", "authentication_flow"] {
        let select = b.wait_for(&format!("#attest-{step}")).await;
        select
            .select_by_value("complete")
            .await
            .unwrap_or_else(|e| panic!("cannot choose complete for {step}: {e}"));
        b.click_to_load(&format!("#step-{step} form button[type=submit]"))
            .await;
        b.wait_for(&format!("#step-{step} .step-state-complete"))
            .await;
        b.check_page().await;
    }
    b.click("#visibility-limited").await;
    b.click_to_load("#save-visibility").await;
    b.wait_for("#step-limited_visibility .step-state-complete")
        .await;
    b.check_page().await;
    let limited = texts.get("visibility.limited", "en", &[]);
    let shown = b.wait_for("#offering-visibility").await;
    assert_eq!(shown.text().await.unwrap_or_default(), limited);
    b.fill("#f-account_id", customer_account).await;
    b.click_to_load("#allowlist-add button[type=submit]").await;
    b.wait_for(&format!(
        "#allowlist form[action$='/allowlist/{customer_account}/remove']"
    ))
    .await;
    b.check_page().await;
    // Another account's name is not the provider's to know: the page shows its id.
    b.assert_shows(customer_account).await;
    b.screenshot("en", 15, "offering-editor").await;
}

/// Chooses the recording in the upload widget and waits for the page to list it, checking
/// the progress bar reached 100 % on the way (remembered across the page's reload).
async fn upload_recording(b: &mut Browser, texts: &Texts) {
    let before = b
        .script(
            "return document.querySelectorAll('#recordings li').length;",
            vec![],
        )
        .await
        .as_u64()
        .unwrap_or(0);
    b.script(
        r#"
        sessionStorage.removeItem('upload-max');
        sessionStorage.removeItem('upload-status');
        const bar = document.getElementById('upload-progress');
        const status = document.getElementById('upload-status');
        new MutationObserver(() => {
            const max = Math.max(Number(sessionStorage.getItem('upload-max') || 0), bar.value);
            sessionStorage.setItem('upload-max', String(max));
        }).observe(bar, {attributes: true, childList: true, characterData: true, subtree: true});
        new MutationObserver(() => sessionStorage.setItem('upload-status', status.textContent))
            .observe(status, {childList: true, characterData: true, subtree: true});
        "#,
        vec![],
    )
    .await;
    b.wait_until(
        "the upload widget is ready",
        "return !document.getElementById('upload-file').disabled;",
        vec![],
    )
    .await;
    let input = b.wait_for("#upload-file").await;
    input
        .send_keys(&recording_path().display().to_string())
        .await
        .expect("choose the recording");
    b.wait_until(
        "the page lists the new recording",
        "return document.readyState === 'complete'             && document.querySelectorAll('#recordings li').length > arguments[0];",
        vec![json!(before)],
    )
    .await;
    b.check_page().await;
    let max = b
        .script(
            "return Number(sessionStorage.getItem('upload-max'));",
            vec![],
        )
        .await;
    assert_eq!(
        max.as_f64(),
        Some(100.0),
        "the progress bar did not reach 100 %"
    );
    let status = b
        .script("return sessionStorage.getItem('upload-status');", vec![])
        .await;
    assert_eq!(
        status.as_str(),
        Some(
            texts
                .get("provider.upload.done", "en", &[("file", RECORDING)])
                .as_str()
        )
    );
    b.assert_shows(RECORDING).await;
    let in_round = b
        .script(
            "return [...document.querySelectorAll('#recordings input[type=checkbox]')].pop().checked;",
            vec![],
        )
        .await;
    assert_eq!(
        in_round,
        Value::Bool(true),
        "the new recording is not in the round"
    );
}

/// The review and decision days of the submission's current round.
async fn schedule(admin: &Api, submission: &str) -> (String, String) {
    let view = admin
        .get(&format!("/api/v1/submissions/{submission}"))
        .await;
    let schedule = view
        .get("schedule")
        .or_else(|| view.pointer("/submission/schedule"))
        .unwrap_or_else(|| panic!("no schedule in {view}"));
    (
        string_at(schedule, "/review_date"),
        string_at(schedule, "/decision_date"),
    )
}

/// Waits for the validator's video to load its metadata and checks its duration.
async fn watch_recording(b: &mut Browser) {
    b.wait_until(
        "the recording's metadata loads",
        "const video = document.querySelector('video.recording');          return video !== null && video.readyState >= 1 && video.duration > 0;",
        vec![],
    )
    .await;
    let duration = b
        .script(
            "return document.querySelector('video.recording').duration;",
            vec![],
        )
        .await
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        (duration - RECORDING_SECONDS).abs() < 0.3,
        "the browser reads a {duration} s recording, not {RECORDING_SECONDS} s"
    );
    b.check_page().await;
}

/// The validator's verdicts (the first requirement unmet with `comment` when given, every
/// other met) and decision.
async fn decide(b: &mut Browser, decision: &str, comment: Option<&str>) {
    let count = b
        .script(
            "return document.querySelectorAll('#decision-form fieldset.verdict').length;",
            vec![],
        )
        .await
        .as_u64()
        .unwrap_or(0);
    assert!(count > 0, "the decision form lists no requirement");
    for i in 0..count {
        let outcome = if i == 0 && comment.is_some() {
            "not_met"
        } else {
            "met"
        };
        b.click(&format!(
            "input[name='verdicts[{i}].outcome'][value={outcome}]"
        ))
        .await;
    }
    if let Some(comment) = comment {
        b.fill("#f-verdicts-0-comment-text", comment).await;
    }
    b.click(&format!("input[name=decision][value={decision}]"))
        .await;
    b.click_to_load("#decision-form button[type=submit]").await;
    b.wait_until(
        "the decision is recorded",
        "return document.readyState === 'complete' && document.getElementById('decision-form') === null;",
        vec![],
    )
    .await;
    b.check_page().await;
}

/// The key pages again in French, each with its screenshot.
async fn in_french(b: &mut Browser, texts: &Texts, submission: &str) {
    b.visit("/").await;
    b.click_to_load("form.lang-switch button[name=lang]").await;
    b.wait_until(
        "the page is in French",
        "return document.documentElement.lang === 'fr';",
        vec![],
    )
    .await;
    b.check_page().await;
    b.assert_shows(&texts.get("catalog.title", "fr", &[])).await;
    b.assert_shows("Acme BD").await;
    b.screenshot("fr", 25, "public-catalog").await;
    b.visit(&format!("/offerings/{OFFERING}")).await;
    b.assert_shows("PostgreSQL géré").await;
    b.assert_shows(&texts.get("offering.plans", "fr", &[]))
        .await;
    b.screenshot("fr", 26, "public-offering").await;

    // Signed in, the user's own setting (English, chosen at sign-up) wins over the
    // visitor's cookie; the switch then changes that setting.
    b.sign_in(PROVIDER_EMAIL).await;
    let lang = b
        .script("return document.documentElement.lang;", vec![])
        .await;
    assert_eq!(lang, json!("en"));
    b.click_to_load("form.lang-switch button[name=lang]").await;
    b.wait_until(
        "the page is in French",
        "return document.documentElement.lang === 'fr';",
        vec![],
    )
    .await;
    b.visit("/provider").await;
    b.assert_shows(&texts.get("provider.title", "fr", &[]))
        .await;
    b.screenshot("fr", 12, "provider").await;
    b.visit(&format!("/provider/offerings/{OFFERING}")).await;
    b.assert_shows(&texts.get("provider.editor.checklist", "fr", &[]))
        .await;
    b.screenshot("fr", 15, "offering-editor").await;
    b.visit(&format!("/submissions/{submission}")).await;
    b.assert_shows(&texts.get("submission_page.status", "fr", &[]))
        .await;
    b.screenshot("fr", 23, "submission").await;
    b.sign_out().await;
    b.visit("/sign-up").await;
    b.assert_shows(&texts.get("sign_up.title", "fr", &[])).await;
    b.screenshot("fr", 10, "sign-up").await;
}
