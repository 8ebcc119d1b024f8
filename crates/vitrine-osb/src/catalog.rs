//! `GET /v2/catalog` and the MUSTs of the spec's Catalog Management section.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::Expectations;
use crate::broker::Broker;
use crate::checks::{Pending, begin};
use crate::guard::{Sensitivity, excerpt};
use crate::report::Check;

/// "Schemas MUST NOT be larger than 64kB": read as 64 × 1024 bytes of the schema's JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The plan the lifecycle runs on, and what the catalog says of it.
#[derive(Clone, Debug, Default)]
pub struct Chosen {
    pub service_id: String,
    pub plan_id: String,
    pub plan_name: String,
    pub bindable: bool,
    pub instances_retrievable: bool,
    pub bindings_retrievable: bool,
    /// The plan's `maximum_polling_duration`, in seconds.
    pub maximum_polling_duration: Option<u64>,
    /// The service's `dashboard_client.id`.
    pub dashboard_client_id: Option<String>,
}

/// What the catalog part of a run found.
pub struct Outcome {
    pub checks: Vec<Check>,
    /// None when the catalog could not be read or has no usable plan.
    pub chosen: Option<Chosen>,
    /// Why no plan was chosen.
    pub why_none: String,
}

fn non_empty_string(object: &Map<String, Value>, key: &str) -> bool {
    object
        .get(key)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn str_of<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    object.get(key).and_then(Value::as_str)
}

