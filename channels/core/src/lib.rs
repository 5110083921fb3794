//! The adapter contract between Salur and its channel crates.
//!
//! A channel crate is a protocol adapter. It turns a provider's bytes into
//! [`InboundMessage`]s and an [`OutboundReply`] into a provider call. It knows
//! nothing of the database or the queue, so it can be tested alone against
//! recorded payloads.
//!
//! Two shapes of intake exist:
//! - [`PushChannel`]: the provider calls our webhook. The request must pass
//!   [`PushChannel::verify`] before it can be parsed: parsing takes a
//!   [`Verified`] request, which only a verifier hands out.
//! - [`PollChannel`]: we fetch from the provider (IMAP, Telegram long polling)
//!   and confirm a checkpoint only after the messages are committed.

pub mod media;
pub mod signature;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A boxed, sendable future, used where adapters are held as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Result alias for channel adapters.
pub type Result<T, E = ChannelError> = std::result::Result<T, E>;

/// The kind of channel a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// WhatsApp Cloud API.
    Whatsapp,
    /// Facebook Messenger.
    Messenger,
    /// Instagram direct messages.
    Instagram,
    /// A Telegram bot.
    Telegram,
    /// SMS, through any provider.
    Sms,
    /// Email, pushed or polled.
    Email,
    /// A web form.
    Web,
    /// Entered by an admin or posted by another system through the API.
    Manual,
}

impl ChannelKind {
    /// The lower-case name used in records, handles and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
            Self::Telegram => "telegram",
            Self::Sms => "sms",
            Self::Email => "email",
            Self::Web => "web",
            Self::Manual => "manual",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "whatsapp" => Self::Whatsapp,
            "messenger" => Self::Messenger,
            "instagram" => Self::Instagram,
            "telegram" => Self::Telegram,
            "sms" => Self::Sms,
            "email" => Self::Email,
            "web" => Self::Web,
            "manual" => Self::Manual,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sent a message, as the provider describes them. Values are raw: the
/// service normalises phone numbers and emails.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reporter {
    /// Stable per-channel identity, e.g. `sms:+6281234567890`, `telegram:123`.
    pub handle: String,
    /// Display name, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number as the provider wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email address as the provider wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A file the provider holds for us; fetched after the message is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// The provider's reference (media id, file id, URL).
    pub provider_ref: String,
    /// MIME type, when known.
    pub mime: Option<String>,
    /// Original file name, when known.
    pub filename: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Hex sha256 the provider states, when it states one.
    pub sha256: Option<String>,
    /// Caption sent with the file.
    pub caption: Option<String>,
}

/// A point on the map, with an optional address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Address or place name, when given.
    pub address: Option<String>,
}

impl Location {
    /// Builds a location after checking the coordinate ranges.
    ///
    /// # Errors
    /// [`ChannelError::Malformed`] when a coordinate is out of range or not finite.
    pub fn new(lat: f64, lon: f64, address: Option<String>) -> Result<Self> {
        let valid = lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon);
        if !valid {
            return Err(ChannelError::Malformed("location out of range".into()));
        }
        Ok(Self { lat, lon, address })
    }
}

/// One piece of a long message that the provider delivers as separate
/// requests (Vonage's `concat-ref`, `concat-part`, `concat-total`). The
/// intake keeps each piece as its own stored message and joins their texts,
/// in order, once all have arrived or a timeout has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePart {
    /// Names the long message; unique per sender, not globally.
    pub group: String,
    /// This piece's position, from 1.
    pub index: u16,
    /// How many pieces the long message has.
    pub total: u16,
}

impl MessagePart {
    /// Builds a part after checking that `index` lies within `1..=total`.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`] when it does not, or when `group` is empty.
    pub fn new(group: String, index: u16, total: u16) -> Result<Self> {
        if group.trim().is_empty() {
            return Err(ChannelError::InvalidField {
                field: "concat-ref".into(),
                reason: "is empty".into(),
            });
        }
        if total == 0 || index == 0 || index > total {
            return Err(ChannelError::InvalidField {
                field: "concat-part".into(),
                reason: format!("part {index} of {total} is out of range"),
            });
        }
        Ok(Self {
            group,
            index,
            total,
        })
    }
}

