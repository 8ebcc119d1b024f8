//! Every check the crate can emit, in one table: its stable id, its step, the spec's words it
//! is held to, and its title in English and French. A check is begun with [`begin`] by id;
//! the ids the source passes to it are all in the table (tested).

use std::time::Instant;

use crate::guard::Answer;
use crate::report::{Check, Exchange, Outcome, SpecRef, Step};

/// One row of the table.
pub struct Definition {
    pub id: &'static str,
    pub step: Step,
    pub section: &'static str,
    pub words: &'static str,
    pub title_en: &'static str,
    pub title_fr: &'static str,
}

const fn def(
    id: &'static str,
    step: Step,
    section: &'static str,
    words: &'static str,
    title_en: &'static str,
    title_fr: &'static str,
) -> Definition {
    Definition {
        id,
        step,
        section,
        words,
        title_en,
        title_fr,
    }
}

/// The checks, in the order a run emits them.
pub const DEFINITIONS: &[Definition] = &[
    def(
        "catalog.fetched",
        Step::Broker,
        "Catalog Management",
        "200 OK: MUST be returned upon successful processing of this request. The expected response body is below.",
        "The catalog can be fetched",
        "Le catalogue peut être obtenu",
    ),
    def(
        "catalog.required_fields",
        Step::Broker,
        "Catalog Management",
        "Fields with an asterisk are REQUIRED. (services: name, id, description, bindable, plans, which MUST contain at least one Service Plan; plans: id, name, description; each name, id and description MUST be a non-empty string.)",
        "The catalog has every required field",
        "Le catalogue a tous les champs requis",
    ),
    def(
        "catalog.unique_ids",
        Step::Broker,
        "Catalog Management",
        "id: An identifier used to correlate this Service Offering [Service Plan] in future requests to the Service Broker. This MUST be globally unique.",
        "Service and plan ids are unique",
        "Les identifiants des services et des offres sont uniques",
    ),
    def(
        "catalog.unique_names",
        Step::Broker,
        "Catalog Management",
        "name: The name of the Service Offering. MUST be unique across all Service Offering objects returned in this response. / The name of the Service Plan. MUST be unique within the Service Offering.",
        "Service and plan names are unique",
        "Les noms des services et des offres sont uniques",
    ),
    def(
        "catalog.plan_schemas",
        Step::Broker,
        "Catalog Management",
        "The `$schema` key MUST be present in the schema declaring the version of JSON schema being used. Schemas MUST NOT contain any external references. Schemas MUST NOT be larger than 64kB.",
        "Plan schemas are valid JSON Schemas",
        "Les schémas des offres sont des JSON Schema valides",
    ),
    def(
        "catalog.maintenance_info_semver",
        Step::Broker,
        "Catalog Management",
        "maintenance_info.version: This MUST be a string conforming to a semantic version 2.0.",
        "Maintenance versions are semantic versions",
        "Les versions de maintenance suivent le versionnage sémantique",
    ),
    def(
        "catalog.matches_offering",
        Step::Broker,
        "Catalog Management",
        "This endpoint returns a list of all services available on the Service Broker. (vitrine: the catalog's plan names are the offering's plans.)",
        "The catalog's plans are the offering's plans",
        "Les offres du catalogue sont celles de l'offre vitrine",
    ),
    def(
        "provision.created",
        Step::Broker,
        "Provisioning",
        "201 Created: MUST be returned if the Service Instance was provisioned as a result of this request. 202 Accepted: MUST be returned if the Service Instance provisioning is in progress.",
        "A service instance can be provisioned",
        "Une instance peut être créée",
    ),
    def(
        "provision.last_operation",
        Step::Broker,
        "Polling Last Operation for Service Instances",
        "Returning \"state\": \"succeeded\" or \"state\": \"failed\" will cause the Platform to cease polling. [...] the Platform MUST provide the same value [operation] using this query parameter.",
        "An asynchronous provision completes",
        "Une création asynchrone aboutit",
    ),
    def(
        "instance.fetched",
        Step::Broker,
        "Fetching a Service Instance",
        "If \"instances_retrievable\" :true is declared for a Service Offering in the Catalog endpoint, Service Brokers MUST support this endpoint for all Service Plans of the Service Offering.",
        "The instance can be fetched",
        "L'instance peut être lue",
    ),
    def(
        "binding.created",
        Step::Broker,
        "Binding",
        "201 Created: MUST be returned if the Service Binding was created as a result of this request. 202 Accepted: MUST be returned if the binding is in progress.",
        "A binding can be created",
        "Une liaison peut être créée",
    ),
    def(
        "binding.last_operation",
        Step::Broker,
        "Polling Last Operation for Service Bindings",
        "Returning \"state\": \"succeeded\" or \"state\": \"failed\" will cause the Platform to cease polling and, in the case of a Binding request, information regarding the Service Binding can then immediately be fetched.",
        "An asynchronous binding completes",
        "Une liaison asynchrone aboutit",
    ),
    def(
        "binding.fetched",
        Step::Broker,
        "Fetching a Service Binding",
        "If \"bindings_retrievable\" :true is declared for a Service Offering in the Catalog endpoint, Service Brokers MUST support this endpoint for all Service Offerings and Service Plans that support bindings.",
        "The binding can be fetched",
        "La liaison peut être lue",
    ),
    def(
        "probe.unknown_binding_delete",
        Step::Broker,
        "Unbinding",
        "410 Gone: MUST be returned if the Service Binding does not exist.",
        "Unbinding an unknown binding answers 410",
        "Supprimer une liaison inconnue répond 410",
    ),
    def(
        "binding.deleted",
        Step::Broker,
        "Unbinding",
        "200 OK: MUST be returned if the Service Binding was deleted as a result of this request. 202 Accepted: MUST be returned if the unbinding is in progress.",
        "The binding can be deleted",
        "La liaison peut être supprimée",
    ),
    def(
        "instance.deleted",
        Step::Broker,
        "Deprovisioning",
        "200 OK: MUST be returned if the Service Instance was deleted as a result of this request. 202 Accepted: MUST be returned if the Service Instance deletion is in progress.",
        "The instance can be deprovisioned",
        "L'instance peut être supprimée",
    ),
    def(
        "lifecycle.nothing_left",
        Step::Broker,
        "Orphan Mitigation",
        "the Platform SHOULD attempt to delete resources it cannot be sure were successfully created, and SHOULD keep trying to delete them until the Service Broker responds with a success.",
        "Nothing is left behind on the broker",
        "Rien n'est laissé sur le broker",
    ),
    def(
        "probe.missing_version_header",
        Step::Broker,
        "API Version Header",
        "If the request from the Platform to the Service Broker doesn't contain this header, then the Service Broker MAY reject the request with `400 Bad Request` and provide a message that the header is required.",
        "A request without the version header is handled",
        "Une requête sans en-tête de version est traitée",
    ),
    def(
        "probe.unsupported_version",
        Step::Broker,
        "API Version Header",
        "In this scenario the Service Broker MAY reject the request with `412 Precondition Failed` and provide a message that informs the operator of the API version that is to be used instead.",
        "An unsupported API version is handled",
        "Une version d'API non prise en charge est traitée",
    ),
    def(
        "probe.bad_credentials",
        Step::Broker,
        "Platform to Service Broker Authentication",
        "If authentication is used, the Service Broker MUST authenticate the request using the predetermined authentication mechanism, and MUST return a `401 Unauthorized` response if the authentication fails.",
        "Wrong credentials are refused with 401",
        "De mauvais identifiants sont refusés avec 401",
    ),
    def(
        "probe.unknown_instance_last_operation",
        Step::Broker,
        "Polling Last Operation for Service Instances",
        "404 Not Found: MUST be returned if the Service Instance being polled does not exist. 410 Gone: Appropriate only for asynchronous delete operations.",
        "Polling an unknown instance answers 404",
        "Interroger une instance inconnue répond 404",
    ),
    def(
        "probe.unknown_instance_fetch",
        Step::Broker,
        "Fetching a Service Instance",
        "404 Not Found: MUST be returned if the Service Instance does not exist or if a provisioning operation is still in progress.",
        "Fetching an unknown instance answers 404",
        "Lire une instance inconnue répond 404",
    ),
    def(
        "probe.unknown_instance_delete",
        Step::Broker,
        "Deprovisioning",
        "410 Gone: MUST be returned if the Service Instance does not exist.",
        "Deprovisioning an unknown instance answers 410",
        "Supprimer une instance inconnue répond 410",
    ),
    def(
        "documentation.html",
        Step::Documentation,
        "vitrine checklist step 1",
        "The documentation URL answers 2xx with an HTML page.",
        "The documentation page answers with HTML",
        "La page de documentation répond en HTML",
    ),
    def(
        "documentation.languages",
        Step::Documentation,
        "vitrine checklist step 1",
        "The documentation answers in each of the offering's languages (Content-Language or <html lang>).",
        "The documentation exists in the offering's languages",
        "La documentation existe dans les langues de l'offre",
    ),
    def(
        "sign_in.redirect",
        Step::SignIn,
        "Provisioning; profile: Dashboard Client Object",
        "dashboard_url: The URL of a web-based management user interface for the Service Instance. dashboard_client.id: The id of the OAuth client that the dashboard will use. (vitrine: the dashboard redirects to the marketplace's authorization endpoint with that client_id.)",
        "The dashboard signs in through the marketplace",
        "Le tableau de bord se connecte par la place de marché",
    ),
];

