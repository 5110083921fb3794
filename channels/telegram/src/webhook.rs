//! The push side: Telegram calls our webhook with one update per request.
//!
//! `setWebhook` takes a `secret_token` that Telegram repeats in the header
//! `X-Telegram-Bot-Api-Secret-Token` of every call; [`TelegramWebhook`]
//! compares it in constant time (teloxide's own webhook does not). Telegram
//! repeats a call until it gets a 2xx answer, so the service answers only
//! once the update is committed, and keys it on its ids.

use chrono::{DateTime, Utc};
use salur_channels_core::signature::check_secret;
use salur_channels_core::{
    ChannelKind, InboundMessage, IntakeReceipt, PushAnswer, PushChannel, PushRequest, Result,
    Verified,
};

use crate::update::{self, Parsed};

/// The header Telegram repeats the secret token in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// The webhook of one configured Telegram bot.
pub struct TelegramWebhook {
    name: String,
    secret: Option<Vec<u8>>,
    allow_groups: bool,
}

impl std::fmt::Debug for TelegramWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramWebhook")
            .field("name", &self.name)
            .field("signed", &self.secret.is_some())
            .field("allow_groups", &self.allow_groups)
            .finish()
    }
}

impl TelegramWebhook {
    /// The webhook of channel instance `name`. `secret` is the
    /// `secret_token` given to `setWebhook`; `None` means the operator
    /// allowed unsigned requests. Messages in groups are read only when
    /// `allow_groups`.
    pub fn new(name: String, secret: Option<Vec<u8>>, allow_groups: bool) -> Self {
        Self {
            name,
            secret,
            allow_groups,
        }
    }

    /// The channel instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one update, from the webhook or from `getUpdates` (the poller
    /// calls this with each [`crate::RawUpdate`]).
    ///
    /// # Errors
    /// As [`update::parse_update`].
    pub fn parse_raw(&self, raw: &[u8], received_at: DateTime<Utc>) -> Result<Parsed> {
        update::parse_update(&self.name, raw, self.allow_groups, received_at)
    }
}

impl PushChannel for TelegramWebhook {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    /// Checks the secret token header, in constant time.
    ///
    /// # Errors
    /// [`salur_channels_core::ChannelError::MissingSignature`] without the
    /// header, [`salur_channels_core::ChannelError::BadSignature`] with a
    /// wrong one. Without a configured secret every request passes.
    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        if let Some(secret) = &self.secret {
            check_secret(secret, request.header(SECRET_HEADER))?;
        }
        Ok(Verified::after_check(request))
    }

    /// The body is one update: one message, or none when it is ignored.
    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let parsed = update::parse_bytes(
            &self.name,
            &request.get().body,
            self.allow_groups,
            Utc::now(),
        )?;
        Ok(parsed.into_message().into_iter().collect())
    }

    /// Telegram takes any 2xx answer as a confirmation.
    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        PushAnswer {
            status: 200,
            content_type: "application/json",
            body: "{}".into(),
        }
    }
}
