//! `/submissions/{id}`: one page for every party who may see a submission (its provider's
//! members, its validator, admins; the API decides who, and what: a provider does not see a
//! decision before decision day). It shows the state and dates, the rounds newest first with
//! what changed between them, the thread, and the actions the reader may take: withdraw,
//! go to the go-live page, judge the round (the assigned validator), schedule the
//! publication (admins). Each form posts to a handler here that makes the one API call it
//! stands for.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::state_key;
use crate::{Call, Form, Page, WebError, urlencode};

/// Which form of the page a refusal belongs to, so its message shows beside it.
#[derive(Clone, Copy)]
enum Section {
    Actions,
    Appeal,
    Revision,
    Decision,
    Publication,
    Thread,
}

impl Section {
    fn as_str(self) -> &'static str {
        match self {
            Section::Actions => "actions",
            Section::Appeal => "appeal",
            Section::Revision => "revision",
            Section::Decision => "decision",
            Section::Publication => "publication",
            Section::Thread => "thread",
        }
    }
}

/// The translation key of a timeline step; steps without words are shown as recorded.
fn action_key(action: &str) -> Option<&'static str> {
    Some(match action {
        "submission.created" => "submission_timeline.created",
        "submission.round_edited" => "submission_timeline.round_edited",
        "recording.uploaded" => "submission_timeline.recording_uploaded",
        "submission.submit" => "submission_timeline.submit",
        "submission.open_session" => "submission_timeline.open_session",
        "submission.decide" => "submission_timeline.decide",
        "submission.release_decision" => "submission_timeline.release_decision",
        "submission.resubmit" => "submission_timeline.resubmit",
        "submission.schedule_publication" => "submission_timeline.schedule_publication",
        "submission.publish" => "submission_timeline.publish",
        "submission.withdraw" => "submission_timeline.withdraw",
        "submission.message" => "submission_timeline.message",
        "revision.created" => "submission_timeline.revision_created",
        "revision.edited" => "submission_timeline.revision_edited",
        "submission.publish_unreviewed" => "submission_timeline.publish_unreviewed",
        "submission.appeal" => "submission_timeline.appeal",
        "submission.appeal_upheld" => "submission_timeline.appeal_upheld",
        "submission.appeal_reopened" => "submission_timeline.appeal_reopened",
        "submission.dates_moved" => "submission_timeline.dates_moved",
        _ => return None,
    })
}

fn decision_key(decision: &str) -> Option<&'static str> {
    Some(match decision {
        "approve" => "submission_decision.approve",
        "request_changes" => "submission_decision.request_changes",
        "reject" => "submission_decision.reject",
        _ => return None,
    })
}

