//! Configuration resolution: command line > environment > configuration file > defaults.
//!
//! clap already merges the command line over the environment (each option is an `Option`
//! that is `Some` when either gave a value); this module merges the TOML file under that
//! and fills in the defaults. It is pure apart from reading the file, so the precedence
//! rules are unit-tested here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use vitrine_mail::{SmtpConfig, SmtpCredentials, TlsMode};

/// Where local data (the SQLite database, later recordings) lives by default.
pub const DEFAULT_DATA_DIR: &str = "./vitrine-data";
/// The default log filter: `info`, without PostgreSQL's chatty notices (such as "relation
/// already exists, skipping" on every start).
pub const DEFAULT_LOG: &str = "info,sqlx::postgres::notice=warn";
/// The URL prefixes of the databases vitrine supports.
const SUPPORTED_SCHEMES: &[&str] = &["postgres://", "postgresql://", "sqlite:"];
/// The SQLite file inside the data directory used when no database URL is configured.
pub const SQLITE_FILE: &str = "vitrine.db";

/// The configuration file: every key is optional; unknown keys are an error (a typo should
/// not be silently ignored).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub secure_cookies: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub cache_ttl_ms: Option<u64>,
    pub max_recording_bytes: Option<u64>,
    pub test_clock: Option<bool>,
    pub scheduler_interval_secs: Option<u64>,
    pub appeal_days: Option<u32>,
    pub revision_review_fields: Option<String>,
    pub public_url: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub authorization_endpoint: Option<String>,
    pub allow_private_broker_addresses: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub mail_from: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<TlsMode>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub reply_address: Option<String>,
    pub trusted_authserv_id: Option<String>,
    pub imap_host: Option<String>,
    pub imap_port: Option<u16>,
    pub imap_security: Option<String>,
    pub imap_username: Option<String>,
    pub imap_password: Option<String>,
    pub imap_mailbox: Option<String>,
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
    pub shutdown_timeout_secs: Option<u64>,
    pub s3_endpoint: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    pub s3_secret_access_key_file: Option<PathBuf>,
    pub s3_allow_http: Option<bool>,
    pub s3_part_size_mib: Option<u64>,
    pub s3_unsigned_payload: Option<bool>,
}

impl FileConfig {
    /// Reads and parses a configuration file. Errors name the file and, for syntax errors
    /// and unknown keys, the line and column.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the configuration file {} (given by --config or VITRINE_CONFIG)",
                path.display()
            )
        })?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<FileConfig> {
        match toml::from_str(text) {
            Ok(config) => Ok(config),
            Err(error) => {
                let location = error
                    .span()
                    .map(|span| {
                        let (line, column) = line_and_column(text, span.start);
                        format!(", line {line}, column {column}")
                    })
                    .unwrap_or_default();
                // toml's message repeats the location and quotes the line; keep its first
                // sentence-like part and state the location ourselves.
                bail!(
                    "invalid configuration file {}{location}: {}",
                    path.display(),
                    error.message()
                )
            }
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Values from the command line or the environment (clap resolves those two); `None`
/// where neither gave one.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub secure_cookies: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub cache_ttl_ms: Option<u64>,
    pub max_recording_bytes: Option<u64>,
    pub test_clock: Option<bool>,
    pub scheduler_interval_secs: Option<u64>,
    pub appeal_days: Option<u32>,
    pub revision_review_fields: Option<String>,
    pub public_url: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub checks: ChecksOverrides,
    pub mail: MailOverrides,
    pub imap: ImapOverrides,
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
    pub shutdown_timeout_secs: Option<u64>,
    pub s3: S3Overrides,
}

/// The bucket's settings from the command line or the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Overrides {
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub secret_access_key_file: Option<PathBuf>,
    pub allow_http: Option<bool>,
    pub part_size_mib: Option<u64>,
    pub unsigned_payload: Option<bool>,
}

/// The region when none is configured (the one S3-compatible stores expect by default).
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// The bucket recordings go to, when one is configured (`s3_endpoint`). `Debug` hides the
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    /// Given directly, or `None` when it is read from `secret_access_key_file`.
    pub secret_access_key: Option<String>,
    pub secret_access_key_file: Option<PathBuf>,
    pub allow_http: bool,
    /// Bytes per multipart part, in MiB.
    pub part_size_mib: u64,
    /// Bodies left out of the signatures; unless configured, over `https://` only.
    pub unsigned_payload: bool,
}

