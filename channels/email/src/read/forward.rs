//! Forwards: an agency passing a citizen's mail on to us.
//!
//! Two shapes are read, level after level, so that a forward of a forward
//! resolves to the first (innermost) sender:
//!
//! - **Attached**: a `message/rfc822` part, when the forwarder's own text is
//!   a short note (or nothing) and the subject starts with a forward prefix
//!   or the note says the mail is forwarded. A citizen attaching a saved
//!   mail as evidence is not a forward.
//! - **Inline**: a header block in the text under Gmail's
//!   `---------- Forwarded message ---------`, Thunderbird's `--------
//!   Forwarded Message --------`, Apple Mail's `Begin forwarded message:`,
//!   their Indonesian forms (`Pesan terusan`, `Pesan Terusan`, `Pesan yang
//!   diteruskan`), or Outlook's bare `From:`/`Sent:`/`To:`/`Subject:` block
//!   (`Dari:`/`Dikirim:`/`Kepada:`/`Subjek:`). Outlook writes the same block
//!   when replying, so a bare block counts only when the subject says
//!   forward, or the mail is no reply and its text says forwarded. A mail
//!   whose subject says reply (`Re:`) is never read as an inline forward:
//!   what follows its own words is the quoted thread.
//!
//! When a level's sender cannot be read as an address, nothing is unwrapped:
//! the forwarder stays the reporter, with the whole mail as text.

use chrono::{DateTime, Utc};
use mail_parser::Message;
use salur_channels_core::Reporter;

use super::subject::{self, Prefix};
use super::{date, headers, parts};

/// A forwarded note longer than this (in characters) is a mail of its own,
/// not a cover note for an attached forward.
const SHORT_NOTE: usize = 500;

/// Words that say a mail is forwarded, lower case.
const SAYS_FORWARDED: &[&str] = &[
    "forward",
    "fwd",
    "diteruskan",
    "meneruskan",
    "teruskan",
    "terusan",
];

/// Inline markers, lower case, without the dashes around them.
const MARKERS: &[&str] = &[
    "forwarded message",
    "pesan terusan",
    "pesan yang diteruskan",
    "pesan diteruskan",
];

/// Lines that open an inline forward as they are, lower case.
const PLAIN_MARKERS: &[&str] = &[
    "begin forwarded message:",
    "awal pesan yang diteruskan:",
    "pesan yang diteruskan:",
];

/// The citizen's mail found inside a forward.
pub(super) struct Forward<'m> {
    /// The original sender.
    pub reporter: Reporter,
    /// The original text, without the forwarders' notes.
    pub text: String,
    /// The original subject, as written.
    pub subject: Option<String>,
    /// The original date, when it could be read.
    pub sent_at: Option<DateTime<Utc>>,
    /// The innermost attached mail that was unwrapped, whose thread headers
    /// are the citizen's; `None` when the citizen's mail was inline.
    pub message: Option<&'m Message<'m>>,
    /// The paths of the `message/rfc822` parts that were unwrapped.
    pub unwrapped: Vec<Vec<u32>>,
}

/// A header field of a forwarded block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Date,
    Subject,
    Other,
}

/// The citizen's mail in `mail` (whose text is `text`, subject `subject`),
/// if `mail` is a forward and every level's sender can be read.
/// `fallback_date` is `mail`'s date, the bound for a forwarded date read
/// without a zone.
pub(super) fn unwrap<'m>(
    mail: &'m Message<'m>,
    text: &str,
    subject: Option<&str>,
    fallback_date: Option<DateTime<Utc>>,
) -> Option<Forward<'m>> {
    let mut current = mail;
    let mut path: Vec<u32> = Vec::new();
    let mut text = text.to_owned();
    let mut subject = subject.map(str::to_owned);
    // `text` is the whole body of `current`, so its attachments may hold a
    // forward; false once inside an inline block.
    let mut whole_body = true;
    let mut zone = headers::offset(mail);
    let mut upper_date = fallback_date;
    let mut found: Option<(Reporter, Option<DateTime<Utc>>)> = None;
    let mut message = None;
    let mut unwrapped = Vec::new();
    // Each level consumes part of the mail, so this ends; the bound only
    // guards against pathological input.
    for _ in 0..32 {
        let kind = subject::clean(subject.as_deref()).first;
        if whole_body && let Some((id, inner)) = attached(current, &text, kind) {
            let reporter = headers::sender(inner)?;
            path.push(id);
            unwrapped.push(path.clone());
            text = parts::body_text(inner);
            subject = inner.subject().map(str::to_owned);
            let sent = headers::date(inner);
            found = Some((reporter, sent));
            zone = headers::offset(inner).or(zone);
            upper_date = sent.or(upper_date);
            message = Some(inner);
            current = inner;
            continue;
        }
        let Some(block) = inline(&text, kind) else {
            break;
        };
        let reporter = headers::reporter_from_line(block.from.as_deref()?)?;
        // A date that would be later than the mail carrying it was read in
        // the wrong zone (Exchange writes `Date` in UTC): not trusted.
        let sent = block
            .date
            .as_deref()
            .and_then(|d| date::parse_loose(d, zone))
            .filter(|d| upper_date.is_none_or(|u| *d <= u));
        found = Some((reporter, sent));
        upper_date = sent.or(upper_date);
        text = block.body;
        subject = block.subject;
        whole_body = false;
    }
    let (reporter, sent_at) = found?;
    Some(Forward {
        reporter,
        text: text.trim().to_owned(),
        subject,
        sent_at,
        message,
        unwrapped,
    })
}

