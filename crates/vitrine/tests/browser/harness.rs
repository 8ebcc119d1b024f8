//! What the browser tests stand on: Debian's chromium driven through chromedriver, the real
//! `vitrine serve` on a fresh database (SQLite, and PostgreSQL when configured), the API as
//! an admin script would call it, and screenshots under `target/screenshots/`.
//!
//! Everything runs on loopback. Panics instead of errors: a test that cannot prepare its
//! world should stop with a clear message.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};
use vitrine_store_testing::TestDatabase;

pub const VITRINE: &str = env!("CARGO_BIN_EXE_vitrine");
/// Set to `1` to make a missing chromium or chromedriver a failure instead of a skip.
pub const REQUIRE_CHROMIUM_VAR: &str = "VITRINE_TEST_REQUIRE_CHROMIUM";
/// The password every user of these tests has.
pub const PASSWORD: &str = "correct horse battery";
/// How long a page condition may take before the test gives up. Generous: two cores build
/// and test at once on CI.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// Configuration variables of the binary: removed from the child's environment so the
/// developer's own settings cannot change what a test sees.
const CONFIG_VARS: &[&str] = &[
    "VITRINE_CONFIG",
    "VITRINE_LISTEN",
    "VITRINE_DATA_DIR",
    "VITRINE_DATABASE_URL",
    "VITRINE_SECURE_COOKIES",
    "VITRINE_MAX_BODY_BYTES",
    "VITRINE_LOG",
    "VITRINE_TEST_CLOCK",
    "VITRINE_PUBLIC_URL",
    "VITRINE_SCHEDULER_INTERVAL_SECS",
    "VITRINE_SMTP_HOST",
];

/// Where the browser and its driver are installed.
#[derive(Debug, Clone)]
pub struct Chromium {
    browser: PathBuf,
    driver: PathBuf,
}

