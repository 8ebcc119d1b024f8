//! The go-live journey in the browser, each role as a person would go through it: a
//! provider signs up and confirms the address from the email, … (extended as the provider,
//! review and admin pages land).

use super::harness::{Backend, Browser, Chromium, PASSWORD, Server};
use super::texts::Texts;

/// The provider who signs up.
const PROVIDER_EMAIL: &str = "olga@acme.test";
const PROVIDER_NAME: &str = "Olga Owner";

pub async fn run(chromium: &Chromium, backend: &Backend) {
    let texts = Texts::load();
    let server = Server::start(backend);
    let mut browser = Browser::start(chromium, &server.base, backend.name).await;

    sign_up(&mut browser, &server, &texts).await;

    browser.finish().await;
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
    browser.click("#sign-up-form button[type=submit]").await;
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
}
