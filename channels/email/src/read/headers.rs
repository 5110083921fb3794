//! Header fields: ids, dates, senders and threads, read from mail-parser's
//! parsed values, or from the raw text where it keeps only that.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, Utc};
use mail_parser::parsers::MessageStream;
use mail_parser::{Addr, Address, HeaderName, HeaderValue, Message};
use salur_channels_core::Reporter;
use sha2::{Digest, Sha256};

/// The raw, unfolded and trimmed values of every header `name` (any case)
/// of `mail`'s top level.
pub(super) fn raw_values<'a>(
    mail: &'a Message<'a>,
    name: &'a str,
) -> impl Iterator<Item = String> + 'a {
    mail.headers()
        .iter()
        .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(move |h| {
            let bytes = mail
                .raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            unfold(&String::from_utf8_lossy(bytes))
        })
}

/// Whether `mail` has a header `name` at its top level.
pub(super) fn has(mail: &Message<'_>, name: &str) -> bool {
    mail.headers()
        .iter()
        .any(|h| h.name.as_str().eq_ignore_ascii_case(name))
}

/// A folded header value on one line, trimmed.
pub(super) fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sha256:` and the hex sha256 of `raw`: the id of mail without a
/// Message-ID.
pub(super) fn content_id(raw: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(raw))
}

/// The hex sha256 of `bytes`.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The Message-ID without angle brackets, when it has a non-empty one.
pub(super) fn message_id(mail: &Message<'_>) -> Option<String> {
    let value = mail.header(HeaderName::MessageId)?;
    ids(value).into_iter().next()
}

/// The provider id of `mail`: its Message-ID, else the hash of its bytes.
pub(super) fn provider_id(mail: &Message<'_>, raw: &[u8]) -> String {
    message_id(mail).unwrap_or_else(|| content_id(raw))
}

/// The ids of an id-list header value, brackets and blanks removed.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(Cow::as_ref).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `In-Reply-To` (its first id) and `References` (nearest first, without
/// the `In-Reply-To` one, each once).
pub(super) fn thread(mail: &Message<'_>) -> (Option<String>, Vec<String>) {
    let reply_to = ids(mail.in_reply_to()).into_iter().next();
    let mut references: Vec<String> = Vec::new();
    for id in ids(mail.references()).into_iter().rev() {
        if Some(&id) != reply_to.as_ref() && !references.contains(&id) {
            references.push(id);
        }
    }
    (reply_to, references)
}

/// The `Date` header, when it is a real date.
pub(super) fn date(mail: &Message<'_>) -> Option<DateTime<Utc>> {
    let d = mail.date().filter(|d| d.is_valid())?;
    DateTime::from_timestamp(d.to_timestamp(), 0)
}

/// The zone the `Date` header was written in: the sender's local time.
pub(super) fn offset(mail: &Message<'_>) -> Option<FixedOffset> {
    let d = mail.date().filter(|d| d.is_valid())?;
    let seconds = i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60;
    FixedOffset::east_opt(if d.tz_before_gmt { -seconds } else { seconds })
}

/// The sender of `mail`: the first usable address of `From`, else of
/// `Sender`, else the `Return-Path` (named by `From`'s display name when
/// `From` has a name but no address).
pub(super) fn sender(mail: &Message<'_>) -> Option<Reporter> {
    if let Some(r) = mail.from().and_then(first_reporter) {
        return Some(r);
    }
    if let Some(r) = mail.sender().and_then(first_reporter) {
        return Some(r);
    }
    let path = raw_values(mail, "Return-Path").next()?;
    let inner = path
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let from_name = mail
        .from()
        .and_then(Address::first)
        .and_then(|a| a.name.as_deref());
    reporter(inner, from_name)
}

fn first_reporter(address: &Address<'_>) -> Option<Reporter> {
    address.iter().find_map(addr_reporter)
}

fn addr_reporter(a: &Addr<'_>) -> Option<Reporter> {
    reporter(a.address.as_deref()?, a.name.as_deref())
}

/// A reporter for `address`, when it is a usable address: handle
/// `email:{lower-cased address}`.
pub(super) fn reporter(address: &str, name: Option<&str>) -> Option<Reporter> {
    let email = valid_address(address)?;
    let name = name
        .map(|n| n.trim().trim_matches(['"', '\'']).trim())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&email))
        .map(str::to_owned);
    Some(Reporter {
        handle: format!("email:{}", email.to_lowercase()),
        name,
        phone: None,
        email: Some(email),
    })
}

/// `address` trimmed, when it looks like `local@domain.tld`.
fn valid_address(address: &str) -> Option<String> {
    let a = address.trim();
    let a = a
        .strip_prefix("mailto:")
        .or_else(|| a.strip_prefix("MAILTO:"))
        .unwrap_or(a);
    let (local, domain) = a.rsplit_once('@')?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\"@\\".contains(c);
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;".contains(c))
        && !domain.chars().any(bad)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    ok.then(|| a.to_owned())
}

/// The reporter named by a forwarded header line's value, as mail clients
/// write it in the body: `Name <a@b>`, `"Name" <a@b>`, `a@b`,
/// `Name [mailto:a@b]`, Gmail's `*Name* <a@b>`.
pub(super) fn reporter_from_line(value: &str) -> Option<Reporter> {
    let cleaned = value
        .replace('*', "")
        .replace("[mailto:", "<")
        .replace("<mailto:", "<")
        .replace(']', ">");
    let line = format!("{}\n", cleaned.trim());
    if let HeaderValue::Address(address) = MessageStream::new(line.as_bytes()).parse_address()
        && let Some(r) = first_reporter(&address)
    {
        return Some(r);
    }
    // Not an address list mail-parser can read: the first word that is an
    // address, named by what comes before it.
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    words.iter().enumerate().find_map(|(i, w)| {
        let candidate = w.trim_matches(|c: char| "<>()[],;\"'".contains(c));
        let name = words[..i].join(" ");
        reporter(candidate, Some(&name))
    })
}