impl Chromium {
    /// Debian's `chromium` and `chromedriver` from `PATH`, or `None` after saying plainly that
    /// the test skipped (a failure when [`REQUIRE_CHROMIUM_VAR`] is `1`).
    pub fn find() -> Option<Chromium> {
        let browser = on_path("chromium");
        let driver = on_path("chromedriver");
        if let (Some(browser), Some(driver)) = (browser.clone(), driver.clone()) {
            return Some(Chromium { browser, driver });
        }
        let missing: Vec<&str> = [("chromium", &browser), ("chromedriver", &driver)]
            .into_iter()
            .filter(|(_, found)| found.is_none())
            .map(|(name, _)| name)
            .collect();
        if std::env::var(REQUIRE_CHROMIUM_VAR).is_ok_and(|v| v == "1") {
            panic!(
                "{REQUIRE_CHROMIUM_VAR}=1 but {missing:?} are not on PATH \
                 (Debian: apt install chromium chromium-driver)"
            );
        }
        eprintln!(
            "skipped: browser tests need {missing:?} on PATH \
             (Debian: apt install chromium chromium-driver)"
        );
        None
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A port nobody listens on right now (the program given it binds it soon after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}

/// Stops a process group started with `process_group(0)`: chromedriver and the chromium it
/// started, even when a test panicked before closing its session.
fn kill_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The directory Cargo builds into: `CARGO_TARGET_DIR`, else the one holding this test
/// binary (`<target>/debug/deps/browser-…`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(dir)
        };
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// One database the server runs on.
pub struct Backend {
    /// `sqlite` or `postgres`: the screenshots' folder.
    pub name: &'static str,
    /// PostgreSQL's database; SQLite lives in the server's data directory.
    database: Option<TestDatabase>,
}

impl Backend {
    /// SQLite, then PostgreSQL when `VITRINE_TEST_DATABASE_URL` is set.
    pub async fn all() -> Vec<Backend> {
        let mut all = vec![Backend {
            name: "sqlite",
            database: None,
        }];
        if let Some(database) = TestDatabase::postgres().await {
            all.push(Backend {
                name: "postgres",
                database: Some(database),
            });
        }
        all
    }
}

/// `vitrine` with a clean environment, on `data_dir` and the backend's database.
fn vitrine(data_dir: &Path, backend: &Backend) -> Command {
    let mut command = Command::new(VITRINE);
    for var in CONFIG_VARS {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command.arg("--data-dir").arg(data_dir);
    if let Some(database) = &backend.database {
        command.arg("--database-url").arg(&database.url);
    }
    command
}

/// A running `vitrine serve --test-clock` on a fresh data directory, with the first admin
/// bootstrapped; stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`: also the pages' origin.
    pub base: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    /// The first admin's API token.
    pub admin_token: String,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(backend: &Backend) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data_dir = dir.path().join("data");
        let bootstrap = vitrine(&data_dir, backend)
            .args(["admin", "bootstrap", "--email", "admin@market.test"])
            .args(["--name", "Ada Admin"])
            .output()
            .expect("run vitrine admin bootstrap");
        let out = String::from_utf8_lossy(&bootstrap.stdout);
        assert!(
            bootstrap.status.success(),
            "admin bootstrap failed: {out}\n{}",
            String::from_utf8_lossy(&bootstrap.stderr)
        );
        let admin_token = out.lines().last().unwrap_or_default().trim().to_owned();

        // The port is chosen first so that email links lead back to this server.
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.path().join("serve.log");
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let mut child = vitrine(&data_dir, backend)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &base])
            // Time moves only when the test moves it; advancing runs the due steps at once.
            .args(["--test-clock", "--scheduler-interval-secs", "0"])
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("start vitrine serve");
        let stdout = child.stdout.take().expect("serve's stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("vitrine listening on ") {
                    let _ = sender.send(());
                }
            }
        });
        let server = Server {
            child,
            base,
            data_dir,
            log,
            admin_token,
            _dir: dir,
        };
        if receiver.recv_timeout(Duration::from_secs(60)).is_err() {
            panic!(
                "vitrine serve did not say it listens within 60 s\n{}",
                server.log()
            );
        }
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The API as the first admin.
    pub fn admin(&self) -> Api {
        Api::new(&self.base, &self.admin_token)
    }

    /// The newest email to `to` whose text contains `needle`, read from the `.eml` files the
    /// server writes under `<data-dir>/mail/`; waits for the dispatcher (it polls each
    /// second) within [`PAGE_WAIT`].
    pub async fn email_to(&self, to: &str, needle: &str) -> String {
        let mail_dir = self.data_dir.join("mail");
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
            for entry in walk(&mail_dir) {
                let Ok(raw) = std::fs::read(&entry) else {
                    continue;
                };
                let Some(message) = mail_parser::MessageParser::default().parse(&raw) else {
                    continue;
                };
                let addressed = message
                    .to()
                    .into_iter()
                    .flat_map(|list| list.iter())
                    .any(|addr| addr.address().is_some_and(|a| a.eq_ignore_ascii_case(to)));
                let text = message
                    .body_text(0)
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if addressed && text.contains(needle) {
                    let modified = std::fs::metadata(&entry)
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    found.push((modified, text));
                }
            }
            if let Some((_, text)) = found.into_iter().max_by_key(|(at, _)| *at) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no email to {to} containing {needle:?} under {} within {PAGE_WAIT:?}\n{}",
                mail_dir.display(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every file under `dir`, recursively (an absent directory has none).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                files.push(path);
            }
        }
    }
    files
}

