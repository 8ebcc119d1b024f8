//! Seeds what the upload benchmark needs into an empty database: an approved provider with
//! one offering and a draft go-live submission. Prints `<token> <submission id>` on the last
//! line (the provider owner's API token).

use anyhow::Context;
use clap::Parser;
use vitrine_domain::account::{self, ProviderApplicationInput, ProviderDecision};
use vitrine_domain::go_live::{Round, Submission};
use vitrine_domain::offering::{self, ListingInput};
use vitrine_domain::submission::SubmissionState;
use vitrine_domain::user::{self, NewUser};
use vitrine_domain::{
    Actor, AuditEvent, Localized, MembershipRole, Plan, Pricing, StaffRoles, SubmissionId,
};
use vitrine_server::{Clock, SystemClock};

#[derive(Parser)]
struct Args {
    /// Database to seed (must be empty).
    #[arg(long)]
    database_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = vitrine_store::open(&args.database_url)
        .await
        .context("opening the database")?;
    let clock = SystemClock;
    vitrine_server::bootstrap_admin(store.as_ref(), &clock, "bench-admin@vitrine.test", "Bench")
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
    let token = vitrine_server::issue_api_token(store.as_ref(), &clock, owner.id, "bench").await?;
    println!("{token} {}", submission.id);
    Ok(())
}
