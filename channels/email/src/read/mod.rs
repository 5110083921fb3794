//! One raw mail (RFC 5322 bytes, as IMAP or a push hook delivers it) → the
//! [`InboundMessage`] the intake stores, and what the service will do with
//! it ([`decision`]).
//!
//! [`MailReader::read`] never fails: mail-parser reads the MIME structure and
//! every charset it knows, and what cannot be read at all comes back with
//! `flag` set, so the service quarantines it and can read it again later.
//! What comes out, in the order it is decided:
//!
//! 1. **Identity.** The `Message-ID` is the provider id; mail without one is
//!    keyed on the sha256 of its bytes, so the same file read twice is the
//!    same message. The reporter is `From`, else `Sender`, else
//!    `Return-Path`; mail with none of them is flagged.
//! 2. **Loops** (`auto`). RFC 3834 signs (`Auto-Submitted`, `Precedence`,
//!    list headers, null or system senders, our own addresses and Message-ID
//!    domains) set `no_reply`; auto-replies, out-of-office answers, list mail
//!    and our own mail coming back are also `ignore`d.
//! 3. **Bounces** (`bounce`). An RFC 3464 delivery report names the
//!    Message-ID of ours that failed, with the status and diagnostic.
//! 4. **Forwards** (`forward`). When an agency forwards a citizen's mail
//!    (attached as `message/rfc822`, or inline under a Gmail, Outlook,
//!    Thunderbird or Indonesian client's header block), the citizen becomes
//!    the reporter and the agency `forwarded_by`; the text, subject and date
//!    are the citizen's, and so are `reply_to` and `references` (those of an
//!    attached original; none for an inline one, since the forwarder's own
//!    thread headers say nothing about the citizen's mail).
//! 5. **Text** (`parts`, `html`, `reply`). text/plain, else HTML made
//!    readable; for a reply, the quoted part and the signature are cut.
//! 6. **Attachments** (`parts`). Every attached or inline file, keyed
//!    `{message id}#{part path}` so that [`attachment`] finds its bytes again
//!    in the stored raw mail.

mod auto;
mod bounce;
mod date;
mod forward;
mod headers;
mod html;
mod parts;
mod reply;
mod subject;

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser, PartType};
use salur_channels_core::{ChannelKind, InboundMessage, Reporter};

pub use subject::tracking_code;

/// The content type stored with every raw payload.
pub const RAW_CONTENT_TYPE: &str = "message/rfc822";

/// The handle given to mail whose sender cannot be read (always flagged).
const UNKNOWN_HANDLE: &str = "email:unknown";

/// Reads mail for one email channel.
#[derive(Debug, Clone)]
pub struct MailReader {
    channel_name: String,
    own_addresses: Vec<String>,
    own_domains: Vec<String>,
}

/// What the service will do with a read message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Opens a new complaint.
    Complaint,
    /// Joins the complaint it replies to (by `reply_to`, `references` or a
    /// tracking code in the subject), or opens one when none matches.
    Append,
    /// Recorded against our message that bounced.
    Bounce,
    /// Kept, opens nothing, needs no admin.
    Ignore,
    /// Kept for an admin: the mail could not be read.
    Quarantine,
}

/// What the service will do with `m`: a flag quarantines it; then a bounce,
/// then an ignore reason, win; a reply (`reply_to`, `references`, or a
/// tracking code in the subject) appends; anything else is a complaint.
pub fn decision(m: &InboundMessage) -> Decision {
    if m.flag.is_some() {
        Decision::Quarantine
    } else if m.bounce.is_some() {
        Decision::Bounce
    } else if m.ignore.is_some() {
        Decision::Ignore
    } else if m.reply_to.is_some()
        || !m.references.is_empty()
        || m.subject.as_deref().and_then(tracking_code).is_some()
    {
        Decision::Append
    } else {
        Decision::Complaint
    }
}

/// The bytes and MIME type of attachment `provider_ref` (as `read` set it)
/// of `raw`; `None` when there is no such part, or when the reference was
/// made for another mail. Text attachments come back as UTF-8, whatever
/// charset they were sent in.
pub fn attachment(raw: &[u8], provider_ref: &str) -> Option<(Bytes, Option<String>)> {
    let (id, path) = provider_ref.rsplit_once('#')?;
    let path = parts::parse_path(path)?;
    // mail-parser promises not to panic; a panic here would only mean "no
    // such part", never a crashed fetcher.
    catch_unwind(AssertUnwindSafe(|| {
        let message = MessageParser::default().parse(raw)?;
        if headers::provider_id(&message, raw) != id {
            return None;
        }
        let part = parts::find(&message, &path)?;
        if matches!(part.body, PartType::Multipart(_)) {
            return None;
        }
        Some((Bytes::copy_from_slice(part.contents()), parts::mime(part)))
    }))
    .ok()
    .flatten()
}

