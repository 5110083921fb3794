//! `salur reprocess`: re-normalise complaints from their stored raw
//! messages, after a normaliser or rule change.
//!
//! Each message is parsed again from its raw payload by its channel's
//! adapter when the channel is still configured (else from the message as
//! parsed on arrival), normalised with the current code, and the complaint's
//! text, title and duplicate key rebuilt. A sealed complaint that changed
//! publishes `complaint.updated`.

use salur_channels_core::{InboundMessage, PushRequest, Verified};

use crate::app::App;
use crate::intake::Prepared;
use crate::normalize;
use crate::queue::outbox;
use crate::record::EventType;
use crate::store::{InboundRow, Op, Result, Tx};

/// Batch size when walking all complaints.
const PAGE: i64 = 200;

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Complaints looked at.
    pub checked: u64,
    /// Complaints whose content changed.
    pub changed: u64,
}

struct Page(String);

impl Op for Page {
    type Output = Vec<String>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Vec<String>> {
        c.complaint_ids_after(&self.0, PAGE).await
    }
}

struct Messages(String);

impl Op for Messages {
    type Output = Vec<InboundRow>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Vec<InboundRow>> {
        c.inbound_for_complaint(&self.0).await
    }
}

struct Rebuild {
    id: String,
    texts: Vec<String>,
    dry_run: bool,
    sinks: Vec<String>,
}

impl Op for Rebuild {
    type Output = bool;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<bool> {
        let Some(mut row) = c.complaint(&self.id).await? else {
            return Ok(false);
        };
        let parts: Vec<&str> = self.texts.iter().map(String::as_str).collect();
        let body = normalize::join_fragments(&parts);
        if body == row.body {
            return Ok(false);
        }
        if self.dry_run {
            return Ok(true);
        }
        let now = chrono::Utc::now();
        row.title = normalize::derive_title(&body);
        row.content_key = normalize::content_key(&body);
        row.body = body;
        c.update_complaint_content(&row, now).await?;
        if row.sealed_at.is_some() {
            outbox::emit(c, &row.id, EventType::Updated, now, &self.sinks).await?;
        }
        Ok(true)
    }
}

/// Parses a stored message again, preferring the raw payload.
fn reparse(app: &App, row: &InboundRow) -> Option<InboundMessage> {
    let kind = salur_channels_core::ChannelKind::parse(&row.channel)?;
    if let Some(push) = app
        .channels
        .get(kind, &row.channel_name)
        .and_then(|c| c.push.clone())
    {
        let request = PushRequest {
            method: "POST".into(),
            body: bytes::Bytes::from(row.raw_payload.clone()),
            headers: vec![("content-type".into(), row.raw_content_type.clone())],
            ..Default::default()
        };
        // The payload passed its signature check when it arrived.
        let verified = Verified::after_check(request);
        if let Ok(messages) = push.parse(&verified)
            && let Some(m) = messages
                .into_iter()
                .find(|m| m.provider_message_id == row.provider_message_id)
        {
            return Some(m);
        }
    }
    serde_json::from_str(&row.message.0).ok()
}

/// Re-normalises one complaint (`id`) or all of them.
///
/// # Errors
/// Storage errors.
pub async fn run(app: &App, id: Option<String>, dry_run: bool) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut after = String::new();
    loop {
        let ids = match &id {
            Some(id) if after.is_empty() => vec![id.clone()],
            Some(_) => break,
            None => app.store.read(Page(after.clone())).await?,
        };
        let Some(last) = ids.last().cloned() else {
            break;
        };
        for cid in ids {
            summary.checked += 1;
            let rows = app.store.read(Messages(cid.clone())).await?;
            let texts = rows
                .iter()
                .filter_map(|r| reparse(app, r))
                .map(|m| Prepared::new(m, false, &app.intake.default_region).text)
                .collect();
            let changed = app
                .store
                .write(Rebuild {
                    id: cid,
                    texts,
                    dry_run,
                    sinks: app.intake.sinks.clone(),
                })
                .await?;
            summary.changed += u64::from(changed);
        }
        after = last;
    }
    Ok(summary)
}