/// The multipart part size unless configured, in MiB.
pub const DEFAULT_S3_PART_SIZE_MIB: u64 = (vitrine_blob::DEFAULT_PART_SIZE >> 20) as u64;

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("allow_http", &self.allow_http)
            .field("part_size_mib", &self.part_size_mib)
            .field("unsigned_payload", &self.unsigned_payload)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    fn merge(overrides: S3Overrides, file: &FileConfig) -> Option<S3Config> {
        let endpoint = overrides
            .endpoint
            .or_else(|| file.s3_endpoint.clone())
            .filter(|e| !e.trim().is_empty())?;
        let https = endpoint.trim().starts_with("https://");
        Some(S3Config {
            endpoint: endpoint.trim().to_owned(),
            bucket: overrides
                .bucket
                .or_else(|| file.s3_bucket.clone())
                .unwrap_or_default(),
            region: overrides
                .region
                .or_else(|| file.s3_region.clone())
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_S3_REGION.to_owned()),
            access_key_id: overrides
                .access_key_id
                .or_else(|| file.s3_access_key_id.clone())
                .unwrap_or_default(),
            secret_access_key: overrides
                .secret_access_key
                .or_else(|| file.s3_secret_access_key.clone())
                .filter(|s| !s.is_empty()),
            secret_access_key_file: overrides
                .secret_access_key_file
                .or_else(|| file.s3_secret_access_key_file.clone()),
            allow_http: overrides.allow_http.or(file.s3_allow_http).unwrap_or(false),
            part_size_mib: overrides
                .part_size_mib
                .or(file.s3_part_size_mib)
                .unwrap_or(DEFAULT_S3_PART_SIZE_MIB),
            // Over plain HTTP the payload's hash in the signature is all that protects the
            // bytes on the way; over HTTPS, TLS does.
            unsigned_payload: overrides
                .unsigned_payload
                .or(file.s3_unsigned_payload)
                .unwrap_or(https),
        })
    }

    /// What is missing or contradictory, naming the settings; checked by [`Config::load`].
    fn check(&self) -> anyhow::Result<()> {
        let url = url::Url::parse(&self.endpoint).with_context(|| {
            format!(
                "the S3 endpoint {:?} is not a URL (--s3-endpoint, VITRINE_S3_ENDPOINT or                  s3_endpoint in the configuration file)",
                self.endpoint
            )
        })?;
        if url.scheme() == "http" && !self.allow_http {
            bail!(
                "the S3 endpoint {} is http://: the recordings would cross the network in the                  clear. Use https://, or allow it for a store on loopback or a private network                  with --s3-allow-http (VITRINE_S3_ALLOW_HTTP, s3_allow_http)",
                self.endpoint
            );
        }
        let (min, max) = (
            vitrine_blob::MIN_PART_SIZE >> 20,
            vitrine_blob::MAX_PART_SIZE >> 20,
        );
        if !(min as u64..=max as u64).contains(&self.part_size_mib) {
            bail!(
                "the S3 part size of {} MiB is outside {min}–{max} MiB (--s3-part-size-mib, \
                 VITRINE_S3_PART_SIZE_MIB or s3_part_size_mib): S3 takes parts of 5 MiB at \
                 least, and an upload holds three parts in memory",
                self.part_size_mib
            );
        }
        if self.bucket.trim().is_empty() {
            bail!(
                "the S3 endpoint {} needs a bucket (--s3-bucket, VITRINE_S3_BUCKET or s3_bucket                  in the configuration file)",
                self.endpoint
            );
        }
        if self.access_key_id.trim().is_empty()
            || (self.secret_access_key.is_none() && self.secret_access_key_file.is_none())
        {
            bail!(
                "the S3 bucket {} needs credentials: --s3-access-key-id and                  --s3-secret-access-key or --s3-secret-access-key-file (VITRINE_S3_ACCESS_KEY_ID                  and VITRINE_S3_SECRET_ACCESS_KEY[_FILE], or s3_access_key_id and                  s3_secret_access_key[_file] in the configuration file)",
                self.bucket
            );
        }
        Ok(())
    }

    /// The store's settings, reading the secret from its file if it is given that way.
    pub fn settings(&self) -> anyhow::Result<vitrine_blob::S3Settings> {
        let secret_access_key = match (&self.secret_access_key, &self.secret_access_key_file) {
            (Some(secret), _) => secret.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| {
                    format!(
                        "cannot read the S3 secret access key from {}                          (--s3-secret-access-key-file)",
                        path.display()
                    )
                })?
                .trim()
                .to_owned(),
            (None, None) => bail!("the S3 bucket {} has no secret access key", self.bucket),
        };
        Ok(vitrine_blob::S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key,
            allow_http: self.allow_http,
            part_size: usize::try_from(self.part_size_mib << 20)
                .context("the S3 part size does not fit this machine's memory")?,
            unsigned_payload: self.unsigned_payload,
        })
    }
}

/// Inbound mailbox settings from the command line or the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImapOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub mailbox: Option<String>,
}

/// The inbound mailbox, when one is configured. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapConfig {
    pub host: String,
    pub port: Option<u16>,
    pub security: String,
    pub username: String,
    pub password: String,
    pub mailbox: String,
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl ImapConfig {
    fn merge(overrides: ImapOverrides, file: &FileConfig) -> Option<ImapConfig> {
        let host = overrides
            .host
            .or_else(|| file.imap_host.clone())
            .filter(|h| !h.trim().is_empty())?;
        Some(ImapConfig {
            host,
            port: overrides.port.or(file.imap_port),
            security: overrides
                .security
                .or_else(|| file.imap_security.clone())
                .unwrap_or_else(|| "tls".to_owned()),
            username: overrides
                .username
                .or_else(|| file.imap_username.clone())
                .unwrap_or_default(),
            password: overrides
                .password
                .or_else(|| file.imap_password.clone())
                .unwrap_or_default(),
            mailbox: overrides
                .mailbox
                .or_else(|| file.imap_mailbox.clone())
                .unwrap_or_else(|| "INBOX".to_owned()),
        })
    }

    /// The poller's settings, or what is wrong with these, naming the setting.
    pub fn settings(&self) -> anyhow::Result<vitrine_mailbox::ImapSettings> {
        use vitrine_mailbox::Security;
        let security = match self.security.trim().to_ascii_lowercase().as_str() {
            "tls" => Security::Tls,
            "starttls" => Security::StartTls,
            "plain" => Security::Plain,
            other => bail!(
                "the IMAP security {other:?} is not one of tls, starttls or plain (--imap-security, \
                 VITRINE_IMAP_SECURITY or imap_security in the configuration file)"
            ),
        };
        if self.username.is_empty() || self.password.is_empty() {
            bail!(
                "the inbound mailbox on {} needs a user name and a password (--imap-username and \
                 --imap-password, VITRINE_IMAP_USERNAME and VITRINE_IMAP_PASSWORD, or imap_username \
                 and imap_password in the configuration file)",
                self.host
            );
        }
        let mut settings = vitrine_mailbox::ImapSettings::new(
            self.host.clone(),
            self.username.clone(),
            self.password.clone(),
        );
        settings.security = security;
        settings.port = self.port.unwrap_or(security.default_port());
        settings.mailbox = self.mailbox.clone();
        let problems = settings.problems();
        if !problems.is_empty() {
            bail!(
                "the inbound mailbox settings cannot work: {}",
                problems.join("; ")
            );
        }
        Ok(settings)
    }
}

