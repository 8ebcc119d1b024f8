//! The admins' pages under `/admin`: provider applications, the review calendar,
//! validators and staff roles, the demo requirements, publications, the audit log, the
//! outbox, the inbound email log and bouncing addresses, and the scheduler (with the test
//! clock when the server runs one).
//!
//! Every page reads and writes through the API as the signed-in reader, so what a reader
//! who is not an admin tries is refused by the API. Some of what these pages read is open
//! to others in part (the requirements, their own audit records, the catalog), so each page
//! is also shown to admins only ([`require_admin`]): the admin's view, or a 403 page.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, Call, Form, Page, Web, WebError, urlencode};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/providers", get(providers))
        .route("/admin/providers/{account}/decision", post(decide_provider))
        .route("/admin/calendar", get(calendar).post(save_calendar))
        .route("/admin/validators", get(validators))
        .route("/admin/validators/{user}/capacity", post(set_capacity))
        .route("/admin/users/{user}/staff-roles", post(set_staff_roles))
        .route(
            "/admin/requirements",
            get(requirements).post(publish_requirements),
        )
        .route("/admin/requirements/{version}", get(requirements_version))
        .route("/admin/publications", get(publications))
        .route(
            "/admin/publications/{submission}/schedule",
            post(schedule_publication),
        )
        .route("/admin/offerings/{name}/unpublish", post(unpublish))
        .route("/admin/audit", get(audit))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{email}/retry", post(retry_email))
        .route("/admin/inbound", get(inbound))
        .route("/admin/bouncing", get(bouncing))
        .route("/admin/bouncing/{email}/clear", post(clear_bouncing))
        .route("/admin/scheduler", get(scheduler))
        .route("/admin/scheduler/{step}/run", post(run_step))
        .route("/admin/test-clock/advance", post(advance_test_clock))
}

