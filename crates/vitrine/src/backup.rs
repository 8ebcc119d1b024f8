//! `vitrine backup` and `vitrine restore`: the database, the recordings and the secret key,
//! copied into a directory of their own and back.
//!
//! SQLite is snapshot online (`VACUUM INTO`: consistent as of one instant while `serve` goes
//! on writing); PostgreSQL has `pg_dump`/`pg_restore` for that, and the backup says so and
//! holds the files only. The recordings are copied after the snapshot, so every recording
//! the snapshot names is there (a recording deleted in between, a draft's, is the one gap;
//! one added in between is an extra file the sweep removes later). Nothing is ever
//! overwritten: a backup goes into a new or empty directory, a restore into a data directory
//! with no database, no recordings and no key of its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::commands::{ensure_data_dir, open_store};
use crate::config::{BLOB_DIR, Config, SECRET_KEY_FILE, SQLITE_FILE};

/// What a backup holds, written last: a directory without it is not a finished backup.
const MANIFEST: &str = "vitrine-backup.json";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The vitrine version that wrote it.
    version: String,
    /// `sqlite` or `postgres`.
    backend: String,
    /// Whether `vitrine.db` is in the backup (SQLite).
    database: bool,
    recordings: u64,
    recording_bytes: u64,
    secret_key: bool,
    created_at: String,
}

/// `vitrine backup DIR`.
pub async fn backup(config: &Config, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty: a backup goes into a new or empty directory, so that nothing is \
             overwritten",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let store = open_store(config).await?;
    let database = store
        .snapshot_into(&dir.join(SQLITE_FILE))
        .await
        .context("snapshotting the database")?;
    if database {
        println!(
            "Database: SQLite snapshot in {}",
            dir.join(SQLITE_FILE).display()
        );
    } else {
        println!(
            "Database: {} is not copied here; back it up with its own tools, at the same \
             time: pg_dump --format=custom --file=vitrine.dump <database URL>",
            store.backend()
        );
    }
    let blobs = config.data_dir.join(BLOB_DIR);
    let (recordings, recording_bytes) = copy_tree(&blobs, &dir.join(BLOB_DIR))?;
    println!("Recordings: {recordings} files, {recording_bytes} bytes");
    let key = secret_key_file(config);
    let secret_key = key.exists();
    if secret_key {
        std::fs::copy(&key, dir.join(SECRET_KEY_FILE))
            .with_context(|| format!("copying the secret key {}", key.display()))?;
        restrict(&dir.join(SECRET_KEY_FILE))?;
        println!(
            "Secret key: copied (it unseals the broker passwords: keep this backup as safe as \
             the key)"
        );
    }
    let manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: store.backend().to_owned(),
        database,
        recordings,
        recording_bytes,
        secret_key,
        created_at: jiff::Timestamp::now().to_string(),
    };
    let text = serde_json::to_string_pretty(&manifest).context("writing the manifest")?;
    std::fs::write(dir.join(MANIFEST), text + "\n").context("writing the manifest")?;
    println!("Backup complete in {}", dir.display());
    Ok(())
}

/// `vitrine restore DIR`.
pub async fn restore(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(dir.join(MANIFEST)).with_context(|| {
            format!(
                "{} is not a finished vitrine backup (no {MANIFEST})",
                dir.display()
            )
        })?,
    )
    .with_context(|| format!("reading {}", dir.join(MANIFEST).display()))?;
    ensure_data_dir(config)?;
    let blobs = config.data_dir.join(BLOB_DIR);
    if blobs.exists() && std::fs::read_dir(&blobs)?.next().is_some() {
        bail!(
            "{} already holds recordings: restore into a data directory of its own (nothing is \
             overwritten)",
            blobs.display()
        );
    }
    let key = secret_key_file(config);
    if manifest.secret_key && key.exists() {
        bail!(
            "the secret key {} already exists: restore into a data directory of its own \
             (nothing is overwritten)",
            key.display()
        );
    }
    if manifest.database {
        let target = sqlite_file(config)?;
        if target.exists() {
            bail!(
                "the database {} already exists: move it away first (nothing is overwritten)",
                target.display()
            );
        }
        std::fs::copy(dir.join(SQLITE_FILE), &target)
            .with_context(|| format!("copying the database to {}", target.display()))?;
        println!("Database: {} restored", target.display());
    } else {
        println!(
            "Database: {} is not in this backup; restore it with pg_restore before serving",
            manifest.backend
        );
    }
    let (files, bytes) = copy_tree(&dir.join(BLOB_DIR), &blobs)?;
    println!("Recordings: {files} files, {bytes} bytes");
    if manifest.secret_key {
        if let Some(parent) = key.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(dir.join(SECRET_KEY_FILE), &key)
            .with_context(|| format!("copying the secret key to {}", key.display()))?;
        restrict(&key)?;
        println!("Secret key: restored");
    }
    // A backup from an older version is brought up to this one's schema now, not at the
    // first request.
    if manifest.database {
        open_store(config).await?;
    }
    println!("Restore complete: start vitrine serve");
    Ok(())
}

fn secret_key_file(config: &Config) -> PathBuf {
    config
        .secret_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(SECRET_KEY_FILE))
}

/// The SQLite file a restore writes: the configured one or the data directory's.
fn sqlite_file(config: &Config) -> anyhow::Result<PathBuf> {
    if config.uses_default_database() {
        return Ok(config.data_dir.join(SQLITE_FILE));
    }
    let url = config.database_url()?;
    let Some(rest) = url.strip_prefix("sqlite://") else {
        bail!("this backup holds a SQLite database, but vitrine is configured for {url}");
    };
    let path = rest.split('?').next().unwrap_or(rest);
    // The inverse of `config::sqlite_url`'s encoding.
    Ok(PathBuf::from(
        path.replace("%3F", "?")
            .replace("%23", "#")
            .replace("%25", "%"),
    ))
}

/// Copies the files under `from` into `to` (made if missing), one at a time; how many files
/// and bytes. A missing `from` copies nothing. Progress goes to standard error every 100
/// files, as a copy of many recordings takes a while.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    let mut files = 0u64;
    let mut bytes = 0u64;
    if !from.exists() {
        return Ok((0, 0));
    }
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let source = from.join(&relative);
        std::fs::create_dir_all(to.join(&relative))
            .with_context(|| format!("creating {}", to.join(&relative).display()))?;
        for entry in
            std::fs::read_dir(&source).with_context(|| format!("reading {}", source.display()))?
        {
            let entry = entry?;
            let name = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(name);
            } else if kind.is_file() {
                let copied = std::fs::copy(entry.path(), to.join(&name))
                    .map_err(|error| anyhow!("copying {}: {error}", entry.path().display()))?;
                files += 1;
                bytes += copied;
                if files.is_multiple_of(100) {
                    eprintln!("… {files} files, {bytes} bytes copied");
                }
            }
        }
    }
    Ok((files, bytes))
}

/// Only the owner reads a file holding the secret key.
fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}
