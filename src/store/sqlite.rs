//! The SQLite backend: WAL mode, one writer thread that group-commits.
//!
//! Every write is queued to the writer, a thread that owns the only
//! read-write connection. It takes everything queued (up to
//! `write_batch_max`) and commits it together:
//! - message claims first, with one multi-row insert;
//! - then the other ops, in one transaction.
//!
//! The writer runs the statements itself, synchronously: a batch costs one
//! hand-off between threads, not one per statement. If a group fails it is
//! rolled back and each claim or op is retried alone, so one bad op never
//! fails its neighbours. Background ops (processing the backlog) wait while
//! claims stream in, but run at least every 100 ms.
//!
//! Nothing is answered before it is durable. With `synchronous = FULL` the
//! writer commits a batch, fsyncs the WAL once for all of it, and only then
//! answers it; what arrives during the sync makes up the next batch, so one
//! fsync serves every request that queued behind the previous one. WAL
//! checkpoints run on a thread of their own.
//!
//! Reads use separate read-only connections on tokio's blocking threads,
//! which WAL lets run beside the writer.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Claimed, NewInbound, Op, Result, StoreError, StoreOptions, claim_messages};
use salur_channels_core::BoxFuture;

/// Queue depth before callers wait: back-pressure under overload.
const QUEUE_DEPTH: usize = 16_384;
/// While claims keep arriving, background work still runs this often.
const BACKGROUND_EVERY: Duration = Duration::from_millis(100);
/// Claims count as a steady stream until none came for this long; until
/// then background work only runs every [`BACKGROUND_EVERY`].
const QUIET: Duration = Duration::from_millis(10);
/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the checkpoint thread copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL size (pages) at which the writer checkpoints by itself: a safety net
/// in case the checkpoint thread falls behind.
const WRITER_AUTOCHECKPOINT: u32 = 20_000;
/// The writer's page cache, in KiB (negative `cache_size` means KiB): the
/// indexes' hot pages stay in memory instead of being read back each batch.
const WRITER_CACHE_KIB: i64 = -16_384;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// The schema, in order; `PRAGMA user_version` records the last applied.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_core.sql",
        include_str!("../../migrations/sqlite/0001_core.sql"),
    ),
    (
        2,
        "0002_inbound_complaint_partial.sql",
        include_str!("../../migrations/sqlite/0002_inbound_complaint_partial.sql"),
    ),
    (
        3,
        "0003_inbound_pending_mark.sql",
        include_str!("../../migrations/sqlite/0003_inbound_pending_mark.sql"),
    ),
    (
        4,
        "0004_message_parts.sql",
        include_str!("../../migrations/sqlite/0004_message_parts.sql"),
    ),
    (
        5,
        "0005_outbound_messages.sql",
        include_str!("../../migrations/sqlite/0005_outbound_messages.sql"),
    ),
    (
        6,
        "0006_outbound_provider_id.sql",
        include_str!("../../migrations/sqlite/0006_outbound_provider_id.sql"),
    ),
    (
        7,
        "0007_attachment_downloads.sql",
        include_str!("../../migrations/sqlite/0007_attachment_downloads.sql"),
    ),
    (
        8,
        "0008_telegram.sql",
        include_str!("../../migrations/sqlite/0008_telegram.sql"),
    ),
    (
        9,
        "0009_email.sql",
        include_str!("../../migrations/sqlite/0009_email.sql"),
    ),
];

trait Job: Send {
    fn background(&self) -> bool;
    fn run<'a>(&'a mut self, conn: &'a mut Connection) -> BoxFuture<'a, Result<()>>;
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

