//! Outbound HTTP that a hostile broker cannot turn against vitrine: no redirects followed, no
//! proxy, a time limit on every request, answers read as a stream up to a hard size cap, and
//! no connection to loopback, private, link-local (and the like) addresses unless the
//! operator allows them: names are resolved by [`GuardedResolver`], which drops such
//! addresses, and URLs whose host is a literal IP are held to the same rule before anything
//! is sent (reqwest does not consult the resolver for them).
//!
//! Every exchange is recorded as an [`Exchange`] with the `Authorization` header, cookies and
//! any credentials or secrets of a JSON answer redacted, and the bodies cut to 4 KiB.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::{Host, Url};

use crate::report::Exchange;
use crate::{CheckError, Policy};

/// The most bytes of a request or answer body kept in an [`Exchange`].
pub const EXCERPT_BYTES: usize = 4096;

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";

/// Why an address may not be reached, or `None` when it may (a public unicast address).
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified (\"this network\") address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if a >= 240 {
        Some("a reserved address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol assignment address")
    } else if a == 198 && (b & 0xfe) == 18 {
        Some("a benchmarking address")
    } else if ip.is_documentation() {
        Some("a documentation address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4).map(|_| "an IPv4-mapped IPv6 address of a forbidden IPv4 one");
    }
    let segments = ip.segments();
    if ip.is_unspecified() {
        Some("the unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if (segments[0] & 0xffc0) == 0xfe80 {
        Some("a link-local address")
    } else if (segments[0] & 0xfe00) == 0xfc00 {
        Some("a unique local address")
    } else if (segments[0] & 0xffc0) == 0xfec0 {
        Some("a site-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if segments[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) ::a.b.c.d
        Some("an IPv4-compatible IPv6 address")
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let embedded = Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        );
        forbidden_v4(embedded).map(|_| "a NAT64 address of a forbidden IPv4 one")
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("a documentation address")
    } else {
        None
    }
}

/// Resolves names with the system resolver and drops the addresses [`forbidden_reason`]
/// names (unless private addresses are allowed); a name left with none is an error.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    allow_private_addresses: bool,
}

impl GuardedResolver {
    pub fn new(allow_private_addresses: bool) -> Self {
        GuardedResolver {
            allow_private_addresses,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private_addresses;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            let mut refused = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match forbidden_reason(addr.ip()) {
                    Some(why) if !allow => {
                        refused = Some((addr.ip(), why));
                        false
                    }
                    _ => true,
                })
                .collect();
            if kept.is_empty() {
                let message = match refused {
                    Some((ip, why)) => format!(
                        "refused: {host} resolves to {ip}, {why}, which vitrine does not call \
                         (the operator did not allow private addresses)"
                    ),
                    None => format!("cannot resolve {host}: no address"),
                };
                return Err(message.into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Is this URL's host a literal address that may not be reached? (The resolver is not
/// consulted for those.)
pub fn refuse_literal(url: &Url, policy: &Policy) -> Option<String> {
    if policy.allow_private_addresses {
        return None;
    }
    let ip = match url.host()? {
        Host::Ipv4(v4) => IpAddr::V4(v4),
        Host::Ipv6(v6) => IpAddr::V6(v6),
        Host::Domain(_) => return None,
    };
    forbidden_reason(ip).map(|why| {
        format!(
            "refused: {ip} is {why}, which vitrine does not call (the operator did not allow \
             private addresses)"
        )
    })
}

/// The client every check uses.
pub fn client(policy: &Policy) -> Result<reqwest::Client, CheckError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CheckError::Client(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(policy.request_timeout)
        .connect_timeout(policy.request_timeout)
        .dns_resolver(Arc::new(GuardedResolver::new(
            policy.allow_private_addresses,
        )))
        .user_agent(concat!("vitrine-osb/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CheckError::Client(format!("{e}")))
}

/// How an answer's body is kept in the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// JSON answers have `credentials` values and secrets redacted; others kept as text.
    Ordinary,
    /// The answer may carry credentials (bindings): a body that is not JSON is withheld.
    Credentials,
}

/// Why no usable answer came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The address was refused before anything was sent.
    Refused(String),
    /// No answer within the policy's time.
    Timeout,
    /// More than `max_response_bytes`.
    TooLarge(usize),
    /// Connection refused, reset, TLS, ...
    Transport(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(why) => f.write_str(why),
            Failure::Timeout => f.write_str("no answer within the time limit"),
            Failure::TooLarge(cap) => write!(
                f,
                "the answer is larger than {cap} bytes, the most vitrine reads"
            ),
            Failure::Transport(why) => write!(f, "the request failed: {why}"),
        }
    }
}

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
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                answer.failure = Some(transport_failure(&e));
                return;
            }
        };
        answer.status = Some(response.status().as_u16());
        answer.headers = response.headers().clone();
        let cap = self.policy.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > cap as u64)
        {
            answer.failure = Some(Failure::TooLarge(cap));
            return;
        }
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        answer.failure = Some(Failure::TooLarge(cap));
                        // Keep what fits, for the excerpt; the rest is never read.
                        let room = cap - body.len();
                        body.extend_from_slice(&chunk[..room.min(EXCERPT_BYTES)]);
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    answer.failure = Some(transport_failure(&e));
                    break;
                }
            }
        }
        answer.body = body.freeze();
    }
}

fn transport_failure(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    // The resolver's refusal comes back wrapped: surface its words.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let said = inner.to_string();
        if said.starts_with("refused:") {
            return Failure::Refused(said);
        }
        text = format!("{text}: {said}");
        source = inner.source();
    }
    Failure::Transport(text)
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

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden_reason(ip(refused)).is_some(), "{refused} allowed");
        }
        for allowed in [
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2a00:1450:4007:80e::200e",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(forbidden_reason(ip(allowed)), None, "{allowed} refused");
        }
    }

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
