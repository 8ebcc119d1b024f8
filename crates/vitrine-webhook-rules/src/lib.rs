//! Signed webhooks, the rules (a crate of their own beside the domain, which is near its
//! size limit; like the domain, no I/O): which events exist and which audited changes they stand
//! for, who may register an endpoint for which account, which events an endpoint's owner
//! may receive (the same visibility as the API), what a payload carries, the retry
//! schedule, when an endpoint is disabled, and what a hand redelivery may do.
//!
//! Deliveries come from the audit log: every state change writes audit events in its
//! transaction, and the store fans each event whose action an endpoint subscribed to out
//! into a delivery, in that same transaction ([`EventType::actions`] is what the store
//! matches). The payload is built from the audited record when it is sent
//! ([`payload`]), so it can never say more than the record does, and it picks out only
//! what its receiver may read through the API.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use vitrine_domain::audit::{AuditEvent, SubjectKind};
use vitrine_domain::error::DomainError;
use vitrine_domain::ids::AccountId;
use vitrine_domain::permissions::Actor;
use vitrine_domain::{Timestamp, tr};

/// A registered endpoint.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct WebhookEndpointId(pub Uuid);

impl WebhookEndpointId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl std::fmt::Display for WebhookEndpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What an endpoint can subscribe to.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    /// A round joined the review queue (first submission or resubmission).
    #[serde(rename = "submission.queued")]
    SubmissionQueued,
    /// A queued submission's review or decision date moved (earlier or later) because the
    /// queue, a validator's capacity or the calendar changed.
    #[serde(rename = "submission.dates_moved")]
    SubmissionDatesMoved,
    /// A decision was released to the provider, on decision day (never while held).
    #[serde(rename = "decision.released")]
    DecisionReleased,
    /// An offering became public.
    #[serde(rename = "offering.published")]
    OfferingPublished,
    /// A public offering went back to limited visibility.
    #[serde(rename = "offering.unpublished")]
    OfferingUnpublished,
    /// A message was posted in a submission's thread.
    #[serde(rename = "message.posted")]
    MessagePosted,
    /// A run of the prerequisite checks finished.
    #[serde(rename = "check_run.finished")]
    CheckRunFinished,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::SubmissionQueued,
        EventType::SubmissionDatesMoved,
        EventType::DecisionReleased,
        EventType::OfferingPublished,
        EventType::OfferingUnpublished,
        EventType::MessagePosted,
        EventType::CheckRunFinished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SubmissionQueued => "submission.queued",
            EventType::SubmissionDatesMoved => "submission.dates_moved",
            EventType::DecisionReleased => "decision.released",
            EventType::OfferingPublished => "offering.published",
            EventType::OfferingUnpublished => "offering.unpublished",
            EventType::MessagePosted => "message.posted",
            EventType::CheckRunFinished => "check_run.finished",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The audit actions this event stands for: what the store's fan-out matches.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            EventType::SubmissionQueued => &["submission.submit", "submission.resubmit"],
            EventType::SubmissionDatesMoved => &["submission.dates_moved"],
            EventType::DecisionReleased => &["submission.release_decision"],
            EventType::OfferingPublished => &["offering.published"],
            // Every visibility change is fanned out; [`EventType::of`] keeps only those
            // from public (the others are marked skipped, never sent).
            EventType::OfferingUnpublished => &["offering.visibility_changed"],
            EventType::MessagePosted => &["submission.message"],
            EventType::CheckRunFinished => &["offering.checks_finished"],
        }
    }

    /// The event an audited change is, if any: the reference rule ([`Self::actions`] is
    /// its coarse part, matched in SQL).
    pub fn of(action: &str, before: Option<&serde_json::Value>) -> Option<EventType> {
        let event = Self::ALL
            .into_iter()
            .find(|t| t.actions().contains(&action))?;
        if event == EventType::OfferingUnpublished {
            let was_public = before
                .and_then(|b| b.get("visibility"))
                .and_then(serde_json::Value::as_str)
                == Some("public");
            return was_public.then_some(event);
        }
        Some(event)
    }
}

