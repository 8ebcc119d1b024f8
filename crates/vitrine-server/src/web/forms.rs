//! HTML forms: the cross-site check every posted form passes, and the one rule that turns
//! a form into the JSON body of the API call it stands for.
//!
//! Field names are JSON paths with an optional type: `display_name.en`, `plans[0].name`,
//! `plans[0].pricing.amount_cents:int`, `public:bool`, `tags:lines`. A field left empty is
//! left out (the API then applies its default, or says the field is required), so every
//! form maps to its API call without code of its own. Names starting with `_` are for the
//! web layer (`_csrf`, `_next`) and never reach the API.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use super::{CSRF_COOKIE, WebError, cookie};

/// A posted form whose origin and CSRF token were checked.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The last value of a field, as typed (web-layer fields included).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The API request body the form stands for.
    pub fn to_json(&self) -> Value {
        to_json(&self.fields)
    }

    /// The values as typed, by field name, to fill the form again after a refusal.
    pub fn values(&self) -> HashMap<String, String> {
        self.fields
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Largest form accepted: forms carry text, never files (recordings go through tus).
const MAX_FORM_BYTES: usize = 256 * 1024;

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = WebError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, WebError> {
        let (parts, body) = request.into_parts();
        check_same_origin(&parts.headers)?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| WebError::FormTooLarge)?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let form = Form { fields };
        let expected = cookie(&parts.headers, CSRF_COOKIE).ok_or(WebError::CrossSite)?;
        let given = form.get("_csrf").ok_or(WebError::CrossSite)?;
        if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            return Err(WebError::CrossSite);
        }
        Ok(form)
    }
}

/// Refuses a request a browser says came from another site (`Sec-Fetch-Site`), or whose
/// `Origin` is not this host. Browsers that send neither are left to the token check.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(WebError::CrossSite);
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin);
        if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
            return Err(WebError::CrossSite);
        }
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One step of a field's path: an object key or an array index.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key.to_owned()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            match inner[..end].parse() {
                Ok(index) => steps.push(Step::Index(index)),
                Err(_) => steps.push(Step::Key(inner[..end].to_owned())),
            }
            rest = &inner[end + 1..];
        }
    }
    steps
}

fn typed(kind: &str, value: &str) -> Option<Value> {
    let trimmed = value.trim();
    match kind {
        "bool" => Some(Value::Bool(matches!(trimmed, "true" | "on" | "1" | "yes"))),
        _ if trimmed.is_empty() => None,
        // A number that does not parse is sent as typed: the API's refusal names the field.
        "int" => Some(
            trimmed
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(trimmed.to_owned())),
        ),
        "lines" | "csv" => {
            let separator = if kind == "lines" { '\n' } else { ',' };
            Some(Value::Array(
                trimmed
                    .split(separator)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ))
        }
        // Multi-line text keeps its inner spacing; one-line fields lose stray blanks.
        "text" => Some(Value::String(value.replace("\r\n", "\n").trim().to_owned())),
        _ => Some(Value::String(trimmed.to_owned())),
    }
}

/// Builds the JSON body: nested by path, typed by suffix, empty fields left out, and array
/// rows left entirely empty dropped (a blank "add a plan" row adds nothing).
pub fn to_json(fields: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (name, value) in fields {
        if name.starts_with('_') {
            continue;
        }
        let (path, kind) = name.split_once(':').unwrap_or((name, "str"));
        let Some(value) = typed(kind, value) else {
            continue;
        };
        insert(&mut root, &parse_path(path), value);
    }
    compact(&mut root);
    root
}

fn insert(target: &mut Value, path: &[Step], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    let slot = match first {
        Step::Key(key) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(map) = target else { return };
            map.entry(key.clone()).or_insert(Value::Null)
        }
        Step::Index(index) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let Value::Array(items) = target else { return };
            if items.len() <= *index {
                items.resize(*index + 1, Value::Null);
            }
            &mut items[*index]
        }
    };
    insert(slot, rest, value);
}

/// Removes the holes left by rows with no value at all.
fn compact(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.iter_mut().for_each(compact);
            items.retain(|item| !item.is_null());
        }
        Value::Object(map) => map.values_mut().for_each(compact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paths_nest_types_convert_and_blanks_are_left_out() {
        let body = to_json(&fields(&[
            ("_csrf", "x"),
            ("display_name.en", " Postgres "),
            ("display_name.fr", ""),
            ("plans[0].name", "small"),
            ("plans[0].price:int", "500"),
            ("plans[1].name", ""),
            ("plans[2].name", "large"),
            ("free:bool", "false"),
            ("free:bool", "on"),
            ("tags:lines", "db\r\n\nsql \n"),
            ("category", ""),
            ("notes:text", "  line one\r\n  line two  "),
        ]));
        assert_eq!(
            body,
            json!({
                "display_name": {"en": "Postgres"},
                "plans": [{"name": "small", "price": 500}, {"name": "large"}],
                "free": true,
                "tags": ["db", "sql"],
                "notes": "line one\n  line two",
            })
        );
    }

    #[test]
    fn an_unparsable_number_is_sent_as_typed_for_the_api_to_refuse() {
        assert_eq!(
            to_json(&fields(&[("amount:int", "12,50")])),
            json!({"amount": "12,50"})
        );
    }

    #[test]
    fn a_form_from_another_site_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "vitrine.example".parse().expect("header"));
        assert!(check_same_origin(&headers).is_ok());
        headers.insert("sec-fetch-site", "same-origin".parse().expect("header"));
        headers.insert(
            header::ORIGIN,
            "https://vitrine.example".parse().expect("header"),
        );
        assert!(check_same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            "https://evil.example".parse().expect("header"),
        );
        assert!(check_same_origin(&headers).is_err());
        headers.insert(
            header::ORIGIN,
            "https://vitrine.example".parse().expect("header"),
        );
        headers.insert("sec-fetch-site", "cross-site".parse().expect("header"));
        assert!(check_same_origin(&headers).is_err());
    }
}
