//! The provider's pages: their accounts and provider applications, their offerings (create,
//! edit the listing and plans, the onboarding checklist, the broker, visibility and
//! allowlist), and the go-live request (the gate, the draft round with its recordings,
//! notes and date, submit).
//!
//! Every form maps to one API call (two for "save and submit"); the rules are the API's.

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use vitrine_domain::submission::SubmissionState;

use super::{ApiReply, Call, Form, Page, Web, WebError, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/provider", get(overview))
        .route(
            "/provider/accounts/{account_id}/application",
            post(apply_as_provider),
        )
        .route(
            "/provider/offerings/new",
            get(new_offering_page).post(create_offering),
        )
        .route(
            "/provider/offerings/{name}",
            get(editor).post(update_listing),
        )
        .route(
            "/provider/offerings/{name}/checklist/{step}",
            post(attest_step),
        )
        .route("/provider/offerings/{name}/broker", post(register_broker))
        .route("/provider/offerings/{name}/revisions", post(start_revision))
        .route(
            "/provider/offerings/{name}/visibility",
            post(set_visibility),
        )
        .route("/provider/offerings/{name}/allowlist", post(allow_account))
        .route(
            "/provider/offerings/{name}/allowlist/{account_id}/remove",
            post(disallow_account),
        )
        .route(
            "/provider/offerings/{name}/go-live",
            get(go_live_page).post(start_go_live),
        )
        .route("/provider/submissions/{id}/round", post(save_round))
        .route("/provider/submissions/{id}/submit", post(submit_round))
        .route(
            "/provider/submissions/{id}/recordings",
            post(attach_recording),
        )
}

/// Blank plan rows offered under the existing ones (blank rows are left out when saved).
const BLANK_PLAN_ROWS: usize = 3;

/// The steps the provider attests (the platform derives the other two).
const ATTESTED_STEPS: [&str; 3] = ["documentation", "broker_hosted", "authentication_flow"];

/// Whether a submission summary is still open: not in a state that ends it (the domain's
/// rule; another may be started once it ends).
fn is_open(summary: &Value) -> bool {
    summary["state"]
        .as_str()
        .and_then(SubmissionState::parse)
        .is_some_and(|state| !state.is_final())
}

fn api_offering(name: &str) -> String {
    format!("/api/v1/offerings/{}", urlencode(name))
}

fn offering_page(name: &str) -> String {
    format!("/provider/offerings/{}", urlencode(name))
}

fn go_live_path(name: &str) -> String {
    format!("/provider/offerings/{}/go-live", urlencode(name))
}

