//! Outbound HTTP that a hostile broker cannot turn against vitrine: no redirects followed, no
//! proxy, a time limit on every request, answers read as a stream up to a hard size cap, and
//! no connection to loopback, private, link-local (and the like) addresses unless the
//! operator allows them: names are resolved by [`GuardedResolver`], which drops such
//! addresses, and URLs whose host is a literal IP are held to the same rule before anything
//! is sent (reqwest does not consult the resolver for them).
//!
//! Every exchange is recorded as an [`Exchange`] with the `Authorization` header, cookies and
//! any credentials or secrets of a JSON answer redacted, and the bodies cut to 4 KiB.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::report::Exchange;
use crate::{CheckError, Policy};

/// The most bytes of a request or answer body kept in an [`Exchange`].
pub const EXCERPT_BYTES: usize = 4096;

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";

pub use vitrine_outbound::{GuardedResolver, forbidden_reason};

/// Is this URL's host a literal address that may not be reached? (The resolver is not
/// consulted for those.)
pub fn refuse_literal(url: &Url, policy: &Policy) -> Option<String> {
    vitrine_outbound::refuse_literal(url, policy.allow_private_addresses)
}

/// The client every check uses (`vitrine-outbound`'s guarded client).
pub fn client(policy: &Policy) -> Result<reqwest::Client, CheckError> {
    vitrine_outbound::client(&vitrine_outbound::ClientSettings {
        allow_private_addresses: policy.allow_private_addresses,
        request_timeout: policy.request_timeout,
        user_agent: concat!("vitrine-osb/", env!("CARGO_PKG_VERSION")).to_owned(),
    })
    .map_err(CheckError::Client)
}

/// How an answer's body is kept in the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// JSON answers have `credentials` values and secrets redacted; others kept as text.
    Ordinary,
    /// The answer may carry credentials (bindings): a body that is not JSON is withheld.
    Credentials,
}

pub use vitrine_outbound::Failure;

/// An answer, or why there is none, and its record.
#[derive(Clone, Debug)]
pub struct Answer {
    pub exchange: Exchange,
    pub status: Option<u16>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub failure: Option<Failure>,
}

impl Answer {
    /// The body as JSON, or why not.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("the answer is not JSON: {e}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// What went wrong, for a check's detail: the failure, or the status.
    pub fn describe(&self) -> String {
        match (&self.failure, self.status) {
            (Some(failure), _) => failure.to_string(),
            (None, Some(status)) => format!("the answer was {status}"),
            (None, None) => "no answer".to_owned(),
        }
    }
}

/// A request to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<serde_json::Value>,
    pub sensitivity: Sensitivity,
}

/// Sends requests under a policy and keeps the sum of their times.
#[derive(Debug)]
pub struct Guard {
    client: reqwest::Client,
    policy: Policy,
    total_us: AtomicU64,
}

impl Guard {
    pub fn new(policy: &Policy) -> Result<Self, CheckError> {
        Ok(Guard {
            client: client(policy)?,
            policy: policy.clone(),
            total_us: AtomicU64::new(0),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The summed elapsed time of every exchange so far, in milliseconds (summed in
    /// microseconds, so that many sub-millisecond exchanges are not counted as nothing).
    pub fn total_ms(&self) -> u64 {
        (self.total_us.load(Ordering::Relaxed) + 500) / 1000
    }

    /// Sends the request and reads the answer up to the cap. Never fails: a failure is in
    /// the answer.
    pub async fn send(&self, outgoing: Outgoing) -> Answer {
        let started = Instant::now();
        let mut exchange = Exchange {
            method: outgoing.method.to_string(),
            url: outgoing.url.to_string(),
            request_headers: outgoing
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), redact_header(name, value)))
                .collect(),
            request_body: outgoing
                .body
                .as_ref()
                .map(|b| excerpt(&redact_json(b.clone()).to_string())),
            ..Exchange::default()
        };
        let mut answer = Answer {
            exchange: Exchange::default(),
            status: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            failure: None,
        };
        if let Some(why) = refuse_literal(&outgoing.url, &self.policy) {
            answer.failure = Some(Failure::Refused(why));
        } else {
            // The client's timeout covers the whole exchange; this one is a backstop.
            let limit = self.policy.request_timeout + Duration::from_millis(250);
            match tokio::time::timeout(limit, self.exchange(&outgoing, &mut answer)).await {
                Ok(()) => {}
                Err(_) => answer.failure = Some(Failure::Timeout),
            }
        }
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.total_us.fetch_add(elapsed_us, Ordering::Relaxed);
        exchange.elapsed_ms = (elapsed_us + 500) / 1000;
        exchange.status = answer.status;
        exchange.response_headers = answer
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), redact_header(name, value)))
            .collect();
        exchange.error = answer.failure.as_ref().map(ToString::to_string);
        if answer.status.is_some() {
            exchange.response_body = Some(body_excerpt(&answer.body, outgoing.sensitivity));
        }
        answer.exchange = exchange;
        answer
    }

    async fn exchange(&self, outgoing: &Outgoing, answer: &mut Answer) {
        let mut request = self
            .client
            .request(outgoing.method.clone(), outgoing.url.clone());
        for (name, value) in &outgoing.headers {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(body) = &outgoing.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                answer.failure = Some(transport_failure(&e));
                return;
            }
        };
        answer.status = Some(response.status().as_u16());
        answer.headers = response.headers().clone();
        // Keep what fits of an oversized answer, for the excerpt; the rest is never read.
        let (body, failure) =
            vitrine_outbound::read_capped(response, self.policy.max_response_bytes, EXCERPT_BYTES)
                .await;
        answer.body = body;
        answer.failure = failure;
    }
}

