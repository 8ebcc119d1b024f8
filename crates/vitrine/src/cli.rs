//! The command line: subcommands, options and their help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};

use vitrine_mail::TlsMode;

use crate::config::Overrides;

/// vitrine: onboard third-party providers to your service marketplace, from a private
/// draft through limited visibility to a public listing, behind a human go-live review.
#[derive(Debug, Parser)]
#[command(name = "vitrine", version, propagate_version = true)]
#[command(after_help = "\
Configuration comes from, in order of precedence: command-line options, VITRINE_* environment \
variables, the TOML file given by --config, then the defaults shown.

Start with `vitrine admin bootstrap --email you@example.com`, then `vitrine serve`.")]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts (before or after the subcommand's name).
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// TOML configuration file. Keys: listen, data_dir, database_url, secure_cookies,
    /// max_body_bytes, cache_ttl_ms, max_recording_bytes, test_clock, scheduler_interval_secs,
    /// appeal_days, revision_review_fields,
    /// public_url, trusted_proxies, mail_from, smtp_host, smtp_port,
    /// smtp_tls, smtp_username, smtp_password, reply_address, log. Command-line options and environment variables override it.
    #[arg(
        long,
        env = "VITRINE_CONFIG",
        value_name = "FILE",
        global = true,
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,

    /// Directory for local data; created if missing. Holds the SQLite database unless
    /// --database-url names another one. [default: ./vitrine-data]
    #[arg(
        long,
        env = "VITRINE_DATA_DIR",
        value_name = "DIR",
        global = true,
        help_heading = "Global options"
    )]
    pub data_dir: Option<PathBuf>,

    /// Database URL: postgres://user[:password]@host[:port]/database for PostgreSQL,
    /// sqlite://PATH for SQLite. [default: sqlite://<data-dir>/vitrine.db]
    #[arg(
        long,
        env = "VITRINE_DATABASE_URL",
        value_name = "URL",
        global = true,
        help_heading = "Global options"
    )]
    pub database_url: Option<String>,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `debug`,
    /// `info,vitrine_server=debug`). Logs go to standard error.
    /// [default: info, with PostgreSQL notices at warn]
    #[arg(
        long,
        env = "VITRINE_LOG",
        value_name = "FILTER",
        global = true,
        help_heading = "Global options"
    )]
    pub log: Option<String>,

    /// How log lines are written: `text` (for people) or `json` (one object a line, for a
    /// log collector). [default: text]
    #[arg(
        long,
        env = "VITRINE_LOG_FORMAT",
        value_name = "FORMAT",
        global = true,
        help_heading = "Global options"
    )]
    pub log_format: Option<crate::config::LogFormat>,

    #[command(flatten)]
    pub s3: S3Args,
}

/// Where recordings go when not on local disk: an S3-compatible bucket (global, since
/// `serve`, `mail ingest` and `recordings migrate` all reach it).
#[derive(Debug, Args)]
pub struct S3Args {
    /// The S3 endpoint's URL (`https://s3.eu-west-1.amazonaws.com`, `http://10.0.0.5:9000`);
    /// with it, recordings go to the bucket instead of <data-dir>/blobs. Requests are
    /// path-style (`<endpoint>/<bucket>/<key>`), so any S3-compatible store works.
    #[arg(
        long,
        env = "VITRINE_S3_ENDPOINT",
        value_name = "URL",
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_endpoint: Option<String>,

    /// The bucket recordings go to (it must exist).
    #[arg(
        long,
        env = "VITRINE_S3_BUCKET",
        value_name = "NAME",
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_bucket: Option<String>,

    /// The bucket's region, part of every request's signature. [default: us-east-1]
    #[arg(
        long,
        env = "VITRINE_S3_REGION",
        value_name = "REGION",
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_region: Option<String>,

    /// The access key id.
    #[arg(
        long,
        env = "VITRINE_S3_ACCESS_KEY_ID",
        value_name = "ID",
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_access_key_id: Option<String>,

    /// The secret access key. Prefer the environment variable or --s3-secret-access-key-file
    /// to the command line, where other users of the machine can read it. Never logged.
    #[arg(
        long,
        env = "VITRINE_S3_SECRET_ACCESS_KEY",
        value_name = "SECRET",
        hide_env_values = true,
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_secret_access_key: Option<String>,

