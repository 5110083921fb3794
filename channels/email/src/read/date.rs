//! Dates as mail clients write them in a forwarded header block, in
//! English and Indonesian: `Mon, Nov 3, 2025 at 7:12 PM` (Gmail),
//! `Sen, 3 Nov 2025 pukul 19.12` (Gmail, Indonesian), `Tuesday, November 4,
//! 2025 8:15 AM` (Outlook), `Rabu, 05 November 2025 08.47` (Outlook,
//! Indonesian), `Tue, 4 Nov 2025 18:30:12 +0700` (Thunderbird).
//!
//! Written here because these are display formats, not RFC 5322, and no
//! date crate in the workspace reads Indonesian month names.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

/// Month names and abbreviations, English and Indonesian, lower case.
const MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("january", 1),
    ("januari", 1),
    ("feb", 2),
    ("february", 2),
    ("februari", 2),
    ("pebruari", 2),
    ("mar", 3),
    ("march", 3),
    ("maret", 3),
    ("apr", 4),
    ("april", 4),
    ("may", 5),
    ("mei", 5),
    ("jun", 6),
    ("june", 6),
    ("juni", 6),
    ("jul", 7),
    ("july", 7),
    ("juli", 7),
    ("aug", 8),
    ("agu", 8),
    ("agt", 8),
    ("ags", 8),
    ("august", 8),
    ("agustus", 8),
    ("sep", 9),
    ("sept", 9),
    ("september", 9),
    ("oct", 10),
    ("okt", 10),
    ("october", 10),
    ("oktober", 10),
    ("nov", 11),
    ("nop", 11),
    ("november", 11),
    ("nopember", 11),
    ("dec", 12),
    ("des", 12),
    ("december", 12),
    ("desember", 12),
];

/// Indonesian zone names and their offsets in hours.
const ZONES: &[(&str, i32)] = &[("wib", 7), ("wita", 8), ("wit", 9)];

/// Reads a date such as a forwarded `Date:`/`Sent:`/`Tanggal:`/`Dikirim:`
/// line gives. A date without a zone is taken in `zone` (the zone of the
/// mail that carries the forwarded block); without either it is not read.
pub(super) fn parse_loose(value: &str, zone: Option<FixedOffset>) -> Option<DateTime<Utc>> {
    let mut year = None;
    let mut month = None;
    let mut day = None;
    let mut time: Option<(u32, u32, u32)> = None;
    let mut pm: Option<bool> = None;
    let mut offset: Option<FixedOffset> = None;
    let cleaned = value.replace([',', '(', ')'], " ");
    for token in cleaned.split_whitespace() {
        let lower = token.to_lowercase();
        let lower = lower.trim_end_matches('.');
        if let Some(&(_, m)) = MONTHS.iter().find(|(name, _)| *name == lower) {
            month.get_or_insert(m);
        } else if let Some(p) = am_pm(lower) {
            pm = Some(p);
        } else if let Some((t, p)) = clock(lower) {
            time.get_or_insert(t);
            if p.is_some() {
                pm = p;
            }
        } else if let Some(o) = zone_of(lower) {
            offset.get_or_insert(o);
        } else if lower.chars().all(|c| c.is_ascii_digit()) {
            let n: u32 = lower.parse().ok()?;
            match lower.len() {
                4 => {
                    year.get_or_insert(i32::try_from(n).ok()?);
                }
                1 | 2 => {
                    day.get_or_insert(n);
                }
                _ => {}
            }
        }
    }
    let (mut hour, minute, second) = time?;
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let naive = NaiveDate::from_ymd_opt(year?, month?, day?)?.and_hms_opt(hour, minute, second)?;
    let offset = offset.or(zone)?;
    let local = offset.from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

fn am_pm(token: &str) -> Option<bool> {
    match token {
        "am" | "a.m" => Some(false),
        "pm" | "p.m" => Some(true),
        _ => None,
    }
}

/// `7:12`, `19.12`, `18:30:12`, `7:12pm`: the time, and AM/PM when glued on.
fn clock(token: &str) -> Option<((u32, u32, u32), Option<bool>)> {
    let (digits, pm) = match token.strip_suffix("pm") {
        Some(d) => (d, Some(true)),
        None => match token.strip_suffix("am") {
            Some(d) => (d, Some(false)),
            None => (token, None),
        },
    };
    let sep = if digits.contains(':') { ':' } else { '.' };
    let groups: Vec<&str> = digits.split(sep).collect();
    if !(2..=3).contains(&groups.len())
        || groups[0].is_empty()
        || groups[0].len() > 2
        || groups[1..].iter().any(|g| g.len() != 2)
        || !groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| groups.get(i).and_then(|g| g.parse::<u32>().ok());
    let (h, m, s) = (n(0)?, n(1)?, n(2).unwrap_or(0));
    (h < 24 && m < 60 && s < 60).then_some(((h, m, s), pm))
}

/// `+0700`, `-05:00`, `GMT+7`, `UTC+07:00`, `GMT`, `WIB`.
fn zone_of(token: &str) -> Option<FixedOffset> {
    if let Some(&(_, h)) = ZONES.iter().find(|(name, _)| *name == token) {
        return FixedOffset::east_opt(h * 3600);
    }
    let rest = token
        .strip_prefix("gmt")
        .or_else(|| token.strip_prefix("utc"))
        .unwrap_or(token);
    if rest.is_empty() && token != rest {
        return FixedOffset::east_opt(0);
    }
    let (sign, digits) = match rest.chars().next()? {
        '+' => (1, &rest[1..]),
        '-' => (-1, &rest[1..]),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.parse::<i32>().ok()?, 0)
    } else {
        let split = digits.len() - 2;
        (
            digits[..split].parse::<i32>().ok()?,
            digits[split..].parse::<i32>().ok()?,
        )
    };
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    #[test]
    fn client_formats() {
        let wib = FixedOffset::east_opt(7 * 3600);
        for (text, want) in [
            ("Mon, Nov 3, 2025 at 7:12 PM", "2025-11-03T12:12:00Z"),
            ("Sen, 3 Nov 2025 pukul 19.12", "2025-11-03T12:12:00Z"),
            ("Tuesday, November 4, 2025 8:15 AM", "2025-11-04T01:15:00Z"),
            ("Rabu, 05 November 2025 08.47", "2025-11-05T01:47:00Z"),
            ("Tue, 4 Nov 2025 18:30:12 +0700", "2025-11-04T11:30:12Z"),
            ("Tue, 4 Nov 2025 18:30:12 GMT+8", "2025-11-04T10:30:12Z"),
            ("Kamis, 6 November 2025 12.00 WIT", "2025-11-06T03:00:00Z"),
            (
                "Mon, Nov 3, 2025 at 12:05\u{202f}AM",
                "2025-11-02T17:05:00Z",
            ),
        ] {
            assert_eq!(parse_loose(text, wib), utc(want), "{text}");
        }
        assert_eq!(parse_loose("Rabu, 05 November 2025 08.47", None), None);
        assert_eq!(parse_loose("kemarin sore", wib), None);
        assert_eq!(parse_loose("31 Feb 2025 10:00", wib), None);
    }
}
