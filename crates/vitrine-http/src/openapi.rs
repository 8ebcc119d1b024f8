//! The OpenAPI document's last touches, after utoipa collected the routes: what utoipa's
//! derives cannot say.
//!
//! - The problems every operation can answer ([`document_common_problems`]).
//! - Field rules: a string field's schema names its validator with a marker pattern
//!   (`vitrine:text:1:200`, see `vitrine_domain::field_schema`), replaced here by the exact
//!   pattern and lengths that validator accepts; `vitrine:time_zone` becomes a reference to
//!   `TimeZone`, the enumeration of the time zone database the server reads (the machine's).
//! - `additionalProperties: false` on the variants of tagged enums the server reads with
//!   `deny_unknown_fields` (utoipa sets it on structs only).

use serde_json::{Map, Value, json};
use vitrine_domain::field_schema::{FieldSchema, MARKER};

/// The marker of a time zone field.
pub const TIME_ZONE_MARKER: &str = "vitrine:time_zone";

/// Tagged enums read with `deny_unknown_fields`, whose variants are closed objects.
const CLOSED_VARIANTS: &[&str] = &["Pricing"];

/// The finished document, serialised.
pub fn finish(mut openapi: utoipa::openapi::OpenApi) -> Result<String, serde_json::Error> {
    document_common_problems(&mut openapi);
    let mut document = serde_json::to_value(&openapi)?;
    refine(&mut document, vitrine_domain::user::time_zone_names());
    serde_json::to_string(&document)
}

/// The pattern of a query parameter's text with no rule of its own: anything but NUL, which
/// `ApiQuery` refuses (no stored text can hold one).
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// Applies the field rules and closed variants to a serialised document.
pub fn refine(document: &mut Value, time_zones: Vec<String>) {
    replace_markers(document);
    no_nul_in_query_text(document);
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "TimeZone".to_owned(),
            json!({
                "type": "string",
                "description": "An IANA time zone name, such as Europe/Paris or UTC",
                "enum": time_zones,
            }),
        );
        for name in CLOSED_VARIANTS {
            if let Some(variants) = schemas
                .get_mut(*name)
                .and_then(|schema| schema.get_mut("oneOf"))
                .and_then(Value::as_array_mut)
            {
                for variant in variants {
                    if let Some(variant) = variant.as_object_mut() {
                        variant.insert("additionalProperties".to_owned(), Value::Bool(false));
                    }
                }
            }
        }
    }
}

fn no_nul_in_query_text(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters {
                if parameter.get("in").and_then(Value::as_str) != Some("query") {
                    continue;
                }
                let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut)
                else {
                    continue;
                };
                let text = match schema.get("type") {
                    Some(Value::String(t)) => t == "string",
                    Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
                    _ => false,
                };
                let ruled = ["pattern", "format", "enum", "$ref"]
                    .iter()
                    .any(|key| schema.contains_key(*key));
                if text && !ruled {
                    schema.insert("pattern".to_owned(), Value::String(NO_NUL.to_owned()));
                }
            }
        }
    }
}

