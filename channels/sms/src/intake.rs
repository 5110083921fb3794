//! What every SMS adapter does the same way once a request is verified.

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use salur_channels_core::{
    ChannelError, ChannelKind, InboundMessage, PushAnswer, Reporter, Result,
};

use crate::form::Fields;

/// Longest accepted provider id, in bytes.
pub const MAX_ID_LEN: usize = 200;

/// Content type recorded for form and query payloads.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Content type recorded for JSON payloads.
pub const JSON: &str = "application/json";

/// The fields a provider sent: the query for `GET`, the body otherwise,
/// with the raw bytes to keep.
///
/// # Errors
/// [`ChannelError::Malformed`] when there are none.
pub fn form_payload(method: &str, query: Option<&str>, body: &Bytes) -> Result<(Fields, Bytes)> {
    let raw = if method.eq_ignore_ascii_case("GET") {
        Bytes::from(query.unwrap_or_default().to_owned())
    } else {
        Bytes::clone(body)
    };
    let fields = Fields::parse(&raw);
    if fields.is_empty() || raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ChannelError::Malformed("empty payload".into()));
    }
    Ok((fields, raw))
}

/// The value of a required field: present and not only whitespace.
///
/// # Errors
/// [`ChannelError::MissingField`] otherwise.
pub fn required(fields: &Fields, name: &str) -> Result<String> {
    non_empty(fields.text(name).map(|v| v.into_owned()), name)
}

/// `value` when it is present and not only whitespace.
///
/// # Errors
/// [`ChannelError::MissingField`] naming `name` otherwise.
pub fn non_empty(value: Option<String>, name: &str) -> Result<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ChannelError::MissingField(name.to_owned())),
    }
}

/// A required provider message id, trimmed and bounded in length.
///
/// # Errors
/// [`ChannelError::MissingField`] when absent,
/// [`ChannelError::InvalidField`] when longer than [`MAX_ID_LEN`].
pub fn provider_id(value: Option<String>, name: &str) -> Result<String> {
    let id = non_empty(value, name)?.trim().to_owned();
    if id.len() > MAX_ID_LEN {
        return Err(invalid(name, &format!("longer than {MAX_ID_LEN} bytes")));
    }
    Ok(id)
}

/// An [`ChannelError::InvalidField`] for `field`.
pub fn invalid(field: &str, reason: &str) -> ChannelError {
    ChannelError::InvalidField {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Parses a provider's date: RFC 3339, or `YYYY-MM-DD HH:MM[:SS[.f]]`
/// (also with a `T`), which is read as UTC.
///
/// # Errors
/// [`ChannelError::InvalidField`] naming `field` when it is neither.
pub fn utc_time(value: &str, field: &str) -> Result<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
    .map(|t| t.and_utc())
    .ok_or_else(|| invalid(field, "not a recognised date and time"))
}

/// Parses a unix timestamp in seconds or, when it is too large to be
/// seconds (after the year 5000), in milliseconds.
///
/// # Errors
/// [`ChannelError::InvalidField`] naming `field` when it is not one.
pub fn epoch_time(value: &str, field: &str) -> Result<DateTime<Utc>> {
    const MAX_SECONDS: i64 = 95_617_584_000; // 5000-01-01
    let number: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(field, "not a unix timestamp"))?;
    let time = if number.abs() > MAX_SECONDS {
        DateTime::from_timestamp_millis(number)
    } else {
        DateTime::from_timestamp(number, 0)
    };
    time.ok_or_else(|| invalid(field, "out of range"))
}

/// A 200 answer with `body`: what a provider gets once its messages are
/// committed.
pub fn ok(content_type: &'static str, body: &str) -> PushAnswer {
    PushAnswer {
        status: 200,
        content_type,
        body: body.to_owned(),
    }
}

/// An SMS message from `from` with the fields every adapter sets; the
/// caller adds times, parts and attachments. `received_at` is now.
pub fn message(
    channel_name: &str,
    provider_message_id: String,
    from: &str,
    text: String,
    raw: Bytes,
    raw_content_type: &str,
) -> InboundMessage {
    let from = from.trim().to_owned();
    let reporter = Reporter {
        handle: format!("sms:{from}"),
        name: None,
        phone: Some(from),
        email: None,
    };
    InboundMessage {
        text,
        ..InboundMessage::new(
            ChannelKind::Sms,
            channel_name.to_owned(),
            provider_message_id,
            reporter,
            Utc::now(),
            raw,
            raw_content_type.to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn provider_times_parse() {
        let want = DateTime::parse_from_rfc3339("2017-05-03T06:04:45Z").expect("time");
        for value in [
            "2017-05-03T06:04:45Z",
            "2017-05-03T13:04:45+07:00",
            "2017-05-03 06:04:45",
            "2017-05-03T06:04:45.000",
        ] {
            assert_eq!(
                utc_time(value, "date"),
                Ok(want.with_timezone(&Utc)),
                "{value}"
            );
        }
        assert!(utc_time("2017-05-03T06", "date").is_err());
        assert_eq!(epoch_time("1493791485", "t"), Ok(want.with_timezone(&Utc)));
        assert_eq!(
            epoch_time("1493791485000", "t"),
            Ok(want.with_timezone(&Utc))
        );
        assert!(epoch_time("soon", "t").is_err());
    }
}
