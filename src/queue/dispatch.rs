//! The outbox dispatcher: at-least-once delivery of events to the sinks.
//!
//! Each round claims due deliveries with a lease (on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so several dispatchers share the work), sends
//! them concurrently, then records the results in one write. A failed
//! delivery is retried after the next delay of the configured schedule, and
//! is dead after the last one; `salur replay` makes dead deliveries pending
//! again. A dispatcher that dies mid-round loses nothing: its lease runs out
//! and another round claims the deliveries again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Notify, watch};

use super::sink::{OutboundEvent, Sink, SinkError};
use crate::metrics::Metrics;
use crate::store::{ClaimedDelivery, Op, Result, Store, Tx};

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct DispatchSettings {
    /// Delays before the 2nd, 3rd, … attempt; dead after the last.
    pub retry_schedule: Vec<Duration>,
    /// How often to look for due deliveries when nothing wakes us.
    pub poll_interval: Duration,
    /// Most deliveries per round.
    pub batch_size: usize,
    /// How long a claim holds before another dispatcher may take it.
    pub lease: Duration,
}

impl Leased for ClaimedDelivery {
    async fn claim<C: Tx>(
        c: &mut C,
        now: chrono::DateTime<Utc>,
        until: chrono::DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Self>> {
        c.claim_deliveries(now, until, limit).await
    }
}

/// What happened to one delivery attempt.
enum Attempt {
    Delivered,
    Retry {
        attempts: i32,
        at: chrono::DateTime<Utc>,
        error: String,
    },
    Dead {
        attempts: i32,
        error: String,
    },
}

struct Record(Vec<(String, Attempt)>);

impl Op for Record {
    type Output = ();

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<()> {
        let now = Utc::now();
        for (id, attempt) in &self.0 {
            match attempt {
                Attempt::Delivered => c.delivery_done(id, now).await?,
                Attempt::Retry {
                    attempts,
                    at,
                    error,
                } => c.delivery_failed(id, *attempts, Some(*at), error).await?,
                Attempt::Dead { attempts, error } => {
                    c.delivery_failed(id, *attempts, None, error).await?
                }
            }
        }
        Ok(())
    }
}

/// Makes dead (and optionally delivered) deliveries pending again.
pub struct Replay {
    /// Only this event.
    pub event_id: Option<String>,
    /// Only this sink.
    pub sink: Option<String>,
    /// Also re-send deliveries that succeeded.
    pub include_delivered: bool,
}

impl Op for Replay {
    type Output = u64;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<u64> {
        c.replay_deliveries(
            self.event_id.as_deref(),
            self.sink.as_deref(),
            self.include_delivered,
            Utc::now(),
        )
        .await
    }
}

/// The dispatcher.
pub struct Dispatcher {
    worker: Worker,
    sinks: HashMap<String, Arc<dyn Sink>>,
}

impl Dispatcher {
    /// A dispatcher over `sinks`; the worker's `wake` lets writers start a
    /// round at once.
    pub fn new(worker: Worker, sinks: Vec<Arc<dyn Sink>>) -> Self {
        let sinks = sinks
            .into_iter()
            .map(|s| (s.name().to_owned(), s))
            .collect();
        Self { worker, sinks }
    }

    /// Runs rounds until `shutdown` fires; the round in progress finishes.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        self.worker.run("dispatch", || self.round(), shutdown).await;
    }

    /// Claims and sends one batch. Returns how many deliveries it handled.
    ///
    /// # Errors
    /// Database errors.
    pub async fn round(&self) -> Result<usize> {
        self.worker.round(|d| self.send(d), Record).await
    }

    async fn send(&self, d: ClaimedDelivery) -> (String, Attempt) {
        let attempts = d.attempts.saturating_add(1);
        let outcome = match self.sinks.get(&d.sink) {
            None => Err(SinkError::Transient(format!(
                "sink `{}` is not configured",
                d.sink
            ))),
            Some(sink) => {
                let event = OutboundEvent {
                    id: d.event_id.clone(),
                    event_type: d.event_type.clone(),
                    agency: d.agency.clone(),
                    occurred_at: d.occurred_at,
                    body: Bytes::from(d.payload),
                };
                sink.deliver(&event).await
            }
        };
        let attempt = match outcome {
            Ok(()) => {
                self.worker.metrics.delivery(&d.sink, "delivered");
                Attempt::Delivered
            }
            Err(e) => match (e, self.worker.retry_at(attempts)) {
                (SinkError::Transient(error), Some(at)) => {
                    self.worker.metrics.delivery(&d.sink, "retry");
                    tracing::info!(sink = %d.sink, event = %d.event_id, attempts, %error, "delivery failed; will retry");
                    Attempt::Retry {
                        attempts,
                        at,
                        error,
                    }
                }
                (e, _) => {
                    self.worker.metrics.delivery(&d.sink, "dead");
                    tracing::warn!(sink = %d.sink, event = %d.event_id, attempts, error = %e, "delivery dead");
                    Attempt::Dead {
                        attempts,
                        error: e.to_string(),
                    }
                }
            },
        };
        (d.id, attempt)
    }
}

/// When to try again after `attempts` failed tries: the schedule's next
/// delay from now, or `None` when the schedule is used up.
pub fn retry_at(schedule: &[Duration], attempts: i32) -> Option<chrono::DateTime<Utc>> {
    let delay = schedule.get(usize::try_from(attempts.checked_sub(1)?).ok()?)?;
    Some(Utc::now() + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::hours(1)))
}

