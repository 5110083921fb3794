//! Messenger (`object: "page"`) and Instagram (`object: "instagram"`)
//! entries: `entry[].messaging[]`, keyed on `message.mid`.

use chrono::{DateTime, Utc};
use salur_channels_core::{AttachmentRef, Location};
use serde_json::Value;

use crate::{Base, DeliveryState, DeliveryStatus, Event, Events, Flag, key_for, text};

pub(crate) fn read_entry(base: &Base<'_>, entry: &Value, events: &mut Events) {
    let items = entry.get("messaging").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        let sender = item.get("sender").and_then(|s| text(s, "id"));
        let account = item
            .get("recipient")
            .and_then(|r| text(r, "id"))
            .or_else(|| text(entry, "id"))
            .map(str::to_owned);
        let sent_at = item
            .get("timestamp")
            .and_then(Value::as_i64)
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        if let Some(message) = item.get("message") {
            if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
                events.echoes += 1;
                continue;
            }
            let mut event = read_message(base, message, "text", sender, account);
            event.message.sent_at = sent_at;
            events.messages.push(event);
        } else if let Some(postback) = item.get("postback") {
            // A tap on one of our buttons: the citizen's answer is its title.
            let mut event = read_message(base, postback, "title", sender, account);
            event.message.sent_at = sent_at;
            events.messages.push(event);
        } else if let Some(delivery) = item.get("delivery") {
            let mids = delivery.get("mids").and_then(Value::as_array);
            for mid in mids.into_iter().flatten().filter_map(Value::as_str) {
                events.statuses.push(DeliveryStatus {
                    provider_message_id: mid.to_owned(),
                    state: DeliveryState::Delivered,
                    recipient: sender.unwrap_or_default().to_owned(),
                    at: sent_at.unwrap_or_else(Utc::now),
                    errors: Vec::new(),
                    account: account.clone(),
                });
            }
        }
    }
}

/// Reads a `message` (its text under `text_key`) or a `postback` (`title`).
fn read_message(
    base: &Base<'_>,
    m: &Value,
    text_key: &str,
    sender: Option<&str>,
    account: Option<String>,
) -> Event {
    let (id, bad_id) = key_for(text(m, "mid"), m);
    let sender = sender.map(str::trim).unwrap_or_default();
    let mut message = base.message(id, sender);
    let mut flag = bad_id.map(Flag::Invalid);
    if sender.is_empty() {
        flag = Some(Flag::Invalid("message without a sender".into()));
    }
    message.text = text(m, text_key).unwrap_or_default().to_owned();
    message.reply_to = m
        .get("reply_to")
        .and_then(|r| text(r, "mid"))
        .map(str::to_owned);
    let attachments = m.get("attachments").and_then(Value::as_array);
    for attachment in attachments.into_iter().flatten() {
        let payload = attachment.get("payload").unwrap_or(&Value::Null);
        if let Some(c) = payload.get("coordinates") {
            let lat = c.get("lat").and_then(Value::as_f64);
            let lon = c.get("long").and_then(Value::as_f64);
            if let Some(Ok(location)) = lat.zip(lon).map(|(a, o)| Location::new(a, o, None)) {
                message.location = Some(location);
            }
        } else if let Some(url) = text(payload, "url") {
            message.attachments.push(AttachmentRef {
                provider_ref: url.to_owned(),
                mime: None,
                filename: None,
                size: None,
                sha256: None,
                caption: None,
            });
        }
    }
    if message.text.is_empty() && message.attachments.is_empty() && message.location.is_none() {
        flag = flag.or(Some(Flag::Unsupported));
    }
    Event::new(message, account, flag)
}
