//! The `africastalking` provider: Africa's Talking incoming-message callbacks.
//!
//! Africa's Talking posts each incoming SMS as a form with `from`, `to`,
//! `text`, `date`, `id`, `linkId` (and `networkCode`). `date` is ISO 8601
//! in UTC (`2017-05-03T06:04:45Z`); the form `2017-05-03 06:04:45` is read as
//! UTC too.
//!
//! The provider signs nothing. The operator registers the callback URL with
//! a `secret` query parameter, e.g.
//! `https://aduan.example.go.id/webhooks/sms/NAME?secret=S`, and every
//! request must repeat it. The stored payload is the form body, which does
//! not hold the secret.
//!
//! The answer is 200 with an empty body.

use salur_channels_core::{
    ChannelKind, InboundMessage, IntakeReceipt, PushAnswer, PushChannel, PushRequest, Result,
    Verified,
};

use crate::form::{self, Fields};
use crate::intake::{self, FORM};
use crate::signature::check_secret;

/// The Africa's Talking SMS adapter for one channel instance.
pub struct AfricasTalkingSms {
    channel_name: String,
    secret: Option<Vec<u8>>,
}

impl AfricasTalkingSms {
    /// An adapter for `channel_name`. `secret` is the value of the `secret`
    /// query parameter in the registered callback URL; `None` only for a
    /// channel configured with `allow_unsigned = true`.
    pub fn new(channel_name: String, secret: Option<Vec<u8>>) -> Self {
        Self {
            channel_name,
            secret,
        }
    }
}

impl PushChannel for AfricasTalkingSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        if let Some(secret) = &self.secret {
            let query = Fields::parse(request.query.as_deref().unwrap_or_default().as_bytes());
            check_secret(secret, query.text("secret").as_deref())?;
        }
        Ok(Verified::after_check(request))
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let request = request.get();
        let (fields, raw) =
            intake::form_payload(&request.method, request.query.as_deref(), &request.body)?;
        // A callback by GET would carry the secret among the fields.
        let raw = form::without(&raw, "secret");
        let id = intake::provider_id(fields.text("id").map(Into::into), "id")?;
        let from = intake::required(&fields, "from")?;
        let text = intake::required(&fields, "text")?;
        let mut message = intake::message(&self.channel_name, id, &from, text, raw, FORM);
        if let Some(date) = fields.text("date").filter(|d| !d.trim().is_empty()) {
            message.received_at = intake::utc_time(&date, "date")?;
        }
        Ok(vec![message])
    }

    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        intake::ok("text/plain", "")
    }
}
