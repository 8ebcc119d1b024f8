//! The peer of the catalog benchmark: a bare axum handler that returns a fixed JSON body
//! (the catalog's own response, captured beforehand), so the difference between the two is
//! what vitrine's work costs.

use anyhow::Context;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8099")]
    listen: String,
    /// File whose bytes are the response body.
    #[arg(long)]
    body: std::path::PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body: &'static [u8] = std::fs::read(&args.body)
        .with_context(|| format!("reading {}", args.body.display()))?
        .leak();
    let app = Router::new().route(
        "/api/v1/catalog",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    axum::serve(listener, app).await.context("serving")
}