/// The prerequisite checks' settings from the command line or the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChecksOverrides {
    pub secret_key_file: Option<PathBuf>,
    pub authorization_endpoint: Option<String>,
    pub allow_private_broker_addresses: Option<bool>,
}

/// Mail settings from the command line or the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailOverrides {
    pub from: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<TlsMode>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub reply_address: Option<String>,
    pub trusted_authserv_id: Option<String>,
}

/// The From address when none is configured.
pub const DEFAULT_MAIL_FROM: &str = "vitrine <vitrine@localhost>";
/// Where emails go, inside the data directory, when no SMTP server is configured.
pub const MAIL_DIR: &str = "mail";
/// The key that seals broker passwords, inside the data directory unless configured.
pub const SECRET_KEY_FILE: &str = "secret.key";
/// Where recordings and partial uploads go, inside the data directory.
pub const BLOB_DIR: &str = "blobs";

/// Where outgoing email goes. The SMTP password is inside [`SmtpConfig`], whose `Debug`
/// hides it, so the resolved configuration can be logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailConfig {
    pub from: String,
    /// `None`: `.eml` files in `<data_dir>/mail/`.
    pub smtp: Option<SmtpConfig>,
    /// Where replies come back (`reply+{key}@…`); `None`: no reply addresses. Checked by
    /// [`Config::load`].
    pub reply_address: Option<String>,
    /// The `authserv-id` of the operator's receiving server, whose
    /// `Authentication-Results` a reply must pass (DKIM, SPF or DMARC for its From domain,
    /// and no DMARC failure); `None`: those headers are not trusted.
    pub trusted_authserv_id: Option<String>,
}

/// The resolved configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The database URL; `None` means the default SQLite file in `data_dir`
    /// (see [`Config::database_url`]).
    pub explicit_database_url: Option<String>,
    pub secure_cookies: bool,
    pub max_body_bytes: usize,
    pub cache_ttl_ms: u64,
    pub max_recording_bytes: u64,
    /// Rehearsal: the server reads the time from a test clock admins move forward.
    pub test_clock: bool,
    /// Seconds between the review scheduler's runs; 0: it does not run on its own.
    pub scheduler_interval_secs: u64,
    /// Days a released rejection may be appealed.
    pub appeal_days: u32,
    /// The revision fields that need review, as configured (checked by `load`).
    pub revision_review_fields: String,
    /// The server's public address, for the links in emails.
    pub public_url: String,
    /// The key sealing broker passwords; `None`: `<data_dir>/secret.key`.
    pub secret_key_file: Option<PathBuf>,
    /// The marketplace's authorization endpoint, for the sign-in check (step 4).
    pub authorization_endpoint: Option<String>,
    /// Let broker checks reach loopback, private and link-local addresses (tests, a broker
    /// on the operator's own network).
    pub allow_private_broker_addresses: bool,
    /// The reverse proxies (addresses or ranges, as written) whose `X-Forwarded-For` names
    /// the client; checked by [`Config::load`].
    pub trusted_proxies: Vec<String>,
    pub mail: MailConfig,
    /// The inbound mailbox `serve` polls for replies, if any.
    pub imap: Option<ImapConfig>,
    pub log: String,
    pub log_format: LogFormat,
    /// On SIGTERM, how long requests under way may take before the server stops anyway.
    pub shutdown_timeout_secs: u64,
    /// The bucket recordings go to; `None`: `<data_dir>/blobs`.
    pub s3: Option<S3Config>,
}

impl Config {
    /// Resolves the configuration: reads the file `overrides.config` names, if any, and
    /// merges.
    pub fn load(overrides: Overrides) -> anyhow::Result<Config> {
        let file = match &overrides.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        check_smtp_credentials(&overrides.mail, &file)?;
        let config = Self::merge(overrides, file);
        config.check_mail()?;
        if let Some(s3) = &config.s3 {
            s3.check()?;
        }
        if let Some(endpoint) = &config.authorization_endpoint {
            url::Url::parse(endpoint).with_context(|| {
                format!(
                    "the authorization endpoint {endpoint:?} is not a URL (--authorization-endpoint, \
                     VITRINE_AUTHORIZATION_ENDPOINT or authorization_endpoint in the \
                     configuration file)"
                )
            })?;
        }
        vitrine_domain::revision::ReviewRule::parse(&config.revision_review_fields).map_err(
            |error| {
                anyhow::anyhow!(
                    "{error} (--revision-review-fields, VITRINE_REVISION_REVIEW_FIELDS or \
                     revision_review_fields in the configuration file)"
                )
            },
        )?;
        for proxy in &config.trusted_proxies {
            parse_proxy(proxy).map_err(|error| {
                anyhow::anyhow!(
                    "{error} (--trusted-proxies, VITRINE_TRUSTED_PROXIES or trusted_proxies in \
                     the configuration file)"
                )
            })?;
        }
        Ok(config)
    }

