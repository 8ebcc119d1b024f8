//! The lifecycle on the chosen plan, with fresh ids: provision (sync, or async after
//! `AsyncRequired`, polled), fetch, bind (likewise), fetch the binding, unbind, deprovision;
//! orphan mitigation after a 5xx, a timeout or a malformed answer to a provision or a bind
//! (never after a 4xx such as `ConcurrencyError`), and whatever could not be removed named.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::broker::{Broker, Variant};
use crate::catalog::Chosen;
use crate::checks::{Pending, begin};
use crate::guard::{Answer, Failure, Sensitivity};
use crate::report::{Check, Resource};
use crate::{Journal, Policy};

/// How many DELETEs orphan mitigation and the clean-up send before giving up.
pub const DELETE_TRIES: usize = 3;

/// The longest `operation` the spec allows.
const MAX_OPERATION_CHARS: usize = 10_000;

fn segments(resource: &Resource) -> Vec<&str> {
    match resource {
        Resource::Instance { instance_id, .. } => vec!["v2", "service_instances", instance_id],
        Resource::Binding {
            instance_id,
            binding_id,
            ..
        } => vec![
            "v2",
            "service_instances",
            instance_id,
            "service_bindings",
            binding_id,
        ],
    }
}

fn ids(resource: &Resource) -> (&str, &str) {
    match resource {
        Resource::Instance {
            service_id,
            plan_id,
            ..
        }
        | Resource::Binding {
            service_id,
            plan_id,
            ..
        } => (service_id, plan_id),
    }
}

fn kind(resource: &Resource) -> &'static str {
    match resource {
        Resource::Instance { .. } => "instance",
        Resource::Binding { .. } => "binding",
    }
}

/// Names a resource for a report: `instance 1234…` or `binding 5678… of instance 1234…`.
pub fn describe(resource: &Resource) -> String {
    match resource {
        Resource::Instance { instance_id, .. } => format!("instance {instance_id}"),
        Resource::Binding {
            instance_id,
            binding_id,
            ..
        } => format!("binding {binding_id} of instance {instance_id}"),
    }
}

/// The `error` field of an error answer.
fn error_code(answer: &Answer) -> Option<String> {
    answer
        .json()
        .ok()?
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `Retry-After` in seconds (the spec recommends a duration); dates are not honoured.
fn retry_after(answer: &Answer) -> Option<Duration> {
    answer
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Create,
    Delete,
}

#[derive(Debug)]
enum Poll {
    Succeeded,
    /// `"state": "failed"`, with the broker's description.
    Failed(String),
    /// 410 while polling a delete: gone.
    Gone,
    /// The maximum polling duration passed: the operation MUST be considered failed.
    Expired(String),
}

/// A create request's result.
enum Creation {
    Sync(Value),
    Async(Option<String>),
    /// Failed; orphan mitigation (if the answer called for it) has been done.
    Failed,
}

/// What a removal did.
struct Removal {
    removed: bool,
    /// Wrong answers met on the way (even when a retry then removed it).
    problems: Vec<String>,
}

pub struct Lifecycle<'a, J: Journal> {
    broker: &'a Broker<'a>,
    journal: &'a J,
    policy: &'a Policy,
    pub chosen: Chosen,
    /// What may be on the broker now (recorded in the journal, not yet removed).
    live: Vec<Resource>,
    pub checks: Vec<Check>,
    pub instance: Option<Resource>,
    /// The provision answer's `dashboard_url`.
    pub dashboard_url: Option<String>,
    /// Why the instance is not there (for the checks that need it).
    pub why_no_instance: String,
    stopped: bool,
}

impl<'a, J: Journal> Lifecycle<'a, J> {
    pub fn new(broker: &'a Broker<'a>, journal: &'a J, policy: &'a Policy, chosen: Chosen) -> Self {
        Lifecycle {
            broker,
            journal,
            policy,
            chosen,
            live: Vec::new(),
            checks: Vec::new(),
            instance: None,
            dashboard_url: None,
            why_no_instance: String::new(),
            stopped: false,
        }
    }