/// One message from a citizen, as every channel delivers it to the intake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The channel kind.
    pub channel: ChannelKind,
    /// The configured channel instance's name.
    pub channel_name: String,
    /// The provider's id for this message: the idempotency key within the instance.
    pub provider_message_id: String,
    /// The sender.
    pub reporter: Reporter,
    /// When the sender sent it, if the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When the provider or we received it.
    pub received_at: DateTime<Utc>,
    /// The text, as sent (normalised later).
    pub text: String,
    /// Files sent with the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    /// A location shared with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// What this message replies to: a provider message id of ours, or a tracking code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Set when the message is one piece of a longer one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<MessagePart>,
    /// Why the message cannot go through normal intake (a type the channel
    /// cannot read, a missing id): it is stored and kept for an admin, and
    /// opens no complaint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Set when the message steers the conversation (a bot command, a
    /// button tap, a shared contact) instead of adding to a complaint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    /// Set when the message is a new version of an earlier one (an edit):
    /// the earlier message's provider id. Its text takes the earlier text's
    /// place; both stay stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The sender's language as their app reports it (`id`, `en-US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The subject line, on channels that have one (email); the
    /// complaint's title comes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Earlier messages this one follows up besides `reply_to` (email's
    /// `References`), nearest first: the first that is one of ours links
    /// the message to that complaint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Who passed the message on, when `reporter` is the original sender of
    /// a forwarded message (an agency forwarding a citizen's mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<Reporter>,
    /// Why no automatic answer may go to the sender (auto-submitted mail,
    /// a list, a null sender, ourselves). The message is taken as usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_reply: Option<String>,
    /// Why the message is kept but opens no complaint and needs no admin
    /// (an out-of-office answer, list mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Set when the message reports that one of ours could not be
    /// delivered; it opens no complaint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<Bounce>,
    /// The raw payload bytes, kept so the message can be re-normalised.
    #[serde(skip)]
    pub raw: Bytes,
    /// The raw payload's content type.
    pub raw_content_type: String,
}

impl InboundMessage {
    /// A message with only what every message has: where it came from, its
    /// id, its sender, when it arrived and its raw payload. The text is
    /// empty and every optional part unset; the channel fills in the rest.
    pub fn new(
        channel: ChannelKind,
        channel_name: String,
        provider_message_id: String,
        reporter: Reporter,
        received_at: DateTime<Utc>,
        raw: Bytes,
        raw_content_type: String,
    ) -> Self {
        Self {
            channel,
            channel_name,
            provider_message_id,
            reporter,
            sent_at: None,
            received_at,
            text: String::new(),
            attachments: Vec::new(),
            location: None,
            reply_to: None,
            part: None,
            flag: None,
            control: None,
            replaces: None,
            language: None,
            subject: None,
            references: Vec::new(),
            forwarded_by: None,
            no_reply: None,
            ignore: None,
            bounce: None,
            raw,
            raw_content_type,
        }
    }
}

/// A report that a message of ours could not be delivered (an email
/// delivery status notification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounce {
    /// The provider id of our message that bounced (its `Message-ID`).
    pub of: String,
    /// What the receiving side said (status and diagnostic).
    pub reason: String,
}

/// A message that steers a guided conversation rather than adding to the
/// complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// A bot command such as `/status SLR-7K3Q-9XPA`: its name in lower
    /// case without the slash, and the text after it.
    Command {
        /// `status`.
        name: String,
        /// `SLR-7K3Q-9XPA`.
        args: String,
    },
    /// A tap on a button under one of our messages.
    Button {
        /// The button's data, as we set it.
        data: String,
        /// The provider's id for the tap, which an answer acknowledges.
        callback_id: String,
        /// The provider id of our message that carried the button.
        message_id: Option<String>,
    },
    /// The citizen shared their own contact through the provider's
    /// button, so `reporter.phone` is a number the provider vouches for.
    Contact,
}

