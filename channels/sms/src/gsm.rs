//! GSM-7 segment counting and splitting of long notices.
//!
//! An SMS carries 160 septets of the GSM 03.38 default alphabet, or 70
//! UTF-16 units when any character falls outside it (UCS-2). A concatenated
//! message loses room to its header: 153 septets or 67 units per part. The
//! extension characters (`{ } [ ] ~ \ | ^ €` and form feed) take an escape
//! septet each, so they count two; neither an escape pair nor a surrogate
//! pair is ever cut across parts.
//!
//! [`split_numbered`] prepares a long status notice for gateways that cannot
//! concatenate (a USB modem, a phone): it cuts at word boundaries into parts
//! numbered `(1/3) `, `(2/3) `, … that each fit one single SMS.
//!
//! Written here rather than taken from a crate: no maintained crate counts
//! and splits by these segment rules; the alphabet is GSM 03.38's.

/// Septets in one GSM-7 SMS.
const GSM_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 SMS.
const GSM_PART: usize = 153;
/// UTF-16 units in one UCS-2 SMS.
const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 SMS.
const UCS2_PART: usize = 67;

/// The non-ASCII characters of the GSM 03.38 default alphabet.
const BASIC_NON_ASCII: &str = "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";

/// Septets one character takes in GSM-7: 1 in the default alphabet, 2 in
/// the extension table, `None` when it has no GSM-7 form.
fn char_septets(c: char) -> Option<usize> {
    match c {
        'A'..='Z' | 'a'..='z' | '0'..='9' | '\n' | '\r' | ' ' | '@' | '$' | '_' => Some(1),
        '!' | '"' | '#' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-' | '.' | '/' => {
            Some(1)
        }
        ':' | ';' | '<' | '=' | '>' | '?' => Some(1),
        '\u{c}' | '^' | '{' | '}' | '\\' | '[' | ']' | '~' | '|' | '€' => Some(2),
        c if !c.is_ascii() && BASIC_NON_ASCII.contains(c) => Some(1),
        _ => None,
    }
}

/// Whether every character of `text` is in the GSM 03.38 default alphabet
/// or its extension table.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| char_septets(c).is_some())
}

/// The GSM-7 septets `text` takes (extension characters count two), or
/// `None` when it must be sent as UCS-2.
pub fn septets(text: &str) -> Option<usize> {
    text.chars().map(char_septets).sum()
}

/// How many SMS `text` takes: 1 when it fits a single message (an empty text
/// too), otherwise the parts of a concatenated message, filled in order
/// without cutting an escape or surrogate pair.
pub fn segments(text: &str) -> usize {
    match septets(text) {
        Some(n) if n <= GSM_SINGLE => 1,
        Some(_) => parts_needed(text.chars().filter_map(char_septets), GSM_PART),
        None if utf16_units(text) <= UCS2_SINGLE => 1,
        None => parts_needed(text.chars().map(char::len_utf16), UCS2_PART),
    }
}

/// Parts of `capacity` needed for characters of the given sizes, placed in
/// order, each character whole within one part.
fn parts_needed(sizes: impl Iterator<Item = usize>, capacity: usize) -> usize {
    let mut parts = 1;
    let mut used = 0;
    for size in sizes {
        if used + size > capacity {
            parts += 1;
            used = 0;
        }
        used += size;
    }
    parts
}

fn utf16_units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The size of a piece of text in both encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Size {
    /// GSM-7 septets, `None` once a character has no GSM-7 form.
    septets: Option<usize>,
    /// UTF-16 units.
    units: usize,
}

impl Size {
    const ZERO: Self = Self {
        septets: Some(0),
        units: 0,
    };

    fn of(text: &str) -> Self {
        Self {
            septets: septets(text),
            units: utf16_units(text),
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            septets: self.septets.zip(other.septets).map(|(a, b)| a + b),
            units: self.units + other.units,
        }
    }

    /// Whether this much text after an ASCII prefix of `prefix` characters
    /// fits one single SMS in the encoding the text needs.
    fn fits_single(self, prefix: usize) -> bool {
        match self.septets {
            Some(septets) => septets + prefix <= GSM_SINGLE,
            None => self.units + prefix <= UCS2_SINGLE,
        }
    }
}

/// Splits `text` into SMS-sized parts. Text that fits one SMS comes back
/// whole and unchanged. Longer text is cut at whitespace into parts
/// prefixed `(1/3) `, `(2/3) `, …, each of which, prefix included, fits one
/// single SMS in its own encoding (160 GSM-7 septets, or 70 UCS-2 units when
/// the part is not GSM-7). The whitespace at each cut is dropped; a word too
/// long for a part is cut inside. Over-long text made only of whitespace
/// gives no parts.
pub fn split_numbered(text: &str) -> Vec<String> {
    if Size::of(text).fits_single(0) {
        return vec![text.to_owned()];
    }
    let mut digits = 1;
    loop {
        // The widest prefix with this many digits: "(" i "/" n ") ".
        let prefix = 2 * digits + 4;
        let bodies = cut(text, prefix);
        let total = bodies.len();
        if total.to_string().len() <= digits {
            return bodies
                .iter()
                .enumerate()
                .map(|(i, body)| format!("({}/{total}) {body}", i + 1))
                .collect();
        }
        digits += 1;
    }
}

