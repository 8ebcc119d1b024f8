//! The OpenAPI description of what vitrine POSTs to an endpoint: one OpenAPI 3.1
//! `webhooks` entry per event type, with its payload's schema in the components and the
//! three Standard Webhooks headers. The payloads themselves are built by
//! `vitrine_webhook_rules::payload`; a test here holds the two together.

use serde::Serialize;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ContentBuilder, HttpMethod, OpenApi, PathItem, PathsBuilder, Ref, Required, ResponseBuilder,
};
use utoipa::{PartialSchema, ToSchema};
use vitrine_webhook_rules::EventType;

/// What every payload names: the offering and its provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferingRef {
    #[schema(format = Uuid)]
    pub offering_id: String,
    /// The offering's name today (its address in the catalog).
    pub offering_name: String,
    #[schema(format = Uuid)]
    pub provider_account_id: String,
}

/// `submission.queued` and `decision.released`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionEventData {
    #[serde(flatten)]
    pub offering: OfferingRef,
    #[schema(format = Uuid)]
    pub submission_id: String,
    /// 1 for a first submission, 2 and more for resubmissions.
    pub round: u32,
    /// The submission's state after the change: `queued`; for a released decision
    /// `changes_requested`, `approved` or `rejected`.
    pub state: String,
}

/// `submission.dates_moved`: a queued submission's new dates and place, and its old dates.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatesMovedEventData {
    #[serde(flatten)]
    pub offering: OfferingRef,
    #[schema(format = Uuid)]
    pub submission_id: String,
    /// The round in the queue.
    pub round: u32,
    /// Why they moved: `queue` (a submission joined ahead or one ahead left), `capacity`
    /// (the validators' room changed, or a session was full), `calendar_change` or
    /// `holiday`.
    pub reason: String,
    /// The new review day.
    #[schema(format = Date)]
    pub review_date: String,
    /// The new decision day.
    #[schema(format = Date)]
    pub decision_date: String,
    /// The new place in the whole queue (1 is next).
    pub queue_position: u32,
    #[schema(format = Date)]
    pub previous_review_date: String,
    #[schema(format = Date)]
    pub previous_decision_date: String,
}

/// `offering.published` and `offering.unpublished`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferingEventData {
    #[serde(flatten)]
    pub offering: OfferingRef,
    /// `public` once published, `limited` once unpublished.
    pub visibility: String,
    /// Why the admin unpublished it (`offering.unpublished` only).
    pub reason: Option<String>,
}

/// `message.posted`: which message; its text is read through the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEventData {
    #[serde(flatten)]
    pub offering: OfferingRef,
    #[schema(format = Uuid)]
    pub submission_id: String,
    #[schema(format = Uuid)]
    pub message_id: String,
    /// Who wrote it: `provider`, or `validator` (marketplace staff).
    pub side: String,
}

/// `check_run.finished`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckRunEventData {
    #[serde(flatten)]
    pub offering: OfferingRef,
    #[schema(format = Uuid)]
    pub run_id: String,
    /// Every check passed.
    pub passed: bool,
    /// The ids of the checks that failed.
    pub failed: Vec<String>,
}

/// The envelope of every delivery (Standard Webhooks).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPayload<T> {
    /// The event type, such as `submission.queued`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was made (RFC 3339).
    #[schema(format = DateTime)]
    pub timestamp: String,
    pub data: T,
}

/// The payload schema's name in the components, and its data's fields, per event type.
pub fn payload_schema(
    event: EventType,
) -> (
    &'static str,
    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) {
    match event {
        EventType::SubmissionQueued => (
            "SubmissionQueuedPayload",
            WebhookPayload::<SubmissionEventData>::schema(),
        ),
        EventType::SubmissionDatesMoved => (
            "SubmissionDatesMovedPayload",
            WebhookPayload::<DatesMovedEventData>::schema(),
        ),
        EventType::DecisionReleased => (
            "DecisionReleasedPayload",
            WebhookPayload::<SubmissionEventData>::schema(),
        ),
        EventType::OfferingPublished => (
            "OfferingPublishedPayload",
            WebhookPayload::<OfferingEventData>::schema(),
        ),
        EventType::OfferingUnpublished => (
            "OfferingUnpublishedPayload",
            WebhookPayload::<OfferingEventData>::schema(),
        ),
        EventType::MessagePosted => (
            "MessagePostedPayload",
            WebhookPayload::<MessageEventData>::schema(),
        ),
        EventType::CheckRunFinished => (
            "CheckRunFinishedPayload",
            WebhookPayload::<CheckRunEventData>::schema(),
        ),
    }
}

fn header(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(String::schema()))
        .build()
}