/// What every worker of a leased queue (the dispatcher, the replier, the
/// media fetcher) shares: the store, its schedule, the notify that starts a
/// round at once, and the metrics.
#[derive(Clone)]
pub struct Worker {
    /// The database.
    pub store: Store,
    /// Retry schedule, poll interval, batch size and lease.
    pub settings: DispatchSettings,
    /// Starts a round at once.
    pub wake: Arc<Notify>,
    /// Where attempts and failed rounds are counted.
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// When a row that failed its `attempts`-th try is tried again; `None`
    /// after the last.
    pub fn retry_at(&self, attempts: i32) -> Option<chrono::DateTime<Utc>> {
        retry_at(&self.settings.retry_schedule, attempts)
    }

    /// Runs `round` until `shutdown` fires: again at once after a full
    /// round, otherwise when woken or after the poll interval. A failed round
    /// is counted under `stage` and retried at the next turn.
    pub async fn run<F, Fut>(
        &self,
        stage: &'static str,
        mut round: F,
        mut shutdown: watch::Receiver<bool>,
    ) where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<usize>>,
    {
        let (settings, metrics) = (&self.settings, &self.metrics);
        loop {
            let busy = match round().await {
                Ok(n) => n >= settings.batch_size,
                Err(e) => {
                    metrics.failure(stage);
                    tracing::warn!(error = %e, "{stage} round failed");
                    false
                }
            };
            if *shutdown.borrow() {
                return;
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(settings.poll_interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// As [`Worker::round`], but rows with the same `key` are handled one
    /// after another, in the order they were claimed (replies to one
    /// citizen arrive in the order they were queued); different keys still
    /// go at once.
    ///
    /// # Errors
    /// Database errors.
    pub async fn round_by<T, K, R, F, Fut, W>(
        &self,
        mut key: impl FnMut(&T) -> K,
        send: F,
        record: impl FnOnce(Vec<R>) -> W,
    ) -> Result<usize>
    where
        T: Leased,
        K: Eq + std::hash::Hash,
        F: Fn(T) -> Fut,
        Fut: std::future::Future<Output = R>,
        W: Op<Output = ()>,
    {
        let claimed = self.claim::<T>().await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let mut groups: Vec<Vec<T>> = Vec::new();
        let mut index: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
        for row in claimed {
            let at = *index.entry(key(&row)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[at].push(row);
        }
        let send = &send;
        let sends: FuturesUnordered<_> = groups
            .into_iter()
            .map(|group| async move {
                let mut done = Vec::with_capacity(group.len());
                for row in group {
                    done.push(send(row).await);
                }
                done
            })
            .collect();
        let results: Vec<Vec<R>> = sends.collect().await;
        self.store
            .write(record(results.into_iter().flatten().collect()))
            .await?;
        Ok(n)
    }

    /// Claims a batch of due rows with a lease.
    async fn claim<T: Leased>(&self) -> Result<Vec<T>> {
        self.store
            .write(ClaimDue::<T> {
                lease: self.settings.lease,
                limit: i64::try_from(self.settings.batch_size).unwrap_or(100),
                rows: std::marker::PhantomData,
            })
            .await
    }

    /// One round of a leased queue: claims due rows, sends them
    /// concurrently, and records every result in one write. Returns how
    /// many it handled.
    ///
    /// # Errors
    /// Database errors.
    pub async fn round<T, R, F, Fut, W>(
        &self,
        send: F,
        record: impl FnOnce(Vec<R>) -> W,
    ) -> Result<usize>
    where
        T: Leased,
        F: Fn(T) -> Fut,
        Fut: std::future::Future<Output = R>,
        W: Op<Output = ()>,
    {
        // Every row its own group: all at once.
        let mut n = 0usize;
        let each = move |_: &T| {
            n += 1;
            n
        };
        self.round_by(each, send, record).await
    }

    /// When a row that failed its `attempts`-th try is tried again: never
    /// when `retryable` is false or the schedule is used up, and not
    /// before `not_before` from now. Counts the delivery under `label` as
    /// `retry` or `dead`.
    pub fn next_try(
        &self,
        label: &str,
        attempts: i32,
        retryable: bool,
        not_before: Option<Duration>,
    ) -> Option<chrono::DateTime<Utc>> {
        let next =
            retryable
                .then(|| self.retry_at(attempts))
                .flatten()
                .map(|at| match not_before {
                    Some(wait) => {
                        at.max(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
                    }
                    None => at,
                });
        self.metrics
            .delivery(label, if next.is_some() { "retry" } else { "dead" });
        next
    }
}

/// Rows of a table that is worked off with leases (`deliveries`,
/// `outbound_messages`): claimed with `FOR UPDATE SKIP LOCKED` on
/// PostgreSQL, so several instances share them.
pub trait Leased: Sized + Send + 'static {
    /// Claims up to `limit` due rows, leased until `until`.
    fn claim<C: Tx>(
        c: &mut C,
        now: chrono::DateTime<Utc>,
        until: chrono::DateTime<Utc>,
        limit: i64,
    ) -> impl std::future::Future<Output = Result<Vec<Self>>> + Send;
}

/// Claims due rows of `T` for one round.
struct ClaimDue<T> {
    lease: Duration,
    limit: i64,
    rows: std::marker::PhantomData<fn() -> T>,
}

impl<T: Leased> Op for ClaimDue<T> {
    type Output = Vec<T>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Vec<T>> {
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(60));
        T::claim(c, now, now + lease, self.limit).await
    }
}
