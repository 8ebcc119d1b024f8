//! The storage contract: what every [`Store`] implementation does, checked on each backend
//! [`TestDatabase::all`] provides (SQLite always, PostgreSQL when
//! `VITRINE_TEST_DATABASE_URL` is set).
//!
//! Each test is written once as a `check_*` function over `&dyn Store`; [`contract!`] runs
//! it on a fresh database of every backend.

use std::collections::BTreeSet;

use proptest::prelude::*;
use vitrine_checks_store::ChecksStore;
use vitrine_domain::account::ProviderStatus;
use vitrine_domain::audit::{AuditEvent, AuditNames, SubjectKind};
use vitrine_domain::checklist::{Attestation, Attestations, StepState};
use vitrine_domain::offering::Pricing;
use vitrine_domain::user::{Email, Language, StaffRoles};
use vitrine_domain::{
    Account, AccountId, Audience, Localized, Membership, MembershipRole, Offering, OfferingId,
    OfferingName, Plan, ProviderApplication, Timestamp, TokenId, User, UserId, Visibility, search,
};
use vitrine_store::{ApiToken, AuditQuery, CatalogQuery, Store, StoreError};
use vitrine_store_testing::TestDatabase;

/// Runs `check` on a fresh database of every available backend.
macro_rules! contract {
    ($($name:ident => $check:path;)*) => {$(
        #[tokio::test]
        async fn $name() {
            for db in TestDatabase::all().await {
                eprintln!("{}: {}", stringify!($name), db.backend);
                let store = db.open().await;
                $check(store.as_ref()).await;
            }
        }
    )*};
}

contract! {
    users_round_trip => check_users;
    sessions_expire => check_sessions;
    api_tokens_are_used_and_revoked => check_tokens;
    accounts_round_trip => check_accounts;
    offerings_round_trip => check_offerings;
    stale_writes_change_nothing => check_conflicts;
    audit_log_filters_and_pages => check_audit;
    catalog_search_folds_and_prefixes => check_search;
    catalog_totals_follow_writes => check_totals;
}

// --- builders ---

/// A time with whole microseconds, the precision the store keeps.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).expect("valid time")
}

fn new_user(email: &str, admin: bool) -> User {
    User {
        id: UserId::generate(),
        email: Email::parse("email", email).expect("valid email"),
        display_name: format!("User {email}"),
        language: Language::Fr,
        time_zone: "Europe/Paris".into(),
        staff: StaffRoles {
            admin,
            validator: false,
        },
        email_verified_at: Some(at(0)),
        created_at: at(0),
        version: 1,
    }
}

fn user_created(user: &User, actor: Option<UserId>) -> AuditEvent {
    AuditEvent::new(actor, "user.created", user.created_at)
        .subject_user(user.id)
        .after(user)
}

fn new_account(name: &str, members: &[(UserId, MembershipRole)]) -> Account {
    Account {
        id: AccountId::generate(),
        name: name.into(),
        members: members
            .iter()
            .map(|&(user_id, role)| Membership { user_id, role })
            .collect(),
        provider: None,
        created_at: at(1),
        version: 1,
    }
}

fn account_event(account: &Account, actor: Option<UserId>, action: &str) -> AuditEvent {
    AuditEvent::new(actor, action, at(account.version))
        .subject_account(account.id)
        .after(account)
}

fn application(status: ProviderStatus, submitted: i64) -> ProviderApplication {
    ProviderApplication {
        legal_name: "Acme SAS".into(),
        contact_email: Email::parse("e", "ops@acme.example").expect("valid"),
        country: "FR".into(),
        website: "https://acme.example".into(),
        status,
        reason: (status == ProviderStatus::Rejected).then(|| "No VAT number".into()),
        submitted_at: at(submitted),
        decided_at: (status != ProviderStatus::Pending).then(|| at(submitted + 10)),
        decided_by: None,
    }
}

fn localized(en: &str, fr: Option<&str>) -> Localized {
    Localized {
        en: en.into(),
        fr: fr.map(Into::into),
    }
}

fn new_offering(name: &str, provider: AccountId) -> Offering {
    Offering {
        id: OfferingId::generate(),
        name: OfferingName::parse("name", name).expect("valid name"),
        provider_account_id: provider,
        display_name: localized(name, None),
        description: localized("An offering", None),
        category: None,
        tags: vec![],
        documentation_url: None,
        support_contact: None,
        plans: vec![],
        visibility: Visibility::Private,
        allowlist: vec![],
        attestations: Attestations::default(),
        created_at: at(2),
        updated_at: at(2),
        version: 1,
    }
}

fn offering_event(offering: &Offering, actor: Option<UserId>, action: &str) -> AuditEvent {
    AuditEvent::new(actor, action, offering.updated_at)
        .subject_offering(offering.id, offering.provider_account_id)
        .after(offering)
}

fn everything() -> AuditQuery {
    AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    }
}

async fn audit_count(store: &dyn Store) -> usize {
    store.audit(&everything()).await.expect("audit").len()
}

// --- users, sessions, tokens ---