/// The JSON API with a bearer token, as a script would call it.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    /// One call that must succeed; its JSON answer (`null` for an empty one).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {path} answered {status}: {text}"
        );
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path} answered bad JSON ({e}): {text}"))
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// The API as `email` (password [`PASSWORD`]): signs in and makes a personal token, as
    /// the README's scripts do.
    pub async fn sign_in_as(base: &str, email: &str) -> Api {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("an HTTP client");
        let signed_in = client
            .post(format!("{base}/api/v1/auth/sign-in"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("sign in {email}: {e}"));
        assert!(
            signed_in.status().is_success(),
            "sign in {email} answered {}",
            signed_in.status()
        );
        let token: Value = client
            .post(format!("{base}/api/v1/me/tokens"))
            .json(&json!({"name": "browser tests"}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("a token for {email}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("a token for {email}: {e}"));
        Api::new(base, &string_at(&token, "/secret"))
    }

    /// `PUT` of raw bytes (a recording in one request); the JSON answer.
    pub async fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> Value {
        let response = self
            .client
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "PUT {path} answered {status}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("PUT {path} answered bad JSON ({e}): {text}"))
    }

    /// Moves the test clock to `to` (RFC 3339) and runs the steps then due.
    pub async fn advance_clock_to(&self, to: &str) -> Value {
        self.post("/api/v1/test-clock/advance", json!({ "to": to }))
            .await
    }

    /// A user with [`PASSWORD`] (and staff roles when given); their id.
    pub async fn create_user(&self, email: &str, name: &str, staff: Option<Value>) -> String {
        let mut body = json!({"email": email, "display_name": name, "password": PASSWORD});
        if let Some(staff) = staff {
            body["staff"] = staff;
        }
        let user = self.post("/api/v1/users", body).await;
        string_at(&user, "/id")
    }

    /// An account owned by `owner`; its id.
    pub async fn create_account(&self, name: &str, owner: &str) -> String {
        let account = self
            .post(
                "/api/v1/accounts",
                json!({"name": name, "owner_user_id": owner}),
            )
            .await;
        string_at(&account, "/id")
    }
}

/// The string at a JSON pointer; panics naming what is missing.
pub fn string_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
        .to_owned()
}

/// A chromium session over chromedriver, both stopped when dropped, that checks every page
/// it shows loads nothing from another host.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Origin every page and everything it loads must come from.
    pub origin: String,
    screenshots: PathBuf,
    /// Every URL the pages loaded, for the report of what was checked.
    pub pages_checked: Vec<String>,
}

impl Browser {
    /// A new headless chromium (English, 1280×900) for the server at `origin`; screenshots
    /// go to `target/screenshots/<backend>/`.
    pub async fn start(chromium: &Chromium, origin: &str, backend: &str) -> Browser {
        let port = free_port();
        let mut driver = Command::new(&chromium.driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping it also stops the chromium it started.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.driver.display()));
        let webdriver = format!("http://127.0.0.1:{port}");

        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.browser,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--disable-default-apps", "--disable-extensions", "--disable-breakpad",
                    "--no-default-browser-check", "--mute-audio", "--lang=en-US",
                    "--window-size=1280,900",
                    // Media plays without a click, so the validator's video loads its metadata.
                    "--autoplay-policy=no-user-gesture-required",
                ],
                "prefs": {"intl": {"accept_languages": "en-US,en"}},
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        // chromedriver takes a moment to listen: retry the session within a bound.
        let deadline = Instant::now() + PAGE_WAIT;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    if Instant::now() >= deadline {
                        kill_group(&mut driver);
                        panic!("cannot open a chromium session through {webdriver}: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let screenshots = target_dir().join("screenshots").join(backend);
        std::fs::create_dir_all(&screenshots)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", screenshots.display()));
        Browser {
            client,
            driver,
            origin: origin.to_owned(),
            screenshots,
            pages_checked: Vec::new(),
        }
    }

    /// Closes the session (chromium exits) and stops chromedriver.
    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        kill_group(&mut self.driver);
    }

    /// Opens `path` of the server (or an absolute URL) and checks the page.
    pub async fn visit(&mut self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.origin)
        };
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
        self.check_page().await;
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|url| url.to_string())
            .unwrap_or_default()
    }

    /// The HTTP status the current page was served with.
    pub async fn status(&self) -> u64 {
        self.script(
            "const nav = performance.getEntriesByType('navigation')[0]; \
             return nav ? nav.responseStatus : 0;",
            vec![],
        )
        .await
        .as_u64()
        .unwrap_or(0)
    }

    /// Runs `script` (a function body) in the page.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Checks that the current page and everything it loaded or refers to as a resource
    /// (scripts, styles, images, media, frames) come from the server's own origin.
    pub async fn check_page(&mut self) {
        let loaded = self
            .script(
                r#"
                const urls = [document.location.href];
                for (const entry of performance.getEntriesByType('resource')) urls.push(entry.name);
                const selector = 'script[src], link[href], img[src], img[srcset], video[src], \
                    video[poster], audio[src], source[src], track[src], iframe[src], \
                    embed[src], object[data], input[type=image][src]';
                for (const el of document.querySelectorAll(selector)) {
                    for (const attr of ['src', 'href', 'poster', 'data']) {
                        const value = el.getAttribute(attr);
                        if (value) urls.push(new URL(value, document.baseURI).href);
                    }
                    const srcset = el.getAttribute('srcset');
                    if (srcset) for (const part of srcset.split(',')) {
                        const url = part.trim().split(/\s+/)[0];
                        if (url) urls.push(new URL(url, document.baseURI).href);
                    }
                }
                return urls.map(url => [url, url.startsWith('data:') ? 'data:' : new URL(url).origin]);
                "#,
                vec![],
            )
            .await;
        let urls: Vec<(String, String)> =
            serde_json::from_value(loaded).expect("a list of URLs and their origins");
        let page = urls.first().map(|(url, _)| url.clone()).unwrap_or_default();
        for (url, origin) in &urls {
            // data: URLs are inline (the policy allows them for images): no host at all.
            if origin == "data:" {
                continue;
            }
            assert_eq!(
                origin, &self.origin,
                "{page} loads {url}, which is not from the server's origin"
            );
        }
        self.pages_checked.push(page);
    }

    /// Waits within [`PAGE_WAIT`] for an element.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "{css} did not appear on {} within {PAGE_WAIT:?}: {e}\n--- page text ---\n{}",
                self.url().await,
                self.text().await
            ),
        }
    }

    /// Waits within [`PAGE_WAIT`] until `script` (a function body) returns `true`.
    pub async fn wait_until(&self, what: &str, script: &str, args: Vec<Value>) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let value = self
                .client
                .execute(script, args.clone())
                .await
                .unwrap_or(Value::Null);
            if value == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not so within {PAGE_WAIT:?} on {}\n--- page text ---\n{}",
                self.url().await,
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the page at `path` (after a form or a link took the browser there), then
    /// checks it.
    pub async fn wait_for_path(&mut self, path: &str) {
        let wanted = path.to_owned();
        self.wait_until(
            &format!("the browser is at {wanted}"),
            "return document.readyState === 'complete' && location.pathname === arguments[0];",
            vec![json!(wanted)],
        )
        .await;
        self.check_page().await;
    }

    /// What the page shows, as a reader sees it.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Asserts the page shows `wanted`.
    pub async fn assert_shows(&self, wanted: &str) {
        let text = self.text().await;
        assert!(
            text.contains(wanted),
            "{} does not show {wanted:?}\n--- page text ---\n{text}",
            self.url().await
        );
    }

    /// Asserts the page does not show `unwanted`.
    pub async fn assert_hides(&self, unwanted: &str) {
        let text = self.text().await;
        assert!(
            !text.contains(unwanted),
            "{} shows {unwanted:?}\n--- page text ---\n{text}",
            self.url().await
        );
    }

    /// Types `value` into the field with this CSS selector (emptied first).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.ok();
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Clicks the element with this CSS selector.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks what submits a form or follows a link, waits for the new page to load (even
    /// one at the same address) and checks it.
    pub async fn click_to_load(&mut self, css: &str) {
        self.script("window.vitrineOldPage = true;", vec![]).await;
        self.click(css).await;
        self.wait_until(
            &format!("a new page loads after clicking {css}"),
            "return window.vitrineOldPage === undefined && document.readyState === 'complete';",
            vec![],
        )
        .await;
        self.check_page().await;
    }

    /// Clicks the first button or link whose text is `label` within `scope` (CSS).
    pub async fn click_labelled(&self, scope: &str, label: &str) {
        let xpath = format!(
            "//*[self::button or self::a or self::input[@type='submit']]\
             [normalize-space(.)={label:?} or @value={label:?}]"
        );
        let scope_element = self.wait_for(scope).await;
        let target = scope_element
            .find(Locator::XPath(&format!(".{xpath}")))
            .await
            .unwrap_or_else(|e| panic!("no button or link {label:?} in {scope} on the page: {e}"));
        target
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {label:?}: {e}"));
    }

    /// Saves a PNG of the page as `<lang>-<nn>-<page>.png`.
    pub async fn screenshot(&self, lang: &str, number: u32, page: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("cannot take a screenshot of {page}: {e}"));
        assert!(
            png.starts_with(b"\x89PNG"),
            "the screenshot of {page} is not a PNG"
        );
        let path = self
            .screenshots
            .join(format!("{lang}-{number:02}-{page}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Signs in through the sign-in page and waits for the redirect back.
    pub async fn sign_in(&mut self, email: &str) {
        self.visit("/sign-in").await;
        self.fill("#f-email", email).await;
        self.fill("#f-password", PASSWORD).await;
        self.click_to_load("form[action='/sign-in'] button[type=submit]")
            .await;
        self.wait_for("form[action='/sign-out']").await;
    }

    /// Signs out with the header's button.
    pub async fn sign_out(&mut self) {
        self.click_to_load("form[action='/sign-out'] button").await;
        self.wait_for("a[href^='/sign-in']").await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}