    async fn push(&mut self, check: Check) {
        self.journal.checked(&check).await;
        self.checks.push(check);
    }

    fn max_polling(&self) -> Duration {
        let cap = self.policy.max_polling;
        self.chosen
            .maximum_polling_duration
            .map(Duration::from_secs)
            .map_or(cap, |plan| plan.min(cap))
    }

    fn query_ids(&self) -> Vec<(&'static str, String)> {
        vec![
            ("service_id", self.chosen.service_id.clone()),
            ("plan_id", self.chosen.plan_id.clone()),
        ]
    }

    /// Provision, poll, fetch. Afterwards `instance` is set if one lives on the broker.
    pub async fn provision(&mut self) {
        let instance = Resource::Instance {
            instance_id: uuid::Uuid::new_v4().to_string(),
            service_id: self.chosen.service_id.clone(),
            plan_id: self.chosen.plan_id.clone(),
        };
        let body = json!({
            "service_id": self.chosen.service_id,
            "plan_id": self.chosen.plan_id,
            "context": {"platform": "vitrine", "instance_name": "vitrine-check"},
            "organization_guid": uuid::Uuid::new_v4().to_string(),
            "space_guid": uuid::Uuid::new_v4().to_string(),
        });
        let mut pending = begin("provision.created");
        let mut problems = Vec::new();
        let creation = self
            .create(&mut pending, &mut problems, &instance, body)
            .await;
        let operation = match creation {
            Creation::Failed => {
                self.why_no_instance = "the instance could not be provisioned".to_owned();
                self.push(pending.judged_by(&problems)).await;
                let why = self.why_no_instance.clone();
                self.push(begin("provision.last_operation").skipped(why.clone()))
                    .await;
                self.push(begin("instance.fetched").skipped(why)).await;
                return;
            }
            Creation::Sync(body) => {
                self.dashboard_url = dashboard_url(&body, &mut problems);
                let detail = format!(
                    "provisioned synchronously (plan {:?})",
                    self.chosen.plan_name
                );
                self.push(if problems.is_empty() {
                    pending.passed_with(detail)
                } else {
                    pending.judged_by(&problems)
                })
                .await;
                None
            }
            Creation::Async(operation) => {
                self.push(if problems.is_empty() {
                    pending.passed_with(format!(
                        "provisioning accepted asynchronously (202; plan {:?})",
                        self.chosen.plan_name
                    ))
                } else {
                    pending.judged_by(&problems)
                })
                .await;
                Some(operation)
            }
        };
        if let Some(operation) = operation {
            let mut polling = begin("provision.last_operation");
            let started = Instant::now();
            let poll = self
                .poll(
                    &mut polling,
                    &instance,
                    operation.as_deref(),
                    Purpose::Create,
                )
                .await;
            let took = started.elapsed().as_millis();
            match poll {
                Poll::Succeeded => {
                    self.push(polling.passed_with(format!("succeeded after {took} ms")))
                        .await;
                }
                Poll::Failed(why) | Poll::Expired(why) => {
                    // An async provision that failed or never finished: orphan mitigation.
                    let removal = self.remove(&mut polling, &instance, DELETE_TRIES).await;
                    let mut detail = why;
                    detail.push_str(&mitigation_words(&removal));
                    self.push(polling.failed(detail)).await;
                    self.why_no_instance = "the instance was not provisioned".to_owned();
                    self.push(begin("instance.fetched").skipped(self.why_no_instance.clone()))
                        .await;
                    return;
                }
                Poll::Gone => {
                    // Only reached for deletes.
                    self.push(polling.failed("410 Gone while provisioning"))
                        .await;
                }
            }
        } else {
            self.push(begin("provision.last_operation").skipped("the provision was synchronous"))
                .await;
        }
        self.instance = Some(instance.clone());
        self.fetch_instance(&instance).await;
    }

