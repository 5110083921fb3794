//! MIME parts: the body text, the attachments, and finding a part again by
//! the path `read` gave it.
//!
//! A part's path is its index in mail-parser's part list, preceded by the
//! indexes of the `message/rfc822` parts it sits in (`3`, or `2.4` for part
//! 4 of the mail attached as part 2). mail-parser numbers parts in the
//! order they appear, so the same bytes always give the same paths.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use salur_channels_core::AttachmentRef;

use super::{headers, html};

/// The readable text of `mail`: its text/plain body parts, else its HTML
/// ones made readable, with line endings as `\n` and `format=flowed` lines
/// joined. A lone top-level part whose Content-Type mail-parser could not
/// place (`text/plain charset=utf-8`, a multipart without its boundary) is
/// the body.
pub(super) fn body_text(mail: &Message<'_>) -> String {
    let texts = |ids: &[u32]| -> String {
        ids.iter()
            .filter_map(|&id| mail.parts.get(id as usize))
            .filter_map(part_text)
            .filter(|t| !t.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    let mut text = texts(&mail.text_body);
    if text.trim().is_empty() {
        text = texts(&mail.html_body);
    }
    if text.trim().is_empty() && root_is_body(mail) {
        text = mail.parts.first().and_then(part_text).unwrap_or_default();
    }
    text
}

/// The text of a text or HTML part.
fn part_text(part: &MessagePart<'_>) -> Option<String> {
    match &part.body {
        PartType::Text(t) => {
            let t = t.replace("\r\n", "\n").replace('\r', "\n");
            let ct = part.content_type();
            let flowed = ct
                .and_then(|c| c.attribute("format"))
                .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
            let delsp = ct
                .and_then(|c| c.attribute("delsp"))
                .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
            Some(if flowed { unflow(&t, delsp) } else { t })
        }
        PartType::Html(h) => Some(html::to_text(h)),
        _ => None,
    }
}

/// Joins the soft line breaks of `format=flowed` text (RFC 3676): a line
/// ending in a space goes on with the next one. The signature separator
/// `-- ` and quoted lines keep their breaks.
fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut soft_before = false;
    for (i, line) in text.split('\n').enumerate() {
        let quoted = line.starts_with('>');
        // Space-stuffing: a flowed line's first space was added by the sender.
        let line = line.strip_prefix(' ').unwrap_or(line);
        if i > 0 && !(soft_before && !quoted && !line.is_empty()) {
            out.push('\n');
        }
        let soft = !quoted && line.ends_with(' ') && line != "-- ";
        out.push_str(if soft && delsp {
            &line[..line.len() - 1]
        } else {
            line
        });
        soft_before = soft;
    }
    out
}

/// Whether mail-parser found no body part and the top-level part is text it
/// only filed as an attachment because its Content-Type is malformed.
fn root_is_body(mail: &Message<'_>) -> bool {
    mail.text_body.is_empty()
        && mail.html_body.is_empty()
        && mail.parts.first().is_some_and(|p| {
            matches!(p.body, PartType::Text(_) | PartType::Html(_))
                && !p.content_disposition().is_some_and(|d| d.is_attachment())
                && p.attachment_name().is_none()
        })
}

/// The files of `mail` (attached, or inline like a `cid:` image), keyed on
/// `message_id`. The `message/rfc822` parts at `unwrapped` are forwards read
/// as the message: their own files are listed instead of them.
pub(super) fn attachments(
    mail: &Message<'_>,
    message_id: &str,
    unwrapped: &[Vec<u32>],
) -> Vec<AttachmentRef> {
    let mut out = Vec::new();
    collect(mail, &mut Vec::new(), message_id, unwrapped, &mut out);
    out
}

fn collect(
    mail: &Message<'_>,
    prefix: &mut Vec<u32>,
    message_id: &str,
    unwrapped: &[Vec<u32>],
    out: &mut Vec<AttachmentRef>,
) {
    for &id in &mail.attachments {
        let Some(part) = mail.parts.get(id as usize) else {
            continue;
        };
        prefix.push(id);
        if unwrapped.contains(prefix) {
            if let Some(inner) = part.message() {
                collect(inner, prefix, message_id, unwrapped, out);
            }
        } else if listed(mail, id, part) {
            let contents = part.contents();
            out.push(AttachmentRef {
                provider_ref: format!("{message_id}#{}", path_text(prefix)),
                mime: mime(part),
                filename: part
                    .attachment_name()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
                size: u64::try_from(contents.len()).ok(),
                sha256: Some(headers::sha256_hex(contents)),
                caption: None,
            });
        }
        prefix.pop();
    }
}

/// Whether part `id` of `mail` is a file to list: not a container, not the
/// body read in its place, and not a part mail-parser could not decode (a
/// file cut short in a truncated mail, whose bytes would be garbage).
fn listed(mail: &Message<'_>, id: u32, part: &MessagePart<'_>) -> bool {
    let declared_text = part
        .content_type()
        .is_none_or(|c| c.ctype().eq_ignore_ascii_case("text"));
    let container = matches!(part.body, PartType::Multipart(_));
    let read_as_body = id == 0 && root_is_body(mail);
    let undecodable = part.is_encoding_problem && !declared_text && !part.is_message();
    !(container || read_as_body || undecodable)
}

fn path_text(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The path in a provider reference (`2.4`).
pub(super) fn parse_path(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|p| p.parse().ok()).collect()
}

/// The part at `path` in `mail`.
pub(super) fn find<'a, 'x>(mail: &'a Message<'x>, path: &[u32]) -> Option<&'a MessagePart<'x>> {
    let (&last, outer) = path.split_last()?;
    let mut current = mail;
    for &id in outer {
        current = current.parts.get(id as usize)?.message()?;
    }
    current.parts.get(last as usize)
}

/// The MIME type of a part, lower case, without parameters. A Content-Type
/// mail-parser could not split into type and subtype is replaced by what
/// the part was read as.
pub(super) fn mime(part: &MessagePart<'_>) -> Option<String> {
    let declared = part.content_type().and_then(|c| {
        let sub = c.subtype()?;
        let clean = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "!#$&^_.+-".contains(ch))
        };
        (clean(c.ctype()) && clean(sub)).then(|| format!("{}/{sub}", c.ctype()).to_lowercase())
    });
    declared.or_else(|| {
        Some(
            match part.body {
                PartType::Text(_) => "text/plain",
                PartType::Html(_) => "text/html",
                PartType::Message(_) => "message/rfc822",
                PartType::Binary(_) | PartType::InlineBinary(_) => "application/octet-stream",
                PartType::Multipart(_) => return None,
            }
            .to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flowed_lines_are_joined() {
        assert_eq!(
            unflow("Jalan ini \nrusak parah.\n\n-- \nBudi\n", false),
            "Jalan ini rusak parah.\n\n-- \nBudi\n"
        );
        assert_eq!(unflow("Jal an\nx", true), "Jal an\nx");
        assert_eq!(unflow("Ja \nlan", true), "Jalan");
        assert_eq!(unflow("> kutip \n> lagi", false), "> kutip \n> lagi");
    }
}
