//! Seeds what the upload benchmark needs into an empty database: an approved provider with
//! one offering and a draft go-live submission. Prints `<token> <submission id>` on the last
//! line (the provider owner's API token).

use anyhow::Context;
use clap::Parser;
use vitrine_bench::{Seeded, seed_provider_submission};
use vitrine_server::SystemClock;

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
    let Seeded { owner, submission } = seed_provider_submission(store.as_ref()).await?;
    let token =
        vitrine_server::issue_api_token(store.as_ref(), &SystemClock, owner.id, "bench").await?;
    println!("{token} {}", submission.id);
    Ok(())
}