    async fn fetch_instance(&mut self, instance: &Resource) {
        let pending = begin("instance.fetched");
        if !self.chosen.instances_retrievable {
            self.push(pending.skipped("the catalog does not declare instances_retrievable"))
                .await;
            return;
        }
        let mut pending = pending;
        let url = self
            .broker
            .url(&segments(instance), &pairs(&self.query_ids()));
        let answer = self.broker.get(url, Sensitivity::Ordinary).await;
        pending.record(&answer);
        let check = match (answer.failure.is_some(), answer.status) {
            (false, Some(200)) => match answer.json() {
                Ok(body) if body.is_object() => {
                    let mut problems = Vec::new();
                    for (key, ours) in [
                        ("service_id", &self.chosen.service_id),
                        ("plan_id", &self.chosen.plan_id),
                    ] {
                        if let Some(theirs) = body.get(key).and_then(Value::as_str)
                            && theirs != ours
                        {
                            problems.push(format!("{key} is {theirs:?}, not {ours:?}"));
                        }
                    }
                    pending.judged_by(&problems)
                }
                Ok(_) => pending.failed("the answer is not a JSON object"),
                Err(why) => pending.failed(why),
            },
            _ => pending.failed(format!(
                "{}; 200 OK was expected for a provisioned instance",
                answer.describe()
            )),
        };
        self.push(check).await;
    }

    /// Bind, fetch the binding, probe an unknown binding, unbind, deprovision, and remove
    /// whatever is left.
    pub async fn finish(&mut self) -> Vec<Resource> {
        let instance = self.instance.clone();
        match &instance {
            Some(instance) if !self.stopped => {
                self.bindings(instance).await;
                self.deprovision(instance).await;
            }
            _ => {
                let why = if self.stopped {
                    "the run stopped: the journal could not record a resource".to_owned()
                } else {
                    self.why_no_instance.clone()
                };
                for id in [
                    "binding.created",
                    "binding.last_operation",
                    "binding.fetched",
                    "probe.unknown_binding_delete",
                    "binding.deleted",
                    "instance.deleted",
                ] {
                    self.push(begin(id).skipped(why.clone())).await;
                }
            }
        }
        // Last chance for whatever is still there, bindings first.
        let mut nothing_left = begin("lifecycle.nothing_left");
        let mut left = self.live.clone();
        left.sort_by_key(|r| matches!(r, Resource::Instance { .. }));
        let mut leftovers = Vec::new();
        for resource in left {
            let removal = self
                .remove(&mut nothing_left, &resource, DELETE_TRIES)
                .await;
            if !removal.removed {
                leftovers.push(resource);
            }
        }
        let check = if leftovers.is_empty() {
            nothing_left.passed()
        } else {
            let names: Vec<String> = leftovers.iter().map(describe).collect();
            nothing_left.failed(format!(
                "still on the broker after {DELETE_TRIES} DELETEs each: {}",
                names.join(", ")
            ))
        };
        self.push(check).await;
        leftovers
    }