fn replace_markers(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let marker = object
                .get("pattern")
                .and_then(Value::as_str)
                .filter(|p| p.starts_with(MARKER))
                .map(str::to_owned);
            if let Some(marker) = marker {
                apply_marker(object, &marker);
            }
            for child in object.values_mut() {
                replace_markers(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(replace_markers),
        _ => {}
    }
}

fn apply_marker(object: &mut Map<String, Value>, marker: &str) {
    if marker == TIME_ZONE_MARKER {
        object.remove("pattern");
        let nullable = object
            .remove("type")
            .and_then(|t| t.as_array().cloned())
            .is_some_and(|types| types.iter().any(|t| t == "null"));
        let reference = json!({ "$ref": "#/components/schemas/TimeZone" });
        if nullable {
            object.insert("oneOf".to_owned(), json!([reference, { "type": "null" }]));
        } else {
            object.insert("$ref".to_owned(), reference["$ref"].clone());
        }
        return;
    }
    // A marker naming no rule stays as it is, for the document test to find.
    let Some(rule) = FieldSchema::for_marker(marker) else {
        return;
    };
    object.remove("pattern");
    if let Some(pattern) = rule.pattern {
        object.insert("pattern".to_owned(), Value::String(pattern));
    }
    if let Some(min) = rule.min_length {
        object.insert("minLength".to_owned(), json!(min));
    }
    if let Some(max) = rule.max_length {
        object.insert("maxLength".to_owned(), json!(max));
    }
}

/// Adds the problems any operation can answer to every operation of the document: 401 under
/// `/api/v1` (a wrong token is refused even where signing in is optional), those of the JSON
/// body extractor where there is a body, and 500 everywhere. Run after the routes are
/// collected (the derive's modifiers run before).
pub fn document_common_problems(openapi: &mut utoipa::openapi::OpenApi) {
    let problem = || utoipa::openapi::Ref::new("#/components/responses/Problem");
    for (path, item) in openapi.paths.paths.iter_mut() {
        let under_api = path.starts_with("/api/v1/");
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            if under_api {
                responses
                    .entry("401".to_owned())
                    .or_insert_with(|| problem().into());
            }
            if operation.request_body.is_some() {
                for status in ["400", "413", "415", "422"] {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem().into());
                }
            }
            responses
                .entry("500".to_owned())
                .or_insert_with(|| problem().into());
            // Every response says something: where an operation gave no words of its own,
            // its status's meaning.
            for (status, response) in responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(response) = response
                    && response.description.trim().is_empty()
                {
                    response.description = status_description(status).to_owned();
                }
            }
        }
    }
}

/// What a status means when the operation says nothing more.
fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "The request succeeded; the body is the result",
        "201" => "Created; the body is what was created",
        "202" => "Accepted; the rest happens in the background",
        "204" => "Done; no body",
        other => other
            .parse::<u16>()
            .ok()
            .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
            .and_then(|code| code.canonical_reason())
            .unwrap_or("See the operation's description"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_rules_and_time_zones_a_reference() {
        let mut document = json!({
            "components": { "schemas": {
                "Pricing": { "oneOf": [ { "type": "object" }, { "type": "object" } ] },
                "Input": { "type": "object", "properties": {
                    "name": { "type": "string", "pattern": "vitrine:text:1:200", "description": "d" },
                    "key": { "type": "string", "pattern": "vitrine:name" },
                    "zone": { "type": ["string", "null"], "pattern": "vitrine:time_zone" },
                    "zone2": { "type": "string", "pattern": "vitrine:time_zone" },
                    "odd": { "type": "string", "pattern": "vitrine:nothing" },
                    "plain": { "type": "string", "pattern": "^[a-z]+$" },
                } },
            } },
        });
        refine(&mut document, vec!["Europe/Paris".into(), "UTC".into()]);
        let input = &document["components"]["schemas"]["Input"]["properties"];
        assert_eq!(input["name"]["maxLength"], 200);
        assert_eq!(input["name"]["description"], "d");
        assert!(
            input["name"]["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with('^'))
        );
        assert_eq!(input["key"]["pattern"], "^[a-z][a-z0-9-]{1,30}[a-z0-9]$");
        assert_eq!(
            input["zone"]["oneOf"][0]["$ref"],
            "#/components/schemas/TimeZone"
        );
        assert_eq!(input["zone"]["oneOf"][1]["type"], "null");
        assert_eq!(input["zone2"]["$ref"], "#/components/schemas/TimeZone");
        assert!(input["zone2"].get("type").is_none());
        assert_eq!(input["odd"]["pattern"], "vitrine:nothing");
        assert_eq!(input["plain"]["pattern"], "^[a-z]+$");
        let schemas = &document["components"]["schemas"];
        assert_eq!(schemas["TimeZone"]["enum"], json!(["Europe/Paris", "UTC"]));
        assert_eq!(
            schemas["Pricing"]["oneOf"][1]["additionalProperties"],
            false
        );
    }
}
