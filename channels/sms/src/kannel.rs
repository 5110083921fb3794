//! The `kannel` provider: a Kannel `sms-service` calling Salur.
//!
//! Kannel's smsbox fills escape codes into a URL and fetches it for every
//! incoming SMS. Configure one catch-all service with a `get-url`:
//!
//! ```text
//! group = sms-service
//! keyword = default
//! catch-all = true
//! max-messages = 0
//! omit-empty = true
//! get-url = "http://127.0.0.1:8080/webhooks/sms/NAME?secret=S&id=%I&from=%p&to=%P&text=%b&time=%T&coding=%c&charset=%C&udh=%u&smsc=%i"
//! ```
//!
//! - `NAME` is the channel's name and `S` its secret; write the secret with
//!   letters, digits, `-`, `_`, `.` and `~` only, since Kannel reads `%` as
//!   an escape and the URL is not re-encoded.
//! - `%I` is Kannel's message id (a UUID), the deduplication key; `%p` the
//!   sender, `%P` our number, `%T` the time the SMS was sent (unix seconds;
//!   `%t`, `YYYY-MM-DD HH:MM:SS` in UTC, is read too), `%c` the coding
//!   (0 GSM, 1 8-bit, 2 UCS-2), `%C` the charset, `%u` the user data header
//!   and `%i` the SMSC connection.
//! - `%b` is the message as sent, percent-encoded byte for byte. Do not
//!   use `%a`: it re-joins the words with single spaces, splitting on space
//!   bytes, which breaks UCS-2 text.
//! - `max-messages = 0` and `omit-empty = true` stop Kannel from sending
//!   the citizen an SMS of its own: the empty answer is not a reply.
//!
//! A `post-url` with the same query works as well: Kannel then sends the
//! text as the body, with its charset in `Content-Type` and the sender,
//! time, coding and UDH also in `X-Kannel-*` headers (the sender only with
//! `send-sender = true`), which fill in fields missing from the query.
//!
//! Text decoding: a charset named in `charset` (or in `Content-Type`) wins;
//! UTF-16BE and UCS-2 are decoded as UTF-16 (with surrogate pairs, so emoji
//! survive), Latin-1 and Windows-1252 as Windows-1252. Otherwise coding 2
//! means UTF-16BE, and anything else is UTF-8, where bytes that are not
//! UTF-8 are read as Windows-1252 (never an error). Kannel joins long
//! messages by default; a piece that arrives alone carries its
//! concatenation header in `udh` and becomes a [`MessagePart`].
//!
//! The stored payload is the query without `secret` for a `GET`; for a
//! `POST` it is the same query with the body and the header fields added
//! as form fields, so it can be read again the same way.

use bytes::Bytes;
use salur_channels_core::{
    ChannelError, ChannelKind, InboundMessage, IntakeReceipt, MessagePart, PushAnswer, PushChannel,
    PushRequest, Result, Verified,
};

use crate::form::{self, Fields};
use crate::intake::{self, FORM};
use crate::signature::check_secret;

/// Kannel's code for UCS-2 text (`DC_UCS2`).
const CODING_UCS2: i32 = 2;

/// `X-Kannel-*` headers of a `post-url` request and the fields they fill.
/// Only `X-Kannel-UDH` is percent-encoded.
const HEADER_FIELDS: [(&str, &str); 6] = [
    ("from", "x-kannel-from"),
    ("to", "x-kannel-to"),
    ("time", "x-kannel-time"),
    ("coding", "x-kannel-coding"),
    ("udh", "x-kannel-udh"),
    ("smsc", "x-kannel-smsc"),
];

/// The Kannel SMS adapter for one channel instance.
pub struct KannelSms {
    channel_name: String,
    secret: Option<Vec<u8>>,
}

impl KannelSms {
    /// An adapter for `channel_name`. `secret` is the value of the `secret`
    /// query parameter in the service's URL; `None` only for a channel
    /// configured with `allow_unsigned = true`.
    pub fn new(channel_name: String, secret: Option<Vec<u8>>) -> Self {
        Self {
            channel_name,
            secret,
        }
    }
}

