//! The `generic` provider: Salur's own JSON format.
//!
//! `POST /webhooks/sms/{name}` with `{"id","from","to"?,"text","received_at"?}`,
//! signed with `X-Salur-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channels_core::{
    ChannelError, ChannelKind, InboundMessage, IntakeReceipt, PushAnswer, PushChannel, PushRequest,
    Result, Verified,
};
use serde::Deserialize;

use crate::intake::{self, MAX_ID_LEN};
use crate::signature::check_sha256_hex;

/// The generic JSON SMS adapter for one channel instance.
pub struct GenericSms {
    channel_name: String,
    secret: Option<Vec<u8>>,
    signature_header: String,
}

impl GenericSms {
    /// An adapter for `channel_name`. `secret` is `None` only for a channel
    /// configured with `allow_unsigned = true`.
    pub fn new(channel_name: String, secret: Option<Vec<u8>>, signature_header: String) -> Self {
        Self {
            channel_name,
            secret,
            signature_header,
        }
    }
}

/// The wire format. Unknown fields are ignored so gateways may add their own.
#[derive(Deserialize)]
struct Payload {
    id: Option<serde_json::Value>,
    from: Option<String>,
    text: Option<String>,
    received_at: Option<String>,
}

impl PushChannel for GenericSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        if let Some(secret) = &self.secret {
            check_sha256_hex(
                secret,
                &request.body,
                request.header(&self.signature_header),
            )?;
        }
        Ok(Verified::after_check(request))
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let request = request.get();
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ChannelError::Malformed("empty body".into()));
        }
        let payload: Payload = serde_json::from_slice(&request.body).map_err(|e| {
            ChannelError::Malformed(format!(
                "body is not a JSON object ({}, line {} column {})",
                match e.classify() {
                    serde_json::error::Category::Data => "wrong field type",
                    serde_json::error::Category::Eof => "unexpected end",
                    _ => "invalid JSON",
                },
                e.line(),
                e.column()
            ))
        })?;
        let id = match payload.id {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Null) | None => {
                return Err(ChannelError::MissingField("id".into()));
            }
            Some(serde_json::Value::String(_)) => {
                return Err(ChannelError::MissingField("id".into()));
            }
            Some(_) => {
                return Err(ChannelError::InvalidField {
                    field: "id".into(),
                    reason: "must be a string or a number".into(),
                });
            }
        };
        if id.len() > MAX_ID_LEN {
            return Err(intake::invalid(
                "id",
                &format!("longer than {MAX_ID_LEN} bytes"),
            ));
        }
        let from = intake::non_empty(payload.from, "from")?;
        let text = intake::non_empty(payload.text, "text")?;
        let received_at = match payload.received_at {
            None => Utc::now(),
            Some(s) => DateTime::parse_from_rfc3339(&s)
                .map_err(|_| ChannelError::InvalidField {
                    field: "received_at".into(),
                    reason: "not an RFC 3339 timestamp".into(),
                })?
                .with_timezone(&Utc),
        };
        let mut message = intake::message(
            &self.channel_name,
            id,
            &from,
            text,
            Bytes::clone(&request.body),
            intake::JSON,
        );
        message.received_at = received_at;
        Ok(vec![message])
    }

    fn answer(&self, receipts: &[IntakeReceipt]) -> PushAnswer {
        /// The answer body; fields in alphabetical order.
        #[derive(serde::Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            complaint_id: Option<Option<&'a str>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            message_id: Option<&'a str>,
            status: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            tracking_code: Option<Option<&'a str>>,
        }
        let body = match receipts.first() {
            Some(r) => Body {
                complaint_id: Some(r.complaint_id.as_deref()),
                message_id: Some(&r.message_id),
                status: if r.replay { "duplicate" } else { "accepted" },
                tracking_code: Some(r.tracking_code.as_deref()),
            },
            None => Body {
                complaint_id: None,
                message_id: None,
                status: "accepted",
                tracking_code: None,
            },
        };
        PushAnswer {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_string(&body)
                .unwrap_or_else(|_| r#"{"status":"accepted"}"#.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_names_the_stored_message_and_shows_unknowns_as_null() {
        let sms = GenericSms::new("sms".into(), None, "x-salur-signature".into());
        let fresh = IntakeReceipt {
            message_id: "msg_1".into(),
            complaint_id: None,
            tracking_code: None,
            replay: false,
        };
        let answer = sms.answer(std::slice::from_ref(&fresh));
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body,
            r#"{"complaint_id":null,"message_id":"msg_1","status":"accepted","tracking_code":null}"#
        );
        let replay = IntakeReceipt {
            complaint_id: Some("cmp_1".into()),
            tracking_code: Some("SLR-AAAA-BBBB".into()),
            replay: true,
            ..fresh
        };
        let body: serde_json::Value =
            serde_json::from_str(&sms.answer(&[replay]).body).expect("json");
        assert_eq!(body["status"], "duplicate");
        assert_eq!(body["tracking_code"], "SLR-AAAA-BBBB");
        assert_eq!(sms.answer(&[]).body, r#"{"status":"accepted"}"#);
    }
}
