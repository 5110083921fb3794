//! One Bot API update's raw JSON → what the intake stores.
//!
//! Telegram delivers updates one at a time, by webhook or `getUpdates`, and
//! repeats them until they are confirmed, so each carries its own
//! `update_id`. [`parse_update`] reads one with teloxide's
//! [`Update`](teloxide::types::Update) and keeps the exact bytes it was
//! given as the raw payload.
//!
//! What comes out:
//!
//! - A citizen's `message` or `edited_message` in a private chat (in a group
//!   only when groups are allowed) → a [`Parsed::Message`] keyed on
//!   `{chat_id}:{message_id}`. An edit is keyed on
//!   `{chat_id}:{message_id}:e{update_id}` and `replaces` the original.
//! - A `callback_query` (a tap on one of our inline buttons) → a message
//!   carrying [`Control::Button`], keyed on `cb:{id}`.
//! - A message the intake cannot use (a sticker, a poll, a dice, a game) →
//!   still a message, with a `flag`, so it is kept for an admin.
//! - A message whose content teloxide cannot read (it reads those as empty
//!   rather than failing) → a flagged message, with its text and any file
//!   found in the JSON itself.
//! - An update teloxide cannot read at all → a flagged message keyed on
//!   `update:{update_id}`, so nothing is dropped silently.
//! - Everything that is not a citizen writing to us (channel posts,
//!   business-account traffic, membership changes, polls, inline queries,
//!   service messages such as "member joined" or "message pinned", messages
//!   from bots) → [`Parsed::Ignored`] with the reason.

mod message;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channels_core::{ChannelError, ChannelKind, Control, InboundMessage, Reporter, Result};
use serde::Deserialize;
use serde_json::Value;
use teloxide::types::{CallbackQuery, Chat, Message, Update, UpdateKind, User};

/// The content type stored with every raw payload.
pub const RAW_CONTENT_TYPE: &str = "application/json";

/// Why group messages are left out when groups are not allowed.
const GROUPS_OFF: &str = "group message, and groups are not enabled for this channel";

/// What one update comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A message for the intake: a citizen's message, an edit, a button
    /// tap, or something flagged for an admin.
    Message(Box<InboundMessage>),
    /// Nothing for the intake. The update is still confirmed (by the webhook
    /// answer or the next `getUpdates` offset) so Telegram stops sending it.
    Ignored {
        /// The update's id.
        update_id: i64,
        /// Why it is left out, in words for a log line.
        reason: &'static str,
    },
}

impl Parsed {
    /// The message, when there is one.
    pub fn into_message(self) -> Option<InboundMessage> {
        match self {
            Self::Message(m) => Some(*m),
            Self::Ignored { .. } => None,
        }
    }
}

/// The `update_id` of a raw update, when it is JSON with an integer one.
/// For callers that only need the id (to confirm an update they could not
/// store, say).
pub fn update_id(raw: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Head {
        update_id: i64,
    }
    serde_json::from_slice::<Head>(raw)
        .ok()
        .map(|h| h.update_id)
}

/// Reads one update from channel instance `channel_name`, received at
/// `received_at`. Messages in groups and supergroups are read only when
/// `allow_groups`; otherwise they are ignored.
///
/// # Errors
/// [`ChannelError::Malformed`] when `raw` is not a JSON object or has no
/// integer `update_id`: there is nothing to key it on. Any other update,
/// however odd, comes back as a message or as ignored.
pub fn parse_update(
    channel_name: &str,
    raw: &[u8],
    allow_groups: bool,
    received_at: DateTime<Utc>,
) -> Result<Parsed> {
    parse_bytes(
        channel_name,
        &Bytes::copy_from_slice(raw),
        allow_groups,
        received_at,
    )
}