/// A sign-in redirect for an anonymous reader, a 403 page for a reader who is not an admin.
fn require_admin(page: &Page) -> Result<(), WebError> {
    page.require_me()?;
    if page.is_staff("admin") {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// `name=value` pairs joined for a query string, empty values left out.
fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={}", urlencode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Adds `key: value` to a page's context object.
fn with(mut context: Value, key: &str, value: Value) -> Value {
    if let Value::Object(map) = &mut context {
        map.insert(key.to_owned(), value);
    }
    context
}

// --- overview ---

async fn overview(mut page: Page) -> Result<Response, WebError> {
    require_admin(&page)?;
    let pending = page
        .get("/api/v1/provider-applications?status=pending")
        .await?;
    let failed = page.get("/api/v1/outbox?status=failed&limit=100").await?;
    let count = |list: &Value| list["items"].as_array().map_or(0, Vec::len);
    page.render(
        "admin.html",
        json!({
            "pending_applications": count(&pending),
            "failed_emails": count(&failed),
            // A full page of failures means there may be more: shown as "100+".
            "more_failed_emails": failed["next_cursor"].is_string(),
        }),
    )
}

// --- provider applications ---

const APPLICATION_STATUSES: [&str; 4] = ["pending", "approved", "rejected", "all"];

#[derive(Debug, Default, Deserialize)]
struct StatusFilter {
    status: Option<String>,
    cursor: Option<String>,
}

/// A status of the list, `pending` unless another known one is asked for.
fn application_status(asked: Option<&str>) -> &'static str {
    APPLICATION_STATUSES
        .into_iter()
        .find(|s| Some(*s) == asked)
        .unwrap_or("pending")
}

async fn providers_context(page: &mut Page, status: &str) -> Result<Value, WebError> {
    let path = match status {
        "all" => "/api/v1/provider-applications".to_owned(),
        status => format!("/api/v1/provider-applications?status={status}"),
    };
    let list = page.get(&path).await?;
    Ok(json!({
        "applications": list["items"],
        "status": status,
        "statuses": APPLICATION_STATUSES,
    }))
}

async fn providers(
    mut page: Page,
    Query(filter): Query<StatusFilter>,
) -> Result<Response, WebError> {
    require_admin(&page)?;
    let status = application_status(filter.status.as_deref());
    let context = providers_context(&mut page, status).await?;
    page.render("admin_providers.html", context)
}

/// Approves, or rejects with the typed reason (`reason:text`), one application.
async fn decide_provider(
    page: Page,
    Path(account): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let status = application_status(form.get("_status"));
    let decision = form.get("decision").unwrap_or_default();
    let mut body = form.to_json();
    if let Value::Object(map) = &mut body {
        map.insert("decision".to_owned(), json!(decision));
    }
    let notice = if decision == "reject" {
        "admin.notice.rejected"
    } else {
        "admin.notice.approved"
    };
    let action = Call::new(
        Method::POST,
        format!(
            "/api/v1/accounts/{}/provider-application/decision",
            urlencode(&account)
        ),
        body,
    )
    .redirect(format!("/admin/providers?status={status}"), Some(notice));
    page.submit(action, async |mut page, reply| {
        let context = providers_context(&mut page, status).await?;
        // The refusal belongs to this application's forms, not to every row's.
        let context = with(context, "refused_account", json!(account));
        page.refused("admin_providers.html", context, &form, &reply)
    })
    .await
}

// --- calendar ---

const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

async fn calendar_context(page: &mut Page) -> Result<Value, WebError> {
    let calendar = page.get("/api/v1/calendar").await?;
    let holidays = calendar["holidays"]
        .as_array()
        .map(|days| {
            days.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    Ok(json!({
        "calendar": calendar,
        "holidays_text": holidays,
        "weekdays": WEEKDAYS,
    }))
}

async fn calendar(mut page: Page) -> Result<Response, WebError> {
    require_admin(&page)?;
    let context = calendar_context(&mut page).await?;
    page.render("admin_calendar.html", context)
}

async fn save_calendar(page: Page, form: Form) -> Result<Response, WebError> {
    let mut body = form.to_json();
    // An emptied holidays box means no holidays (the API needs the list, even empty).
    if let Value::Object(map) = &mut body {
        map.entry("holidays").or_insert_with(|| json!([]));
    }
    let action = Call::new(Method::PUT, "/api/v1/calendar", body)
        .redirect("/admin/calendar", Some("admin.notice.calendar_saved"));
    page.submit(action, async |mut page, reply| {
        let context = calendar_context(&mut page).await?;
        page.refused("admin_calendar.html", context, &form, &reply)
    })
    .await
}

// --- validators and staff roles ---

#[derive(Debug, Default, Deserialize)]
struct Cursor {
    cursor: Option<String>,
}

/// Users per page of the staff roles table.
const USERS_PAGE: u32 = 50;

async fn validators_context(page: &mut Page, cursor: Option<&str>) -> Result<Value, WebError> {
    let mut validators = page.get("/api/v1/validators").await?;
    let query = query_string(&[("limit", Some(&USERS_PAGE.to_string())), ("cursor", cursor)]);
    let mut users = page.get(&format!("/api/v1/users?{query}")).await?;
    let bouncing = bouncing_addresses(page).await?;
    mark_bouncing(&mut validators, &bouncing);
    mark_bouncing(&mut users["items"], &bouncing);
    let next = users["next_cursor"]
        .as_str()
        .map(|c| format!("/admin/validators?cursor={}", urlencode(c)));
    Ok(json!({
        "validators": validators,
        "users": users["items"],
        "next": next,
        "first_page": cursor.is_none(),
        "cursor": cursor,
    }))
}

/// The addresses mail bounces from, lowercased.
async fn bouncing_addresses(page: &mut Page) -> Result<BTreeSet<String>, WebError> {
    let list = page.get("/api/v1/bouncing").await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["email"].as_str())
        .map(str::to_lowercase)
        .collect())
}

/// Adds `bouncing: true` to each person of `people` whose address mail bounces from.
fn mark_bouncing(people: &mut Value, bouncing: &BTreeSet<String>) {
    for person in people.as_array_mut().into_iter().flatten() {
        let address = person["email"].as_str().map(str::to_lowercase);
        let marked = address.is_some_and(|a| bouncing.contains(&a));
        if let Value::Object(map) = person {
            map.insert("bouncing".to_owned(), json!(marked));
        }
    }
}

async fn validators(mut page: Page, Query(at): Query<Cursor>) -> Result<Response, WebError> {
    require_admin(&page)?;
    let context = validators_context(&mut page, at.cursor.as_deref()).await?;
    page.render("admin_validators.html", context)
}

/// Makes `action`, the form of one row of the validators page; a refusal renders the page
/// again with the API's reasons beside that row's form.
async fn validators_submit(
    page: Page,
    action: Action,
    form: &Form,
    row: String,
) -> Result<Response, WebError> {
    page.submit(action, async |mut page, reply| {
        let context = validators_context(&mut page, None).await?;
        let context = with(context, "refused_row", json!(row));
        page.refused("admin_validators.html", context, form, &reply)
    })
    .await
}

/// Sets a validator's capacity; an empty box goes back to the calendar's default.
async fn set_capacity(
    page: Page,
    Path(user): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let mut body = form.to_json();
    if let Value::Object(map) = &mut body {
        map.entry("capacity").or_insert(Value::Null);
    }
    let action = Call::new(
        Method::PUT,
        format!("/api/v1/validators/{}/capacity", urlencode(&user)),
        body,
    )
    .redirect("/admin/validators", Some("admin.notice.capacity_saved"));
    validators_submit(page, action, &form, format!("capacity-{user}")).await
}

async fn set_staff_roles(
    page: Page,
    Path(user): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let back = match form.get("_cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => format!("/admin/validators?cursor={}", urlencode(cursor)),
        None => "/admin/validators".to_owned(),
    };
    let action = Call::new(
        Method::PUT,
        format!("/api/v1/users/{}/staff-roles", urlencode(&user)),
        form.to_json(),
    )
    .redirect(back, Some("admin.notice.roles_saved"));
    validators_submit(page, action, &form, format!("roles-{user}")).await
}

// --- demo requirements ---

/// Blank rows the editor offers for new requirements.
const BLANK_REQUIREMENT_ROWS: usize = 2;

async fn requirements_context(page: &mut Page) -> Result<Value, WebError> {
    let current = page.get("/api/v1/requirements").await?;
    let version = current["version"].as_u64().unwrap_or(1);
    let existing = current["requirements"].as_array().map_or(0, Vec::len);
    Ok(json!({
        "current": current,
        "rows": existing + BLANK_REQUIREMENT_ROWS,
        "earlier_versions": (1..version).rev().collect::<Vec<_>>(),
    }))
}

async fn requirements(mut page: Page) -> Result<Response, WebError> {
    require_admin(&page)?;
    let context = requirements_context(&mut page).await?;
    page.render("admin_requirements.html", context)
}

async fn requirements_version(
    mut page: Page,
    Path(version): Path<String>,
) -> Result<Response, WebError> {
    require_admin(&page)?;
    let set = page
        .get(&format!("/api/v1/requirements/{}", urlencode(&version)))
        .await?;
    page.render("admin_requirements_version.html", json!({ "set": set }))
}

/// The form rows (`requirements[i].…`) holding any value: the rows the API receives, in
/// order, as blank rows are left out of the body.
fn filled_rows(form: &Form) -> Vec<usize> {
    let rows: BTreeSet<usize> = form
        .fields
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix("requirements[")?;
            rest[..rest.find(']')?].parse().ok()
        })
        .collect();
    rows.into_iter().collect()
}