    /// A file holding the secret access key (surrounding white space ignored), such as a
    /// container secret.
    #[arg(
        long,
        env = "VITRINE_S3_SECRET_ACCESS_KEY_FILE",
        value_name = "PATH",
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_secret_access_key_file: Option<PathBuf>,

    /// Allow an http:// endpoint (a store on loopback or a private network); refused by
    /// default, since the credentials' signatures and the recordings would cross the network
    /// in the clear. [default: false]
    #[arg(
        long,
        env = "VITRINE_S3_ALLOW_HTTP",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_allow_http: Option<bool>,

    /// Bytes per part of a multipart upload, in MiB (5 to 128; an upload holds three parts
    /// in memory). [default: 8]
    #[arg(
        long,
        env = "VITRINE_S3_PART_SIZE_MIB",
        value_name = "MIB",
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_part_size_mib: Option<u64>,

    /// Leave request bodies out of the signatures (`UNSIGNED-PAYLOAD`), sparing a SHA-256
    /// pass over every recording. [default: true over https://, false over http://, where
    /// the signature is all that protects the bytes]
    #[arg(
        long,
        env = "VITRINE_S3_UNSIGNED_PAYLOAD",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        global = true,
        help_heading = "Recording storage (S3)"
    )]
    pub s3_unsigned_payload: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (JSON API under /api/v1, /healthz, /readyz, /metrics).
    ///
    /// Opens the database (applying pending migrations first), then listens until
    /// SIGINT (Ctrl-C) or SIGTERM, finishing requests in flight before exiting.
    Serve(Box<ServeArgs>),

    /// Apply pending database migrations, then exit.
    ///
    /// `serve` applies them too; run this to migrate ahead of a deployment, or to check
    /// that the database is reachable.
    Migrate,

    /// Copy the database (SQLite: an online snapshot; PostgreSQL: use pg_dump), the
    /// recordings and the secret key into a new directory, while `serve` may run.
    Backup(BackupArgs),

    /// Put a backup made by `vitrine backup` in place: the SQLite database (for PostgreSQL,
    /// pg_restore first), the recordings and the secret key. Refuses to overwrite anything.
    Restore(RestoreArgs),

    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),

    /// Inbound email.
    #[command(subcommand)]
    Mail(MailCommand),

    /// Recordings' storage.
    #[command(subcommand)]
    Recordings(RecordingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum RecordingsCommand {
    /// Copy every recording from local disk to the S3 bucket (`--to s3`) or back (`--to
    /// local`), verifying each one's SHA-256 against the database. Resumable: a recording
    /// already at the destination with the right size and checksum is skipped. Nothing is
    /// deleted from the source; switch the configuration once it is done.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the recordings go: `s3` (from <data-dir>/blobs to the configured bucket) or
    /// `local` (back).
    #[arg(long, value_name = "WHERE")]
    pub to: MigrateTarget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrateTarget {
    S3,
    Local,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where the backup goes: a directory that does not exist yet, or is empty.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory `vitrine backup` wrote.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Take one email from standard input, as an MTA's pipe or `.forward` hands it over:
    /// a reply to one of vitrine's reply addresses goes into its thread; anything else is
    /// refused and logged.
    ///
    /// Exit codes, as MTAs read them: 0 taken (posted, refused and logged, or a duplicate),
    /// 67 (EX_NOUSER) not one of vitrine's reply addresses, so the MTA bounces it, 75
    /// (EX_TEMPFAIL) a temporary fault such as the database being down, so the MTA retries,
    /// 78 (EX_CONFIG) vitrine is not configured for replies.
    Ingest(MailIngestArgs),
}

#[derive(Debug, Args)]
pub struct MailIngestArgs {
    /// The reply address pattern, as given to `serve` (`reply+{key}@mail.example.com`).
    #[arg(long, env = "VITRINE_REPLY_ADDRESS", value_name = "PATTERN")]
    pub reply_address: Option<String>,

    /// Largest recording taken from an email, in bytes, as for uploads.
    /// [default: 2147483648]
    #[arg(long, env = "VITRINE_MAX_RECORDING_BYTES", value_name = "BYTES")]
    pub max_recording_bytes: Option<u64>,

    /// The authserv-id of your receiving server, as given to `serve`.
    #[arg(long, env = "VITRINE_TRUSTED_AUTHSERV_ID", value_name = "ID")]
    pub trusted_authserv_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; use 0.0.0.0:PORT to accept connections from other
    /// machines, port 0 for any free port. [default: 127.0.0.1:8080]
    #[arg(long, env = "VITRINE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Mark the session cookie Secure, so browsers send it over HTTPS only. Set this when
    /// vitrine is served over HTTPS (e.g. behind a TLS-terminating proxy).
    /// Accepts an optional value: --secure-cookies=false. [default: false]
    #[arg(
        long,
        env = "VITRINE_SECURE_COOKIES",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub secure_cookies: Option<bool>,

    /// Largest request body accepted, in bytes; larger requests get 413.
    /// [default: 1048576]
    #[arg(long, env = "VITRINE_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// How long catalog pages and token lookups are reused, in milliseconds. A change made
    /// through this server is visible at once; through another server sharing the
    /// database, after at most this long. 0 turns caching off. [default: 500]
    #[arg(long, env = "VITRINE_CACHE_TTL_MS", value_name = "MS")]
    pub cache_ttl_ms: Option<u64>,

    /// Largest demo recording accepted, in bytes; a larger upload is refused before its
    /// bytes are kept. [default: 2147483648]
    #[arg(long, env = "VITRINE_MAX_RECORDING_BYTES", value_name = "BYTES")]
    pub max_recording_bytes: Option<u64>,

    /// Rehearsal: the server reads the time from a test clock that admins read and move
    /// forward through the API (/api/v1/test-clock), to run a whole review cycle in
    /// minutes. Never in production. [default: false]
    #[arg(
        long,
        env = "VITRINE_TEST_CLOCK",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub test_clock: Option<bool>,

    /// The reverse proxies in front of vitrine, as addresses or ranges separated by commas
    /// (`10.0.0.2,10.1.0.0/16`): for a request from one of them, the client is the
    /// right-most `X-Forwarded-For` address that is not a trusted proxy. The abuse limits
    /// count per client. [default: none: the client is the connection's peer]
    #[arg(
        long,
        env = "VITRINE_TRUSTED_PROXIES",
        value_name = "ADDRESSES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,

    /// The server's public address, used in the links of every email
    /// (`https://market.example.com`). [default: http://127.0.0.1:8080]
    #[arg(long, env = "VITRINE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// The file holding the key that seals broker passwords at rest (32 random bytes,
    /// base64); made on first start if missing. Back it up with the database: without it
    /// the stored broker passwords cannot be read. [default: <data-dir>/secret.key]
    #[arg(long, env = "VITRINE_SECRET_KEY_FILE", value_name = "PATH")]
    pub secret_key_file: Option<PathBuf>,

    /// The marketplace's OAuth authorization endpoint: the sign-in check (step 4) expects
    /// a provider's dashboard to redirect there. Unset: step 4 stays attested.
    #[arg(long, env = "VITRINE_AUTHORIZATION_ENDPOINT", value_name = "URL")]
    pub authorization_endpoint: Option<String>,

    /// Let broker checks call loopback, private and link-local addresses (refused by
    /// default: a provider could otherwise aim vitrine at the operator's own network).
    #[arg(
        long,
        env = "VITRINE_ALLOW_PRIVATE_BROKER_ADDRESSES",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub allow_private_broker_addresses: Option<bool>,

    /// On SIGTERM or Ctrl-C, how long requests under way may take to finish before the
    /// server stops anyway, in seconds. [default: 30]
    #[arg(long, env = "VITRINE_SHUTDOWN_TIMEOUT_SECS", value_name = "SECONDS")]
    pub shutdown_timeout_secs: Option<u64>,

    /// How often the review scheduler runs its due steps (open sessions, release decisions,
    /// flag overdue ones, publish), in seconds; 0 turns it off. [default: 30]
    #[arg(long, env = "VITRINE_SCHEDULER_INTERVAL_SECS", value_name = "SECONDS")]
    pub scheduler_interval_secs: Option<u64>,

    /// How many days after a rejection is released its provider may appeal it (once).
    /// [default: 14]
    #[arg(long, env = "VITRINE_APPEAL_DAYS", value_name = "DAYS")]
    pub appeal_days: Option<u32>,

    /// Which fields of a live offering's revision, when changed, send it through the
    /// go-live review (comma-separated: display_name, description, category, tags,
    /// documentation_url, support_contact, plans, broker; empty: none); the others publish
    /// at once. [default: plans,broker]
    #[arg(long, env = "VITRINE_REVISION_REVIEW_FIELDS", value_name = "FIELDS")]
    pub revision_review_fields: Option<String>,

    /// The From address of every email, such as `vitrine <noreply@example.com>`; its domain
    /// also names the Message-IDs. [default: vitrine <vitrine@localhost>]
    #[arg(
        long,
        env = "VITRINE_MAIL_FROM",
        value_name = "ADDRESS",
        help_heading = "Mail"
    )]
    pub mail_from: Option<String>,

    /// SMTP server to send email through. Without it, emails are written as .eml files into
    /// <data-dir>/mail/.
    #[arg(
        long,
        env = "VITRINE_SMTP_HOST",
        value_name = "HOST",
        help_heading = "Mail"
    )]
    pub smtp_host: Option<String>,

    /// SMTP port. [default: 25 with --smtp-tls none, 587 with starttls, 465 with tls]
    #[arg(
        long,
        env = "VITRINE_SMTP_PORT",
        value_name = "PORT",
        help_heading = "Mail"
    )]
    pub smtp_port: Option<u16>,

    /// How the SMTP connection is protected: none (a local relay only), starttls (required
    /// upgrade) or tls (TLS from the first byte). [default: starttls]
    #[arg(
        long,
        env = "VITRINE_SMTP_TLS",
        value_name = "MODE",
        help_heading = "Mail"
    )]
    pub smtp_tls: Option<TlsMode>,

    /// SMTP user name, for servers that require AUTH (give --smtp-password too).
    #[arg(
        long,
        env = "VITRINE_SMTP_USERNAME",
        value_name = "USER",
        help_heading = "Mail"
    )]
    pub smtp_username: Option<String>,

    /// SMTP password. Prefer the environment variable to the command line, where other
    /// users of the machine can read it. Never logged.
    #[arg(
        long,
        env = "VITRINE_SMTP_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true,
        help_heading = "Mail"
    )]
    pub smtp_password: Option<String>,

    /// The address replies come back to, with `{key}` where each email's reply key goes,
    /// such as `reply+{key}@mail.example.com` (plus-addressing on a mailbox of yours).
    /// With it, every email of a submission's thread carries a Reply-To of its own, and
    /// replies come back into the thread. Without it, emails carry no reply address.
    #[arg(
        long,
        env = "VITRINE_REPLY_ADDRESS",
        value_name = "PATTERN",
        help_heading = "Mail"
    )]
    pub reply_address: Option<String>,

    /// IMAP server of the mailbox replies arrive in; with it (and --reply-address) `serve`
    /// polls that mailbox and takes every reply (IDLE where the server offers it). Without
    /// it, hand replies over with `vitrine mail ingest` from your MTA.
    #[arg(
        long,
        env = "VITRINE_IMAP_HOST",
        value_name = "HOST",
        help_heading = "Inbound mail"
    )]
    pub imap_host: Option<String>,

    /// IMAP port. [default: 993 with tls, 143 otherwise]
    #[arg(
        long,
        env = "VITRINE_IMAP_PORT",
        value_name = "PORT",
        help_heading = "Inbound mail"
    )]
    pub imap_port: Option<u16>,

    /// `tls` (from the first byte), `starttls`, or `plain` (loopback only). [default: tls]
    #[arg(
        long,
        env = "VITRINE_IMAP_SECURITY",
        value_name = "MODE",
        help_heading = "Inbound mail"
    )]
    pub imap_security: Option<String>,

    /// IMAP login name.
    #[arg(
        long,
        env = "VITRINE_IMAP_USERNAME",
        value_name = "USER",
        help_heading = "Inbound mail"
    )]
    pub imap_username: Option<String>,

    /// IMAP password. Prefer the environment variable. Never logged.
    #[arg(
        long,
        env = "VITRINE_IMAP_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true,
        help_heading = "Inbound mail"
    )]
    pub imap_password: Option<String>,

    /// The authserv-id your receiving server writes in the `Authentication-Results` it adds
    /// (and removes from incoming mail). With it, a reply is taken only if that server says
    /// DKIM, SPF or DMARC passed for its From domain (and DMARC did not fail); results from
    /// any other authserv-id are ignored. Also read by `vitrine mail ingest`.
    #[arg(
        long,
        env = "VITRINE_TRUSTED_AUTHSERV_ID",
        value_name = "ID",
        help_heading = "Inbound mail"
    )]
    pub trusted_authserv_id: Option<String>,

    /// The mailbox polled; handled messages are moved to the mailbox `Processed`. [default: INBOX]
    #[arg(
        long,
        env = "VITRINE_IMAP_MAILBOX",
        value_name = "NAME",
        help_heading = "Inbound mail"
    )]
    pub imap_mailbox: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the first admin user and print an API token for it.
    ///
    /// The token is printed alone on the last line of standard output (explanations go
    /// to standard error), so `TOKEN=$(vitrine admin bootstrap --email ...)` captures it.
    /// It is shown only this once. Refuses, with exit status 1, when an admin already
    /// exists.
    Bootstrap(BootstrapArgs),
    /// Print a one-time link (valid one hour) for a user to choose their password.
    ///
    /// For the first admin, created without a password, and for anyone whose email does
    /// not arrive. The link is printed alone on standard output.
    PasswordLink(PasswordLinkArgs),
}

