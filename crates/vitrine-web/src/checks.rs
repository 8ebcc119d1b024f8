//! The checked prerequisites' pages: starting a run, and a run's report
//! (`/checks/{name}` for the latest, `/checks/{name}/{run}` for one), which the provider
//! and the validators read alike: each check with its outcome, the spec's words, the
//! requests and answers, what changed since the run before, and the history.

use axum::Router;
use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{Call, Form, Page, Web, WebError, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/checks/{name}", get(latest_report).post(start_run))
        .route("/checks/{name}/{run}", get(report))
}

fn api_checks(name: &str) -> String {
    format!("/api/v1/offerings/{}/checks", urlencode(name))
}

/// What the offering editor shows of the broker and the runs (its `#broker` section, whose
/// form the editor handles: `provider::register_broker`).
pub(crate) async fn editor_section(page: &mut Page, name: &str) -> Result<Value, WebError> {
    let broker = page
        .get(&format!("/api/v1/offerings/{}/broker", urlencode(name)))
        .await?;
    let runs = page.get(&api_checks(name)).await?;
    let latest = runs["items"].get(0).cloned().unwrap_or(Value::Null);
    Ok(json!({
        "registration": broker["registration"],
        "versions": broker["versions"],
        "latest_run": latest,
    }))
}

async fn start_run(page: Page, Path(name): Path<String>, form: Form) -> Result<Response, WebError> {
    let report_of = {
        let name = name.clone();
        move |run: &Value| {
            format!(
                "/checks/{}/{}",
                urlencode(&name),
                urlencode(run["id"].as_str().unwrap_or_default())
            )
        }
    };
    let action = Call::new(Method::POST, api_checks(&name), json!({}))
        .redirect_by(report_of, Some("notice.checks_started"));
    page.submit(action, async |mut page, reply| {
        let context = report_context(&mut page, &name, None).await?;
        page.refused("checks.html", context, &form, &reply)
    })
    .await
}

async fn latest_report(mut page: Page, Path(name): Path<String>) -> Result<Response, WebError> {
    let context = report_context(&mut page, &name, None).await?;
    page.render("checks.html", context)
}

async fn report(
    mut page: Page,
    Path((name, run)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let context = report_context(&mut page, &name, Some(&run)).await?;
    page.render("checks.html", context)
}

/// The report page's context: the run asked for (else the latest), its report and changes,
/// and the history.
async fn report_context(page: &mut Page, name: &str, run: Option<&str>) -> Result<Value, WebError> {
    let runs = page.get(&api_checks(name)).await?;
    let run_id = run
        .map(str::to_owned)
        .or_else(|| runs["items"][0]["id"].as_str().map(str::to_owned));
    let view = match run_id {
        Some(id) => {
            page.get(&format!("{}/{}", api_checks(name), urlencode(&id)))
                .await?
        }
        None => Value::Null,
    };
    let checks = view["report"]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |outcome: &str| checks.iter().filter(|c| c["outcome"] == outcome).count();
    Ok(json!({
        "name": name,
        "runs": runs["items"],
        "run": view["run"],
        "report": view["report"],
        "changes": view["changes"],
        "passed": count("passed"),
        "failed": count("failed"),
        "skipped": count("skipped"),
        "under_way": matches!(view["run"]["state"].as_str(), Some("queued" | "running")),
    }))
}