async fn publish_requirements(page: Page, form: Form) -> Result<Response, WebError> {
    let mut body = form.to_json();
    if let Value::Object(map) = &mut body {
        map.entry("requirements").or_insert_with(|| json!([]));
    }
    let action = Call::new(Method::PUT, "/api/v1/requirements", body).redirect(
        "/admin/requirements",
        Some("admin.notice.requirements_published"),
    );
    page.submit(action, async |mut page, reply| {
        let rows = filled_rows(&form);
        let context = requirements_context(&mut page).await?;
        // The editor keeps every row typed, even beyond the current list's length.
        let typed_rows = rows.last().map_or(0, |last| last + 1);
        let shown = context["rows"].as_u64().unwrap_or(0).max(typed_rows as u64);
        let context = with(context, "rows", json!(shown));
        page.refused("admin_requirements.html", context, &form, &reply)
    })
    .await
}

// --- publications ---

/// The submissions (summaries) in `states`, comma-separated.
async fn submissions_in(page: &mut Page, states: &str) -> Result<Vec<Value>, WebError> {
    let list = page
        .get(&format!("/api/v1/submissions?state={states}"))
        .await?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

/// Approved submissions waiting for their publication to be scheduled, scheduled ones, and
/// the public offerings an admin may unpublish: those published through a submission, and
/// `also` (the offering page's "unpublish" link leads here with it, for an offering made
/// public otherwise).
async fn publications_context(page: &mut Page, also: Option<&str>) -> Result<Value, WebError> {
    let awaiting = submissions_in(page, "approved").await?;
    let scheduled = submissions_in(page, "publication_scheduled").await?;
    let mut names: Vec<String> = submissions_in(page, "published")
        .await?
        .iter()
        .filter_map(|s| s["offering_name"].as_str().map(str::to_owned))
        .collect();
    names.extend(also.map(str::to_owned));
    let mut public = Vec::new();
    for name in &names {
        let reply = page
            .call(
                Method::GET,
                &format!("/api/v1/catalog/{}", urlencode(name)),
                None,
            )
            .await?;
        if reply.is_success()
            && reply.body["visibility"] == "public"
            && !public
                .iter()
                .any(|o: &Value| o["name"] == reply.body["name"])
        {
            public.push(reply.body);
        }
    }
    Ok(json!({ "awaiting": awaiting, "scheduled": scheduled, "public": public }))
}

#[derive(Debug, Default, Deserialize)]
struct PublicationsQuery {
    /// A public offering to offer for unpublishing (from its page).
    offering: Option<String>,
}

async fn publications(
    mut page: Page,
    Query(query): Query<PublicationsQuery>,
) -> Result<Response, WebError> {
    require_admin(&page)?;
    let context = publications_context(&mut page, query.offering.as_deref()).await?;
    page.render("admin_publications.html", context)
}

/// Makes `call`, the form of one row of the publications page (`also` is the offering that
/// row is for, when it is one): on success back to the page with `notice`, else the page
/// again with the API's reasons beside that row's form.
async fn publications_submit(
    page: Page,
    call: Call,
    notice: &'static str,
    form: &Form,
    row: String,
    also: Option<&str>,
) -> Result<Response, WebError> {
    let action = call.redirect("/admin/publications", Some(notice));
    page.submit(action, async |mut page, reply| {
        let context = publications_context(&mut page, also).await?;
        let context = with(context, "refused_row", json!(row));
        page.refused("admin_publications.html", context, form, &reply)
    })
    .await
}

/// Schedules a publication at the time typed, in the admin's time zone, or, left empty, at
/// the provider's requested date.
async fn schedule_publication(
    page: Page,
    Path(submission): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let zone = page
        .me
        .as_ref()
        .and_then(|me| me.pointer("/user/time_zone"))
        .and_then(Value::as_str)
        .unwrap_or("UTC")
        .to_owned();
    let body = match form.get("at").map(str::trim).filter(|at| !at.is_empty()) {
        Some(at) => json!({ "at": crate::local_instant(at, &zone) }),
        None => json!({}),
    };
    let call = Call::new(
        Method::POST,
        format!("/api/v1/submissions/{}/publication", urlencode(&submission)),
        body,
    );
    let notice = "admin.notice.publication_scheduled";
    let row = format!("schedule-{submission}");
    publications_submit(page, call, notice, &form, row, None).await
}

async fn unpublish(page: Page, Path(name): Path<String>, form: Form) -> Result<Response, WebError> {
    let call = Call::new(
        Method::POST,
        format!("/api/v1/offerings/{}/unpublish", urlencode(&name)),
        json!({ "reason": form.get("reason:text").unwrap_or_default().trim() }),
    );
    let row = format!("unpublish-{name}");
    let notice = "admin.notice.unpublished";
    publications_submit(page, call, notice, &form, row, Some(&name)).await
}

// --- audit log ---

const SUBJECT_KINDS: [&str; 5] = ["user", "account", "offering", "api_token", "submission"];

/// Records per page of the audit log.
const AUDIT_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
struct AuditFilters {
    account: Option<String>,
    offering: Option<String>,
    offering_name: Option<String>,
    actor: Option<String>,
    actor_email: Option<String>,
    action: Option<String>,
    subject_kind: Option<String>,
    cursor: Option<String>,
}

impl AuditFilters {
    fn pairs(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("account", self.account.as_deref()),
            ("offering", self.offering.as_deref()),
            ("offering_name", self.offering_name.as_deref()),
            ("actor", self.actor.as_deref()),
            ("actor_email", self.actor_email.as_deref()),
            ("action", self.action.as_deref()),
            ("subject_kind", self.subject_kind.as_deref()),
        ]
    }
}