/// [`parse_update`] for a body already held as [`Bytes`]: the raw payload
/// shares it instead of copying.
pub(crate) fn parse_bytes(
    channel_name: &str,
    raw: &Bytes,
    allow_groups: bool,
    received_at: DateTime<Utc>,
) -> Result<Parsed> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| ChannelError::Malformed(format!("a Telegram update must be JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ChannelError::Malformed(
            "a Telegram update must be a JSON object".into(),
        ));
    };
    let update_id = match object.get("update_id") {
        Some(id) => id.as_i64().ok_or_else(|| {
            ChannelError::Malformed("a Telegram update's `update_id` must be an integer".into())
        })?,
        None => {
            return Err(ChannelError::Malformed(
                "a Telegram update must have an `update_id`".into(),
            ));
        }
    };
    let base = Base {
        channel_name,
        raw,
        received_at,
        update_id,
        allow_groups,
        value: &value,
    };
    // teloxide reads an update it does not understand as `UpdateKind::Error`
    // with an empty value (it fills the value in only inside its own
    // `getUpdates`), and fails outright on an `update_id` beyond `u32`; both
    // go to `unreadable`, which works from the JSON itself.
    let update = match serde_json::from_slice::<Update>(raw) {
        Ok(update) => update,
        Err(e) => return Ok(base.unreadable(&value, Some(e.to_string()))),
    };
    Ok(match &update.kind {
        UpdateKind::Message(m) => message::read(&base, m, false),
        UpdateKind::EditedMessage(m) => message::read(&base, m, true),
        UpdateKind::CallbackQuery(q) => base.callback(q),
        UpdateKind::Error(_) => base.unreadable(&value, None),
        other => base.ignored(ignored_kind(kind_name(other)).unwrap_or("unknown update kind")),
    })
}

/// What every message read from one update shares.
struct Base<'a> {
    channel_name: &'a str,
    raw: &'a Bytes,
    received_at: DateTime<Utc>,
    update_id: i64,
    allow_groups: bool,
    /// The whole update as JSON, for what teloxide could not read.
    value: &'a Value,
}

impl Base<'_> {
    fn ignored(&self, reason: &'static str) -> Parsed {
        Parsed::Ignored {
            update_id: self.update_id,
            reason,
        }
    }

    /// An empty message keyed on `id`, from `reporter`.
    fn message(&self, id: String, reporter: Reporter) -> InboundMessage {
        InboundMessage::new(
            ChannelKind::Telegram,
            self.channel_name.to_owned(),
            id,
            reporter,
            self.received_at,
            self.raw.clone(),
            RAW_CONTENT_TYPE.to_owned(),
        )
    }

    /// Why a message in `chat` is left out, if it is.
    fn chat_excluded(&self, chat: &Chat) -> Option<&'static str> {
        if chat.is_channel() {
            Some("channel post")
        } else if !chat.is_private() && !self.allow_groups {
            Some(GROUPS_OFF)
        } else {
            None
        }
    }

    /// A tap on one of our inline buttons.
    fn callback(&self, q: &CallbackQuery) -> Parsed {
        let Some(data) = &q.data else {
            return self.ignored("callback query without data (a game button)");
        };
        if let Some(reason) = q
            .message
            .as_ref()
            .and_then(|m| self.chat_excluded(m.chat()))
        {
            return self.ignored(reason);
        }
        let mut m = self.message(format!("cb:{}", q.id.0), reporter(&q.from));
        m.language = q.from.language_code.clone();
        m.control = Some(Control::Button {
            data: data.clone(),
            callback_id: q.id.0.clone(),
            message_id: q
                .message
                .as_ref()
                .map(|msg| format!("{}:{}", msg.chat().id.0, msg.id().0)),
        });
        Parsed::Message(Box::new(m))
    }

    /// An update teloxide could not read: kept, flagged, with what can be
    /// read from the JSON itself. `error` is teloxide's complaint about the
    /// whole update, when it refused it outright.
    fn unreadable(&self, value: &Value, error: Option<String>) -> Parsed {
        let Some((kind, content)) = value
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| *k != "update_id"))
        else {
            return self.ignored("update with no content");
        };
        if let Some(reason) = ignored_kind(kind) {
            return self.ignored(reason);
        }
        let is_message = matches!(kind.as_str(), "message" | "edited_message");
        if is_message {
            match content.pointer("/chat/type").and_then(Value::as_str) {
                Some("channel") => return self.ignored("channel post"),
                Some("group" | "supergroup") if !self.allow_groups => {
                    return self.ignored(GROUPS_OFF);
                }
                _ => {}
            }
        }
        let from = content.get("from");
        if from.and_then(|f| f.get("is_bot")).and_then(Value::as_bool) == Some(true) {
            return self.ignored("message from a bot");
        }
        let why = error.unwrap_or_else(|| match kind.as_str() {
            "message" | "edited_message" => Message::deserialize(content)
                .err()
                .map_or_else(|| "unreadable".into(), |e| e.to_string()),
            "callback_query" => CallbackQuery::deserialize(content)
                .err()
                .map_or_else(|| "unreadable".into(), |e| e.to_string()),
            _ => "a kind this version does not know".into(),
        });
        let handle = from
            .and_then(|f| f.get("id"))
            .and_then(Value::as_i64)
            .map_or_else(
                || "telegram:unknown".to_owned(),
                |id| format!("telegram:{id}"),
            );
        let name = [str_at(from, "first_name"), str_at(from, "last_name")]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut m = self.message(
            format!("update:{}", self.update_id),
            Reporter {
                handle,
                name: (!name.is_empty()).then_some(name),
                ..Default::default()
            },
        );
        let text = |key: &str| str_at(Some(content), key);
        m.text = text("text")
            .or_else(|| text("caption"))
            .unwrap_or_default()
            .to_owned();
        m.sent_at = content
            .get("date")
            .and_then(Value::as_i64)
            .and_then(|d| DateTime::from_timestamp(d, 0));
        m.language = from
            .and_then(|f| f.get("language_code"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        m.flag = Some(format!("unreadable Telegram update: `{kind}`: {why}"));
        Parsed::Message(Box::new(m))
    }
}