/// Byte ranges of the maximal runs of non-whitespace in `text`.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                found.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        found.push((s, text.len()));
    }
    found
}

/// Cuts `text` into part bodies that each fit one SMS after a prefix of
/// `prefix` characters, keeping the whitespace inside a part as written.
fn cut(text: &str, prefix: usize) -> Vec<&str> {
    let mut bodies = Vec::new();
    // The current part: where it starts and ends (bytes), and its size.
    let mut part: Option<(usize, usize, Size)> = None;
    for (start, end) in words(text) {
        if let Some((part_start, part_end, size)) = part {
            let grown = size.plus(Size::of(&text[part_end..end]));
            if grown.fits_single(prefix) {
                part = Some((part_start, end, grown));
                continue;
            }
            bodies.push(&text[part_start..part_end]);
        }
        part = Some(cut_word(text, start, end, prefix, &mut bodies));
    }
    if let Some((part_start, part_end, _)) = part {
        bodies.push(&text[part_start..part_end]);
    }
    bodies
}

/// Starts a part with the word at `start..end`. Whole parts cut from a word
/// too long for one go to `bodies`; the rest of the word is returned as the
/// open part.
fn cut_word<'t>(
    text: &'t str,
    start: usize,
    end: usize,
    prefix: usize,
    bodies: &mut Vec<&'t str>,
) -> (usize, usize, Size) {
    let mut part_start = start;
    let mut size = Size::ZERO;
    for (offset, c) in text[start..end].char_indices() {
        let at = start + offset;
        let mut buf = [0; 4];
        let grown = size.plus(Size::of(c.encode_utf8(&mut buf)));
        if grown.fits_single(prefix) || at == part_start {
            size = grown;
        } else {
            bodies.push(&text[part_start..at]);
            part_start = at;
            size = Size::of(c.encode_utf8(&mut buf));
        }
    }
    (part_start, end, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_alphabet_and_its_extension_are_gsm7() {
        let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        assert_eq!(basic.chars().count(), 127);
        assert_eq!(septets(basic), Some(127));
        assert_eq!(septets("{}[]~\\|^€\u{c}"), Some(20));
        assert!(is_gsm7(
            "Jalan rusak di depan SDN 3, mohon diperbaiki @Dinas PU"
        ));
    }

    #[test]
    fn characters_outside_gsm7_need_ucs2() {
        for text in ["`", "\t", "ç", "á", "Jalan rusak 🙏", "“kutip”", "á"] {
            assert!(!is_gsm7(text), "{text:?}");
            assert_eq!(septets(text), None, "{text:?}");
        }
    }

    #[test]
    fn segments_follow_the_single_and_concatenated_limits() {
        assert_eq!(segments(""), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        // 152 septets then an escape pair: the pair moves whole to part 2.
        assert_eq!(
            segments(&format!("{}€{}", "a".repeat(152), "a".repeat(152))),
            3
        );
        assert_eq!(
            segments(&"é".repeat(160)),
            1,
            "é is in the default alphabet"
        );
        assert_eq!(segments(&"á".repeat(70)), 1);
        assert_eq!(segments(&"á".repeat(71)), 2);
        assert_eq!(segments(&"á".repeat(134)), 2);
        assert_eq!(segments(&"á".repeat(135)), 3);
        assert_eq!(segments(&"🙏".repeat(35)), 1, "two UTF-16 units each");
        assert_eq!(segments(&"🙏".repeat(36)), 2);
        // 66 units then a surrogate pair: the pair moves whole to part 2.
        assert_eq!(
            segments(&format!("{}🙏{}", "á".repeat(66), "á".repeat(66))),
            3
        );
    }

    #[test]
    fn text_that_fits_one_sms_comes_back_unchanged() {
        let long = ["a".repeat(160), "🙏".repeat(35)];
        for text in ["", "  Terima kasih.  ", long[0].as_str(), long[1].as_str()] {
            assert_eq!(split_numbered(text), vec![text.to_owned()]);
        }
    }

    #[test]
    fn a_long_word_is_cut_inside() {
        let word = "x".repeat(400);
        let parts = split_numbered(&word);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], format!("(1/3) {}", "x".repeat(154)));
        assert_eq!(parts[2], format!("(3/3) {}", "x".repeat(92)));
    }

    #[test]
    fn a_part_is_ucs2_only_when_its_own_text_needs_it() {
        // 31 words fill a GSM-7 part; the 29 after them fit a second one,
        // which the emoji would turn into an over-long UCS-2 part.
        let text = format!("{}🙏", "kata ".repeat(60));
        let parts = split_numbered(&text);
        assert_eq!(parts.len(), 3);
        assert_eq!(septets(&parts[0]), Some(160));
        assert!(is_gsm7(&parts[1]));
        assert_eq!(parts[2], "(3/3) 🙏");
    }

    #[test]
    fn whitespace_only_text_gives_no_parts() {
        assert!(split_numbered(&" ".repeat(200)).is_empty());
    }

    /// Indonesian notices of every shape, from a fixed-seed generator.
    fn samples() -> Vec<String> {
        const WORDS: &[&str] = &[
            "Laporan",
            "Anda",
            "dengan",
            "kode",
            "SLR-7K3Q-9XPA",
            "telah",
            "diteruskan",
            "ke",
            "Dinas",
            "Pekerjaan",
            "Umum",
            "dan",
            "Penataan",
            "Ruang.",
            "Terima",
            "kasih",
            "atas",
            "partisipasi",
            "Bapak/Ibu",
            "{status}",
            "[selesai]",
            "biaya",
            "€5",
            "🙏",
            "jalan",
            "rusak",
            "di",
            "RT.03/RW.05,",
            "Kel.",
            "Sukamaju",
            "“segera”",
            "ditindaklanjuti",
            "https://aduan.example.go.id/lacak/SLR-7K3Q-9XPA?utm_source=sms&utm_medium=notifikasi",
            "é",
        ];
        const GAPS: &[&str] = &[" ", " ", " ", "  ", "\n", "\n\n", " \t"];
        let mut seed: u64 = 0x5a17_2026;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap_or(0)
        };
        let mut texts = vec![
            "Laporan Anda SLR-7K3Q-9XPA sudah kami terima dan sedang diverifikasi oleh \
             admin penghubung Dinas Perhubungan. Kami akan mengabari Anda bila status \
             laporan berubah. Balas STOP untuk berhenti."
                .to_owned(),
            format!("Status: {} selesai 🙏", "ditindaklanjuti ".repeat(12)),
            "a".repeat(1000),
            format!("{}🙏", "x".repeat(300)),
        ];
        for _ in 0..300 {
            let length = 1 + next(120);
            let mut text = String::new();
            for i in 0..length {
                if i > 0 {
                    text.push_str(GAPS[next(GAPS.len())]);
                }
                text.push_str(WORDS[next(WORDS.len())]);
            }
            texts.push(text);
        }
        texts
    }

    /// `(i/n) ` and the rest of the part.
    fn numbered(part: &str) -> (usize, usize, &str) {
        let (head, body) = part.split_once(") ").expect("prefix");
        let (i, n) = head
            .strip_prefix('(')
            .and_then(|h| h.split_once('/'))
            .expect("i/n");
        (i.parse().expect("i"), n.parse().expect("n"), body)
    }

    #[test]
    fn every_part_fits_one_sms_in_its_own_encoding() {
        for text in samples() {
            for part in split_numbered(&text) {
                let fits = match septets(&part) {
                    Some(n) => n <= GSM_SINGLE,
                    None => utf16_units(&part) <= UCS2_SINGLE,
                };
                assert!(fits, "{part:?} from {text:?}");
                assert_eq!(segments(&part), 1);
            }
        }
    }

    #[test]
    fn parts_are_numbered_in_order() {
        for text in samples() {
            let parts = split_numbered(&text);
            if parts.len() == 1 && parts[0] == text {
                continue;
            }
            assert!(parts.len() >= 2, "{text:?}");
            for (k, part) in parts.iter().enumerate() {
                let (i, n, body) = numbered(part);
                assert_eq!((i, n), (k + 1, parts.len()), "{part:?}");
                assert!(!body.is_empty(), "{part:?}");
                assert_eq!(body.trim(), body, "cuts drop their whitespace: {part:?}");
            }
        }
    }

    #[test]
    fn the_parts_give_the_text_back_but_for_whitespace_at_cuts() {
        for text in samples() {
            let parts = split_numbered(&text);
            if parts.len() == 1 && parts[0] == text {
                assert_eq!(segments(&text), 1);
                continue;
            }
            // Each body is the next stretch of the text, with only
            // whitespace between one body and the next.
            let mut rest = text.as_str();
            for part in &parts {
                let (_, _, body) = numbered(part);
                let at = rest.find(body).expect("body is in the text");
                assert!(rest[..at].chars().all(char::is_whitespace), "{text:?}");
                rest = &rest[at + body.len()..];
            }
            assert!(rest.chars().all(char::is_whitespace), "{text:?}");
        }
    }
}
