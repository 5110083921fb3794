//! A reply's own words: the quoted mail and the signature cut off.
//!
//! What is cut, in English and Indonesian:
//! - everything from the first attribution line (`On Mon, 3 Nov 2025 at
//!   10:00, X <x@y> wrote:`, `Pada Sen, 3 Nov 2025 pukul 10.00 X <x@y>
//!   menulis:`, also when the client wrapped it over two lines), Outlook's
//!   `-----Original Message-----` / `-----Pesan Asli-----`, or a header
//!   block (`From:`/`Dari:` followed by `Sent:`/`Dikirim:`/`Date:`/
//!   `Tanggal:`), with the `________` rule above it;
//! - every other line starting with `>`;
//! - the signature, from a line that is exactly `-- ` or `--`;
//! - trailing `Sent from my iPhone`, `Dikirim dari Yahoo Mail`, `Get Outlook
//!   for Android` and similar lines.

/// Words that end an attribution line.
const WROTE: &[&str] = &["wrote:", "menulis:"];

/// How attribution lines begin, lower case.
const ATTRIBUTION_START: &[&str] = &["on ", "pada "];

/// Separator lines that start a quoted mail, lower case, dashes and spaces
/// removed.
const ORIGINAL: &[&str] = &["original message", "pesan asli", "pesan awal"];

/// How a client's advertisement line begins, lower case.
const DEVICE: &[&str] = &[
    "sent from ",
    "sent via ",
    "get outlook for ",
    "dikirim dari ",
    "dikirim melalui ",
    "dapatkan outlook untuk ",
];

/// The sender's new text in `text`, a reply.
pub(super) fn strip(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = quote_start(&lines).unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..end]
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    if let Some(sig) = kept.iter().position(|l| *l == "-- " || *l == "--") {
        kept.truncate(sig);
    }
    loop {
        match kept.last() {
            Some(l) if l.trim().is_empty() || is_device_line(l) => {
                kept.pop();
            }
            _ => break,
        }
    }
    kept.join("\n").trim().to_owned()
}

/// The index of the line where the quoted mail starts.
fn quote_start(lines: &[&str]) -> Option<usize> {
    (0..lines.len()).find_map(|i| {
        let line = lines[i].trim();
        if line.starts_with('>') {
            return None;
        }
        if is_attribution(lines, i) || is_original_separator(line) {
            return Some(i);
        }
        if is_header_block(lines, i) {
            // Start at the rule Outlook draws above the block, if any.
            let above = lines[..i].iter().rposition(|l| !l.trim().is_empty());
            return Some(match above {
                Some(j) if is_rule(lines[j].trim()) => j,
                _ => i,
            });
        }
        None
    })
}

/// Whether line `i` (maybe with the next one) attributes a quote: it starts
/// with `On`/`Pada` or ends with `wrote:`/`menulis:`, and either names an
/// address or is followed by `>` lines.
fn is_attribution(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let lower = line.to_lowercase();
    let starts = ATTRIBUTION_START.iter().any(|s| lower.starts_with(s));
    // The client may have wrapped the line before `wrote:`.
    let joined = match lines.get(i + 1) {
        Some(next) if starts && !WROTE.iter().any(|w| lower.contains(w)) => {
            format!("{lower} {}", next.trim().to_lowercase())
        }
        _ => lower.clone(),
    };
    let Some(at) = WROTE.iter().filter_map(|w| joined.find(w)).min() else {
        return false;
    };
    let head = &joined[..at];
    if head.chars().count() > 300 {
        return false;
    }
    let ends = WROTE.iter().any(|w| joined.trim_end().ends_with(w));
    let names_address = head.contains('@');
    let lines_used = if joined.len() > lower.len() { 2 } else { 1 };
    let quote_follows = lines[i + lines_used..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with('>'));
    if starts {
        names_address || (ends && quote_follows)
    } else {
        ends && names_address && quote_follows
    }
}

/// `-----Original Message-----`, `-----Pesan Asli-----`.
fn is_original_separator(line: &str) -> bool {
    if !line.starts_with("---") {
        return false;
    }
    let core = line.trim_matches(|c: char| c == '-' || c.is_whitespace());
    ORIGINAL.iter().any(|o| core.eq_ignore_ascii_case(o))
}

/// A line of underscores, as Outlook draws above a quoted header block.
fn is_rule(line: &str) -> bool {
    line.len() >= 10 && line.chars().all(|c| c == '_')
}

/// Whether a quoted header block starts at line `i`: `From:`/`Dari:`, then
/// within the next lines a date line.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let field = |l: &str| {
        let l = l.trim().trim_start_matches('*');
        let (key, _) = l.split_once(':')?;
        Some(key.trim().trim_end_matches('*').to_lowercase())
    };
    let is_from = field(lines[i]).is_some_and(|k| k == "from" || k == "dari");
    is_from
        && lines[i + 1..]
            .iter()
            .take(6)
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| field(l))
            .any(|k| {
                matches!(
                    k.as_str(),
                    "sent" | "date" | "dikirim" | "tanggal" | "terkirim"
                )
            })
}

fn is_device_line(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    lower.chars().count() <= 100 && DEVICE.iter().any(|d| lower.starts_with(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_reply_with_wrapped_attribution() {
        let text = "Masih rusak.\n\n-- \nBudi\n\nOn Mon, Nov 3, 2025 at 8:15 AM Layanan <aduan@x.go.id>\nwrote:\n\n> Terima kasih\n";
        assert_eq!(strip(text), "Masih rusak.");
    }

    #[test]
    fn indonesian_and_outlook_replies() {
        let text = "Belum ada petugas.\n\nDikirim dari Yahoo Mail di Android\n\n  Pada Sen, 3 Nov 2025 pukul 20.05, Aduan<aduan@x.go.id> menulis:   Terima kasih";
        assert_eq!(strip(text), "Belum ada petugas.");
        let text = "Sudah menyala.\n\nGet Outlook for iOS\n________________________________\nFrom: Aduan <aduan@x.go.id>\nSent: Tuesday, November 4, 2025 1:05 PM\nSubject: x\n\nkutipan";
        assert_eq!(strip(text), "Sudah menyala.");
        let text = "Oke.\n-----Pesan Asli-----\nDari: a";
        assert_eq!(strip(text), "Oke.");
    }

    #[test]
    fn ordinary_sentences_are_kept() {
        let text = "Pada hari Senin petugas menulis: akan diperbaiki.\nTapi belum.";
        assert_eq!(strip(text), text);
        let text = "Jawaban saya:\n> pertanyaan Anda\nSudah beres.";
        assert_eq!(strip(text), "Jawaban saya:\nSudah beres.");
    }
}
