//! The PostgreSQL backend: each write is its own transaction.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use super::{Op, Result, StoreError, StoreOptions};

/// How often a write is retried after a deadlock or serialization failure.
const MAX_RETRIES: usize = 5;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub(super) async fn open(opts: &StoreOptions) -> Result<Self> {
        let connect: PgConnectOptions = opts
            .url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Url(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(connect.application_name("salur"))
            .await?;
        Ok(Self { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn write<O: Op>(&self, mut op: O) -> Result<O::Output> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin().await?;
            let result = op.run(&mut *tx).await;
            let result = match result {
                Ok(out) => tx.commit().await.map(|()| out).map_err(StoreError::from),
                Err(e) => {
                    // Dropping the transaction rolls it back; do it explicitly
                    // to return the connection clean.
                    let _ = tx.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(StoreError::Sql(sqlx::Error::Database(db)))
                    if attempt < MAX_RETRIES
                        && matches!(db.code().as_deref(), Some("40001") | Some("40P01")) =>
                {
                    tracing::debug!(attempt, code = ?db.code(), "retrying write after conflict");
                    continue;
                }
                other => return other,
            }
        }
    }

    pub(super) async fn read<O: Op>(&self, mut op: O) -> Result<O::Output> {
        let mut conn = self.pool.acquire().await?;
        op.run(&mut *conn).await
    }

    pub(super) async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
