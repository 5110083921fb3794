//! Text normalisation: the pure functions that turn what a citizen typed into a complaint's
//! body, title and duplicate key.
//!
//! - [`join_fragments`] glues chat fragments into one body.
//! - [`clean_text`] gives the stored body: NFC, plain line breaks, no invisible characters,
//!   tidy whitespace.
//! - [`derive_title`] gives a short summary for the title (`judul`).
//! - [`content_key`] gives a hash that is equal for texts differing only in case, punctuation,
//!   spacing or Unicode normal form; it backs "same reporter, same content" duplicate detection.
//!
//! Nothing here does I/O or logs, so it is safe to call on personal data.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The title of a complaint whose body is empty.
pub const EMPTY_TITLE: &str = "(tanpa isi)";

/// Longest title, in characters, including the trailing ellipsis.
pub const MAX_TITLE_CHARS: usize = 80;

/// A sentence end counts for the title only when the sentence is at least this long, so that
/// "Pak. Jalan depan rumah rusak" does not give the title "Pak.".
const MIN_SENTENCE_CHARS: usize = 20;

/// A `.` after a word shorter than this is taken for an abbreviation (`Jl.`, `No.`, `Kec.`,
/// `Rp.`) rather than the end of a sentence.
const MIN_WORD_BEFORE_PERIOD: usize = 4;

