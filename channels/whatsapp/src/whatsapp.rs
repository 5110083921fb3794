//! WhatsApp Cloud API entries: `entry[].changes[].value.{messages,statuses}`.

use chrono::{DateTime, Utc};
use salur_channels_core::{AttachmentRef, Location};
use serde_json::Value;

use crate::{Base, DeliveryState, DeliveryStatus, Event, Events, Flag, join, key_for, text};

/// Media types: the object under the type's name holds the media id.
const MEDIA: &[&str] = &["image", "audio", "video", "document", "sticker"];

pub(crate) fn read_entry(base: &Base<'_>, entry: &Value, events: &mut Events) {
    let changes = entry.get("changes").and_then(Value::as_array);
    for change in changes.into_iter().flatten() {
        if text(change, "field").is_some_and(|f| f != "messages") {
            continue;
        }
        let Some(value) = change.get("value") else {
            continue;
        };
        let account = value
            .get("metadata")
            .and_then(|m| text(m, "phone_number_id"))
            .map(str::to_owned);
        let contacts = value.get("contacts").and_then(Value::as_array);
        for message in array(value, "messages") {
            let mut event = read_message(base, message, account.clone());
            let sender = text(message, "from");
            event.message.reporter.name = contacts
                .into_iter()
                .flatten()
                .find(|c| text(c, "wa_id") == sender)
                .and_then(|c| c.get("profile"))
                .and_then(|p| text(p, "name"))
                .map(str::to_owned);
            events.messages.push(event);
        }
        for status in array(value, "statuses") {
            if let Some(s) = read_status(status, account.clone()) {
                events.statuses.push(s);
            }
        }
    }
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn read_message(base: &Base<'_>, m: &Value, account: Option<String>) -> Event {
    let (id, bad_id) = key_for(text(m, "id"), m);
    let from = text(m, "from").map(str::trim).unwrap_or_default();
    let mut message = base.message(id, from);
    let mut flag = bad_id.map(Flag::Invalid);
    if from.is_empty() {
        flag = Some(Flag::Invalid("message without a sender".into()));
    } else if from.bytes().all(|b| b.is_ascii_digit()) {
        // wa_id is the number in international form without the plus.
        message.reporter.phone = Some(format!("+{from}"));
    }
    message.sent_at = text(m, "timestamp").and_then(unix_seconds);
    message.reply_to = m
        .get("context")
        .and_then(|c| text(c, "id"))
        .map(str::to_owned);
    let kind = text(m, "type").unwrap_or_default();
    let body = m.get(kind).unwrap_or(&Value::Null);
    match kind {
        "text" => message.text = text(body, "body").unwrap_or_default().to_owned(),
        k if MEDIA.contains(&k) => match text(body, "id") {
            Some(media_id) => {
                let caption = text(body, "caption").map(str::to_owned);
                message.text = caption.clone().unwrap_or_default();
                message.attachments.push(AttachmentRef {
                    provider_ref: media_id.to_owned(),
                    mime: text(body, "mime_type").map(str::to_owned),
                    filename: text(body, "filename").map(str::to_owned),
                    size: None,
                    sha256: text(body, "sha256").map(str::to_owned),
                    caption,
                });
            }
            None => flag = Some(Flag::Invalid(format!("{k} without a media id"))),
        },
        "location" => {
            let place = join([text(body, "name"), text(body, "address")], ", ");
            let lat = body.get("latitude").and_then(Value::as_f64);
            let lon = body.get("longitude").and_then(Value::as_f64);
            match lat.zip(lon).map(|(lat, lon)| {
                Location::new(lat, lon, Some(place.clone()).filter(|p| !p.is_empty()))
            }) {
                Some(Ok(location)) => message.location = Some(location),
                _ => flag = Some(Flag::Invalid("location without valid coordinates".into())),
            }
            message.text = place;
        }
        "contacts" => message.text = contacts_text(m.get("contacts")),
        "interactive" => {
            let reply = body
                .get("button_reply")
                .or_else(|| body.get("list_reply"))
                .or_else(|| body.get("nfm_reply"));
            message.text = reply.map_or_else(String::new, |r| {
                join([text(r, "title"), text(r, "description")], " — ")
            });
        }
        "button" => message.text = text(body, "text").unwrap_or_default().to_owned(),
        "reaction" => {
            message.text = text(body, "emoji").unwrap_or_default().to_owned();
            message.reply_to = text(body, "message_id").map(str::to_owned);
        }
        "system" => {
            message.text = text(body, "body").unwrap_or_default().to_owned();
            flag = Some(Flag::System);
        }
        "unsupported" => {
            message.text = m
                .get("errors")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
                .map(|e| join([text(e, "title"), text(e, "message")], ": "))
                .unwrap_or_default();
            flag = Some(Flag::Unsupported);
        }
        other => flag = Some(Flag::Unknown(other.to_owned())),
    }
    Event::new(message, account, flag)
}

/// Shared contacts as one line each: name and numbers.
fn contacts_text(contacts: Option<&Value>) -> String {
    let lines: Vec<String> = contacts
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c.get("name").and_then(|n| text(n, "formatted_name"));
            let phones = c
                .get("phones")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| text(p, "phone"))
                .collect::<Vec<_>>()
                .join(", ");
            join([name, Some(phones.as_str())], ": ")
        })
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

fn read_status(s: &Value, account: Option<String>) -> Option<DeliveryStatus> {
    let state = match text(s, "status")? {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "failed" => DeliveryState::Failed,
        _ => return None,
    };
    Some(DeliveryStatus {
        provider_message_id: text(s, "id")?.to_owned(),
        state,
        recipient: text(s, "recipient_id").unwrap_or_default().to_owned(),
        at: text(s, "timestamp")
            .and_then(unix_seconds)
            .unwrap_or_else(Utc::now),
        errors: array(s, "errors")
            .map(|e| {
                let code = e.get("code").and_then(Value::as_i64).unwrap_or_default();
                (code, text(e, "title").unwrap_or_default().to_owned())
            })
            .collect(),
        account,
    })
}

/// Unix seconds, as WhatsApp writes them (a string of digits).
fn unix_seconds(s: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(s.trim().parse().ok()?, 0)
}