async fn check_users(store: &dyn Store) {
    let admin = new_user("admin@example.com", true);
    let event = user_created(&admin, None);
    store
        .insert_user(&admin, Some("$argon2id$hash"), std::slice::from_ref(&event))
        .await
        .expect("insert admin");
    assert_eq!(
        store.user(admin.id).await.expect("read"),
        Some(admin.clone())
    );
    let by_email = store
        .user_by_email(&admin.email)
        .await
        .expect("read by email");
    assert_eq!(
        by_email,
        Some((admin.clone(), Some("$argon2id$hash".into())))
    );
    let unknown = Email::parse("e", "nobody@example.com").expect("valid");
    assert_eq!(store.user_by_email(&unknown).await.expect("read"), None);
    assert_eq!(store.user(UserId::generate()).await.expect("read"), None);

    // The email is unique.
    let mut twin = new_user("admin@example.com", false);
    twin.display_name = "Twin".into();
    assert!(matches!(
        store.insert_user(&twin, None, &[]).await,
        Err(StoreError::Duplicate { field: "email" })
    ));

    let customer = new_user("cust@example.com", false);
    store
        .insert_user(&customer, None, &[user_created(&customer, Some(admin.id))])
        .await
        .expect("insert customer");
    let (_, hash) = store
        .user_by_email(&customer.email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(hash, None, "a user without password has no hash");

    // A change is written with the next version.
    let mut renamed = customer.clone();
    renamed.display_name = "Customer".into();
    renamed.staff.validator = true;
    renamed.language = Language::En;
    renamed.version = 2;
    store.update_user(&renamed, &[], &[]).await.expect("update");
    assert_eq!(store.user(customer.id).await.expect("read"), Some(renamed));

    store
        .set_password_hash(customer.id, "new-hash", &[])
        .await
        .expect("set password");
    let (_, hash) = store
        .user_by_email(&customer.email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(hash.as_deref(), Some("new-hash"));
    assert!(matches!(
        store.set_password_hash(UserId::generate(), "x", &[]).await,
        Err(StoreError::NotFound)
    ));

    // Users are listed by email, in pages.
    let third = new_user("bob@example.com", true);
    store.insert_user(&third, None, &[]).await.expect("insert");
    let emails = |users: Vec<User>| -> Vec<String> {
        users.iter().map(|u| u.email.as_str().to_owned()).collect()
    };
    let page = store.list_users(None, 2).await.expect("list");
    assert_eq!(emails(page), ["admin@example.com", "bob@example.com"]);
    let page = store
        .list_users(Some("bob@example.com"), 2)
        .await
        .expect("list");
    assert_eq!(emails(page), ["cust@example.com"]);
    assert_eq!(store.count_admins().await.expect("count"), 2);

    // The audit events were written with the users.
    let records = store.audit(&everything()).await.expect("audit");
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].event, event);
    assert!(records[0].seq > records[1].seq);
}

async fn check_sessions(store: &dyn Store) {
    let user = new_user("s@example.com", false);
    store.insert_user(&user, None, &[]).await.expect("user");
    let hash = [7u8; 32];
    store
        .insert_session(&hash, user.id, at(0), at(3600))
        .await
        .expect("session");
    assert_eq!(
        store.session_user(&hash, at(10)).await.expect("read"),
        Some((user.id, at(3600)))
    );
    assert_eq!(
        store.session_user(&hash, at(3600)).await.expect("read"),
        None,
        "a session is over at its expiry time"
    );
    assert_eq!(
        store.session_user(&[8u8; 32], at(10)).await.expect("read"),
        None
    );
    assert!(matches!(
        store.insert_session(&hash, user.id, at(0), at(10)).await,
        Err(StoreError::Duplicate { .. })
    ));
    store.delete_session(&hash).await.expect("delete");
    assert_eq!(store.session_user(&hash, at(10)).await.expect("read"), None);

    // The sweep deletes what expired and keeps what is still good.
    let (old, live) = ([9u8; 32], [10u8; 32]);
    store
        .insert_session(&old, user.id, at(0), at(100))
        .await
        .expect("session");
    store
        .insert_session(&live, user.id, at(0), at(1000))
        .await
        .expect("session");
    assert_eq!(
        store
            .delete_expired_credentials(at(100))
            .await
            .expect("sweep"),
        1,
        "the session over at 100 only"
    );
    assert_eq!(
        store.session_user(&live, at(500)).await.expect("read"),
        Some((user.id, at(1000)))
    );
    assert_eq!(
        store
            .delete_expired_credentials(at(100))
            .await
            .expect("sweep"),
        0,
        "nothing twice"
    );
}