/// Cleans text for storage and display.
///
/// Applies Unicode NFC; turns CRLF, CR and Unicode line separators into LF; drops control
/// characters (tabs become spaces) and zero-width characters (U+200B, U+200C, U+FEFF, U+2060,
/// and U+200D except between two emoji, where it joins them into one, as in 👨‍👩‍👧);
/// turns non-breaking and other Unicode spaces into plain spaces; collapses runs of spaces;
/// trims every line; keeps at most one blank line between paragraphs; and trims the whole.
/// Emoji and every script's letters are kept.
#[must_use]
pub fn clean_text(s: &str) -> String {
    let visible = drop_invisible(s);
    let composed: String = visible.nfc().collect();

    let mut out = String::with_capacity(composed.len());
    let mut blank_pending = false;
    for line in composed.split('\n') {
        let mut words = line.split(' ').filter(|w| !w.is_empty()).peekable();
        if words.peek().is_none() {
            blank_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_pending {
                out.push('\n');
            }
        }
        blank_pending = false;
        for (i, word) in words.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// Maps line breaks to `\n` and other whitespace to a space, and drops control and zero-width
/// characters.
fn drop_invisible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' | '\u{0085}' | '\u{2028}' | '\u{2029}' => out.push('\n'),
            '\u{200D}' => {
                let joins_emoji = out.chars().next_back().is_some_and(is_emoji_part)
                    && chars.peek().is_some_and(|&next| is_emoji_part(next));
                if joins_emoji {
                    out.push(c);
                }
            }
            '\u{200B}' | '\u{200C}' | '\u{FEFF}' | '\u{2060}' => {}
            // Tab, vertical tab, form feed, NBSP, narrow NBSP, ideographic space and the like.
            c if c.is_whitespace() => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` can sit on either side of a zero-width joiner inside an emoji sequence:
/// pictographs, dingbats, variation selector 16, skin tones and tag characters.
fn is_emoji_part(c: char) -> bool {
    matches!(
        c,
        '\u{2300}'..='\u{23FF}'
            | '\u{2600}'..='\u{27BF}'
            | '\u{2B00}'..='\u{2BFF}'
            | '\u{FE0F}'
            | '\u{1F000}'..='\u{1FAFF}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Apostrophes are dropped without leaving a gap, so `Jum'at` and `Jumat` share a key.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '`' | '\u{2018}' | '\u{2019}' | '\u{02BC}')
}

/// A key for "same content" duplicate detection: the hex SHA-256 of the cleaned text,
/// lower-cased, with punctuation and symbols removed and whitespace collapsed.
///
/// Texts that differ only in case, punctuation, spacing around words or Unicode normal form
/// (NFC or NFD) have the same key. Letters and digits of every script are kept. A text with no
/// letters or digits at all (only emoji, say) is keyed on its cleaned form instead, so that 👍
/// and 🙏 are not taken for the same message.
#[must_use]
pub fn content_key(s: &str) -> String {
    let cleaned = clean_text(s).to_lowercase();
    let mut key = String::with_capacity(cleaned.len());
    let mut gap = false;
    for c in cleaned.chars() {
        if c.is_alphanumeric() {
            if gap && !key.is_empty() {
                key.push(' ');
            }
            gap = false;
            key.push(c);
        } else if is_combining_mark(c) {
            // Vowel signs and accents belong to the letter before them.
            if !gap && !key.is_empty() {
                key.push(c);
            }
        } else if !is_apostrophe(c) {
            gap = true;
        }
    }
    if key.is_empty() {
        key = cleaned.chars().filter(|c| !c.is_whitespace()).collect();
    }
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A title for a complaint, from its body.
///
/// Takes the first line of the cleaned body. When that line has a sentence end (`. `, `! `
/// or `? `) within the first [`MAX_TITLE_CHARS`] characters, the title is the first sentence;
/// very short sentences and periods after abbreviations such as `Jl.` do not count. A title
/// still longer than [`MAX_TITLE_CHARS`] characters is cut at the last word boundary and ends
/// in `…`, staying within the limit. An empty body gives [`EMPTY_TITLE`].
#[must_use]
pub fn derive_title(body: &str) -> String {
    let cleaned = clean_text(body);
    let Some(first_line) = cleaned.lines().next().filter(|line| !line.is_empty()) else {
        return EMPTY_TITLE.to_owned();
    };
    let title = first_sentence(first_line).unwrap_or(first_line);
    shorten(title, MAX_TITLE_CHARS)
}

/// The line's first sentence, up to and including its end mark, if it ends within
/// [`MAX_TITLE_CHARS`] characters and is at least [`MIN_SENTENCE_CHARS`] long.
fn first_sentence(line: &str) -> Option<&str> {
    let mut chars = line.char_indices().peekable();
    let mut count = 0;
    while let Some((i, c)) = chars.next() {
        count += 1;
        if count > MAX_TITLE_CHARS {
            return None;
        }
        let followed_by_space = chars.peek().is_some_and(|&(_, next)| next == ' ');
        let is_end = match c {
            '!' | '?' => true,
            '.' => !ends_with_short_word(&line[..i]),
            _ => false,
        };
        if is_end && followed_by_space && count >= MIN_SENTENCE_CHARS {
            return Some(&line[..i + c.len_utf8()]);
        }
    }
    None
}

/// Whether `text` ends in a run of letters shorter than [`MIN_WORD_BEFORE_PERIOD`]
/// (an abbreviation or an initial). A run ending in a digit or another period (`50.`, `...`)
/// is not a short word.
fn ends_with_short_word(text: &str) -> bool {
    let letters = text
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic())
        .take(MIN_WORD_BEFORE_PERIOD)
        .count();
    letters > 0 && letters < MIN_WORD_BEFORE_PERIOD
}

/// Cuts `text` to at most `max` characters, ellipsis included, at the last word boundary.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    // Room for the ellipsis; `max` chars exist, so the index is found.
    let keep = max.saturating_sub(1);
    let cut = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let head = &text[..cut];
    let at_boundary = text[cut..].starts_with(' ');
    let head = match head.rfind(' ') {
        _ if at_boundary => head,
        // Don't throw away more than half the title for a word boundary.
        Some(space) if head[..space].chars().count() >= keep / 2 => &head[..space],
        _ => head,
    };
    let head = head.trim_end_matches([' ', ',', ';', ':', '-']);
    let mut title = String::with_capacity(head.len() + '…'.len_utf8());
    title.push_str(head);
    title.push('…');
    title
}

/// Joins chat fragments into one body, one fragment per line, skipping fragments that are
/// empty or only whitespace. Each fragment is trimmed.
#[must_use]
pub fn join_fragments(parts: &[&str]) -> String {
    let mut body = String::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(part);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("empty", "", ""),
            ("only whitespace", " \t\r\n \u{a0}\n", ""),
            ("plain", "Jalan rusak", "Jalan rusak"),
            ("trim", "  Jalan rusak \n", "Jalan rusak"),
            (
                "crlf",
                "baris satu\r\nbaris dua\r\n",
                "baris satu\nbaris dua",
            ),
            ("lone cr", "baris satu\rbaris dua", "baris satu\nbaris dua"),
            ("tabs", "kolom\tsatu\t\tdua", "kolom satu dua"),
            ("nbsp", "Rp\u{a0}50.000\u{202f}ribu", "Rp 50.000 ribu"),
            ("space runs", "jalan    depan   rumah", "jalan depan rumah"),
            ("line trim", "  satu  \n   dua   ", "satu\ndua"),
            ("blank lines", "satu\n\n\n\n\ndua", "satu\n\ndua"),
            ("one blank kept", "satu\n\ndua", "satu\n\ndua"),
            (
                "whitespace-only lines",
                "satu\n   \n\t\n \ndua",
                "satu\n\ndua",
            ),
            ("leading blank lines", "\n\n\nsatu", "satu"),
            (
                "zero width",
                "ja\u{200b}lan\u{feff} ru\u{2060}sak\u{200c}\u{200d}",
                "jalan rusak",
            ),
            ("bom at start", "\u{feff}Selamat pagi", "Selamat pagi"),
            ("controls", "a\u{0}b\u{7}c\u{1b}[0m\u{7f}d", "abc[0md"),
            (
                "line separators",
                "satu\u{2028}dua\u{85}tiga",
                "satu\ndua\ntiga",
            ),
            ("emoji kept", "Tolong 🙏🏽 segera 🚧", "Tolong 🙏🏽 segera 🚧"),
            (
                "zwj emoji kept",
                "keluarga 👨\u{200d}👩\u{200d}👧 kami",
                "keluarga 👨\u{200d}👩\u{200d}👧 kami",
            ),
            (
                "zwj with vs16",
                "❤\u{fe0f}\u{200d}🔥",
                "❤\u{fe0f}\u{200d}🔥",
            ),
            (
                "nfd to nfc",
                "Cafe\u{301} di Jl. Sudirman",
                "Caf\u{e9} di Jl. Sudirman",
            ),
            ("zero width inside combining", "e\u{200b}\u{301}", "\u{e9}"),
            ("other scripts", "  سلام  دنیا \n 你好 ", "سلام دنیا\n你好"),
        ];
        for (name, input, expected) in cases {
            assert_eq!(clean_text(input), *expected, "case {name}");
        }
    }

    #[test]
    fn clean_text_is_idempotent() {
        let input = " Pak,\r\n\r\n\r\njalan\u{a0}depan  rumah\u{200b} rusak 🙏\t\n";
        let once = clean_text(input);
        assert_eq!(once, "Pak,\n\njalan depan rumah rusak 🙏");
        assert_eq!(clean_text(&once), once);
    }

    #[test]
    fn content_key_ignores_case_punctuation_spacing_and_normal_form() {
        let same = [
            "Jalan depan rumah saya rusak parah!",
            "jalan depan rumah saya rusak parah",
            "JALAN DEPAN RUMAH SAYA RUSAK PARAH!!!",
            "  Jalan depan   rumah\nsaya, rusak... parah 🙏",
            "Jalan\u{a0}depan rumah saya\u{200b} rusak-parah.",
        ];
        let key = content_key(same[0]);
        assert_eq!(key.len(), 64);
        assert!(
            key.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        for text in same {
            assert_eq!(content_key(text), key, "text {text:?}");
        }
        assert_eq!(
            content_key("Kafe\u{301} tutup"),
            content_key("KAF\u{c9} tutup")
        );
        assert_eq!(content_key("Jum'at kemarin"), content_key("jumat kemarin"));
        assert_eq!(content_key("ditutup"), content_key("Ditutup\u{2019}"));
    }

    #[test]
    fn content_key_tells_different_content_apart() {
        let distinct = [
            "Jalan depan rumah saya rusak parah",
            "Jalan depan rumah saya rusak",
            "Jembatan depan rumah saya rusak parah",
            "Lampu jalan RT 03 mati",
            "Lampu jalan RT 04 mati",
            "Kafe tutup",
            "Kafé tutup",
            "你好",
            "👍",
            "🙏",
            "",
        ];
        let keys: std::collections::HashSet<String> =
            distinct.iter().map(|t| content_key(t)).collect();
        assert_eq!(keys.len(), distinct.len());
    }

    #[test]
    fn derive_title_table() {
        let long_line = "Jalan di depan SDN 2 Sukamaju rusak parah sejak bulan lalu dan sudah ada tiga pengendara motor yang jatuh di sana";
        let cases: &[(&str, &str, &str)] = &[
            ("empty", "", EMPTY_TITLE),
            ("whitespace", " \n\u{200b}\t ", EMPTY_TITLE),
            ("short", "Lampu jalan mati", "Lampu jalan mati"),
            (
                "first line",
                "\n  Lampu jalan mati\nsudah 3 hari\n",
                "Lampu jalan mati",
            ),
            (
                "first sentence",
                "Lampu jalan di RT 03 mati. Sudah tiga hari gelap. Mohon dibantu.",
                "Lampu jalan di RT 03 mati.",
            ),
            (
                "question",
                "Kapan jalan ini diperbaiki? Sudah lama rusak",
                "Kapan jalan ini diperbaiki?",
            ),
            (
                "short sentence skipped",
                "Pak. Lampu jalan mati sejak kemarin",
                "Pak. Lampu jalan mati sejak kemarin",
            ),
            (
                "abbreviations skipped",
                "Jl. Merdeka No. 5 rusak parah. Mohon segera diperbaiki",
                "Jl. Merdeka No. 5 rusak parah.",
            ),
            (
                "period without space",
                "Biaya Rp50.000 untuk KTP apakah benar",
                "Biaya Rp50.000 untuk KTP apakah benar",
            ),
            (
                "long line",
                long_line,
                "Jalan di depan SDN 2 Sukamaju rusak parah sejak bulan lalu dan sudah ada tiga…",
            ),
            (
                "sentence end after 80 chars",
                "Jalan di depan SDN 2 Sukamaju rusak parah sejak bulan lalu dan sudah ada tiga pengendara. Mohon",
                "Jalan di depan SDN 2 Sukamaju rusak parah sejak bulan lalu dan sudah ada tiga…",
            ),
        ];
        for (name, body, expected) in cases {
            assert_eq!(derive_title(body), *expected, "case {name}");
        }
    }

    #[test]
    fn long_titles_stay_within_the_limit_and_keep_characters_whole() {
        let bodies = [
            "é".repeat(200),
            "😀".repeat(200),
            "ทดสอบ ".repeat(40),
            "Warga mengeluhkan 🚧🚧🚧 jalan rusak di Kelurahan Sukamaju Kecamatan Cibeunying Kaler yang belum diperbaiki".to_owned(),
            "你好世界".repeat(30),
            format!("Ini link https://example.id/{}", "a".repeat(150)),
            "x".repeat(81),
        ];
        for body in bodies {
            let title = derive_title(&body);
            let chars = title.chars().count();
            assert!(chars <= MAX_TITLE_CHARS, "{chars} chars: {title}");
            assert!(chars >= MAX_TITLE_CHARS / 2, "too short: {title}");
            assert!(title.ends_with('…'), "{title}");
            let head = title.trim_end_matches('…');
            assert!(body.starts_with(head), "{title}");
        }
        assert_eq!(derive_title(&"x".repeat(80)), "x".repeat(80));
        assert_eq!(
            derive_title(&"😀".repeat(81)),
            format!("{}…", "😀".repeat(79))
        );
    }

    #[test]
    fn title_cut_prefers_word_boundary() {
        let body = format!("{} sembilan", "kata ".repeat(15).trim_end());
        // 74 chars of "kata kata …", then " sembilan" pushes it past 80.
        assert_eq!(
            derive_title(&body),
            format!("{}…", "kata ".repeat(15).trim_end())
        );
        let body = format!("{}, berikutnya lagi", "a".repeat(70));
        assert_eq!(derive_title(&body), format!("{}…", "a".repeat(70)));
    }

    #[test]
    fn join_fragments_table() {
        let cases: &[(&[&str], &str)] = &[
            (&[], ""),
            (&["", "  ", "\n"], ""),
            (
                &["Pak, jalan depan rumah saya rusak"],
                "Pak, jalan depan rumah saya rusak",
            ),
            (
                &[
                    "Pak, jalan depan rumah saya rusak",
                    "",
                    "Jl. Kenanga no 5 ",
                    "🙏",
                ],
                "Pak, jalan depan rumah saya rusak\nJl. Kenanga no 5\n🙏",
            ),
            (&["satu\ndua", "tiga"], "satu\ndua\ntiga"),
        ];
        for (parts, expected) in cases {
            assert_eq!(join_fragments(parts), *expected, "parts {parts:?}");
        }
    }
}