    /// Command line/environment over file over defaults.
    pub fn merge(overrides: Overrides, file: FileConfig) -> Config {
        let defaults = vitrine_server::ServerConfig::default();
        let mail = MailConfig::merge(overrides.mail.clone(), &file);
        let imap = ImapConfig::merge(overrides.imap.clone(), &file);
        let s3 = S3Config::merge(overrides.s3.clone(), &file);
        let listen = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(default_listen);
        Config {
            listen,
            data_dir: overrides
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            explicit_database_url: overrides
                .database_url
                .or(file.database_url)
                .filter(|url| !url.trim().is_empty()),
            secure_cookies: overrides
                .secure_cookies
                .or(file.secure_cookies)
                .unwrap_or(defaults.secure_cookies),
            max_body_bytes: overrides
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            cache_ttl_ms: overrides
                .cache_ttl_ms
                .or(file.cache_ttl_ms)
                .unwrap_or(u64::try_from(defaults.cache_ttl.as_millis()).unwrap_or(500)),
            max_recording_bytes: overrides
                .max_recording_bytes
                .or(file.max_recording_bytes)
                .unwrap_or(defaults.max_recording_bytes),
            test_clock: overrides
                .test_clock
                .or(file.test_clock)
                .unwrap_or(defaults.test_clock),
            scheduler_interval_secs: overrides
                .scheduler_interval_secs
                .or(file.scheduler_interval_secs)
                .unwrap_or_else(|| defaults.scheduler_interval.map_or(0, |d| d.as_secs())),
            appeal_days: overrides
                .appeal_days
                .or(file.appeal_days)
                .unwrap_or(defaults.appeal_days),
            revision_review_fields: overrides
                .revision_review_fields
                .or(file.revision_review_fields)
                .unwrap_or_else(|| {
                    let fields: Vec<&str> = defaults
                        .revision_review
                        .fields
                        .iter()
                        .map(|f| f.as_str())
                        .collect();
                    fields.join(",")
                }),
            public_url: overrides
                .public_url
                .or(file.public_url)
                .filter(|url| !url.trim().is_empty())
                .unwrap_or_else(|| default_public_url(listen)),
            secret_key_file: overrides.checks.secret_key_file.or(file.secret_key_file),
            authorization_endpoint: overrides
                .checks
                .authorization_endpoint
                .or(file.authorization_endpoint)
                .filter(|url| !url.trim().is_empty()),
            allow_private_broker_addresses: overrides
                .checks
                .allow_private_broker_addresses
                .or(file.allow_private_broker_addresses)
                .unwrap_or(false),
            trusted_proxies: overrides
                .trusted_proxies
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .into_iter()
                .map(|proxy| proxy.trim().to_owned())
                .filter(|proxy| !proxy.is_empty())
                .collect(),
            mail,
            imap,
            log: overrides
                .log
                .or(file.log)
                .filter(|log| !log.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_LOG.to_owned()),
            log_format: overrides.log_format.or(file.log_format).unwrap_or_default(),
            shutdown_timeout_secs: overrides
                .shutdown_timeout_secs
                .or(file.shutdown_timeout_secs)
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            s3,
        }
    }

    /// Whether the database is the default SQLite file inside the data directory.
    pub fn uses_default_database(&self) -> bool {
        self.explicit_database_url.is_none()
    }

    /// The database URL: the configured one, or `sqlite://<data_dir>/vitrine.db` with the
    /// data directory made absolute.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.explicit_database_url {
            Some(url) => {
                let url = url.trim();
                if !SUPPORTED_SCHEMES
                    .iter()
                    .any(|scheme| url.starts_with(scheme))
                {
                    bail!(
                        "unsupported database URL {}: vitrine stores its data in PostgreSQL \
                         (postgres://user@host:5432/database) or SQLite (sqlite://path/to/file.db). \
                         Fix --database-url, VITRINE_DATABASE_URL or database_url in the \
                         configuration file.",
                        redact_url(url)
                    );
                }
                Ok(url.to_owned())
            }
            None => sqlite_url(&self.data_dir.join(SQLITE_FILE)),
        }
    }

    /// The HTTP layer's settings; those not configured here keep the server's defaults.
    #[allow(clippy::needless_update)]
    pub fn server_config(&self) -> vitrine_server::ServerConfig {
        vitrine_server::ServerConfig {
            secure_cookies: self.secure_cookies,
            max_body_bytes: self.max_body_bytes,
            cache_ttl: std::time::Duration::from_millis(self.cache_ttl_ms),
            blob_dir: self.data_dir.join(BLOB_DIR),
            max_recording_bytes: self.max_recording_bytes,
            mail_from: self.mail.from.clone(),
            reply_to: self.reply_pattern().ok().flatten(),
            test_clock: self.test_clock,
            public_url: self.public_url.clone(),
            scheduler_interval: (self.scheduler_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(self.scheduler_interval_secs)),
            secret_key_file: Some(
                self.secret_key_file
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join(SECRET_KEY_FILE)),
            ),
            checks: self.check_settings(),
            appeal_days: self.appeal_days,
            // Checked by `load`.
            revision_review: vitrine_domain::revision::ReviewRule::parse(
                &self.revision_review_fields,
            )
            .unwrap_or_default(),
            // Checked by `load`; an entry that does not parse is left out.
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .filter_map(|proxy| parse_proxy(proxy).ok())
                .collect(),
            ..vitrine_server::ServerConfig::default()
        }
    }

    /// How the prerequisite checks run. The authorization endpoint was checked by
    /// [`Config::load`]; one that does not parse leaves step 4 attested.
    pub fn check_settings(&self) -> vitrine_checks::CheckSettings {
        let mut settings = vitrine_checks::CheckSettings::default();
        settings.policy.allow_private_addresses = self.allow_private_broker_addresses;
        settings.authorization_endpoint = self
            .authorization_endpoint
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok());
        settings
    }

    /// Where `.eml` files go when no SMTP server is configured.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join(MAIL_DIR)
    }

    /// The reply address pattern, if one is configured.
    pub fn reply_pattern(&self) -> anyhow::Result<Option<vitrine_server::ReplyPattern>> {
        self.mail
            .reply_address
            .as_deref()
            .map(|pattern| {
                vitrine_server::ReplyPattern::parse(pattern).map_err(|error| {
                    anyhow::anyhow!(
                        "the reply address {pattern:?} cannot take reply keys: {error}; give an \
                         address with {{key}} in its local part, such as \
                         reply+{{key}}@mail.example.com (--reply-address, \
                         VITRINE_REPLY_ADDRESS or reply_address in the configuration file)"
                    )
                })
            })
            .transpose()
    }

    /// Refuses mail settings that cannot work, naming the setting.
    fn check_mail(&self) -> anyhow::Result<()> {
        let pattern = self.reply_pattern()?;
        if let Some(imap) = &self.imap {
            imap.settings()?;
            if pattern.is_none() {
                bail!(
                    "an inbound mailbox ({}) is configured but no reply address: give \
                     --reply-address (VITRINE_REPLY_ADDRESS, reply_address in the configuration \
                     file), the address whose mail arrives in that mailbox",
                    imap.host
                );
            }
        }
        if self.mail.from.parse::<vitrine_mail::Mailbox>().is_err() {
            bail!(
                "the mail From address {:?} is not an email address (such as `vitrine \
                 <noreply@example.com>`); fix --mail-from, VITRINE_MAIL_FROM or mail_from in \
                 the configuration file",
                self.mail.from
            );
        }
        Ok(())
    }
}

