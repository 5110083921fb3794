//! Sending replies to citizens through each SMS provider.
//!
//! One [`ReplySender`](salur_channels_core::ReplySender) per provider:
//! [`TwilioSender`], [`VonageSender`], [`AfricasTalkingSender`],
//! [`KannelSender`], [`AndroidSender`] (the capcom6 SMS Gateway app) and
//! [`GammuSender`] (a local command such as `gammu-smsd-inject`). The service
//! builds the one its channel config names.
//!
//! Every sender takes the reply's handle `sms:+62…`, sends the text as one
//! (possibly concatenated) message, and answers with the provider's message
//! id. Failures are [`ChannelError::Transient`] when a retry may succeed
//! (network errors, timeouts, HTTP 429 and 5xx, throttling, an empty
//! balance; the provider's `Retry-After` travels in the message) and
//! [`ChannelError::Permanent`] otherwise (invalid number, refused sender id,
//! bad credentials, other 4xx). Error strings never carry the credentials or
//! the phone number.
//!
//! The HTTP senders share one [`reqwest::Client`], built with a timeout by
//! [`http_client`], and take their API base URL as a parameter (`None` for
//! the provider's public URL) so that a test or a local relay can stand in.

use std::time::Duration;

use reqwest::Url;
use salur_channels_core::{ChannelError, OutboundReply, Result};

pub mod africastalking;
pub mod android;
pub mod gammu;
pub mod kannel;
mod outcome;
pub mod twilio;
pub mod vonage;

pub use africastalking::AfricasTalkingSender;
pub use android::AndroidSender;
pub use gammu::GammuSender;
pub use kannel::KannelSender;
pub use twilio::{TwilioFrom, TwilioSender};
pub use vonage::VonageSender;

/// The request timeout [`http_client`] is usually given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the HTTP client the senders share. `timeout` bounds each request
/// from connecting to the end of the answer.
///
/// # Errors
/// When the TLS backend cannot be set up.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("salur/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The E.164 number of a reply addressed `sms:+<digits>`.
///
/// # Errors
/// [`ChannelError::Permanent`] when the handle is not an SMS handle with an
/// E.164 number; the message does not repeat the handle.
pub fn recipient(reply: &OutboundReply) -> Result<&str> {
    let number = reply
        .to
        .strip_prefix("sms:")
        .ok_or_else(|| ChannelError::Permanent("recipient is not an sms: handle".into()))?;
    let digits = number.strip_prefix('+').unwrap_or("");
    let valid = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(number)
    } else {
        Err(ChannelError::Permanent(
            "recipient number is not in E.164 form (+ and 8 to 15 digits)".into(),
        ))
    }
}

/// `base` (or `default` when `None`) with `segments` appended to its path.
///
/// # Errors
/// [`ChannelError::InvalidField`] naming `field` when the base is not an
/// absolute `http` or `https` URL.
fn endpoint(base: Option<&str>, default: &str, segments: &[&str], field: &str) -> Result<Url> {
    let invalid = |reason: &str| ChannelError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url =
        Url::parse(base.unwrap_or(default).trim()).map_err(|_| invalid("not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be an http or https URL"));
    }
    if !segments.is_empty() {
        url.path_segments_mut()
            .map_err(|()| invalid("cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use salur_channels_core::ReplyKind;

    use super::*;

    fn reply_to(to: &str) -> OutboundReply {
        OutboundReply {
            channel_name: "sms".into(),
            to: to.into(),
            text: "Terima kasih".into(),
            in_reply_to: None,
            tracking_code: None,
            kind: ReplyKind::Acknowledgement,
            last_inbound_at: None,
            window_closed: false,
            presentation: Default::default(),
        }
    }

    #[test]
    fn the_recipient_is_the_e164_number_of_an_sms_handle() {
        assert_eq!(
            recipient(&reply_to("sms:+6281234567890")),
            Ok("+6281234567890")
        );
        for bad in [
            "telegram:123",
            "+6281234567890",
            "sms:081234567890",
            "sms:+62 812 3456",
            "sms:+0812345678",
            "sms:+1234567",
            "sms:+1234567890123456",
            "sms:",
        ] {
            let err = recipient(&reply_to(bad)).expect_err(bad);
            assert!(matches!(err, ChannelError::Permanent(_)), "{bad}");
            assert!(!err.to_string().contains("345"), "{err}");
        }
    }

    #[test]
    fn endpoints_append_to_the_base_path() {
        let url = endpoint(None, "https://api.example.com", &["a", "b.json"], "api_url");
        assert_eq!(
            url.map(String::from),
            Ok("https://api.example.com/a/b.json".into())
        );
        for base in ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/"] {
            let url = endpoint(Some(base), "https://unused", &["messages"], "api_url");
            assert_eq!(
                url.map(String::from),
                Ok("http://127.0.0.1:9/v1/messages".into())
            );
        }
        for bad in ["ftp://host/", "/relative", "mailto:x@example.com", ""] {
            assert!(
                matches!(
                    endpoint(Some(bad), "https://unused", &["x"], "api_url"),
                    Err(ChannelError::InvalidField { .. })
                ),
                "{bad}"
            );
        }
    }
}
