//! Abuse limits: how often one client address (or one email address) may make vitrine do
//! something costly or guessable: sign in, sign up, send a confirmation or password-reset
//! email. Each limit is a `governor` rate limiter (GCRA: a burst, then one more every
//! period) keyed by the client address or the email address, on vitrine's own clock, so a
//! rehearsal's test clock moves the limits with it and tests need no sleeps.
//!
//! The limiters live in the server's memory: with several servers behind a load balancer
//! each counts what it sees (at most N times the limit in all). The per-account sign-in
//! limit (5 failures in 15 minutes) is the store's and holds across servers.
//!
//! The client address is the connection's peer, or, when that peer is one of the operator's
//! trusted proxies, the right-most address of `X-Forwarded-For` that is not itself a
//! trusted proxy (the left-most entries are whatever the client wrote).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock as GovernorClock, Reference};
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use vitrine_jobs::Clock;

use crate::problem::{ApiError, ProblemKind};

/// The metric counting refusals, by limit.
pub const REFUSED: &str = "vitrine_rate_limited_total";

/// A burst of `burst` actions, then one more every `every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub every: Duration,
}

impl Rate {
    pub const fn new(burst: u32, every: Duration) -> Self {
        Self { burst, every }
    }

    /// How it reads in a refusal: "10 per hour".
    /// "3 per hour", "5 per 15 minutes": `(English, French)`.
    fn describe(&self) -> (String, String) {
        let window = self.every.saturating_mul(self.burst);
        let secs = window.as_secs();
        let (count, en, fr) = match secs {
            s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour", "heure"),
            s if s >= 60 && s % 60 == 0 => (s / 60, "minute", "minute"),
            s => (s, "second", "seconde"),
        };
        let burst = self.burst;
        if count == 1 {
            (format!("{burst} per {en}"), format!("{burst} par {fr}"))
        } else {
            (
                format!("{burst} per {count} {en}s"),
                format!("{burst} par {count} {fr}s"),
            )
        }
    }
}

/// The limits a server applies; see [`Limit`] for what each counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    pub sign_in_per_client: Rate,
    pub sign_up_per_client: Rate,
    pub emails_per_client: Rate,
    pub emails_per_recipient: Rate,
}

impl Default for LimitSettings {
    fn default() -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Self {
            // A person mistyping a password a few times, an office behind one address.
            sign_in_per_client: Rate::new(30, MINUTE.saturating_mul(2)),
            sign_up_per_client: Rate::new(10, MINUTE.saturating_mul(6)),
            // Confirmation and password-reset emails: a mailbox is not a target.
            emails_per_client: Rate::new(10, MINUTE.saturating_mul(6)),
            emails_per_recipient: Rate::new(3, MINUTE.saturating_mul(20)),
        }
    }
}

/// What one limiter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Sign-in attempts from one client address.
    SignInPerClient,
    /// Sign-ups from one client address.
    SignUpPerClient,
    /// Confirmation and password-reset emails asked for from one client address.
    EmailsPerClient,
    /// Confirmation and password-reset emails asked for one email address.
    EmailsPerRecipient,
}

impl Limit {
    /// Its label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::SignInPerClient => "sign_in_per_client",
            Limit::SignUpPerClient => "sign_up_per_client",
            Limit::EmailsPerClient => "emails_per_client",
            Limit::EmailsPerRecipient => "emails_per_recipient",
        }
    }

    /// What it counts, `(English, French)`, read after "too many" / "trop de".
    fn what(self) -> (&'static str, &'static str) {
        match self {
            Limit::SignInPerClient => (
                "sign-in attempts from your address",
                "tentatives de connexion depuis votre adresse",
            ),
            Limit::SignUpPerClient => (
                "sign-ups from your address",
                "inscriptions depuis votre adresse",
            ),
            Limit::EmailsPerClient => (
                "confirmation and password emails asked from your address",
                "e-mails de confirmation et de mot de passe demandés depuis votre adresse",
            ),
            Limit::EmailsPerRecipient => (
                "confirmation and password emails to this address",
                "e-mails de confirmation et de mot de passe vers cette adresse",
            ),
        }
    }
}

/// governor's clock, read from vitrine's (the test clock in a rehearsal).
#[derive(Clone)]
struct LimitClock(Arc<dyn Clock>);

