//! Seeds a database for the catalog benchmark: 2,000 accounts (100 of them providers),
//! 10,000 offerings (half public, half limited) and 100,000 allowlist entries, with one
//! customer account allowlisted on exactly 50 offerings. Goes through the domain commands
//! and the Store, like the API does, so the data has the shape real data has.
//!
//! Prints, on its last line, the API token of a user of that customer account.

use anyhow::{Context, bail};
use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use vitrine_domain::account::{self, ProviderApplicationInput, ProviderDecision};
use vitrine_domain::offering::{self, ListingInput};
use vitrine_domain::user::{self, NewUser};
use vitrine_domain::{
    Account, AccountId, Actor, Localized, MembershipRole, Plan, Pricing, StaffRoles, Visibility,
};
use vitrine_server::{Clock, SystemClock};
use vitrine_store::Store;

#[derive(Parser)]
struct Args {
    /// Database to seed (must be empty).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    offerings: usize,
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    #[arg(long, default_value_t = 100)]
    providers: usize,
    #[arg(long, default_value_t = 100_000)]
    allowlist_entries: usize,
    /// Offerings the benchmark customer is allowlisted on.
    #[arg(long, default_value_t = 50)]
    customer_offerings: usize,
}

const WORDS: &[&str] = &[
    "storage",
    "database",
    "analytics",
    "stream",
    "queue",
    "cache",
    "search",
    "vector",
    "object",
    "backup",
    "monitoring",
    "logging",
    "identity",
    "gateway",
    "messaging",
    "ledger",
    "sécurisé",
    "données",
    "réseau",
    "sauvegarde",
    "fiable",
    "rapide",
    "managed",
    "serverless",
];

fn sentence(rng: &mut StdRng, words: usize) -> String {
    (0..words)
        .map(|_| *WORDS.choose(rng).unwrap_or(&"service"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.providers == 0 || args.providers >= args.accounts {
        bail!("--providers must be between 1 and --accounts - 1");
    }
    let store: Arc<dyn Store> = Arc::from(
        vitrine_store::open(&args.database_url)
            .await
            .with_context(|| format!("opening {}", args.database_url))?,
    );
    let clock = SystemClock;
    let mut rng = StdRng::seed_from_u64(42);

    let token = vitrine_server::bootstrap_admin(
        store.as_ref(),
        &clock,
        "bench-admin@vitrine.test",
        "Bench admin",
    )
    .await
    .context("bootstrapping the admin (is the database empty?)")?;
    let admin_email = vitrine_domain::user::Email::parse("email", "bench-admin@vitrine.test")?;
    let (admin_user, _) = store
        .user_by_email(&admin_email)
        .await?
        .context("admin just created")?;
    let admin = Actor::new(admin_user.id, admin_user.staff, vec![]);
    drop(token);

    // Accounts: the first `providers` are approved providers, the rest customers.
    eprintln!("seeding {} accounts…", args.accounts);
    let mut accounts: Vec<Account> = Vec::with_capacity(args.accounts);
    for i in 0..args.accounts {
        let (owner, event) = user::create_user(
            Some(&admin),
            NewUser {
                email: format!("owner{i}@bench.test"),
                display_name: format!("Owner {i}"),
                ..Default::default()
            },
            clock.now(),
        )?;
        store.insert_user(&owner, None, &[event]).await?;
        let (account, event) =
            account::create_account(&admin, &format!("Account {i}"), owner.id, clock.now())?;
        store.insert_account(&account, &[event]).await?;
        let account = if i < args.providers {
            let owner_actor = Actor::new(
                owner.id,
                StaffRoles::default(),
                vec![(account.id, MembershipRole::Owner)],
            );
            let input = ProviderApplicationInput {
                legal_name: format!("Provider {i} SAS"),
                contact_email: format!("ops{i}@bench.test"),
                country: "FR".into(),
                website: format!("https://provider{i}.bench.test"),
            };
            let (applied, event) =
                account::apply_as_provider(&owner_actor, &account, input, clock.now())?;
            store.update_account(&applied, &[event]).await?;
            let (approved, event) = account::decide_provider(
                &admin,
                &applied,
                ProviderDecision::Approve,
                None,
                clock.now(),
            )?;
            store.update_account(&approved, &[event]).await?;
            approved
        } else {
            account
        };
        accounts.push(account);
    }
    let customers: Vec<AccountId> = accounts[args.providers..].iter().map(|a| a.id).collect();
    let bench_customer = accounts[args.providers].clone();

    // Offerings: even ones public, odd ones limited; the limited ones share the allowlist
    // entries; the benchmark customer is on the first `customer_offerings` limited ones.
    let limited_count = args.offerings / 2;
    let per_offering = args
        .allowlist_entries
        .checked_div(limited_count)
        .unwrap_or(0);
    eprintln!(
        "seeding {} offerings with {} allowlist entries each when limited…",
        args.offerings, per_offering
    );
    let mut limited_seen = 0usize;
    for i in 0..args.offerings {
        let provider = &accounts[i % args.providers];
        let listing = ListingInput {
            display_name: Some(Localized {
                en: format!("{} {i}", sentence(&mut rng, 2)),
                fr: Some(sentence(&mut rng, 2)),
            }),
            description: Some(Localized {
                en: sentence(&mut rng, 12),
                fr: Some(sentence(&mut rng, 12)),
            }),
            category: Some(["storage", "databases", "analytics", "security"][i % 4].to_owned()),
            tags: Some(vec![
                sentence(&mut rng, 1).replace('é', "e"),
                sentence(&mut rng, 1).replace('é', "e"),
            ]),
            documentation_url: Some(format!("https://docs.bench.test/o{i}")),
            support_contact: Some("help@bench.test".to_owned()),
            plans: Some(vec![Plan {
                name: "standard".into(),
                display_name: Localized {
                    en: "Standard".into(),
                    fr: Some("Standard".into()),
                },
                description: Localized::default(),
                pricing: Pricing::Subscription {
                    amount: "49.00".into(),
                    currency: "EUR".into(),
                },
            }]),
        };
        let (created, event) = offering::create_offering(
            &admin,
            provider,
            &format!("offering-{i:05}"),
            listing,
            clock.now(),
        )?;
        let mut o = created;
        let mut events = vec![event];
        let target = if i % 2 == 0 {
            Visibility::Public
        } else {
            Visibility::Limited
        };
        let (next, event) = offering::set_visibility(&admin, &o, target, None, clock.now())?;
        o = next;
        events.push(event);
        if target == Visibility::Limited {
            let mut list: Vec<AccountId> = customers
                .choose_multiple(&mut rng, per_offering)
                .copied()
                .collect();
            list.retain(|a| *a != bench_customer.id);
            if limited_seen < args.customer_offerings {
                list.pop();
                list.push(bench_customer.id);
            }
            limited_seen += 1;
            if !list.is_empty() {
                let (next, event) = offering::set_allowlist(&admin, &o, &list, clock.now())?;
                o = next;
                events.push(event);
            }
        }
        // One insert with the final state; the versions of the intermediate states are
        // collapsed (the audit events are kept).
        o.version = 1;
        store.insert_offering(&o, &events).await?;
        if i % 1000 == 999 {
            eprintln!("  {} offerings", i + 1);
        }
    }
    let _ = rng.random::<u8>();

    // A user of the benchmark customer account, with an API token.
    let owner = bench_customer
        .members
        .first()
        .context("customer has an owner")?
        .user_id;
    let token = vitrine_server::issue_api_token(store.as_ref(), &clock, owner, "bench").await?;
    eprintln!("done; the customer's token follows");
    println!("{token}");
    Ok(())
}
