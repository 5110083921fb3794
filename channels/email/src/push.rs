//! Mail pushed by a mail server pipe: `POST /webhooks/email/{name}` with the
//! raw RFC 5322 message as the body and `Authorization: Bearer <secret>`.

use chrono::Utc;
use salur_channels_core::signature::check_secret;
use salur_channels_core::{
    ChannelError, ChannelKind, InboundMessage, IntakeReceipt, PushAnswer, PushChannel, PushRequest,
    Result, Verified,
};

use crate::read::MailReader;

/// The push side of one email channel.
pub struct EmailPush {
    reader: MailReader,
    secret: Option<Vec<u8>>,
}

impl EmailPush {
    /// Reads pushed mail with `reader`; `secret` is the bearer token a pipe
    /// must present (`None`: the operator allowed unsigned pushes).
    pub fn new(reader: MailReader, secret: Option<Vec<u8>>) -> Self {
        Self { reader, secret }
    }
}

impl PushChannel for EmailPush {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    /// Checks the bearer token, in constant time.
    ///
    /// # Errors
    /// [`ChannelError::MissingSignature`] without a bearer token,
    /// [`ChannelError::BadSignature`] with a wrong one.
    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        if let Some(secret) = &self.secret {
            let token = request
                .header("authorization")
                .and_then(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("bearer "))
                })
                .map(str::trim);
            check_secret(secret, token)?;
        }
        Ok(Verified::after_check(request))
    }

    /// One message per request; an empty body is refused.
    ///
    /// # Errors
    /// [`ChannelError::Malformed`] for an empty body.
    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let body = &request.get().body;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ChannelError::Malformed(
                "the body is empty: post the raw message (RFC 5322)".into(),
            ));
        }
        Ok(vec![self.reader.read(body, Utc::now())])
    }

    /// `{"message_id", "replay"}` for the stored message.
    fn answer(&self, receipts: &[IntakeReceipt]) -> PushAnswer {
        let body = receipts.first().map_or_else(
            || "{}".to_owned(),
            |r| serde_json::json!({"message_id": r.message_id, "replay": r.replay}).to_string(),
        );
        PushAnswer {
            status: 200,
            content_type: "application/json",
            body,
        }
    }
}
