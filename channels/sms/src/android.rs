//! The `android` provider: webhooks of the capcom6 "SMS Gateway for
//! Android" app (local, cloud or private server mode).
//!
//! The app posts one JSON event per request:
//! `{"id","webhookId","event","deviceId","payload":{…}}`. For
//! `sms:received` the payload holds `messageId`, `message`, `sender` (the
//! citizen's number; before app version 1.54 it was `phoneNumber`, which
//! newer versions still send as a deprecated copy), `recipient`,
//! `simNumber` and `receivedAt` (ISO 8601 with the phone's offset). Other
//! events (`sms:sent`, `sms:delivered`, `sms:failed`, `system:ping`,
//! `mms:received`, …) are verified and answered but make no message.
//!
//! **The deduplication key is the event `id`.** `payload.messageId` is a
//! 32-bit hash of the content and collides. The app gives each event its
//! `id` once and retries it (15 times by default, backing off over about
//! two days) under that same `id`.
//!
//! Signature: `X-Signature` is the hex HMAC-SHA256, under the signing key
//! shown in the app, of the raw body followed by the `X-Timestamp` header
//! (unix seconds). The app stamps each attempt afresh, so a narrow window
//! ([`DEFAULT_MAX_SKEW`], the five minutes the app's documentation
//! suggests) refuses replays without refusing retries.
//!
//! The answer is 200 with an empty body.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channels_core::{
    ChannelError, ChannelKind, InboundMessage, IntakeReceipt, PushAnswer, PushChannel, PushRequest,
    Result, Verified,
};
use serde::Deserialize;
use sha2::Sha256;

use crate::intake::{self, JSON};
use crate::signature::{check_fresh, check_hex, hmac_bytes, signed_timestamp};

/// The window the app's documentation suggests: five minutes either way.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// The event that carries an incoming SMS.
const SMS_RECEIVED: &str = "sms:received";

/// The capcom6 SMS Gateway adapter for one channel instance.
pub struct AndroidSms {
    channel_name: String,
    signing_key: Option<Vec<u8>>,
    max_skew: Duration,
}

impl AndroidSms {
    /// An adapter for `channel_name`.
    ///
    /// - `secret`: the app's webhook signing key (Settings → Webhooks →
    ///   Signing Key); `None` only for a channel configured with
    ///   `allow_unsigned = true`.
    /// - `max_skew`: how far `X-Timestamp` may be from now
    ///   ([`DEFAULT_MAX_SKEW`] is the documented choice).
    pub fn new(channel_name: String, secret: Option<Vec<u8>>, max_skew: Duration) -> Self {
        Self {
            channel_name,
            signing_key: secret,
            max_skew,
        }
    }

    /// [`PushChannel::verify`] against the clock reading `now`.
    ///
    /// # Errors
    /// [`ChannelError::MissingSignature`] without `X-Signature` or
    /// `X-Timestamp`, [`ChannelError::BadSignature`] when the signature does
    /// not match, [`ChannelError::Stale`] when the timestamp is outside the
    /// window.
    pub fn verify_at(
        &self,
        request: PushRequest,
        now: DateTime<Utc>,
    ) -> Result<Verified<PushRequest>> {
        let Some(key) = &self.signing_key else {
            return Ok(Verified::after_check(request));
        };
        let given = request
            .header("x-signature")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ChannelError::MissingSignature)?;
        let stamp = request
            .header("x-timestamp")
            .ok_or(ChannelError::MissingSignature)?;
        check_hex(given, &signature_bytes(key, &request.body, stamp))?;
        check_fresh(signed_timestamp(Some(stamp))?, now, self.max_skew)?;
        Ok(Verified::after_check(request))
    }
}

/// The `X-Signature` value for `body` sent with `X-Timestamp: timestamp`:
/// hex HMAC-SHA256 under `key` of the body bytes followed by the timestamp.
pub fn signature(key: &[u8], body: &[u8], timestamp: &str) -> String {
    hex::encode(signature_bytes(key, body, timestamp))
}

fn signature_bytes(key: &[u8], body: &[u8], timestamp: &str) -> Vec<u8> {
    hmac_bytes::<Sha256>(key, &[body, timestamp.as_bytes()])
}

/// The event envelope. Unknown fields are ignored.
#[derive(Deserialize)]
struct Event {
    id: Option<String>,
    payload: Option<Received>,
}

/// The `sms:received` payload, old and new field names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Received {
    sender: Option<String>,
    phone_number: Option<String>,
    message: Option<String>,
    received_at: Option<String>,
}

fn read_event(body: &Bytes) -> Result<serde_json::Map<String, serde_json::Value>> {
    if body.trim_ascii().is_empty() {
        return Err(ChannelError::Malformed("empty body".into()));
    }
    serde_json::from_slice(body)
        .map_err(|_| ChannelError::Malformed("body is not a JSON object".into()))
}

impl PushChannel for AndroidSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        self.verify_at(request, Utc::now())
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let body = &request.get().body;
        let value = read_event(body)?;
        let event = intake::non_empty(
            value.get("event").and_then(|e| e.as_str()).map(Into::into),
            "event",
        )?;
        if event.trim() != SMS_RECEIVED {
            return Ok(Vec::new());
        }
        let event: Event = serde_json::from_value(serde_json::Value::Object(value))
            .map_err(|_| ChannelError::Malformed("sms:received event of the wrong shape".into()))?;
        let id = intake::provider_id(event.id, "id")?;
        let payload = event
            .payload
            .ok_or_else(|| ChannelError::MissingField("payload".into()))?;
        let from = payload
            .sender
            .filter(|s| !s.trim().is_empty())
            .or(payload.phone_number);
        let from = intake::non_empty(from, "payload.sender")?;
        let text = intake::non_empty(payload.message, "payload.message")?;
        let mut message = intake::message(
            &self.channel_name,
            id,
            &from,
            text,
            Bytes::clone(body),
            JSON,
        );
        if let Some(at) = payload.received_at.filter(|a| !a.trim().is_empty()) {
            message.received_at = intake::utc_time(&at, "payload.receivedAt")?;
        }
        Ok(vec![message])
    }

    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        intake::ok("text/plain", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_body_then_timestamp() {
        // The app's documentation gives no vector; this one follows its
        // Python example: hmac.new(key, (payload + timestamp).encode(),
        // hashlib.sha256).hexdigest().
        let body = br#"{"event":"system:ping"}"#;
        assert_eq!(
            signature(b"salur-test-key", body, "1795421700"),
            "b7a969e2c2ac052a0491db4bfd9d559e464aaebfeb70defe1f08849fa6775c13"
        );
        assert_ne!(
            signature(b"salur-test-key", body, "1795421700"),
            signature(b"salur-test-key", body, "1795421701")
        );
    }

    #[test]
    fn other_events_make_no_message() {
        let sms = AndroidSms::new("a".into(), None, DEFAULT_MAX_SKEW);
        let request = PushRequest {
            method: "POST".into(),
            body: Bytes::from_static(
                br#"{"id":"e1","event":"system:ping","payload":{"health":{}}}"#,
            ),
            ..PushRequest::default()
        };
        let verified = sms.verify(request).expect("unsigned");
        assert_eq!(sms.parse(&verified), Ok(Vec::new()));
    }
}
