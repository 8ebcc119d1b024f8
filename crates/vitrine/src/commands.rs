//! What each subcommand does.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tracing_subscriber::EnvFilter;
use vitrine_mail::{FileTransport, MailTransport, SmtpTransport};
use vitrine_server::{BootstrapError, SystemClock};
use vitrine_store::Store;

use crate::config::{Config, LogFormat, redact_url};

/// How long opening the database (connecting and migrating) may take before we give up
/// with a message instead of leaving the operator in front of a silent terminal.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Logs go to standard error, filtered by `filter` (EnvFilter syntax).
pub fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).map_err(|error| {
        anyhow!(
            "invalid log filter {filter:?} ({error}). Use tracing's EnvFilter syntax, such as \
             `info`, `debug` or `info,vitrine_server=debug` (--log, VITRINE_LOG or log in the \
             configuration file)."
        )
    })?;
    let logging = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logging
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // One JSON object a line, for a log collector: no colours, the span's fields
        // flattened beside the event's.
        LogFormat::Json => logging.json().flatten_event(true).try_init(),
    }
    .map_err(|error| anyhow!("cannot set up logging: {error}"))
}

/// `vitrine serve`.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    // A wrong URL is reported before anything is created.
    config.database_url()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| {
            anyhow!(
                "cannot listen on {} ({error}). Check that no other program uses that port \
                 and that the address belongs to this machine, or choose another with --listen \
                 (VITRINE_LISTEN, listen in the configuration file).",
                config.listen
            )
        })?;
    let address = listener
        .local_addr()
        .context("cannot read the address the server listens on")?;
    let config = &config.listening_on(address);
    ensure_data_dir(config)?;
    // Held until the process ends (the kernel drops it even on SIGKILL).
    let _sqlite_lock = lock_sqlite_database(&config.database_url()?)?;
    let store: Arc<dyn Store> = Arc::from(open_store(config).await?);
    let backend = store.backend();
    let server_config = config.server_config();
    // Opened (or, for a bucket, probed) here, so that a directory that cannot be created or
    // a bucket that refuses the credentials stops the start with a clear message rather
    // than leaving uploads refused.
    let recordings = open_recording_store(config, &store).await?;
    let recordings_at = recordings.describe();
    let mut server_config = server_config;
    server_config.recording_store = Some(recordings.clone());
    let (transport, mail_destination): (Arc<dyn MailTransport>, String) = match &config.mail.smtp {
        Some(smtp) => (
            Arc::new(SmtpTransport::new(smtp).map_err(|error| {
                anyhow!(
                    "cannot set up SMTP to {} ({error}); check --smtp-host and --smtp-tls",
                    smtp.host
                )
            })?),
            format!("smtp://{}:{} ({})", smtp.host, smtp.port, smtp.tls),
        ),
        None => (
            Arc::new(FileTransport::new(config.mail_dir())),
            config.mail_dir().display().to_string(),
        ),
    };
    if let (Some(imap), Some(pattern)) = (&config.imap, config.reply_pattern()?) {
        let mut settings = imap.settings()?;
        settings.max_message_bytes = max_message_bytes(config.max_recording_bytes);
        // Large messages are spooled next to the data they become, not in a tmpfs /tmp.
        settings.spool_dir = Some(config.data_dir.clone());
        tracing::info!(mailbox = %settings.server(), user = %imap.username, "taking replies from the inbound mailbox");
        vitrine_server::spawn_imap_ingest(
            settings,
            inbound(
                config,
                store.clone(),
                Some(recordings.clone()),
                pattern,
                false,
            ),
        );
    }
    let draining = server_config.draining.clone();
    let app = vitrine_server::app_with_mail(store, Arc::new(SystemClock), server_config, transport);

    tracing::info!(
        %address,
        database = backend,
        data_dir = %config.data_dir.display(),
        recordings = %recordings_at,
        secure_cookies = config.secure_cookies,
        mail = %mail_destination,
        mail_from = %config.mail.from,
        max_recording_bytes = config.max_recording_bytes,
        scheduler_interval_secs = config.scheduler_interval_secs,
        "vitrine is ready"
    );
    if config.test_clock {
        tracing::warn!(
            "rehearsal: the server runs on a test clock that admins move forward \
             (/api/v1/test-clock); never use this in production"
        );
    }
    // On standard output, so scripts (and the CLI tests) can read the port chosen for
    // `--listen 127.0.0.1:0`.
    println!("vitrine listening on http://{address}");

    // SIGTERM or Ctrl-C: draining starts (`/readyz` 503, background work stops after what it
    // is doing), no new connection is taken, and requests under way are finished, for at
    // most the shutdown timeout.
    let timeout = std::time::Duration::from_secs(config.shutdown_timeout_secs);
    let signalled = draining.started();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        draining.start();
    });
    tokio::select! {
        served = server => served.context("the HTTP server failed")?,
        () = async move {
            signalled.await;
            tokio::time::sleep(timeout).await;
        } => {
            tracing::warn!(
                timeout_secs = config.shutdown_timeout_secs,
                "requests were still under way when the shutdown timeout ran out; stopping anyway"
            );
        }
    }
    tracing::info!("vitrine stopped");
    Ok(())
}

