//! Request extractors that answer every failure with a problem document: JSON bodies
//! (415 wrong content type, 413 too large, 400 not JSON, 422 wrong shape with the field
//! named), query strings (422 with the parameter named) and path parameters (a path that
//! cannot name anything is simply not found).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use vitrine_domain::{FieldError, tr};

use crate::problem::{ApiError, ProblemKind};

/// A JSON request body. Every request struct refuses unknown fields, so a typo is an error
/// rather than a silently ignored value.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                tr!(
                    "body.not_json_type",
                    "send the body as JSON with Content-Type: application/json",
                    "envoyez le corps en JSON avec Content-Type: application/json"
                ),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ProblemKind::PayloadTooLarge,
                    tr!(
                        "body.too_large",
                        "the request body is larger than the server accepts",
                        "le corps de la requête dépasse ce que le serveur accepte"
                    ),
                )
            } else {
                ApiError::new(
                    ProblemKind::MalformedBody,
                    tr!(
                        "body.unreadable",
                        "the request body could not be read",
                        "le corps de la requête n’a pas pu être lu"
                    ),
                )
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body, naming the field at fault when its shape is wrong. The syntax is
/// checked on the whole body first, so that broken JSON is always a 400 and never
/// reported as a missing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::new(
            ProblemKind::MalformedBody,
            tr!(
                "body.not_json",
                "the body is not valid JSON: {error}",
                "le corps n’est pas du JSON valide : {error}"
            ),
        )
    })?;
    let value = integral_numbers(value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = field_path(error.path());
        field_error(field, &error.into_inner().to_string())
    })
}

/// JSON has one number type, and JSON Schema's `integer` is any number without a fraction:
/// `145.0` is the integer 145. serde reads an integer field only from a number written
/// without a point, so such numbers are rewritten as integers first (where they fit an
/// `i64` or `u64`; any other number stays as it was, and an `f64` field reads both forms).
fn integral_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63) => {
                // In range and without a fraction: the conversion is exact.
                Value::from(f as i64)
            }
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f < 2f64.powi(64) => Value::from(f as u64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Query string parameters.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // No stored text holds a NUL (PostgreSQL's text cannot), so a filter with one is
        // refused here, as the document's pattern says, rather than failing the database.
        if let Some((name, _)) =
            form_urlencoded::parse(query.as_bytes()).find(|(_, value)| value.contains('\0'))
        {
            return Err(ApiError::invalid(vec![FieldError::new(
                name.into_owned(),
                tr!(
                    "field.nul",
                    "must not contain a NUL character",
                    "ne doit pas contenir de caractère NUL"
                ),
            )]));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let field = field_path(error.path());
                field_error(field, &error.into_inner().to_string())
            })
    }
}

/// Path parameters. One that does not parse (a malformed id, an impossible name) names
/// nothing, so the answer is the same 404 as for a missing resource.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::not_found())
    }
}

/// Dotted field path (`plans.0.pricing.amount`), as the domain names fields.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A 422 naming the field. serde reports a missing or unknown field at its parent, with
/// the name in backquotes in the message; the name is moved into the path.
fn field_error(mut field: String, message: &str) -> ApiError {
    for prefix in ["missing field `", "unknown field `"] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((name, _)) = rest.split_once('`')
            && field.rsplit('.').next() != Some(name)
        {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(name);
        }
    }
    let message = if let Some(rest) = message.strip_prefix("unknown field `") {
        let expected = rest.split_once(", ").map(|(_, e)| e).unwrap_or_default();
        if expected.is_empty() {
            tr!(
                "field.unknown",
                "is not a known field",
                "n’est pas un champ connu"
            )
        } else {
            // serde's list of the known fields ("expected one of `a`, `b`") is kept as it is.
            tr!(
                "field.unknown",
                "is not a known field; {expected}",
                "n’est pas un champ connu ; {expected}"
            )
        }
    } else if message.starts_with("missing field `") {
        vitrine_domain::text::required()
    } else {
        // serde's own words name the type expected ("invalid type: string, expected u32").
        tr!(
            "field.malformed",
            "{message}",
            "valeur invalide ({message})"
        )
    };
    ApiError::invalid(vec![FieldError::new(field, message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        amount: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        plans: Vec<Inner>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Numbers {
        count: u32,
        offset: i64,
        ratio: f64,
        many: Vec<u64>,
    }

    #[test]
    fn numbers_without_a_fraction_are_integers_as_json_schema_says() {
        let read: Numbers =
            parse_json(br#"{"count": 145.0, "offset": -116693.0, "ratio": 2, "many": [1.0, 18446744073709549568.0]}"#)
                .expect("integral numbers");
        assert_eq!(
            read,
            Numbers {
                count: 145,
                offset: -116_693,
                ratio: 2.0,
                many: vec![1, 18_446_744_073_709_549_568]
            }
        );
        // A fraction is still refused where an integer is expected, naming the field.
        let refused =
            parse_json::<Numbers>(br#"{"count": 1.5, "offset": 0, "ratio": 0.5, "many": []}"#)
                .expect_err("a fraction")
                .problem();
        assert_eq!(refused.errors[0].field, "count");
    }

    fn problem_of(body: &str) -> crate::problem::Problem {
        match parse_json::<Outer>(body.as_bytes()) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.problem(),
        }
    }

    #[test]
    fn fields_are_named() {
        let p = problem_of(r#"{"name":"a","plans":[{"amount":"1","price":2}]}"#);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "plans.0.price");
        let p = problem_of(r#"{"name":"a","plans":[{}]}"#);
        assert_eq!(p.errors[0].field, "plans.0.amount");
        assert_eq!(p.errors[0].message, "is required");
        let p = problem_of(r#"{"name":1,"plans":[]}"#);
        assert_eq!(p.errors[0].field, "name");
        let p = problem_of(r#"{"nme":"a","plans":[]}"#);
        assert_eq!(p.errors[0].field, "nme");
    }

    #[test]
    fn syntax_errors_are_malformed() {
        for body in ["{", "not json", r#"{"name":"a","plans":[]} x"#, ""] {
            let p = problem_of(body);
            assert_eq!(p.type_, "/problems/malformed-body", "{body}");
            assert_eq!(p.status, 400);
        }
    }
}
