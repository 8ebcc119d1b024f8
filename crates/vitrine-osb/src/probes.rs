//! Negative probes: what the spec says a broker answers to requests a Platform gets wrong.

use reqwest::Method;

use crate::broker::{Broker, Variant};
use crate::catalog::Chosen;
use crate::checks::begin;
use crate::guard::Sensitivity;
use crate::report::Check;

/// The version sent by the unsupported-version probe: well formed, older than any 2.x.
pub const UNSUPPORTED_VERSION: &str = "1.0";

/// The probes that need no instance, in the report's order.
pub async fn run(broker: &Broker<'_>, chosen: Option<&Chosen>) -> Vec<Check> {
    let mut checks = Vec::new();
    let catalog = || broker.url(&["v2", "catalog"], &[]);

    // Missing X-Broker-API-Version. The header is REQUIRED of the Platform, but of the broker
    // the spec only says it MAY reject such a request with 400 Bad Request (openbrokerapi
    // does; ENGINEERING.md notes it). So a 400 passes, and so does a 412 (a rejection naming
    // the version, which the spec uses for versions the broker does not support). A 200
    // passes too: refusing is a MAY, and failing a broker for not using a MAY would be a
    // false positive. What fails is a 5xx (the broker broke on the missing header), any other
    // code (401, 404, ...: not what the spec names for this), or no answer.
    let mut missing = begin("probe.missing_version_header");
    let answer = broker
        .call(
            Method::GET,
            catalog(),
            None,
            Sensitivity::Ordinary,
            Variant::NoVersionHeader,
        )
        .await;
    missing.record(&answer);
    checks.push(match (answer.failure.is_some(), answer.status) {
        (false, Some(400)) => missing.passed_with("rejected with 400 Bad Request"),
        (false, Some(412)) => missing.passed_with("rejected with 412 Precondition Failed"),
        (false, Some(200)) => {
            missing.passed_with("accepted (the spec allows the broker not to reject it)")
        }
        _ => missing.failed(format!(
            "{}; the spec names 400 Bad Request for a request without the header",
            answer.describe()
        )),
    });

    // A version the broker does not support: the spec names 412 Precondition Failed; a 200
    // means the broker speaks it (allowed).
    let mut unsupported = begin("probe.unsupported_version");
    let answer = broker
        .call(
            Method::GET,
            catalog(),
            None,
            Sensitivity::Ordinary,
            Variant::Version(UNSUPPORTED_VERSION),
        )
        .await;
    unsupported.record(&answer);
    checks.push(match (answer.failure.is_some(), answer.status) {
        (false, Some(412)) => unsupported.passed_with("rejected with 412 Precondition Failed"),
        (false, Some(200)) => unsupported.passed_with(format!(
            "accepted: the broker says it speaks {UNSUPPORTED_VERSION}"
        )),
        _ => unsupported.failed(format!(
            "{}; the spec names 412 Precondition Failed for X-Broker-API-Version: {UNSUPPORTED_VERSION}",
            answer.describe()
        )),
    });

    let credentials = begin("probe.bad_credentials");
    let answer = broker
        .call(
            Method::GET,
            catalog(),
            None,
            Sensitivity::Ordinary,
            Variant::WrongCredentials,
        )
        .await;
    checks.push(credentials.expect_status(
        &answer,
        401,
        "wrong credentials MUST get 401 Unauthorized",
    ));

    let unknown = uuid::Uuid::new_v4().to_string();
    let ids: Vec<(&str, &str)> = chosen
        .map(|c| {
            vec![
                ("service_id", c.service_id.as_str()),
                ("plan_id", c.plan_id.as_str()),
            ]
        })
        .unwrap_or_default();

    // last_operation of an instance that never existed. The spec: 404 MUST be returned if
    // the instance does not exist; 410 is for asynchronous deletes. A broker cannot tell an
    // id it never saw from one it deleted asynchronously, and openbrokerapi answers 410 for
    // both, so 410 passes too (a Platform treats it as "gone", which is true).
    let mut polling = begin("probe.unknown_instance_last_operation");
    let answer = broker
        .get(
            broker.url(
                &["v2", "service_instances", &unknown, "last_operation"],
                &ids,
            ),
            Sensitivity::Ordinary,
        )
        .await;
    polling.record(&answer);
    checks.push(match (answer.failure.is_some(), answer.status) {
        (false, Some(404)) => polling.passed(),
        (false, Some(410)) => polling.passed_with(
            "410 Gone (the spec names 404; 410 is accepted: the broker cannot tell an unknown id from a deleted one)",
        ),
        _ => polling.failed(format!(
            "{}; 404 Not Found MUST be returned for an instance that does not exist",
            answer.describe()
        )),
    });

    let fetch = begin("probe.unknown_instance_fetch");
    checks.push(match chosen {
        Some(c) if c.instances_retrievable => {
            let answer = broker
                .get(
                    broker.url(&["v2", "service_instances", &unknown], &ids),
                    Sensitivity::Ordinary,
                )
                .await;
            fetch.expect_status(
                &answer,
                404,
                "404 Not Found MUST be returned if the instance does not exist",
            )
        }
        Some(_) => fetch.skipped("the catalog does not declare instances_retrievable"),
        None => fetch.skipped("the catalog could not be read"),
    });

    let delete = begin("probe.unknown_instance_delete");
    checks.push(match chosen {
        Some(_) => {
            let answer = broker
                .delete(broker.url(&["v2", "service_instances", &unknown], &ids))
                .await;
            delete.expect_status(
                &answer,
                410,
                "410 Gone MUST be returned if the instance does not exist",
            )
        }
        // Its service_id and plan_id are REQUIRED query parameters: without a catalog there
        // are none to send.
        None => delete.skipped("the catalog could not be read (a DELETE needs a plan's ids)"),
    });
    checks
}