    async fn bindings(&mut self, instance: &Resource) {
        if !self.chosen.bindable {
            for id in [
                "binding.created",
                "binding.last_operation",
                "binding.fetched",
                "probe.unknown_binding_delete",
                "binding.deleted",
            ] {
                self.push(begin(id).skipped("the plan is not bindable"))
                    .await;
            }
            return;
        }
        let Resource::Instance { instance_id, .. } = instance else {
            return;
        };
        let binding = Resource::Binding {
            instance_id: instance_id.clone(),
            binding_id: uuid::Uuid::new_v4().to_string(),
            service_id: self.chosen.service_id.clone(),
            plan_id: self.chosen.plan_id.clone(),
        };
        let body = json!({
            "service_id": self.chosen.service_id,
            "plan_id": self.chosen.plan_id,
            "bind_resource": {"app_guid": uuid::Uuid::new_v4().to_string()},
            "context": {"platform": "vitrine"},
        });
        let mut pending = begin("binding.created");
        let mut problems = Vec::new();
        let creation = self
            .create(&mut pending, &mut problems, &binding, body)
            .await;
        let mut bound = true;
        match creation {
            Creation::Failed => {
                bound = false;
                self.push(pending.judged_by(&problems)).await;
                self.push(
                    begin("binding.last_operation").skipped("the binding could not be created"),
                )
                .await;
            }
            Creation::Sync(body) => {
                if let Some(credentials) = body.get("credentials")
                    && !credentials.is_object()
                {
                    problems.push("\"credentials\" is not an object".to_owned());
                }
                self.push(if problems.is_empty() {
                    pending.passed_with("bound synchronously")
                } else {
                    pending.judged_by(&problems)
                })
                .await;
                self.push(begin("binding.last_operation").skipped("the binding was synchronous"))
                    .await;
            }
            Creation::Async(operation) => {
                self.push(if problems.is_empty() {
                    pending.passed_with("binding accepted asynchronously (202)")
                } else {
                    pending.judged_by(&problems)
                })
                .await;
                let mut polling = begin("binding.last_operation");
                let poll = self
                    .poll(
                        &mut polling,
                        &binding,
                        operation.as_deref(),
                        Purpose::Create,
                    )
                    .await;
                match poll {
                    Poll::Succeeded => self.push(polling.passed()).await,
                    Poll::Failed(why) | Poll::Expired(why) => {
                        let removal = self.remove(&mut polling, &binding, DELETE_TRIES).await;
                        let mut detail = why;
                        detail.push_str(&mitigation_words(&removal));
                        self.push(polling.failed(detail)).await;
                        bound = false;
                    }
                    Poll::Gone => self.push(polling.failed("410 Gone while binding")).await,
                }
            }
        }
        if bound && !self.stopped {
            self.fetch_binding(&binding).await;
        } else {
            self.push(begin("binding.fetched").skipped("there is no binding to fetch"))
                .await;
        }
        self.unknown_binding(instance_id).await;
        if bound && !self.stopped {
            let mut deleting = begin("binding.deleted");
            let removal = self.remove(&mut deleting, &binding, DELETE_TRIES).await;
            let check = deletion_check(deleting, &removal);
            self.push(check).await;
        } else {
            self.push(begin("binding.deleted").skipped("there is no binding to delete"))
                .await;
        }
    }

    async fn fetch_binding(&mut self, binding: &Resource) {
        let pending = begin("binding.fetched");
        if !self.chosen.bindings_retrievable {
            self.push(pending.skipped("the catalog does not declare bindings_retrievable"))
                .await;
            return;
        }
        let mut pending = pending;
        let url = self
            .broker
            .url(&segments(binding), &pairs(&self.query_ids()));
        let answer = self.broker.get(url, Sensitivity::Credentials).await;
        pending.record(&answer);
        let check = match (answer.failure.is_some(), answer.status) {
            (false, Some(200)) => match answer.json() {
                Ok(body) if body.is_object() => pending.passed(),
                Ok(_) => pending.failed("the answer is not a JSON object"),
                Err(why) => pending.failed(why),
            },
            _ => pending.failed(format!(
                "{}; 200 OK was expected for a created binding",
                answer.describe()
            )),
        };
        self.push(check).await;
    }

    async fn unknown_binding(&mut self, instance_id: &str) {
        let pending = begin("probe.unknown_binding_delete");
        let unknown = uuid::Uuid::new_v4().to_string();
        let url = self.broker.url(
            &[
                "v2",
                "service_instances",
                instance_id,
                "service_bindings",
                &unknown,
            ],
            &pairs(&self.query_ids()),
        );
        let answer = self.broker.delete(url).await;
        let check = pending.expect_status(
            &answer,
            410,
            "410 Gone was expected for a binding that does not exist",
        );
        self.push(check).await;
    }

    async fn deprovision(&mut self, instance: &Resource) {
        if !self.live.contains(instance) {
            self.push(begin("instance.deleted").skipped("the instance is already gone"))
                .await;
            return;
        }
        if self
            .live
            .iter()
            .any(|r| matches!(r, Resource::Binding { .. }))
        {
            // Platforms MUST delete all Service Bindings before deprovisioning; the final
            // clean-up tries the binding again, then the instance.
            self.push(
                begin("instance.deleted")
                    .skipped("a binding of the instance could not be deleted first"),
            )
            .await;
            return;
        }
        let mut deleting = begin("instance.deleted");
        let removal = self.remove(&mut deleting, instance, DELETE_TRIES).await;
        let check = deletion_check(deleting, &removal);
        self.push(check).await;
    }

