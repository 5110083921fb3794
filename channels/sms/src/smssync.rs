//! The `smssync` provider: Ushahidi's SMSSync Android app (legacy).
//!
//! SMSSync posts each incoming SMS as a form with `from`, `message`,
//! `message_id` (a UUID, from version 2 on), `sent_to`, `secret`,
//! `sent_timestamp` (when the SMS was sent; milliseconds since the epoch,
//! though seconds are accepted too) and `device_id`. The shared secret is
//! the `secret` form field; it is removed from the payload that is stored.
//!
//! The deduplication key is `message_id`. Old versions send none; then it
//! is the hex SHA-256 of `from`, `sent_timestamp` and `message`, each
//! followed by a newline, so a resent SMS gets the same key.
//!
//! SMSSync treats a message as delivered only when the answer is
//! `{"payload":{"success":true,"error":null}}`.

use salur_channels_core::{
    ChannelKind, InboundMessage, IntakeReceipt, PushAnswer, PushChannel, PushRequest, Result,
    Verified,
};
use sha2::{Digest, Sha256};

use crate::form::{self, Fields};
use crate::intake::{self, FORM};
use crate::signature::check_secret;

/// The answer SMSSync expects for a message it may forget.
pub const SUCCESS: &str = r#"{"payload":{"success":true,"error":null}}"#;

/// The SMSSync adapter for one channel instance.
pub struct SmsSync {
    channel_name: String,
    secret: Option<Vec<u8>>,
}

impl SmsSync {
    /// An adapter for `channel_name`. `secret` is the secret key set in the
    /// app; `None` only for a channel configured with `allow_unsigned = true`.
    pub fn new(channel_name: String, secret: Option<Vec<u8>>) -> Self {
        Self {
            channel_name,
            secret,
        }
    }
}

/// The key of a message without `message_id`: hex SHA-256 of the sender,
/// the sent timestamp and the text, each followed by a newline.
pub fn content_key(from: &str, sent_timestamp: &str, message: &str) -> String {
    let mut hash = Sha256::new();
    for part in [from, sent_timestamp, message] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

impl PushChannel for SmsSync {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        if let Some(secret) = &self.secret {
            let fields = Fields::parse(&request.body);
            check_secret(secret, fields.text("secret").as_deref())?;
        }
        Ok(Verified::after_check(request))
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let request = request.get();
        let (fields, raw) =
            intake::form_payload(&request.method, request.query.as_deref(), &request.body)?;
        let from = intake::required(&fields, "from")?;
        let text = intake::required(&fields, "message")?;
        let sent = fields
            .text("sent_timestamp")
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        let id = match fields.text("message_id").filter(|id| !id.trim().is_empty()) {
            Some(id) => intake::provider_id(Some(id.into_owned()), "message_id")?,
            None => content_key(from.trim(), &sent, &text),
        };
        let raw = form::without(&raw, "secret");
        let mut message = intake::message(&self.channel_name, id, &from, text, raw, FORM);
        if !sent.is_empty() {
            let at = intake::epoch_time(&sent, "sent_timestamp")?;
            message.sent_at = Some(at);
            message.received_at = at;
        }
        Ok(vec![message])
    }

    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        intake::ok("application/json", SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_separate_their_parts() {
        // python3 -c "import hashlib; print(hashlib.sha256(
        //     b'+628123\n1700000000000\nhalo\n').hexdigest())"
        assert_eq!(
            content_key("+628123", "1700000000000", "halo"),
            "a57a43cd59e8fa83ca9cfd1208afa42548a24a8849fee62a7c4a6dc0885d7503"
        );
        assert_ne!(content_key("1", "23", "x"), content_key("12", "3", "x"));
    }

    #[test]
    fn the_answer_is_what_smssync_expects() {
        let answer = SmsSync::new("s".into(), None).answer(&[]);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&answer.body).expect("json");
        assert_eq!(body["payload"]["success"], true);
        assert!(body["payload"]["error"].is_null());
    }
}
