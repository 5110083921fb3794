//! The `vonage` provider: the Vonage (Nexmo) SMS API's inbound webhook.
//!
//! Vonage calls the account's inbound URL by `GET` (fields in the query) or
//! `POST` (a form or a JSON object, depending on the dashboard setting); all
//! three are accepted. Fields: `msisdn` (the sender), `to`, `messageId`,
//! `text`, `type` (`text`, `unicode` or `binary`), `keyword`,
//! `message-timestamp` (UTC, `YYYY-MM-DD HH:MM:SS`), and for one piece of a
//! long message `concat=true` with `concat-ref`, `concat-part` and
//! `concat-total`. Vonage does not join long messages: each piece becomes
//! its own [`InboundMessage`] with a [`MessagePart`], which the intake joins.
//!
//! Signed webhooks are optional at Vonage. When the channel has a secret
//! (the account's signature secret), every request must carry `sig` and
//! `timestamp`. The signed string is every other parameter, sorted by name,
//! written `&name=value` with `&` and `=` in values replaced by `_`. The
//! `md5hash` method (Vonage's default) is the lower-case hex MD5 of that
//! string followed by the secret; the HMAC methods (`md5`, `sha1`,
//! `sha256`, `sha512`) are the upper-case hex HMAC of the string under the
//! secret. Either case is accepted. A `timestamp` further than the
//! configured window from now is refused as [`ChannelError::Stale`].
//!
//! Vonage retries for 24 hours until it gets 200 or 204, and documents
//! `message-timestamp` (of which `timestamp` is the unix form) as the time it
//! *started* to push the message; whether a retry re-signs with a fresh
//! timestamp is not documented. The window should therefore cover the retry
//! period ([`DEFAULT_MAX_SKEW`]); replays inside it carry the same
//! `messageId` and are deduplicated by the intake.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use md5::Md5;
use salur_channels_core::{
    ChannelError, ChannelKind, InboundMessage, IntakeReceipt, MessagePart, PushAnswer, PushChannel,
    PushRequest, Result, Verified,
};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::form::Fields;
use crate::intake::{self, FORM, JSON};
use crate::signature::{check_fresh, check_hex, hmac_bytes, signed_timestamp};

/// A window that covers Vonage's 24 hours of retries, with an hour to spare.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(25 * 60 * 60);

/// How Vonage signs webhooks: the "signature method" chosen in the
/// dashboard. Config names are `md5hash`, `md5`, `sha1`, `sha256` and
/// `sha512`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureMethod {
    /// MD5 of the signed string followed by the secret (Vonage's default).
    #[default]
    Md5Hash,
    /// HMAC-MD5 under the secret.
    Md5,
    /// HMAC-SHA1 under the secret.
    Sha1,
    /// HMAC-SHA256 under the secret.
    Sha256,
    /// HMAC-SHA512 under the secret.
    Sha512,
}

/// A signature method name that Vonage does not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSignatureMethod(pub String);

impl fmt::Display for UnknownSignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown Vonage signature method `{}`: expected md5hash, md5, sha1, sha256 or sha512",
            self.0
        )
    }
}

impl std::error::Error for UnknownSignatureMethod {}

impl FromStr for SignatureMethod {
    type Err = UnknownSignatureMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "md5hash" => Self::Md5Hash,
            "md5" => Self::Md5,
            "sha1" => Self::Sha1,
            "sha256" => Self::Sha256,
            "sha512" => Self::Sha512,
            _ => return Err(UnknownSignatureMethod(s.to_owned())),
        })
    }
}

impl SignatureMethod {
    /// The signature of `params` under `secret`, as Vonage writes it in
    /// `sig`: lower-case hex for `md5hash`, upper-case for the HMACs. A
    /// `sig` among `params` is left out.
    pub fn sign<'a>(
        self,
        secret: &[u8],
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> String {
        let sig = hex::encode(self.sign_bytes(secret, params));
        match self {
            Self::Md5Hash => sig,
            _ => sig.to_ascii_uppercase(),
        }
    }

