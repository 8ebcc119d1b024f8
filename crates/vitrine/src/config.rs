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
    pub log: Option<String>,
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
    pub log: Option<String>,
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
    pub log: String,
}

impl Config {
    /// Resolves the configuration: reads the file `overrides.config` names, if any, and
    /// merges.
    pub fn load(overrides: Overrides) -> anyhow::Result<Config> {
        let file = match &overrides.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Ok(Self::merge(overrides, file))
    }

    /// Command line/environment over file over defaults.
    pub fn merge(overrides: Overrides, file: FileConfig) -> Config {
        let defaults = vitrine_server::ServerConfig::default();
        Config {
            listen: overrides
                .listen
                .or(file.listen)
                .unwrap_or_else(default_listen),
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
            log: overrides
                .log
                .or(file.log)
                .filter(|log| !log.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_LOG.to_owned()),
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

    /// The HTTP layer's settings.
    pub fn server_config(&self) -> vitrine_server::ServerConfig {
        vitrine_server::ServerConfig {
            secure_cookies: self.secure_cookies,
            max_body_bytes: self.max_body_bytes,
            cache_ttl: std::time::Duration::from_millis(self.cache_ttl_ms),
        }
    }
}

/// Where `serve` listens when nothing says otherwise.
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
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
                log: Some("warn".into()),
            },
            file(
                r#"
                listen = "0.0.0.0:9000"
                data_dir = "/file"
                database_url = "postgres://file/db"
                secure_cookies = true
                max_body_bytes = 4096
                log = "debug"
                "#,
            ),
        );
        assert_eq!(config.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(config.data_dir, PathBuf::from("/cli"));
        assert_eq!(config.database_url().unwrap(), "sqlite:///cli/x.db");
        assert!(!config.secure_cookies);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.cache_ttl_ms, 0);
        assert_eq!(config.log, "warn");
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