fn str_of<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn recording_ids(round: &Value) -> Vec<String> {
    round["recordings"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What a round changed from the one before: recordings added and removed, notes and the
/// requested date.
fn changes_since(previous: &Value, round: &Value) -> Value {
    let before = recording_ids(previous);
    let after = recording_ids(round);
    let added: Vec<&String> = after.iter().filter(|id| !before.contains(id)).collect();
    let removed: Vec<&String> = before.iter().filter(|id| !after.contains(id)).collect();
    let notes_changed = previous["notes"] != round["notes"];
    let date_changed = previous["requested_go_live"] != round["requested_go_live"];
    json!({
        "added": added,
        "removed": removed,
        "notes_changed": notes_changed,
        "date_changed": date_changed,
        "previous_date": previous["requested_go_live"],
        "none": added.is_empty() && removed.is_empty() && !notes_changed && !date_changed,
    })
}

/// The requirement sets the rounds were judged against, by version (their titles name the
/// verdicts); a version that cannot be read is left out and its keys are shown instead.
async fn requirement_sets(
    page: &mut Page,
    rounds: &[Value],
) -> Result<BTreeMap<u64, Value>, WebError> {
    let versions: BTreeSet<u64> = rounds
        .iter()
        .filter_map(|r| r["requirements_version"].as_u64())
        .collect();
    let mut sets = BTreeMap::new();
    for version in versions {
        let reply = page
            .call(
                Method::GET,
                &format!("/api/v1/requirements/{version}"),
                None,
            )
            .await?;
        if reply.is_success() {
            sets.insert(version, reply.body);
        }
    }
    Ok(sets)
}

fn requirement<'a>(set: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    set.and_then(|s| s["requirements"].as_array())
        .and_then(|list| list.iter().find(|r| r["key"] == key))
}

/// Everything the page shows, read through the API as the reader.
async fn context(page: &mut Page, id: &str) -> Result<Value, WebError> {
    let me = page.require_me()?.clone();
    let path = format!("/api/v1/submissions/{}", urlencode(id));
    let view = page.get(&path).await?;
    let messages = page.get(&format!("{path}/messages")).await?;
    let submission = &view["submission"];
    let state = str_of(submission, "/state").to_owned();
    let my_id = str_of(&me, "/user/id").to_owned();

    let is_provider = me["memberships"].as_array().is_some_and(|list| {
        list.iter()
            .any(|m| m["account_id"] == submission["provider_account_id"])
    });
    let is_assigned =
        page.is_staff("validator") && !my_id.is_empty() && submission["validator"] == my_id;
    let is_admin = page.is_staff("admin");

    let rounds: Vec<Value> = submission["rounds"].as_array().cloned().unwrap_or_default();
    let sets = requirement_sets(page, &rounds).await?;

    // Recordings are numbered in the order they first appear, across rounds.
    let mut recording_numbers: BTreeMap<String, usize> = BTreeMap::new();
    for round in &rounds {
        for id in recording_ids(round) {
            let next = recording_numbers.len() + 1;
            recording_numbers.entry(id).or_insert(next);
        }
    }

    // Their file names, as the provider's files were called.
    let recording_files: BTreeMap<String, String> = page
        .get(&format!("/api/v1/submissions/{}/recordings", urlencode(id)))
        .await?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_owned(),
                r["file_name"].as_str()?.to_owned(),
            ))
        })
        .collect();

    let mut shown_rounds = Vec::with_capacity(rounds.len());
    for (index, round) in rounds.iter().enumerate() {
        let set = round["requirements_version"]
            .as_u64()
            .and_then(|v| sets.get(&v));
        let mut shown = round.clone();
        let decision = &round["decision"];
        if decision.is_object() {
            let verdicts: Vec<Value> = decision["verdicts"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|v| {
                            let key = v["requirement"].as_str().unwrap_or("");
                            let title = requirement(set, key)
                                .map(|r| r["title"].clone())
                                .unwrap_or_else(|| json!({"en": key}));
                            json!({
                                "key": key,
                                "title": title,
                                "met": v["outcome"] == "met",
                                "comment": v["comment"],
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            shown["verdicts"] = json!(verdicts);
            shown["decision_key"] = json!(decision_key(str_of(decision, "/decision")));
            shown["held"] = json!(decision["released_at"].is_null());
        }
        shown["current"] = json!(index + 1 == rounds.len());
        if index > 0 {
            shown["changes"] = changes_since(&rounds[index - 1], round);
        }
        shown_rounds.push(shown);
    }
    shown_rounds.reverse();

    let timeline: Vec<Value> = view["timeline"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e["label_key"] = json!(action_key(str_of(&e, "/action")));
                    e["state_key"] = json!(state_key(str_of(&e, "/state")));
                    e
                })
                .collect()
        })
        .unwrap_or_default();
    let messages: Vec<Value> = messages
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    let mut m = m.clone();
                    m["mine"] = json!(m["author"] == my_id);
                    m
                })
                .collect()
        })
        .unwrap_or_default();

    // The checklist of the round under review: its own requirement version.
    let current = rounds.last().cloned().unwrap_or(Value::Null);
    let checklist = if is_assigned && state == "in_review" {
        current["requirements_version"]
            .as_u64()
            .and_then(|v| sets.get(&v))
            .map(|set| set["requirements"].clone())
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };

    // Its provider sees its place in its session, from the calendar view.
    let place = if is_provider && state == "queued" {
        session_place(page, id).await?
    } else {
        Value::Null
    };

    // A revision: the live version, what it proposes and the diff (the validator judges
    // the diff); its provider edits it here while it may.
    let revision = if submission["revision"].is_object() {
        page.get(&format!("{path}/revision")).await?
    } else {
        Value::Null
    };
    let revision_plans = crate::provider::plan_rows(revision.pointer("/proposed/plans"), None);
    let revision_tags = revision
        .pointer("/proposed/tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let appeal = page.get(&format!("{path}/appeal")).await?;

    // What the reader may do, as the API's state machine says.
    let may = |action: &str| {
        view["actions"]
            .as_array()
            .is_some_and(|actions| actions.iter().any(|a| a == action))
    };
    Ok(json!({
        "id": submission["id"],
        "submission": submission,
        "offering_name": view["offering_name"],
        "schedule": view["schedule"],
        "place": place,
        "checks": view["checks"],
        "state": state,
        "state_key": state_key(&state),
        "current_round": current,
        "rounds": shown_rounds,
        "recording_numbers": recording_numbers,
        "recording_files": recording_files,
        "timeline": timeline,
        "messages": messages,
        "checklist": checklist,
        "revision": revision,
        "revision_plans": revision_plans,
        "revision_tags": revision_tags,
        "appeal": appeal,
        "party": {
            "provider": is_provider,
            "validator": is_assigned,
            "admin": is_admin,
        },
        "can": {
            "withdraw": may("withdraw"),
            "go_live": may("edit") && revision.is_null(),
            "revise": may("edit") && !revision.is_null(),
            "submit_revision": (may("submit") || may("resubmit")) && !revision.is_null(),
            "decide": may("decide"),
            "publish": may("schedule_publication"),
            "write": is_provider || is_assigned || is_admin,
        },
    }))
}

