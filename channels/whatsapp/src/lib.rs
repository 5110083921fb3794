//! Meta webhooks: the WhatsApp Cloud API, Messenger and Instagram.
//!
//! All three share one handshake (`GET ?hub.mode=subscribe&hub.verify_token=…
//! &hub.challenge=…`) and one signature (`X-Hub-Signature-256: sha256=<hex
//! HMAC-SHA256(app secret, raw body)>`). A `POST` may carry several entries,
//! changes and messages; [`MetaWebhook::parse`] turns every one of them into
//! an [`Event`], and every WhatsApp delivery status into a
//! [`DeliveryStatus`]. A message of a type this crate cannot read (`system`,
//! `unsupported`, or one Meta adds later) still becomes an event, with a
//! [`Flag`], so it is stored for an admin and never holds up the rest of the
//! batch.
//!
//! Each event keeps the whole request body as its raw payload: the batch is
//! what Meta signed, and [`MetaWebhook::parse`] on it finds the message again
//! by its id.

pub mod graph;
mod messaging;
pub mod send;
mod whatsapp;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channels_core::signature::check_sha256_hex;
use salur_channels_core::{ChannelError, ChannelKind, InboundMessage, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The content type stored with every raw payload.
pub const RAW_CONTENT_TYPE: &str = "application/json";

/// Longest provider message id accepted as is; longer ones are replaced by
/// a digest so that a hostile sender cannot bloat the unique index.
const MAX_ID_LEN: usize = 256;

/// The webhook of one configured Meta channel instance.
pub struct MetaWebhook {
    kind: ChannelKind,
    name: String,
    app_secret: Vec<u8>,
    verify_token: String,
}

/// Why a stored message needs an admin's eye instead of normal intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// A WhatsApp `system` message (the user changed number, for example).
    System,
    /// A message WhatsApp itself could not deliver in a readable form.
    Unsupported,
    /// A type this version does not know; the name Meta gave it.
    Unknown(String),
    /// The message lacks something it must have; what.
    Invalid(String),
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System => f.write_str("a WhatsApp system message"),
            Self::Unsupported => f.write_str("a message type the provider could not deliver"),
            Self::Unknown(kind) => write!(f, "an unknown message type `{kind}`"),
            Self::Invalid(why) => write!(f, "an unreadable message: {why}"),
        }
    }
}

/// One message from a citizen.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The message, ready for intake.
    pub message: InboundMessage,
    /// Our account it was sent to: the WhatsApp `phone_number_id`, or the
    /// page or Instagram account id. One app may serve several.
    pub account: Option<String>,
    /// Set when the message cannot go through normal intake; the message's
    /// own `flag` says the same in words, so it is kept with it.
    pub flag: Option<Flag>,
}

impl Event {
    fn new(mut message: InboundMessage, account: Option<String>, flag: Option<Flag>) -> Self {
        message.flag = flag.as_ref().map(ToString::to_string);
        Self {
            message,
            account,
            flag,
        }
    }
}

/// What happened to a message we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Accepted by Meta.
    Sent,
    /// On the citizen's device.
    Delivered,
    /// Opened by the citizen.
    Read,
    /// Not delivered; see the errors.
    Failed,
}

impl DeliveryState {
    /// The state's name, as recorded on our reply.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

/// A status callback for one of our outgoing messages.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStatus {
    /// The provider's id of our message (`wamid.…` or `mid`).
    pub provider_message_id: String,
    /// The new state.
    pub state: DeliveryState,
    /// Who the message was for.
    pub recipient: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Meta's error codes and titles, for a failure.
    pub errors: Vec<(i64, String)>,
    /// Our account that sent it.
    pub account: Option<String>,
}

/// Everything one webhook request carried.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Events {
    /// Messages from citizens, in the order they appear.
    pub messages: Vec<Event>,
    /// Status callbacks for our own messages.
    pub statuses: Vec<DeliveryStatus>,
    /// Copies of our own outgoing messages (`is_echo`), left out.
    pub echoes: usize,
}

#[derive(Deserialize)]
struct Envelope {
    object: Option<String>,
    #[serde(default)]
    entry: Vec<serde_json::Value>,
}

impl MetaWebhook {
    /// The webhook of channel instance `name`, of `kind` WhatsApp, Messenger
    /// or Instagram.
    ///
    /// # Errors
    /// Another kind, or an empty app secret or verify token.
    pub fn new(
        kind: ChannelKind,
        name: String,
        app_secret: Vec<u8>,
        verify_token: String,
    ) -> Result<Self> {
        if !matches!(
            kind,
            ChannelKind::Whatsapp | ChannelKind::Messenger | ChannelKind::Instagram
        ) {
            return Err(invalid("kind", format!("{kind} is not a Meta channel")));
        }
        if app_secret.is_empty() {
            return Err(ChannelError::MissingField("app_secret".into()));
        }
        if verify_token.is_empty() {
            return Err(ChannelError::MissingField("verify_token".into()));
        }
        Ok(Self {
            kind,
            name,
            app_secret,
            verify_token,
        })
    }