impl GovernorClock for LimitClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        // Nanoseconds since 1970 fit a u64 until 2554; an instant before 1970 reads as 0.
        let nanos = self.0.now().as_nanosecond();
        Nanos::from(u64::try_from(nanos).unwrap_or(0))
    }
}

type Keyed = RateLimiter<
    String,
    HashMapStateStore<String>,
    LimitClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

struct Limiter {
    rate: Rate,
    keyed: Keyed,
}

/// The server's limiters. Cheap to clone.
#[derive(Clone)]
pub struct Limiters {
    clock: LimitClock,
    sign_in_per_client: Arc<Limiter>,
    sign_up_per_client: Arc<Limiter>,
    emails_per_client: Arc<Limiter>,
    emails_per_recipient: Arc<Limiter>,
}

impl Limiters {
    pub fn new(settings: &LimitSettings, clock: Arc<dyn Clock>) -> Self {
        let clock = LimitClock(clock);
        let limiter = |rate: Rate| {
            let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
            // A zero period would mean "no limit"; a nanosecond is as good and keeps the
            // quota valid.
            let every = rate.every.max(Duration::from_nanos(1));
            let quota = Quota::with_period(every)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            Arc::new(Limiter {
                rate,
                keyed: RateLimiter::new(quota, HashMapStateStore::default(), clock.clone()),
            })
        };
        Self {
            sign_in_per_client: limiter(settings.sign_in_per_client),
            sign_up_per_client: limiter(settings.sign_up_per_client),
            emails_per_client: limiter(settings.emails_per_client),
            emails_per_recipient: limiter(settings.emails_per_recipient),
            clock,
        }
    }

    fn limiter(&self, limit: Limit) -> &Limiter {
        match limit {
            Limit::SignInPerClient => &self.sign_in_per_client,
            Limit::SignUpPerClient => &self.sign_up_per_client,
            Limit::EmailsPerClient => &self.emails_per_client,
            Limit::EmailsPerRecipient => &self.emails_per_recipient,
        }
    }

    /// Counts one action under `limit` for `key`; refused with `429 rate-limited` and
    /// `Retry-After` once the limit is reached (the action is then not counted).
    pub fn check(&self, limit: Limit, key: &str) -> Result<(), ApiError> {
        let limiter = self.limiter(limit);
        match limiter.keyed.check_key(&key.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                metrics::counter!(REFUSED, "limit" => limit.as_str()).increment(1);
                let wait = not_until
                    .earliest_possible()
                    .duration_since(self.clock.now());
                let wait = Duration::from(wait);
                // Whole seconds, rounded up: retrying after the header's value succeeds.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let (what_en, what_fr) = limit.what();
                let (rate_en, rate_fr) = limiter.rate.describe();
                let seconds_shown = seconds.max(1);
                Err(ApiError::new(
                    ProblemKind::RateLimited,
                    vitrine_domain::Text::new(
                        "rate_limited",
                        format!(
                            "too many {what_en} (at most {rate_en}); try again in {seconds_shown} s"
                        ),
                        format!(
                            "trop de {what_fr} ({rate_fr} au plus) ; réessayez dans {seconds_shown} s"
                        ),
                    ),
                )
                .retry_after(seconds.max(1)))
            }
        }
    }

    /// Counts one action from `client` under `limit`; a request whose client address is
    /// unknown (served in process without a connection) is not counted.
    pub fn check_client(&self, limit: Limit, client: &ClientAddress) -> Result<(), ApiError> {
        match client.0 {
            Some(ip) => self.check(limit, &ip.to_string()),
            None => Ok(()),
        }
    }

    /// Forgets keys whose limit has fully recovered, so a flood of addresses does not
    /// grow the maps for ever. The housekeeping job calls it.
    pub fn forget_recovered(&self) {
        for limit in [
            Limit::SignInPerClient,
            Limit::SignUpPerClient,
            Limit::EmailsPerClient,
            Limit::EmailsPerRecipient,
        ] {
            let keyed = &self.limiter(limit).keyed;
            keyed.retain_recent();
            keyed.shrink_to_fit();
        }
    }
}

/// The client's address, as [`resolve_client`] found it; `None` when unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or_default())
    }
}