async fn check_tokens(store: &dyn Store) {
    let user = new_user("t@example.com", false);
    let other = new_user("o@example.com", false);
    store.insert_user(&user, None, &[]).await.expect("user");
    store.insert_user(&other, None, &[]).await.expect("user");
    let token = |name: &str, created: i64| ApiToken {
        id: TokenId::generate(),
        user_id: user.id,
        name: name.into(),
        created_at: at(created),
        last_used_at: None,
        revoked_at: None,
    };
    let (ci, laptop) = (token("ci", 1), token("laptop", 2));
    let created = AuditEvent::new(Some(user.id), "api_token.created", at(1)).subject_token(ci.id);
    store
        .insert_api_token(&ci, &[1u8; 32], std::slice::from_ref(&created))
        .await
        .expect("token");
    store
        .insert_api_token(&laptop, &[2u8; 32], &[])
        .await
        .expect("token");
    assert!(matches!(
        store
            .insert_api_token(&token("dup", 3), &[2u8; 32], &[])
            .await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        store.api_tokens(user.id).await.expect("list"),
        [ci.clone(), laptop.clone()]
    );
    assert_eq!(store.api_tokens(other.id).await.expect("list"), []);

    // Using a token records when.
    assert_eq!(
        store.token_user(&[1u8; 32], at(50)).await.expect("use"),
        Some(user.id)
    );
    assert_eq!(
        store.token_user(&[9u8; 32], at(50)).await.expect("use"),
        None
    );
    let listed = store.api_tokens(user.id).await.expect("list");
    assert_eq!(listed[0].last_used_at, Some(at(50)));

    // Only its owner revokes a token, once; a revoked token no longer signs in.
    assert!(matches!(
        store.revoke_api_token(other.id, ci.id, at(60), &[]).await,
        Err(StoreError::NotFound)
    ));
    let revoked = AuditEvent::new(Some(user.id), "api_token.revoked", at(60)).subject_token(ci.id);
    store
        .revoke_api_token(user.id, ci.id, at(60), std::slice::from_ref(&revoked))
        .await
        .expect("revoke");
    assert!(matches!(
        store.revoke_api_token(user.id, ci.id, at(61), &[]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.token_user(&[1u8; 32], at(70)).await.expect("use"),
        None
    );
    assert_eq!(
        store.token_user(&[2u8; 32], at(70)).await.expect("use"),
        Some(user.id)
    );
    let listed = store.api_tokens(user.id).await.expect("list");
    assert_eq!(listed[0].revoked_at, Some(at(60)));
    assert_eq!(listed[1].revoked_at, None);
    let kinds = store
        .audit(&AuditQuery {
            subject_kind: Some(SubjectKind::ApiToken),
            ..everything()
        })
        .await
        .expect("audit");
    let events: Vec<_> = kinds.into_iter().map(|r| r.event).collect();
    assert_eq!(events, [revoked, created]);
}

// --- accounts ---

async fn check_accounts(store: &dyn Store) {
    let admin = new_user("admin@example.com", true);
    let ana = new_user("ana@example.com", false);
    let bob = new_user("bob@example.com", false);
    for u in [&admin, &ana, &bob] {
        store.insert_user(u, None, &[]).await.expect("user");
    }
    let mut zeta = new_account("Zeta", &[(ana.id, MembershipRole::Owner)]);
    zeta.provider = Some(application(ProviderStatus::Pending, 30));
    let acme = new_account(
        "Acme",
        &[
            (bob.id, MembershipRole::Owner),
            (ana.id, MembershipRole::Member),
        ],
    );
    let mut mid = new_account("Mid", &[(bob.id, MembershipRole::Owner)]);
    mid.provider = Some(application(ProviderStatus::Rejected, 20));
    let empty = new_account("Nobody", &[]);
    for a in [&zeta, &acme, &mid, &empty] {
        store
            .insert_account(a, &[account_event(a, Some(admin.id), "account.created")])
            .await
            .expect("account");
    }
    assert_eq!(
        store.account(zeta.id).await.expect("read"),
        Some(zeta.clone())
    );
    assert_eq!(
        store.account(acme.id).await.expect("read"),
        Some(acme.clone())
    );
    assert_eq!(
        store.account(AccountId::generate()).await.expect("read"),
        None
    );
    // An allowlist's names: by account name, owners only (not members), in joining order;
    // an account with no owner has no addresses; unknown ids are left out.
    let owners = store
        .account_owners(&[zeta.id, AccountId::generate(), empty.id, acme.id])
        .await
        .expect("owners");
    let email = |e: &str| Email::parse("email", e).expect("email");
    assert_eq!(
        owners,
        [
            vitrine_store::AccountOwners {
                id: acme.id,
                name: "Acme".into(),
                owner_emails: vec![email("bob@example.com")],
            },
            vitrine_store::AccountOwners {
                id: empty.id,
                name: "Nobody".into(),
                owner_emails: vec![],
            },
            vitrine_store::AccountOwners {
                id: zeta.id,
                name: "Zeta".into(),
                owner_emails: vec![email("ana@example.com")],
            },
        ]
    );
    assert_eq!(store.account_owners(&[]).await.expect("none"), []);

    // Members change with the account, in order, with the provider application.
    let mut next = acme.clone();
    next.members = vec![
        Membership {
            user_id: ana.id,
            role: MembershipRole::Owner,
        },
        Membership {
            user_id: admin.id,
            role: MembershipRole::Member,
        },
    ];
    next.provider = Some(application(ProviderStatus::Pending, 10));
    next.version = 2;
    store.update_account(&next, &[]).await.expect("update");
    assert_eq!(
        store.account(acme.id).await.expect("read"),
        Some(next.clone())
    );

    let names =
        |accounts: Vec<Account>| -> Vec<String> { accounts.into_iter().map(|a| a.name).collect() };
    assert_eq!(
        names(store.accounts_of_user(ana.id).await.expect("mine")),
        ["Acme", "Zeta"]
    );
    assert_eq!(
        names(store.accounts_of_user(bob.id).await.expect("mine")),
        ["Mid"]
    );
    let first = store.list_accounts(None, 2).await.expect("list");
    assert_eq!(first[0], next);
    assert_eq!(names(first.clone()), ["Acme", "Mid"]);
    assert_eq!(
        names(
            store
                .list_accounts(Some(first[1].id), 10)
                .await
                .expect("list")
        ),
        ["Nobody", "Zeta"]
    );

    // Applications, oldest first, by status.
    assert_eq!(
        names(store.provider_applications(None).await.expect("all")),
        ["Acme", "Mid", "Zeta"]
    );
    assert_eq!(
        names(
            store
                .provider_applications(Some(ProviderStatus::Pending))
                .await
                .expect("pending")
        ),
        ["Acme", "Zeta"]
    );
    assert_eq!(
        names(
            store
                .provider_applications(Some(ProviderStatus::Rejected))
                .await
                .expect("rejected")
        ),
        ["Mid"]
    );
    assert_eq!(
        names(
            store
                .provider_applications(Some(ProviderStatus::Approved))
                .await
                .expect("approved")
        ),
        Vec::<String>::new()
    );

    // Which ids exist.
    let ghost = AccountId::generate();
    let mut found = store
        .existing_accounts(&[ghost, zeta.id, mid.id])
        .await
        .expect("exist");
    found.sort();
    let mut expected = vec![zeta.id, mid.id];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(store.existing_accounts(&[]).await.expect("exist"), []);
}

// --- offerings ---

fn full_offering(provider: AccountId, allowlist: &[AccountId], attester: UserId) -> Offering {
    let mut o = new_offering("object-storage", provider);
    o.display_name = localized("Object Storage", Some("Stockage objet"));
    o.description = localized("S3 buckets", Some("Des seaux S3, élevés"));
    o.category = Some("storage".into());
    o.tags = vec!["backup".into(), "s3".into()];
    o.documentation_url = Some("https://docs.example/os".into());
    o.support_contact = Some("help@example.com".into());
    o.plans = vec![
        Plan {
            name: "lite".into(),
            display_name: localized("Lite", None),
            description: Localized::default(),
            pricing: Pricing::Free,
        },
        Plan {
            name: "standard".into(),
            display_name: localized("Standard", Some("Standard")),
            description: localized("Per GB", None),
            pricing: Pricing::Metered {
                unit: "GB-month".into(),
                unit_price: "0.02".into(),
                currency: "EUR".into(),
            },
        },
    ];
    o.visibility = Visibility::Limited;
    let mut allowlist = allowlist.to_vec();
    allowlist.sort();
    o.allowlist = allowlist;
    o.attestations.documentation = Some(Attestation {
        state: StepState::InProgress,
        by: attester,
        at: at(5),
    });
    o
}

async fn check_offerings(store: &dyn Store) {
    let user = new_user("dev@example.com", false);
    store.insert_user(&user, None, &[]).await.expect("user");
    let accounts: Vec<Account> = (0..4)
        .map(|i| new_account(&format!("A{i}"), &[(user.id, MembershipRole::Owner)]))
        .collect();
    for a in &accounts {
        store.insert_account(a, &[]).await.expect("account");
    }
    let ids: Vec<AccountId> = accounts.iter().map(|a| a.id).collect();
    let offering = full_offering(ids[0], &[ids[1], ids[2]], user.id);
    let created = offering_event(&offering, Some(user.id), "offering.created");
    store
        .insert_offering(&offering, std::slice::from_ref(&created))
        .await
        .expect("insert");
    assert_eq!(
        store.offering_by_name(&offering.name).await.expect("read"),
        Some(offering.clone())
    );
    let missing = OfferingName::parse("n", "not-there").expect("valid");
    assert_eq!(store.offering_by_name(&missing).await.expect("read"), None);
    assert_eq!(
        store.offering_by_id(offering.id).await.expect("read"),
        Some(offering.clone())
    );
    assert_eq!(
        store
            .offering_by_id(vitrine_domain::OfferingId::generate())
            .await
            .expect("read"),
        None
    );

    // Names for a list of submissions: each offering with its provider's name, in one
    // read; unknown ids are left out.
    assert_eq!(
        store
            .offering_labels(&[vitrine_domain::OfferingId::generate(), offering.id])
            .await
            .expect("labels"),
        [vitrine_store::OfferingLabel {
            id: offering.id,
            name: "object-storage".into(),
            provider_account_id: ids[0],
            provider_name: "A0".into(),
        }]
    );
    assert_eq!(store.offering_labels(&[]).await.expect("none"), []);

    // Names are unique.
    let twin = new_offering("object-storage", ids[1]);
    assert!(matches!(
        store.insert_offering(&twin, &[]).await,
        Err(StoreError::Duplicate { field: "name" })
    ));

    // Every part changes with the offering: the allowlist shrinks and grows at once.
    let mut next = offering.clone();
    next.tags = vec!["archive".into(), "s3".into()];
    next.allowlist = vec![ids[2], ids[3]];
    next.allowlist.sort();
    next.plans.pop();
    next.category = None;
    next.description.fr = None;
    next.attestations.broker_hosted = Some(Attestation {
        state: StepState::Complete,
        by: user.id,
        at: at(9),
    });
    next.visibility = Visibility::Public;
    next.updated_at = at(9);
    next.version = 2;
    store.update_offering(&next, &[]).await.expect("update");
    assert_eq!(
        store.offering_by_name(&offering.name).await.expect("read"),
        Some(next.clone())
    );
    let mut emptied = next.clone();
    emptied.tags.clear();
    emptied.allowlist.clear();
    emptied.version = 3;
    store.update_offering(&emptied, &[]).await.expect("update");
    assert_eq!(
        store.offering_by_name(&offering.name).await.expect("read"),
        Some(emptied)
    );

    // The catalog returns whole offerings.
    let page = store
        .catalog(&CatalogQuery {
            audience: Audience::Staff,
            terms: vec![],
            category: None,
            tag: None,
            provider: Some(ids[0]),
            after: None,
            limit: 10,
        })
        .await
        .expect("catalog");
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].plans, next.plans);
}

async fn check_conflicts(store: &dyn Store) {
    let user = new_user("c@example.com", false);
    store.insert_user(&user, None, &[]).await.expect("user");
    let account = new_account("Acme", &[(user.id, MembershipRole::Owner)]);
    store.insert_account(&account, &[]).await.expect("account");
    let other = new_account("Other", &[]);
    store.insert_account(&other, &[]).await.expect("account");
    let offering = full_offering(account.id, &[other.id], user.id);
    store
        .insert_offering(&offering, &[])
        .await
        .expect("offering");
    let events_before = audit_count(store).await;

    // Each stale write is refused, and neither the change nor its audit event is written.
    let mut stale_user = user.clone();
    stale_user.display_name = "Lost".into();
    stale_user.version = 3;
    let event = user_created(&stale_user, None);
    assert!(matches!(
        store
            .update_user(&stale_user, std::slice::from_ref(&event), &[])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.user(user.id).await.expect("read"), Some(user.clone()));

    let mut stale_account = account.clone();
    stale_account.name = "Lost".into();
    stale_account.members.clear();
    stale_account.version = 1;
    assert!(matches!(
        store
            .update_account(&stale_account, &[account_event(&stale_account, None, "x")])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.account(account.id).await.expect("read"),
        Some(account.clone())
    );

    let mut stale = offering.clone();
    stale.tags = vec!["lost".into()];
    stale.allowlist.clear();
    stale.version = 5;
    assert!(matches!(
        store
            .update_offering(&stale, &[offering_event(&stale, None, "x")])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.offering_by_name(&offering.name).await.expect("read"),
        Some(offering.clone())
    );

    // Of two writers that read the same version, one wins.
    let mut first = offering.clone();
    first.version = 2;
    first.tags = vec!["first".into()];
    let mut second = offering.clone();
    second.version = 2;
    second.tags = vec!["second".into()];
    let (a, b) = tokio::join!(
        store.update_offering(&first, &[]),
        store.update_offering(&second, &[])
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one concurrent write wins: {a:?} {b:?}"
    );
    assert_eq!(audit_count(store).await, events_before);
}

// --- audit ---

async fn check_audit(store: &dyn Store) {
    let admin = new_user("admin@example.com", true);
    let dev = new_user("dev@example.com", false);
    store
        .insert_user(&admin, None, &[user_created(&admin, None)])
        .await
        .expect("user");
    store
        .insert_user(&dev, None, &[user_created(&dev, Some(admin.id))])
        .await
        .expect("user");
    let acme = new_account("Acme", &[(dev.id, MembershipRole::Owner)]);
    let zeta = new_account("Zeta", &[]);
    for a in [&acme, &zeta] {
        store
            .insert_account(a, &[account_event(a, Some(admin.id), "account.created")])
            .await
            .expect("account");
    }
    let mut offering = new_offering("queue", acme.id);
    store
        .insert_offering(
            &offering,
            &[offering_event(&offering, Some(dev.id), "offering.created")],
        )
        .await
        .expect("offering");
    // Several events in one change, with a before and an after.
    let before = offering.clone();
    offering.visibility = Visibility::Limited;
    offering.version = 2;
    offering.updated_at = at(20);
    let changed = AuditEvent::new(Some(dev.id), "offering.visibility_changed", at(20))
        .subject_offering(offering.id, acme.id)
        .before(&before)
        .after(&offering);
    let noted = AuditEvent::new(Some(admin.id), "offering.noted", at(20))
        .subject_offering(offering.id, acme.id);
    store
        .update_offering(&offering, &[changed.clone(), noted.clone()])
        .await
        .expect("update");

    let actions = |q: AuditQuery| async move {
        store
            .audit(&q)
            .await
            .expect("audit")
            .into_iter()
            .map(|r| r.event.action)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        actions(everything()).await,
        [
            "offering.noted",
            "offering.visibility_changed",
            "offering.created",
            "account.created",
            "account.created",
            "user.created",
            "user.created"
        ]
    );
    let all = store.audit(&everything()).await.expect("audit");
    assert_eq!(all[1].event, changed, "before and after are kept");
    assert_eq!(all[0].event, noted);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq));
    // Each record names who and what by today's names, in the same read.
    assert_eq!(
        all[1].names,
        AuditNames {
            actor_name: Some("User dev@example.com".into()),
            actor_email: Some("dev@example.com".into()),
            account_name: Some("Acme".into()),
            offering_name: Some("queue".into()),
        }
    );
    let zeta_created = all
        .iter()
        .find(|r| r.event.account_id == Some(zeta.id))
        .expect("zeta's record");
    assert_eq!(zeta_created.names.account_name.as_deref(), Some("Zeta"));
    assert_eq!(zeta_created.names.offering_name, None);
    let first_user = all.last().expect("the first record");
    assert_eq!(
        first_user.names.actor_name, None,
        "the command line has no name"
    );

    // By name and email as well as by id.
    assert_eq!(
        actions(AuditQuery {
            offering_name: Some("queue".into()),
            actor_email: Some(Email::parse("email", "DEV@example.com").expect("email")),
            ..everything()
        })
        .await,
        ["offering.visibility_changed", "offering.created"]
    );
    assert_eq!(
        actions(AuditQuery {
            offering_name: Some("nothing-by-that-name".into()),
            ..everything()
        })
        .await,
        Vec::<String>::new()
    );

    assert_eq!(
        actions(AuditQuery {
            account: Some(acme.id),
            ..everything()
        })
        .await,
        [
            "offering.noted",
            "offering.visibility_changed",
            "offering.created",
            "account.created"
        ]
    );
    assert_eq!(
        actions(AuditQuery {
            accounts: Some(vec![zeta.id]),
            ..everything()
        })
        .await,
        ["account.created"]
    );
    assert_eq!(
        actions(AuditQuery {
            accounts: Some(vec![]),
            ..everything()
        })
        .await,
        Vec::<String>::new(),
        "a scope of no accounts sees nothing"
    );
    assert_eq!(
        actions(AuditQuery {
            offering: Some(offering.id),
            actor: Some(dev.id),
            ..everything()
        })
        .await,
        ["offering.visibility_changed", "offering.created"]
    );
    assert_eq!(
        actions(AuditQuery {
            action: Some("user.created".into()),
            ..everything()
        })
        .await,
        ["user.created", "user.created"]
    );
    assert_eq!(
        actions(AuditQuery {
            subject_kind: Some(SubjectKind::Account),
            actor: Some(admin.id),
            ..everything()
        })
        .await,
        ["account.created", "account.created"]
    );

    // Newest first, in pages.
    let mut seen = Vec::new();
    let mut before_seq = None;
    loop {
        let page = store
            .audit(&AuditQuery {
                before_seq,
                limit: 3,
                ..AuditQuery::default()
            })
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before_seq = page.last().map(|r| r.seq);
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

// --- catalog ---

async fn check_search(store: &dyn Store) {
    let account = new_account("Acme", &[]);
    store.insert_account(&account, &[]).await.expect("account");
    let mut fs = new_offering("filesystem", account.id);
    fs.display_name = localized("Système de FICHIERS", None);
    fs.description = localized("Élevé, naïve; obj-store v2.1", Some("Über straße"));
    fs.tags = vec!["nfs".into()];
    fs.visibility = Visibility::Public;
    store.insert_offering(&fs, &[]).await.expect("offering");
    let names = |terms: &[&str]| {
        let query = CatalogQuery {
            audience: Audience::anonymous(),
            terms: terms.iter().map(|t| (*t).to_owned()).collect(),
            category: None,
            tag: None,
            provider: None,
            after: None,
            limit: 10,
        };
        async move {
            let page = store.catalog(&query).await.expect("catalog");
            assert_eq!(page.total as usize, page.items.len());
            page.items
                .into_iter()
                .map(|o| o.name.to_string())
                .collect::<Vec<_>>()
        }
    };
    for found in [
        &["systeme"][..],
        &["sys", "fich"],
        &["eleve", "naive"],
        &["obj", "store", "v2", "1"],
        &["uber", "stra"],
        &["nfs"],
        &["filesys"],
    ] {
        let terms: Vec<String> = found.iter().map(|t| (*t).to_owned()).collect();
        assert!(search::matches(&search::document(&fs), &terms));
        assert_eq!(names(found).await, ["filesystem"], "{found:?}");
    }
    for missing in [
        &["ystem"][..],
        &["systemes"],
        &["sys", "database"],
        &["v21"],
    ] {
        assert_eq!(names(missing).await, Vec::<String>::new(), "{missing:?}");
    }
}

/// Totals stay right on every page while offerings come, change and leave the audience.
async fn check_totals(store: &dyn Store) {
    let provider = new_account("Provider", &[]);
    let customer = new_account("Customer", &[]);
    for a in [&provider, &customer] {
        store.insert_account(a, &[]).await.expect("account");
    }
    let publish = |name: &str| {
        let mut o = new_offering(name, provider.id);
        o.visibility = Visibility::Public;
        o
    };
    for name in ["aaa", "bbb", "ccc"] {
        store
            .insert_offering(&publish(name), &[])
            .await
            .expect("offering");
    }
    let second_page = |audience: Audience| {
        let query = CatalogQuery {
            audience,
            terms: vec![],
            category: None,
            tag: None,
            provider: None,
            after: Some(OfferingName::parse("n", "aaa").expect("valid")),
            limit: 1,
        };
        async move { store.catalog(&query).await.expect("catalog").total }
    };
    assert_eq!(second_page(Audience::anonymous()).await, 3);
    assert_eq!(second_page(Audience::anonymous()).await, 3, "asked again");
    let ddd = publish("ddd");
    store.insert_offering(&ddd, &[]).await.expect("offering");
    assert_eq!(second_page(Audience::anonymous()).await, 4);
    let staff_view = || {
        let query = CatalogQuery {
            audience: Audience::Staff,
            terms: vec![],
            category: None,
            tag: None,
            provider: None,
            after: None,
            limit: 10,
        };
        async move { store.catalog(&query).await.expect("catalog").items }
    };
    assert_eq!(staff_view().await.last(), Some(&ddd));
    let mut limited = ddd.clone();
    limited.visibility = Visibility::Limited;
    limited.allowlist = vec![customer.id];
    limited.version = 2;
    store.update_offering(&limited, &[]).await.expect("update");
    assert_eq!(
        staff_view().await.last(),
        Some(&limited),
        "a page asked before a change shows the change"
    );
    assert_eq!(second_page(Audience::anonymous()).await, 3);
    assert_eq!(second_page(Audience::Accounts(vec![customer.id])).await, 4);
    let mut unlisted = limited.clone();
    unlisted.allowlist.clear();
    unlisted.version = 3;
    store.update_offering(&unlisted, &[]).await.expect("update");
    assert_eq!(second_page(Audience::Accounts(vec![customer.id])).await, 3);
    assert_eq!(second_page(Audience::Accounts(vec![provider.id])).await, 4);
    assert_eq!(second_page(Audience::Staff).await, 4);
}

/// Small vocabulary, with accents and mixed case, so random searches often match.
const WORDS: &[&str] = &[
    "Système",
    "stockage",
    "objet",
    "données",
    "base",
    "Cloud",
    "sécurité",
    "réseau",
    "s3",
    "kafka",
    "naïve",
    "Élan",
    "straße",
    "queue",
    "quick",
    "2fa",
    "Ωmega",
];
const TAGS: &[&str] = &["ai", "backup", "db", "edge", "éco"];
const CATEGORIES: &[&str] = &["storage", "databases", "network"];
const ACCOUNTS: usize = 8;

#[derive(Clone, Debug)]
struct OfferingSpec {
    visibility: Visibility,
    provider: usize,
    allowlist: BTreeSet<usize>,
    tags: BTreeSet<usize>,
    category: Option<usize>,
    words: Vec<usize>,
    fr_words: Option<Vec<usize>>,
}

#[derive(Clone, Debug)]
enum AudienceSpec {
    Staff,
    Accounts(BTreeSet<usize>),
}

#[derive(Clone, Debug)]
struct QuerySpec {
    audience: AudienceSpec,
    terms: Vec<(usize, usize)>,
    category: Option<usize>,
    tag: Option<usize>,
    provider: Option<usize>,
    limit: u32,
}

fn offering_spec() -> impl Strategy<Value = OfferingSpec> {
    (
        prop_oneof![
            Just(Visibility::Private),
            Just(Visibility::Limited),
            Just(Visibility::Public)
        ],
        0..ACCOUNTS,
        prop::collection::btree_set(0..ACCOUNTS, 0..4),
        prop::collection::btree_set(0..TAGS.len(), 0..3),
        prop::option::of(0..CATEGORIES.len()),
        prop::collection::vec(0..WORDS.len(), 1..4),
        prop::option::of(prop::collection::vec(0..WORDS.len(), 1..3)),
    )
        .prop_map(
            |(visibility, provider, allowlist, tags, category, words, fr_words)| OfferingSpec {
                visibility,
                provider,
                allowlist,
                tags,
                category,
                words,
                fr_words,
            },
        )
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        prop_oneof![
            1 => Just(AudienceSpec::Staff),
            1 => Just(AudienceSpec::Accounts(BTreeSet::new())),
            3 => prop::collection::btree_set(0..ACCOUNTS, 1..4).prop_map(AudienceSpec::Accounts),
        ],
        prop::collection::vec((0..WORDS.len(), 1..6usize), 0..3),
        prop::option::weighted(0.2, 0..CATEGORIES.len()),
        prop::option::weighted(0.2, 0..TAGS.len()),
        prop::option::weighted(0.15, 0..ACCOUNTS),
        1..5u32,
    )
        .prop_map(
            |(audience, terms, category, tag, provider, limit)| QuerySpec {
                audience,
                terms,
                category,
                tag,
                provider,
                limit,
            },
        )
}

fn text(words: &[usize]) -> String {
    words
        .iter()
        .map(|&w| WORDS[w])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A prefix of `len` characters of a folded vocabulary word.
fn term(word: usize, len: usize) -> String {
    search::fold(WORDS[word]).chars().take(len).collect()
}

/// Seeds random offerings and walks every page of a random query: the pages hold exactly
/// the offerings the domain's rules admit, in name order, each once, with the right total.
async fn check_catalog(
    store: &dyn Store,
    specs: &[(String, OfferingSpec)],
    queries: &[QuerySpec],
) -> Result<(), TestCaseError> {
    let accounts: Vec<Account> = (0..ACCOUNTS)
        .map(|i| new_account(&format!("Account {i}"), &[]))
        .collect();
    for a in &accounts {
        store.insert_account(a, &[]).await.expect("account");
    }
    let mut offerings = Vec::new();
    for (name, spec) in specs {
        let mut o = new_offering(name, accounts[spec.provider].id);
        o.visibility = spec.visibility;
        o.allowlist = spec.allowlist.iter().map(|&i| accounts[i].id).collect();
        o.allowlist.sort();
        o.tags = spec.tags.iter().map(|&t| TAGS[t].to_owned()).collect();
        o.category = spec.category.map(|c| CATEGORIES[c].to_owned());
        o.display_name = localized(&text(&spec.words), None);
        o.description = localized("A service", spec.fr_words.as_deref().map(text).as_deref());
        store.insert_offering(&o, &[]).await.expect("offering");
        offerings.push(o);
    }
    offerings.sort_by(|a, b| a.name.cmp(&b.name));

    for spec in queries {
        let audience = match &spec.audience {
            AudienceSpec::Staff => Audience::Staff,
            AudienceSpec::Accounts(ids) => {
                Audience::Accounts(ids.iter().map(|&i| accounts[i].id).collect())
            }
        };
        let terms: Vec<String> = spec.terms.iter().map(|&(w, n)| term(w, n)).collect();
        let category = spec.category.map(|c| CATEGORIES[c].to_owned());
        let tag = spec.tag.map(|t| TAGS[t].to_owned());
        let provider = spec.provider.map(|p| accounts[p].id);
        let expected: Vec<&Offering> = offerings
            .iter()
            .filter(|o| {
                audience.admits(o)
                    && search::matches(&search::document(o), &terms)
                    && (category.is_none() || o.category == category)
                    && tag.as_ref().is_none_or(|t| o.tags.contains(t))
                    && provider.is_none_or(|p| o.provider_account_id == p)
            })
            .collect();

        let mut got: Vec<Offering> = Vec::new();
        let mut after = None;
        for _ in 0..=offerings.len() {
            let page = store
                .catalog(&CatalogQuery {
                    audience: audience.clone(),
                    terms: terms.clone(),
                    category: category.clone(),
                    tag: tag.clone(),
                    provider,
                    after: after.clone(),
                    limit: spec.limit,
                })
                .await
                .expect("catalog");
            prop_assert_eq!(page.total as usize, expected.len(), "total of {:?}", spec);
            prop_assert!(page.items.len() <= spec.limit as usize);
            after = page.items.last().map(|o| o.name.clone());
            got.extend(page.items);
            if !page.has_more {
                break;
            }
        }
        let got_names: Vec<&str> = got.iter().map(|o| o.name.as_str()).collect();
        let expected_names: Vec<&str> = expected.iter().map(|o| o.name.as_str()).collect();
        prop_assert_eq!(got_names, expected_names, "{:?} terms {:?}", spec, terms);
        for (g, e) in got.iter().zip(&expected) {
            prop_assert_eq!(g, *e);
        }
    }
    Ok(())
}

/// Each case seeds fresh databases, so the number of cases stays modest.
#[test]
fn catalog_agrees_with_the_domain_rules() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        prop::collection::btree_map("[a-z][a-z0-9-]{1,5}[a-z0-9]", offering_spec(), 0..24),
        prop::collection::vec(query_spec(), 1..6),
    );
    let result = runner.run(&strategy, |(specs, queries)| {
        let specs: Vec<(String, OfferingSpec)> = specs.into_iter().collect();
        runtime.block_on(async {
            for db in TestDatabase::all().await {
                let store = db.open().await;
                check_catalog(store.as_ref(), &specs, &queries)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{}: {e}", db.backend)))?;
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// `sqlite::memory:` keeps one database for the pool's life, and a file database gets its
/// directory created.
#[tokio::test]
async fn sqlite_urls() {
    let memory = vitrine_store::open("sqlite::memory:")
        .await
        .expect("memory");
    let user = new_user("m@example.com", false);
    memory.insert_user(&user, None, &[]).await.expect("insert");
    assert_eq!(memory.user(user.id).await.expect("read"), Some(user));
    assert_eq!(memory.backend(), "sqlite");

    let db = TestDatabase::sqlite().await;
    let nested = db.url.replace("vitrine.db", "deeper/still/vitrine.db");
    let store = vitrine_store::open(&nested).await.expect("nested file");
    store.ping().await.expect("ping");
}

#[path = "contract/review.rs"]
mod review;

#[path = "contract/self_service.rs"]
mod self_service;

#[path = "contract/checks.rs"]
mod checks;

#[path = "contract/inbound.rs"]
mod inbound;

#[path = "contract/multi.rs"]
mod multi;

#[path = "contract/revisions.rs"]
mod revisions;