impl MailConfig {
    /// Command line/environment over file over defaults, key by key. A user name without a
    /// password (or the reverse) gives no credentials: [`Config::load`] refuses it first.
    fn merge(overrides: MailOverrides, file: &FileConfig) -> MailConfig {
        let from = overrides
            .from
            .or_else(|| file.mail_from.clone())
            .filter(|from| !from.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned());
        let host = overrides
            .smtp_host
            .or_else(|| file.smtp_host.clone())
            .filter(|host| !host.trim().is_empty());
        let smtp = host.map(|host| {
            let tls = overrides.smtp_tls.or(file.smtp_tls).unwrap_or_default();
            let mut smtp = SmtpConfig::new(host, tls);
            if let Some(port) = overrides.smtp_port.or(file.smtp_port) {
                smtp.port = port;
            }
            let username = overrides
                .smtp_username
                .or_else(|| file.smtp_username.clone());
            let password = overrides
                .smtp_password
                .or_else(|| file.smtp_password.clone());
            if let (Some(username), Some(password)) = (username, password) {
                smtp.credentials = Some(SmtpCredentials { username, password });
            }
            smtp.hello_name = from
                .parse::<vitrine_mail::Mailbox>()
                .ok()
                .map(|mailbox| mailbox.email.domain().to_owned());
            smtp
        });
        let reply_address = overrides
            .reply_address
            .or_else(|| file.reply_address.clone())
            .map(|pattern| pattern.trim().to_owned())
            .filter(|pattern| !pattern.is_empty());
        let trusted_authserv_id = overrides
            .trusted_authserv_id
            .or_else(|| file.trusted_authserv_id.clone())
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty());
        MailConfig {
            from,
            smtp,
            reply_address,
            trusted_authserv_id,
        }
    }
}

/// A user name needs a password and the reverse; checked before merging loses which is which.
fn check_smtp_credentials(overrides: &MailOverrides, file: &FileConfig) -> anyhow::Result<()> {
    let username = overrides.smtp_username.is_some() || file.smtp_username.is_some();
    let password = overrides.smtp_password.is_some() || file.smtp_password.is_some();
    if username != password {
        bail!(
            "SMTP authentication needs both a user name and a password: give --smtp-username \
             and --smtp-password (VITRINE_SMTP_USERNAME and VITRINE_SMTP_PASSWORD, or \
             smtp_username and smtp_password in the configuration file)"
        );
    }
    Ok(())
}

/// Where `serve` listens when nothing says otherwise.
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// How long requests under way may take to finish on SIGTERM.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people reading a terminal.
    #[default]
    Text,
    /// One JSON object a line, for a log collector.
    Json,
}

/// A trusted proxy: an address (`10.0.0.2`, `::1`) or a range (`10.0.0.0/8`).
pub fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("{text:?} is not an IP address or range (such as 10.0.0.2 or 10.0.0.0/8)")
        })
}

/// The address in emails' links when none is configured: where `serve` listens, with an
/// address meaning "every interface" (`0.0.0.0`, `::`) read as this machine.
pub fn default_public_url(listen: SocketAddr) -> String {
    let host = match listen.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("http://{host}:{}", listen.port())
}

impl Config {
    /// Once `serve` knows the port it listens on (`--listen` with port 0 lets the system
    /// choose), the default public address names that port.
    pub fn listening_on(&self, address: SocketAddr) -> Config {
        let mut config = self.clone();
        if self.public_url == default_public_url(self.listen) {
            config.public_url = default_public_url(address);
        }
        config.listen = address;
        config
    }
}

/// A `sqlite://` URL for a file, with the path made absolute and the characters SQLite URLs
/// treat specially (`%`, `?`, `#`) percent-encoded. `mode=rwc` creates the file if missing.
pub fn sqlite_url(path: &Path) -> anyhow::Result<String> {
    let absolute = std::path::absolute(path)
        .with_context(|| format!("cannot make the path {} absolute", path.display()))?;
    let Some(text) = absolute.to_str() else {
        bail!(
            "the data directory path {} is not valid UTF-8; choose another with --data-dir",
            path.display()
        );
    };
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            c => encoded.push(c),
        }
    }
    Ok(format!("sqlite://{encoded}?mode=rwc"))
}

