//! Outbound HTTP that a hostile address cannot turn against its caller (the broker checker
//! of `vitrine-osb`, the webhook deliveries of `vitrine-webhooks`): no redirects followed,
//! no proxy, a time limit on every request, answers read up to a hard size cap, and no
//! connection to loopback, private, link-local (and the like) addresses unless the
//! operator allows them. Names are resolved by [`GuardedResolver`], which drops such
//! addresses; URLs whose host is a literal IP are held to the same rule by
//! [`refuse_literal`] before anything is sent (reqwest does not consult the resolver for
//! them).
//!
//! Nothing here knows of vitrine: what is sent and how it is recorded is the caller's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

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
/// names (unless private addresses are allowed); a name left with none is an error whose
/// text starts with `refused:` ([`transport_error`] surfaces it).
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
/// consulted for those.) `None` when it may be, or when private addresses are allowed.
pub fn refuse_literal(url: &Url, allow_private_addresses: bool) -> Option<String> {
    if allow_private_addresses {
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

/// How a guarded client behaves.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Loopback, private and link-local addresses are refused unless this is set.
    pub allow_private_addresses: bool,
    /// Each request's whole time limit (connection included).
    pub request_timeout: Duration,
    pub user_agent: String,
}

/// A reqwest client under the settings: rustls with Mozilla's roots, no redirects, no
/// proxy from the environment, the time limit, the guarded resolver.
pub fn client(settings: &ClientSettings) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout)
        .dns_resolver(Arc::new(GuardedResolver::new(
            settings.allow_private_addresses,
        )))
        .user_agent(settings.user_agent.clone())
        .build()
        .map_err(|e| e.to_string())
}

/// Why no usable answer came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The address was refused before anything was sent.
    Refused(String),
    /// No answer within the time limit.
    Timeout,
    /// More than the cap, in bytes.
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

/// What a reqwest error means: a timeout, the resolver's refusal (its words surfaced from
/// the error's sources), or another transport failure with its causes.
pub fn transport_error(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
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

/// Reads an answer's body up to `cap` bytes: a declared or actual length over the cap is
/// [`Failure::TooLarge`] (with the first `keep` bytes read, for an excerpt), and the rest
/// is never read.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    keep: usize,
) -> (Bytes, Option<Failure>) {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return (Bytes::new(), Some(Failure::TooLarge(cap)));
    }
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    let room = cap - body.len();
                    body.extend_from_slice(&chunk[..room.min(keep)]);
                    return (body.freeze(), Some(Failure::TooLarge(cap)));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body.freeze(), None),
            Err(e) => return (body.freeze(), Some(transport_error(&e))),
        }
    }
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
            assert!(refuse_literal(&url, false).is_some(), "{url} allowed");
        }
        let url = Url::parse("http://127.0.0.1/").expect("a test URL");
        assert_eq!(refuse_literal(&url, true), None);
        let named = Url::parse("http://broker.example.com/").expect("a test URL");
        assert_eq!(refuse_literal(&named, false), None);
    }

    #[tokio::test]
    async fn localhost_is_refused_by_the_resolver() {
        let client = client(&ClientSettings {
            allow_private_addresses: false,
            request_timeout: Duration::from_secs(2),
            user_agent: "test".to_owned(),
        })
        .expect("a client");
        let error = client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("refused");
        match transport_error(&error) {
            Failure::Refused(why) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("not refused: {other:?}"),
        }
    }
}