async fn audit(mut page: Page, Query(filters): Query<AuditFilters>) -> Result<Response, WebError> {
    require_admin(&page)?;
    let filter_query = query_string(&filters.pairs());
    let mut pairs = filters.pairs().to_vec();
    let limit = AUDIT_PAGE.to_string();
    pairs.push(("limit", Some(&limit)));
    pairs.push(("cursor", filters.cursor.as_deref()));
    let reply = page
        .call(
            Method::GET,
            &format!("/api/v1/audit?{}", query_string(&pairs)),
            None,
        )
        .await?;
    // A filter the API refuses (an id that is not one) is shown beside the filters; other
    // refusals are error pages as usual.
    let (records, refusal) = if reply.status == axum::http::StatusCode::UNPROCESSABLE_ENTITY {
        (json!({"items": []}), Some(reply.body))
    } else {
        (page.expect_success(reply)?.body, None)
    };
    let items: Vec<Value> = records["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|record| {
            let pretty = |v: &Value| {
                if v.is_null() {
                    Value::Null
                } else {
                    serde_json::to_string_pretty(v).map_or(Value::Null, Value::String)
                }
            };
            let mut record = record.clone();
            let before = pretty(&record["before"]);
            let after = pretty(&record["after"]);
            record["before_text"] = before;
            record["after_text"] = after;
            record
        })
        .collect();
    // The next page keeps the filters.
    let next = records["next_cursor"].as_str().map(|cursor| {
        let filters = if filter_query.is_empty() {
            String::new()
        } else {
            format!("&{filter_query}")
        };
        format!("/admin/audit?cursor={}{filters}", urlencode(cursor))
    });
    let first = format!("/admin/audit?{filter_query}");
    // The same filters, as a CSV file straight from the API (the session cookie signs it).
    let export = format!("/api/v1/audit/export?{filter_query}");
    page.render(
        "admin_audit.html",
        json!({
            "items": items,
            "filters": {
                "account": filters.account,
                "offering": filters.offering,
                "offering_name": filters.offering_name,
                "actor": filters.actor,
                "actor_email": filters.actor_email,
                "action": filters.action,
                "subject_kind": filters.subject_kind,
            },
            "export": export,
            "subject_kinds": SUBJECT_KINDS,
            "refusal": refusal,
            "next": next,
            "first": (filters.cursor.is_some()).then_some(first),
        }),
    )
}