    /// Sends the PUT that creates `resource` (journalled first), retrying with
    /// `accepts_incomplete=true` after `AsyncRequired`; after a failure that calls for it,
    /// orphan mitigation.
    async fn create(
        &mut self,
        pending: &mut Pending,
        problems: &mut Vec<String>,
        resource: &Resource,
        body: Value,
    ) -> Creation {
        if let Err(why) = self.journal.will_create(resource).await {
            problems.push(format!(
                "not sent: the run could not record the {} it was about to create: {why}",
                kind(resource)
            ));
            self.stopped = true;
            return Creation::Failed;
        }
        self.live.push(resource.clone());
        let sensitivity = match resource {
            Resource::Instance { .. } => Sensitivity::Ordinary,
            Resource::Binding { .. } => Sensitivity::Credentials,
        };
        let mut accepts_incomplete = false;
        loop {
            let query: Vec<(&str, &str)> = if accepts_incomplete {
                vec![("accepts_incomplete", "true")]
            } else {
                Vec::new()
            };
            let url = self.broker.url(&segments(resource), &query);
            let answer = self
                .broker
                .call(
                    Method::PUT,
                    url,
                    Some(body.clone()),
                    sensitivity,
                    Variant::Correct,
                )
                .await;
            pending.record(&answer);
            let status = answer.status;
            let mitigate = match (&answer.failure, status) {
                (Some(Failure::Refused(why)), _) => {
                    problems.push(why.clone());
                    self.forget(resource).await;
                    return Creation::Failed;
                }
                (Some(failure), _) => {
                    // A timeout, a broken connection or an answer too large: the broker may
                    // have created it.
                    problems.push(failure.to_string());
                    true
                }
                (None, Some(code @ (200 | 201))) => match answer.json() {
                    Ok(value) if value.is_object() => {
                        if code == 200 {
                            problems.push(format!(
                                "200 OK for a new {0} id: 201 Created MUST be returned when the {0} was created by this request",
                                kind(resource)
                            ));
                        }
                        return Creation::Sync(value);
                    }
                    Ok(_) => {
                        problems.push(format!("{code} with an answer that is not a JSON object"));
                        true
                    }
                    Err(why) => {
                        problems.push(format!("{code} with a malformed answer: {why}"));
                        true
                    }
                },
                (None, Some(202)) => match answer.json() {
                    Ok(value) if value.is_object() => {
                        if !accepts_incomplete {
                            problems.push(
                                "202 Accepted to a request without accepts_incomplete=true: the broker MUST NOT answer asynchronously then"
                                    .to_owned(),
                            );
                        }
                        let operation = match value.get("operation") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(op)) => {
                                if op.chars().count() > MAX_OPERATION_CHARS {
                                    problems.push(
                                        "\"operation\" is longer than 10,000 characters".to_owned(),
                                    );
                                }
                                Some(op.clone())
                            }
                            Some(_) => {
                                problems.push("\"operation\" is not a string".to_owned());
                                None
                            }
                        };
                        if let Resource::Binding { .. } = resource
                            && value.get("credentials").is_some()
                        {
                            problems.push("the 202 answer carries credentials, which MUST NOT be returned in it".to_owned());
                        }
                        if let Resource::Instance { .. } = resource {
                            self.dashboard_url = dashboard_url(&value, problems);
                        }
                        return Creation::Async(operation);
                    }
                    Ok(_) => {
                        problems.push("202 with an answer that is not a JSON object".to_owned());
                        true
                    }
                    Err(why) => {
                        problems.push(format!("202 with a malformed answer: {why}"));
                        true
                    }
                },
                (None, Some(422)) => {
                    let code = error_code(&answer);
                    if code.as_deref() == Some("AsyncRequired") && !accepts_incomplete {
                        accepts_incomplete = true;
                        continue;
                    }
                    // 4xx: the broker's resources are unchanged; after ConcurrencyError the
                    // Platform MUST NOT perform orphan mitigation.
                    problems.push(format!(
                        "422 Unprocessable Entity ({})",
                        code.unwrap_or_else(|| "no error code".to_owned())
                    ));
                    false
                }
                (None, Some(code @ 400..=499)) => {
                    problems.push(format!("{code}: the broker rejected the request"));
                    false
                }
                (None, Some(code)) => {
                    problems.push(format!("{code} is not an answer the spec allows here"));
                    true
                }
                (None, None) => {
                    problems.push("no answer".to_owned());
                    true
                }
            };
            if mitigate {
                let removal = self.remove(pending, resource, DELETE_TRIES).await;
                problems.push(format!(
                    "orphan mitigation:{}",
                    mitigation_words(&removal).trim_start_matches(';')
                ));
            } else {
                self.forget(resource).await;
            }
            return Creation::Failed;
        }
    }

    /// A resource the broker did not create (it answered 4xx, or nothing was sent).
    async fn forget(&mut self, resource: &Resource) {
        self.live.retain(|r| r != resource);
        self.journal.removed(resource).await;
    }

    async fn poll(
        &mut self,
        pending: &mut Pending,
        resource: &Resource,
        operation: Option<&str>,
        purpose: Purpose,
    ) -> Poll {
        poll(
            self.broker,
            self.policy,
            self.max_polling(),
            pending,
            resource,
            operation,
            purpose,
        )
        .await
    }

    /// DELETEs `resource` up to `tries` times (polling a 202); on success tells the journal.
    async fn remove(
        &mut self,
        pending: &mut Pending,
        resource: &Resource,
        tries: usize,
    ) -> Removal {
        let removal = remove(
            self.broker,
            self.policy,
            self.max_polling(),
            pending,
            resource,
            tries,
        )
        .await;
        if removal.removed {
            self.live.retain(|r| r != resource);
            self.journal.removed(resource).await;
        }
        removal
    }
}