/// The queued submission's session and position in it, as the calendar view tells its
/// provider (`GET /api/v1/calendar/sessions`, as far ahead as it looks); `null` if the view
/// does not list it or refuses the reader (the dates above still say when).
async fn session_place(page: &mut Page, id: &str) -> Result<Value, WebError> {
    let reply = page
        .call(Method::GET, "/api/v1/calendar/sessions?weeks=26", None)
        .await?;
    if !reply.is_success() {
        return Ok(Value::Null);
    }
    let sessions = reply.body["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(sessions
        .iter()
        .find_map(|session| {
            let planned = session["planned"].as_array()?;
            let mine = planned.iter().find(|p| p["submission_id"] == id)?;
            Some(json!({
                "review_date": session["review_date"],
                "session_position": mine["session_position"],
            }))
        })
        .unwrap_or(Value::Null))
}

/// The page its validator keeps open: kept for a moment between two writes (see
/// [`Page::render_cached`]), as the catalog's answers are.
pub(super) async fn show(page: Page, Path(id): Path<String>) -> Result<Response, WebError> {
    page.render_cached("submission.html", async |page| context(page, &id).await)
        .await
}

/// Makes `call`, the form of `section`: on success to the page (at that section) with
/// `notice`, else the page again with what was typed and why it was refused beside that
/// section's form.
async fn answer(
    page: Page,
    id: &str,
    form: &Form,
    call: Call,
    section: Section,
    notice: &'static str,
) -> Result<Response, WebError> {
    let to = format!("/submissions/{}#{}", urlencode(id), section.as_str());
    page.submit(call.redirect(to, Some(notice)), async |mut page, reply| {
        let mut context = context(&mut page, id).await?;
        context["refused_section"] = json!(section.as_str());
        page.refused("submission.html", context, form, &reply)
    })
    .await
}

/// A `POST` to the submission's `action` (`/api/v1/submissions/{id}/{action}`).
fn post(id: &str, action: &str, body: Value) -> Call {
    let path = format!("/api/v1/submissions/{}/{action}", urlencode(id));
    Call::new(Method::POST, path, body)
}

/// Posts in the thread (`POST /api/v1/submissions/{id}/messages`, `{"body"}`).
pub(super) async fn post_message(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let call = post(&id, "messages", form.to_json());
    let notice = "submission_page.notice_message_sent";
    answer(page, &id, &form, call, Section::Thread, notice).await
}

/// Records the validator's verdicts and decision (`POST /api/v1/submissions/{id}/decision`,
/// `{"verdicts": [{"requirement", "outcome", "comment"}], "decision", "reason"}`).
pub(super) async fn decide(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let call = post(&id, "decision", form.to_json());
    let notice = "submission_page.notice_decision_recorded";
    answer(page, &id, &form, call, Section::Decision, notice).await
}

