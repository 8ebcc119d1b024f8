//! Health, readiness, metrics, problem type pages and the OpenAPI document.

use vitrine_server::ServerConfig;
use vitrine_store_testing::TestDatabase;

use crate::support::{TestApp, each_backend};

#[tokio::test]
async fn health_readiness_and_metrics() {
    each_backend(|app| async move {
        let c = app.anonymous();
        let health = c.get("/healthz").await.expect_status(200);
        assert_eq!(health.body, b"ok\n");
        c.get("/readyz").await.expect_status(200);
        c.get("/api/v1/catalog/some-svc").await.expect_status(404);
        let metrics = c.get("/metrics").await.expect_status(200);
        let text = String::from_utf8_lossy(&metrics.body);
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
            "{text}"
        );
        // Route templates, never raw paths (one series per offering name would explode).
        assert!(
            text.contains(r#"route="/api/v1/catalog/{name}",status="404""#),
            "{text}"
        );
        assert!(!text.contains("some-svc"));
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );

        let page = c.get("/problems/not-found").await.expect_status(200);
        assert!(String::from_utf8_lossy(&page.body).contains("hidden"));
        c.get("/problems/no-such-problem")
            .await
            .problem(404, "not-found");
    })
    .await;
}

#[tokio::test]
async fn openapi_document_snapshot() {
    let app = TestApp::start(TestDatabase::sqlite().await, ServerConfig::default()).await;
    let document = app
        .anonymous()
        .get("/api/openapi.json")
        .await
        .expect_status(200)
        .json();
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    // Every route the server answers is documented.
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/catalog",
        "/api/v1/catalog/{name}",
        "/api/v1/audit",
        "/api/v1/offerings/{name}/allowlist/{account_id}",
        "/api/v1/auth/sign-in",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    // An absolute snapshot folder: insta otherwise derives it from the workspace root, which
    // it misplaces when `cargo metadata` fails (say, while another crate is half-written).
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/snapshots"));
    // The time zones are the machine's database (what the server validates against).
    let zones = document["components"]["schemas"]["TimeZone"]["enum"]
        .as_array()
        .expect("time zones");
    assert!(zones.iter().any(|z| z == "Europe/Paris") && zones.iter().any(|z| z == "UTC"));
    settings.add_redaction(
        ".components.schemas.TimeZone.enum",
        "[the time zone database's names]",
    );
    // The submission list's `state` pattern names every state there is.
    let state_pattern = document["paths"]["/api/v1/submissions"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "state"))
        .and_then(|p| p["schema"]["pattern"].as_str())
        .expect("the state parameter's pattern")
        .to_owned();
    let names: Vec<&str> = state_pattern
        .strip_prefix("^(?:")
        .and_then(|rest| rest.split(')').next())
        .expect("a group of names")
        .split('|')
        .collect();
    for state in vitrine_domain::submission::SubmissionState::ALL {
        assert!(
            names.contains(&state.as_str()),
            "{} missing from {state_pattern}",
            state.as_str()
        );
    }
    // Every field rule was replaced by its pattern: a marker left means a rule misnamed.
    let text = document.to_string();
    assert!(
        !text.contains("vitrine:"),
        "a field names a rule that does not exist"
    );
    settings.bind(|| insta::assert_json_snapshot!("openapi", document));
}

#[tokio::test]
async fn readiness_fails_once_draining_starts_and_requests_still_work() {
    let draining = vitrine_http::shutdown::Draining::default();
    let config = ServerConfig {
        draining: draining.clone(),
        ..ServerConfig::default()
    };
    let app = TestApp::start(TestDatabase::sqlite().await, config).await;
    let c = app.anonymous();
    c.get("/readyz").await.expect_status(200);
    draining.start();
    let problem = c.get("/readyz").await.problem(503, "unavailable");
    assert_eq!(problem["detail"], "the server is shutting down");
    // Draining is for the load balancer: what still arrives is served.
    c.get("/healthz").await.expect_status(200);
    c.get("/api/v1/catalog").await.expect_status(200);
}

#[tokio::test]
async fn every_response_in_the_document_is_described_and_every_error_is_a_problem() {
    let app = TestApp::start(TestDatabase::sqlite().await, ServerConfig::default()).await;
    let doc = app
        .anonymous()
        .get("/api/openapi.json")
        .await
        .expect_status(200)
        .json();
    let mut undescribed = Vec::new();
    let mut not_problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            // A HEAD answer has no body to describe the problem in.
            if method == "head" || method == "parameters" {
                continue;
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if response.get("$ref").is_some() {
                    continue;
                }
                let described = response["description"]
                    .as_str()
                    .is_some_and(|d| !d.trim().is_empty());
                if !described {
                    undescribed.push(format!("{method} {path} {status}"));
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let problem = response["content"]["application/problem+json"].is_object();
                    if !problem {
                        not_problems.push(format!("{method} {path} {status}"));
                    }
                }
            }
        }
    }
    assert!(
        undescribed.is_empty(),
        "responses without a description: {undescribed:#?}"
    );
    assert!(
        not_problems.is_empty(),
        "errors that are not problems: {not_problems:#?}"
    );
}