/// The definition of a check id.
pub fn definition(id: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.id == id)
}

/// A check under way: its exchanges so far and when it began.
pub struct Pending {
    id: &'static str,
    step: Step,
    spec: SpecRef,
    exchanges: Vec<Exchange>,
    started: Instant,
}

/// The most exchanges one check keeps (polling can make many): the first ones and the last.
const MAX_EXCHANGES: usize = 24;

/// Begins the check `id` (one of [`DEFINITIONS`]).
pub fn begin(id: &'static str) -> Pending {
    let (step, spec) = match definition(id) {
        Some(d) => (
            d.step,
            SpecRef {
                section: d.section.to_owned(),
                words: d.words.to_owned(),
            },
        ),
        None => {
            debug_assert!(false, "check {id} is not in the table");
            (
                Step::Broker,
                SpecRef {
                    section: String::new(),
                    words: String::new(),
                },
            )
        }
    };
    Pending {
        id,
        step,
        spec,
        exchanges: Vec::new(),
        started: Instant::now(),
    }
}

impl Pending {
    /// Keeps the answer's exchange as evidence.
    pub fn record(&mut self, answer: &Answer) {
        if self.exchanges.len() >= MAX_EXCHANGES {
            self.exchanges.remove(MAX_EXCHANGES / 2);
        }
        self.exchanges.push(answer.exchange.clone());
    }