/// A database URL fit for messages and logs: any password is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileConfig {
        FileConfig::parse(text, Path::new("vitrine.toml")).unwrap()
    }

    #[test]
    fn defaults_when_nothing_is_configured() {
        let config = Config::merge(Overrides::default(), FileConfig::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./vitrine-data"));
        assert!(config.uses_default_database());
        assert!(!config.secure_cookies);
        assert_eq!(
            config.max_body_bytes,
            vitrine_server::ServerConfig::default().max_body_bytes
        );
        assert_eq!(config.log, DEFAULT_LOG);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.shutdown_timeout_secs, DEFAULT_SHUTDOWN_TIMEOUT_SECS);
        assert_eq!(
            config.max_recording_bytes,
            vitrine_server::ServerConfig::default().max_recording_bytes
        );
        assert_eq!(config.mail.from, DEFAULT_MAIL_FROM);
        assert_eq!(config.mail.smtp, None);
        assert_eq!(config.mail_dir(), PathBuf::from("./vitrine-data/mail"));
        assert_eq!(
            config.server_config().blob_dir,
            PathBuf::from("./vitrine-data/blobs")
        );
    }

    #[test]
    fn the_default_public_url_follows_the_listen_address() {
        let listening = |listen: &str| {
            let overrides = Overrides {
                listen: Some(listen.parse().unwrap()),
                ..Overrides::default()
            };
            Config::merge(overrides, FileConfig::default()).public_url
        };
        assert_eq!(
            Config::merge(Overrides::default(), FileConfig::default()).public_url,
            "http://127.0.0.1:8080"
        );
        assert_eq!(listening("127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(listening("0.0.0.0:8081"), "http://localhost:8081");
        assert_eq!(listening("[::]:8082"), "http://localhost:8082");
        assert_eq!(listening("[::1]:8083"), "http://[::1]:8083");
        // Port 0: the port the system chose, once known.
        let any_port = Config::merge(
            Overrides {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                ..Overrides::default()
            },
            FileConfig::default(),
        );
        let bound = any_port.listening_on("127.0.0.1:41234".parse().unwrap());
        assert_eq!(bound.public_url, "http://127.0.0.1:41234");
        // A configured address is kept as it is.
        let configured = Config::merge(
            Overrides {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                public_url: Some("https://market.example".to_owned()),
                ..Overrides::default()
            },
            FileConfig::default(),
        );
        assert_eq!(
            configured
                .listening_on("127.0.0.1:41234".parse().unwrap())
                .public_url,
            "https://market.example"
        );
    }

    #[test]
    fn smtp_defaults_follow_the_tls_mode() {
        let config = Config::merge(
            Overrides::default(),
            file("smtp_host = \"relay\"\nsmtp_tls = \"none\"\nmail_from = \"a@ops.example\""),
        );
        let smtp = config.mail.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls), (25, TlsMode::None));
        assert_eq!(smtp.credentials, None);
        assert_eq!(smtp.hello_name.as_deref(), Some("ops.example"));
    }

    #[test]
    fn half_smtp_credentials_and_bad_from_addresses_are_refused() {
        let error = Config::load(Overrides {
            mail: MailOverrides {
                smtp_host: Some("relay".into()),
                smtp_username: Some("u".into()),
                ..MailOverrides::default()
            },
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("--smtp-password"), "{error}");
        let error = Config::load(Overrides {
            mail: MailOverrides {
                from: Some("not an address".into()),
                ..MailOverrides::default()
            },
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains("--mail-from"), "{error}");
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        let config = Config::merge(
            Overrides {
                data_dir: Some(PathBuf::from("/srv/vitrine")),
                ..Overrides::default()
            },
            FileConfig::default(),
        );
        assert_eq!(
            config.database_url().unwrap(),
            "sqlite:///srv/vitrine/vitrine.db?mode=rwc"
        );
    }

    #[test]
    fn relative_data_dir_gives_an_absolute_sqlite_path() {
        let url = sqlite_url(Path::new("data/vitrine.db")).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert!(url.starts_with("sqlite:///"), "{url}");
        assert!(url.contains(cwd.to_str().unwrap()), "{url}");
        assert!(url.ends_with("/data/vitrine.db?mode=rwc"), "{url}");
    }

    #[test]
    fn special_characters_in_the_sqlite_path_are_encoded() {
        let url = sqlite_url(Path::new("/tmp/a?b#c%d/vitrine.db")).unwrap();
        assert_eq!(url, "sqlite:///tmp/a%3Fb%23c%25d/vitrine.db?mode=rwc");
    }

    #[test]
    fn file_values_apply_when_command_line_and_environment_are_silent() {
        let config = Config::merge(
            Overrides::default(),
            file(
                r#"
                listen = "0.0.0.0:9000"
                data_dir = "/var/lib/vitrine"
                database_url = "postgres://vitrine@db/vitrine"
                secure_cookies = true
                max_body_bytes = 4096
                cache_ttl_ms = 250
                log = "debug"
                "#,
            ),
        );
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/vitrine"));
        assert_eq!(
            config.database_url().unwrap(),
            "postgres://vitrine@db/vitrine"
        );
        assert!(config.secure_cookies);
        assert_eq!(config.max_body_bytes, 4096);
        assert_eq!(config.cache_ttl_ms, 250);
        assert_eq!(config.log, "debug");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        assert_eq!(parse_proxy("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_proxy(" 10.0.0.2 ").unwrap().to_string(),
            "10.0.0.2/32"
        );
        assert_eq!(parse_proxy("::1").unwrap().to_string(), "::1/128");
        let refused = parse_proxy("proxy.example").unwrap_err();
        assert!(refused.contains("not an IP address or range"), "{refused}");
        let file = file("trusted_proxies = [\"192.168.0.0/16\"]");
        let config = Config::merge(Overrides::default(), file);
        assert_eq!(
            config.server_config().trusted_proxies,
            vec![parse_proxy("192.168.0.0/16").unwrap()]
        );
    }

    #[test]
    fn s3_settings_merge_and_are_checked() {
        let parsed = file(
            "s3_endpoint = \"https://s3.example.com\"\ns3_bucket = \"recordings\"\n\
             s3_access_key_id = \"AK\"\ns3_secret_access_key = \"from-file\"",
        );
        let overrides = Overrides {
            s3: S3Overrides {
                secret_access_key: Some("from-env".into()),
                ..S3Overrides::default()
            },
            ..Overrides::default()
        };
        let config = Config::merge(overrides, parsed);
        let s3 = config.s3.expect("a bucket is configured");
        assert_eq!(s3.region, DEFAULT_S3_REGION);
        assert!(s3.check().is_ok());
        let settings = s3.settings().unwrap();
        assert_eq!(settings.secret_access_key, "from-env");
        assert_eq!(settings.bucket, "recordings");
        assert!(!format!("{s3:?}").contains("from-env"));
        assert_eq!(settings.part_size, vitrine_blob::DEFAULT_PART_SIZE);
        assert!(
            settings.unsigned_payload,
            "over https, bodies are not hashed"
        );

        // No endpoint: local disk.
        assert_eq!(
            Config::merge(Overrides::default(), FileConfig::default()).s3,
            None
        );

        let refused = |toml: &str| {
            Config::merge(Overrides::default(), file(toml))
                .s3
                .expect("configured")
                .check()
                .unwrap_err()
                .to_string()
        };
        let http = refused(
            "s3_endpoint = \"http://10.0.0.5:9000\"\ns3_bucket = \"b\"\n\
             s3_access_key_id = \"AK\"\ns3_secret_access_key = \"S\"",
        );
        assert!(http.contains("--s3-allow-http"), "{http}");
        let over_http = Config::merge(
            Overrides::default(),
            file(
                "s3_endpoint = \"http://10.0.0.5:9000\"\ns3_bucket = \"b\"\ns3_allow_http = true\n\
                 s3_access_key_id = \"AK\"\ns3_secret_access_key = \"S\"\ns3_part_size_mib = 16",
            ),
        )
        .s3
        .expect("configured");
        let settings = over_http.settings().unwrap();
        assert!(
            !settings.unsigned_payload,
            "over http, the signature covers the body"
        );
        assert_eq!(settings.part_size, 16 << 20);
        let tiny = refused(
            "s3_endpoint = \"https://s3.example.com\"\ns3_bucket = \"b\"\n\
             s3_access_key_id = \"AK\"\ns3_secret_access_key = \"S\"\ns3_part_size_mib = 4",
        );
        assert!(tiny.contains("--s3-part-size-mib"), "{tiny}");
        let no_bucket = refused("s3_endpoint = \"https://s3.example.com\"");
        assert!(no_bucket.contains("--s3-bucket"), "{no_bucket}");
        let no_secret = refused(
            "s3_endpoint = \"https://s3.example.com\"\ns3_bucket = \"b\"\n\
             s3_access_key_id = \"AK\"",
        );
        assert!(no_secret.contains("--s3-secret-access-key"), "{no_secret}");
    }

    #[test]
    fn command_line_and_environment_override_the_file() {
        let config = Config::merge(
            Overrides {
                config: None,
                listen: Some("127.0.0.1:7000".parse().unwrap()),
                data_dir: Some(PathBuf::from("/cli")),
                database_url: Some("sqlite:///cli/x.db".into()),
                // An explicit false beats the file's true.
                secure_cookies: Some(false),
                max_body_bytes: Some(10),
                cache_ttl_ms: Some(0),
                max_recording_bytes: Some(5000),
                test_clock: Some(true),
                scheduler_interval_secs: Some(5),
                appeal_days: Some(21),
                revision_review_fields: None,
                public_url: None,
                trusted_proxies: Some(vec!["10.0.0.0/8".into(), " ::1 ".into()]),
                checks: ChecksOverrides::default(),
                mail: MailOverrides {
                    smtp_host: Some("smtp.cli.example".into()),
                    smtp_password: Some("from-env".into()),
                    ..MailOverrides::default()
                },
                imap: ImapOverrides::default(),
                s3: S3Overrides::default(),
                log: Some("warn".into()),
                log_format: Some(LogFormat::Json),
                shutdown_timeout_secs: None,
            },
            file(
                r#"
                listen = "0.0.0.0:9000"
                data_dir = "/file"
                database_url = "postgres://file/db"
                secure_cookies = true
                max_body_bytes = 4096
                max_recording_bytes = 9000
                scheduler_interval_secs = 60
                appeal_days = 7
                revision_review_fields = "plans, broker, display_name"
                public_url = "https://market.example"
                smtp_host = "smtp.file.example"
                smtp_port = 2525
                smtp_tls = "tls"
                smtp_username = "mailer"
                smtp_password = "from-file"
                log = "debug"
                log_format = "text"
                shutdown_timeout_secs = 5
                "#,
            ),
        );
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.shutdown_timeout_secs, 5,
            "the file's, nothing overrides it"
        );
        assert_eq!(config.max_recording_bytes, 5000);
        assert!(config.test_clock);
        assert_eq!(config.scheduler_interval_secs, 5);
        assert_eq!(config.server_config().appeal_days, 21, "the command line's");
        let review = config.server_config().revision_review;
        assert_eq!(
            review,
            vitrine_domain::revision::ReviewRule::parse("plans,broker,display_name").unwrap(),
            "the file's"
        );
        assert_eq!(config.server_config().public_url, "https://market.example");
        assert_eq!(
            config.server_config().scheduler_interval,
            Some(std::time::Duration::from_secs(5))
        );
        let smtp = config.mail.smtp.clone().unwrap();
        assert_eq!(smtp.host, "smtp.cli.example");
        assert_eq!(smtp.port, 2525);
        assert_eq!(smtp.tls, TlsMode::Tls);
        let credentials = smtp.credentials.unwrap();
        assert_eq!(credentials.username, "mailer");
        assert_eq!(credentials.password, "from-env");
        assert!(!format!("{config:?}").contains("from-env"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.data_dir, PathBuf::from("/cli"));
        assert_eq!(config.database_url().unwrap(), "sqlite:///cli/x.db");
        assert!(!config.secure_cookies);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.cache_ttl_ms, 0);
        assert_eq!(config.log, "warn");
    }

    #[test]
    fn the_trusted_authserv_id_comes_from_the_command_line_or_the_file() {
        let from_file = Config::merge(
            Overrides::default(),
            file(r#"trusted_authserv_id = " mx.example.com ""#),
        );
        assert_eq!(
            from_file.mail.trusted_authserv_id.as_deref(),
            Some("mx.example.com")
        );
        let overridden = Config::merge(
            Overrides {
                mail: MailOverrides {
                    trusted_authserv_id: Some("mx2.example.com".into()),
                    ..MailOverrides::default()
                },
                ..Overrides::default()
            },
            file(r#"trusted_authserv_id = "mx.example.com""#),
        );
        assert_eq!(
            overridden.mail.trusted_authserv_id.as_deref(),
            Some("mx2.example.com")
        );
        let blank = Config::merge(Overrides::default(), file(r#"trusted_authserv_id = "  ""#));
        assert_eq!(blank.mail.trusted_authserv_id, None, "blank is none");
        assert_eq!(
            Config::merge(Overrides::default(), FileConfig::default())
                .mail
                .trusted_authserv_id,
            None
        );
    }

    #[test]
    fn keys_are_merged_one_by_one() {
        let config = Config::merge(
            Overrides {
                listen: Some("127.0.0.1:7000".parse().unwrap()),
                ..Overrides::default()
            },
            file(r#"data_dir = "/file""#),
        );
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.data_dir, PathBuf::from("/file"));
        assert_eq!(config.log, DEFAULT_LOG);
    }

    #[test]
    fn empty_database_url_means_the_default() {
        let config = Config::merge(
            Overrides {
                database_url: Some(String::new()),
                ..Overrides::default()
            },
            FileConfig::default(),
        );
        assert!(config.uses_default_database());
    }

    #[test]
    fn unsupported_database_urls_are_refused() {
        for url in ["mysql://db/vitrine", "vitrine.db", "http://x"] {
            let config = Config::merge(
                Overrides {
                    database_url: Some(url.into()),
                    ..Overrides::default()
                },
                FileConfig::default(),
            );
            let error = config.database_url().unwrap_err().to_string();
            assert!(error.contains("unsupported database URL"), "{error}");
        }
        for url in [
            "postgres://h/db",
            "postgresql://h/db",
            "sqlite:///tmp/x.db",
            "sqlite::memory:",
        ] {
            let config = Config::merge(
                Overrides {
                    database_url: Some(url.into()),
                    ..Overrides::default()
                },
                FileConfig::default(),
            );
            assert_eq!(config.database_url().unwrap(), url);
        }
    }

    #[test]
    fn load_reads_the_file_named_by_config() {
        let dir = std::env::temp_dir().join(format!("vitrine-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vitrine.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1234\"\n").unwrap();
        let config = Config::load(Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:1234");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let error = Config::load(Overrides {
            config: Some(PathBuf::from("/nonexistent/vitrine.toml")),
            ..Overrides::default()
        })
        .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("/nonexistent/vitrine.toml"), "{message}");
        assert!(message.contains("cannot read"), "{message}");
    }

    #[test]
    fn syntax_error_names_the_file_and_line() {
        let error = FileConfig::parse(
            "listen = \"127.0.0.1:8080\"\ndata_dir = /oops\n",
            Path::new("/etc/vitrine.toml"),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/etc/vitrine.toml"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key_and_line() {
        let error = FileConfig::parse(
            "listen = \"127.0.0.1:8080\"\n\ndatabase = \"x\"\n",
            Path::new("vitrine.toml"),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("vitrine.toml, line 3"), "{message}");
        assert!(message.contains("database"), "{message}");
    }

    #[test]
    fn wrong_type_is_an_error_naming_the_line() {
        let error =
            FileConfig::parse("secure_cookies = \"yes\"\n", Path::new("vitrine.toml")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn bad_listen_address_in_file_is_an_error() {
        let error =
            FileConfig::parse("listen = \"localhost\"\n", Path::new("vitrine.toml")).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://user:secret@db:5432/vitrine?sslmode=require"),
            "postgres://user:***@db:5432/vitrine?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:1/x"),
            "postgres://postgres@127.0.0.1:1/x"
        );
        assert_eq!(
            redact_url("sqlite:///tmp/v.db?mode=rwc"),
            "sqlite:///tmp/v.db?mode=rwc"
        );
    }
}