/// The attached mail `mail` forwards, with its part index.
fn attached<'m>(mail: &'m Message<'m>, note: &str, kind: Prefix) -> Option<(u32, &'m Message<'m>)> {
    let note = note.trim();
    let short = note.chars().count() <= SHORT_NOTE;
    if !short || !(kind == Prefix::Forward || says_forwarded(note)) {
        return None;
    }
    mail.attachments.iter().find_map(|&id| {
        let inner = mail.parts.get(id as usize)?.message()?;
        Some((id, inner))
    })
}

fn says_forwarded(text: &str) -> bool {
    let lower = text.to_lowercase();
    SAYS_FORWARDED.iter().any(|w| lower.contains(w))
}

/// An inline forwarded mail.
struct Block {
    from: Option<String>,
    date: Option<String>,
    subject: Option<String>,
    body: String,
}

impl Block {
    /// Where the value of field `f` goes; `None` for fields not kept.
    fn slot(&mut self, f: Field) -> Option<&mut Option<String>> {
        match f {
            Field::From => Some(&mut self.from),
            Field::Date => Some(&mut self.date),
            Field::Subject => Some(&mut self.subject),
            Field::Other => None,
        }
    }
}

/// The first inline forward in `text`, a mail whose subject prefix is
/// `kind`.
fn inline(text: &str, kind: Prefix) -> Option<Block> {
    // A reply's quoted part may hold a forward someone else made (Outlook
    // quotes without `>`): that is not this mail's content.
    if kind == Prefix::Reply {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    // Whether the text above the current line says it is forwarded.
    let mut said = false;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.starts_with('>') {
            continue;
        }
        if is_marker(line) {
            return header_block(&lines, i + 1);
        }
        let bare_allowed = kind == Prefix::Forward || (kind == Prefix::None && said);
        if bare_allowed
            && field(line).is_some_and(|(f, _)| f == Field::From)
            && lines[i + 1..]
                .iter()
                .take(6)
                .take_while(|l| !l.trim().is_empty())
                .any(|l| field(l).is_some_and(|(f, _)| f == Field::Date))
        {
            return header_block(&lines, i);
        }
        said = said || says_forwarded(line);
    }
    None
}

/// A line such as `---------- Forwarded message ---------`.
fn is_marker(line: &str) -> bool {
    let lower = line.to_lowercase();
    if PLAIN_MARKERS.contains(&lower.as_str()) {
        return true;
    }
    let core = lower.trim_matches(|c: char| c == '-' || c == '_' || c.is_whitespace());
    lower.starts_with("--") && MARKERS.contains(&core)
}

/// The header lines from `start` (after blank lines) up to the first blank
/// line, and the body after them.
fn header_block(lines: &[&str], start: usize) -> Option<Block> {
    let mut i = start;
    while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
        i += 1;
    }
    let mut block = Block {
        from: None,
        date: None,
        subject: None,
        body: String::new(),
    };
    let mut last: Option<Field> = None;
    while let Some(line) = lines.get(i) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        match field(line) {
            Some((f, value)) => {
                if let Some(slot) = block.slot(f)
                    && slot.is_none()
                {
                    *slot = Some(value.to_owned());
                }
                last = Some(f);
            }
            // A value the client wrapped onto the next line.
            None => {
                if let Some(Some(v)) = block.slot(last?)
                    && matches!(last, Some(Field::From | Field::Subject))
                {
                    v.push(' ');
                    v.push_str(line);
                }
            }
        }
        i += 1;
    }
    last?;
    block.body = lines.get(i..).unwrap_or_default().join("\n");
    Some(block)
}