#[derive(Debug, Args)]
pub struct PasswordLinkArgs {
    /// The user's email address.
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// The admin's email address (their sign-in name).
    #[arg(long, value_name = "EMAIL")]
    pub email: String,

    /// The admin's display name. [default: Administrator]
    #[arg(
        long,
        value_name = "NAME",
        default_value = "Administrator",
        hide_default_value = true
    )]
    pub name: String,
}

impl Cli {
    /// The values the command line and the environment gave, for [`crate::config`].
    pub fn overrides(&self) -> Overrides {
        let serve = match &self.command {
            Command::Serve(serve) => Some(serve),
            _ => None,
        };
        let ingest = match &self.command {
            Command::Mail(MailCommand::Ingest(ingest)) => Some(ingest),
            _ => None,
        };
        Overrides {
            config: self.common.config.clone(),
            listen: serve.and_then(|s| s.listen),
            data_dir: self.common.data_dir.clone(),
            database_url: self.common.database_url.clone(),
            secure_cookies: serve.and_then(|s| s.secure_cookies),
            max_body_bytes: serve.and_then(|s| s.max_body_bytes),
            cache_ttl_ms: serve.and_then(|s| s.cache_ttl_ms),
            max_recording_bytes: serve
                .and_then(|s| s.max_recording_bytes)
                .or_else(|| ingest.and_then(|i| i.max_recording_bytes)),
            test_clock: serve.and_then(|s| s.test_clock),
            public_url: serve.and_then(|s| s.public_url.clone()),
            trusted_proxies: serve.and_then(|s| s.trusted_proxies.clone()),
            checks: crate::config::ChecksOverrides {
                secret_key_file: serve.and_then(|s| s.secret_key_file.clone()),
                authorization_endpoint: serve.and_then(|s| s.authorization_endpoint.clone()),
                allow_private_broker_addresses: serve
                    .and_then(|s| s.allow_private_broker_addresses),
            },
            scheduler_interval_secs: serve.and_then(|s| s.scheduler_interval_secs),
            appeal_days: serve.and_then(|s| s.appeal_days),
            revision_review_fields: serve.and_then(|s| s.revision_review_fields.clone()),
            mail: crate::config::MailOverrides {
                from: serve.and_then(|s| s.mail_from.clone()),
                smtp_host: serve.and_then(|s| s.smtp_host.clone()),
                smtp_port: serve.and_then(|s| s.smtp_port),
                smtp_tls: serve.and_then(|s| s.smtp_tls),
                smtp_username: serve.and_then(|s| s.smtp_username.clone()),
                smtp_password: serve.and_then(|s| s.smtp_password.clone()),
                reply_address: serve
                    .and_then(|s| s.reply_address.clone())
                    .or_else(|| ingest.and_then(|i| i.reply_address.clone())),
                trusted_authserv_id: serve
                    .and_then(|s| s.trusted_authserv_id.clone())
                    .or_else(|| ingest.and_then(|i| i.trusted_authserv_id.clone())),
            },
            imap: crate::config::ImapOverrides {
                host: serve.and_then(|s| s.imap_host.clone()),
                port: serve.and_then(|s| s.imap_port),
                security: serve.and_then(|s| s.imap_security.clone()),
                username: serve.and_then(|s| s.imap_username.clone()),
                password: serve.and_then(|s| s.imap_password.clone()),
                mailbox: serve.and_then(|s| s.imap_mailbox.clone()),
            },
            log: self.common.log.clone(),
            log_format: self.common.log_format,
            shutdown_timeout_secs: serve.and_then(|s| s.shutdown_timeout_secs),
            s3: crate::config::S3Overrides {
                endpoint: self.common.s3.s3_endpoint.clone(),
                bucket: self.common.s3.s3_bucket.clone(),
                region: self.common.s3.s3_region.clone(),
                access_key_id: self.common.s3.s3_access_key_id.clone(),
                secret_access_key: self.common.s3.s3_secret_access_key.clone(),
                secret_access_key_file: self.common.s3.s3_secret_access_key_file.clone(),
                allow_http: self.common.s3.s3_allow_http,
                part_size_mib: self.common.s3.s3_part_size_mib,
                unsigned_payload: self.common.s3.s3_unsigned_payload,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_option_has_help() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --{id} has no help text");
            }
            for sub in command.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no help text",
                    sub.get_name()
                );
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "vitrine");
    }

    #[test]
    fn documented_defaults_match_the_server_defaults() {
        let serve = Cli::command()
            .find_subcommand_mut("serve")
            .map(|c| c.render_long_help().to_string())
            .unwrap();
        let defaults = vitrine_server::ServerConfig::default();
        assert!(
            serve.contains(&format!("[default: {}]", defaults.max_body_bytes)),
            "{serve}"
        );
        assert!(
            serve.contains(&format!("[default: {}]", defaults.secure_cookies)),
            "{serve}"
        );
        assert!(
            serve.contains(&format!("[default: {}]", defaults.cache_ttl.as_millis())),
            "{serve}"
        );
        assert!(
            serve.contains(&format!("[default: {}]", defaults.max_recording_bytes)),
            "{serve}"
        );
        assert!(
            serve.contains(&format!("[default: {}]", crate::config::DEFAULT_MAIL_FROM)),
            "{serve}"
        );
    }

    #[test]
    fn mail_and_recording_options_default_to_unset() {
        let cli = Cli::try_parse_from(["vitrine", "serve"]).unwrap();
        let overrides = cli.overrides();
        assert_eq!(overrides.max_recording_bytes, None);
        assert_eq!(overrides.mail, crate::config::MailOverrides::default());
        let cli = Cli::try_parse_from([
            "vitrine",
            "serve",
            "--max-recording-bytes",
            "1000",
            "--mail-from",
            "ops@example.com",
            "--smtp-host",
            "mail.example.com",
            "--smtp-port",
            "2525",
            "--smtp-tls",
            "tls",
            "--smtp-username",
            "u",
            "--smtp-password",
            "p",
        ])
        .unwrap();
        let overrides = cli.overrides();
        assert_eq!(overrides.max_recording_bytes, Some(1000));
        assert_eq!(overrides.mail.smtp_tls, Some(TlsMode::Tls));
        assert_eq!(overrides.mail.smtp_port, Some(2525));
        assert!(Cli::try_parse_from(["vitrine", "serve", "--smtp-tls", "ssl"]).is_err());
    }

    #[test]
    fn secure_cookies_is_a_flag_with_an_optional_value() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Serve(serve) => serve.secure_cookies,
            _ => unreachable!(),
        };
        assert_eq!(parse(&["vitrine", "serve"]), None);
        assert_eq!(parse(&["vitrine", "serve", "--secure-cookies"]), Some(true));
        assert_eq!(
            parse(&["vitrine", "serve", "--secure-cookies=false"]),
            Some(false)
        );
    }

    #[test]
    fn common_options_go_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from(["vitrine", "--data-dir", "/a", "migrate"]).unwrap();
        let after = Cli::try_parse_from(["vitrine", "migrate", "--data-dir", "/a"]).unwrap();
        assert_eq!(before.overrides().data_dir, Some(PathBuf::from("/a")));
        assert_eq!(after.overrides().data_dir, Some(PathBuf::from("/a")));
    }

    #[test]
    fn bootstrap_requires_an_email() {
        assert!(Cli::try_parse_from(["vitrine", "admin", "bootstrap"]).is_err());
        let cli = Cli::try_parse_from(["vitrine", "admin", "bootstrap", "--email", "a@b.example"])
            .unwrap();
        match cli.command {
            Command::Admin(AdminCommand::Bootstrap(args)) => {
                assert_eq!(args.email, "a@b.example");
                assert_eq!(args.name, "Administrator");
            }
            _ => unreachable!(),
        }
    }
}