    fn sign_bytes<'a>(
        self,
        secret: &[u8],
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<u8> {
        let signed = signed_string(params);
        let parts = [signed.as_bytes()];
        match self {
            Self::Md5Hash => Md5::new()
                .chain_update(signed.as_bytes())
                .chain_update(secret)
                .finalize()
                .to_vec(),
            Self::Md5 => hmac_bytes::<Md5>(secret, &parts),
            Self::Sha1 => hmac_bytes::<Sha1>(secret, &parts),
            Self::Sha256 => hmac_bytes::<Sha256>(secret, &parts),
            Self::Sha512 => hmac_bytes::<Sha512>(secret, &parts),
        }
    }
}

/// `&name=value` for every parameter but `sig`, sorted by name, with `&`
/// and `=` in values replaced by `_`.
fn signed_string<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut params: Vec<(&str, &str)> = params.into_iter().filter(|(n, _)| *n != "sig").collect();
    params.sort_unstable();
    params
        .iter()
        .map(|(name, value)| format!("&{name}={}", value.replace(['&', '='], "_")))
        .collect()
}

/// The Vonage SMS adapter for one channel instance.
pub struct VonageSms {
    channel_name: String,
    secret: Option<Vec<u8>>,
    method: SignatureMethod,
    max_skew: Duration,
}

impl VonageSms {
    /// An adapter for `channel_name`.
    ///
    /// - `secret`: the account's signature secret; `None` when the account
    ///   does not sign webhooks and the channel is configured with
    ///   `allow_unsigned = true`.
    /// - `method`: the signature method chosen in Vonage's dashboard.
    /// - `max_skew`: how far a request's `timestamp` may be from now
    ///   ([`DEFAULT_MAX_SKEW`] covers Vonage's retries).
    pub fn new(
        channel_name: String,
        secret: Option<Vec<u8>>,
        method: SignatureMethod,
        max_skew: Duration,
    ) -> Self {
        Self {
            channel_name,
            secret,
            method,
            max_skew,
        }
    }

    /// [`PushChannel::verify`] against the clock reading `now`.
    ///
    /// # Errors
    /// [`ChannelError::MissingSignature`] without `sig` or `timestamp`,
    /// [`ChannelError::BadSignature`] when `sig` does not match,
    /// [`ChannelError::Stale`] when `timestamp` is outside the window.
    pub fn verify_at(
        &self,
        request: PushRequest,
        now: DateTime<Utc>,
    ) -> Result<Verified<PushRequest>> {
        let Some(secret) = &self.secret else {
            return Ok(Verified::after_check(request));
        };
        let (fields, _, _) = payload(&request).unwrap_or_default();
        let sig = fields.text("sig");
        let sig = sig
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ChannelError::MissingSignature)?;
        let timestamp = signed_timestamp(fields.text("timestamp").as_deref())?;
        let texts: Vec<(&str, String)> = fields.texts().map(|(n, v)| (n, v.into_owned())).collect();
        let expected = self
            .method
            .sign_bytes(secret, texts.iter().map(|(n, v)| (*n, v.as_str())));
        check_hex(sig, &expected)?;
        check_fresh(timestamp, now, self.max_skew)?;
        Ok(Verified::after_check(request))
    }
}

/// The fields of a request, with the raw bytes to keep and their type.
fn payload(request: &PushRequest) -> Result<(Fields, Bytes, &'static str)> {
    let is_json = !request.method.eq_ignore_ascii_case("GET")
        && (request
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"))
            || request.body.trim_ascii_start().starts_with(b"{"));
    if !is_json {
        let (fields, raw) =
            intake::form_payload(&request.method, request.query.as_deref(), &request.body)?;
        return Ok((fields, raw, FORM));
    }
    if request.body.trim_ascii().is_empty() {
        return Err(ChannelError::Malformed("empty payload".into()));
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&request.body)
        .map_err(|_| ChannelError::Malformed("body is not a JSON object".into()))?;
    let pairs = object
        .into_iter()
        .filter_map(|(name, value)| scalar(value).map(|v| (name, v.into_bytes())))
        .collect();
    Ok((Fields::from_pairs(pairs), Bytes::clone(&request.body), JSON))
}

