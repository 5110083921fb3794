//! Replies to citizens: `sendMessage`, `editMessageText` and
//! `answerCallbackQuery`.
//!
//! A reply answers a button tap first (so the citizen's app stops its
//! spinner), then edits our earlier message when asked to, else sends a new
//! one with the buttons asked for. Texts are sent as plain text: no
//! `parse_mode`, so nothing in a citizen's words can break the formatting.

use salur_channels_core::{
    BoxFuture, Buttons, ChannelError, Choice, Key, KeyRequest, OutboundReply, ReplySender, Result,
    SentReceipt,
};
use teloxide::payloads::{EditMessageTextSetters as _, SendMessageSetters as _};
use teloxide::requests::Requester as _;
use teloxide::types::{
    ButtonRequest, CallbackQueryId, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    KeyboardButton, KeyboardMarkup, KeyboardRemove, MessageId, ReplyMarkup,
};
use teloxide::{ApiError as Tg, RequestError};

use super::BotApi;

/// Telegram's limit on a button's callback data, in bytes.
const MAX_CALLBACK_DATA: usize = 64;

/// Sends replies as one bot.
#[derive(Debug, Clone)]
pub struct TelegramSender {
    api: BotApi,
}

/// What became of an attempted edit.
enum Edit {
    /// Edited, or already showing this text: our message's id.
    Done(i32),
    /// The message cannot be edited (gone, too old): send a new one.
    SendInstead,
}

impl TelegramSender {
    /// A sender through `api`.
    pub fn new(api: BotApi) -> Self {
        Self { api }
    }

    async fn send_reply(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let chat = reply
            .to
            .strip_prefix("telegram:")
            .and_then(|id| id.parse::<i64>().ok())
            .ok_or_else(|| {
                ChannelError::Permanent("not a Telegram handle (telegram:<chat id>)".into())
            })?;
        let p = &reply.presentation;
        if let Some(id) = &p.callback_id {
            // The tap may have expired (Telegram allows about 15 seconds to
            // answer); the reply itself still goes out.
            let _ = self
                .api
                .bot
                .answer_callback_query(CallbackQueryId(id.clone()))
                .await;
        }
        // `editMessageText` takes inline buttons only: a reply that brings a
        // keyboard, or removes one, is sent as a new message.
        let editable = !matches!(p.buttons, Some(Buttons::Keyboard { .. } | Buttons::Remove));
        let target = p
            .edit_of
            .as_deref()
            .and_then(message_ref)
            .filter(|&(of_chat, _)| of_chat == chat && editable);
        if let Some((_, message_id)) = target
            && let Edit::Done(id) = self.edit(chat, message_id, reply).await?
        {
            return Ok(receipt(chat, id));
        }
        let mut request = self.api.bot.send_message(ChatId(chat), &reply.text);
        if let Some(buttons) = &p.buttons {
            request = request.reply_markup(markup(buttons)?);
        }
        let sent = request.await.map_err(|e| self.error(e))?;
        Ok(receipt(chat, sent.id.0))
    }

    async fn edit(&self, chat: i64, message_id: i32, reply: &OutboundReply) -> Result<Edit> {
        let mut request =
            self.api
                .bot
                .edit_message_text(ChatId(chat), MessageId(message_id), &reply.text);
        if let Some(Buttons::Inline { rows }) = &reply.presentation.buttons {
            request = request.reply_markup(inline(rows)?);
        }
        match request.await {
            Ok(edited) => Ok(Edit::Done(edited.id.0)),
            Err(e) if said(&e, &[Tg::MessageNotModified], "message is not modified") => {
                Ok(Edit::Done(message_id))
            }
            Err(e)
                if said(
                    &e,
                    &[
                        Tg::MessageToEditNotFound,
                        Tg::MessageCantBeEdited,
                        Tg::MessageIdInvalid,
                    ],
                    "message to edit not found",
                ) || said(&e, &[], "message can't be edited") =>
            {
                Ok(Edit::SendInstead)
            }
            Err(e) => Err(self.error(e)),
        }
    }

    fn error(&self, e: RequestError) -> ChannelError {
        self.api.request_error(e).into()
    }
}

impl ReplySender for TelegramSender {
    /// Sends one reply to `telegram:<chat id>`.
    ///
    /// # Errors
    /// [`ChannelError::RetryAfter`] for flood control, [`ChannelError::Transient`] for
    /// network errors and server errors; [`ChannelError::Permanent`], in
    /// Telegram's words, when the citizen blocked the bot, deleted their
    /// account, or Telegram refused the request otherwise.
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.send_reply(reply))
    }
}

/// Whether Telegram answered one of `known`, or a description (that
/// teloxide did not know) containing `words`.
fn said(e: &RequestError, known: &[Tg], words: &str) -> bool {
    match e {
        RequestError::Api(Tg::Unknown(description)) => description.contains(words),
        RequestError::Api(api) => known.contains(api),
        _ => false,
    }
}

/// `{chat}:{message_id}`, as this crate keys messages.
fn message_ref(id: &str) -> Option<(i64, i32)> {
    let (chat, message) = id.split_once(':')?;
    Some((chat.parse().ok()?, message.parse().ok()?))
}

fn receipt(chat: i64, message_id: i32) -> SentReceipt {
    SentReceipt {
        provider_message_id: Some(format!("{chat}:{message_id}")),
    }
}

fn markup(buttons: &Buttons) -> Result<ReplyMarkup> {
    Ok(match buttons {
        Buttons::Inline { rows } => ReplyMarkup::InlineKeyboard(inline(rows)?),
        Buttons::Keyboard { rows } => ReplyMarkup::Keyboard(
            KeyboardMarkup::new(rows.iter().map(|row| row.iter().map(key)))
                .resize_keyboard()
                .one_time_keyboard(),
        ),
        Buttons::Remove => ReplyMarkup::KeyboardRemove(KeyboardRemove::new()),
    })
}

/// Callback buttons; refused here rather than by Telegram when a button's
/// data does not fit.
fn inline(rows: &[Vec<Choice>]) -> Result<InlineKeyboardMarkup> {
    if let Some(c) = rows
        .iter()
        .flatten()
        .find(|c| c.data.is_empty() || c.data.len() > MAX_CALLBACK_DATA)
    {
        return Err(ChannelError::Permanent(format!(
            "button `{}`: callback data must be 1 to {MAX_CALLBACK_DATA} bytes",
            c.label
        )));
    }
    Ok(InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|c| InlineKeyboardButton::callback(&c.label, &c.data))
    })))
}

fn key(k: &Key) -> KeyboardButton {
    let button = KeyboardButton::new(&k.label);
    match k.request {
        Some(KeyRequest::Location) => button.request(ButtonRequest::Location),
        Some(KeyRequest::Contact) => button.request(ButtonRequest::Contact),
        None => button,
    }
}