impl MailReader {
    /// `own_addresses`: our sending addresses (lower-cased); `own_domains`:
    /// the domains of Message-IDs we generate.
    pub fn new(channel_name: String, own_addresses: Vec<String>, own_domains: Vec<String>) -> Self {
        let lower = |v: Vec<String>| {
            v.into_iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Self {
            channel_name,
            own_addresses: lower(own_addresses),
            own_domains: lower(own_domains),
        }
    }

    /// Never fails: mail that cannot be read comes back with `flag` set
    /// (quarantined by the service, reprocessable).
    pub fn read(&self, raw: &[u8], received_at: DateTime<Utc>) -> InboundMessage {
        let bytes = Bytes::copy_from_slice(raw);
        // mail-parser promises not to panic, and nothing here unwraps; this
        // is the last line of defence so that one mail never stops a poller.
        catch_unwind(AssertUnwindSafe(|| self.read_mail(&bytes, received_at))).unwrap_or_else(
            |_| {
                let mut m = self.blank(&bytes, received_at);
                m.flag = Some("the mail reader failed on this mail".into());
                m
            },
        )
    }

    /// A message with nothing read yet: keyed on the content hash, from an
    /// unknown sender.
    fn blank(&self, raw: &Bytes, received_at: DateTime<Utc>) -> InboundMessage {
        let reporter = Reporter {
            handle: UNKNOWN_HANDLE.into(),
            ..Reporter::default()
        };
        InboundMessage::new(
            ChannelKind::Email,
            self.channel_name.clone(),
            headers::content_id(raw),
            reporter,
            received_at,
            raw.clone(),
            RAW_CONTENT_TYPE.into(),
        )
    }

    fn read_mail(&self, raw: &Bytes, received_at: DateTime<Utc>) -> InboundMessage {
        let mut m = self.blank(raw, received_at);
        let Some(mail) = MessageParser::default().parse(&raw[..]) else {
            m.flag = Some("not a mail message: no header could be read".into());
            return m;
        };
        m.provider_message_id = headers::provider_id(&mail, raw);
        m.sent_at = headers::date(&mail);
        let outer_subject = subject::clean(mail.subject());
        let Some(sender) = headers::sender(&mail) else {
            m.flag = Some(
                "no sender address: From, Sender and Return-Path are missing or unreadable".into(),
            );
            m.subject = outer_subject.text;
            m.text = parts::body_text(&mail).trim().to_owned();
            m.attachments = parts::attachments(&mail, &m.provider_message_id, &[]);
            return m;
        };

        let auto::Verdict {
            no_reply,
            ignore,
            only_generated,
        } = auto::judge(
            &mail,
            sender.email.as_deref().unwrap_or_default(),
            mail.subject(),
            &self.own_addresses,
            &self.own_domains,
        );
        m.no_reply = no_reply;
        m.ignore = ignore;

        if bounce::is_delivery_report(&mail) {
            // A delivery report's own auto-reply signs say nothing more.
            match bounce::read(&mail) {
                Ok(b) => {
                    m.bounce = Some(b);
                    m.ignore = None;
                }
                Err(why) => m.ignore = Some(why),
            }
            m.reporter = sender;
            (m.reply_to, m.references) = headers::thread(&mail);
            m.subject = outer_subject.text;
            m.text = parts::body_text(&mail).trim().to_owned();
            return m;
        }

        let outer_text = parts::body_text(&mail);
        let unwrapped = forward::unwrap(&mail, &outer_text, mail.subject(), m.sent_at);
        let (content, unwrapped_parts) = match unwrapped {
            Some(f) => {
                // An agency's forwarding rule: the citizen's mail inside is
                // no automatic mail.
                if only_generated {
                    m.ignore = None;
                }
                m.forwarded_by = Some(sender);
                m.reporter = f.reporter;
                if f.sent_at.is_some() {
                    m.sent_at = f.sent_at;
                }
                let content = Content {
                    subject: subject::clean(f.subject.as_deref()),
                    text: f.text,
                    thread: f.message,
                };
                (content, f.unwrapped)
            }
            None => {
                m.reporter = sender;
                let content = Content {
                    subject: outer_subject,
                    text: outer_text,
                    thread: Some(&mail),
                };
                (content, Vec::new())
            }
        };
        if let Some(thread) = content.thread {
            let (reply_to, references) = headers::thread(thread);
            m.reply_to = reply_to;
            m.references = references;
        }
        let is_reply = content.subject.first == subject::Prefix::Reply
            || (content.subject.first != subject::Prefix::Forward
                && (m.reply_to.is_some() || !m.references.is_empty()));
        m.text = if is_reply {
            reply::strip(&content.text)
        } else {
            content.text.trim().to_owned()
        };
        m.subject = content.subject.text;
        // A report's parts (a read receipt's disposition) are machine data,
        // not files for a complaint.
        if auto::report_type(&mail).is_none() {
            m.attachments = parts::attachments(&mail, &m.provider_message_id, &unwrapped_parts);
        }
        m
    }
}

/// The part of a mail that becomes the message: the outer mail's, or the
/// forwarded one's.
struct Content<'m> {
    subject: subject::Subject,
    text: String,
    /// The mail whose `In-Reply-To` and `References` apply: the outer one,
    /// the innermost attached forward, or none for an inline forward (the
    /// forwarder's thread is not the citizen's).
    thread: Option<&'m Message<'m>>,
}
