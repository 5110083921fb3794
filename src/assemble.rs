//! The chat-fragment assembler: sealing open complaints.
//!
//! A chat citizen rarely sends one message. Fragments from one reporter on
//! one channel instance join one open complaint ([`crate::intake`] does the
//! joining) until the quiet period passes. Sealing then runs the duplicate
//! check and publishes `complaint.created`.
//!
//! Sealing happens in two places: [`SealDue`], run by a background task on
//! every instance, and inline when a fragment arrives for a complaint whose
//! quiet period has already passed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::dedupe;
use crate::intake::IntakeSettings;
use crate::queue::outbox;
use crate::record::{EventType, Status};
use crate::store::{ComplaintRow, Op, Result, Store, Tx};

/// Most complaints sealed in one transaction.
const SEAL_BATCH: i64 = 200;

/// Seals `open`: duplicate check, status, `complaint.created`.
///
/// # Errors
/// Database errors.
pub async fn seal<C: Tx>(
    c: &mut C,
    open: ComplaintRow,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<()> {
    let earlier = dedupe::same_reporter_same_content(c, &open, s.duplicate_window).await?;
    let status = if earlier.is_some() {
        Status::Duplicate.as_str()
    } else {
        open.status.as_str()
    };
    c.seal_complaint(&open.id, status, earlier.as_deref(), now)
        .await?;
    outbox::emit(c, &open.id, EventType::Created, now, &s.sinks).await?;
    // A guided channel gives the tracking code now, when the complaint is
    // complete: the earlier complaint's for a duplicate.
    if s.replies.guided.contains(&open.channel_name) {
        let code = match &earlier {
            Some(id) => c.complaint(id).await?.map(|e| e.tracking_code),
            None => None,
        }
        .unwrap_or_else(|| open.tracking_code.clone());
        let to = crate::replies::Recipient {
            channel_name: &open.channel_name,
            handle: &open.reporter.0.handle,
            complaint_id: &open.id,
        };
        crate::replies::acknowledge(c, &s.replies, to, &code, now).await?;
    }
    Ok(())
}

/// Seals every open complaint whose quiet period has passed, after joining
/// the long messages whose part timeout has passed.
pub struct SealDue {
    /// Intake settings.
    pub settings: Arc<IntakeSettings>,
}

impl Op for SealDue {
    type Output = usize;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<usize> {
        let now = Utc::now();
        crate::intake::flush_overdue_parts(c, &self.settings, now).await?;
        let due = c
            .due_open_complaints(now - self.settings.quiet_period, SEAL_BATCH)
            .await?;
        let mut sealed = 0;
        for id in due {
            // Re-read inside the transaction: a fragment may have joined it.
            if let Some(open) = c.complaint(&id).await?
                && open.open_key.is_some()
                && now - open.last_message_at > self.settings.quiet_period
            {
                seal(c, open, &self.settings, now).await?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }
}

/// Runs [`SealDue`] every `interval` until `shutdown` fires.
pub async fn run_sealer(
    store: Store,
    settings: Arc<IntakeSettings>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        loop {
            match store
                .write(SealDue {
                    settings: settings.clone(),
                })
                .await
            {
                Ok(n) if n as i64 >= SEAL_BATCH => continue,
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(sealed = n, "sealed complaints");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sealing failed; retrying next tick");
                    break;
                }
            }
        }
    }
}