impl PushChannel for KannelSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn verify(&self, request: PushRequest) -> Result<Verified<PushRequest>> {
        if let Some(secret) = &self.secret {
            let query = Fields::parse(query_bytes(&request));
            check_secret(secret, query.text("secret").as_deref())?;
        }
        Ok(Verified::after_check(request))
    }

    fn parse(&self, request: &Verified<PushRequest>) -> Result<Vec<InboundMessage>> {
        let (fields, raw) = fields(request.get())?;
        let id = intake::provider_id(fields.text("id").map(Into::into), "id")?;
        let from = intake::required(&fields, "from")?;
        let bytes = fields.bytes("text").unwrap_or_default();
        let text = decode_text(bytes, &fields)?;
        let text = intake::non_empty(Some(text), "text")?;
        let mut message = intake::message(&self.channel_name, id, &from, text, raw, FORM);
        if let Some(time) = fields.text("time").filter(|t| !t.trim().is_empty()) {
            let at = sent_time(&time)?;
            message.sent_at = Some(at);
            message.received_at = at;
        }
        message.part = udh_part(fields.bytes("udh").unwrap_or_default())?;
        Ok(vec![message])
    }

    fn answer(&self, _receipts: &[IntakeReceipt]) -> PushAnswer {
        intake::ok("text/plain", "")
    }
}

fn query_bytes(request: &PushRequest) -> &[u8] {
    request.query.as_deref().unwrap_or_default().as_bytes()
}

/// The request's fields without the secret, and the payload to store.
fn fields(request: &PushRequest) -> Result<(Fields, Bytes)> {
    let query = form::without(query_bytes(request), "secret");
    let mut fields = Fields::parse(&query);
    if fields.is_empty() && request.body.trim_ascii().is_empty() {
        return Err(ChannelError::Malformed("empty payload".into()));
    }
    let raw = if request.method.eq_ignore_ascii_case("GET") {
        query
    } else {
        add_post_fields(&mut fields, request);
        Bytes::from(fields.encode())
    };
    Ok((fields, raw))
}

/// Adds what a `post-url` request carries outside the query: the text in
/// the body, its charset in `Content-Type`, the rest in `X-Kannel-*`.
fn add_post_fields(fields: &mut Fields, request: &PushRequest) {
    let mut extra: Vec<(&str, Vec<u8>)> = HEADER_FIELDS
        .iter()
        .filter_map(|&(name, header)| {
            let value = request.header(header)?.as_bytes();
            let value = if name == "udh" {
                form::decode(value)
            } else {
                value.to_vec()
            };
            Some((name, value))
        })
        .collect();
    if let Some(charset) = request.header("content-type").and_then(content_charset) {
        extra.push(("charset", charset.into_bytes()));
    }
    if !request.body.is_empty() {
        extra.push(("text", request.body.to_vec()));
    }
    for (name, value) in extra {
        if fields.bytes(name).is_none() {
            fields.push(name, value);
        }
    }
}

/// The `charset` parameter of a `Content-Type` value, without quotes.
fn content_charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// A text encoding Kannel may hand over.
#[derive(Debug, PartialEq, Eq)]
enum Encoding {
    Utf16Be,
    Windows1252,
    /// UTF-8, with stray bytes read as Windows-1252.
    Utf8,
}

/// The encoding named by `charset`, or else implied by `coding`.
fn encoding(charset: Option<&str>, coding: Option<i32>) -> Encoding {
    let name: String = charset
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    match name.as_str() {
        "UTF16BE" | "UTF16" | "UCS2" | "UCS2BE" => Encoding::Utf16Be,
        "ISO88591" | "LATIN1" | "WINDOWS1252" | "CP1252" => Encoding::Windows1252,
        "UTF8" => Encoding::Utf8,
        _ if coding == Some(CODING_UCS2) => Encoding::Utf16Be,
        _ => Encoding::Utf8,
    }
}

/// The message text from the raw bytes, per `charset` and `coding`.
fn decode_text(bytes: &[u8], fields: &Fields) -> Result<String> {
    let coding = match fields.text("coding").map(|c| c.trim().to_owned()) {
        None => None,
        Some(c) if c.is_empty() => None,
        Some(c) => Some(
            c.parse::<i32>()
                .map_err(|_| intake::invalid("coding", "not a Kannel coding number"))?,
        ),
    };
    Ok(match encoding(fields.text("charset").as_deref(), coding) {
        Encoding::Utf16Be => utf16be(bytes),
        Encoding::Windows1252 => windows_1252(bytes),
        Encoding::Utf8 => utf8_or_windows_1252(bytes),
    })
}

