//! The `twilio` provider: Twilio Programmable Messaging webhooks.
//!
//! Twilio sends each incoming SMS or MMS as a form `POST` (or a `GET` when
//! the number is configured so) with `MessageSid`, `AccountSid`, `From`,
//! `To`, `Body`, `NumMedia` and, per file, `MediaUrl{N}` and
//! `MediaContentType{N}`. Twilio joins long SMS before calling.
//!
//! Every request carries `X-Twilio-Signature`: base64 HMAC-SHA1 under the
//! account's auth token of the full URL Twilio called, followed for a
//! `POST` by every form field, sorted by name, as name then value with no
//! separators. A `GET` signs the URL alone. The URL is the operator's
//! configured public URL; Twilio's own libraries also accept it with the
//! default port added or removed, and so does this adapter.
//!
//! The answer is an empty TwiML document: no reply SMS from Twilio itself.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use salur_channels_core::{
    AttachmentRef, ChannelError, ChannelKind, InboundMessage, IntakeReceipt, PushAnswer,
    PushChannel, PushRequest, Result, Verified,
};
use sha1::Sha1;

use crate::form::Fields;
use crate::intake::{self, FORM};
use crate::signature::{constant_time_eq, hmac_bytes};

/// The most media files one message may list (Twilio allows 10).
const MAX_MEDIA: usize = 100;

/// The answer body: TwiML that tells Twilio to do nothing more.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// The Twilio SMS adapter for one channel instance.
pub struct TwilioSms {
    channel_name: String,
    auth_token: Option<Vec<u8>>,
}

impl TwilioSms {
    /// An adapter for `channel_name`. `secret` is the account's auth token;
    /// `None` only for a channel configured with `allow_unsigned = true`.
    pub fn new(channel_name: String, secret: Option<Vec<u8>>) -> Self {
        Self {
            channel_name,
            auth_token: secret,
        }
    }
}

/// The `X-Twilio-Signature` value for a request to `url` with the form
/// `params` (empty for a `GET`): base64 HMAC-SHA1 under `auth_token` of the
/// URL followed by each parameter's name and value, sorted by name (and by
/// value for repeated names).
pub fn signature<'a>(
    auth_token: &[u8],
    url: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    BASE64.encode(signature_bytes(auth_token, url, params))
}

fn signature_bytes<'a>(
    auth_token: &[u8],
    url: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut params: Vec<(&str, &str)> = params.into_iter().collect();
    params.sort_unstable();
    let mut signed = url.to_owned();
    for (name, value) in params {
        signed.push_str(name);
        signed.push_str(value);
    }
    hmac_bytes::<Sha1>(auth_token, &[signed.as_bytes()])
}

/// `url` as given, and with its scheme's default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port => host.to_owned(),
        Some(_) => return variants,
        None => format!("{authority}:{default_port}"),
    };
    variants.push(format!("{scheme}://{host}{tail}"));
    variants
}

fn is_get(request: &PushRequest) -> bool {
    request.method.eq_ignore_ascii_case("GET")
}

impl PushChannel for TwilioSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        let Some(token) = &self.auth_token else {
            return Ok(Verified::after_check(request));
        };
        let given = request
            .header("x-twilio-signature")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ChannelError::MissingSignature)?;
        let given = BASE64
            .decode(given)
            .map_err(|_| ChannelError::BadSignature)?;
        let fields = if is_get(&request) {
            Fields::default()
        } else {
            Fields::parse(&request.body)
        };
        let texts: Vec<(&str, String)> = fields
            .texts()
            .map(|(name, value)| (name, value.into_owned()))
            .collect();
        let matches = url_variants(&request.url).iter().any(|url| {
            let params = texts.iter().map(|(n, v)| (*n, v.as_str()));
            constant_time_eq(&signature_bytes(token, url, params), &given)
        });
        if matches {
            Ok(Verified::after_check(request))
        } else {
            Err(ChannelError::BadSignature)
        }
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let request = request.get();
        let (fields, raw) =
            intake::form_payload(&request.method, request.query.as_deref(), &request.body)?;
        let id = intake::provider_id(fields.text("MessageSid").map(Into::into), "MessageSid")?;
        let from = intake::required(&fields, "From")?;
        let attachments = media(&fields)?;
        let text = if attachments.is_empty() {
            intake::required(&fields, "Body")?
        } else {
            fields.text("Body").map(Into::into).unwrap_or_default()
        };
        let mut message = intake::message(&self.channel_name, id, &from, text, raw, FORM);
        message.attachments = attachments;
        Ok(vec![message])
    }

    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        intake::ok("text/xml", EMPTY_TWIML)
    }
}

/// The files listed by `NumMedia`, `MediaUrl{N}` and `MediaContentType{N}`.
fn media(fields: &Fields) -> Result<Vec<AttachmentRef>> {
    let count = match fields.text("NumMedia") {
        None => 0,
        Some(n) if n.trim().is_empty() => 0,
        Some(n) => n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or_else(|| intake::invalid("NumMedia", "not a count of media files"))?,
    };
    (0..count)
        .map(|i| {
            let url = intake::required(fields, &format!("MediaUrl{i}"))?;
            Ok(AttachmentRef {
                provider_ref: url.trim().to_owned(),
                mime: fields
                    .text(&format!("MediaContentType{i}"))
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty()),
                ..AttachmentRef::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_vector() {
        // The example in Twilio's webhook security documentation.
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ];
        assert_eq!(
            signature(
                b"12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let a = signature(b"k", "https://x/y", [("b", "2"), ("a", "1")]);
        let b = signature(b"k", "https://x/y", [("a", "1"), ("b", "2")]);
        assert_eq!(a, b);
    }

    #[test]
    fn default_ports_are_tried_both_ways() {
        assert_eq!(
            url_variants("https://a.example/w?x=1"),
            ["https://a.example/w?x=1", "https://a.example:443/w?x=1"]
        );
        assert_eq!(
            url_variants("http://a.example:80/w"),
            ["http://a.example:80/w", "http://a.example/w"]
        );
        assert_eq!(
            url_variants("https://a.example:8443/w"),
            ["https://a.example:8443/w"]
        );
    }

    #[test]
    fn the_answer_is_empty_twiml() {
        let answer = TwilioSms::new("t".into(), None).answer(&[]);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "text/xml");
        assert!(answer.body.ends_with("<Response></Response>"));
    }
}