/// `vitrine migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    if config.uses_default_database() {
        ensure_data_dir(config)?;
    }
    let url = config.database_url()?;
    let store = open_store(config).await?;
    println!(
        "Migrated the {} database at {}: every migration of this version of vitrine is applied.",
        store.backend(),
        redact_url(&url)
    );
    Ok(())
}

/// `vitrine admin bootstrap`.
pub async fn bootstrap(config: &Config, email: &str, name: &str) -> anyhow::Result<()> {
    if config.uses_default_database() {
        ensure_data_dir(config)?;
    }
    let url = config.database_url()?;
    let store = open_store(config).await?;
    match vitrine_server::bootstrap_admin(&*store, &SystemClock, email, name).await {
        Ok(token) => {
            let link =
                vitrine_server::password_link(&*store, &SystemClock, email, &config.public_url)
                    .await
                    .map_err(|e| anyhow!("the admin was created, but {e}"))?;
            eprintln!(
                "Created the first admin, {email}.\n\
                 To use the web pages, choose their password within an hour at:\n  {link}\n\
                 (later: `vitrine admin password-link --email {email}`).\n\
                 Their API token follows on standard output; it is shown only this once. \
                 Send it as `Authorization: Bearer <token>`."
            );
            println!("{token}");
            Ok(())
        }
        Err(BootstrapError::AdminExists) => Err(anyhow!(
            "an admin already exists in the database at {}, so nothing was changed. `admin \
             bootstrap` only creates the first admin; an existing admin can create more users \
             (POST /api/v1/users) and grant staff roles.",
            redact_url(&url)
        )),
        Err(BootstrapError::Invalid(error)) => Err(anyhow!(
            "cannot create the admin: {error}. Check --email and --name."
        )),
        Err(error @ (BootstrapError::Store(_) | BootstrapError::UnknownUser(_))) => Err(anyhow!(
            "{error}. The database at {} was reachable when vitrine started; check its logs.",
            redact_url(&url)
        )),
    }
}

/// `vitrine admin password-link`: prints a one-time link to choose a password.
pub async fn password_link(config: &Config, email: &str) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let link = vitrine_server::password_link(&*store, &SystemClock, email, &config.public_url)
        .await
        .map_err(|e| anyhow!("cannot make a password link: {e}"))?;
    eprintln!("Open this link within an hour to choose the password of {email} (it works once):");
    println!("{link}");
    Ok(())
}

/// Creates the data directory if it is missing.
pub(crate) fn ensure_data_dir(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).map_err(|error| {
        anyhow!(
            "cannot create the data directory {} ({error}). Check that its parent exists and is \
             writable by this user, or choose another directory with --data-dir \
             (VITRINE_DATA_DIR, data_dir in the configuration file).",
            config.data_dir.display()
        )
    })
}

