//! Subject lines: reply and forward prefixes, tracking codes, and
//! out-of-office answers.

/// The alphabet of tracking codes: no `0`, `1`, `I` or `O`, which read alike.
const CODE_ALPHABET: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Reply prefixes, lower case: English, Indonesian (`Bls:`, `Balas:`) and
/// the German `AW:` some agencies' Outlook installs write.
const REPLY: &[&str] = &["re", "bls", "balas", "aw"];

/// Forward prefixes, lower case: English, Outlook's `TR:`, Indonesian
/// (`Trs:`, `Terusan:`) and German `WG:`.
const FORWARD: &[&str] = &["fwd", "fw", "tr", "trs", "terusan", "wg"];

/// How out-of-office and automatic answers begin their subject, lower case,
/// in English and Indonesian.
const OUT_OF_OFFICE: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "balasan otomatis",
    "jawaban otomatis",
    "balasan auto",
    "sedang cuti",
    "cuti:",
    "di luar kantor",
    "sedang di luar kantor",
    "tidak di kantor",
    "sedang tidak di kantor",
];

/// The kind of the first prefix removed from a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prefix {
    /// None was removed.
    None,
    /// `Re:` and its kin.
    Reply,
    /// `Fwd:` and its kin.
    Forward,
}

/// A subject with its reply and forward prefixes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Subject {
    /// What is left, `None` when nothing is.
    pub text: Option<String>,
    /// The outermost prefix: what the last sender did.
    pub first: Prefix,
}

/// Removes `Re:`, `Fwd:` and their kin, repeatedly and in any case, from
/// the start of `raw` (also after bracketed tags such as `[External]` or a
/// tracking code, which stay).
pub(super) fn clean(raw: Option<&str>) -> Subject {
    let Some(raw) = raw else {
        return Subject {
            text: None,
            first: Prefix::None,
        };
    };
    let mut rest = raw.trim();
    let mut tags: Vec<&str> = Vec::new();
    let mut first = Prefix::None;
    loop {
        rest = rest.trim_start();
        if rest.starts_with('[')
            && let Some(end) = rest.find(']')
        {
            tags.push(&rest[..=end]);
            rest = &rest[end + 1..];
            continue;
        }
        match strip_prefix(rest) {
            Some((kind, after)) => {
                if first == Prefix::None {
                    first = kind;
                }
                rest = after;
            }
            None => break,
        }
    }
    let text = tags
        .into_iter()
        .chain(std::iter::once(rest))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    Subject {
        text: (!text.is_empty()).then_some(text),
        first,
    }
}

/// `s` without a leading reply or forward prefix (`Re:`, `RE :`, `Re[2]:`,
/// `Fwd:`…), with the prefix's kind.
fn strip_prefix(s: &str) -> Option<(Prefix, &str)> {
    let (word, after) = s.split_once(':').or_else(|| s.split_once('\u{ff1a}'))?;
    let word = word.trim();
    // `Re[2]`, `Re(3)`: a count some clients add.
    let word = match word.find(['[', '(']) {
        Some(i)
            if word[i + 1..]
                .trim_end_matches([']', ')'])
                .chars()
                .all(|c| c.is_ascii_digit()) =>
        {
            &word[..i]
        }
        _ => word,
    };
    if word.len() > 8 {
        return None;
    }
    let word = word.to_lowercase();
    if REPLY.contains(&word.as_str()) {
        Some((Prefix::Reply, after))
    } else if FORWARD.contains(&word.as_str()) {
        Some((Prefix::Forward, after))
    } else {
        None
    }
}

/// Whether a subject announces an out-of-office or automatic answer.
pub(super) fn is_out_of_office(raw: &str) -> bool {
    let cleaned = clean(Some(raw)).text.unwrap_or_default();
    [raw, cleaned.as_str()].into_iter().any(|s| {
        let s = s.trim_start_matches(|c: char| c == '[' || c.is_whitespace());
        let lower = s.to_lowercase();
        OUT_OF_OFFICE.iter().any(|p| lower.starts_with(p))
    })
}

/// The first tracking code in `text` (`SLR-7K3Q-9XPA`; any case, and each
/// dash may be a space or left out), upper-cased with dashes. A code must
/// stand alone: no letter or digit right before or after it.
pub fn tracking_code(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len()).find_map(|start| {
        let alone_before = start == 0 || !chars[start - 1].is_alphanumeric();
        if alone_before {
            code_at(&chars, start)
        } else {
            None
        }
    })
}

/// The code starting at `start`, if one does.
fn code_at(chars: &[char], start: usize) -> Option<String> {
    let mut pos = start;
    for expected in ['S', 'L', 'R'] {
        if chars.get(pos)?.to_ascii_uppercase() != expected {
            return None;
        }
        pos += 1;
    }
    let mut code = String::from("SLR");
    for _ in 0..2 {
        if chars
            .get(pos)
            .is_some_and(|&c| c == '-' || c == ' ' || c == '\u{a0}')
        {
            pos += 1;
        }
        code.push('-');
        for _ in 0..4 {
            let c = chars.get(pos)?.to_ascii_uppercase();
            if !CODE_ALPHABET.contains(c) {
                return None;
            }
            code.push(c);
            pos += 1;
        }
    }
    let alone_after = chars.get(pos).is_none_or(|c| !c.is_alphanumeric());
    alone_after.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_removed_repeatedly() {
        let s = clean(Some("RE: Fwd: Bls:  TR: Jalan rusak"));
        assert_eq!(s.text.as_deref(), Some("Jalan rusak"));
        assert_eq!(s.first, Prefix::Reply);
        let s = clean(Some("[External] Terusan: Re[2]: Lampu mati"));
        assert_eq!(s.text.as_deref(), Some("[External] Lampu mati"));
        assert_eq!(s.first, Prefix::Forward);
        assert_eq!(clean(Some("Re:")).text, None);
        assert_eq!(
            clean(Some("Rekap: banjir")).text.as_deref(),
            Some("Rekap: banjir")
        );
        assert_eq!(clean(Some("Jalan: rusak")).first, Prefix::None);
    }

    #[test]
    fn tracking_codes_are_found() {
        assert_eq!(
            tracking_code("Re: [SLR-7K3Q-9XPA] Aduan").as_deref(),
            Some("SLR-7K3Q-9XPA")
        );
        assert_eq!(
            tracking_code("kode slr 7k3q 9xpa").as_deref(),
            Some("SLR-7K3Q-9XPA")
        );
        assert_eq!(tracking_code("SLR-7K3Q-9XPA1"), None);
        assert_eq!(tracking_code("XSLR-7K3Q-9XPA"), None);
        assert_eq!(tracking_code("SLR-7K3Q-9XP0"), None);
    }

    #[test]
    fn out_of_office_subjects() {
        assert!(is_out_of_office("Automatic reply: [SLR-7K3Q-9XPA] Aduan"));
        assert!(is_out_of_office("Balasan Otomatis: Aduan"));
        assert!(is_out_of_office("Re: Sedang cuti"));
        assert!(!is_out_of_office("Lampu jalan mati, petugas sedang cuti"));
    }
}
