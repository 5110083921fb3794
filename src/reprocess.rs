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
        let before = row.body.clone();
        crate::intake::set_body(&mut row, &self.texts);
        if row.body == before {
            return Ok(false);
        }
        if !self.dry_run {
            crate::intake::save_content(c, &row, &self.sinks, chrono::Utc::now()).await?;
        }
        Ok(true)
    }
}

/// Parses a stored message again, preferring the raw payload.
fn reparse(app: &App, row: &InboundRow) -> Option<InboundMessage> {
    from_channel(app, row).or_else(|| serde_json::from_str(&row.message.0).ok())
}

/// The message the channel's current adapter reads from the stored raw
/// payload, when the channel is still configured and can read it.
fn from_channel(app: &App, row: &InboundRow) -> Option<InboundMessage> {
    let kind = salur_channels_core::ChannelKind::parse(&row.channel)?;
    let channel = app.channels.get(kind, &row.channel_name)?;
    if let Some(mail) = &channel.mail {
        let received = row.received_at;
        return Some(mail.reader.read(&row.raw_payload, received))
            .filter(|m| m.provider_message_id == row.provider_message_id);
    }
    let push = channel.push.clone()?;
    from_raw(
        push.as_ref(),
        &row.raw_payload,
        &row.raw_content_type,
        &row.provider_message_id,
    )
}

struct Quarantined;

impl Op for Quarantined {
    type Output = Vec<InboundRow>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<Vec<InboundRow>> {
        c.quarantined_inbound().await
    }
}

struct Retake {
    id: String,
    message: String,
}

impl Op for Retake {
    type Output = ();

    async fn run<C: Tx>(&mut self, c: &mut C) -> Result<()> {
        c.retake_inbound(&self.id, &self.message, chrono::Utc::now())
            .await
    }
}

/// `salur reprocess --quarantined`: reads every quarantined message again
/// from its raw payload with the channel's current adapter; one that now
/// reads (no longer flagged) goes back into intake, and its quarantine
/// entry is resolved. The rest stay as they are.
///
/// # Errors
/// Storage errors.
pub async fn quarantined(app: &App, dry_run: bool) -> Result<Summary> {
    let mut summary = Summary::default();
    for row in app.store.read(Quarantined).await? {
        summary.checked += 1;
        let Some(message) = from_channel(app, &row).filter(|m| m.flag.is_none()) else {
            continue;
        };
        summary.changed += 1;
        if dry_run {
            continue;
        }
        let message = serde_json::to_string(&message)
            .map_err(|e| crate::store::StoreError::Op(e.to_string()))?;
        app.store
            .write(Retake {
                id: row.id.clone(),
                message,
            })
            .await?;
    }
    if !dry_run && summary.changed > 0 {
        crate::intake::process_all(&app.store, app.intake.clone()).await?;
    }
    Ok(summary)
}

/// The message with `provider_message_id` that `push` reads from a stored
/// payload. A payload is stored as the provider sent it: a body, or for a
/// provider that calls by `GET` (Kannel, Vonage) the query, so both are
/// tried. The payload passed its signature check when it arrived.
fn from_raw(
    push: &dyn salur_channels_core::PushChannel,
    raw: &[u8],
    content_type: &str,
    provider_message_id: &str,
) -> Option<InboundMessage> {
    let as_body = PushRequest {
        method: "POST".into(),
        body: bytes::Bytes::copy_from_slice(raw),
        headers: vec![("content-type".into(), content_type.to_owned())],
        ..Default::default()
    };
    let query = String::from_utf8_lossy(raw).into_owned();
    let as_query = PushRequest {
        method: "GET".into(),
        url: format!("http://localhost/?{query}"),
        query: Some(query),
        ..Default::default()
    };
    [as_body, as_query].into_iter().find_map(|request| {
        push.parse(&Verified::after_check(request))
            .ok()?
            .into_iter()
            .find(|m| m.provider_message_id == provider_message_id)
    })
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
            let texts =
                crate::intake::texts_with_edits(rows.iter().filter_map(|r| reparse(app, r)));
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

#[cfg(test)]
mod tests {
    use salur_channel_sms::kannel::KannelSms;
    use salur_channel_sms::twilio::TwilioSms;
    use salur_channels_core::PushChannel as _;

    use super::*;

    #[test]
    fn stored_bodies_and_stored_queries_are_read_again() {
        const FORM: &str = "application/x-www-form-urlencoded";
        let twilio = TwilioSms::new("sms-twilio".into(), None);
        let body =
            b"MessageSid=SM1&AccountSid=AC1&From=%2B6281234567890&To=%2B1500&Body=Jalan+rusak";
        let m = from_raw(&twilio, body, FORM, "SM1").expect("a stored form body");
        assert_eq!(m.text, "Jalan rusak");

        // Kannel calls by GET: what is stored is the query, secret removed.
        let kannel = KannelSms::new("sms-kannel".into(), None);
        let query = b"id=k-1&from=081234567890&to=1708&text=Lampu+mati&time=1764404100&coding=0&charset=UTF-8";
        let as_body = PushRequest {
            method: "POST".into(),
            body: bytes::Bytes::from_static(query),
            headers: vec![("content-type".into(), FORM.into())],
            ..Default::default()
        };
        let read_as_body = kannel.parse(&Verified::after_check(as_body));
        assert!(
            read_as_body.map_or(true, |ms| ms.iter().all(|m| m.provider_message_id != "k-1")),
            "a post-url body is the text, so the query is needed"
        );
        let m = from_raw(&kannel, query, FORM, "k-1").expect("a stored query");
        assert_eq!(
            (m.text.as_str(), m.reporter.handle.as_str()),
            ("Lampu mati", "sms:081234567890")
        );

        assert!(from_raw(&kannel, query, FORM, "another-id").is_none());
    }
}