/// The catalog's services as objects (non-objects are skipped; `required_fields` names them).
fn services(catalog: &Value) -> Vec<&Map<String, Value>> {
    catalog
        .get("services")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

fn plans(service: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    service
        .get("plans")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

fn label(object: &Map<String, Value>, kind: &str, index: usize) -> String {
    match str_of(object, "name") {
        Some(name) if !name.is_empty() => format!("{kind} {index} ({name:?})"),
        _ => format!("{kind} {index}"),
    }
}

pub fn required_fields(catalog: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(list) = catalog.get("services") else {
        problems.push("the catalog has no \"services\" array".to_owned());
        return problems;
    };
    let Some(list) = list.as_array() else {
        problems.push("\"services\" is not an array".to_owned());
        return problems;
    };
    for (i, service) in list.iter().enumerate() {
        let Some(service) = service.as_object() else {
            problems.push(format!("service {i} is not an object"));
            continue;
        };
        let at = label(service, "service", i);
        for key in ["name", "id", "description"] {
            if !non_empty_string(service, key) {
                problems.push(format!("{at}: \"{key}\" MUST be a non-empty string"));
            }
        }
        if !service.get("bindable").is_some_and(Value::is_boolean) {
            problems.push(format!("{at}: \"bindable\" (a boolean) is REQUIRED"));
        }
        for key in [
            "instances_retrievable",
            "bindings_retrievable",
            "allow_context_updates",
            "plan_updateable",
        ] {
            if service.get(key).is_some_and(|v| !v.is_boolean()) {
                problems.push(format!("{at}: \"{key}\" is not a boolean"));
            }
        }
        for key in ["tags", "requires"] {
            if let Some(v) = service.get(key)
                && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            {
                problems.push(format!("{at}: \"{key}\" is not an array of strings"));
            }
        }
        if let Some(client) = service.get("dashboard_client") {
            match client.as_object() {
                Some(client) => {
                    for key in ["id", "secret"] {
                        if !non_empty_string(client, key) {
                            problems.push(format!(
                                "{at}: \"dashboard_client.{key}\" MUST be a non-empty string"
                            ));
                        }
                    }
                }
                None => problems.push(format!("{at}: \"dashboard_client\" is not an object")),
            }
        }
        match service.get("plans").and_then(Value::as_array) {
            None => problems.push(format!("{at}: \"plans\" (an array) is REQUIRED")),
            Some(list) if list.is_empty() => problems.push(format!(
                "{at}: \"plans\" MUST contain at least one Service Plan"
            )),
            Some(list) => {
                for (j, plan) in list.iter().enumerate() {
                    let Some(plan) = plan.as_object() else {
                        problems.push(format!("{at}: plan {j} is not an object"));
                        continue;
                    };
                    let pat = format!("{at}, {}", label(plan, "plan", j));
                    for key in ["id", "name", "description"] {
                        if !non_empty_string(plan, key) {
                            problems.push(format!("{pat}: \"{key}\" MUST be a non-empty string"));
                        }
                    }
                    for key in ["free", "bindable", "plan_updateable", "binding_rotatable"] {
                        if plan.get(key).is_some_and(|v| !v.is_boolean()) {
                            problems.push(format!("{pat}: \"{key}\" is not a boolean"));
                        }
                    }
                    if plan
                        .get("maximum_polling_duration")
                        .is_some_and(|v| v.as_u64().is_none())
                    {
                        problems.push(format!(
                            "{pat}: \"maximum_polling_duration\" is not a non-negative integer"
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn duplicates<'v>(values: impl Iterator<Item = &'v str>) -> Vec<&'v str> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for v in values {
        *seen.entry(v).or_default() += 1;
    }
    let mut dups: Vec<&str> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(v, _)| v)
        .collect();
    dups.sort_unstable();
    dups
}

pub fn unique_ids(catalog: &Value) -> Vec<String> {
    let services = services(catalog);
    let mut problems: Vec<String> = duplicates(services.iter().filter_map(|s| str_of(s, "id")))
        .into_iter()
        .map(|id| format!("service id {id:?} appears more than once"))
        .collect();
    let plan_ids = services
        .iter()
        .flat_map(|s| plans(s))
        .filter_map(|p| str_of(p, "id"));
    problems.extend(
        duplicates(plan_ids)
            .into_iter()
            .map(|id| format!("plan id {id:?} appears more than once")),
    );
    problems
}

pub fn unique_names(catalog: &Value) -> Vec<String> {
    let services = services(catalog);
    let mut problems: Vec<String> = duplicates(services.iter().filter_map(|s| str_of(s, "name")))
        .into_iter()
        .map(|name| format!("service name {name:?} appears more than once"))
        .collect();
    for (i, service) in services.iter().enumerate() {
        let names = plans(service).into_iter().filter_map(|p| str_of(p, "name"));
        for name in duplicates(names) {
            problems.push(format!(
                "{}: plan name {name:?} appears more than once",
                label(service, "service", i)
            ));
        }
    }
    problems
}

/// Every `$ref` in the schema that points outside it (anything but `#…`).
fn external_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref"
                    && let Some(target) = inner.as_str()
                    && !target.starts_with('#')
                {
                    found.push(target.to_owned());
                }
                external_refs(inner, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| external_refs(i, found)),
        _ => {}
    }
}

/// The schema's problems, if any.
pub fn schema_problems(schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(object) = schema.as_object() else {
        return vec!["is not a JSON object".to_owned()];
    };
    let size = schema.to_string().len();
    if size > MAX_SCHEMA_BYTES {
        return vec![format!(
            "is {size} bytes, larger than 64kB ({MAX_SCHEMA_BYTES} bytes)"
        )];
    }
    match object.get("$schema") {
        None => problems.push("has no \"$schema\" key".to_owned()),
        Some(v) if !v.is_string() => problems.push("\"$schema\" is not a string".to_owned()),
        Some(_) => {}
    }
    let mut refs = Vec::new();
    external_refs(schema, &mut refs);
    for target in &refs {
        problems.push(format!("has an external reference {target:?}"));
    }
    if problems.is_empty() {
        // Validity against its draft's meta-schema, and that it compiles (patterns, local
        // references). No retriever is built in: nothing is ever fetched. A panic in the
        // library on hostile input is a failed check, not a failed run.
        let verdict = std::panic::catch_unwind(|| {
            jsonschema::meta::validate(schema)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    jsonschema::validator_for(schema)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
        });
        match verdict {
            Ok(Ok(())) => {}
            Ok(Err(why)) => problems.push(format!("is not a valid JSON Schema: {}", excerpt(&why))),
            Err(_) => problems.push("could not be read as a JSON Schema".to_owned()),
        }
    }
    problems
}

pub fn plan_schemas(catalog: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, service) in services(catalog).into_iter().enumerate() {
        for (j, plan) in plans(service).into_iter().enumerate() {
            let Some(schemas) = plan.get("schemas") else {
                continue;
            };
            let at = format!(
                "{}, {}",
                label(service, "service", i),
                label(plan, "plan", j)
            );
            for path in [
                ["service_instance", "create"],
                ["service_instance", "update"],
                ["service_binding", "create"],
            ] {
                let Some(parameters) = schemas
                    .get(path[0])
                    .and_then(|s| s.get(path[1]))
                    .and_then(|s| s.get("parameters"))
                else {
                    continue;
                };
                for problem in schema_problems(parameters) {
                    problems.push(format!(
                        "{at}: schemas.{}.{}.parameters {problem}",
                        path[0], path[1]
                    ));
                }
            }
        }
    }
    problems
}

pub fn maintenance_info(catalog: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, service) in services(catalog).into_iter().enumerate() {
        for (j, plan) in plans(service).into_iter().enumerate() {
            let Some(info) = plan.get("maintenance_info") else {
                continue;
            };
            let at = format!(
                "{}, {}",
                label(service, "service", i),
                label(plan, "plan", j)
            );
            match info.get("version").and_then(Value::as_str) {
                None => problems.push(format!(
                    "{at}: maintenance_info has no \"version\" string (REQUIRED)"
                )),
                Some(version) => {
                    if let Err(e) = semver::Version::parse(version) {
                        problems.push(format!(
                            "{at}: maintenance_info.version {version:?} is not a semantic version: {e}"
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// The plan names missing from the catalog, and those the offering does not have.
pub fn offering_mismatch(catalog: &Value, expected: &[String]) -> Vec<String> {
    let present: BTreeSet<&str> = services(catalog)
        .into_iter()
        .flat_map(plans)
        .filter_map(|p| str_of(p, "name"))
        .collect();
    let wanted: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    let mut problems = Vec::new();
    let missing: Vec<&str> = wanted.difference(&present).copied().collect();
    if !missing.is_empty() {
        problems.push(format!(
            "the offering's plans {missing:?} are not in the catalog"
        ));
    }
    let extra: Vec<&str> = present.difference(&wanted).copied().collect();
    if !extra.is_empty() {
        problems.push(format!(
            "the catalog's plans {extra:?} are not plans of the offering"
        ));
    }
    problems
}

/// The first plan of the first service that has a plan of the offering; else the first plan.
pub fn choose(catalog: &Value, expected: &[String]) -> Option<Chosen> {
    let usable = |p: &&Map<String, Value>| non_empty_string(p, "id") && non_empty_string(p, "name");
    let services: Vec<_> = services(catalog)
        .into_iter()
        .filter(|s| non_empty_string(s, "id"))
        .collect();
    let matching = services.iter().find_map(|s| {
        plans(s)
            .into_iter()
            .filter(usable)
            .find(|p| str_of(p, "name").is_some_and(|n| expected.iter().any(|e| e == n)))
            .map(|p| (*s, p))
    });
    let (service, plan) = matching.or_else(|| {
        services
            .iter()
            .find_map(|s| plans(s).into_iter().find(usable).map(|p| (*s, p)))
    })?;
    let flag = |object: &Map<String, Value>, key: &str| object.get(key).and_then(Value::as_bool);
    Some(Chosen {
        service_id: str_of(service, "id").unwrap_or_default().to_owned(),
        plan_id: str_of(plan, "id").unwrap_or_default().to_owned(),
        plan_name: str_of(plan, "name").unwrap_or_default().to_owned(),
        bindable: flag(plan, "bindable")
            .or_else(|| flag(service, "bindable"))
            .unwrap_or(false),
        instances_retrievable: flag(service, "instances_retrievable").unwrap_or(false),
        bindings_retrievable: flag(service, "bindings_retrievable").unwrap_or(false),
        maximum_polling_duration: plan.get("maximum_polling_duration").and_then(Value::as_u64),
        dashboard_client_id: service
            .get("dashboard_client")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
    })
}

fn skip_all(checks: &mut Vec<Check>, why: &str) {
    for id in [
        "catalog.required_fields",
        "catalog.unique_ids",
        "catalog.unique_names",
        "catalog.plan_schemas",
        "catalog.maintenance_info_semver",
        "catalog.matches_offering",
    ] {
        checks.push(crate::checks::begin(id).skipped(why));
    }
}

/// Fetches the catalog and runs its checks.
pub async fn check(broker: &Broker<'_>, expectations: &Expectations) -> Outcome {
    let mut checks = Vec::new();
    let mut fetched: Pending = begin("catalog.fetched");
    let answer = broker
        .get(broker.url(&["v2", "catalog"], &[]), Sensitivity::Ordinary)
        .await;
    fetched.record(&answer);
    let catalog = match (&answer.failure, answer.status) {
        (Some(failure), _) => Err(failure.to_string()),
        (None, Some(200)) => match answer.json() {
            Ok(value) if value.is_object() => Ok(value),
            Ok(_) => Err("the answer is JSON but not an object".to_owned()),
            Err(why) => Err(why),
        },
        (None, Some(status)) => Err(format!("the catalog answered {status}, not 200 OK")),
        (None, None) => Err("no answer".to_owned()),
    };
    let catalog = match catalog {
        Ok(catalog) => {
            checks.push(fetched.passed());
            catalog
        }
        Err(why) => {
            checks.push(fetched.failed(why));
            skip_all(&mut checks, "the catalog could not be read");
            return Outcome {
                checks,
                chosen: None,
                why_none: "the catalog could not be read".to_owned(),
            };
        }
    };
    checks.push(begin("catalog.required_fields").judged_by(&required_fields(&catalog)));
    checks.push(begin("catalog.unique_ids").judged_by(&unique_ids(&catalog)));
    checks.push(begin("catalog.unique_names").judged_by(&unique_names(&catalog)));
    checks.push(begin("catalog.plan_schemas").judged_by(&plan_schemas(&catalog)));
    checks.push(begin("catalog.maintenance_info_semver").judged_by(&maintenance_info(&catalog)));
    let matches = begin("catalog.matches_offering");
    checks.push(if expectations.plan_names.is_empty() {
        matches.skipped("the offering has no plans in vitrine to compare with")
    } else {
        matches.judged_by(&offering_mismatch(&catalog, &expectations.plan_names))
    });
    let chosen = choose(&catalog, &expectations.plan_names);
    Outcome {
        checks,
        why_none: if chosen.is_none() {
            "the catalog has no service with a usable plan (an id and a name)".to_owned()
        } else {
            String::new()
        },
        chosen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"services": [{
            "name": "db", "id": "s1", "description": "A database", "bindable": true,
            "plans": [
                {"id": "p1", "name": "small", "description": "Small",
                 "maintenance_info": {"version": "2.1.1+abcdef"},
                 "schemas": {"service_instance": {"create": {"parameters": {
                    "$schema": "http://json-schema.org/draft-04/schema#",
                    "type": "object",
                    "properties": {"size": {"$ref": "#/definitions/size"}},
                    "definitions": {"size": {"type": "integer"}}
                 }}}}},
                {"id": "p2", "name": "large", "description": "Large", "bindable": false}
            ]
        }]})
    }

    #[test]
    fn a_good_catalog_has_no_problems() {
        let catalog = good();
        assert_eq!(required_fields(&catalog), Vec::<String>::new());
        assert_eq!(unique_ids(&catalog), Vec::<String>::new());
        assert_eq!(unique_names(&catalog), Vec::<String>::new());
        assert_eq!(plan_schemas(&catalog), Vec::<String>::new());
        assert_eq!(maintenance_info(&catalog), Vec::<String>::new());
        let expected = vec!["small".to_owned(), "large".to_owned()];
        assert_eq!(offering_mismatch(&catalog, &expected), Vec::<String>::new());
        let chosen = choose(&catalog, &expected).expect("a plan");
        assert_eq!((chosen.plan_id.as_str(), chosen.bindable), ("p1", true));
        let chosen = choose(&catalog, &["large".to_owned()]).expect("a plan");
        assert_eq!((chosen.plan_id.as_str(), chosen.bindable), ("p2", false));
    }

    #[test]
    fn each_rule_names_what_breaks_it() {
        let mut catalog = good();
        catalog["services"][0]["plans"][1]["id"] = json!("p1");
        catalog["services"][0]["plans"][1]["name"] = json!("small");
        catalog["services"][0]["description"] = json!("");
        catalog["services"][0]["plans"][0]["maintenance_info"]["version"] = json!("2.1");
        assert!(required_fields(&catalog)[0].contains("\"description\""));
        assert!(unique_ids(&catalog)[0].contains("\"p1\""));
        assert!(unique_names(&catalog)[0].contains("\"small\""));
        assert!(maintenance_info(&catalog)[0].contains("\"2.1\""));
        let mismatch = offering_mismatch(&catalog, &["small".to_owned(), "medium".to_owned()]);
        assert!(mismatch[0].contains("medium"), "{mismatch:?}");
    }

    #[test]
    fn schemas_need_a_draft_no_external_ref_and_validity() {
        let no_draft = json!({"type": "object"});
        assert!(schema_problems(&no_draft)[0].contains("$schema"));
        let external = json!({"$schema": "http://json-schema.org/draft-04/schema#",
                              "properties": {"a": {"$ref": "http://example.com/a.json"}}});
        assert!(schema_problems(&external)[0].contains("external reference"));
        let invalid = json!({"$schema": "http://json-schema.org/draft-04/schema#",
                             "type": "no-such-type"});
        assert!(schema_problems(&invalid)[0].contains("not a valid JSON Schema"));
        let unknown = json!({"$schema": "http://example.com/my-draft", "type": "object"});
        assert!(!schema_problems(&unknown).is_empty());
        let big = json!({"$schema": "http://json-schema.org/draft-04/schema#",
                         "description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(schema_problems(&big)[0].contains("64kB"));
    }
}
