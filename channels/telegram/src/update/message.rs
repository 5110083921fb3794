//! A `message` or `edited_message`: who wrote, what they wrote, what they
//! attached, and whether it steers the conversation.

use salur_channels_core::{AttachmentRef, Control, InboundMessage, Location};
use serde_json::Value;
use teloxide::types::{
    FileMeta, MediaKind, Message, MessageCommon, MessageEntity, MessageEntityKind, MessageKind,
    User,
};

use super::{Base, Parsed, reporter};

/// How teloxide states an unknown file size.
const NO_SIZE: u32 = u32::MAX;

/// What a message is, for the intake.
enum Kind<'a> {
    /// A citizen's message with content: text, media, a location…
    Common(&'a MessageCommon),
    /// Sent by a citizen, but nothing the intake can use: kept, flagged.
    Unsupported(&'static str),
    /// Content teloxide could not read (it reads such a message as
    /// `MessageKind::Empty` rather than failing): kept, flagged, with what
    /// the JSON itself says.
    Unreadable,
    /// A service message (a member joined, a message was pinned): not a
    /// citizen writing to us, left out with this reason.
    Service(&'static str),
}

/// Reads a message; `edited` for an `edited_message`.
pub(super) fn read(base: &Base<'_>, m: &Message, edited: bool) -> Parsed {
    if let Some(reason) = base.chat_excluded(&m.chat) {
        return base.ignored(reason);
    }
    let Some(from) = &m.from else {
        return base.ignored("message without a sender");
    };
    if from.is_bot {
        return base.ignored("message from a bot");
    }
    let kind = classify(m);
    match kind {
        Kind::Service(reason) => return base.ignored(reason),
        Kind::Common(c) if c.business_connection_id.is_some() => {
            return base.ignored("business account update");
        }
        _ => {}
    }
    let chat = m.chat.id.0;
    let key = format!("{chat}:{}", m.id.0);
    let (id, replaces) = if edited {
        (format!("{key}:e{}", base.update_id), Some(key))
    } else {
        (key, None)
    };
    let mut msg = base.message(id, reporter(from));
    msg.replaces = replaces;
    msg.sent_at = Some(m.date);
    msg.language = from.language_code.clone();
    msg.text = m
        .text()
        .or_else(|| m.caption())
        .unwrap_or_default()
        .to_owned();
    match kind {
        Kind::Common(c) => content(&mut msg, chat, m, c, from),
        Kind::Unsupported(what) => {
            msg.flag = Some(format!("unsupported Telegram message: {what}"));
        }
        Kind::Unreadable => {
            let key = if edited { "edited_message" } else { "message" };
            rescue(&mut msg, base.value.get(key));
        }
        Kind::Service(_) => {}
    }
    Parsed::Message(Box::new(msg))
}

/// Fills in what a message with content carries.
fn content(msg: &mut InboundMessage, chat: i64, m: &Message, c: &MessageCommon, from: &User) {
    if let Some(replied) = &c.reply_to_message {
        msg.reply_to = Some(format!("{chat}:{}", replied.id.0));
    }
    let caption = m.caption().filter(|c| !c.is_empty());
    let attach = |file: &FileMeta, mime: Option<String>, filename: Option<&String>| AttachmentRef {
        provider_ref: file.id.0.clone(),
        mime,
        filename: filename.cloned(),
        size: (file.size != NO_SIZE).then_some(u64::from(file.size)),
        sha256: None,
        caption: caption.map(str::to_owned),
    };
    let unsupported = |what: &str| Some(format!("unsupported Telegram message: {what}"));
    match &c.media_kind {
        MediaKind::Text(t) => msg.control = command(&t.text, &t.entities),
        // The same picture at several sizes: the largest is the one to keep.
        MediaKind::Photo(p) => {
            let largest = p
                .photo
                .iter()
                .max_by_key(|s| u64::from(s.width) * u64::from(s.height));
            if let Some(photo) = largest {
                msg.attachments
                    .push(attach(&photo.file, Some("image/jpeg".into()), None));
            }
        }
        MediaKind::Document(d) => msg.attachments.push(attach(
            &d.document.file,
            d.document.mime_type.as_ref().map(ToString::to_string),
            d.document.file_name.as_ref(),
        )),
        MediaKind::Voice(v) => {
            msg.attachments.push(attach(
                &v.voice.file,
                v.voice.mime_type.as_ref().map(ToString::to_string),
                None,
            ));
        }
        MediaKind::Audio(a) => msg.attachments.push(attach(
            &a.audio.file,
            a.audio.mime_type.as_ref().map(ToString::to_string),
            a.audio.file_name.as_ref(),
        )),
        MediaKind::Video(v) => msg.attachments.push(attach(
            &v.video.file,
            v.video.mime_type.as_ref().map(ToString::to_string),
            v.video.file_name.as_ref(),
        )),
        MediaKind::VideoNote(v) => msg.attachments.push(attach(&v.video_note.file, None, None)),
        MediaKind::Animation(a) => msg.attachments.push(attach(
            &a.animation.file,
            a.animation.mime_type.as_ref().map(ToString::to_string),
            a.animation.file_name.as_ref(),
        )),
        MediaKind::Location(l) => {
            match Location::new(l.location.latitude, l.location.longitude, None) {
                Ok(location) => msg.location = Some(location),
                Err(e) => msg.flag = Some(format!("unreadable Telegram location: {e}")),
            }
        }
        MediaKind::Venue(v) => {
            let place = format!("{}, {}", v.venue.title.trim(), v.venue.address.trim());
            let place = place.trim_matches([',', ' ']).to_owned();
            let address = (!place.is_empty()).then_some(place);
            let l = &v.venue.location;
            match Location::new(l.latitude, l.longitude, address) {
                Ok(location) => msg.location = Some(location),
                Err(e) => msg.flag = Some(format!("unreadable Telegram location: {e}")),
            }
        }
        MediaKind::Contact(mc) => {
            let contact = &mc.contact;
            if contact.user_id == Some(from.id) {
                // Shared through our `request_contact` key: Telegram vouches
                // that the number is the sender's own.
                msg.control = Some(Control::Contact);
                msg.reporter.phone = Some(contact.phone_number.clone());
            } else {
                let name = [
                    Some(contact.first_name.as_str()),
                    contact.last_name.as_deref(),
                ]
                .into_iter()
                .flatten()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
                msg.text = format!("Kontak: {name} {}", contact.phone_number.trim())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
            }
        }
        MediaKind::Sticker(_) => msg.flag = unsupported("sticker"),
        MediaKind::Poll(_) => msg.flag = unsupported("poll"),
        MediaKind::Game(_) => msg.flag = unsupported("game"),
        MediaKind::Story(_) => msg.flag = unsupported("story"),
        MediaKind::PaidMedia(_) => msg.flag = unsupported("paid media"),
        MediaKind::Checklist(_) => msg.flag = unsupported("checklist"),
        // `classify` leaves these out before we get here.
        MediaKind::Migration(_) => {}
    }
}

/// Fields of a message that are not its content.
const ENVELOPE: &[&str] = &[
    "author_signature",
    "business_connection_id",
    "caption",
    "caption_entities",
    "chat",
    "date",
    "edit_date",
    "effect_id",
    "entities",
    "external_reply",
    "forward_origin",
    "from",
    "has_media_spoiler",
    "has_protected_content",
    "is_automatic_forward",
    "is_from_offline",
    "is_topic_message",
    "link_preview_options",
    "media_group_id",
    "message_id",
    "message_thread_id",
    "paid_star_count",
    "quote",
    "reply_markup",
    "reply_to_message",
    "reply_to_story",
    "sender_boost_count",
    "sender_business_bot",
    "sender_chat",
    "show_caption_above_media",
    "text",
    "via_bot",
];

/// What can be read of a message teloxide could not read: its text or
/// caption, and any file in it, under a flag naming its content fields.
fn rescue(msg: &mut InboundMessage, json: Option<&Value>) {
    let Some(fields) = json.and_then(Value::as_object) else {
        msg.flag = Some("unreadable Telegram message".into());
        return;
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    let caption = text("caption").filter(|c| !c.is_empty());
    msg.text = text("text").or(caption).unwrap_or_default().to_owned();
    let content: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|k| !ENVELOPE.contains(k))
        .collect();
    for key in &content {
        let file = &fields[*key];
        let Some(id) = file.get("file_id").and_then(Value::as_str) else {
            continue;
        };
        let stated = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_owned);
        msg.attachments.push(AttachmentRef {
            provider_ref: id.to_owned(),
            mime: stated("mime_type"),
            filename: stated("file_name"),
            size: file.get("file_size").and_then(Value::as_u64),
            sha256: None,
            caption: caption.map(str::to_owned),
        });
    }
    let what = if content.is_empty() {
        "no content".to_owned()
    } else {
        content.join(", ")
    };
    msg.flag = Some(format!("unreadable Telegram message: {what}"));
}

/// A bot command: text starting with `/` whose first entity is a
/// `bot_command` at offset 0. The name is lower-cased, without the slash
/// and without an `@botname` suffix; the arguments are the rest, trimmed.
fn command(text: &str, entities: &[MessageEntity]) -> Option<Control> {
    let first = entities.first()?;
    if first.kind != MessageEntityKind::BotCommand || first.offset != 0 {
        return None;
    }
    let rest = text.strip_prefix('/')?;
    // Entity lengths count UTF-16 code units; a length that does not fall
    // on a character boundary is not trusted, and the command then ends at
    // the first space.
    let end = utf16_to_byte(text, first.length)
        .filter(|&end| end > 1)
        .unwrap_or_else(|| 1 + rest.find(char::is_whitespace).unwrap_or(rest.len()));
    let (token, args) = text.split_at(end);
    let name = token[1..]
        .split('@')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some(Control::Command {
        name,
        args: args.trim().to_owned(),
    })
}

/// The byte offset in `text` after `units` UTF-16 code units, when that
/// falls on a character boundary within the text.
fn utf16_to_byte(text: &str, units: usize) -> Option<usize> {
    let mut counted = 0;
    for (at, c) in text.char_indices() {
        if counted == units {
            return Some(at);
        }
        if counted > units {
            return None;
        }
        counted += c.len_utf16();
    }
    (counted == units).then_some(text.len())
}

/// Sorts a message by what it is for the intake.
fn classify(m: &Message) -> Kind<'_> {
    use MessageKind as K;
    match &m.kind {
        K::Common(c) if matches!(c.media_kind, MediaKind::Migration(_)) => {
            Kind::Service("service message: the group moved to a supergroup")
        }
        K::Common(c) => Kind::Common(c),
        K::Dice(_) => Kind::Unsupported("dice"),
        K::Invoice(_) => Kind::Unsupported("invoice"),
        K::PassportData(_) => Kind::Unsupported("passport data"),
        K::WebAppData(_) => Kind::Unsupported("web app data"),
        K::ChatShared(_) => Kind::Unsupported("shared chat"),
        K::UsersShared(_) => Kind::Unsupported("shared users"),
        K::Giveaway(_) => Kind::Unsupported("giveaway"),
        K::Empty {} => Kind::Unreadable,
        K::NewChatMembers(_) => Kind::Service("service message: members joined"),
        K::LeftChatMember(_) => Kind::Service("service message: a member left"),
        K::NewChatTitle(_) | K::NewChatPhoto(_) | K::DeleteChatPhoto(_) => {
            Kind::Service("service message: the chat's title or photo changed")
        }
        K::GroupChatCreated(_) | K::SupergroupChatCreated(_) | K::ChannelChatCreated(_) => {
            Kind::Service("service message: a chat was created")
        }
        K::MessageAutoDeleteTimerChanged(_) => {
            Kind::Service("service message: the auto-delete timer changed")
        }
        K::Pinned(_) => Kind::Service("service message: a message was pinned"),
        K::SuccessfulPayment(_) | K::RefundedPayment(_) => {
            Kind::Service("service message: a payment")
        }
        K::ConnectedWebsite(_) | K::WriteAccessAllowed(_) => {
            Kind::Service("service message: the bot was allowed to write")
        }
        K::ProximityAlertTriggered(_) => Kind::Service("service message: a proximity alert"),
        K::ChatBoostAdded(_) => Kind::Service("service message: a chat boost"),
        K::ChatBackground(_) => Kind::Service("service message: the chat background changed"),
        K::ChecklistTasksDone(_) | K::ChecklistTasksAdded(_) => {
            Kind::Service("service message: a checklist changed")
        }
        K::DirectMessagePriceChanged(_) | K::PaidMessagePriceChanged(_) => {
            Kind::Service("service message: a price changed")
        }
        K::ForumTopicCreated(_)
        | K::ForumTopicEdited(_)
        | K::ForumTopicClosed(_)
        | K::ForumTopicReopened(_)
        | K::GeneralForumTopicHidden(_)
        | K::GeneralForumTopicUnhidden(_) => {
            Kind::Service("service message: a forum topic changed")
        }
        K::GiveawayCompleted(_) | K::GiveawayCreated(_) | K::GiveawayWinners(_) => {
            Kind::Service("service message: a giveaway")
        }
        K::GiftInfo(_) | K::UniqueGiftInfo(_) => Kind::Service("service message: a gift"),
        K::VideoChatScheduled(_)
        | K::VideoChatStarted(_)
        | K::VideoChatEnded(_)
        | K::VideoChatParticipantsInvited(_) => Kind::Service("service message: a video chat"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(text: &str, length: usize) -> Option<Control> {
        command(
            text,
            &[MessageEntity::new(MessageEntityKind::BotCommand, 0, length)],
        )
    }

    #[test]
    fn commands_are_split_into_name_and_arguments() {
        assert_eq!(
            cmd("/Status@salur_bot  SLR-7K3Q-9XPA ", 17),
            Some(Control::Command {
                name: "status".into(),
                args: "SLR-7K3Q-9XPA".into()
            })
        );
        assert_eq!(
            cmd("/start", 6),
            Some(Control::Command {
                name: "start".into(),
                args: String::new()
            })
        );
        // A length past the end, or inside a character, falls back to the
        // first space.
        assert_eq!(
            cmd("/lapor jalan rusak", 99),
            Some(Control::Command {
                name: "lapor".into(),
                args: "jalan rusak".into()
            })
        );
        assert_eq!(cmd("/", 1), None);
        assert_eq!(command("/start", &[MessageEntity::bold(0, 6)]), None);
        assert_eq!(command("/start", &[]), None);
    }

    #[test]
    fn utf16_offsets_become_byte_offsets() {
        assert_eq!(utf16_to_byte("a\u{1F600}b", 3), Some(5));
        assert_eq!(utf16_to_byte("a\u{1F600}b", 2), None);
        assert_eq!(utf16_to_byte("ab", 2), Some(2));
        assert_eq!(utf16_to_byte("ab", 3), None);
    }
}