    /// The channel kind.
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// Answers Meta's subscription handshake: the challenge to echo back
    /// when `query` carries `hub.mode=subscribe` and our verify token.
    ///
    /// # Errors
    /// [`ChannelError::MissingSignature`] without a token,
    /// [`ChannelError::BadSignature`] with a wrong one or another mode,
    /// [`ChannelError::MissingField`] without a challenge.
    pub fn handshake(&self, query: &str) -> Result<String> {
        let (mut mode, mut token, mut challenge) = (None, None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "hub.mode" => mode = Some(value.into_owned()),
                "hub.verify_token" => token = Some(value.into_owned()),
                "hub.challenge" => challenge = Some(value.into_owned()),
                _ => {}
            }
        }
        salur_channels_core::signature::check_secret(
            self.verify_token.as_bytes(),
            token.as_deref(),
        )?;
        if mode.as_deref() != Some("subscribe") {
            return Err(ChannelError::BadSignature);
        }
        challenge
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ChannelError::MissingField("hub.challenge".into()))
    }

    /// Checks `X-Hub-Signature-256` over the raw body, in constant time.
    /// Meta always sends the `sha256=` prefix; a header without it is
    /// refused.
    ///
    /// # Errors
    /// [`ChannelError::MissingSignature`] or [`ChannelError::BadSignature`].
    pub fn verify(&self, body: &[u8], header: Option<&str>) -> Result<()> {
        match header.map(str::trim) {
            None | Some("") => Err(ChannelError::MissingSignature),
            Some(h) if !h.starts_with("sha256=") => Err(ChannelError::BadSignature),
            Some(h) => check_sha256_hex(&self.app_secret, body, Some(h)),
        }
    }

    /// Reads every message and status of a verified body.
    ///
    /// # Errors
    /// [`ChannelError::Malformed`] when the body is not JSON or not an object
    /// of this channel's kind. A single message that cannot be read does not
    /// fail the batch: it comes back flagged.
    pub fn parse(&self, body: &Bytes, received_at: DateTime<Utc>) -> Result<Events> {
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| ChannelError::Malformed(format!("not a Meta webhook body: {e}")))?;
        let expected = match self.kind {
            ChannelKind::Whatsapp => "whatsapp_business_account",
            ChannelKind::Messenger => "page",
            _ => "instagram",
        };
        match envelope.object.as_deref() {
            Some(object) if object == expected => {}
            Some(other) => {
                return Err(ChannelError::Malformed(format!(
                    "object `{other}` sent to a {} channel (expected `{expected}`)",
                    self.kind
                )));
            }
            None => return Err(ChannelError::MissingField("object".into())),
        }
        let base = Base {
            kind: self.kind,
            name: &self.name,
            raw: body,
            received_at,
        };
        let mut events = Events::default();
        for entry in &envelope.entry {
            match self.kind {
                ChannelKind::Whatsapp => whatsapp::read_entry(&base, entry, &mut events),
                _ => messaging::read_entry(&base, entry, &mut events),
            }
        }
        Ok(events)
    }
}

/// What every message of one request shares.
struct Base<'a> {
    kind: ChannelKind,
    name: &'a str,
    raw: &'a Bytes,
    received_at: DateTime<Utc>,
}

impl Base<'_> {
    /// An empty message from `sender`, keyed on `id`.
    fn message(&self, id: String, sender: &str) -> InboundMessage {
        let reporter = salur_channels_core::Reporter {
            handle: format!("{}:{sender}", self.kind),
            ..Default::default()
        };
        InboundMessage::new(
            self.kind,
            self.name.to_owned(),
            id,
            reporter,
            self.received_at,
            self.raw.clone(),
            RAW_CONTENT_TYPE.to_owned(),
        )
    }
}

/// The provider id to key a message on: its own id when it has a usable
/// one, else a digest of the message's JSON (Meta resends the same JSON, so
/// a retry still finds the first copy). The second value says what was
/// wrong, for the flag.
fn key_for(id: Option<&str>, value: &serde_json::Value) -> (String, Option<String>) {
    match id.map(str::trim) {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_LEN => (id.to_owned(), None),
        Some(id) if !id.is_empty() => (
            digest_key(id.as_bytes()),
            Some(format!("id longer than {MAX_ID_LEN} bytes")),
        ),
        _ => (
            digest_key(value.to_string().as_bytes()),
            Some("message without an id".into()),
        ),
    }
}

fn digest_key(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn invalid(field: &str, reason: String) -> ChannelError {
    ChannelError::InvalidField {
        field: field.into(),
        reason,
    }
}

/// A string field of a JSON object, when present and a string.
fn text<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(serde_json::Value::as_str)
}

/// Joins the present, non-empty pieces with `sep`.
fn join<'a>(pieces: impl IntoIterator<Item = Option<&'a str>>, sep: &str) -> String {
    pieces
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(sep)
}
