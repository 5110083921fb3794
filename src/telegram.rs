//! Telegram bots in polling mode, and `salur telegram-webhook`.
//!
//! One instance polls each bot: the one holding the bot's lease in the
//! database, renewed on every round; another takes over once it expires.
//! Each round asks `getUpdates` for what follows the last update stored,
//! stores every update (each commits before the next is asked for), and
//! only then moves the offset on. Telegram forgets updates when a call
//! names a later offset, so an update is confirmed only after it is
//! committed: a poller killed in between gets the same updates again on
//! its next start, and they are recognised as already stored.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use salur_channel_telegram::api::ApiError;
use salur_channel_telegram::update::Parsed;
use tokio::sync::watch;

use crate::lease::{Lease, backoff};

use crate::app::App;
use crate::channels::TelegramBot;

/// Most updates asked for in one call.
const BATCH: u8 = 100;

/// The longest wait after failures in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long a lease lasts past a round that may take `poll_timeout`: long
/// enough to renew it every round, short enough for a quick takeover.
fn lease_for(poll_timeout: Duration) -> Duration {
    poll_timeout + Duration::from_secs(10)
}

/// Polls the bot `name` until `shutdown` fires, whenever this instance
/// holds its lease.
pub async fn run_poller(
    app: Arc<App>,
    name: String,
    bot: Arc<TelegramBot>,
    mut shutdown: watch::Receiver<bool>,
) {
    let lease = Lease::new(format!("telegram:{name}"), lease_for(bot.poll_timeout));
    let timeout = u32::try_from(bot.poll_timeout.as_secs()).unwrap_or(25);
    let mut offset: Option<i64> = None;
    let mut failures: u32 = 0;
    let mut holding = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = match lease.take(&app.store).await {
            Ok(true) => {
                if !holding {
                    tracing::info!(channel = %name, "polling Telegram");
                    holding = true;
                    // Whatever the last holder confirmed is gone from
                    // Telegram; the rest comes again.
                    offset = None;
                }
                match round(&app, &name, &bot, offset, timeout, &mut shutdown).await {
                    Ok(next) => {
                        failures = 0;
                        offset = next.or(offset);
                        None
                    }
                    Err(wait) => {
                        failures = failures.saturating_add(1);
                        Some(wait)
                    }
                }
            }
            Ok(false) => {
                if holding {
                    tracing::warn!(channel = %name, "another instance took the Telegram lease");
                    holding = false;
                }
                Some(lease.ttl() / 3)
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(channel = %name, error = %e, "Telegram lease not renewed");
                Some(backoff(failures, MAX_BACKOFF))
            }
        };
        if let Some(wait) = wait {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    if holding {
        lease.give_up(&app.store).await;
    }
}

/// One `getUpdates` call and the storing of what it brought. Returns the
/// offset that confirms what was stored, or how long to wait after a
/// failure.
async fn round(
    app: &App,
    name: &str,
    bot: &TelegramBot,
    offset: Option<i64>,
    timeout: u32,
    shutdown: &mut watch::Receiver<bool>,
) -> std::result::Result<Option<i64>, Duration> {
    let fetched = tokio::select! {
        r = bot.api.get_updates(offset, timeout, BATCH) => r,
        _ = shutdown.changed() => return Ok(None),
    };
    let updates = match fetched {
        Ok(updates) => updates,
        Err(ApiError::RetryAfter(wait)) => return Err(wait),
        Err(e) => {
            tracing::warn!(channel = %name, error = %e, "getUpdates failed");
            return Err(match e {
                ApiError::Conflict(_) | ApiError::Unauthorized => MAX_BACKOFF,
                _ => Duration::from_secs(2),
            });
        }
    };
    let mut next = None;
    for update in updates {
        let received = Utc::now();
        match bot.parser.parse_raw(&update.raw, received) {
            Ok(Parsed::Message(message)) => {
                if let Err(e) = app.ingest(*message).await {
                    app.metrics.intake(name, "error");
                    app.metrics.failure("intake");
                    tracing::warn!(channel = %name, update = update.update_id, error = %e, "storing a Telegram update failed; it comes again");
                    return Err(Duration::from_secs(2));
                }
            }
            Ok(Parsed::Ignored { reason, .. }) => {
                app.metrics.intake(name, "ignored");
                tracing::debug!(channel = %name, update = update.update_id, reason, "Telegram update ignored");
            }
            Err(e) => {
                // `getUpdates` answered it, so it has an id; an update that
                // is not even JSON cannot be stored as a message.
                app.metrics.intake(name, "invalid");
                tracing::warn!(channel = %name, update = update.update_id, error = %e, "unreadable Telegram update skipped");
            }
        }
        next = Some(update.update_id + 1);
    }
    Ok(next)
}

/// `salur telegram-webhook NAME`: points the bot at
/// `<server.public_url>/webhooks/telegram/NAME` with its secret, or, with
/// `delete`, removes the webhook so the bot can be polled again.
///
/// # Errors
/// An unknown or polling channel, a missing `server.public_url`, or the
/// Bot API's refusal.
pub async fn set_webhook(app: &App, name: &str, delete: bool) -> anyhow::Result<String> {
    let bot = app
        .channels
        .telegram_bots()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
        .ok_or_else(|| anyhow::anyhow!("no Telegram channel named `{name}`"))?;
    if delete {
        bot.api.delete_webhook().await?;
        return Ok(format!("webhook of `{name}` removed"));
    }
    if bot.mode != crate::config::TelegramMode::Webhook {
        anyhow::bail!("channel `{name}` polls; set `mode = \"webhook\"` first");
    }
    let base = app
        .settings
        .config()
        .server
        .public_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("set server.public_url: Telegram calls that address"))?;
    let url = format!("{}/webhooks/telegram/{name}", base.trim_end_matches('/'));
    bot.api
        .set_webhook(&url, bot.webhook_secret.as_deref())
        .await?;
    Ok(format!("webhook of `{name}` set to {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlasts_a_long_poll() {
        assert!(lease_for(Duration::from_secs(25)) > Duration::from_secs(25));
    }
}
