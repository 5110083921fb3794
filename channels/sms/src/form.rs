//! Byte-level `application/x-www-form-urlencoded` decoding.
//!
//! Written by hand rather than with `form_urlencoded::parse`, which yields
//! lossy UTF-8 strings: Kannel sends UTF-16BE and Latin-1 bytes, which must
//! stay bytes until their charset is known.

use std::borrow::Cow;

use bytes::Bytes;

/// Decoded fields of a form body or query string, in order. Names are
/// read as UTF-8 (lossily); values stay bytes.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    pairs: Vec<(String, Vec<u8>)>,
}

impl Fields {
    /// Decodes `input`. Empty segments (`a=1&&b=2`) are skipped; a
    /// segment without `=` is a field with an empty value.
    pub fn parse(input: &[u8]) -> Self {
        let pairs = segments(input)
            .map(|segment| {
                let (name, value) = split_pair(segment);
                (
                    String::from_utf8_lossy(&decode(name)).into_owned(),
                    decode(value),
                )
            })
            .collect();
        Self { pairs }
    }

    /// Fields from already decoded pairs (a JSON object, say).
    pub fn from_pairs(pairs: Vec<(String, Vec<u8>)>) -> Self {
        Self { pairs }
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The first value of `name`, as bytes.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name`, as text (lossy UTF-8).
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.bytes(name).map(String::from_utf8_lossy)
    }

    /// Every field as text, in order.
    pub fn texts(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.pairs
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v)))
    }

    /// Adds a field at the end.
    pub fn push(&mut self, name: &str, value: Vec<u8>) {
        self.pairs.push((name.to_owned(), value));
    }

    /// Encodes the fields back into a form body.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.pairs {
            if !out.is_empty() {
                out.push('&');
            }
            encode_into(name.as_bytes(), &mut out);
            out.push('=');
            encode_into(value, &mut out);
        }
        out
    }
}

/// `input` without the fields named `name`; every other segment is kept
/// byte for byte. Used to keep shared secrets out of stored payloads.
pub fn without(input: &[u8], name: &str) -> Bytes {
    let kept: Vec<&[u8]> = segments(input)
        .filter(|segment| decode(split_pair(segment).0) != name.as_bytes())
        .collect();
    Bytes::from(kept.join(&b'&'))
}

/// Percent-decodes `input`, reading `+` as a space. A `%` not followed
/// by two hex digits is kept as it is.
pub fn decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        match first {
            b'+' => out.push(b' '),
            b'%' => match escaped(tail) {
                Some(byte) => {
                    out.push(byte);
                    rest = &tail[2..];
                }
                None => out.push(b'%'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The byte that two hex digits at the start of `input` encode.
fn escaped(input: &[u8]) -> Option<u8> {
    let high = (*input.first()? as char).to_digit(16)?;
    let low = (*input.get(1)? as char).to_digit(16)?;
    u8::try_from(high * 16 + low).ok()
}

fn segments(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    input.split(|&b| b == b'&').filter(|s| !s.is_empty())
}

fn split_pair(segment: &[u8]) -> (&[u8], &[u8]) {
    match segment.iter().position(|&b| b == b'=') {
        Some(at) => (&segment[..at], &segment[at + 1..]),
        None => (segment, &[]),
    }
}

fn encode_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_to_bytes() {
        assert_eq!(decode(b"a+b%20c%2B%e9%zz%4"), b"a b c+\xe9%zz%4".to_vec());
        let fields = Fields::parse(b"a=1&&b=x%26y%3Dz&c&a=2");
        assert_eq!(fields.text("a").as_deref(), Some("1"));
        assert_eq!(fields.text("b").as_deref(), Some("x&y=z"));
        assert_eq!(fields.text("c").as_deref(), Some(""));
        assert_eq!(fields.text("d"), None);
        assert_eq!(fields.texts().count(), 4);
        assert!(Fields::parse(b"").is_empty());
    }

    #[test]
    fn forms_round_trip_and_drop_secrets() {
        let mut fields = Fields::parse(b"from=%2B62812&text=Jalan+rusak");
        fields.push("raw", vec![0x00, 0xd8, b'~']);
        assert_eq!(
            fields.encode(),
            "from=%2B62812&text=Jalan+rusak&raw=%00%D8~"
        );
        assert_eq!(
            &without(b"secret=s&id=1&sec%72et=t&text=a%26b", "secret")[..],
            b"id=1&text=a%26b"
        );
    }
}
