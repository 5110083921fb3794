//! Delivery status notifications (RFC 3464): which of our messages could
//! not be delivered, and why.
//!
//! A `multipart/report; report-type=delivery-status` holds a
//! `message/delivery-status` part (per-recipient `Action`, `Status` and
//! `Diagnostic-Code` fields) and usually the returned message, whole
//! (`message/rfc822`) or as headers only (`text/rfc822-headers`); its
//! Message-ID names the message of ours that bounced. A report whose
//! recipients were all delayed, delivered, relayed or expanded is no
//! failure, and a failure whose original cannot be found cannot be
//! recorded: both are ignored.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use salur_channels_core::Bounce;

use super::{auto, headers};

/// Why a failure report is ignored when its original cannot be found.
pub(super) const UNIDENTIFIED: &str = "bounce of a message that cannot be identified";

/// Whether `mail` is an RFC 3464 delivery status notification.
pub(super) fn is_delivery_report(mail: &Message<'_>) -> bool {
    auto::report_type(mail).is_some_and(|t| t == "delivery-status")
}

/// The bounce a delivery report describes, or why it is ignored.
pub(super) fn read(mail: &Message<'_>) -> Result<Bounce, String> {
    let fields = status_fields(mail);
    let first = |name: &str| {
        fields
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let actions: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n == "action")
        .map(|(_, v)| v.to_lowercase())
        .collect();
    if !actions.is_empty() && !actions.iter().any(|a| a.starts_with("failed")) {
        return Err(format!(
            "delivery status report ({}), not a failure",
            actions.join(", ")
        ));
    }
    let of = original_id(mail).ok_or_else(|| UNIDENTIFIED.to_owned())?;
    let reason = [first("status"), first("diagnostic-code")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Bounce {
        of,
        reason: if reason.is_empty() {
            "delivery failed".to_owned()
        } else {
            reason
        },
    })
}

/// The fields of the `message/delivery-status` part, names lower case,
/// values unfolded, in order.
fn status_fields(mail: &Message<'_>) -> Vec<(String, String)> {
    let Some(part) = mail.parts.iter().find(|p| {
        p.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case("message")
                && c.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    }) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(part.contents()).replace("\r\n", "\n");
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    fields
}

/// The Message-ID of the returned message, from a `message/rfc822` part
/// or a `text/rfc822-headers` one.
fn original_id(mail: &Message<'_>) -> Option<String> {
    mail.parts.iter().find_map(|p| {
        if let PartType::Message(inner) = &p.body {
            return headers::message_id(inner);
        }
        let ct = p.content_type()?;
        let sub = ct.subtype()?.to_ascii_lowercase();
        let returned = match ct.ctype().to_ascii_lowercase().as_str() {
            "text" => sub == "rfc822-headers",
            "message" => matches!(sub.as_str(), "rfc822" | "global" | "global-headers"),
            _ => false,
        };
        if !returned {
            return None;
        }
        let inner = MessageParser::default().parse_headers(p.contents())?;
        headers::message_id(&inner)
    })
}