// --- outbox ---

const OUTBOX_STATUSES: [&str; 3] = ["failed", "pending", "sent"];

/// Emails per page of the outbox.
const OUTBOX_PAGE: u32 = 50;

async fn outbox(mut page: Page, Query(filter): Query<StatusFilter>) -> Result<Response, WebError> {
    require_admin(&page)?;
    let status = OUTBOX_STATUSES
        .into_iter()
        .find(|s| Some(*s) == filter.status.as_deref())
        .unwrap_or("failed");
    let limit = OUTBOX_PAGE.to_string();
    let query = query_string(&[
        ("status", Some(status)),
        ("limit", Some(&limit)),
        ("cursor", filter.cursor.as_deref()),
    ]);
    let emails = page.get(&format!("/api/v1/outbox?{query}")).await?;
    let next = emails["next_cursor"]
        .as_str()
        .map(|cursor| format!("/admin/outbox?status={status}&cursor={}", urlencode(cursor)));
    page.render(
        "admin_outbox.html",
        json!({
            "emails": emails["items"],
            "status": status,
            "statuses": OUTBOX_STATUSES,
            "next": next,
            "first_page": filter.cursor.is_none(),
        }),
    )
}

async fn retry_email(
    page: Page,
    Path(email): Path<String>,
    _form: Form,
) -> Result<Response, WebError> {
    let action = Call::new(
        Method::POST,
        format!("/api/v1/outbox/{}/retry", urlencode(&email)),
        Value::Null,
    )
    .redirect("/admin/outbox?status=failed", Some("admin.notice.retried"));
    page.submit(action, Page::refusal_page).await
}