/// A JSON scalar as the text Vonage would send in a form; `None` for null,
/// arrays and objects.
fn scalar(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The piece of a long message this is, when `concat` is `true`.
fn part(fields: &Fields) -> Result<Option<MessagePart>> {
    if fields.text("concat").as_deref().map(str::trim) != Some("true") {
        return Ok(None);
    }
    let group = intake::required(fields, "concat-ref")?.trim().to_owned();
    let number = |name: &str| -> Result<u16> {
        intake::required(fields, name)?
            .trim()
            .parse()
            .map_err(|_| intake::invalid(name, "not a part number"))
    };
    let index = number("concat-part")?;
    let total = number("concat-total")?;
    MessagePart::new(group, index, total).map(Some)
}

impl PushChannel for VonageSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        self.verify_at(request, Utc::now())
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let (fields, raw, content_type) = payload(request.get())?;
        let id = intake::provider_id(fields.text("messageId").map(Into::into), "messageId")?;
        let from = intake::required(&fields, "msisdn")?;
        if fields.text("type").as_deref().map(str::trim) == Some("binary") {
            return Err(intake::invalid("type", "binary messages carry no text"));
        }
        let text = intake::required(&fields, "text")?;
        let mut message = intake::message(&self.channel_name, id, &from, text, raw, content_type);
        if let Some(at) = fields.text("message-timestamp") {
            message.received_at = intake::utc_time(&at, "message-timestamp")?;
        }
        message.part = part(&fields)?;
        Ok(vec![message])
    }

    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        intake::ok("text/plain", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inbound message and signatures from the tests of Vonage's Ruby
    /// SDK (`test/vonage/signature_test.rb`).
    const PARAMS: [(&str, &str); 7] = [
        ("message-timestamp", "2013-11-21 15:27:30"),
        ("messageId", "020000001B0FE827"),
        ("msisdn", "14843472194"),
        ("text", "Test again"),
        ("timestamp", "1385047698"),
        ("to", "13239877404"),
        ("type", "text"),
    ];
    const SECRET: &[u8] = b"my_secret_key_for_testing";

    #[test]
    fn vonage_sdk_vectors() {
        let cases = [
            (SignatureMethod::Md5Hash, "d2e7b1dc968737c5998ad624e02f90b7"),
            (SignatureMethod::Md5, "DDEBD46008C2D4E93CCE578A332A52D5"),
            (
                SignatureMethod::Sha1,
                "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
            ),
            (
                SignatureMethod::Sha256,
                "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
            ),
            (
                SignatureMethod::Sha512,
                "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82",
            ),
        ];
        for (method, want) in cases {
            assert_eq!(method.sign(SECRET, PARAMS), want, "{method:?}");
        }
    }

    #[test]
    fn ampersands_and_equals_become_underscores() {
        // Also from the Ruby SDK's tests: all three sign alike.
        for value in ["_", "&", "="] {
            assert_eq!(
                SignatureMethod::Md5Hash.sign(SECRET, [("k", value)]),
                "c3d6a686ab9c7e7408bb1c0506e9629a"
            );
        }
    }

    #[test]
    fn sig_itself_is_not_signed() {
        let with_sig = PARAMS.iter().copied().chain([("sig", "whatever")]);
        assert_eq!(
            SignatureMethod::Md5Hash.sign(SECRET, with_sig),
            "d2e7b1dc968737c5998ad624e02f90b7"
        );
    }

    #[test]
    fn method_names_parse() {
        assert_eq!("md5hash".parse(), Ok(SignatureMethod::Md5Hash));
        assert_eq!("SHA256".parse(), Ok(SignatureMethod::Sha256));
        assert_eq!(" sha512 ".parse(), Ok(SignatureMethod::Sha512));
        assert!("sha384".parse::<SignatureMethod>().is_err());
        assert_eq!(SignatureMethod::default(), SignatureMethod::Md5Hash);
    }
}