    fn run<'a>(&'a mut self, conn: &'a mut Connection) -> BoxFuture<'a, Result<()>> {
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

type ClaimReply = oneshot::Sender<Result<Claimed>>;

enum Msg {
    Claim(Box<NewInbound>, ClaimReply),
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// What the writer collected for one round.
#[derive(Default)]
struct Batch {
    claims: Vec<(Box<NewInbound>, ClaimReply)>,
    jobs: Vec<Box<dyn Job>>,
}

impl Batch {
    fn len(&self) -> usize {
        self.claims.len() + self.jobs.len()
    }
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<Msg>,
    /// Idle read-only connections.
    idle: Mutex<Vec<Connection>>,
    /// Bounds the number of read connections.
    readers: Semaphore,
    path: PathBuf,
    /// Dropped on close, which stops the checkpoint thread.
    checkpoints: Mutex<Option<std::sync::mpsc::Sender<()>>>,
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

/// Opens a connection with the settings every Salur connection uses. All
/// commit with `synchronous = NORMAL`: where the config asks for FULL, the
/// writer syncs the WAL before it answers (see [`Durability`]), and a
/// closing connection syncs what it checkpoints.
fn connect(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if !read_only {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Url(format!(
                "{} cannot use WAL mode (got {mode})",
                path.display()
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Applies the migrations the database lacks, each in its own transaction.
/// The version is read inside the transaction, so two processes migrating
/// at once apply each step once.
fn migrate_conn(conn: &mut Connection) -> Result<()> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > latest {
            return Err(StoreError::Schema(format!(
                "the database is at schema version {current}, newer than this salur knows \
                 ({latest}); run a newer salur"
            )));
        }
        if current >= *version {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Schema(format!("{name}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied");
    }
    Ok(())
}

impl SqliteStore {
    pub(super) async fn open(opts: &StoreOptions) -> Result<Self> {
        let path = sqlite_path(&opts.url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
        }
        let (writer, checkpointer) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let writer = connect(&path, false)?;
                writer.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)?;
                writer.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
                let checkpointer = connect(&path, false)?;
                Ok::<_, StoreError>((writer, checkpointer))
            })
            .await
            .map_err(|e| StoreError::Op(format!("opening the database failed: {e}")))??
        };
        let (stop_checkpoints, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("salur-sqlite-checkpoint".into())
            .spawn(move || run_checkpoints(&checkpointer, &stopped))
            .map_err(|e| StoreError::Op(format!("cannot start the checkpoint thread: {e}")))?;
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let max = opts.write_batch_max.max(1);
        let durability = if opts.sqlite_synchronous_full {
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            Durability::SyncWal {
                wal: PathBuf::from(wal),
                file: None,
                broken: None,
            }
        } else {
            Durability::AtCommit
        };
        std::thread::Builder::new()
            .name("salur-sqlite-writer".into())
            .spawn(move || {
                // Everything committed is answered before the close is.
                if let Some(done) = run_writer(writer, rx, max, durability) {
                    let _ = done.send(());
                }
            })
            .map_err(|e| StoreError::Op(format!("cannot start the writer thread: {e}")))?;
        let readers = usize::try_from(opts.max_connections.clamp(1, 64)).unwrap_or(1);
        Ok(Self {
            inner: Arc::new(Inner {
                queue,
                idle: Mutex::new(Vec::new()),
                readers: Semaphore::new(readers),
                path,
                checkpoints: Mutex::new(Some(stop_checkpoints)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub(super) async fn migrate(&self) -> Result<()> {
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = connect(&path, false)?;
            migrate_conn(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Op(format!("the migration task failed: {e}")))?
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
        let _permit = self
            .inner
            .readers
            .acquire()
            .await
            .map_err(|_| StoreError::WriterGone)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let idle = inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let mut conn = match idle {
                Some(c) => c,
                None => connect(&inner.path, true)?,
            };
            let out = run_now(op.run(&mut conn));
            inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Op(format!("the read task failed: {e}")))?
    }

    pub(super) async fn ping(&self) -> bool {
        struct Ping;
        impl Op for Ping {
            type Output = ();
            async fn run<C: super::Tx>(&mut self, c: &mut C) -> Result<()> {
                c.count_quarantine().await.map(drop)
            }
        }
        !self.inner.queue.is_closed() && self.read(Ping).await.is_ok()
    }

    pub(super) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.queue.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.inner.readers.close();
        self.inner
            .checkpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Serves the queue until it closes; returns the close request to answer.
fn run_writer(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    max: usize,
    mut durability: Durability,
) -> Option<oneshot::Sender<()>> {
    let mut closing: Option<oneshot::Sender<()>> = None;
    let mut background: VecDeque<Box<dyn Job>> = VecDeque::new();
    let mut last_background = Instant::now();
    let mut last_claim: Option<Instant> = None;
    // A runtime of the writer's own, only for waiting on the queue with a
    // timeout: the queue's senders are async, its receiver is here.
    let timer = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "the database writer cannot start its timer");
            return None;
        }
    };
    loop {
        let mut batch = Batch::default();
        let first = if background.is_empty() {
            match rx.blocking_recv() {
                Some(msg) => Some(msg),
                None => break,
            }
        } else {
            match background_wait(last_claim, last_background) {
                // Background work waits while claims stream in, so a burst
                // is not stalled behind it.
                Some(wait) => match wait_for(&timer, &mut rx, wait) {
                    Ok(msg) => msg,
                    Err(()) => break,
                },
                None => None,
            }
        };
        if let Some(msg) = first {
            take(msg, &mut batch, &mut background, &mut closing);
        }
        while batch.len() < max {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch, &mut background, &mut closing),
                Err(_) => break,
            }
        }
        if !batch.claims.is_empty() {
            last_claim = Some(Instant::now());
        }
        // Claims go first; background work runs once claims pause, or at
        // least every BACKGROUND_EVERY.
        if background_wait(last_claim, last_background).is_none()
            && let Some(job) = background.pop_front()
        {
            batch.jobs.push(job);
            last_background = Instant::now();
        }
        if batch.len() > 0 {
            durability.answer(run_batch(&mut conn, batch));
        }
        if closing.is_some() {
            rx.close();
            // Writes queued before the close are still served.
            let mut batch = Batch::default();
            while let Ok(msg) = rx.try_recv() {
                take(msg, &mut batch, &mut background, &mut closing);
            }
            batch.jobs.extend(background.drain(..));
            if batch.len() > 0 {
                durability.answer(run_batch(&mut conn, batch));
            }
            break;
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the sqlite writer connection failed");
    }
    closing
}

fn take(
    msg: Msg,
    batch: &mut Batch,
    background: &mut VecDeque<Box<dyn Job>>,
    closing: &mut Option<oneshot::Sender<()>>,
) {
    match msg {
        Msg::Claim(row, reply) => batch.claims.push((row, reply)),
        Msg::Job(job) if job.background() => background.push_back(job),
        Msg::Job(job) => batch.jobs.push(job),
        Msg::Close(done) => *closing = Some(done),
    }
}

/// Copies committed WAL frames into the database every
/// [`CHECKPOINT_EVERY`], without blocking the writer or readers (`PASSIVE`),
/// until the store closes.
fn run_checkpoints(conn: &Connection, stop: &std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
    {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}

/// How much longer background work should wait: until claims have paused
/// for [`QUIET`], or [`BACKGROUND_EVERY`] has passed since it last ran.
/// `None` when it may run now.
fn background_wait(last_claim: Option<Instant>, last_background: Instant) -> Option<Duration> {
    let overdue = BACKGROUND_EVERY.checked_sub(last_background.elapsed())?;
    let quiet = QUIET.checked_sub(last_claim?.elapsed())?;
    Some(overdue.min(quiet)).filter(|w| !w.is_zero())
}

/// Waits up to `wait` for a message. `Err` when the queue is closed.
fn wait_for(
    timer: &tokio::runtime::Runtime,
    rx: &mut mpsc::Receiver<Msg>,
    wait: Duration,
) -> std::result::Result<Option<Msg>, ()> {
    match timer.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
        Ok(Some(msg)) => Ok(Some(msg)),
        Ok(None) => Err(()),
        Err(_) => Ok(None),
    }
}

/// Runs SQLite work to completion on this thread. Its statements run
/// synchronously, so the future is ready at once; one that waits for
/// anything else is refused rather than blocked on.
fn run_now<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    work.now_or_never().unwrap_or_else(|| {
        Err(StoreError::Op(
            "a SQLite operation waited for something other than the database".into(),
        ))
    })
}

/// Opens a write transaction.
fn begin(conn: &Connection) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    Ok(())
}

/// Commits when `result` is a success; rolls back when it or the commit
/// failed.
fn end<T>(conn: &Connection, result: Result<T>) -> Result<T> {
    let result = result.and_then(|v| {
        conn.execute_batch("COMMIT")?;
        Ok(v)
    });
    if result.is_err()
        && !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "rolling back a failed write failed");
    }
    result
}

/// Claims `rows`. No explicit transaction: the one multi-row insert is
/// atomic and durable on its own (it commits when it completes), and
/// needs no statement journal. The look-up of replays that follows only
/// reads rows that are never deleted.
fn claim_rows(conn: &mut Connection, rows: &[NewInbound]) -> Result<Vec<Claimed>> {
    run_now(claim_messages(conn, rows))
}

fn run_batch(conn: &mut Connection, batch: Batch) -> Vec<Finished> {
    let Batch { claims, mut jobs } = batch;
    let mut done = Vec::with_capacity(claims.len() + jobs.len());
    if !claims.is_empty() {
        let (rows, replies): (Vec<NewInbound>, Vec<ClaimReply>) =
            claims.into_iter().map(|(row, reply)| (*row, reply)).unzip();
        match claim_rows(conn, &rows) {
            Ok(claimed) => {
                for (reply, c) in replies.into_iter().zip(claimed) {
                    done.push(Finished::Claim(reply, Ok(c)));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, size = rows.len(), "group claim failed; retrying one by one");
                for (row, reply) in rows.iter().zip(replies) {
                    let one = claim_rows(conn, std::slice::from_ref(row)).and_then(|mut v| {
                        v.pop()
                            .ok_or_else(|| StoreError::Op("claim returned nothing".into()))
                    });
                    if let Err(e) = &one {
                        tracing::warn!(error = %e, "storing a message failed");
                    }
                    done.push(Finished::Claim(reply, one));
                }
            }
        }
    }
    if jobs.len() > 1 {
        let together = begin(conn).and_then(|()| {
            let result = run_now(async {
                for job in &mut jobs {
                    job.run(conn).await?;
                }
                Ok(())
            });
            end(conn, result)
        });
        match together {
            Ok(()) => {
                done.extend(jobs.into_iter().map(|job| Finished::Job(job, Ok(()))));
                return done;
            }
            Err(e) => {
                tracing::debug!(error = %e, size = jobs.len(), "group commit failed; retrying one by one");
            }
        }
    }
    for mut job in jobs {
        let result = begin(conn).and_then(|()| {
            let result = run_now(job.run(conn));
            end(conn, result)
        });
        done.push(Finished::Job(job, result));
    }
    done
}

/// The outcome of one write, held until the WAL that holds it is synced.
enum Finished {
    Claim(ClaimReply, Result<Claimed>),
    Job(Box<dyn Job>, Result<()>),
}

impl Finished {
    fn deliver(self) {
        match self {
            Self::Claim(reply, result) => {
                // The caller may have given up; the write stands.
                let _ = reply.send(result);
            }
            Self::Job(job, result) => job.finish(result),
        }
    }

    fn fail(self, why: &str) {
        let error = || StoreError::Op(why.to_owned());
        match self {
            Self::Claim(reply, _) => {
                let _ = reply.send(Err(error()));
            }
            Self::Job(job, _) => job.finish(Err(error())),
        }
    }
}

/// How the writer makes a batch durable before answering it.
enum Durability {
    /// `synchronous = NORMAL`: answered at commit.
    AtCommit,
    /// `synchronous = FULL`: the batch was committed with `NORMAL` (the WAL
    /// is written, not yet synced); one sync of the WAL makes all of it
    /// durable, then it is answered. WAL frames carry checksums, so after a
    /// power cut SQLite recovers up to the last synced commit; nothing
    /// acknowledged is lost.
    ///
    /// A failed sync leaves what reached the disk unknown, so from then on
    /// every write fails until Salur is restarted and SQLite recovers the
    /// WAL.
    SyncWal {
        wal: PathBuf,
        file: Option<std::fs::File>,
        broken: Option<String>,
    },
}

impl Durability {
    /// Answers a committed batch once it is durable.
    fn answer(&mut self, done: Vec<Finished>) {
        let Self::SyncWal { wal, file, broken } = self else {
            done.into_iter().for_each(Finished::deliver);
            return;
        };
        let synced = match broken {
            Some(why) => Err(why.clone()),
            None => sync_file(wal, file),
        };
        match synced {
            Ok(()) => done.into_iter().for_each(Finished::deliver),
            Err(why) => {
                if broken.is_none() {
                    tracing::error!(error = %why, "the database could not be made durable; writes fail until restart");
                    *broken = Some(why.clone());
                }
                for f in done {
                    f.fail(&why);
                }
            }
        }
    }
}

fn sync_file(path: &Path, file: &mut Option<std::fs::File>) -> std::result::Result<(), String> {
    let f = match file {
        Some(f) => f,
        None => file.insert(
            std::fs::File::open(path)
                .map_err(|e| format!("cannot open {} to sync it: {e}", path.display()))?,
        ),
    };
    f.sync_data()
        .map_err(|e| format!("syncing {} failed: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::Tx as _;
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let mut files: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
                .expect("migrations folder")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.1.to_owned()).collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i64::try_from(i).expect("small") + 1);
        }
    }

    fn claim_outcome() -> (Finished, oneshot::Receiver<Result<Claimed>>) {
        let (reply, answer) = oneshot::channel();
        let claimed = Claimed {
            message_id: "msg_1".into(),
            replay: false,
            complaint_id: None,
            tracking_code: None,
        };
        (Finished::Claim(reply, Ok(claimed)), answer)
    }

    #[test]
    fn writes_are_answered_after_the_wal_syncs_and_fail_once_a_sync_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = dir.path().join("s.db-wal");
        std::fs::write(&wal, b"frames").expect("wal");
        let mut durability = Durability::SyncWal {
            wal: wal.clone(),
            file: None,
            broken: None,
        };
        let (done, answer) = claim_outcome();
        durability.answer(vec![done]);
        let claimed = answer.blocking_recv().expect("answered").expect("synced");
        assert_eq!(claimed.message_id, "msg_1");

        // A sync that fails (here: the file is gone before it was ever
        // opened) fails that batch and every later one, even once the file
        // is back.
        std::fs::remove_file(&wal).expect("remove");
        let mut durability = Durability::SyncWal {
            wal: wal.clone(),
            file: None,
            broken: None,
        };
        for round in 0..2 {
            let (done, answer) = claim_outcome();
            durability.answer(vec![done]);
            let err = answer
                .blocking_recv()
                .expect("answered")
                .expect_err("not durable");
            assert!(err.to_string().contains("to sync it"), "{err}");
            if round == 0 {
                std::fs::write(&wal, b"frames").expect("wal back");
            }
        }
    }

