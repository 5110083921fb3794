//! Storage: one interface, a SQLite and a PostgreSQL implementation.
//!
//! Work on the database is written as an [`Op`]: a re-runnable unit whose
//! `run` takes any connection implementing [`Tx`]. [`Store::write`] runs an op
//! in a transaction, [`Store::read`] on a plain pooled connection.
//!
//! - SQLite ([`sqlite`]): every write goes through one writer task that
//!   group-commits the ops queued while the previous commit was running.
//! - PostgreSQL ([`postgres`]): each write is its own transaction; the
//!   database's row locks and unique indexes keep concurrent writers correct.

pub mod exec;
pub mod postgres;
pub mod rows;
pub mod sqlite;
pub mod tx;

use std::future::Future;
use std::time::Duration;

pub use rows::*;
pub use tx::{OutboxStats, Tx};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// SQLite refused or failed a statement.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back or a value not written.
    #[error("cannot convert a value: {0}")]
    Decode(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite schema cannot be brought up to date.
    #[error("migration failed: {0}")]
    Schema(String),
    /// The writer task has stopped (shutdown or a fatal error).
    #[error("the database writer has stopped")]
    WriterGone,
    /// The database URL cannot be used.
    #[error("invalid database url: {0}")]
    Url(String),
    /// The operation's own logic refused to go on.
    #[error("{0}")]
    Op(String),
}

/// Result alias for storage.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A unit of database work. It may be run more than once (a group commit
/// that failed is retried op by op), so `run` must not consume state.
pub trait Op: Send + 'static {
    /// What the op returns.
    type Output: Send + 'static;
    /// Background work (processing a backlog) yields to message claims: on
    /// SQLite it runs between claim batches, at least every 100 ms.
    const BACKGROUND: bool = false;
    /// Runs the op on `c`.
    fn run<C: Tx>(&mut self, c: &mut C) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// The result of claiming one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Our id of the stored message (the first one's, for a replay).
    pub message_id: String,
    /// The message was stored before: nothing new was written.
    pub replay: bool,
    /// For a replay, the complaint the first copy joined, once processed.
    pub complaint_id: Option<String>,
    /// For a replay, the code the citizen was given.
    pub tracking_code: Option<String>,
}

/// Claims `rows` atomically: the UNIQUE (channel instance, provider id)
/// index decides, never a check before the insert. Returns one result per
/// row, in order.
///
/// # Errors
/// Database errors.
pub async fn claim_messages<C: Tx>(c: &mut C, rows: &[NewInbound]) -> Result<Vec<Claimed>> {
    let mut inserted = std::collections::HashSet::new();
    // Stay well under SQLite's bound-parameter limit (10 per row).
    for chunk in rows.chunks(1000) {
        inserted.extend(c.claim_many(chunk).await?);
    }
    let replayed: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| !inserted.contains(&r.id))
        .map(|r| (r.channel_name.as_str(), r.provider_message_id.as_str()))
        .collect();
    let mut known = std::collections::HashMap::new();
    for chunk in replayed.chunks(1000) {
        for info in c.replay_info(chunk).await? {
            known.insert(
                (info.channel_name.clone(), info.provider_message_id.clone()),
                info,
            );
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if inserted.contains(&row.id) {
            out.push(Claimed {
                message_id: row.id.clone(),
                replay: false,
                complaint_id: None,
                tracking_code: None,
            });
            continue;
        }
        let info = known
            .get(&(row.channel_name.clone(), row.provider_message_id.clone()))
            .ok_or_else(|| StoreError::Op("claimed message vanished".into()))?;
        out.push(Claimed {
            message_id: info.id.clone(),
            replay: true,
            complaint_id: info.complaint_id.clone(),
            tracking_code: info.tracking_code.clone(),
        });
    }
    Ok(out)
}

struct ClaimOne(NewInbound);

impl Op for ClaimOne {
    type Output = Claimed;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Claimed> {
        claim_messages(c, std::slice::from_ref(&self.0))
            .await?
            .pop()
            .ok_or_else(|| StoreError::Op("claim returned nothing".into()))
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://…` or `postgres://…`.
    pub url: String,
    /// Pool size for reads (SQLite) or all work (PostgreSQL).
    pub max_connections: u32,
    /// SQLite `synchronous = FULL` (durable on power loss) when `true`, `NORMAL` otherwise.
    pub sqlite_synchronous_full: bool,
    /// Most ops in one SQLite group commit.
    pub write_batch_max: usize,
}

/// The database, whichever backend.
///
/// The PostgreSQL futures (sqlx transactions) are boxed: an `async fn`
/// that matches on the backend is as large as its largest arm, and every
/// request future holding a SQLite claim would otherwise carry about
/// 15 KiB of PostgreSQL state, copied each time the future moves.
#[derive(Clone)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL.
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the database named by `opts.url`, creating a SQLite file and its
    /// folder when missing.
    ///
    /// # Errors
    /// When the URL is not usable or the database cannot be reached.
    pub async fn open(opts: &StoreOptions) -> Result<Self> {
        let url = opts.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(postgres::PgStore::open(opts).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(sqlite::SqliteStore::open(opts).await?))
        } else {
            Err(StoreError::Url(
                "expected sqlite://… or postgres://…".into(),
            ))
        }
    }

    /// Applies the backend's pending migrations.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        }
    }

    /// Runs `op` in a write transaction and returns its output after commit.
    ///
    /// # Errors
    /// When the op or the commit fails.
    pub async fn write<O: Op>(&self, op: O) -> Result<O::Output> {
        match self {
            Self::Sqlite(s) => s.write(op).await,
            Self::Postgres(s) => Box::pin(s.write(op)).await,
        }
    }

    /// Stores one inbound message durably, or recognises it as a replay.
    /// On SQLite, claims queued together are written by one multi-row
    /// insert in one group commit.
    ///
    /// # Errors
    /// When the write fails.
    pub async fn claim(&self, row: NewInbound) -> Result<Claimed> {
        match self {
            Self::Sqlite(s) => s.claim(row).await,
            Self::Postgres(s) => Box::pin(s.write(ClaimOne(row))).await,
        }
    }

    /// Runs `op` on a pooled connection, outside a transaction. Use it only
    /// for reads.
    ///
    /// # Errors
    /// When the op fails.
    pub async fn read<O: Op>(&self, op: O) -> Result<O::Output> {
        match self {
            Self::Sqlite(s) => s.read(op).await,
            Self::Postgres(s) => Box::pin(s.read(op)).await,
        }
    }

    /// Checks that the database answers, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let ping = async {
            match self {
                Self::Sqlite(s) => s.ping().await,
                Self::Postgres(s) => s.ping().await,
            }
        };
        matches!(tokio::time::timeout(timeout, ping).await, Ok(true))
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Waits for queued writes to finish and closes the connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }
}