/// Buttons offered with a reply, on channels that show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Buttons {
    /// Buttons under the message; a tap comes back as [`Control::Button`]
    /// with the choice's `data`.
    Inline {
        /// Rows of choices.
        rows: Vec<Vec<Choice>>,
    },
    /// Buttons in place of the keyboard, hidden after one use; a tap sends
    /// the label as text, or the location or contact it asks for.
    Keyboard {
        /// Rows of keys.
        rows: Vec<Vec<Key>>,
    },
    /// Hides a keyboard shown earlier.
    Remove,
}

/// A button under a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What the button says.
    pub label: String,
    /// What a tap sends back.
    pub data: String,
}

/// A keyboard key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// What the key says, and the text a tap sends.
    pub label: String,
    /// What the key asks the app to share instead of its label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<KeyRequest>,
}

/// What a keyboard key asks the citizen's app to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRequest {
    /// The current location.
    Location,
    /// The citizen's own phone number.
    Contact,
}

/// How a reply is shown, beyond its text, on channels that can.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    /// Buttons to offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Buttons>,
    /// Replace the text (and inline buttons) of our earlier message with
    /// this provider id instead of sending a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_of: Option<String>,
    /// The button tap this reply answers, acknowledged first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
}

impl Presentation {
    /// Whether nothing beyond the text is asked for.
    pub fn is_plain(&self) -> bool {
        self == &Self::default()
    }
}

/// What a reply is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// The first answer, with the tracking code.
    Acknowledgement,
    /// A later notice that the complaint's status changed.
    StatusNotice,
    /// A step of a guided conversation: a question, a summary, the answer
    /// to a command.
    Prompt,
}

/// A message from us to a citizen, sent through the channel they used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundReply {
    /// The channel instance to send through.
    pub channel_name: String,
    /// The recipient's handle on that channel.
    pub to: String,
    /// The text to send.
    pub text: String,
    /// The provider message id this answers, when the channel threads replies.
    pub in_reply_to: Option<String>,
    /// The complaint's tracking code.
    pub tracking_code: Option<String>,
    /// Why we send it.
    pub kind: ReplyKind,
    /// When the citizen last wrote to us on this channel, when known:
    /// channels that only allow free text for a while after that (WhatsApp's
    /// 24 hours) choose how to send by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The provider said the reply window had closed (WhatsApp 131047 on
    /// an earlier try), whatever `last_inbound_at` suggests.
    #[serde(default)]
    pub window_closed: bool,
    /// Buttons, edits and tap answers, for channels that show them.
    #[serde(default, skip_serializing_if = "Presentation::is_plain")]
    pub presentation: Presentation,
}

/// What the provider answered when a reply was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReceipt {
    /// The provider's id for the sent message, when it gives one.
    pub provider_message_id: Option<String>,
}

/// Errors a channel adapter reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The signature header is missing.
    #[error("missing signature")]
    MissingSignature,
    /// The signature does not match the body.
    #[error("invalid signature")]
    BadSignature,
    /// The request is outside the accepted time window (a replay).
    #[error("request timestamp outside the accepted window")]
    Stale,
    /// The payload could not be read.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A required field is absent or empty.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field has a value that is not allowed.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// The field's name.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// The provider call failed but may succeed later.
    #[error("temporary provider failure: {0}")]
    Transient(String),
    /// The provider asked us to wait this long before the next call.
    #[error("rate limited by the provider; retry after {}s", .0.as_secs())]
    RetryAfter(std::time::Duration),
    /// The provider call failed and will fail again.
    #[error("provider refused: {0}")]
    Permanent(String),
}

impl ChannelError {
    /// Whether this error means the caller could not prove who it is.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Self::MissingSignature | Self::BadSignature | Self::Stale
        )
    }
}

/// An HTTP request to a webhook, reduced to what adapters need.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The full public URL the provider called (scheme, host, path, query).
    pub url: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
}

impl PushRequest {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A value whose origin has been checked. Only a verifier creates one, so a
/// parser that takes `Verified<T>` cannot be handed unchecked input.
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Marks `inner` as checked. Call this only at the end of a successful
    /// signature or secret check, or for a channel that the operator
    /// configured with `allow_unsigned = true`.
    pub fn after_check(inner: T) -> Self {
        Self(inner)
    }