/// A forwarded header line: its field and value. Gmail's plain text may
/// wrap the name in `*`, Thunderbird puts a tab after the colon.
fn field(line: &str) -> Option<(Field, &str)> {
    let line = line.trim().trim_start_matches('*');
    let (key, value) = line.split_once(':')?;
    let key = key.trim().trim_end_matches('*').to_lowercase();
    let f = match key.as_str() {
        "from" | "dari" => Field::From,
        "date" | "sent" | "tanggal" | "dikirim" | "terkirim" | "waktu" => Field::Date,
        "subject" | "subjek" | "perihal" | "judul" => Field::Subject,
        "to" | "kepada" | "cc" | "bcc" | "tembusan" | "reply-to" | "balas ke" | "organization"
        | "organisasi" | "importance" | "prioritas" | "attachments" | "lampiran" => Field::Other,
        _ => return None,
    };
    Some((f, value.trim().trim_start_matches('*').trim()))
}

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::*;

    /// The reporter's handle and the text of `body` forwarded under
    /// `subject`, if it is read as a forward.
    fn unwrapped(subject: &str, body: &str) -> Option<(String, String)> {
        let raw = format!(
            "From: Dinas <dinas@example-kab.go.id>\nDate: Mon, 3 Nov 2025 10:00:00 +0700\nSubject: {subject}\n\n{body}"
        );
        let mail = MessageParser::default().parse(raw.as_bytes())?;
        let text = parts::body_text(&mail);
        let f = unwrap(&mail, &text, mail.subject(), headers::date(&mail))?;
        Some((f.reporter.handle, f.text))
    }

    #[test]
    fn client_header_forms() {
        for (subject, body) in [
            (
                "Fwd: Lampu",
                "Begin forwarded message:\n\nFrom: Budi <budi@example.com>\nSubject: Lampu\nDate: 3 November 2025 09.00.00 WIB\nTo: x@y.id\n\nLampu mati.",
            ),
            (
                "Fwd: Lampu",
                "---------- Forwarded message ---------\n*From:* *Budi* <budi@example.com>\n*Date:* Mon, Nov 3, 2025 at 9:00 AM\n\nLampu mati.",
            ),
            (
                "FW: Lampu",
                "-----Original Message-----\nFrom: Budi [mailto:budi@example.com]\nSent: Monday, November 03, 2025 9:00 AM\nTo: Dinas\nSubject: Lampu\n\nLampu mati.",
            ),
            (
                "Lampu",
                "Kami teruskan aduan ini.\n\nDari: budi@example.com <budi@example.com>\nDikirim: Senin, 03 November 2025 09.00\nKepada: Dinas\n\nLampu mati.",
            ),
            (
                "Fwd: Lampu",
                "----- Pesan yang Diteruskan -----\nDari: \"Budi\" <BUDI@Example.com>\nTanggal: Sen, 3 Nov 2025 pukul 9.00\n\nLampu mati.",
            ),
        ] {
            assert_eq!(
                unwrapped(subject, body),
                Some((
                    "email:budi@example.com".to_owned(),
                    "Lampu mati.".to_owned()
                )),
                "{body}"
            );
        }
    }

    #[test]
    fn replies_and_unmarked_blocks_are_not_forwards() {
        // Outlook quotes the thread without `>`; a reply is no forward.
        let quoted = "Sudah diperbaiki.\n\n________________________________\nFrom: Budi <budi@example.com>\nSent: Monday, November 3, 2025 9:00 AM\nSubject: Lampu\n\nLampu mati.";
        assert_eq!(unwrapped("RE: Lampu", quoted), None);
        assert_eq!(unwrapped("Lampu", quoted), None);
        let gmail = "Oke.\n\nOn Mon, Nov 3 Budi wrote:\n> ---------- Forwarded message ---------\n> From: Ani <ani@example.com>\n";
        assert_eq!(unwrapped("Fwd: Lampu", gmail), None);
        // A marker without a readable sender leaves the forwarder.
        let nameless = "---------- Forwarded message ---------\nFrom: Budi\nDate: Mon, Nov 3, 2025 at 9:00 AM\n\nLampu mati.";
        assert_eq!(unwrapped("Fwd: Lampu", nameless), None);
    }
}
