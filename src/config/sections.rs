//! The scalar sections of the configuration: `[server]`, `[database]`,
//! `[api]`, `[intake]`, `[outbox]` and `[log]`. Their defaults live in
//! `config/default.toml`, which is always loaded first.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::secret::SecretRef;

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to bind, e.g. `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The absolute URL providers use to reach this server, e.g.
    /// `https://aduan.example.go.id`. Needed for Twilio signatures and for
    /// registering webhooks.
    pub public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Largest raw mail `POST /webhooks/email/{name}` takes, in bytes
    /// (attachments included).
    pub mail_body_limit: usize,
    /// Time allowed to answer one request.
    #[serde(deserialize_with = "duration::one")]
    pub request_timeout: Duration,
    /// Time allowed for in-flight work to finish on shutdown.
    #[serde(deserialize_with = "duration::one")]
    pub shutdown_grace: Duration,
    /// Threads serving HTTP and async work; `0` picks one per core, less
    /// one core left to the SQLite writer when the database is SQLite.
    pub workers: usize,
}

impl ServerConfig {
    /// The number of async worker threads to run, given whether the
    /// database is SQLite and how many cores the host has.
    pub fn worker_threads(&self, sqlite: bool, cores: usize) -> usize {
        match self.workers {
            0 if sqlite => cores.saturating_sub(1).max(1),
            0 => cores.max(1),
            n => n,
        }
    }
}

/// `[database]`: where complaints and messages are stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://relative/path.db`, `sqlite:///absolute/path.db`,
    /// `sqlite:relative.db`, or `postgres://user@host/db`.
    pub url: String,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// SQLite's `synchronous` pragma. Ignored for PostgreSQL.
    pub sqlite_synchronous: SqliteSynchronous,
    /// Most writes the SQLite writer commits in one transaction.
    pub write_batch_max: usize,
}

/// SQLite's `synchronous` setting, in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Sync the WAL on every commit: no committed write is lost on power
    /// failure.
    Full,
    /// Sync at checkpoints only: faster, and a power failure may lose the
    /// last commits (never corrupt the database).
    Normal,
}

impl SqliteSynchronous {
    /// The pragma value, `FULL` or `NORMAL`.
    pub fn as_pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

impl DatabaseConfig {
    /// Whether `url` names a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres:") || self.url.starts_with("postgresql:")
    }

    /// The database file when `url` names a SQLite database, without any
    /// `?query`. `sqlite://salur-data/salur.db` and `sqlite:salur.db` are
    /// relative to the working directory; `sqlite:///var/lib/salur.db` is
    /// absolute. `None` for PostgreSQL or an empty path.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split_once('?').map_or(rest, |(path, _)| path);
        (!path.is_empty()).then(|| PathBuf::from(path))
    }
}

/// `[api]`: the JSON API under `/api/v1`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer tokens accepted by the API. With none, the API refuses every
    /// request.
    pub tokens: Vec<SecretRef>,
}

/// `[intake]`: how messages become complaints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Chat fragments from one reporter join one complaint until this much
    /// silence passes.
    #[serde(deserialize_with = "duration::one")]
    pub quiet_period: Duration,
    /// How far back a same-reporter, same-content complaint counts as a
    /// duplicate.
    #[serde(deserialize_with = "duration::one")]
    pub duplicate_window: Duration,
    /// Region (ISO 3166 alpha-2) assumed for phone numbers written without
    /// a country code.
    pub default_region: String,
    /// How often open complaints are checked for the end of their quiet
    /// period.
    #[serde(deserialize_with = "duration::one")]
    pub seal_interval: Duration,
    /// How long the pieces of a long message (a concatenated SMS delivered
    /// part by part) wait for the missing ones before what arrived is
    /// joined and flagged.
    #[serde(deserialize_with = "duration::one")]
    pub part_timeout: Duration,
    /// The language of texts sent to citizens: `id` or `en`.
    pub reply_language: String,
    /// Most replies one number gets from one channel within `reply_window`.
    pub reply_limit: u32,
    /// See `reply_limit`.
    #[serde(deserialize_with = "duration::one")]
    pub reply_window: Duration,
    /// Where downloaded media files are kept, named by their sha256.
    pub media_dir: std::path::PathBuf,
    /// Largest media file downloaded; a larger one is recorded as missing.
    pub media_max_bytes: u64,
}

/// `[outbox]`: delivery of complaint events to the sinks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Wait before each retry of a failed delivery; after the last, the
    /// delivery is dead (a dead letter that `salur replay` re-sends).
    #[serde(deserialize_with = "duration::list")]
    pub retry_schedule: Vec<Duration>,
    /// How often the dispatcher looks for due events when idle.
    #[serde(deserialize_with = "duration::one")]
    pub poll_interval: Duration,
    /// Most events one dispatcher claims at a time.
    pub batch_size: usize,
    /// How long a claimed event stays reserved for its dispatcher.
    #[serde(deserialize_with = "duration::one")]
    pub lease: Duration,
}

/// `[log]`: diagnostics output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: a level (`info`) or directives
    /// (`salur=debug,sqlx=warn`).
    pub level: String,
    /// Line format.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
