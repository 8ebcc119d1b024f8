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

    /// The field of this form that shows the API's refusal of `api_field`: the dotted path
    /// of the body [`Form::to_json`] built (`plans.1.pricing.amount`, `holidays.0`), and the
    /// message (serde names a missing field's parent: "missing field `en`"). Array indices
    /// are counted in the body, whose blank rows were dropped, so they are mapped back to
    /// the rows the reader saw. Without a field of that exact path, the nearest one: its
    /// English text (`display_name` → `display_name.en`), else the closest enclosing field.
    pub fn field_for_error(&self, api_field: &str, message: &str) -> Option<String> {
        let rows = self.sent_rows();
        let mut path = String::new();
        for part in api_field.split('.').filter(|p| !p.is_empty()) {
            match part.parse::<usize>() {
                Ok(sent) => {
                    let shown = rows
                        .get(&path)
                        .and_then(|indices| indices.iter().nth(sent))
                        .copied()
                        .unwrap_or(sent);
                    path.push_str(&format!("[{shown}]"));
                }
                Err(_) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(part);
                }
            }
        }
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(missing);
        }
        let named = |path: &str| {
            self.fields
                .iter()
                .map(|(name, _)| name.as_str())
                .find(|name| name.split(':').next() == Some(path))
                .map(str::to_owned)
        };
        if let Some(field) = named(&path).or_else(|| named(&format!("{path}.en"))) {
            return Some(field);
        }
        let mut prefix = path.as_str();
        while let Some(cut) = prefix.rfind(['.', '[']) {
            prefix = &prefix[..cut];
            if let Some(field) = named(prefix) {
                return Some(field);
            }
        }
        None
    }

    /// For each array of the body (by its path as the form writes it, `plans`,
    /// `verdicts[2].notes`), the form's row indices that reached the body, in order.
    fn sent_rows(&self) -> HashMap<String, std::collections::BTreeSet<usize>> {
        let mut rows: HashMap<String, std::collections::BTreeSet<usize>> = HashMap::new();
        for (name, value) in &self.fields {
            if name.starts_with('_') {
                continue;
            }
            let (path, kind) = name.split_once(':').unwrap_or((name, "str"));
            if typed(kind, value).is_none() {
                continue;
            }
            let mut prefix = String::new();
            for step in parse_path(path) {
                match step {
                    Step::Key(key) => {
                        if !prefix.is_empty() {
                            prefix.push('.');
                        }
                        prefix.push_str(&key);
                    }
                    Step::Index(index) => {
                        rows.entry(prefix.clone()).or_default().insert(index);
                        prefix.push_str(&format!("[{index}]"));
                    }
                }
            }
        }
        rows
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
    fn the_apis_refusals_are_shown_beside_the_fields_the_reader_typed() {
        let form = Form {
            fields: fields(&[
                ("display_name.en", ""),
                ("holidays:lines", "2026-13-01"),
                ("plans[0].name", ""),
                ("plans[1].name", "pro"),
                ("plans[1].pricing.amount", "x"),
                ("plans[2].name", ""),
                ("plans[3].name", "max"),
                ("verdicts[0].comment:text", "why"),
                ("reason:text", ""),
            ]),
        };
        let field = |api: &str, message: &str| form.field_for_error(api, message);
        // Blank rows were dropped from the body: its plans.1 is the form's plans[3].
        assert_eq!(
            field("plans.0.pricing.amount", "bad"),
            Some("plans[1].pricing.amount".into())
        );
        assert_eq!(field("plans.1.name", "taken"), Some("plans[3].name".into()));
        // A missing field is named by its parent; English is what is required.
        assert_eq!(
            field("", "missing field `display_name`"),
            Some("display_name.en".into())
        );
        assert_eq!(
            field("display_name", "missing field `en`"),
            Some("display_name.en".into())
        );
        // The type suffix is the form's; an element of a list is the list's field.
        assert_eq!(
            field("holidays.0", "not a date"),
            Some("holidays:lines".into())
        );
        assert_eq!(
            field("verdicts.0.comment", "needed"),
            Some("verdicts[0].comment:text".into())
        );
        assert_eq!(field("reason", "needed"), Some("reason:text".into()));
        assert_eq!(field("nowhere", "x"), None);
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
