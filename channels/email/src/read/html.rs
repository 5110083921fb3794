//! HTML mail bodies → readable plain text.
//!
//! mail-parser has an HTML→text conversion, but it breaks lines only at
//! `<br>` and `</p>`: Gmail's one-`<div>`-per-line bodies, list items and
//! table rows run together on one line. This one keeps the structure a
//! reader sees: paragraphs and headings are separated by a blank line,
//! `<div>`, `<br>`, table rows and list items start a line, list items get
//! `- ` (or `1. ` in an ordered list), table cells are separated by a
//! space, and `<head>`, `<style>`, `<script>`, `<title>` and comments are
//! left out. Entities are decoded with mail-parser's full HTML5 table.
//! No HTML crate is in the dependency tree, and a mail body needs no DOM.

use mail_parser::decoders::html::add_html_token;

/// Elements whose content is never shown.
const HIDDEN: &[&str] = &["head", "style", "script", "title", "template", "noscript"];

/// Elements that sit on lines of their own.
const LINE_BLOCKS: &[&str] = &[
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "form",
    "fieldset",
    "figure",
    "figcaption",
    "address",
    "center",
    "dl",
    "dt",
    "dd",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "hr",
    "caption",
];

/// Elements separated from what surrounds them by a blank line.
const PARAGRAPHS: &[&str] = &["p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"];

/// The readable text of an HTML document or fragment.
pub(super) fn to_text(html: &str) -> String {
    let mut out = Writer::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.text(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        rest = if let Some(after) = rest.strip_prefix("<!--") {
            after.find("-->").map_or("", |end| &after[end + 3..])
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            rest.find('>').map_or("", |end| &rest[end + 1..])
        } else if let Some(tag) = Tag::parse(rest) {
            let after = &rest[tag.len..];
            if !tag.closing && HIDDEN.contains(&tag.name.as_str()) {
                skip_element(after, &tag.name)
            } else {
                out.tag(&tag);
                after
            }
        } else {
            // A `<` that opens no tag ("a < b") is text.
            out.text("<");
            &rest[1..]
        };
    }
    out.text(&decode_entities(rest));
    out.finish()
}

/// What follows the end tag of element `name`, or nothing when it is never
/// closed.
fn skip_element<'a>(html: &'a str, name: &str) -> &'a str {
    let bytes = html.as_bytes();
    let closing = html.match_indices("</").find(|&(start, _)| {
        bytes
            .get(start + 2..start + 2 + name.len())
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    });
    match closing {
        Some((start, _)) => {
            let after = &html[start..];
            after.find('>').map_or("", |end| &after[end + 1..])
        }
        None => "",
    }
}

/// One start or end tag.
struct Tag {
    /// Lower-case element name.
    name: String,
    closing: bool,
    /// Its length in bytes, up to and including `>`.
    len: usize,
}

impl Tag {
    /// The tag `html` starts with, if it starts with one.
    fn parse(html: &str) -> Option<Self> {
        let body = html.strip_prefix('<')?;
        let (closing, body) = match body.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, body),
        };
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .collect();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        // The closing `>`, outside quoted attribute values.
        let mut quote = None;
        let offset = html.len() - body.len();
        let mut end = None;
        for (i, c) in body.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    end = Some(offset + i + 1);
                    break;
                }
                _ => {}
            }
        }
        Some(Self {
            name: name.to_ascii_lowercase(),
            closing,
            len: end.unwrap_or(html.len()),
        })
    }
}

/// `text` with its character references decoded.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest
            .char_indices()
            .take(40)
            .skip(1)
            .find(|&(_, c)| c == ';' || !(c.is_ascii_alphanumeric() || c == '#'));
        match end {
            Some((i, ';')) if i > 1 => {
                add_html_token(&mut out, &rest.as_bytes()[..=i], false);
                rest = &rest[i + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text being written, with the state that decides where spaces and
/// line breaks go.
#[derive(Default)]
struct Writer {
    out: String,
    /// Whitespace was seen and not yet written.
    space: bool,
    /// Inside `<pre>`: whitespace is kept.
    pre: usize,
    /// Open lists: `None` for `<ul>`, the next number for `<ol>`.
    lists: Vec<Option<u32>>,
}

impl Writer {
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if self.pre > 0 {
                self.out.push(if c == '\u{a0}' { ' ' } else { c });
            } else if c.is_whitespace() {
                self.space = true;
            } else {
                if self.space && !self.at_line_start() && !self.out.ends_with(' ') {
                    self.out.push(' ');
                }
                self.space = false;
                self.out.push(c);
            }
        }
    }

    /// A line break, always (`<br>`).
    fn newline(&mut self) {
        self.out.push('\n');
        self.space = false;
    }

    /// Starts a new line unless already at the start of one.
    fn line(&mut self) {
        if !self.at_line_start() {
            self.out.push('\n');
        }
        self.space = false;
    }

    /// Leaves a blank line, unless there is one already or nothing yet.
    fn paragraph(&mut self) {
        if !self.out.is_empty() {
            self.line();
            if !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
        }
        self.space = false;
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        match name {
            "br" => self.newline(),
            "li" if !tag.closing => {
                self.line();
                let depth = self.lists.len().saturating_sub(1);
                self.out.push_str(&"  ".repeat(depth));
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "- ".to_owned(),
                };
                self.out.push_str(&marker);
            }
            "li" => self.line(),
            "ul" | "ol" => {
                self.line();
                if tag.closing {
                    self.lists.pop();
                } else {
                    self.lists.push((name == "ol").then_some(1));
                }
            }
            "td" | "th" if !tag.closing && !self.at_line_start() => self.space = true,
            "pre" => {
                self.paragraph();
                if tag.closing {
                    self.pre = self.pre.saturating_sub(1);
                } else {
                    self.pre += 1;
                }
            }
            _ if PARAGRAPHS.contains(&name) => self.paragraph(),
            _ if LINE_BLOCKS.contains(&name) => self.line(),
            _ => {}
        }
    }

    /// The text: lines without trailing blanks, at most one blank line in a
    /// row, trimmed.
    fn finish(self) -> String {
        let mut lines: Vec<&str> = Vec::new();
        for line in self.out.lines().map(str::trim_end) {
            if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
                continue;
            }
            lines.push(line);
        }
        lines.join("\n").trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_reads_well() {
        let html = "<html><head><title>x</title><style>p{}</style></head><body>\
            <div>Baris satu</div><div><br></div><div>Baris&nbsp;dua &amp; tiga</div>\
            <p>Paragraf</p><ul><li>satu</li><li>dua</li></ul>\
            <ol><li>a</li><li>b</li></ol>\
            <table><tr><td>Nama:</td><td>Budi</td></tr></table>\
            <!-- komentar <div>x</div> --><script>var a = '<p>';</script>\
            a &lt; b &#8211; c &unknown; d & e</body></html>";
        assert_eq!(
            to_text(html),
            "Baris satu\n\nBaris dua & tiga\n\nParagraf\n\n- satu\n- dua\n1. a\n2. b\nNama: Budi\n\
             a < b \u{2013} c &unknown; d & e"
        );
    }

    #[test]
    fn broken_html_does_not_lose_text() {
        assert_eq!(to_text("a <b>bold</b> < c"), "a bold < c");
        assert_eq!(to_text("<div title=\"a>b\">x</div>"), "x");
        assert_eq!(to_text("<p>unclosed <span"), "unclosed");
        assert_eq!(to_text("<style>never closed"), "");
        assert_eq!(to_text("x<!-- never closed"), "x");
    }
}