/// Whose endpoint it is: an account's (its owners manage it and it receives what concerns
/// that account) or the marketplace's (admins manage it and it receives everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "account_id", rename_all = "snake_case")]
pub enum Owner {
    #[schema(value_type = String, format = Uuid)]
    Account(AccountId),
    Marketplace,
}

impl Owner {
    pub fn account(self) -> Option<AccountId> {
        match self {
            Owner::Account(id) => Some(id),
            Owner::Marketplace => None,
        }
    }

    /// Whether this owner may receive an event concerning `account` (the audit record's
    /// account): what the API shows it. A provider reads its own account's submissions,
    /// threads, checks and offerings; the marketplace reads everything. The store's
    /// fan-out evaluates the same rule in SQL and the sender checks it again.
    pub fn may_see(self, account: Option<AccountId>) -> bool {
        match self {
            Owner::Marketplace => true,
            Owner::Account(own) => account == Some(own),
        }
    }

    /// Who may manage this owner's endpoints: an account's owners and admins; the
    /// marketplace's, admins only.
    pub fn require_manager(self, actor: &Actor) -> Result<(), DomainError> {
        match self {
            Owner::Account(account) => actor.require_account_owner(account),
            Owner::Marketplace => actor.require_admin(tr!(
                "webhooks.marketplace_admin_only",
                "only an admin can manage the marketplace's webhooks",
                "seul un administrateur peut gérer les webhooks de la place de marché"
            )),
        }
    }

    /// Who may read this owner's endpoints: its managers, and staff for an account's.
    pub fn require_reader(self, actor: &Actor) -> Result<(), DomainError> {
        match self {
            Owner::Account(account) => actor.require_account_owner(account),
            Owner::Marketplace => self.require_manager(actor),
        }
    }
}

/// An endpoint as stored (its secrets are the storage's, sealed, never here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: WebhookEndpointId,
    pub owner: Owner,
    /// Where deliveries are POSTed (`https://`, or `http://`).
    pub url: String,
    pub description: String,
    /// What it subscribed to, sorted, without duplicates.
    pub events: Vec<EventType>,
    /// Disabled by its owner, or by vitrine after a day of failures (`disabled_reason`).
    pub enabled: bool,
    /// Why vitrine disabled it (`None` when enabled or disabled by hand).
    pub disabled_reason: Option<String>,
    /// Until then deliveries are signed with the previous secret as well (a rotation's
    /// overlap).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_until: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: i64,
}

/// Most endpoints an owner may register.
pub const MAX_ENDPOINTS: usize = 10;
/// Longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2000;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// How long a rotated-out secret still signs deliveries.
pub const ROTATION_OVERLAP: SignedDuration = SignedDuration::from_hours(24);
/// Hand redeliveries an endpoint may ask for per hour.
pub const REDELIVERIES_PER_HOUR: u64 = 10;
/// Most bytes of a receiver's answer kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

/// The waits between attempts (the Standard Webhooks schedule): a delivery is tried at
/// once, then after each of these; a failure after the last (about 27 hours after the
/// first try) gives up, and the endpoint is disabled.
pub const RETRY_SCHEDULE: [SignedDuration; 7] = [
    SignedDuration::from_secs(5),
    SignedDuration::from_mins(5),
    SignedDuration::from_mins(30),
    SignedDuration::from_hours(2),
    SignedDuration::from_hours(5),
    SignedDuration::from_hours(10),
    SignedDuration::from_hours(10),
];

/// After `attempts` failed attempts, when to try again (`None`: give up, disable).
pub fn next_attempt(attempts: u32, now: Timestamp) -> Option<Timestamp> {
    let wait = RETRY_SCHEDULE.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    now.checked_add(*wait).ok()
}