fn transport_failure(e: &reqwest::Error) -> Failure {
    vitrine_outbound::transport_error(e)
}

fn redact_header(name: &HeaderName, value: &HeaderValue) -> String {
    match name.as_str() {
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" => REDACTED.to_owned(),
        _ => String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

/// Replaces the values under `credentials` (at any depth) and of keys that name secrets.
pub fn redact_json(mut value: serde_json::Value) -> serde_json::Value {
    redact_in_place(&mut value);
    value
}

fn redact_in_place(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if key == "credentials" {
                    match inner {
                        serde_json::Value::Object(fields) => {
                            for field in fields.values_mut() {
                                *field = serde_json::Value::String(REDACTED.to_owned());
                            }
                        }
                        other => *other = serde_json::Value::String(REDACTED.to_owned()),
                    }
                } else if matches!(
                    key.as_str(),
                    "secret" | "password" | "client_secret" | "token" | "access_token"
                ) {
                    *inner = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact_in_place(inner);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

fn body_excerpt(body: &[u8], sensitivity: Sensitivity) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => excerpt(&redact_json(json).to_string()),
        Err(_) if sensitivity == Sensitivity::Credentials && !body.is_empty() => {
            "[withheld: not JSON, and it may carry credentials]".to_owned()
        }
        Err(_) => excerpt(&String::from_utf8_lossy(
            &body[..body.len().min(EXCERPT_BYTES)],
        )),
    }
}

/// At most [`EXCERPT_BYTES`] of the text, cut on a character boundary.
pub fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = EXCERPT_BYTES - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_in_urls_are_refused_unless_allowed() {
        let policy = Policy::default();
        for url in [
            "http://127.0.0.1:8080/v2/catalog",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://10.0.0.8/",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let url = Url::parse(url).expect("a test URL");
            assert!(refuse_literal(&url, &policy).is_some(), "{url} allowed");
        }
        let allowing = Policy {
            allow_private_addresses: true,
            ..Policy::default()
        };
        let url = Url::parse("http://127.0.0.1/").expect("a test URL");
        assert_eq!(refuse_literal(&url, &allowing), None);
        let named = Url::parse("http://broker.example.com/").expect("a test URL");
        assert_eq!(refuse_literal(&named, &policy), None);
    }

    #[test]
    fn credentials_and_secrets_are_redacted() {
        let answer = serde_json::json!({
            "credentials": {"uri": "postgres://u:p@h/db", "port": 5432},
            "services": [{"dashboard_client": {"id": "c", "secret": "s"}}],
            "keep": "this"
        });
        let redacted = redact_json(answer);
        assert_eq!(redacted["credentials"]["uri"], REDACTED);
        assert_eq!(redacted["credentials"]["port"], REDACTED);
        assert_eq!(
            redacted["services"][0]["dashboard_client"]["secret"],
            REDACTED
        );
        assert_eq!(redacted["services"][0]["dashboard_client"]["id"], "c");
        assert_eq!(redacted["keep"], "this");
        assert_eq!(
            body_excerpt(b"user=a password=b", Sensitivity::Credentials),
            "[withheld: not JSON, and it may carry credentials]"
        );
    }

    #[test]
    fn excerpts_are_cut_on_a_character_boundary() {
        let long = "é".repeat(5000);
        let cut = excerpt(&long);
        assert!(cut.len() <= EXCERPT_BYTES);
        assert!(cut.ends_with("..."));
    }

    #[test]
    fn other_reqwest_clients_of_the_workspace_still_build() {
        // This crate turns rustls on in the workspace's reqwest; a client built without a
        // preconfigured TLS set-up must still build (reqwest falls back on ring).
        reqwest::Client::builder()
            .build()
            .expect("a plain reqwest client builds");
    }

    #[tokio::test]
    async fn localhost_is_refused_by_the_resolver() {
        let policy = Policy {
            request_timeout: Duration::from_secs(2),
            ..Policy::default()
        };
        let guard = Guard::new(&policy).expect("a client");
        let answer = guard
            .send(Outgoing {
                method: reqwest::Method::GET,
                url: Url::parse("http://localhost:9/").expect("a test URL"),
                headers: Vec::new(),
                body: None,
                sensitivity: Sensitivity::Ordinary,
            })
            .await;
        assert_eq!(answer.status, None);
        match answer.failure {
            Some(Failure::Refused(why)) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("not refused: {other:?}"),
        }
        assert!(
            answer
                .exchange
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("refused"))
        );
    }
}