    pub fn passed(self) -> Check {
        self.finish(Outcome::Passed, None)
    }

    pub fn passed_with(self, detail: impl Into<String>) -> Check {
        self.finish(Outcome::Passed, Some(detail.into()))
    }

    pub fn failed(self, detail: impl Into<String>) -> Check {
        self.finish(Outcome::Failed, Some(detail.into()))
    }

    pub fn skipped(self, reason: impl Into<String>) -> Check {
        self.finish(Outcome::Skipped, Some(reason.into()))
    }

    /// Records `answer`; passed if it came with `status`, else failed with what came and
    /// `expected`, the spec's demand (such as "410 Gone MUST be returned if …").
    pub fn expect_status(mut self, answer: &Answer, status: u16, expected: &str) -> Check {
        self.record(answer);
        if answer.failure.is_none() && answer.status == Some(status) {
            self.passed()
        } else {
            self.failed(format!("{}; {expected}", answer.describe()))
        }
    }

    /// Passed when there are no problems, else failed listing them (at most 20).
    pub fn judged_by(self, problems: &[String]) -> Check {
        if problems.is_empty() {
            return self.passed();
        }
        let mut detail = problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if problems.len() > 20 {
            detail.push_str(&format!("; and {} more", problems.len() - 20));
        }
        self.failed(detail)
    }

    fn finish(self, outcome: Outcome, detail: Option<String>) -> Check {
        Check {
            id: self.id.to_owned(),
            step: self.step,
            outcome,
            detail,
            spec: self.spec,
            exchanges: self.exchanges,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// A short human title of a check id in `lang` (`fr` or `fr-…` gives French, anything else
/// English); "Unknown check" for an id this version does not know (an old report's).
pub fn check_title(id: &str, lang: &str) -> &'static str {
    match definition(id) {
        Some(d)
            if lang.eq_ignore_ascii_case("fr") || lang.to_ascii_lowercase().starts_with("fr-") =>
        {
            d.title_fr
        }
        Some(d) => d.title_en,
        None => "Unknown check",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate's sources, where every check is begun with `begin("…")`.
    const SOURCES: &[&str] = &[
        include_str!("catalog.rs"),
        include_str!("lifecycle.rs"),
        include_str!("probes.rs"),
        include_str!("pages.rs"),
        include_str!("lib.rs"),
    ];

    fn emitted_ids() -> Vec<String> {
        let mut ids = Vec::new();
        for source in SOURCES {
            let mut rest = *source;
            while let Some(at) = rest.find("begin(\"") {
                rest = &rest[at + "begin(\"".len()..];
                if let Some(end) = rest.find('"') {
                    ids.push(rest[..end].to_owned());
                    rest = &rest[end..];
                }
            }
        }
        ids
    }

    #[test]
    fn every_check_the_crate_can_emit_has_an_english_and_a_french_title() {
        let ids = emitted_ids();
        assert!(ids.len() >= 20, "found only {ids:?}");
        for id in &ids {
            let d = definition(id).unwrap_or_else(|| panic!("{id} is begun but not defined"));
            assert!(!d.title_en.is_empty() && !d.title_fr.is_empty(), "{id}");
            assert_ne!(d.title_en, d.title_fr, "{id} is not translated");
            assert_eq!(check_title(id, "en"), d.title_en);
            assert_eq!(check_title(id, "fr"), d.title_fr);
            assert_eq!(check_title(id, "de"), d.title_en, "English is the fallback");
        }
        for d in DEFINITIONS {
            assert!(
                ids.iter().any(|id| id == d.id),
                "{} is defined but never begun",
                d.id
            );
            assert!(!d.section.is_empty() && !d.words.is_empty(), "{}", d.id);
        }
        let mut unique: Vec<_> = DEFINITIONS.iter().map(|d| d.id).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), DEFINITIONS.len(), "an id is defined twice");
    }
}