/// Whether an answer counts as delivered: any 2xx.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// What an owner asks for when registering or changing an endpoint.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// `https://` or `http://`, at most 2000 characters, no credentials or fragment.
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// At least one event type.
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    /// Turn the endpoint on or off (on again after vitrine disabled it).
    pub enabled: Option<bool>,
}

/// Checks an endpoint URL's shape (its addresses are checked when it is registered and
/// at every delivery, by the outbound guard).
pub fn validate_url(text: &str) -> Result<String, DomainError> {
    let bad = |message| Err(DomainError::invalid("url", message));
    let text = text.trim();
    if text.chars().count() > MAX_URL_CHARS {
        return bad(tr!(
            "webhooks.url_too_long",
            "the URL is longer than {max} characters",
            "l’URL dépasse {max} caractères",
            max = MAX_URL_CHARS
        ));
    }
    let Ok(url) = url::Url::parse(text) else {
        return bad(tr!(
            "webhooks.url_invalid",
            "not a URL: write it whole, such as https://example.com/hooks",
            "ce n’est pas une URL : écrivez-la en entier, par exemple https://example.com/hooks"
        ));
    };
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return bad(tr!(
            "webhooks.url_scheme",
            "the URL must start with https:// or http:// and name a host",
            "l’URL doit commencer par https:// ou http:// et nommer un hôte"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return bad(tr!(
            "webhooks.url_parts",
            "the URL may not carry a user name, a password or a fragment (#…)",
            "l’URL ne peut porter ni nom d’utilisateur, ni mot de passe, ni fragment (#…)"
        ));
    }
    Ok(url.to_string())
}

fn event_list(events: Vec<EventType>) -> Result<Vec<EventType>, DomainError> {
    let mut events = events;
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(DomainError::invalid(
            "events",
            tr!(
                "webhooks.events_empty",
                "choose at least one event type",
                "choisissez au moins un type d’événement"
            ),
        ));
    }
    Ok(events)
}

fn description(text: Option<String>) -> Result<String, DomainError> {
    let text = text.unwrap_or_default().trim().to_owned();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(DomainError::invalid(
            "description",
            tr!(
                "webhooks.description_too_long",
                "the description is longer than {max} characters",
                "la description dépasse {max} caractères",
                max = MAX_DESCRIPTION_CHARS
            ),
        ));
    }
    Ok(text)
}

fn event(actor: Option<&Actor>, action: &str, endpoint: &Endpoint, now: Timestamp) -> AuditEvent {
    let mut event = AuditEvent::new(actor.map(|a| a.user_id), action, now);
    event.subject_kind = SubjectKind::WebhookEndpoint;
    event.subject_id = endpoint.id.to_string();
    event.account_id = endpoint.owner.account();
    event
}