// --- inbound email ---

/// Emails per page of the inbound log.
const INBOUND_PAGE: u32 = 50;

/// The inbound email log, newest first, with why each refused one was refused.
async fn inbound(mut page: Page, Query(at): Query<Cursor>) -> Result<Response, WebError> {
    require_admin(&page)?;
    let limit = INBOUND_PAGE.to_string();
    let query = query_string(&[("limit", Some(&limit)), ("cursor", at.cursor.as_deref())]);
    let log = page.get(&format!("/api/v1/inbound?{query}")).await?;
    let next = log["next_cursor"]
        .as_str()
        .map(|cursor| format!("/admin/inbound?cursor={}", urlencode(cursor)));
    page.render(
        "admin_inbound.html",
        json!({
            "emails": log["items"],
            "next": next,
            "first_page": at.cursor.is_none(),
        }),
    )
}

/// The addresses mail bounces from, each with a button to clear it once fixed.
async fn bouncing(mut page: Page) -> Result<Response, WebError> {
    require_admin(&page)?;
    let mut addresses = page.get("/api/v1/bouncing").await?;
    for address in addresses.as_array_mut().into_iter().flatten() {
        let clear = address["email"]
            .as_str()
            .map(|email| format!("/admin/bouncing/{}/clear", urlencode(email)));
        if let Value::Object(map) = address {
            map.insert("clear".to_owned(), json!(clear));
        }
    }
    page.render("admin_bouncing.html", json!({ "addresses": addresses }))
}

async fn clear_bouncing(
    page: Page,
    Path(email): Path<String>,
    _form: Form,
) -> Result<Response, WebError> {
    let action = Call::new(
        Method::DELETE,
        format!("/api/v1/bouncing/{}", urlencode(&email)),
        Value::Null,
    )
    .redirect("/admin/bouncing", Some("admin.notice.bouncing_cleared"));
    page.submit(action, Page::refusal_page).await
}

// --- scheduler and test clock ---

/// The scheduler's steps, in the order they run (`crate::scheduler::STEPS`).
const STEPS: [&str; 4] = [
    "open_due_sessions",
    "release_due_decisions",
    "flag_overdue",
    "run_due_publications",
];

#[derive(Debug, Default, Deserialize)]
struct SchedulerReport {
    /// What ran: `step:changed` pairs, comma separated.
    ran: Option<String>,
    /// Set after the test clock moved.
    advanced: Option<String>,
}