/// Adds every event type to the document's `webhooks`, with its payload schema.
pub fn document_webhooks(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    let mut schemas: Vec<(
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )> = Vec::new();
    <OfferingRef as ToSchema>::schemas(&mut schemas);
    schemas.push(("OfferingRef".to_owned(), OfferingRef::schema()));
    schemas.push((
        "SubmissionEventData".to_owned(),
        SubmissionEventData::schema(),
    ));
    schemas.push((
        "DatesMovedEventData".to_owned(),
        DatesMovedEventData::schema(),
    ));
    schemas.push(("OfferingEventData".to_owned(), OfferingEventData::schema()));
    schemas.push(("MessageEventData".to_owned(), MessageEventData::schema()));
    schemas.push(("CheckRunEventData".to_owned(), CheckRunEventData::schema()));
    let mut paths = PathsBuilder::new();
    for event in EventType::ALL {
        let (name, schema) = payload_schema(event);
        schemas.push((name.to_owned(), schema));
        let operation = OperationBuilder::new()
            .summary(Some(format!("`{}`", event.as_str())))
            .description(Some(
                "POSTed to each enabled endpoint subscribed to this event whose owner may see \
                 the change. Verify `webhook-signature` (Standard Webhooks: `v1,` + base64 of \
                 HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the secret's \
                 bytes; several space-separated during a rotation) and dedupe on `webhook-id`.",
            ))
            .tag(crate::TAG)
            .parameter(header("webhook-id", "The message's id, the same on every retry and redelivery"))
            .parameter(header("webhook-timestamp", "When this attempt was signed, in Unix seconds"))
            .parameter(header("webhook-signature", "One `v1,<base64>` per secret in force, space-separated"))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(name)))
                            .build(),
                    )
                    .build(),
            ))
            .response(
                "2XX",
                ResponseBuilder::new().description("Delivered: no more attempts").build(),
            )
            .response(
                "default",
                ResponseBuilder::new()
                    .description(
                        "Any other answer, or none within 10 s (or over 64 KiB): retried after 5 s, \
                         5 min, 30 min, 2 h, 5 h, 10 h and 10 h, then the endpoint is disabled",
                    )
                    .build(),
            )
            .build();
        paths = paths.path(event.as_str(), PathItem::new(HttpMethod::Post, operation));
    }
    for (name, schema) in schemas {
        components.schemas.insert(name, schema);
    }
    openapi.webhooks = Some(paths.build());
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_webhook_rules::{AuditedChange, Owner, payload};

    /// The properties a schema lists (its own and its flattened parts'), as JSON.
    fn properties(schema: &serde_json::Value, out: &mut Vec<String>) {
        if let Some(map) = schema.get("properties").and_then(|p| p.as_object()) {
            out.extend(map.keys().cloned());
        }
        for part in ["allOf", "oneOf"] {
            for inner in schema
                .get(part)
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                properties(&resolve(inner), out);
            }
        }
    }

    fn resolve(schema: &serde_json::Value) -> serde_json::Value {
        let by_name = |name: &str| match name {
            "SubmissionEventData" => serde_json::to_value(SubmissionEventData::schema()),
            "OfferingEventData" => serde_json::to_value(OfferingEventData::schema()),
            "DatesMovedEventData" => serde_json::to_value(DatesMovedEventData::schema()),
            "MessageEventData" => serde_json::to_value(MessageEventData::schema()),
            "CheckRunEventData" => serde_json::to_value(CheckRunEventData::schema()),
            "OfferingRef" => serde_json::to_value(OfferingRef::schema()),
            _ => panic!("unknown ref {name}"),
        };
        match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(name) => by_name(name.rsplit('/').next().unwrap_or_default()).expect("serialises"),
            None => schema.clone(),
        }
    }

    fn required_of(schema: &serde_json::Value, out: &mut Vec<String>) {
        let schema = resolve(schema);
        if let Some(list) = schema.get("required").and_then(|r| r.as_array()) {
            out.extend(list.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        for part in ["allOf", "oneOf"] {
            for inner in schema
                .get(part)
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                required_of(inner, out);
            }
        }
    }

    #[test]
    fn every_payload_has_exactly_the_documented_fields() {
        for event in EventType::ALL {
            let action = event.actions()[0];
            let change = AuditedChange {
                action: action.to_owned(),
                subject_id: "s".to_owned(),
                account_id: Some(vitrine_domain::AccountId::generate()),
                offering_id: Some(vitrine_domain::OfferingId::generate()),
                offering_name: Some("o".to_owned()),
                before: Some(serde_json::json!({"visibility": "public"})),
                after: Some(serde_json::json!({})),
                at: "2026-01-01T00:00:00Z".parse().expect("a time"),
            };
            let body = payload(Owner::Marketplace, event, &change).expect("a payload");
            let (_, schema) = payload_schema(event);
            let schema = serde_json::to_value(schema).expect("serialises");
            let mut envelope = Vec::new();
            properties(&schema, &mut envelope);
            envelope.sort();
            assert_eq!(
                envelope,
                ["data", "timestamp", "type"],
                "{}",
                event.as_str()
            );
            let data_schema = resolve(&schema["properties"]["data"]);
            let mut documented = Vec::new();
            properties(&data_schema, &mut documented);
            let built: Vec<String> = body["data"]
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
            for key in &built {
                assert!(
                    documented.contains(key),
                    "{}: {key} undocumented",
                    event.as_str()
                );
            }
            let mut required = Vec::new();
            required_of(&data_schema, &mut required);
            for key in &required {
                assert!(built.contains(key), "{}: {key} missing", event.as_str());
            }
        }
    }

    #[test]
    fn every_event_type_is_a_webhook_of_the_document() {
        let mut openapi = OpenApi::default();
        document_webhooks(&mut openapi);
        let json = serde_json::to_value(&openapi).expect("serialises");
        for event in EventType::ALL {
            let (name, _) = payload_schema(event);
            assert_eq!(
                json["webhooks"][event.as_str()]["post"]["requestBody"]["content"]["application/json"]
                    ["schema"]["$ref"],
                format!("#/components/schemas/{name}")
            );
            assert!(json["components"]["schemas"][name].is_object(), "{name}");
        }
    }
}