    fn inbound(n: u32) -> NewInbound {
        NewInbound {
            id: format!("msg_{n:026}"),
            channel: "sms".into(),
            channel_name: "sms-test".into(),
            provider_message_id: format!("p{n}"),
            reporter_handle: "sms:+6281200000000".into(),
            received_at: chrono::Utc::now(),
            raw_content_type: "application/json".into(),
            raw_payload: b"{}".to_vec(),
            message: "{}".into(),
        }
    }

    fn pending_ids(conn: &mut Connection, limit: i64) -> Vec<String> {
        run_now(conn.pending_inbound(limit))
            .expect("pending")
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    fn mark_processed(conn: &mut Connection, ids: &[String]) {
        for id in ids {
            run_now(conn.set_inbound_failed(id, "done in test", chrono::Utc::now())).expect("mark");
        }
    }

    #[test]
    fn pending_messages_come_in_arrival_order_from_the_mark() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = connect(&dir.path().join("p.db"), false).expect("open");
        migrate_conn(&mut conn).expect("migrate");
        // Ids deliberately out of order: arrival order is what counts.
        let rows: Vec<NewInbound> = [5, 3, 9, 1, 7].into_iter().map(inbound).collect();
        run_now(claim_messages(&mut conn, &rows)).expect("claim");
        let arrival: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();

        let batch = pending_ids(&mut conn, 2);
        assert_eq!(batch, arrival[..2]);
        mark_processed(&mut conn, &batch);
        run_now(conn.pending_processed(Some(&batch[1]))).expect("advance");
        let mark: i64 = conn
            .query_row("SELECT last_rowid FROM inbound_progress", [], |r| r.get(0))
            .expect("mark");
        assert_eq!(mark, 2);
        assert_eq!(pending_ids(&mut conn, 10), arrival[2..]);

        // A mark that no longer names its row is not trusted; processed
        // rows are still skipped.
        conn.execute("UPDATE inbound_progress SET last_id = 'msg_gone'", [])
            .expect("corrupt");
        assert_eq!(pending_ids(&mut conn, 10), arrival[2..]);

        // A short batch drains everything: the mark moves to the last row.
        let rest = pending_ids(&mut conn, 10);
        mark_processed(&mut conn, &rest);
        run_now(conn.pending_processed(None)).expect("drain");
        let (mark, id): (i64, String) = conn
            .query_row(
                "SELECT last_rowid, last_id FROM inbound_progress",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("mark");
        assert_eq!((mark, id.as_str()), (5, arrival[4].as_str()));
        assert!(pending_ids(&mut conn, 10).is_empty());

        let late = inbound(2);
        run_now(claim_messages(&mut conn, std::slice::from_ref(&late))).expect("claim");
        assert_eq!(pending_ids(&mut conn, 10), vec![late.id]);
    }

    #[test]
    fn messages_pending_before_the_mark_existed_are_still_processed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = connect(&dir.path().join("old.db"), false).expect("open");
        for (_, _, sql) in &MIGRATIONS[..2] {
            conn.execute_batch(sql).expect("old schema");
        }
        conn.pragma_update(None, "user_version", 2)
            .expect("version");
        let rows: Vec<NewInbound> = [1, 2, 3].into_iter().map(inbound).collect();
        run_now(claim_messages(&mut conn, &rows)).expect("claim");
        mark_processed(&mut conn, &[rows[0].id.clone()]);

        migrate_conn(&mut conn).expect("migrate");
        assert_eq!(
            pending_ids(&mut conn, 10),
            vec![rows[1].id.clone(), rows[2].id.clone()]
        );
    }

    #[test]
    fn migrating_twice_applies_each_step_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.db");
        let mut conn = connect(&path, false).expect("open");
        migrate_conn(&mut conn).expect("first");
        migrate_conn(&mut conn).expect("second");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 99).expect("bump");
        let err = migrate_conn(&mut conn).expect_err("newer schema");
        assert!(err.to_string().contains("newer than this salur"), "{err}");
    }
}
