//! The SQLite backend: WAL mode, one writer task that group-commits.
//!
//! Every write is queued to the writer. The writer takes everything queued
//! (up to `write_batch_max`) and runs it in one `BEGIN IMMEDIATE`
//! transaction with one commit, so one fsync covers the whole batch:
//! - message claims first, all of them in one multi-row insert;
//! - then the other ops, in order.
//!
//! If anything in the batch fails, the batch is rolled back, the claims are
//! retried together and each op alone, so one bad op never fails its
//! neighbours. Reads use a separate read-only pool, which WAL lets run beside
//! the writer.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{mpsc, oneshot};

use std::collections::HashMap;

use super::{Claimed, NewInbound, Op, Result, StoreError, StoreOptions, Tx};
use salur_channels_core::BoxFuture;

/// Queue depth before callers wait: back-pressure under overload.
const QUEUE_DEPTH: usize = 16_384;
/// While claims keep arriving, background work still runs this often.
const BACKGROUND_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

trait Job: Send {
    fn background(&self) -> bool;
    fn run<'a>(&'a mut self, conn: &'a mut SqliteConnection) -> BoxFuture<'a, Result<()>>;
    fn finish(self: Box<Self>, result: Result<()>);
}

struct OpJob<O: Op> {
    op: O,
    out: Option<O::Output>,
    reply: oneshot::Sender<Result<O::Output>>,
}

impl<O: Op> Job for OpJob<O> {
    fn background(&self) -> bool {
        O::BACKGROUND
    }

    fn run<'a>(&'a mut self, conn: &'a mut SqliteConnection) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.out = Some(self.op.run(conn).await?);
            Ok(())
        })
    }

    fn finish(self: Box<Self>, result: Result<()>) {
        let this = *self;
        let sent = match (result, this.out) {
            (Ok(()), Some(out)) => Ok(out),
            (Ok(()), None) => Err(StoreError::Op("write finished without output".into())),
            (Err(e), _) => Err(e),
        };
        // The caller may have given up (request cancelled); the write stands.
        let _ = this.reply.send(sent);
    }
}

enum Msg {
    Claim(Box<NewInbound>, oneshot::Sender<Result<Claimed>>),
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// What the writer collected for one transaction.
#[derive(Default)]
struct Batch {
    claims: Vec<(Box<NewInbound>, oneshot::Sender<Result<Claimed>>)>,
    jobs: Vec<Box<dyn Job>>,
}

impl Batch {
    fn len(&self) -> usize {
        self.claims.len() + self.jobs.len()
    }

    fn push(&mut self, msg: Msg, closing: &mut Option<oneshot::Sender<()>>) {
        match msg {
            Msg::Claim(row, reply) => self.claims.push((row, reply)),
            Msg::Job(job) => self.jobs.push(job),
            Msg::Close(done) => *closing = Some(done),
        }
    }
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<Msg>,
    reads: SqlitePool,
    connect: SqliteConnectOptions,
    path: PathBuf,
}

/// Turns `sqlite://rel/path.db`, `sqlite:///abs/path.db` or `sqlite:path.db`
/// into a file path.
///
/// # Errors
/// When the URL names no file.
pub fn sqlite_path(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Url("not a sqlite url".into()))?;
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest == ":memory:" {
        return Err(StoreError::Url("sqlite url must name a file".into()));
    }
    Ok(PathBuf::from(rest))
}