/// SQLite: takes the lock that keeps a second `vitrine serve` off the same database file,
/// `<database file>.lock` (an exclusive `flock`, released when the process ends however
/// it ends), and writes this process's id in it for the operator. Several servers share a
/// database only on PostgreSQL. Other commands (`backup`, `admin …`, `mail ingest`) take no
/// lock: SQLite lets them work beside the one server. `None` on PostgreSQL and in memory.
fn lock_sqlite_database(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(None);
    }
    let Some(database) = vitrine_store::sqlite::database_file(url) else {
        return Ok(None);
    };
    let mut lock_path = database.clone().into_os_string();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    if let Some(dir) = lock_path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            // Only for the operator's eyes: the lock itself is what counts.
            let _ = file.set_len(0);
            let _ = write!(file, "{}", std::process::id());
            Ok(Some(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file
                .rewind()
                .and_then(|()| file.read_to_string(&mut holder));
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            Err(anyhow!(
                "another vitrine serve{holder} is using the SQLite database {}: it holds the lock                  file {}. A SQLite database serves one server; stop the other one, or run                  several servers on one PostgreSQL database (--database-url postgres://…).",
                database.display(),
                lock_path.display()
            ))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(anyhow!(
            "cannot lock {} ({error}); check that the database directory is writable by this              user",
            lock_path.display()
        )),
    }
}

/// Opens the store (which applies pending migrations), with a time limit and a message
/// that says what to check.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Box<dyn Store>> {
    let url = config.database_url()?;
    let shown = redact_url(&url);
    let advice = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "Check that the PostgreSQL server is running and reachable at that host and port, that \
         the user may connect and that the database exists"
    } else {
        "Check that the file's directory exists and is writable by this user and that the file \
         is a vitrine SQLite database"
    };
    tracing::debug!(database = %shown, "opening the database");
    match tokio::time::timeout(OPEN_TIMEOUT, vitrine_store::open(&url)).await {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(error)) => Err(anyhow!(
            "cannot open the database {shown} ({error}). {advice}; the URL comes from \
             --database-url, VITRINE_DATABASE_URL or database_url in the configuration file."
        )),
        Err(_) => Err(anyhow!(
            "cannot open the database {shown}: no answer within {} seconds. {advice}; the URL \
             comes from --database-url, VITRINE_DATABASE_URL or database_url in the \
             configuration file.",
            OPEN_TIMEOUT.as_secs()
        )),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("interrupted; finishing requests in flight"),
        () = terminate => tracing::info!("terminated; finishing requests in flight"),
    }
}