/// Edits what a revision proposes (`PATCH /api/v1/submissions/{id}/revision`): the
/// listing and plan fields as on the offering's editor, and the broker settings.
pub(super) async fn edit_revision(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let form = crate::provider::plan_rows_of(&form);
    let mut body = crate::provider::listing_patch(&form);
    // Broker fields left empty keep the proposed settings.
    if let Some(broker) = body.get_mut("broker").and_then(Value::as_object_mut) {
        broker.retain(|_, v| v.as_str().is_none_or(|s| !s.trim().is_empty()));
    }
    let path = format!("/api/v1/submissions/{}/revision", urlencode(&id));
    let call = Call::new(Method::PATCH, path, body);
    let notice = "submission_page.notice_revision_saved";
    answer(page, &id, &form, call, Section::Revision, notice).await
}

/// Submits a revision (`POST /api/v1/submissions/{id}/revision/submit`): queued for review
/// or published at once, by the operator's rule.
pub(super) async fn submit_revision(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let call = post(&id, "revision/submit", json!({}));
    let notice = "submission_page.notice_revision_submitted";
    answer(page, &id, &form, call, Section::Revision, notice).await
}

/// Appeals a rejection (`POST /api/v1/submissions/{id}/appeal`, `{"reason"}`).
pub(super) async fn appeal(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let call = post(&id, "appeal", form.to_json());
    let notice = "submission_page.notice_appealed";
    answer(page, &id, &form, call, Section::Appeal, notice).await
}

/// Hears an appeal (`POST /api/v1/submissions/{id}/appeal/decision`, `{"outcome",
/// "answer"}`).
pub(super) async fn decide_appeal(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let call = post(&id, "appeal/decision", form.to_json());
    let notice = "submission_page.notice_appeal_heard";
    answer(page, &id, &form, call, Section::Appeal, notice).await
}

/// Withdraws the submission (`POST /api/v1/submissions/{id}/withdraw`).
pub(super) async fn withdraw(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    page.require_me()?;
    let call = post(&id, "withdraw", json!({}));
    let notice = "submission_page.notice_withdrawn";
    answer(page, &id, &form, call, Section::Actions, notice).await
}

/// Schedules the publication (`POST /api/v1/submissions/{id}/publication`, `{"at"}`); left
/// empty, the API publishes at the start of the provider's requested go-live date.
pub(super) async fn schedule_publication(
    page: Page,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, WebError> {
    let time_zone = str_of(page.require_me()?, "/user/time_zone").to_owned();
    let mut body = json!({});
    if let Some(typed) = form.get("at").map(str::trim).filter(|v| !v.is_empty()) {
        // A value that is no date and time is sent as typed: the API's refusal names it.
        body["at"] = json!(crate::local_instant(typed, &time_zone));
    }
    let call = post(&id, "publication", body);
    let notice = "submission_page.notice_publication_scheduled";
    answer(page, &id, &form, call, Section::Publication, notice).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files;
    use crate::i18n::Translations;

    #[test]
    fn changes_between_rounds_are_named() {
        let first = json!({"recordings": ["a", "b"], "notes": "one", "requested_go_live": null});
        let second = json!({"recordings": ["b", "c"], "notes": "two", "requested_go_live": null});
        let changes = changes_since(&first, &second);
        assert_eq!(changes["added"], json!(["c"]));
        assert_eq!(changes["removed"], json!(["a"]));
        assert_eq!(changes["notes_changed"], true);
        assert_eq!(changes["date_changed"], false);
        assert_eq!(changes["none"], false);
        assert_eq!(changes_since(&first, &first)["none"], true);
    }

    #[test]
    fn every_timeline_step_and_decision_has_words() {
        let translations = Translations::load(files::TRANSLATIONS).expect("translations load");
        for action in [
            "submission.created",
            "submission.round_edited",
            "recording.uploaded",
            "submission.submit",
            "submission.open_session",
            "submission.decide",
            "submission.release_decision",
            "submission.resubmit",
            "submission.schedule_publication",
            "submission.publish",
            "submission.withdraw",
            "submission.message",
            "submission.dates_moved",
        ] {
            let key = action_key(action).expect("a key per step");
            assert!(translations.contains(key), "{key}");
        }
        for decision in ["approve", "request_changes", "reject"] {
            let key = decision_key(decision).expect("a key per decision");
            assert!(translations.contains(key), "{key}");
        }
    }
}