/// The `step:changed` pairs of a report link, known steps only.
fn parse_report(ran: &str) -> Vec<Value> {
    ran.split(',')
        .filter_map(|pair| {
            let (step, changed) = pair.split_once(':')?;
            let step = STEPS.into_iter().find(|s| *s == step)?;
            let changed: u32 = changed.parse().ok()?;
            Some(json!({"step": step, "changed": changed}))
        })
        .collect()
}

fn report_query(reports: &Value) -> String {
    let reports = match reports {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    reports
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{}:{}",
                r["step"].as_str()?,
                r["changed"].as_u64()?
            ))
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn scheduler_context(page: &mut Page) -> Result<Value, WebError> {
    // The test clock answers only on a server started with it; otherwise its section is
    // left out.
    let clock = page.call(Method::GET, "/api/v1/test-clock", None).await?;
    let clock = if clock.is_success() {
        clock.body
    } else {
        Value::Null
    };
    Ok(json!({ "steps": STEPS, "test_clock": clock }))
}

async fn scheduler(
    mut page: Page,
    Query(report): Query<SchedulerReport>,
) -> Result<Response, WebError> {
    require_admin(&page)?;
    let context = scheduler_context(&mut page).await?;
    let ran = report.ran.as_deref().map(parse_report).unwrap_or_default();
    let context = with(context, "ran", json!(ran));
    let context = with(context, "advanced", json!(report.advanced.is_some()));
    page.render("admin_scheduler.html", context)
}

async fn run_step(page: Page, Path(step): Path<String>, _form: Form) -> Result<Response, WebError> {
    // To the scheduler's page with the report of what ran.
    let action = Call::new(
        Method::POST,
        format!("/api/v1/scheduler/{}/run", urlencode(&step)),
        Value::Null,
    )
    .redirect_by(
        |report| format!("/admin/scheduler?ran={}", urlencode(&report_query(report))),
        None,
    );
    page.submit(action, Page::refusal_page).await
}

/// Seconds in one of the units the advance form offers.
fn unit_seconds(unit: &str) -> i64 {
    match unit {
        "minutes" => 60,
        "days" => 86_400,
        "weeks" => 7 * 86_400,
        _ => 3_600,
    }
}

/// Moves the test clock forward by `amount` `unit`s; the API then runs the due steps.
async fn advance_test_clock(page: Page, form: Form) -> Result<Response, WebError> {
    let amount = form.get("amount").unwrap_or_default().trim();
    let seconds = match amount.parse::<i64>() {
        Ok(n) => n
            .checked_mul(unit_seconds(form.get("unit").unwrap_or_default()))
            .map_or_else(|| json!(amount), |s| json!(s)),
        // Sent as typed: the API names the field it cannot read.
        Err(_) => json!(amount),
    };
    let action = Call::new(
        Method::POST,
        "/api/v1/test-clock/advance",
        json!({ "seconds": seconds }),
    )
    .redirect_by(
        |reply| {
            format!(
                "/admin/scheduler?advanced=1&ran={}",
                urlencode(&report_query(&reply["steps"]))
            )
        },
        Some("admin.notice.clock_advanced"),
    );
    page.submit(action, async |mut page, mut reply| {
        // The form's field is `amount`; the API's is `seconds`.
        if let Some(errors) = reply.body.get_mut("errors").and_then(Value::as_array_mut) {
            for error in errors {
                error["field"] = json!("amount");
            }
        }
        let context = scheduler_context(&mut page).await?;
        page.refused("admin_scheduler.html", context, &form, &reply)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_keep_known_steps_only() {
        let report = json!([{"step": "flag_overdue", "changed": 2}]);
        assert_eq!(report_query(&report), "flag_overdue:2");
        assert_eq!(
            parse_report("flag_overdue:2,evil:1,open_due_sessions:x"),
            vec![json!({"step": "flag_overdue", "changed": 2})]
        );
    }
}