/// `vitrine mail ingest`: one email from standard input; the exit code is what an MTA
/// understands (sysexits.h).
pub fn mail_ingest_exit(cli: &crate::cli::Cli) -> std::process::ExitCode {
    use std::process::ExitCode;
    const EX_NOUSER: u8 = 67;
    const EX_TEMPFAIL: u8 = 75;
    const EX_CONFIG: u8 = 78;
    let config = match Config::load(cli.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("vitrine: {error:#}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if let Err(error) = init_logging(&config.log, config.log_format) {
        eprintln!("vitrine: {error:#}");
        return ExitCode::from(EX_CONFIG);
    }
    let pattern = match config.reply_pattern() {
        Ok(Some(pattern)) => pattern,
        Ok(None) => {
            eprintln!(
                "vitrine: no reply address is configured, so no email can be a reply; give \
                 --reply-address (VITRINE_REPLY_ADDRESS, reply_address in the configuration \
                 file), the same as vitrine serve's"
            );
            return ExitCode::from(EX_CONFIG);
        }
        Err(error) => {
            eprintln!("vitrine: {error:#}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vitrine: cannot start the async runtime: {error}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    match runtime.block_on(mail_ingest(&config, pattern)) {
        Ok(outcome) => {
            eprintln!("vitrine: {}", describe_outcome(&outcome));
            match outcome {
                vitrine_ingest::Outcome::Refused(reason) if reason.unknown_address() => {
                    ExitCode::from(EX_NOUSER)
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(error) => {
            eprintln!("vitrine: {error:#}; the MTA should try again later");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

fn describe_outcome(outcome: &vitrine_ingest::Outcome) -> String {
    match outcome {
        vitrine_ingest::Outcome::Posted {
            submission,
            recordings,
            refused_attachments,
        } => format!(
            "posted in the thread of submission {submission} ({recordings} recording(s) \
             attached, {refused_attachments} attachment(s) refused)"
        ),
        vitrine_ingest::Outcome::Refused(reason) => format!("refused: {}", reason.slug()),
        vitrine_ingest::Outcome::Duplicate => "already taken (same Message-ID)".to_owned(),
    }
}

async fn mail_ingest(
    config: &Config,
    pattern: vitrine_server::ReplyPattern,
) -> anyhow::Result<vitrine_ingest::Outcome> {
    use std::io::{Read, Write};
    let max_message_bytes = max_message_bytes(config.max_recording_bytes);
    let mut raw = Vec::new();
    // Read before the database is opened: the MTA waits on the pipe, not on us. One byte
    // past the limit is enough to know the message is too large. A large message (a
    // recording) goes to an unnamed file in the data directory instead of memory.
    let mut stdin = std::io::stdin().lock();
    (&mut stdin)
        .take(SPOOL_ABOVE_BYTES + 1)
        .read_to_end(&mut raw)
        .context("cannot read the email from standard input")?;
    let spooled = if raw.len() as u64 > SPOOL_ABOVE_BYTES {
        ensure_data_dir(config)?;
        let mut file = tempfile::tempfile_in(&config.data_dir).with_context(|| {
            format!(
                "cannot spool a large email in {} (is the data directory writable?)",
                config.data_dir.display()
            )
        })?;
        file.write_all(&raw)
            .and_then(|()| {
                std::io::copy(
                    &mut stdin.take(max_message_bytes.saturating_add(1) - raw.len() as u64),
                    &mut file,
                )
            })
            .context("cannot spool the email from standard input")?;
        let len = file
            .metadata()
            .context("cannot read the spooled email's size")?
            .len();
        raw = Vec::new();
        Some((Arc::new(file), len))
    } else {
        None
    };
    let store: Arc<dyn Store> = Arc::from(open_store(config).await?);
    // Exit code 67 makes the MTA bounce what is not for one of our addresses.
    let blobs = match open_recording_store(config, &store).await {
        Ok(blobs) => Some(blobs),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "recordings cannot be stored");
            None
        }
    };
    let ingest = inbound(config, store, blobs, pattern, true);
    Ok(match spooled {
        Some((file, len)) => ingest.take_spooled(&file, len).await?,
        None => ingest.take(&raw).await?,
    })
}

/// The recording store the configuration names: the S3 bucket (probed: a wrong secret, a
/// missing bucket or an unreachable endpoint is an error here, at start-up), else
/// `<data_dir>/blobs`. A bucket's uploads stand in `store`'s database.
pub async fn open_recording_store(
    config: &Config,
    store: &Arc<dyn Store>,
) -> anyhow::Result<vitrine_blob::BlobStore> {
    match &config.s3 {
        Some(s3) => Ok(vitrine_jobs::upload_states::bind_to_database(
            &open_bucket(s3).await?.into(),
            store.clone(),
        )),
        None => open_local_recordings(config).map(Into::into),
    }
}

async fn open_bucket(s3: &crate::config::S3Config) -> anyhow::Result<vitrine_blob::S3BlobStore> {
    let settings = s3.settings()?;
    vitrine_blob::S3BlobStore::connect(&settings)
        .await
        .map_err(|error| anyhow!("cannot use the recording bucket: {error}"))
}

fn open_local_recordings(config: &Config) -> anyhow::Result<vitrine_blob::LocalBlobStore> {
    let dir = config.server_config().blob_dir;
    vitrine_blob::LocalBlobStore::open(&dir).map_err(|error| {
        anyhow!(
            "cannot open the recording store in {} ({error}). Check that the data directory is \
             writable by this user, or choose another with --data-dir.",
            dir.display()
        )
    })
}

/// `vitrine recordings migrate --to s3|local`: copies every recording between
/// `<data_dir>/blobs` and the configured bucket, one line of progress per recording.
pub async fn migrate_recordings(
    config: &Config,
    to: crate::cli::MigrateTarget,
) -> anyhow::Result<()> {
    let Some(s3) = &config.s3 else {
        anyhow::bail!(
            "recordings migrate needs the bucket: give --s3-endpoint, --s3-bucket and the \
             credentials as for serve"
        );
    };
    let bucket = vitrine_blob::BlobStore::from(open_bucket(s3).await?);
    let local = vitrine_blob::BlobStore::from(open_local_recordings(config)?);
    let (source, target) = match to {
        crate::cli::MigrateTarget::S3 => (local, bucket),
        crate::cli::MigrateTarget::Local => (bucket, local),
    };
    let store = open_store(config).await?;
    eprintln!(
        "copying recordings from {} to {}",
        source.describe(),
        target.describe()
    );
    let summary =
        vitrine_jobs::migrate::migrate_recordings(store.as_ref(), &source, &target, |progress| {
            use vitrine_jobs::migrate::MigrationStep;
            let what = match progress.step {
                MigrationStep::Copied { bytes } => {
                    format!("copied {bytes} bytes, sha256 verified")
                }
                MigrationStep::AlreadyThere { bytes } => {
                    format!("already there ({bytes} bytes, sha256 verified)")
                }
                MigrationStep::NoRow => "no recording row names it: left alone".to_owned(),
            };
            println!(
                "[{}/{}] {}: {what}",
                progress.index, progress.total, progress.key
            );
        })
        .await
        .map_err(|error| anyhow!("the migration stopped: {error}"))?;
    println!(
        "done: {} copied ({} bytes), {} already there, {} without a row",
        summary.copied, summary.bytes_copied, summary.already_there, summary.without_row
    );
    Ok(())
}

/// `mail ingest` keeps a message up to this size in memory, and spools a larger one.
const SPOOL_ABOVE_BYTES: u64 = 4 * 1024 * 1024;

/// The inbound path over `store`, as `serve`'s mailbox and `mail ingest` both take it;
/// `unknown_addresses_bounced`: the MTA bounces mail for addresses that are not ours.
fn inbound(
    config: &Config,
    store: Arc<dyn Store>,
    blobs: Option<vitrine_blob::BlobStore>,
    pattern: vitrine_server::ReplyPattern,
    unknown_addresses_bounced: bool,
) -> vitrine_ingest::Ingest {
    vitrine_ingest::Ingest {
        services: vitrine_jobs::Services {
            store,
            clock: Arc::new(SystemClock),
            mail: Arc::new(vitrine_jobs::MailSettings {
                from: config.mail.from.clone(),
                base_url: config.public_url.clone(),
                marketplace_name: "vitrine".to_owned(),
                reply_to: Some(pattern.clone()),
            }),
        },
        blobs,
        settings: Arc::new(vitrine_ingest::IngestSettings {
            pattern,
            max_message_bytes: max_message_bytes(config.max_recording_bytes),
            max_recording_bytes: config.max_recording_bytes,
            trusted_authserv_id: config.mail.trusted_authserv_id.clone(),
            unknown_addresses_bounced,
        }),
    }
}

/// The largest email taken: a recording of the largest size, base64-encoded (4/3) with its
/// line breaks, and room for the rest of the message.
pub fn max_message_bytes(max_recording_bytes: u64) -> u64 {
    max_recording_bytes
        .saturating_mul(4)
        .saturating_div(3)
        .saturating_add(max_recording_bytes / 38)
        .saturating_add(1 << 20)
}
