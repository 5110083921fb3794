//! Replies to citizens: the acknowledgement with the tracking code, and
//! notices when a complaint's status changes, sent back through the channel
//! the complaint came in on. The texts are `config/replies/<lang>.toml`.
//!
//! Intake queues an acknowledgement in `outbound_messages`, in the
//! transaction that creates the complaint, so a complaint never lacks its
//! acknowledgement and a replayed or reprocessed message never queues a
//! second one (one acknowledgement per complaint is a unique index). The
//! per-number limit counts what went to the same recipient recently: a
//! flood from one number, or a provider replaying it with fresh ids, cannot
//! make us text one citizen over and over; what the limit holds back is
//! kept as `suppressed`. A guided channel (Telegram) has no such limit: its
//! citizen asks for each answer in their own account.
//!
//! The [`Replier`] sends due replies with a lease (`SKIP LOCKED` on
//! PostgreSQL), like the outbox dispatcher, and retries transient failures
//! on the outbox's schedule; a permanent refusal (an invalid number) is
//! dead at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use figment::providers::Format as _;
use salur_channels_core::{ChannelError, OutboundReply, ReplyKind, ReplySender};
use serde::Deserialize;
use tokio::sync::watch;

use crate::domain::MessageId;
use crate::queue::dispatch::{Leased, Worker};
use crate::store::{NewOutbound, Op, OutboundRow, Result, StoreError, Tx};

/// The texts sent to citizens in one language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyTexts {
    /// Sent when a complaint is opened; `{code}` is its tracking code.
    pub acknowledgement: String,
    /// Sent when a complaint's status changes; `{code}` and `{status}`.
    pub status_notice: String,
    /// The status names citizens read, by stored name.
    pub status: HashMap<String, String>,
    /// The guided conversation of a chat bot.
    pub guided: crate::guided::GuidedTexts,
    /// Subject lines of emails.
    pub email: EmailTexts,
}

/// Subject lines of emails to citizens (`[email]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTexts {
    /// The acknowledgement's.
    pub acknowledgement_subject: String,
    /// A status notice's.
    pub status_subject: String,
    /// Any other answer's.
    pub other_subject: String,
}

impl ReplyTexts {
    /// The built-in texts for `language` (`id` or `en`).
    ///
    /// # Errors
    /// For another language, or when a built-in file does not parse.
    pub fn builtin(language: &str) -> std::result::Result<Self, String> {
        let source = match language {
            "id" => include_str!("../config/replies/id.toml"),
            "en" => include_str!("../config/replies/en.toml"),
            other => return Err(format!("no reply texts for language `{other}`")),
        };
        figment::Figment::from(figment::providers::Toml::string(source))
            .extract()
            .map_err(|e| format!("reply texts `{language}`: {e}"))
    }

    /// The acknowledgement for `code`.
    pub fn acknowledgement(&self, code: &str) -> String {
        self.acknowledgement.replace("{code}", code)
    }

    /// The notice that `code` now has `status` (a stored status name).
    pub fn status_notice(&self, code: &str, status: &str) -> String {
        let name = self.status.get(status).map_or(status, String::as_str);
        self.status_notice
            .replace("{code}", code)
            .replace("{status}", name)
    }
}

/// Who gets replies, and how many.
#[derive(Debug, Clone)]
pub struct ReplyPolicy {
    /// Channel instances that send replies.
    pub channels: HashSet<String>,
    /// Channel instances that guide the citizen (Telegram): their
    /// acknowledgement goes out when the complaint is sent or sealed, in
    /// the language the citizen talks in.
    pub guided: HashSet<String>,
    /// The texts in the configured language.
    pub texts: ReplyTexts,
    /// The texts in every built-in language, for citizens who chose one.
    pub languages: HashMap<String, ReplyTexts>,
    /// Most replies to one recipient within `window`.
    pub per_number: i64,
    /// See `per_number`.
    pub window: chrono::Duration,
}

impl ReplyPolicy {
    /// The texts in `language` (`id`, `en`), else the configured ones.
    pub fn texts_in(&self, language: &str) -> &ReplyTexts {
        self.languages.get(language).unwrap_or(&self.texts)
    }

    /// The texts a recipient reads: on a guided channel, the language of
    /// their conversation.
    async fn texts_for<C: Tx>(&self, c: &mut C, to: Recipient<'_>) -> Result<&ReplyTexts> {
        if !self.guided.contains(to.channel_name) {
            return Ok(&self.texts);
        }
        Ok(match c.dialogue(to.channel_name, to.handle).await? {
            Some(d) => self.texts_in(&d.language),
            None => &self.texts,
        })
    }
}