impl SqliteStore {
    pub(super) async fn open(opts: &StoreOptions) -> Result<Self> {
        let path = sqlite_path(&opts.url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
        }
        let connect = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::Sql)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.sqlite_synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .statement_cache_capacity(256)
            .disable_statement_logging();
        let writer = connect.connect().await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.clamp(1, 64))
            .connect_with(connect.clone().read_only(true))
            .await?;
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run_writer(writer, rx, opts.write_batch_max.max(1)));
        Ok(Self {
            inner: Arc::new(Inner {
                queue,
                reads,
                connect,
                path,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    pub(super) async fn migrate(&self) -> Result<()> {
        let mut conn = self.inner.connect.connect().await?;
        sqlx::migrate!("./migrations/sqlite").run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    pub(super) async fn write<O: Op>(&self, op: O) -> Result<O::Output> {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(OpJob {
            op,
            out: None,
            reply,
        });
        self.inner
            .queue
            .send(Msg::Job(job))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    pub(super) async fn claim(&self, row: NewInbound) -> Result<Claimed> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .queue
            .send(Msg::Claim(Box::new(row), reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    pub(super) async fn read<O: Op>(&self, mut op: O) -> Result<O::Output> {
        let mut conn = self.inner.reads.acquire().await?;
        op.run(&mut *conn).await
    }

    pub(super) async fn ping(&self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&self.inner.reads)
            .await
            .is_ok()
            && !self.inner.queue.is_closed()
    }

    pub(super) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.queue.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.inner.reads.close().await;
    }
}

async fn run_writer(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Msg>, max: usize) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    let mut background: std::collections::VecDeque<Box<dyn Job>> =
        std::collections::VecDeque::new();
    let mut last_background = std::time::Instant::now();
    loop {
        let mut batch = Batch::default();
        if background.is_empty() {
            match rx.recv().await {
                Some(msg) => take(msg, &mut batch, &mut background, &mut closing),
                None => break,
            }
        }
        while batch.len() < max {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch, &mut background, &mut closing),
                Err(_) => break,
            }
        }
        // Claims go first; background work runs when no claim waits, or
        // at least every BACKGROUND_EVERY.
        if !background.is_empty()
            && (batch.claims.is_empty() || last_background.elapsed() >= BACKGROUND_EVERY)
            && let Some(job) = background.pop_front()
        {
            batch.jobs.push(job);
            last_background = std::time::Instant::now();
        }
        if batch.len() > 0 {
            run_batch(&mut conn, batch).await;
        }
        if closing.is_some() {
            rx.close();
            // Writes queued before the close are still served.
            let mut batch = Batch::default();
            while let Ok(msg) = rx.try_recv() {
                batch.push(msg, &mut closing);
            }
            batch.jobs.extend(background.drain(..));
            if batch.len() > 0 {
                run_batch(&mut conn, batch).await;
            }
            break;
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the sqlite writer connection failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn take(
    msg: Msg,
    batch: &mut Batch,
    background: &mut std::collections::VecDeque<Box<dyn Job>>,
    closing: &mut Option<oneshot::Sender<()>>,
) {
    match msg {
        Msg::Job(job) if job.background() => background.push_back(job),
        other => batch.push(other, closing),
    }
}

/// Claims a batch of messages without an explicit transaction: one
/// multi-row `INSERT … ON CONFLICT DO NOTHING` is atomic and durable on its
/// own, and saves the writer two round trips per batch. Replays are found
/// first; if the insert count shows that another process stored one of the
/// keys in between, the ids that landed are read back, so the answer stays
/// exact.
async fn claim_batch(conn: &mut SqliteConnection, rows: &[NewInbound]) -> Result<Vec<Claimed>> {
    let keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.channel_name.as_str(), r.provider_message_id.as_str()))
        .collect();
    let mut known: HashMap<(String, String), Claimed> = HashMap::new();
    for chunk in keys.chunks(1000) {
        for info in conn.replay_info(chunk).await? {
            known.insert(
                (info.channel_name, info.provider_message_id),
                Claimed {
                    message_id: info.id,
                    replay: true,
                    complaint_id: info.complaint_id,
                    tracking_code: info.tracking_code,
                },
            );
        }
    }
    // The first copy of a key within the batch is the one stored.
    let mut first: HashMap<(&str, &str), &str> = HashMap::new();
    let mut fresh: Vec<&NewInbound> = Vec::new();
    for (row, key) in rows.iter().zip(&keys) {
        if known.contains_key(&(key.0.to_owned(), key.1.to_owned())) || first.contains_key(key) {
            continue;
        }
        first.insert(*key, &row.id);
        fresh.push(row);
    }
    let mut inserted = 0;
    for chunk in fresh.chunks(1000) {
        inserted += conn.insert_inbound_many(chunk).await?;
    }
    let landed: Option<std::collections::HashSet<String>> = if inserted as usize == fresh.len() {
        None
    } else {
        let ids: Vec<&str> = fresh.iter().map(|r| r.id.as_str()).collect();
        let mut landed = std::collections::HashSet::new();
        for chunk in ids.chunks(1000) {
            landed.extend(conn.stored_message_ids(chunk).await?);
        }
        Some(landed)
    };
    let mut out = Vec::with_capacity(rows.len());
    for (row, key) in rows.iter().zip(&keys) {
        let owner = first.get(key).copied();
        let ours =
            owner == Some(row.id.as_str()) && landed.as_ref().is_none_or(|l| l.contains(&row.id));
        if ours {
            out.push(Claimed {
                message_id: row.id.clone(),
                replay: false,
                complaint_id: None,
                tracking_code: None,
            });
        } else if let Some(c) = known.get(&(key.0.to_owned(), key.1.to_owned())) {
            out.push(c.clone());
        } else if let Some(owner) = owner
            && landed.as_ref().is_none_or(|l| l.contains(owner))
        {
            out.push(Claimed {
                message_id: owner.to_owned(),
                replay: true,
                complaint_id: None,
                tracking_code: None,
            });
        } else {
            // Stored by another process between our look-up and insert.
            let info = conn.replay_info(&[*key]).await?.pop();
            let info = info.ok_or_else(|| StoreError::Op("claimed message vanished".into()))?;
            out.push(Claimed {
                message_id: info.id,
                replay: true,
                complaint_id: info.complaint_id,
                tracking_code: info.tracking_code,
            });
        }
    }
    Ok(out)
}

async fn run_batch(conn: &mut SqliteConnection, mut batch: Batch) {
    let (rows, replies): (Vec<NewInbound>, Vec<_>) = batch
        .claims
        .into_iter()
        .map(|(row, reply)| (*row, reply))
        .unzip();
    if !rows.is_empty() {
        match claim_batch(conn, &rows).await {
            Ok(claimed) => {
                for (reply, c) in replies.into_iter().zip(claimed) {
                    let _ = reply.send(Ok(c));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!(error = %msg, size = rows.len(), "storing messages failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Op(format!(
                        "storing the message failed: {msg}"
                    ))));
                }
            }
        }
    }
    if batch.jobs.len() > 1 {
        match run_jobs(conn, &mut batch.jobs).await {
            Ok(()) => {
                for job in batch.jobs {
                    job.finish(Ok(()));
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, size = batch.jobs.len(), "group commit failed; retrying one by one");
            }
        }
    }
    for mut job in batch.jobs {
        let result = run_alone(conn, job.as_mut()).await;
        job.finish(result);
    }
}

async fn run_jobs(conn: &mut SqliteConnection, jobs: &mut [Box<dyn Job>]) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    for job in jobs.iter_mut() {
        job.run(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn run_alone(conn: &mut SqliteConnection, job: &mut dyn Job) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    job.run(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
