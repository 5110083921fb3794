//! Gammu SMSD: the `RunOnReceive` program's environment.
//!
//! Gammu SMSD runs its `RunOnReceive` program after storing each received
//! message, or each group of messages that make one long message, with the
//! ids of the stored messages appended to the command line (inbox row ids,
//! or file names for the files backend) and the message in environment
//! variables:
//! - `SMS_MESSAGES`: how many physical messages; for each `n` from 1,
//!   `SMS_n_NUMBER` (the sender) and `SMS_n_TEXT` (missing for 8-bit data);
//! - `DECODED_PARTS`: how many decoded parts; `DECODED_n_TEXT` holds the
//!   text of a long message joined by Gammu;
//! - `PHONE_ID`: which modem, when several run.
//!
//! `salur gammu-receive` turns that into one [`InboundMessage`]. Its
//! provider id is built from the ids Gammu passed, so a second run for the
//! same message stores nothing new.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use salur_channels_core::{ChannelError, InboundMessage, Result};
use sha2::{Digest, Sha256};

/// The variables Gammu sets that matter here, read from any source (the
/// process environment in production, a map in tests).
pub fn gammu_vars<'a>(all: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    all.filter(|(k, _)| k.starts_with("SMS_") || k.starts_with("DECODED_") || *k == "PHONE_ID")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Builds the message Gammu handed over.
///
/// `ids` are the message ids Gammu appended to the command line; without
/// them the id is derived from the sender, the modem and the text.
///
/// # Errors
/// [`ChannelError::MissingField`] when the sender or the text is missing,
/// [`ChannelError::InvalidField`] when a count is not a number.
pub fn parse(
    channel_name: &str,
    vars: &BTreeMap<String, String>,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<InboundMessage> {
    let count = |name: &str| -> Result<usize> {
        match vars.get(name).map(|v| v.trim()) {
            None | Some("") => Ok(0),
            Some(v) => v.parse().map_err(|_| ChannelError::InvalidField {
                field: name.to_owned(),
                reason: "not a number".into(),
            }),
        }
    };
    let messages = count("SMS_MESSAGES")?;
    let decoded = count("DECODED_PARTS")?;
    let from = vars
        .get("SMS_1_NUMBER")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ChannelError::MissingField("SMS_1_NUMBER".into()))?
        .to_owned();
    let joined: String = (1..=decoded)
        .filter_map(|i| vars.get(&format!("DECODED_{i}_TEXT")))
        .map(String::as_str)
        .collect();
    let text = if joined.is_empty() {
        (1..=messages.max(1))
            .filter_map(|i| vars.get(&format!("SMS_{i}_TEXT")))
            .map(String::as_str)
            .collect()
    } else {
        joined
    };
    if text.trim().is_empty() {
        return Err(ChannelError::MissingField("SMS_1_TEXT".into()));
    }
    let id = if ids.iter().any(|i| !i.trim().is_empty()) {
        ids.iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        let mut h = Sha256::new();
        for part in [
            vars.get("PHONE_ID").map_or("", String::as_str),
            &from,
            &text,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    };
    let raw = serde_json::to_vec(&serde_json::json!({ "ids": ids, "env": vars }))
        .map_err(|e| ChannelError::Malformed(e.to_string()))?;
    let raw = Bytes::from(raw);
    let mut message =
        crate::intake::message(channel_name, id, &from, text, raw, crate::intake::JSON);
    message.received_at = now;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        gammu_vars(pairs.iter().copied())
    }

    #[test]
    fn a_multipart_group_uses_the_decoded_text_and_every_id() {
        let v = vars(&[
            ("SMS_MESSAGES", "2"),
            ("SMS_1_NUMBER", "+6281234567890"),
            (
                "SMS_1_TEXT",
                "Jalan di depan SDN 3 rusak parah sudah dua bulan, ",
            ),
            ("SMS_2_NUMBER", "+6281234567890"),
            ("SMS_2_TEXT", "mohon segera diperbaiki 🙏"),
            ("DECODED_PARTS", "1"),
            (
                "DECODED_1_TEXT",
                "Jalan di depan SDN 3 rusak parah sudah dua bulan, mohon segera diperbaiki 🙏",
            ),
            ("HOME", "/root"),
        ]);
        let ids = vec![
            "IN20261129_101500_00_+6281234567890_00.txt".to_owned(),
            "IN20261129_101501_00_+6281234567890_01.txt".to_owned(),
        ];
        let m = parse("sms-gammu", &v, &ids, Utc::now()).expect("parsed");
        assert_eq!(
            m.text,
            "Jalan di depan SDN 3 rusak parah sudah dua bulan, mohon segera diperbaiki 🙏"
        );
        assert_eq!(m.reporter.handle, "sms:+6281234567890");
        assert_eq!(m.provider_message_id, ids.join(","));
        let raw: serde_json::Value = serde_json::from_slice(&m.raw).expect("json");
        assert!(
            raw["env"].get("HOME").is_none(),
            "only Gammu's variables are kept"
        );
    }

    #[test]
    fn without_decoded_parts_the_physical_texts_are_joined() {
        let v = vars(&[
            ("SMS_MESSAGES", "2"),
            ("SMS_1_NUMBER", "081234567890"),
            ("SMS_1_TEXT", "lampu jalan "),
            ("SMS_2_TEXT", "mati"),
        ]);
        let m = parse("g", &v, &[], Utc::now()).expect("parsed");
        assert_eq!(m.text, "lampu jalan mati");
        assert!(m.provider_message_id.starts_with("sha256:"));
        let again = parse("g", &v, &[], Utc::now()).expect("parsed");
        assert_eq!(
            m.provider_message_id, again.provider_message_id,
            "stable without ids"
        );
    }

    #[test]
    fn missing_sender_or_text_and_bad_counts_are_refused() {
        assert_eq!(
            parse(
                "g",
                &vars(&[("SMS_MESSAGES", "1"), ("SMS_1_TEXT", "x")]),
                &[],
                Utc::now()
            ),
            Err(ChannelError::MissingField("SMS_1_NUMBER".into()))
        );
        assert_eq!(
            parse(
                "g",
                &vars(&[("SMS_MESSAGES", "1"), ("SMS_1_NUMBER", "0812")]),
                &[],
                Utc::now()
            ),
            Err(ChannelError::MissingField("SMS_1_TEXT".into()))
        );
        assert!(matches!(
            parse(
                "g",
                &vars(&[
                    ("SMS_MESSAGES", "dua"),
                    ("SMS_1_NUMBER", "0812"),
                    ("SMS_1_TEXT", "x")
                ]),
                &[],
                Utc::now()
            ),
            Err(ChannelError::InvalidField { .. })
        ));
    }
}