/// A string field of a JSON object, when present and a string.
fn str_at<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a str> {
    value.and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// The reporter for a Telegram user: `telegram:{id}`, named by first and
/// last name, or by username when they have no name.
fn reporter(user: &User) -> Reporter {
    let name = [Some(user.first_name.as_str()), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name = if name.is_empty() {
        user.username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    } else {
        Some(name)
    };
    Reporter {
        handle: format!("telegram:{}", user.id.0),
        name,
        phone: None,
        email: None,
    }
}

/// The update's field name for a kind.
fn kind_name(kind: &UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::EditedMessage(_) => "edited_message",
        UpdateKind::ChannelPost(_) => "channel_post",
        UpdateKind::EditedChannelPost(_) => "edited_channel_post",
        UpdateKind::BusinessConnection(_) => "business_connection",
        UpdateKind::BusinessMessage(_) => "business_message",
        UpdateKind::EditedBusinessMessage(_) => "edited_business_message",
        UpdateKind::DeletedBusinessMessages(_) => "deleted_business_messages",
        UpdateKind::MessageReaction(_) => "message_reaction",
        UpdateKind::MessageReactionCount(_) => "message_reaction_count",
        UpdateKind::InlineQuery(_) => "inline_query",
        UpdateKind::ChosenInlineResult(_) => "chosen_inline_result",
        UpdateKind::CallbackQuery(_) => "callback_query",
        UpdateKind::ShippingQuery(_) => "shipping_query",
        UpdateKind::PreCheckoutQuery(_) => "pre_checkout_query",
        UpdateKind::PurchasedPaidMedia(_) => "purchased_paid_media",
        UpdateKind::Poll(_) => "poll",
        UpdateKind::PollAnswer(_) => "poll_answer",
        UpdateKind::MyChatMember(_) => "my_chat_member",
        UpdateKind::ChatMember(_) => "chat_member",
        UpdateKind::ChatJoinRequest(_) => "chat_join_request",
        UpdateKind::ChatBoost(_) => "chat_boost",
        UpdateKind::RemovedChatBoost(_) => "removed_chat_boost",
        UpdateKind::Error(_) => "error",
    }
}

/// Why an update of kind `name` (its field name) is left out; `None` for
/// the kinds that may carry a citizen's message, and for kinds this version
/// does not know.
fn ignored_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "channel_post" | "edited_channel_post" => "channel post",
        "business_connection"
        | "business_message"
        | "edited_business_message"
        | "deleted_business_messages" => "business account update",
        "message_reaction" | "message_reaction_count" => "reaction",
        "inline_query" | "chosen_inline_result" => "inline query",
        "shipping_query" | "pre_checkout_query" | "purchased_paid_media" => "payment update",
        "poll" | "poll_answer" => "poll update",
        "my_chat_member" => "the bot's membership of a chat changed",
        "chat_member" | "chat_join_request" => "chat membership update",
        "chat_boost" | "removed_chat_boost" => "chat boost",
        _ => return None,
    })
}