/// UTF-16BE to text; unpaired surrogates and an odd last byte become U+FFFD.
fn utf16be(bytes: &[u8]) -> String {
    encoding_rs::UTF_16BE
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// Windows-1252 to text (Latin-1 text reads the same, and the five bytes
/// the code page leaves undefined become the C1 controls, as in Latin-1).
fn windows_1252(bytes: &[u8]) -> String {
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// UTF-8 to text, reading each byte of an invalid sequence as Windows-1252:
/// an old smsbox passes Latin-1 through where UTF-8 is declared.
fn utf8_or_windows_1252(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let (bad, rest) = rest.split_at(e.error_len().unwrap_or(rest.len()));
                out.push_str(&windows_1252(bad));
                bytes = rest;
            }
        }
    }
}

/// `%T` (unix seconds) or `%t` (`YYYY-MM-DD HH:MM:SS`, UTC).
fn sent_time(value: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if value.trim().bytes().all(|b| b.is_ascii_digit()) {
        intake::epoch_time(value, "time")
    } else {
        intake::utc_time(value, "time")
    }
}

/// The concatenation element of a user data header (8-bit or 16-bit
/// reference), when the message is one piece of several.
fn udh_part(udh: &[u8]) -> Result<Option<MessagePart>> {
    let Some((&length, rest)) = udh.split_first() else {
        return Ok(None);
    };
    let mut elements = rest.get(..usize::from(length)).unwrap_or(rest);
    while let [id, size, tail @ ..] = elements {
        let Some(data) = tail.get(..usize::from(*size)) else {
            break;
        };
        let concat = match (id, data) {
            (0x00, [reference, total, index]) => Some((u16::from(*reference), *total, *index)),
            (0x08, [high, low, total, index]) => {
                Some((u16::from_be_bytes([*high, *low]), *total, *index))
            }
            _ => None,
        };
        if let Some((reference, total, index)) = concat {
            if total <= 1 {
                return Ok(None);
            }
            let part = MessagePart::new(reference.to_string(), index.into(), total.into())?;
            return Ok(Some(part));
        }
        elements = tail.get(usize::from(*size)..).unwrap_or_default();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucs2_with_surrogate_pairs_decodes() {
        let bytes: Vec<u8> = "Jalan 😡🙏"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(utf16be(&bytes), "Jalan 😡🙏");
        assert_eq!(utf16be(&[0x00, 0x41, 0xD8, 0x3D]), "A\u{FFFD}");
        assert_eq!(utf16be(&[0x00, 0x41, 0x00]), "A\u{FFFD}");
    }

    #[test]
    fn stray_bytes_fall_back_to_windows_1252() {
        assert_eq!(utf8_or_windows_1252(b"Caf\xe9 \x80 5"), "Café € 5");
        assert_eq!(utf8_or_windows_1252("Café".as_bytes()), "Café");
        assert_eq!(utf8_or_windows_1252(b"ab\xc3"), "abÃ");
    }

    #[test]
    fn charset_wins_over_coding() {
        assert_eq!(encoding(Some("UTF-16BE"), None), Encoding::Utf16Be);
        assert_eq!(encoding(Some("ucs-2"), Some(0)), Encoding::Utf16Be);
        assert_eq!(encoding(Some("UTF-8"), Some(2)), Encoding::Utf8);
        assert_eq!(
            encoding(Some("WINDOWS-1252"), Some(0)),
            Encoding::Windows1252
        );
        assert_eq!(encoding(None, Some(2)), Encoding::Utf16Be);
        assert_eq!(encoding(Some("GSM"), Some(0)), Encoding::Utf8);
        assert_eq!(encoding(Some("8-BIT"), Some(1)), Encoding::Utf8);
    }

    #[test]
    fn concatenation_headers_name_the_part() {
        let part = udh_part(&[0x05, 0x00, 0x03, 0x2A, 0x03, 0x02]).expect("udh");
        assert_eq!(
            part,
            Some(MessagePart::new("42".into(), 2, 3).expect("part"))
        );
        let part = udh_part(&[0x06, 0x08, 0x04, 0x01, 0x02, 0x02, 0x01]).expect("udh");
        assert_eq!(
            part,
            Some(MessagePart::new("258".into(), 1, 2).expect("part"))
        );
        assert_eq!(udh_part(&[]), Ok(None));
        assert_eq!(
            udh_part(&[0x03, 0x01, 0x01, 0x00]),
            Ok(None),
            "other element"
        );
        assert!(udh_part(&[0x05, 0x00, 0x03, 0x2A, 0x03, 0x04]).is_err());
    }

    #[test]
    fn content_type_charsets_are_read() {
        assert_eq!(
            content_charset(r#"text/plain; charset="UTF-16BE""#).as_deref(),
            Some("UTF-16BE")
        );
        assert_eq!(content_charset("application/octet-stream"), None);
    }
}