fn pairs<'q>(query: &'q [(&'static str, String)]) -> Vec<(&'static str, &'q str)> {
    query.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn dashboard_url(body: &Value, problems: &mut Vec<String>) -> Option<String> {
    match body.get("dashboard_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => Some(url.clone()),
        Some(_) => {
            problems.push("\"dashboard_url\" MUST be a string or null".to_owned());
            None
        }
    }
}

fn mitigation_words(removal: &Removal) -> String {
    if removal.removed {
        "; orphan mitigation removed it".to_owned()
    } else {
        format!(
            "; orphan mitigation could not remove it ({})",
            removal.problems.join("; ")
        )
    }
}

fn deletion_check(pending: Pending, removal: &Removal) -> Check {
    match (removal.removed, removal.problems.is_empty()) {
        (true, true) => pending.passed(),
        (true, false) => pending.failed(format!(
            "removed only on a retry: {}",
            removal.problems.join("; ")
        )),
        (false, _) => pending.failed(removal.problems.join("; ")),
    }
}

/// Polls the resource's `last_operation` until a final state, a 410 for a delete, or the
/// maximum polling duration.
async fn poll(
    broker: &Broker<'_>,
    policy: &Policy,
    max_polling: Duration,
    pending: &mut Pending,
    resource: &Resource,
    operation: Option<&str>,
    purpose: Purpose,
) -> Poll {
    let deadline = Instant::now() + max_polling;
    let mut path = segments(resource);
    path.push("last_operation");
    let (service_id, plan_id) = ids(resource);
    let mut query = vec![("service_id", service_id), ("plan_id", plan_id)];
    if let Some(operation) = operation {
        query.push(("operation", operation));
    }
    let url = broker.url(&path, &query);
    let mut polls = 0usize;
    loop {
        polls += 1;
        let answer = broker.get(url.clone(), Sensitivity::Ordinary).await;
        pending.record(&answer);
        let last = match (&answer.failure, answer.status) {
            (None, Some(200)) => match answer.json() {
                Ok(body) => match body.get("state").and_then(Value::as_str) {
                    Some("succeeded") => return Poll::Succeeded,
                    Some("failed") => {
                        let said = body
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("no description");
                        return Poll::Failed(format!(
                            "the operation failed (\"state\": \"failed\": {said})"
                        ));
                    }
                    Some("in progress") => "in progress".to_owned(),
                    other => format!("an invalid state {other:?}"),
                },
                Err(why) => why,
            },
            (None, Some(410)) if purpose == Purpose::Delete => return Poll::Gone,
            // Anything else: an invalid answer; the Platform SHOULD continue polling.
            _ => answer.describe(),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Poll::Expired(format!(
                "still not finished after polling {} ms ({polls} polls; last: {last}): the \
                 maximum polling duration was reached, so the operation MUST be considered failed",
                max_polling.as_millis()
            ));
        }
        // A broker saying `Retry-After: 0` is not polled in a tight loop: at least 100 ms
        // (or the policy's interval, when that is shorter) between polls.
        let wait = retry_after(&answer)
            .unwrap_or(policy.poll_interval)
            .max(Duration::from_millis(100).min(policy.poll_interval));
        tokio::time::sleep(wait.min(remaining)).await;
    }
}

async fn remove(
    broker: &Broker<'_>,
    policy: &Policy,
    max_polling: Duration,
    pending: &mut Pending,
    resource: &Resource,
    tries: usize,
) -> Removal {
    let (service_id, plan_id) = ids(resource);
    let url = broker.url(
        &segments(resource),
        &[
            ("service_id", service_id),
            ("plan_id", plan_id),
            ("accepts_incomplete", "true"),
        ],
    );
    let mut problems = Vec::new();
    for attempt in 0..tries {
        if attempt > 0 {
            tokio::time::sleep(policy.poll_interval.max(Duration::from_millis(50))).await;
        }
        let answer = broker.delete(url.clone()).await;
        pending.record(&answer);
        match (&answer.failure, answer.status) {
            (None, Some(200 | 410)) => {
                return Removal {
                    removed: true,
                    problems,
                };
            }
            (None, Some(202)) => {
                let operation = answer.json().ok().and_then(|v| {
                    v.get("operation")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
                match poll(
                    broker,
                    policy,
                    max_polling,
                    pending,
                    resource,
                    operation.as_deref(),
                    Purpose::Delete,
                )
                .await
                {
                    Poll::Succeeded | Poll::Gone => {
                        return Removal {
                            removed: true,
                            problems,
                        };
                    }
                    Poll::Failed(why) | Poll::Expired(why) => {
                        problems.push(format!("the asynchronous delete: {why}"));
                    }
                }
            }
            (None, Some(422)) if error_code(&answer).as_deref() == Some("ConcurrencyError") => {
                problems.push("422 ConcurrencyError: waiting for the broker".to_owned());
            }
            _ => problems.push(format!(
                "DELETE of the {}: {}",
                kind(resource),
                answer.describe()
            )),
        }
    }
    Removal {
        removed: false,
        problems,
    }
}

/// Removes resources an interrupted run left (bindings first). Returns the ones that could
/// not be removed, with why.
pub async fn clean_up(
    broker: &Broker<'_>,
    policy: &Policy,
    leftovers: &[Resource],
) -> Vec<(Resource, String)> {
    let mut ordered: Vec<&Resource> = leftovers.iter().collect();
    ordered.sort_by_key(|r| matches!(r, Resource::Instance { .. }));
    let mut failed = Vec::new();
    for resource in ordered {
        let mut pending = begin("lifecycle.nothing_left");
        let removal = remove(
            broker,
            policy,
            policy.max_polling,
            &mut pending,
            resource,
            DELETE_TRIES,
        )
        .await;
        if !removal.removed {
            failed.push((resource.clone(), removal.problems.join("; ")));
        }
    }
    failed
}
