//! What several benchmarks seed: an approved provider with one offering and a draft
//! go-live submission, made through the domain commands and the Store as the API makes them.

use anyhow::Context;
use vitrine_domain::account::{self, ProviderApplicationInput, ProviderDecision};
use vitrine_domain::go_live::{Round, Submission};
use vitrine_domain::offering::{self, ListingInput};
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::user::{self, NewUser, User};
use vitrine_domain::{
    Actor, AuditEvent, Localized, MembershipRole, Plan, Pricing, StaffRoles, SubmissionId,
};
use vitrine_server::{Clock, SystemClock};
use vitrine_store::Store;

/// What [`seed_provider_submission`] made.
pub struct Seeded {
    /// The provider account's owner.
    pub owner: User,
    /// A draft submission of the provider's offering.
    pub submission: Submission,
}

/// Seeds an empty database: an admin, an approved provider (owned by `owner@bench.test`)
/// with one offering, `bench-service`, and a draft go-live submission of it.
pub async fn seed_provider_submission(store: &dyn Store) -> anyhow::Result<Seeded> {
    let clock = SystemClock;
    vitrine_server::bootstrap_admin(store, &clock, "bench-admin@vitrine.test", "Bench")
        .await
        .context("bootstrapping the admin (is the database empty?)")?;
    let admin_email = user::Email::parse("email", "bench-admin@vitrine.test")?;
    let (admin_user, _) = store
        .user_by_email(&admin_email)
        .await?
        .context("admin just created")?;
    let admin = Actor::new(admin_user.id, admin_user.staff, vec![]);

    let (owner, event) = user::create_user(
        Some(&admin),
        NewUser {
            email: "owner@bench.test".into(),
            display_name: "Owner".into(),
            ..Default::default()
        },
        clock.now(),
    )?;
    store.insert_user(&owner, None, &[event]).await?;
    let (account, event) =
        account::create_account(&admin, "Bench provider", owner.id, clock.now())?;
    store.insert_account(&account, &[event]).await?;
    let owner_actor = Actor::new(
        owner.id,
        StaffRoles::default(),
        vec![(account.id, MembershipRole::Owner)],
    );
    let input = ProviderApplicationInput {
        legal_name: "Bench SAS".into(),
        contact_email: "ops@bench.test".into(),
        country: "FR".into(),
        website: "https://bench.test".into(),
    };
    let (applied, event) = account::apply_as_provider(&owner_actor, &account, input, clock.now())?;
    store.update_account(&applied, &[event]).await?;
    let (approved, event) = account::decide_provider(
        &admin,
        &applied,
        ProviderDecision::Approve,
        None,
        clock.now(),
    )?;
    store.update_account(&approved, &[event]).await?;

    let listing = ListingInput {
        display_name: Some(Localized {
            en: "Bench service".into(),
            fr: None,
        }),
        description: Some(Localized {
            en: "A service to upload demo recordings for".into(),
            fr: None,
        }),
        category: Some("storage".into()),
        plans: Some(vec![Plan {
            name: "standard".into(),
            display_name: Localized {
                en: "Standard".into(),
                fr: None,
            },
            description: Localized::default(),
            pricing: Pricing::Free,
        }]),
        ..Default::default()
    };
    let (offering, event) =
        offering::create_offering(&admin, &approved, "bench-service", listing, clock.now())?;
    store.insert_offering(&offering, &[event]).await?;

    let now = clock.now();
    let submission = Submission {
        id: SubmissionId::generate(),
        offering_id: offering.id,
        provider_account_id: approved.id,
        state: SubmissionState::Draft,
        rounds: vec![Round {
            number: 1,
            recordings: vec![],
            notes: String::new(),
            requested_go_live: None,
            requirements_version: None,
            submitted_at: None,
            decision: None,
        }],
        validator: None,
        publication_at: None,
        revision: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let event = AuditEvent::new(None, "submission.created", now).subject_submission(
        submission.id,
        submission.offering_id,
        submission.provider_account_id,
    );
    store.insert_submission(&submission, &[event], &[]).await?;
    Ok(Seeded { owner, submission })
}
