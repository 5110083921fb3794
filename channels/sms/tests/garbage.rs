//! Arbitrary bytes in every place a provider's request can carry them
//! (body, query, headers) give each adapter a clear error or a message,
//! never a panic. The inputs are valid requests of each provider, cut,
//! overwritten and spliced by a fixed-seed generator, so each run checks
//! the same cases and most of them reach past the first check.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use salur_channel_sms::{
    GenericSms, africastalking::AfricasTalkingSms, android::AndroidSms, kannel::KannelSms,
    smssync::SmsSync, twilio::TwilioSms, vonage,
};
use salur_channels_core::{ChannelError, PushChannel, PushRequest};

/// xorshift64*: small, fixed-seed, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    /// Bytes drawn mostly from form and JSON syntax, field names the
    /// providers use, percent escapes and multi-byte UTF-8, and sometimes
    /// anything at all.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        const PIECES: &[&str] = &[
            "=",
            "&",
            "%",
            "%2",
            "%F0%9F",
            "%00",
            "+",
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "id",
            "from",
            "to",
            "text",
            "msisdn",
            "messageId",
            "concat",
            "concat-part",
            "concat-total",
            "concat-ref",
            "true",
            "coding",
            "2",
            "charset",
            "UTF-16BE",
            "udh",
            "%05%00%03%07%02%01",
            "MessageSid",
            "Body",
            "From",
            "NumMedia",
            "MediaUrl0",
            "event",
            "sms:received",
            "payload",
            "message",
            "sender",
            "secret",
            "sent_timestamp",
            "date",
            "time",
            "1700000000",
            "-1",
            "99999999999999999999",
            "null",
            "😡",
            "é",
        ];
        let len = self.below(max + 1);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            if self.below(8) == 0 {
                out.push(u8::try_from(self.next() & 0xff).unwrap());
            } else {
                out.extend_from_slice(PIECES[self.below(PIECES.len())].as_bytes());
            }
        }
        out
    }
}

fn adapters() -> Vec<Box<dyn PushChannel>> {
    let name = || "sms-test".to_owned();
    vec![
        Box::new(GenericSms::new(name(), None, "x-salur-signature".into())),
        Box::new(TwilioSms::new(name(), None)),
        Box::new(vonage::VonageSms::new(
            name(),
            None,
            vonage::SignatureMethod::default(),
            vonage::DEFAULT_MAX_SKEW,
        )),
        Box::new(AfricasTalkingSms::new(name(), None)),
        Box::new(KannelSms::new(name(), None)),
        Box::new(AndroidSms::new(name(), None, Duration::from_secs(300))),
        Box::new(SmsSync::new(name(), None)),
    ]
}

/// A valid request of each adapter's provider: method, query, content
/// type, body.
const VALID: [(&str, &str, &str, &str); 7] = [
    (
        "POST",
        "",
        "application/json",
        r#"{"id":"g1","from":"081234567890","text":"Jalan rusak 😡"}"#,
    ),
    (
        "POST",
        "",
        "application/x-www-form-urlencoded",
        "MessageSid=SM1&AccountSid=AC1&From=%2B6281234567890&To=%2B1500&Body=Jalan+rusak&NumMedia=1&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2F1&MediaContentType0=image%2Fjpeg",
    ),
    (
        "GET",
        "msisdn=6281234567890&to=628111&messageId=v1&text=Jalan+rusak&type=text&keyword=JALAN&message-timestamp=2026-11-29+08%3A15%3A00&concat=true&concat-ref=7&concat-total=2&concat-part=1",
        "",
        "",
    ),
    (
        "POST",
        "",
        "application/x-www-form-urlencoded",
        "from=%2B6281234567890&to=1708&text=Jalan+rusak&date=2026-11-29T08%3A15%3A00Z&id=at1&linkId=l1",
    ),
    (
        "GET",
        "id=6c6e-1&from=081234567890&to=1708&text=%00J%00a%00l%00a%00n%D8%3D%DE%21&time=1764404100&coding=2&charset=UTF-16BE&udh=%05%00%03%07%02%01&smsc=fake",
        "",
        "",
    ),
    (
        "POST",
        "",
        "application/json",
        r#"{"id":"e1","webhookId":"w1","event":"sms:received","deviceId":"d1","payload":{"messageId":"m1","sender":"+6281234567890","recipient":"+628111","simNumber":1,"message":"Jalan rusak","receivedAt":"2026-11-29T15:15:00.000+07:00"}}"#,
    ),
    (
        "POST",
        "",
        "application/x-www-form-urlencoded",
        "from=%2B6281234567890&message=Jalan+rusak&message_id=s1&sent_to=1708&sent_timestamp=1764404100000&device_id=d1",
    ),
];

/// Cuts, overwrites or splices `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => out.truncate(at),
            1 => {
                let junk = rng.bytes(12);
                let end = (at + junk.len()).min(out.len());
                out.splice(at..end, junk);
            }
            2 => {
                let junk = rng.bytes(24);
                out.splice(at..at, junk);
            }
            _ => {
                if let Some(b) = out.get_mut(at) {
                    *b ^= u8::try_from(rng.next() & 0xff).unwrap();
                }
            }
        }
    }
    out
}

#[test]
fn damaged_requests_give_errors_or_messages_never_panics() {
    let mut rng = Rng(0x5A1_0A2B_3C4D_5E6F);
    let adapters = adapters();
    let (mut parsed, mut refused) = (0, 0);
    for round in 0..3_000 {
        for (adapter, (method, query, content_type, body)) in adapters.iter().zip(VALID) {
            // Every tenth round sends the request whole, the rest damaged.
            let (query, body) = if round % 10 == 0 {
                (query.as_bytes().to_vec(), body.as_bytes().to_vec())
            } else {
                (
                    mutate(&mut rng, query.as_bytes()),
                    mutate(&mut rng, body.as_bytes()),
                )
            };
            let query = String::from_utf8_lossy(&query).into_owned();
            let request = PushRequest {
                method: method.into(),
                url: format!("https://aduan.example.go.id/webhooks/sms/sms-test?{query}"),
                query: (!query.is_empty()).then_some(query),
                headers: vec![("content-type".into(), content_type.into())],
                body: Bytes::from(body),
            };
            let verified = adapter.verify(request).unwrap();
            match adapter.parse(&verified) {
                Ok(messages) => {
                    parsed += 1;
                    for m in messages {
                        assert!(!m.provider_message_id.trim().is_empty());
                        assert!(m.reporter.handle.starts_with("sms:"));
                    }
                }
                Err(
                    ChannelError::Malformed(_)
                    | ChannelError::MissingField(_)
                    | ChannelError::InvalidField { .. },
                ) => refused += 1,
                Err(other) => panic!("an unsigned adapter answered {other:?}"),
            }
        }
    }
    // Whole requests parse, so the damaged ones reach as deep.
    assert!(parsed >= 7 * 300, "parsed {parsed}, refused {refused}");
    assert!(refused > 0, "parsed {parsed}, refused {refused}");
}
