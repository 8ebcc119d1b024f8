//! The `vitrine` binary: command line, configuration and wiring of the store and the HTTP
//! server. The rules live in `vitrine-domain`, storage in `vitrine-store`, HTTP in
//! `vitrine-server`; this crate only puts them together.

use std::process::ExitCode;

use clap::Parser;

mod backup;
mod cli;
mod commands;
mod config;

use cli::{AdminCommand, Cli, Command, MailCommand, RecordingsCommand};
use config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Mail(MailCommand::Ingest(_))) {
        // An MTA reads the exit code: it has its own meanings (sysexits).
        return commands::mail_ingest_exit(&cli);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vitrine: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.overrides())?;
    commands::init_logging(&config.log, config.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the async runtime: {error}"))?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(_) => commands::serve(&config).await,
            Command::Migrate => commands::migrate(&config).await,
            Command::Backup(args) => backup::backup(&config, &args.dir).await,
            Command::Restore(args) => backup::restore(&config, &args.dir).await,
            Command::Admin(AdminCommand::Bootstrap(args)) => {
                commands::bootstrap(&config, &args.email, &args.name).await
            }
            Command::Admin(AdminCommand::PasswordLink(args)) => {
                commands::password_link(&config, &args.email).await
            }
            Command::Mail(MailCommand::Ingest(_)) => Ok(()),
            Command::Recordings(RecordingsCommand::Migrate(args)) => {
                commands::migrate_recordings(&config, args.to).await
            }
        }
    })
}