/// The client address of a request from `peer`: `peer` itself unless it is a trusted
/// proxy; then the right-most `X-Forwarded-For` entry that is not a trusted proxy (or the
/// left-most entry, if all are). An unreadable entry stops the walk: what is right of it
/// was written by trusted proxies, what is left of it cannot be trusted.
pub fn resolve_client(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for
        .iter()
        .flat_map(|header| header.split(','))
        .rev()
    {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// Middleware: reads the client address once per request (from the connection and, behind
/// a trusted proxy, `X-Forwarded-For`) and leaves it in the request for [`ClientAddress`].
pub async fn client_address(
    State(trusted): State<Arc<[IpNet]>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let client = peer.map(|peer| {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        resolve_client(peer, &forwarded, &trusted)
    });
    request.extensions_mut().insert(ClientAddress(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Manual(Mutex<jiff::Timestamp>);
    impl Clock for Manual {
        fn now(&self) -> jiff::Timestamp {
            *self.0.lock().expect("lock")
        }
    }
    impl Manual {
        fn advance(&self, by: Duration) {
            let mut now = self.0.lock().expect("lock");
            *now = now
                .checked_add(jiff::SignedDuration::try_from(by).expect("duration"))
                .expect("instant");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        // Not a proxy: what it writes in X-Forwarded-For is ignored.
        assert_eq!(
            resolve_client(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the right-most address the proxy did not add itself.
        assert_eq!(
            resolve_client(ip("10.0.0.2"), &["6.6.6.6, 198.51.100.7"], &trusted),
            ip("198.51.100.7"),
            "the client forged 6.6.6.6; the proxy appended the real address"
        );
        // Two proxies deep, over two headers.
        assert_eq!(
            resolve_client(ip("10.0.0.2"), &["198.51.100.7", "10.1.1.1"], &trusted),
            ip("198.51.100.7")
        );
        // No header, or garbage: the proxy's own address (all its clients share a limit,
        // which is safe).
        assert_eq!(
            resolve_client(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            resolve_client(ip("10.0.0.2"), &["1.2.3.4, nonsense"], &trusted),
            ip("10.0.0.2")
        );
        // Nothing trusted (the default): always the peer.
        assert_eq!(
            resolve_client(ip("10.0.0.2"), &["1.2.3.4"], &[]),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_limit_refuses_past_its_burst_and_recovers_with_the_clock() {
        let clock = Arc::new(Manual(Mutex::new(
            "2026-03-02T09:00:00Z".parse().expect("instant"),
        )));
        let settings = LimitSettings {
            emails_per_recipient: Rate::new(3, Duration::from_secs(20 * 60)),
            ..LimitSettings::default()
        };
        let limiters = Limiters::new(&settings, clock.clone());
        for _ in 0..3 {
            limiters
                .check(Limit::EmailsPerRecipient, "ana@p.test")
                .expect("within the burst");
        }
        let refused = limiters
            .check(Limit::EmailsPerRecipient, "ana@p.test")
            .expect_err("the fourth is refused");
        assert_eq!(refused.kind(), ProblemKind::RateLimited);
        assert_eq!(refused.retry_after_secs(), Some(20 * 60));
        assert!(
            refused.detail().contains("at most 3 per hour"),
            "{}",
            refused.detail()
        );
        // Another key has its own count.
        limiters
            .check(Limit::EmailsPerRecipient, "bob@p.test")
            .expect("another address");
        // Twenty minutes later, one more.
        clock.advance(Duration::from_secs(20 * 60));
        limiters
            .check(Limit::EmailsPerRecipient, "ana@p.test")
            .expect("one cell back");
        assert!(
            limiters
                .check(Limit::EmailsPerRecipient, "ana@p.test")
                .is_err()
        );
    }

    #[test]
    fn rates_read_as_people_say_them() {
        assert_eq!(
            Rate::new(3, Duration::from_secs(20 * 60)).describe(),
            ("3 per hour".to_owned(), "3 par heure".to_owned())
        );
        assert_eq!(
            Rate::new(30, Duration::from_secs(120)).describe().0,
            "30 per hour"
        );
        assert_eq!(
            Rate::new(5, Duration::from_secs(60)).describe(),
            ("5 per 5 minutes".to_owned(), "5 par 5 minutes".to_owned())
        );
    }
}