/// Registers an endpoint. `provider`: whether the owning account applied to be a provider
/// (every event concerns a provider's offerings; the marketplace's endpoints need none);
/// `existing`: how many endpoints the owner has.
pub fn create(
    actor: &Actor,
    owner: Owner,
    provider: bool,
    existing: usize,
    input: EndpointInput,
    now: Timestamp,
) -> Result<(Endpoint, AuditEvent), DomainError> {
    owner.require_manager(actor)?;
    if !provider && owner != Owner::Marketplace {
        return Err(DomainError::conflict(tr!(
            "webhooks.provider_only",
            "webhooks announce a provider's submissions and offerings: apply to become a provider first",
            "les webhooks annoncent les soumissions et les offres d’un fournisseur : demandez d’abord à devenir fournisseur"
        )));
    }
    if existing >= MAX_ENDPOINTS {
        return Err(DomainError::conflict(tr!(
            "webhooks.too_many",
            "this account already has {max} webhook endpoints: remove one first",
            "ce compte a déjà {max} points de réception de webhooks : supprimez-en un d’abord",
            max = MAX_ENDPOINTS
        )));
    }
    let mut errors = vitrine_domain::error::Problems::new();
    let url = match input.url.as_deref() {
        Some(url) => errors.check(validate_url(url)),
        None => {
            errors.push(
                "url",
                tr!(
                    "webhooks.url_required",
                    "the URL is required",
                    "l’URL est requise"
                ),
            );
            None
        }
    };
    let events = errors.check(event_list(input.events.unwrap_or_default()));
    let description = errors.check(description(input.description));
    errors.into_result()?;
    let (Some(url), Some(events), Some(description)) = (url, events, description) else {
        return Err(DomainError::invalid(
            "url",
            tr!(
                "webhooks.url_required",
                "the URL is required",
                "l’URL est requise"
            ),
        ));
    };
    let endpoint = Endpoint {
        id: WebhookEndpointId::generate(),
        owner,
        url,
        description,
        events,
        enabled: input.enabled.unwrap_or(true),
        disabled_reason: None,
        previous_secret_until: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = event(Some(actor), "webhook.created", &endpoint, now).after(&endpoint);
    Ok((endpoint, event))
}

fn changed(
    actor: Option<&Actor>,
    before: &Endpoint,
    mut next: Endpoint,
    action: &str,
    now: Timestamp,
) -> (Endpoint, AuditEvent) {
    next.version = before.version + 1;
    next.updated_at = now;
    let event = event(actor, action, before, now)
        .before(before)
        .after(&next);
    (next, event)
}

/// Changes an endpoint (what the input names). Enabling it again clears vitrine's reason.
pub fn update(
    actor: &Actor,
    endpoint: &Endpoint,
    input: EndpointInput,
    now: Timestamp,
) -> Result<(Endpoint, AuditEvent), DomainError> {
    endpoint.owner.require_manager(actor)?;
    let mut errors = vitrine_domain::error::Problems::new();
    let mut next = endpoint.clone();
    if let Some(url) = input.url.as_deref()
        && let Some(url) = errors.check(validate_url(url))
    {
        next.url = url;
    }
    if let Some(events) = input.events
        && let Some(events) = errors.check(event_list(events))
    {
        next.events = events;
    }
    if input.description.is_some()
        && let Some(text) = errors.check(description(input.description))
    {
        next.description = text;
    }
    errors.into_result()?;
    if let Some(enabled) = input.enabled {
        next.enabled = enabled;
        next.disabled_reason = None;
    }
    Ok(changed(Some(actor), endpoint, next, "webhook.updated", now))
}

/// A new secret: the previous one keeps signing for [`ROTATION_OVERLAP`].
pub fn rotate(
    actor: &Actor,
    endpoint: &Endpoint,
    now: Timestamp,
) -> Result<(Endpoint, AuditEvent), DomainError> {
    endpoint.owner.require_manager(actor)?;
    let mut next = endpoint.clone();
    next.previous_secret_until = now.checked_add(ROTATION_OVERLAP).ok();
    Ok(changed(
        Some(actor),
        endpoint,
        next,
        "webhook.secret_rotated",
        now,
    ))
}

/// Removes an endpoint (its deliveries go with it).
pub fn delete(
    actor: &Actor,
    endpoint: &Endpoint,
    now: Timestamp,
) -> Result<AuditEvent, DomainError> {
    endpoint.owner.require_manager(actor)?;
    Ok(event(Some(actor), "webhook.deleted", endpoint, now).before(endpoint))
}

/// A delivery failed through the whole retry schedule: vitrine disables the endpoint (its
/// later deliveries wait, kept, until it is enabled again) and its owner is emailed.
pub fn disable_after_failures(
    endpoint: &Endpoint,
    reason: &str,
    now: Timestamp,
) -> (Endpoint, AuditEvent) {
    let mut next = endpoint.clone();
    next.enabled = false;
    next.disabled_reason = Some(reason.chars().take(EXCERPT_BYTES).collect());
    changed(None, endpoint, next, "webhook.disabled", now)
}

/// A delivery sent again by hand: by a manager of the endpoint, at most
/// [`REDELIVERIES_PER_HOUR`] an hour per endpoint (`in_last_hour` so far).
pub fn redeliver(
    actor: &Actor,
    endpoint: &Endpoint,
    in_last_hour: u64,
    now: Timestamp,
) -> Result<AuditEvent, DomainError> {
    endpoint.owner.require_manager(actor)?;
    if in_last_hour >= REDELIVERIES_PER_HOUR {
        return Err(DomainError::RateLimited {
            reason: tr!(
                "webhooks.redeliveries_limited",
                "at most {max} redeliveries an hour per endpoint",
                "au plus {max} nouveaux envois par heure et par point de réception",
                max = REDELIVERIES_PER_HOUR
            ),
            retry_after_secs: 3600,
        });
    }
    Ok(event(Some(actor), "webhook.redelivered", endpoint, now))
}

/// An audited change as the sender reads it back.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditedChange {
    pub action: String,
    pub subject_id: String,
    pub account_id: Option<AccountId>,
    pub offering_id: Option<vitrine_domain::ids::OfferingId>,
    /// The offering's name today (its address in the catalog).
    pub offering_name: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub at: Timestamp,
}