/// Queues the acknowledgement of a newly opened complaint, when its channel
/// sends replies. Called inside the transaction that created it.
///
/// # Errors
/// Database errors.
pub async fn acknowledge<C: Tx>(
    c: &mut C,
    policy: &ReplyPolicy,
    to: Recipient<'_>,
    tracking_code: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let body = policy
        .texts_for(c, to)
        .await?
        .acknowledgement(tracking_code);
    let reply = Queued {
        kind: "acknowledgement",
        body,
        tracking_code: Some(tracking_code),
        presentation: &salur_channels_core::Presentation::default(),
    };
    queue(c, policy, to, reply, now).await
}

/// Queues a step of a guided conversation (a question, a summary, the
/// answer to a command), when the channel sends replies. Not counted
/// against the per-number limit: each answers something the citizen did.
///
/// # Errors
/// Database errors.
pub async fn prompt<C: Tx>(
    c: &mut C,
    policy: &ReplyPolicy,
    to: Recipient<'_>,
    body: String,
    presentation: &salur_channels_core::Presentation,
    now: DateTime<Utc>,
) -> Result<()> {
    let reply = Queued {
        kind: "prompt",
        body,
        tracking_code: None,
        presentation,
    };
    queue(c, policy, to, reply, now).await
}

/// Queues the notice that a complaint's status changed, when its channel
/// sends replies. Called inside the transaction that changed it.
///
/// # Errors
/// Database errors.
pub async fn status_notice<C: Tx>(
    c: &mut C,
    policy: &ReplyPolicy,
    to: Recipient<'_>,
    tracking_code: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let body = policy
        .texts_for(c, to)
        .await?
        .status_notice(tracking_code, status);
    let reply = Queued {
        kind: "status_notice",
        body,
        tracking_code: Some(tracking_code),
        presentation: &salur_channels_core::Presentation::default(),
    };
    queue(c, policy, to, reply, now).await
}

/// Where a reply goes.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    /// The channel instance the complaint came in on.
    pub channel_name: &'a str,
    /// The citizen's handle there.
    pub handle: &'a str,
    /// The complaint the reply is about; empty for a conversation step
    /// about none.
    pub complaint_id: &'a str,
}

/// A reply to queue.
struct Queued<'a> {
    /// `acknowledgement`, `status_notice` or `prompt`.
    kind: &'static str,
    body: String,
    tracking_code: Option<&'a str>,
    presentation: &'a salur_channels_core::Presentation,
}

async fn queue<C: Tx>(
    c: &mut C,
    policy: &ReplyPolicy,
    to: Recipient<'_>,
    reply: Queued<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    if !policy.channels.contains(to.channel_name) {
        return Ok(());
    }
    // A conversation step answers what the citizen just did, and on a
    // guided channel every reply answers something the citizen did in
    // their own account (pressing Send): nothing to hold back.
    let limited = reply.kind != "prompt"
        && !policy.guided.contains(to.channel_name)
        && c.recent_replies(to.channel_name, to.handle, now - policy.window)
            .await?
            >= policy.per_number;
    let state = if limited {
        tracing::info!(channel = %to.channel_name, kind = reply.kind, "reply held back by the per-number limit");
        "suppressed"
    } else {
        "pending"
    };
    let presentation = if reply.presentation.is_plain() {
        None
    } else {
        Some(serde_json::to_string(reply.presentation).map_err(|e| StoreError::Op(e.to_string()))?)
    };
    c.insert_outbound(&NewOutbound {
        id: MessageId::new().to_string(),
        complaint_id: (!to.complaint_id.is_empty()).then(|| to.complaint_id.to_owned()),
        channel_name: to.channel_name.to_owned(),
        recipient: to.handle.to_owned(),
        kind: reply.kind.to_owned(),
        body: reply.body,
        tracking_code: reply.tracking_code.map(str::to_owned),
        state: state.into(),
        presentation,
        now,
    })
    .await?;
    Ok(())
}

impl Leased for OutboundRow {
    async fn claim<C: Tx>(
        c: &mut C,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Self>> {
        // Ids grow with time: the order replies were queued in.
        let mut rows = c.claim_outbound(now, until, limit).await?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rows)
    }
}

/// What one attempt came to.
enum Attempt {
    Sent(Option<String>),
    Failed {
        attempts: i32,
        next: Option<DateTime<Utc>>,
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
                Attempt::Sent(provider_id) => {
                    c.outbound_sent(id, provider_id.as_deref(), now).await?
                }
                Attempt::Failed {
                    attempts,
                    next,
                    error,
                } => c.outbound_failed(id, *attempts, *next, error).await?,
            }
        }
        Ok(())
    }
}

/// Sends queued replies through each channel's provider.
pub struct Replier {
    worker: Worker,
    senders: HashMap<String, Arc<dyn ReplySender>>,
}

impl Replier {
    /// A replier over the channels' senders, by channel name.
    pub fn new(worker: Worker, senders: HashMap<String, Arc<dyn ReplySender>>) -> Self {
        Self { worker, senders }
    }

