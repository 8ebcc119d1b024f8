//! The web interface in a real browser: Debian's chromium, driven through chromedriver with
//! fantoccini, against the real `vitrine serve` (test clock on) on SQLite and, when
//! `VITRINE_TEST_DATABASE_URL` is set, PostgreSQL.
//!
//! Without chromium and chromedriver on `PATH` every test here says it skipped;
//! `VITRINE_TEST_REQUIRE_CHROMIUM=1` (set by .ci/run) makes that a failure. Every page a
//! test shows is checked to load nothing from another host, and the key pages are saved
//! as `target/screenshots/<backend>/<lang>-<nn>-<page>.png`.

#[path = "browser/cross_site.rs"]
mod cross_site;
#[path = "browser/harness.rs"]
mod harness;
#[path = "browser/journey.rs"]
mod journey;
#[path = "browser/more.rs"]
mod more;
#[path = "browser/setup.rs"]
mod setup;
#[path = "browser/texts.rs"]
mod texts;

use serde_json::json;

use harness::{Backend, Browser, Chromium, Server};
use texts::Texts;

/// Anonymous and signed-in reading of the pages everyone has, in English and French, each
/// checked for foreign hosts; the language switch changes the words and keeps the place.
#[tokio::test(flavor = "multi_thread")]
async fn public_pages_in_both_languages() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let texts = Texts::load();
    for backend in Backend::all().await {
        let server = Server::start(&backend);
        setup::admin_password(&server).await;
        let mut browser = Browser::start(&chromium, &server.base, backend.name).await;

        browser.visit("/").await;
        browser
            .assert_shows(&texts.get("catalog.title", "en", &[]))
            .await;
        browser
            .assert_shows(&texts.get("catalog.count", "en", &[("count", "0")]))
            .await;
        browser.screenshot("en", 1, "catalog").await;

        browser.visit("/sign-in").await;
        browser
            .assert_shows(&texts.get("sign_in.title", "en", &[]))
            .await;
        browser.screenshot("en", 2, "sign-in").await;

        // A wrong password is refused on the page, and what was typed (but the password) stays.
        browser.fill("#f-email", "admin@market.test").await;
        browser.fill("#f-password", "not the password").await;
        browser
            .click_to_load("form[action='/sign-in'] button[type=submit]")
            .await;
        browser.wait_for("[role=alert]").await;
        browser.check_page().await;
        let typed = browser
            .script("return document.getElementById('f-email').value;", vec![])
            .await;
        assert_eq!(typed, json!("admin@market.test"));
        browser.assert_hides("Ada Admin").await;

        // The switch keeps the reader on the page they were reading.
        browser.visit("/sign-in").await;
        browser
            .click_to_load("form.lang-switch button[name=lang]")
            .await;
        browser
            .wait_until(
                "the page is in French",
                "return document.documentElement.lang === 'fr';",
                vec![],
            )
            .await;
        browser.wait_for_path("/sign-in").await;
        browser
            .assert_shows(&texts.get("sign_in.title", "fr", &[]))
            .await;
        browser.screenshot("fr", 2, "sign-in").await;
        browser.visit("/").await;
        browser
            .assert_shows(&texts.get("catalog.title", "fr", &[]))
            .await;
        browser
            .assert_shows(&texts.get("catalog.empty", "fr", &[]))
            .await;
        browser.screenshot("fr", 1, "catalog").await;

        // Signed in, the admin's own setting (English) wins over the visitor's cookie.
        browser.sign_in("admin@market.test").await;
        browser.assert_shows("Ada Admin").await;
        browser
            .assert_shows(&texts.get("nav.sign_out", "en", &[]))
            .await;
        browser.visit("/account").await;
        browser
            .assert_shows(&texts.get("account.title", "en", &[]))
            .await;
        browser.screenshot("en", 3, "account").await;
        browser.sign_out().await;
        browser
            .assert_shows(&texts.get("notice.signed_out", "fr", &[]))
            .await;

        browser.finish().await;
    }
}

