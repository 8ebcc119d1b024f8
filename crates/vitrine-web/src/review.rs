//! The go-live review's pages: a submission as each party sees it (`/submissions/{id}`,
//! in `review/submission.rs`) and the validators' desk (`/review`): this week's session,
//! their assignments and the decisions held until decision day; and the coming sessions
//! (`/review/calendar`).

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use vitrine_domain::submission::SubmissionState;

use super::{Page, Web, WebError};

mod submission;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/review", get(desk))
        .route("/review/calendar", get(calendar))
        .route("/submissions/{id}", get(submission::show))
        .route("/submissions/{id}/messages", post(submission::post_message))
        .route("/submissions/{id}/decision", post(submission::decide))
        .route("/submissions/{id}/withdraw", post(submission::withdraw))
        .route(
            "/submissions/{id}/revision",
            post(submission::edit_revision),
        )
        .route(
            "/submissions/{id}/revision/submit",
            post(submission::submit_revision),
        )
        .route("/submissions/{id}/appeal", post(submission::appeal))
        .route(
            "/submissions/{id}/appeal/decision",
            post(submission::decide_appeal),
        )
        .route(
            "/submissions/{id}/publication",
            post(submission::schedule_publication),
        )
}

/// The translation key naming a submission state for people.
pub(super) fn state_key(state: &str) -> Option<&'static str> {
    SubmissionState::parse(state).map(|state| match state {
        SubmissionState::Draft => "submission_state.draft",
        SubmissionState::Queued => "submission_state.queued",
        SubmissionState::InReview => "submission_state.in_review",
        SubmissionState::DecidedPendingRelease => "submission_state.decided_pending_release",
        SubmissionState::ChangesRequested => "submission_state.changes_requested",
        SubmissionState::Approved => "submission_state.approved",
        SubmissionState::Rejected => "submission_state.rejected",
        SubmissionState::Appealed => "submission_state.appealed",
        SubmissionState::PublicationScheduled => "submission_state.publication_scheduled",
        SubmissionState::Published => "submission_state.published",
        SubmissionState::Withdrawn => "submission_state.withdrawn",
    })
}

/// Adds `state_key` to a submission summary, so the template names its state in words.
fn with_state_key(mut summary: Value) -> Value {
    let key = summary
        .get("state")
        .and_then(Value::as_str)
        .and_then(state_key);
    if let (Some(map), Some(key)) = (summary.as_object_mut(), key) {
        map.insert("state_key".to_owned(), json!(key));
    }
    summary
}

/// Every submission in review or decided but not released (admins), with the name of the
/// validator it is assigned to.
async fn all_assignments(page: &mut Page) -> Result<Vec<Value>, WebError> {
    let validators = page.get("/api/v1/validators").await?;
    let all = page.get("/api/v1/review/assignments?all=true").await?;
    Ok(all
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|summary| {
            let validator_name = validators.as_array().and_then(|list| {
                list.iter()
                    .find(|v| v["user_id"] == summary["validator"])
                    .and_then(|v| v["display_name"].as_str())
                    .map(str::to_owned)
            });
            let mut summary = with_state_key(summary);
            if let Some(map) = summary.as_object_mut() {
                map.insert("validator_name".to_owned(), json!(validator_name));
            }
            summary
        })
        .collect())
}

/// `/review`: this week's session, the reader's assignments (every one, for admins) and the
/// decisions held until decision day.
async fn desk(mut page: Page) -> Result<Response, WebError> {
    page.require_me()?;
    let is_validator = page.is_staff("validator");
    let is_admin = page.is_staff("admin");
    if !is_validator && !is_admin {
        return Err(WebError::Forbidden);
    }
    let mine: Vec<Value> = if is_validator {
        page.get("/api/v1/review/assignments")
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(with_state_key)
            .collect()
    } else {
        Vec::new()
    };
    let all = if is_admin {
        Some(all_assignments(&mut page).await?)
    } else {
        None
    };
    let held: Vec<Value> = all
        .as_ref()
        .unwrap_or(&mine)
        .iter()
        .filter(|s| s["state"] == "decided_pending_release")
        .cloned()
        .collect();
    let session = page.get("/api/v1/review/session").await?;
    // Appeals the reader may hear (never those of rejections they decided).
    let appeals = page.get("/api/v1/appeals").await?;
    page.render(
        "review.html",
        json!({
            "session": session,
            "appeals": appeals,
            "mine": mine,
            "all": all,
            "held": held,
            "show_mine": is_validator,
        }),
    )
}

/// `/review/calendar`: the coming review sessions as the API lets the reader see them
/// (`GET /api/v1/calendar/sessions`): for staff every session's dates, the holidays that
/// moved it, capacity used, the planned submissions and who is assigned; for a provider's
/// member the places of their own submissions. Whom it refuses is the API's answer.
/// `?weeks=` (1 to 26) is handed on as typed, for the API to check.
async fn calendar(
    mut page: Page,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, WebError> {
    page.require_me()?;
    let weeks = query
        .as_deref()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(name, _)| name == "weeks"))
        .map(|(_, value)| value.into_owned());
    let path = match &weeks {
        Some(weeks) => format!(
            "/api/v1/calendar/sessions?weeks={}",
            super::urlencode(weeks)
        ),
        None => "/api/v1/calendar/sessions".to_owned(),
    };
    let calendar = page.get(&path).await?;
    let listed = calendar["sessions"].as_array().map_or(0, Vec::len);
    page.render(
        "review_calendar.html",
        json!({
            "calendar": calendar,
            "staff": calendar["scope"] == "staff",
            // Offer the longest view unless it is already shown.
            "more": weeks.as_deref() != Some("26") && listed > 0,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files;
    use crate::i18n::Translations;

    #[test]
    fn every_state_has_words() {
        let translations = Translations::load(files::TRANSLATIONS).expect("translations load");
        for state in SubmissionState::ALL {
            let key = state_key(state.as_str()).expect("a key per state");
            assert!(translations.contains(key), "{key}");
            assert!(
                translations.contains(&format!("{key}.next")),
                "{key}.next explains what happens next"
            );
        }
    }
}