/// The body of a delivery (Standard Webhooks: `type`, `timestamp`, `data`), or `None` when
/// the change is not an event of this type for this owner (skipped, never sent). `data`
/// carries ids, names, states and dates the owner reads through the API, nothing else:
/// never a held decision, notes, verdicts, message text, allowlists or people.
pub fn payload(
    owner: Owner,
    event: EventType,
    change: &AuditedChange,
) -> Option<serde_json::Value> {
    if !owner.may_see(change.account_id)
        || EventType::of(&change.action, change.before.as_ref()) != Some(event)
    {
        return None;
    }
    let pick_in = |record: Option<&serde_json::Value>, pointer: &str| {
        record
            .and_then(|r| r.pointer(pointer))
            .cloned()
            .unwrap_or_default()
    };
    let pick = |pointer: &str| pick_in(change.after.as_ref(), pointer);
    let was = |pointer: &str| pick_in(change.before.as_ref(), pointer);
    let mut data = serde_json::json!({
        "offering_id": change.offering_id,
        "offering_name": change.offering_name,
        "provider_account_id": change.account_id,
    });
    let fields: Vec<(&str, serde_json::Value)> = match event {
        EventType::SubmissionQueued => vec![
            ("submission_id", change.subject_id.clone().into()),
            ("round", pick("/round/number")),
            ("state", pick("/state")),
        ],
        // What the provider reads on the submission (`schedule`) and in its emails: the
        // dates and place before and after, and why.
        EventType::SubmissionDatesMoved => vec![
            ("submission_id", change.subject_id.clone().into()),
            ("round", pick("/round")),
            ("reason", pick("/reason")),
            ("review_date", pick("/review_date")),
            ("decision_date", pick("/decision_date")),
            ("queue_position", pick("/queue_position")),
            ("previous_review_date", was("/review_date")),
            ("previous_decision_date", was("/decision_date")),
        ],
        EventType::DecisionReleased => vec![
            ("submission_id", change.subject_id.clone().into()),
            ("round", pick("/round/number")),
            ("state", pick("/state")),
        ],
        EventType::OfferingPublished => vec![("visibility", pick("/visibility"))],
        EventType::OfferingUnpublished => {
            vec![
                ("visibility", pick("/visibility")),
                ("reason", pick("/reason")),
            ]
        }
        EventType::MessagePosted => vec![
            ("submission_id", change.subject_id.clone().into()),
            ("message_id", pick("/message_id")),
            ("side", pick("/side")),
        ],
        EventType::CheckRunFinished => vec![
            ("run_id", pick("/run")),
            ("passed", pick("/passed")),
            ("failed", pick("/failed")),
        ],
    };
    if let serde_json::Value::Object(map) = &mut data {
        for (key, value) in fields {
            map.insert(key.to_owned(), value);
        }
    }
    Some(serde_json::json!({
        "type": event.as_str(),
        "timestamp": change.at.to_string(),
        "data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitrine_domain::ids::UserId;
    use vitrine_domain::permissions::{MembershipRole, StaffRoles};

    fn now() -> Timestamp {
        "2026-03-02T10:00:00Z".parse().expect("a time")
    }

    fn owner_of(account: AccountId) -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(account, MembershipRole::Owner)],
        )
    }

    fn admin() -> Actor {
        Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: true,
                validator: false,
            },
            Vec::new(),
        )
    }

    fn input() -> EndpointInput {
        EndpointInput {
            url: Some("https://hooks.example.com/vitrine".to_owned()),
            description: Some("CI".to_owned()),
            events: Some(vec![
                EventType::MessagePosted,
                EventType::SubmissionQueued,
                EventType::MessagePosted,
            ]),
            enabled: None,
        }
    }

    #[test]
    fn every_event_type_round_trips_and_names_its_actions() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            let json = serde_json::to_value(event).expect("serialises");
            assert_eq!(json, event.as_str());
            assert!(!event.actions().is_empty());
        }
        assert_eq!(EventType::parse("nothing.happened"), None);
        // No audit action stands for two event types: a change is one event.
        let mut seen = std::collections::BTreeSet::new();
        for event in EventType::ALL {
            for action in event.actions() {
                assert!(seen.insert(*action), "{action} twice");
            }
        }
    }

    #[test]
    fn only_a_change_from_public_is_an_unpublication() {
        let public = serde_json::json!({"visibility": "public"});
        let limited = serde_json::json!({"visibility": "limited"});
        assert_eq!(
            EventType::of("offering.visibility_changed", Some(&public)),
            Some(EventType::OfferingUnpublished)
        );
        assert_eq!(
            EventType::of("offering.visibility_changed", Some(&limited)),
            None
        );
        assert_eq!(EventType::of("offering.visibility_changed", None), None);
        assert_eq!(
            EventType::of("submission.decide", None),
            None,
            "a held decision is no event"
        );
        assert_eq!(
            EventType::of("submission.resubmit", None),
            Some(EventType::SubmissionQueued)
        );
    }

    #[test]
    fn an_account_endpoint_sees_its_own_account_only_and_the_marketplace_all() {
        let mine = AccountId::generate();
        let other = AccountId::generate();
        assert!(Owner::Account(mine).may_see(Some(mine)));
        assert!(!Owner::Account(mine).may_see(Some(other)));
        assert!(!Owner::Account(mine).may_see(None));
        for account in [Some(mine), Some(other), None] {
            assert!(Owner::Marketplace.may_see(account));
        }
    }

    #[test]
    fn owners_and_admins_manage_an_accounts_endpoints_admins_the_marketplaces() {
        let account = AccountId::generate();
        let member = Actor::new(
            UserId::generate(),
            StaffRoles::default(),
            vec![(account, MembershipRole::Member)],
        );
        let validator = Actor::new(
            UserId::generate(),
            StaffRoles {
                admin: false,
                validator: true,
            },
            Vec::new(),
        );
        let stranger = owner_of(AccountId::generate());
        assert!(
            Owner::Account(account)
                .require_manager(&owner_of(account))
                .is_ok()
        );
        assert!(Owner::Account(account).require_manager(&admin()).is_ok());
        assert!(Owner::Account(account).require_manager(&member).is_err());
        assert!(Owner::Account(account).require_manager(&validator).is_err());
        assert!(matches!(
            Owner::Account(account).require_manager(&stranger),
            Err(DomainError::NotFound)
        ));
        assert!(Owner::Marketplace.require_manager(&admin()).is_ok());
        for actor in [owner_of(account), member, validator] {
            assert!(Owner::Marketplace.require_manager(&actor).is_err());
        }
    }

    #[test]
    fn create_checks_every_field_and_sorts_the_events() {
        let account = AccountId::generate();
        let (endpoint, event) = create(
            &owner_of(account),
            Owner::Account(account),
            true,
            0,
            input(),
            now(),
        )
        .expect("created");
        assert_eq!(
            endpoint.events,
            vec![EventType::SubmissionQueued, EventType::MessagePosted]
        );
        assert!(endpoint.enabled);
        assert_eq!(event.action, "webhook.created");
        assert_eq!(event.account_id, Some(account));
        let bad = EndpointInput {
            url: Some("ftp://example.com".to_owned()),
            description: Some("x".repeat(501)),
            events: Some(Vec::new()),
            enabled: None,
        };
        match create(
            &owner_of(account),
            Owner::Account(account),
            true,
            0,
            bad,
            now(),
        ) {
            Err(DomainError::Invalid(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["url", "events", "description"]);
            }
            other => panic!("accepted: {other:?}"),
        }
        assert!(matches!(
            create(
                &owner_of(account),
                Owner::Account(account),
                true,
                MAX_ENDPOINTS,
                input(),
                now()
            ),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            create(
                &owner_of(account),
                Owner::Account(account),
                false,
                0,
                input(),
                now()
            ),
            Err(DomainError::Conflict(_))
        ));
        assert!(create(&admin(), Owner::Marketplace, false, 0, input(), now()).is_ok());
    }

    #[test]
    fn urls_are_whole_http_addresses_without_credentials() {
        for good in ["https://example.com/h", "http://127.0.0.1:9000/hook?x=1"] {
            assert!(validate_url(good).is_ok(), "{good}");
        }
        for bad in [
            "example.com/h",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
            "",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(validate_url(&long).is_err());
    }

    #[test]
    fn the_retry_schedule_lasts_more_than_a_day_then_gives_up() {
        let mut at = now();
        let first = at;
        let mut attempts = 1;
        while let Some(next) = next_attempt(attempts, at) {
            assert!(next > at);
            at = next;
            attempts += 1;
        }
        assert_eq!(attempts, 8, "one try and seven retries");
        let span = first.duration_until(at);
        assert!(span > SignedDuration::from_hours(24), "{span:?}");
        assert!(span < SignedDuration::from_hours(30), "{span:?}");
        assert_eq!(next_attempt(0, now()), None);
        assert!(delivered(200) && delivered(204) && !delivered(301) && !delivered(500));
    }

    #[test]
    fn rotation_overlaps_and_disabling_keeps_the_reason_until_enabled() {
        let account = AccountId::generate();
        let actor = owner_of(account);
        let (endpoint, _) =
            create(&actor, Owner::Account(account), true, 0, input(), now()).expect("created");
        let (rotated, event) = rotate(&actor, &endpoint, now()).expect("rotated");
        assert_eq!(
            rotated.previous_secret_until,
            now().checked_add(ROTATION_OVERLAP).ok()
        );
        assert_eq!(event.action, "webhook.secret_rotated");
        assert_eq!(rotated.version, endpoint.version + 1);
        let (off, event) = disable_after_failures(&rotated, "500 for a day", now());
        assert!(!off.enabled);
        assert_eq!(off.disabled_reason.as_deref(), Some("500 for a day"));
        assert_eq!(event.actor, None);
        let on = EndpointInput {
            enabled: Some(true),
            ..EndpointInput::default()
        };
        let (on, _) = update(&actor, &off, on, now()).expect("enabled");
        assert!(on.enabled && on.disabled_reason.is_none());
        assert!(
            update(
                &owner_of(AccountId::generate()),
                &on,
                EndpointInput::default(),
                now()
            )
            .is_err()
        );
    }

    #[test]
    fn redeliveries_are_limited_per_hour() {
        let account = AccountId::generate();
        let actor = owner_of(account);
        let (endpoint, _) =
            create(&actor, Owner::Account(account), true, 0, input(), now()).expect("created");
        assert!(redeliver(&actor, &endpoint, REDELIVERIES_PER_HOUR - 1, now()).is_ok());
        assert!(matches!(
            redeliver(&actor, &endpoint, REDELIVERIES_PER_HOUR, now()),
            Err(DomainError::RateLimited { .. })
        ));
    }

    fn change(action: &str, account: AccountId, after: serde_json::Value) -> AuditedChange {
        AuditedChange {
            action: action.to_owned(),
            subject_id: "0190-sub".to_owned(),
            account_id: Some(account),
            offering_id: Some(vitrine_domain::ids::OfferingId::generate()),
            offering_name: Some("pg-plus".to_owned()),
            before: Some(
                serde_json::json!({"visibility": "public", "allowlist": ["secret-account"]}),
            ),
            after: Some(after),
            at: now(),
        }
    }

    #[test]
    fn payloads_carry_ids_names_and_states_and_nothing_else() {
        let account = AccountId::generate();
        let queued = change(
            "submission.submit",
            account,
            serde_json::json!({"state": "queued", "round": {"number": 2, "notes": "private notes", "decision": {"decision": "approve"}}, "validator": "v"}),
        );
        let body = payload(
            Owner::Account(account),
            EventType::SubmissionQueued,
            &queued,
        )
        .expect("a payload");
        assert_eq!(body["type"], "submission.queued");
        assert_eq!(body["data"]["round"], 2);
        assert_eq!(body["data"]["state"], "queued");
        assert_eq!(body["data"]["offering_name"], "pg-plus");
        let text = body.to_string();
        for hidden in ["private notes", "approve", "validator", "secret-account"] {
            assert!(!text.contains(hidden), "{hidden} leaked: {text}");
        }
        // Another provider's endpoint gets nothing of it; the marketplace's does.
        assert_eq!(
            payload(
                Owner::Account(AccountId::generate()),
                EventType::SubmissionQueued,
                &queued
            ),
            None
        );
        assert!(payload(Owner::Marketplace, EventType::SubmissionQueued, &queued).is_some());
        // A type that is not this change's: nothing.
        assert_eq!(
            payload(
                Owner::Account(account),
                EventType::DecisionReleased,
                &queued
            ),
            None
        );
        let moved = AuditedChange {
            before: Some(
                serde_json::json!({"session": "2026-03-03", "review_date": "2026-03-03", "decision_date": "2026-03-05", "queue_position": 2}),
            ),
            ..change(
                "submission.dates_moved",
                account,
                serde_json::json!({"session": "2026-03-10", "review_date": "2026-03-10", "decision_date": "2026-03-12", "queue_position": 3, "round": 1, "reason": "capacity", "validator": "v"}),
            )
        };
        let body = payload(
            Owner::Account(account),
            EventType::SubmissionDatesMoved,
            &moved,
        )
        .expect("a payload");
        assert_eq!(body["type"], "submission.dates_moved");
        assert_eq!(body["data"]["submission_id"], "0190-sub");
        assert_eq!(body["data"]["reason"], "capacity");
        assert_eq!(body["data"]["round"], 1);
        assert_eq!(body["data"]["queue_position"], 3);
        assert_eq!(body["data"]["review_date"], "2026-03-10");
        assert_eq!(body["data"]["decision_date"], "2026-03-12");
        assert_eq!(body["data"]["previous_review_date"], "2026-03-03");
        assert_eq!(body["data"]["previous_decision_date"], "2026-03-05");
        assert!(!body.to_string().contains("validator"), "{body}");
        assert_eq!(
            payload(
                Owner::Account(AccountId::generate()),
                EventType::SubmissionDatesMoved,
                &moved
            ),
            None,
            "another provider is not told of this one's dates"
        );
        assert_eq!(
            EventType::of("submission.dates_moved", None),
            Some(EventType::SubmissionDatesMoved)
        );
        let unpublished = change(
            "offering.visibility_changed",
            account,
            serde_json::json!({"visibility": "limited", "reason": "broken", "allowlist": ["secret-account"]}),
        );
        let body = payload(
            Owner::Account(account),
            EventType::OfferingUnpublished,
            &unpublished,
        )
        .expect("a payload");
        assert_eq!(body["data"]["reason"], "broken");
        assert!(!body.to_string().contains("secret-account"));
    }
}