/// A form posted from another origin is refused with 403 and changes nothing, even when
/// that origin can read vitrine's CSRF cookie (another port of the same host).
#[tokio::test(flavor = "multi_thread")]
async fn forms_from_another_origin_are_refused() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let texts = Texts::load();
    for backend in Backend::all().await {
        let server = Server::start(&backend);
        setup::admin_password(&server).await;
        let mut browser = Browser::start(&chromium, &server.base, backend.name).await;
        browser.sign_in("admin@market.test").await;

        // Same host, another port: same site, other origin; the CSRF cookie is readable there.
        let same_host = cross_site::OtherSite::start(&server.base, "").await;
        browser
            .client
            .goto(&format!(
                "http://127.0.0.1:{}/post/sign-out",
                same_host.port
            ))
            .await
            .expect("open the other origin's page");
        refused_at(&mut browser, &texts, "/sign-out").await;
        browser.screenshot("en", 4, "cross-site-refused").await;
        browser.visit("/").await;
        browser.assert_shows("Ada Admin").await;
        browser.wait_for("form[action='/sign-out']").await;

        // Another site altogether (localhost is not 127.0.0.1 to a browser).
        let other_site = cross_site::OtherSite::start(&server.base, "lang=fr&_next=/").await;
        browser
            .client
            .goto(&format!(
                "http://localhost:{}/post/language",
                other_site.port
            ))
            .await
            .expect("open the other site's page");
        refused_at(&mut browser, &texts, "/language").await;
        browser.visit("/").await;
        browser
            .assert_shows(&texts.get("catalog.title", "en", &[]))
            .await;
        let me = server.admin().get("/api/v1/me").await;
        assert_eq!(
            me.pointer("/user/language"),
            Some(&json!("en")),
            "a cross-site post changed the admin's language: {me}"
        );

        // The same switch from vitrine's own page works: the refusals above were not luck.
        browser
            .click_to_load("form.lang-switch button[name=lang]")
            .await;
        browser
            .wait_until(
                "the page is in French",
                "return document.documentElement.lang === 'fr';",
                vec![],
            )
            .await;
        browser.finish().await;
    }
}

/// Waits for vitrine's answer at `path` after another origin's form posted there, and
/// checks it is the 403 page saying why.
async fn refused_at(browser: &mut Browser, texts: &Texts, path: &str) {
    browser.wait_for_path(path).await;
    assert_eq!(
        browser.status().await,
        403,
        "vitrine accepted a form posted from another origin to {path}"
    );
    browser
        .assert_shows(&texts.get("error.cross_site", "en", &[]))
        .await;
}

/// Markup in a provider's text is shown as text: no script runs, no element is made.
#[tokio::test(flavor = "multi_thread")]
async fn markup_in_a_description_shows_as_text() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    for backend in Backend::all().await {
        let server = Server::start(&backend);
        let admin = server.admin();
        let provider =
            setup::approved_provider(&admin, "olga@acme.test", "Olga <b>Owner</b>", "Acme").await;
        let description =
            r#"<script>alert("xss")</script><img src=x onerror=alert(1)> <b>bold</b>"#;
        setup::offering(&admin, &provider, "acme-xss", description).await;

        let mut browser = Browser::start(&chromium, &server.base, backend.name).await;
        browser.sign_in("olga@acme.test").await;
        browser.assert_shows("Olga <b>Owner</b>").await;
        browser.visit("/offerings/acme-xss").await;
        let shown = browser.wait_for(".description").await;
        assert_eq!(
            shown.text().await.expect("the description's text"),
            description
        );
        let made = browser
            .script(
                "return document.querySelectorAll('main script, main img, main b, .account b').length;",
                vec![],
            )
            .await;
        assert_eq!(made, json!(0), "the description's markup became elements");
        assert!(
            browser.client.get_alert_text().await.is_err(),
            "a script from the description opened an alert"
        );
        browser.visit("/").await;
        browser
            .assert_shows(r#"<script>alert("xss")</script>"#)
            .await;
        assert!(browser.client.get_alert_text().await.is_err());
        browser.screenshot("en", 5, "markup-as-text").await;
        browser.finish().await;
    }
}

/// The whole go-live journey, each role in the browser; see `journey.rs`.
#[tokio::test(flavor = "multi_thread")]
async fn go_live_journey_in_the_browser() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    for backend in Backend::all().await {
        journey::run(&chromium, &backend).await;
    }
}

/// An upload survives a dropped connection and a reloaded page; see `more.rs`.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_survives_a_dropped_connection_and_a_reload() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    for backend in Backend::all().await {
        more::upload_survives_drop_and_reload(&chromium, &backend).await;
    }
}

/// A forgotten password reset from the sign-in page through the emailed link.
#[tokio::test(flavor = "multi_thread")]
async fn password_reset_in_the_browser() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    for backend in Backend::all().await {
        more::password_reset(&chromium, &backend).await;
    }
}

/// A provider withdraws a queued submission; an admin unpublishes a public offering.
#[tokio::test(flavor = "multi_thread")]
async fn withdraw_and_unpublish_in_the_browser() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    for backend in Backend::all().await {
        more::withdraw_and_unpublish(&chromium, &backend).await;
    }
}
