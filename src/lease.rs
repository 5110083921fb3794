//! Named leases for pollers (a Telegram bot, an IMAP mailbox): the one
//! instance holding a poller's lease runs it, renewing the lease as it
//! goes; another takes over once the lease expires unrenewed.

use std::time::Duration;

use chrono::Utc;

use crate::store::{Op, Result, Store, Tx};

/// One instance's claim on a named lease.
#[derive(Debug, Clone)]
pub struct Lease {
    name: String,
    holder: String,
    ttl: Duration,
}

/// Takes or renews a lease, or gives it up.
struct LeaseOp {
    lease: Lease,
    give_up: bool,
}

impl Op for LeaseOp {
    type Output = bool;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<bool> {
        let Lease { name, holder, ttl } = &self.lease;
        if self.give_up {
            c.drop_lease(name, holder).await?;
            return Ok(false);
        }
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(*ttl).unwrap_or(chrono::Duration::seconds(60));
        c.take_lease(name, holder, now + ttl, now).await
    }
}

impl Lease {
    /// This process's claim on the lease `name`, lasting `ttl` from each
    /// renewal.
    pub fn new(name: String, ttl: Duration) -> Self {
        Self {
            name,
            holder: format!("{}:{}", std::process::id(), ulid::Ulid::new()),
            ttl,
        }
    }

    /// How long the lease lasts from a renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the lease, or renews it; `false` while another holds it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn take(&self, store: &Store) -> Result<bool> {
        store
            .write(LeaseOp {
                lease: self.clone(),
                give_up: false,
            })
            .await
    }

    /// Gives the lease up, when held, so another instance takes over at
    /// once (at shutdown). A failure only means the lease runs out.
    pub async fn give_up(&self, store: &Store) {
        let _ = store
            .write(LeaseOp {
                lease: self.clone(),
                give_up: true,
            })
            .await;
    }
}

/// The wait after `failures` failures in a row: doubling from 2 s, at most
/// `max`.
pub fn backoff(failures: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << failures.min(16)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(1, max), Duration::from_secs(2));
        assert_eq!(backoff(3, max), Duration::from_secs(8));
        assert_eq!(backoff(30, max), max);
    }
}
