//! Requests to the broker under test, with the headers the spec asks of a Platform.

use base64::Engine as _;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName, HeaderValue};
use url::Url;

use crate::Target;
use crate::guard::{Answer, Guard, Outgoing, Sensitivity};

pub const VERSION_HEADER: &str = "x-broker-api-version";
pub const ORIGINATING_IDENTITY_HEADER: &str = "x-broker-api-originating-identity";
pub const REQUEST_IDENTITY_HEADER: &str = "x-broker-api-request-identity";

/// How a request departs from a correct one (the negative probes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Correct,
    NoVersionHeader,
    Version(&'static str),
    WrongCredentials,
}

/// The broker under test, spoken to through the guard.
pub struct Broker<'a> {
    pub guard: &'a Guard,
    target: &'a Target,
    originating_identity: Option<HeaderValue>,
}

/// `vitrine <base64 of {"user_id": user}>`.
pub fn originating_identity(user: &str) -> String {
    let value = serde_json::json!({ "user_id": user }).to_string();
    format!(
        "vitrine {}",
        base64::engine::general_purpose::STANDARD.encode(value)
    )
}

fn basic(username: &str, password: &str) -> HeaderValue {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

impl<'a> Broker<'a> {
    pub fn new(guard: &'a Guard, target: &'a Target, originating_user: &str) -> Self {
        Broker {
            guard,
            target,
            originating_identity: HeaderValue::from_str(&originating_identity(originating_user))
                .ok(),
        }
    }

    /// The broker's URL with `segments` appended (its own path kept) and the query.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.target.broker_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        sensitivity: Sensitivity,
        variant: Variant,
    ) -> Answer {
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        match variant {
            Variant::NoVersionHeader => {}
            Variant::Version(version) => headers.push((
                HeaderName::from_static(VERSION_HEADER),
                HeaderValue::from_static(version),
            )),
            Variant::Correct | Variant::WrongCredentials => {
                if let Ok(version) = HeaderValue::from_str(&self.target.api_version) {
                    headers.push((HeaderName::from_static(VERSION_HEADER), version));
                }
            }
        }
        let password = if variant == Variant::WrongCredentials {
            format!("{}-not-the-password", self.target.password)
        } else {
            self.target.password.clone()
        };
        headers.push((AUTHORIZATION, basic(&self.target.username, &password)));
        if let Some(identity) = &self.originating_identity {
            headers.push((
                HeaderName::from_static(ORIGINATING_IDENTITY_HEADER),
                identity.clone(),
            ));
        }
        if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.push((HeaderName::from_static(REQUEST_IDENTITY_HEADER), id));
        }
        headers.push((ACCEPT, HeaderValue::from_static("application/json")));
        self.guard
            .send(Outgoing {
                method,
                url,
                headers,
                body,
                sensitivity,
            })
            .await
    }

    pub async fn get(&self, url: Url, sensitivity: Sensitivity) -> Answer {
        self.call(Method::GET, url, None, sensitivity, Variant::Correct)
            .await
    }

    /// A `DELETE` with the right headers (what is deleted carries no secret).
    pub async fn delete(&self, url: Url) -> Answer {
        self.call(
            Method::DELETE,
            url,
            None,
            Sensitivity::Ordinary,
            Variant::Correct,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originating_identity_is_platform_and_base64_json() {
        let header = originating_identity("user-42");
        let (platform, value) = header.split_once(' ').expect("two parts");
        assert_eq!(platform, "vitrine");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("base64");
        let json: serde_json::Value = serde_json::from_slice(&decoded).expect("JSON");
        assert_eq!(json, serde_json::json!({"user_id": "user-42"}));
    }

    #[test]
    fn paths_are_appended_to_the_broker_url() {
        let guard = Guard::new(&crate::Policy::default()).expect("a client");
        for (base, expected) in [
            ("https://b.example/", "https://b.example/v2/catalog?x=1"),
            (
                "https://b.example/osb",
                "https://b.example/osb/v2/catalog?x=1",
            ),
            (
                "https://b.example/osb/?q=2",
                "https://b.example/osb/v2/catalog?x=1",
            ),
        ] {
            let target = Target {
                broker_url: Url::parse(base).expect("URL"),
                username: "u".into(),
                password: "p".into(),
                api_version: "2.17".into(),
            };
            let broker = Broker::new(&guard, &target, "someone");
            assert_eq!(
                broker.url(&["v2", "catalog"], &[("x", "1")]).as_str(),
                expected
            );
        }
    }
}