    /// Runs rounds until `shutdown` fires; the round in progress finishes.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        self.worker.run("reply", || self.round(), shutdown).await;
    }

    /// Claims and sends one batch: replies to one citizen one after another,
    /// in the order they were queued; different citizens at once. Returns
    /// how many replies it handled.
    ///
    /// # Errors
    /// Database errors.
    pub async fn round(&self) -> Result<usize> {
        self.worker
            .round_by(
                |o: &OutboundRow| (o.channel_name.clone(), o.recipient.clone()),
                |o| self.send(o),
                Record,
            )
            .await
    }

    async fn send(&self, o: OutboundRow) -> (String, Attempt) {
        let attempts = o.attempts.saturating_add(1);
        let label = format!("reply:{}", o.channel_name);
        let result = match self.senders.get(&o.channel_name) {
            None => Err(ChannelError::Transient(format!(
                "channel `{}` sends no replies in this configuration",
                o.channel_name
            ))),
            Some(sender) => {
                let reply = OutboundReply {
                    channel_name: o.channel_name.clone(),
                    to: o.recipient.clone(),
                    text: o.body.clone(),
                    in_reply_to: o.thread.clone(),
                    tracking_code: o.tracking_code.clone(),
                    kind: match o.kind.as_str() {
                        "acknowledgement" => ReplyKind::Acknowledgement,
                        "prompt" => ReplyKind::Prompt,
                        _ => ReplyKind::StatusNotice,
                    },
                    last_inbound_at: o.last_inbound_at,
                    window_closed: o.last_error.as_deref().is_some_and(window_closed),
                    presentation: o.presentation.clone().map(|p| p.0).unwrap_or_default(),
                };
                sender.send(&reply).await
            }
        };
        let attempt = match result {
            Ok(receipt) => {
                self.worker.metrics.delivery(&label, "delivered");
                Attempt::Sent(receipt.provider_message_id)
            }
            Err(e) => {
                // Not before the provider allows, nor sooner than the
                // schedule says; the schedule's end still ends it.
                let not_before = match &e {
                    ChannelError::RetryAfter(wait) => Some(*wait),
                    _ => None,
                };
                let retryable = !matches!(e, ChannelError::Permanent(_));
                let next = self
                    .worker
                    .next_try(&label, attempts, retryable, not_before);
                let outcome = if next.is_some() { "retry" } else { "dead" };
                tracing::warn!(channel = %o.channel_name, reply = %o.id, attempts, error = %e, "sending a reply failed ({outcome})");
                Attempt::Failed {
                    attempts,
                    next,
                    error: e.to_string(),
                }
            }
        };
        (o.id, attempt)
    }
}

/// Meta's error code for a message sent after the 24-hour window closed.
const WINDOW_CLOSED: &str = "131047";

/// Whether a reply's last error says the provider's reply window closed.
fn window_closed(last_error: &str) -> bool {
    last_error.starts_with(WINDOW_CLOSED)
}

/// Records the delivery statuses a channel reported for our replies. A
/// reply that failed because WhatsApp's 24-hour window had closed (131047)
/// is queued again, to go out as the channel's template.
pub struct RecordStatuses {
    /// The channel instance that sent them.
    pub channel_name: String,
    /// Provider message id, new state (`delivered`, `read`, `failed`, …)
    /// and the provider's error, for each.
    pub statuses: Vec<(String, &'static str, Option<String>)>,
}

impl Op for RecordStatuses {
    type Output = usize;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<usize> {
        let mut changed = 0;
        for (id, state, error) in &self.statuses {
            let requeue = *state == "failed" && error.as_deref().is_some_and(window_closed);
            let done = if requeue {
                c.outbound_requeue(&self.channel_name, id, error.as_deref().unwrap_or_default())
                    .await?
            } else {
                c.outbound_status(&self.channel_name, id, state, error.as_deref())
                    .await?
            };
            if done {
                changed += 1;
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_acknowledgements_fit_one_sms_with_the_code() {
        for language in ["id", "en"] {
            let texts = ReplyTexts::builtin(language).expect("texts");
            let ack = texts.acknowledgement("SLR-7K3Q-9XPA");
            assert!(ack.contains("SLR-7K3Q-9XPA"), "{ack}");
            assert!(
                ack.chars().count() <= 160,
                "{language}: {} chars",
                ack.chars().count()
            );
            assert!(ack.is_ascii(), "{language}: plain GSM-7 characters only");
            for status in [
                "new",
                "in_review",
                "forwarded",
                "duplicate",
                "rejected",
                "closed",
            ] {
                let notice = texts.status_notice("SLR-7K3Q-9XPA", status);
                assert!(
                    notice.contains(&texts.status[status]),
                    "{language}: {notice}"
                );
                assert!(notice.chars().count() <= 160, "{notice}");
            }
        }
        assert!(ReplyTexts::builtin("fr").is_err());
    }
}