    /// The checked value.
    pub fn get(&self) -> &T {
        &self.0
    }
}

/// The answer a push adapter wants the provider to get after a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The content type of `body`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// What the intake did with one message, for the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntakeReceipt {
    /// Our id for the stored message.
    pub message_id: String,
    /// The complaint the message joined, when it joined one.
    pub complaint_id: Option<String>,
    /// The tracking code to give the citizen: the first complaint's code
    /// when this one duplicates it.
    pub tracking_code: Option<String>,
    /// `true` when the message had been stored before (a transport replay).
    pub replay: bool,
}

/// A channel the provider calls (a webhook).
pub trait PushChannel: Send + Sync {
    /// The channel kind this adapter produces.
    fn kind(&self) -> ChannelKind;

    /// Checks that the request comes from the provider.
    ///
    /// # Errors
    /// An auth error ([`ChannelError::is_auth`]) when it does not.
    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>>;

    /// Turns a verified request into messages. One request may carry several.
    ///
    /// # Errors
    /// [`ChannelError::Malformed`], [`ChannelError::MissingField`] or
    /// [`ChannelError::InvalidField`] when the payload cannot be read.
    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>>;

    /// The answer the provider expects once the messages are committed,
    /// with one receipt per parsed message, in order.
    fn answer(&self, receipts: &[IntakeReceipt]) -> PushAnswer;
}

/// A batch fetched by a poller, with the checkpoint that confirms it.
#[derive(Debug, Clone)]
pub struct PollBatch {
    /// The messages fetched.
    pub messages: Vec<InboundMessage>,
    /// The checkpoint to store once the messages are committed.
    pub checkpoint: String,
}

/// A channel we fetch from. The caller commits the batch's messages, then
/// stores the batch's checkpoint, then calls `poll` again with it.
pub trait PollChannel: Send {
    /// Fetches messages after `checkpoint` (from the start when `None`).
    /// Waits for new messages when there are none.
    ///
    /// # Errors
    /// [`ChannelError::Transient`] on connection problems.
    fn poll<'a>(&'a mut self, checkpoint: Option<&'a str>) -> BoxFuture<'a, Result<PollBatch>>;
}

/// A channel that can send a reply back to the citizen.
pub trait ReplySender: Send + Sync {
    /// Sends one reply.
    ///
    /// # Errors
    /// [`ChannelError::Transient`] when a retry may succeed,
    /// [`ChannelError::Permanent`] when it will not.
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in [
            ChannelKind::Whatsapp,
            ChannelKind::Messenger,
            ChannelKind::Instagram,
            ChannelKind::Telegram,
            ChannelKind::Sms,
            ChannelKind::Email,
            ChannelKind::Web,
            ChannelKind::Manual,
        ] {
            assert_eq!(ChannelKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChannelKind::parse("fax"), None);
    }

    #[test]
    fn location_ranges_are_checked() {
        assert!(Location::new(-6.2, 106.8, None).is_ok());
        assert!(Location::new(91.0, 0.0, None).is_err());
        assert!(Location::new(0.0, 181.0, None).is_err());
        assert!(Location::new(f64::NAN, 0.0, None).is_err());
    }

    #[test]
    fn part_positions_are_checked() {
        assert!(MessagePart::new("7".into(), 1, 2).is_ok());
        assert!(MessagePart::new("7".into(), 2, 2).is_ok());
        assert!(MessagePart::new("7".into(), 0, 2).is_err());
        assert!(MessagePart::new("7".into(), 3, 2).is_err());
        assert!(MessagePart::new(" ".into(), 1, 2).is_err());
    }

    #[test]
    fn headers_are_case_insensitive() {
        let r = PushRequest {
            headers: vec![("x-salur-signature".into(), "sha256=ab".into())],
            ..Default::default()
        };
        assert_eq!(r.header("X-Salur-Signature"), Some("sha256=ab"));
        assert_eq!(r.header("x-other"), None);
    }
}