fn memberships(page: &Page) -> Result<Vec<Value>, WebError> {
    Ok(page
        .require_me()?
        .get("memberships")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Overview: accounts, applications, offerings.

async fn overview_context(page: &mut Page) -> Result<Value, WebError> {
    let mut accounts = Vec::new();
    for membership in memberships(page)? {
        let id = membership["account_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let account = page.get(&format!("/api/v1/accounts/{id}")).await?;
        let offerings = page
            .get(&format!("/api/v1/accounts/{id}/offerings?limit=100"))
            .await?;
        accounts.push(json!({
            "membership": membership,
            "application": account["provider"],
            "offerings": offerings["items"],
            "more_offerings": offerings["next_cursor"].is_string(),
            "is_owner": membership["role"] == "owner",
        }));
    }
    Ok(json!({ "accounts": accounts }))
}

async fn overview(mut page: Page) -> Result<Response, WebError> {
    let context = overview_context(&mut page).await?;
    page.render("provider.html", context)
}

async fn apply_as_provider(
    page: Page,
    Path(account_id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let action = Call::new(
        Method::PUT,
        format!(
            "/api/v1/accounts/{}/provider-application",
            urlencode(&account_id)
        ),
        form.to_json(),
    )
    .redirect("/provider", Some("notice.provider_applied"));
    page.submit(action, async |mut page, reply| {
        let mut context = overview_context(&mut page).await?;
        context["refused_account"] = json!(account_id);
        page.refused("provider.html", context, &form, &reply)
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Offerings: create and edit the listing and plans.

/// The plans form: its rows renumbered without the blank ones (so the API's `plans.N`
/// names the row the user sees), and each row's pricing reduced to the fields of its kind
/// (the form shows every pricing field; the API refuses those of another kind).
pub(crate) fn plan_rows_of(form: &Form) -> Form {
    let mut rows: Vec<(usize, Vec<(String, String)>)> = Vec::new();
    let mut others = Vec::new();
    for (name, value) in &form.fields {
        let Some(rest) = name.strip_prefix("plans[") else {
            others.push((name.clone(), value.clone()));
            continue;
        };
        let Some((index, field)) = rest.split_once(']') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        match rows.iter_mut().find(|(i, _)| *i == index) {
            Some((_, fields)) => fields.push((field.to_owned(), value.clone())),
            None => rows.push((index, vec![(field.to_owned(), value.clone())])),
        }
    }
    rows.sort_by_key(|(index, _)| *index);
    // A row is blank when nothing but its pricing kind (a select, never empty) was given.
    rows.retain(|(_, fields)| {
        fields
            .iter()
            .any(|(field, value)| field != ".pricing.kind" && !value.trim().is_empty())
    });
    let mut fields = others;
    for (new_index, (_, row)) in rows.into_iter().enumerate() {
        let kind = row
            .iter()
            .find(|(field, _)| field == ".pricing.kind")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let keep = |field: &str| match field {
            ".pricing.amount" => kind == "subscription",
            ".pricing.unit" | ".pricing.unit_price" => kind == "metered",
            ".pricing.currency" => kind == "subscription" || kind == "metered",
            _ => true,
        };
        for (field, value) in row {
            if keep(&field) {
                fields.push((format!("plans[{new_index}]{field}"), value));
            }
        }
    }
    Form { fields }
}

/// The plan rows to show: the offering's plans (or what was typed), then blank rows.
pub(crate) fn plan_rows(plans: Option<&Value>, typed: Option<&Form>) -> Vec<Value> {
    let typed_rows = typed
        .map(|form| {
            form.fields
                .iter()
                .filter_map(|(name, _)| name.strip_prefix("plans["))
                .filter_map(|rest| rest.split_once(']'))
                .filter_map(|(index, _)| index.parse::<usize>().ok())
                .max()
                .map_or(0, |max| max + 1)
        })
        .unwrap_or(0);
    // After a refusal the rows are what was typed (renumbered without the blank ones): a
    // stored plan must not reappear under a row the user emptied.
    let existing = match typed {
        Some(_) => Vec::new(),
        None => plans.and_then(Value::as_array).cloned().unwrap_or_default(),
    };
    let count = existing.len().max(typed_rows) + BLANK_PLAN_ROWS;
    (0..count)
        .map(|i| existing.get(i).cloned().unwrap_or(Value::Null))
        .collect()
}

/// The reader's accounts that may have offerings (applied and not rejected), and the same
/// as `[id, name]` options for the account select.
fn provider_accounts(page: &Page) -> Result<(Vec<Value>, Vec<Value>), WebError> {
    let accounts: Vec<Value> = memberships(page)?
        .into_iter()
        .filter(|m| m["provider_status"] == "approved" || m["provider_status"] == "pending")
        .collect();
    let options = accounts
        .iter()
        .map(|m| json!([m["account_id"], m["account_name"]]))
        .collect();
    Ok((accounts, options))
}

#[derive(Debug, Default, Deserialize)]
struct NewOfferingQuery {
    account: Option<String>,
}

async fn new_offering_page(
    page: Page,
    Query(query): Query<NewOfferingQuery>,
) -> Result<Response, WebError> {
    let (accounts, account_options) = provider_accounts(&page)?;
    page.render(
        "provider_offering_new.html",
        json!({
            "accounts": accounts,
            "account_options": account_options,
            "account": query.account,
            "plans": plan_rows(None, None),
        }),
    )
}

async fn create_offering(page: Page, form: Form) -> Result<Response, WebError> {
    let (accounts, account_options) = provider_accounts(&page)?;
    let form = plan_rows_of(&form);
    // To the new offering's page, under the name the API gave it.
    let action = Call::new(Method::POST, "/api/v1/offerings", form.to_json()).redirect_by(
        |reply| offering_page(reply["offering"]["name"].as_str().unwrap_or_default()),
        Some("notice.provider_offering_created"),
    );
    page.submit(action, async |page, reply| {
        let context = json!({
            "accounts": accounts,
            "account_options": account_options,
            "account": form.get("provider_account_id"),
            "plans": plan_rows(None, Some(&form)),
        });
        page.refused("provider_offering_new.html", context, &form, &reply)
    })
    .await
}

/// The listing patch a form stands for. Unlike creation, a field emptied in the editor is
/// sent empty, which clears it (the API keeps an absent field).
pub(crate) fn listing_patch(form: &Form) -> Value {
    let mut body = form.to_json();
    if let Value::Object(map) = &mut body {
        for (field, empty) in [
            ("category", json!("")),
            ("documentation_url", json!("")),
            ("support_contact", json!("")),
            ("tags", json!([])),
            ("plans", json!([])),
        ] {
            let present = form
                .fields
                .iter()
                .any(|(name, _)| name.split(':').next() == Some(field))
                || (field == "plans" && form.get("_plans").is_some());
            if present && !map.contains_key(field) {
                map.insert(field.to_owned(), empty);
            }
        }
    }
    body
}

struct EditorData {
    managed: Value,
    submissions: Value,
    broker: Value,
}

async fn editor_data(page: &mut Page, name: &str) -> Result<EditorData, WebError> {
    let managed = page.get(&api_offering(name)).await?;
    let submissions = page
        .get(&format!("{}/submissions", api_offering(name)))
        .await?;
    let broker = super::checks::editor_section(page, name).await?;
    Ok(EditorData {
        managed,
        submissions,
        broker,
    })
}

/// The allowlist as the API names it: each account's name and owners' addresses; an id the
/// API has no account for (deleted since) shows by id.
fn allowlist_rows(managed: &Value) -> Vec<Value> {
    let named = managed["allowlist_accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    managed["offering"]["allowlist"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|id| {
            named
                .iter()
                .find(|a| a["id"] == id)
                .cloned()
                .unwrap_or_else(|| json!({"id": id, "name": null, "owner_emails": []}))
        })
        .collect()
}

fn editor_context(page: &Page, data: EditorData, typed: Option<&Form>) -> Result<Value, WebError> {
    let allowlist = allowlist_rows(&data.managed);
    let me_id = page
        .me
        .as_ref()
        .map(|me| me["user"]["id"].clone())
        .unwrap_or(Value::Null);
    let plans = plan_rows(data.managed["offering"].get("plans"), typed);
    let open_submission = data
        .submissions
        .as_array()
        .and_then(|list| list.iter().rev().find(|s| is_open(s)))
        .cloned();
    Ok(json!({
        "offering": data.managed["offering"],
        "checklist": data.managed["checklist"],
        "completed": data.managed["checklist"]["steps"]
            .as_array()
            .map_or(0, |steps| steps.iter().filter(|s| s["state"] == "complete").count()),
        "allowlist": allowlist,
        "submissions": data.submissions,
        "open_submission": open_submission,
        "plans": plans,
        "me_id": me_id,
        "attested_steps": ATTESTED_STEPS,
        "broker": data.broker,
        "evidence": data.managed["checks"],
        "tags_text": data.managed["offering"]["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default(),
    }))
}

async fn editor(mut page: Page, Path(name): Path<String>) -> Result<Response, WebError> {
    let data = editor_data(&mut page, &name).await?;
    let context = editor_context(&page, data, None)?;
    page.render("provider_offering.html", context)
}

/// Re-renders the editor after the API refused one of its forms.
async fn editor_refused(
    mut page: Page,
    name: &str,
    form: &Form,
    reply: ApiReply,
    section: &str,
) -> Result<Response, WebError> {
    let data = editor_data(&mut page, name).await?;
    let typed = (section == "listing").then_some(form);
    let mut context = editor_context(&page, data, typed)?;
    context["refused_section"] = json!(section);
    page.refused("provider_offering.html", context, form, &reply)
}

/// Makes `call`, the form of the editor's `section`: on success back to the editor (at that
/// section; the listing is the top of the page) with `notice`, else the editor with the
/// refusal beside that section's form.
pub(crate) async fn edit(
    page: Page,
    name: &str,
    form: &Form,
    call: Call,
    section: &str,
    notice: &'static str,
) -> Result<Response, WebError> {
    let anchor = match section {
        "listing" => String::new(),
        section => format!("#{section}"),
    };
    let action = call.redirect(format!("{}{anchor}", offering_page(name)), Some(notice));
    page.submit(action, async |page, reply| {
        editor_refused(page, name, form, reply, section).await
    })
    .await
}

/// The editor's "Broker and checks" form: registers (or changes) the offering's broker.
async fn register_broker(
    page: Page,
    Path(name): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    // An empty password field keeps the stored one: the domain's rule
    // (`vitrine_domain::checks::register_broker`), so the form is sent as it is.
    let call = Call::new(
        Method::PUT,
        format!("/api/v1/offerings/{}/broker", urlencode(&name)),
        form.to_json(),
    );
    edit(
        page,
        &name,
        &form,
        call,
        "broker",
        "notice.checks_broker_saved",
    )
    .await
}

/// A call to the offering's API path followed by `rest` (`/visibility`, …).
fn offering_call(method: Method, name: &str, rest: &str, body: Value) -> Call {
    Call::new(method, format!("{}{rest}", api_offering(name)), body)
}

async fn update_listing(
    page: Page,
    Path(name): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let form = plan_rows_of(&form);
    let call = offering_call(Method::PATCH, &name, "", listing_patch(&form));
    edit(page, &name, &form, call, "listing", "notice.saved").await
}

/// Starts a revision of a live offering (`POST /api/v1/offerings/{name}/revisions`) and
/// opens it on its submission page, where it is edited and submitted.
async fn start_revision(
    page: Page,
    Path(name): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let call = offering_call(Method::POST, &name, "/revisions", json!({}));
    let to = |reply: &Value| {
        let id = reply["submission_id"].as_str().unwrap_or_default();
        format!("/submissions/{}#revision", urlencode(id))
    };
    let action = call.redirect_by(to, Some("notice.revision_started"));
    page.submit(action, async |page, reply| {
        editor_refused(page, &name, &form, reply, "listing").await
    })
    .await
}

async fn attest_step(
    page: Page,
    Path((name, step)): Path<(String, String)>,
    form: Form,
) -> Result<Response, WebError> {
    let path = format!("/checklist/{}", urlencode(&step));
    let body = json!({ "state": form.get("state").unwrap_or_default() });
    let call = offering_call(Method::PUT, &name, &path, body);
    edit(
        page,
        &name,
        &form,
        call,
        "checklist",
        "notice.provider_step_saved",
    )
    .await
}

async fn set_visibility(
    page: Page,
    Path(name): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let call = offering_call(Method::PUT, &name, "/visibility", form.to_json());
    let notice = "notice.provider_visibility_saved";
    edit(page, &name, &form, call, "visibility", notice).await
}

async fn allow_account(
    page: Page,
    Path(name): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let call = offering_call(Method::POST, &name, "/allowlist", form.to_json());
    let notice = "notice.provider_allowlist_added";
    edit(page, &name, &form, call, "allowlist", notice).await
}

async fn disallow_account(
    page: Page,
    Path((name, account_id)): Path<(String, String)>,
    form: Form,
) -> Result<Response, WebError> {
    let path = format!("/allowlist/{}", urlencode(&account_id));
    let call = offering_call(Method::DELETE, &name, &path, Value::Null);
    let notice = "notice.provider_allowlist_removed";
    edit(page, &name, &form, call, "allowlist", notice).await
}

// ---------------------------------------------------------------------------------------
// Go-live: the gate, the open round, submit.

/// The recordings uploaded to a submission, with their file names and sizes.
///
/// Every recording uploaded to the submission, with its file name and size.
async fn uploaded_recordings(page: &mut Page, submission: &Value) -> Result<Vec<Value>, WebError> {
    let Some(id) = submission["submission"]["id"].as_str() else {
        return Ok(Vec::new());
    };
    let recordings = page
        .get(&format!("/api/v1/submissions/{id}/recordings"))
        .await?;
    Ok(recordings.as_array().cloned().unwrap_or_default())
}

/// The recordings of the round the provider is editing: a draft's, or none yet when changes
/// were requested and the next round has not been started (its first edit starts it).
fn open_round_recordings(submission: &Value) -> Vec<Value> {
    let current = submission["submission"]["rounds"]
        .as_array()
        .and_then(|rounds| rounds.last());
    match current {
        Some(round) if round["submitted_at"].is_null() => {
            round["recordings"].as_array().cloned().unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

async fn go_live_context(page: &mut Page, name: &str) -> Result<Value, WebError> {
    let managed = page.get(&api_offering(name)).await?;
    let requirements = page.get("/api/v1/requirements").await?;
    let submissions = page
        .get(&format!("{}/submissions", api_offering(name)))
        .await?;
    let open = submissions
        .as_array()
        .and_then(|list| list.iter().rev().find(|s| is_open(s)).cloned());
    let mut context = json!({
        "offering": managed["offering"],
        "checklist": managed["checklist"],
        "requirements": requirements,
        "submissions": submissions,
        "open": open,
    });
    if let Some(open) = &open {
        let id = open["id"].as_str().unwrap_or_default().to_owned();
        let submission = page
            .get(&format!("/api/v1/submissions/{}", urlencode(&id)))
            .await?;
        // The round is edited only where the API's state machine offers it.
        let editable = submission["actions"]
            .as_array()
            .is_some_and(|actions| actions.iter().any(|a| a == "edit"));
        if !editable {
            return Ok(context);
        }
        let uploaded = uploaded_recordings(page, &submission).await?;
        let in_round = open_round_recordings(&submission);
        let current = submission["submission"]["rounds"]
            .as_array()
            .and_then(|rounds| rounds.last())
            .cloned()
            .unwrap_or(Value::Null);
        let round_open = current["submitted_at"].is_null();
        context["draft"] = json!({
            "id": id,
            "state": submission["submission"]["state"],
            "round": current,
            "round_open": round_open,
            // After changes were requested, the next round starts with the previous date.
            "notes": if round_open { current["notes"].clone() } else { json!("") },
            "requested_go_live": current["requested_go_live"],
            "recordings": uploaded,
            "in_round": in_round,
            "rounds": submission["submission"]["rounds"],
        });
    }
    Ok(context)
}

async fn go_live_page(mut page: Page, Path(name): Path<String>) -> Result<Response, WebError> {
    let context = go_live_context(&mut page, &name).await?;
    page.render("provider_go_live.html", context)
}

async fn start_go_live(
    page: Page,
    Path(name): Path<String>,
    _form: Form,
) -> Result<Response, WebError> {
    let action = Call::new(
        Method::POST,
        format!("{}/submissions", api_offering(&name)),
        json!({}),
    )
    .redirect(go_live_path(&name), Some("notice.provider_go_live_started"));
    page.submit(action, async |mut page, reply| {
        // Every missing item, as the API listed them (a refused form keeps one per field).
        let blockers: Vec<Value> = reply.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["message"].clone()).collect())
            .unwrap_or_default();
        let mut context = go_live_context(&mut page, &name).await?;
        context["blockers"] = json!(blockers);
        context["gate_refusal"] = reply.body["detail"].clone();
        page.render_with_status(reply.refusal_status(), "provider_go_live.html", context)
    })
    .await
}

/// The round patch the go-live form stands for: the recordings ticked, the notes and the
/// date (empty fields clear them, so the form shows exactly what is saved).
fn round_patch(form: &Form) -> Value {
    let mut body = Map::new();
    if form.get("_recordings_listed").is_some() {
        let ticked: Vec<Value> = form
            .fields
            .iter()
            .filter(|(name, _)| name == "recordings")
            .map(|(_, id)| Value::String(id.clone()))
            .collect();
        body.insert("recordings".to_owned(), Value::Array(ticked));
    }
    if let Some(notes) = form.get("notes") {
        body.insert(
            "notes".to_owned(),
            Value::String(notes.replace("\r\n", "\n").trim().to_owned()),
        );
    }
    if let Some(date) = form.get("requested_go_live") {
        let date = date.trim();
        body.insert(
            "requested_go_live".to_owned(),
            if date.is_empty() {
                Value::Null
            } else {
                Value::String(date.to_owned())
            },
        );
    }
    Value::Object(body)
}

/// The offering a submission is for (to come back to its go-live page).
async fn offering_of_submission(page: &mut Page, id: &str) -> Result<String, WebError> {
    let submission = page
        .get(&format!("/api/v1/submissions/{}", urlencode(id)))
        .await?;
    Ok(submission["offering_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

async fn go_live_refused(
    mut page: Page,
    name: &str,
    form: &Form,
    reply: ApiReply,
) -> Result<Response, WebError> {
    let context = go_live_context(&mut page, name).await?;
    page.refused("provider_go_live.html", context, form, &reply)
}

/// The round's patch (`PATCH /api/v1/submissions/{id}`).
fn patch_round(id: &str, patch: Value) -> Call {
    Call::new(
        Method::PATCH,
        format!("/api/v1/submissions/{}", urlencode(id)),
        patch,
    )
}

async fn save_round(
    mut page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let name = offering_of_submission(&mut page, &id).await?;
    let action =
        patch_round(&id, round_patch(&form)).redirect(go_live_path(&name), Some("notice.saved"));
    page.submit(action, async |page, reply| {
        go_live_refused(page, &name, &form, reply).await
    })
    .await
}

/// Saves what the form holds, then submits the round.
async fn submit_round(
    mut page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let name = offering_of_submission(&mut page, &id).await?;
    let mut action = Call::new(
        Method::POST,
        format!("/api/v1/submissions/{}/submit", urlencode(&id)),
        json!({}),
    )
    .redirect(
        format!("/submissions/{}", urlencode(&id)),
        Some("notice.provider_submitted"),
    );
    let patch = round_patch(&form);
    if patch.as_object().is_some_and(|p| !p.is_empty()) {
        action = action.after(patch_round(&id, patch));
    }
    page.submit(action, async |page, reply| {
        go_live_refused(page, &name, &form, reply).await
    })
    .await
}

/// Adds a just-uploaded recording to the open round (upload.js posts here when a tus upload
/// finishes; the recording's id is the end of its `Vitrine-Recording` URL).
async fn attach_recording(
    mut page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let submission = page
        .get(&format!("/api/v1/submissions/{}", urlencode(&id)))
        .await?;
    let name = submission["offering_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut recordings = open_round_recordings(&submission);
    if let Some(recording) = form.get("recording_id").map(str::trim)
        && !recording.is_empty()
    {
        recordings.push(Value::String(recording.to_owned()));
    }
    let action = patch_round(&id, json!({ "recordings": recordings }))
        .redirect(go_live_path(&name), Some("notice.provider_recording_added"));
    page.submit(action, async |page, reply| {
        go_live_refused(page, &name, &form, reply).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form {
            fields: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn blank_plan_rows_are_dropped_and_pricing_keeps_the_fields_of_its_kind() {
        let posted = form(&[
            ("name", "x"),
            ("plans[0].name", ""),
            ("plans[0].pricing.kind", "free"),
            ("plans[1].name", "pro"),
            ("plans[1].pricing.kind", "metered"),
            ("plans[1].pricing.amount", "3"),
            ("plans[1].pricing.unit", "GB"),
            ("plans[1].pricing.unit_price", "0.1"),
            ("plans[1].pricing.currency", "EUR"),
            ("plans[2].name", "lite"),
            ("plans[2].pricing.kind", "free"),
            ("plans[2].pricing.currency", "EUR"),
        ]);
        assert_eq!(
            plan_rows_of(&posted).to_json(),
            json!({
                "name": "x",
                "plans": [
                    {"name": "pro", "pricing": {"kind": "metered", "unit": "GB", "unit_price": "0.1", "currency": "EUR"}},
                    {"name": "lite", "pricing": {"kind": "free"}},
                ],
            })
        );
    }
}
