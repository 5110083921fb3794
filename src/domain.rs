//! Checked value types shared by the whole service.
//!
//! Every value that has rules gets a newtype whose only way in is a checked constructor, so a
//! `PhoneE164` in a struct is always a valid E.164 number and a `ComplaintId` always reads
//! `cmp_` followed by a ULID. They serialise as plain strings, and deserialising runs the same
//! checks as `parse`.
//!
//! - Prefixed ULID ids: [`ComplaintId`] (`cmp_`), [`MessageId`] (`msg_`), [`EventId`] (`evt_`),
//!   [`ReporterId`] (`rep_`), [`AttachmentId`] (`att_`), [`DeliveryId`] (`dlv_`) and
//!   [`QuarantineId`] (`qua_`).
//! - [`TrackingCode`]: the short code a citizen quotes, e.g. `SLR-7K3Q-9XPA`.
//! - [`PhoneE164`], [`EmailAddress`]: reporter identity, used to link reporters across channels.
//! - [`ChannelName`]: a channel instance's name from the config, used in webhook URLs.
//!
//! Error messages never echo a phone number or an email address, because those are citizens'
//! personal data and errors end up in logs.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// Why a value was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    /// A prefixed id did not start with the expected prefix.
    #[error("invalid id: expected the prefix `{expected}`")]
    IdPrefix {
        /// The prefix the id type requires, e.g. `cmp_`.
        expected: &'static str,
    },
    /// The part after an id's prefix is not a ULID.
    #[error("invalid id: the part after `{prefix}` is not a ULID")]
    IdUlid {
        /// The prefix of the id type, e.g. `cmp_`.
        prefix: &'static str,
    },
    /// A tracking code has the wrong shape (length or prefix).
    #[error("not a valid tracking code (expected SLR-XXXX-XXXX)")]
    TrackingCodeFormat,
    /// A tracking code contains a character that codes never use.
    #[error("tracking code contains `{0}`, which codes never use (there is no 0, O, 1, I, L or U)")]
    TrackingCodeChar(char),
    /// A phone number could not be read. The payload is the reason, never the number.
    #[error("not a valid phone number: {0}")]
    InvalidPhone(String),
    /// The default region given for phone parsing is not a known ISO 3166 region code.
    #[error("unknown phone region `{0}`")]
    UnknownRegion(String),
    /// An email address was rejected. The payload is the reason, never the address.
    #[error("not a valid email address: {0}")]
    InvalidEmail(&'static str),
    /// A channel name breaks the naming rules.
    #[error(
        "invalid channel name `{0}`: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit"
    )]
    InvalidChannelName(String),
}

/// Result type of this module.
pub type Result<T, E = DomainError> = std::result::Result<T, E>;

/// Implements `Display`, `FromStr`, `TryFrom<String>`, `From<T> for String` and string serde for
/// a type with `parse(&str) -> Result<Self>` and `as_str(&self) -> &str`.
macro_rules! string_value_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = DomainError;

            fn try_from(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;

            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The next ULID of this process: later than every one before it, so ids
/// made in one transaction keep their order.
fn next_ulid() -> Ulid {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut slot = GENERATOR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slot.get_or_insert_with(ulid::Generator::new)
        .generate()
        .unwrap_or_else(|_| Ulid::new())
}

/// Declares a prefixed ULID id type.
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        ///
        #[doc = concat!("The text form is `", $prefix, "` followed by a 26-character upper-case ULID.")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this type starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id from the current time and random bits; ids made
            /// by one process sort in the order they were made, even
            /// within one millisecond.
            #[must_use]
            pub fn new() -> Self {
                Self::from_ulid(next_ulid())
            }

            /// The id for a given ULID.
            #[must_use]
            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(format!("{}{}", Self::PREFIX, ulid))
            }

            /// Reads an id from its text form. A lower-case ULID part is accepted and stored in
            /// upper case.
            ///
            /// # Errors
            ///
            /// [`DomainError::IdPrefix`] when the prefix is missing or wrong, and
            /// [`DomainError::IdUlid`] when the rest is not a canonical ULID.
            pub fn parse(s: &str) -> Result<Self> {
                let ulid = parse_prefixed_ulid(s, Self::PREFIX)?;
                Ok(Self::from_ulid(ulid))
            }

            /// The text form, e.g. `cmp_01JD…`.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The ULID inside the id.
            #[must_use]
            pub fn ulid(&self) -> Ulid {
                // Every constructor stores a canonical ULID after the prefix.
                Ulid::from_string(&self.0[Self::PREFIX.len()..]).unwrap_or_default()
            }

            /// When the id was made, in milliseconds since the Unix epoch.
            #[must_use]
            pub fn timestamp_ms(&self) -> u64 {
                self.ulid().timestamp_ms()
            }
        }

        impl Default for $name {
            /// A fresh id, as [`Self::new`].
            fn default() -> Self {
                Self::new()
            }
        }

        string_value_impls!($name);
    };
}

/// Checks `s` is `prefix` followed by a canonical ULID, which may be written in lower case.
fn parse_prefixed_ulid(s: &str, prefix: &'static str) -> Result<Ulid> {
    let rest = s
        .strip_prefix(prefix)
        .ok_or(DomainError::IdPrefix { expected: prefix })?;
    let ulid = Ulid::from_string(rest).map_err(|_| DomainError::IdUlid { prefix })?;
    // The decoder accepts values that overflow 128 bits and Crockford's aliases (I, L, O);
    // only the canonical spelling is an id.
    if !ulid.to_string().eq_ignore_ascii_case(rest) {
        return Err(DomainError::IdUlid { prefix });
    }
    Ok(ulid)
}

prefixed_id!(
    /// Identifies a complaint.
    ComplaintId,
    "cmp_"
);
prefixed_id!(
    /// Identifies an inbound or outbound message.
    MessageId,
    "msg_"
);
prefixed_id!(
    /// Identifies an outbox event; it is the idempotency key downstream.
    EventId,
    "evt_"
);
prefixed_id!(
    /// Identifies a reporter (a citizen, linked across channels).
    ReporterId,
    "rep_"
);
prefixed_id!(
    /// Identifies a stored attachment.
    AttachmentId,
    "att_"
);
prefixed_id!(
    /// Identifies one delivery of an event to a sink.
    DeliveryId,
    "dlv_"
);
prefixed_id!(
    /// Identifies a quarantined input that could not be processed.
    QuarantineId,
    "qua_"
);

/// The characters a tracking code is made of: digits and upper-case letters without the
/// look-alikes 0/O, 1/I/L and U.
pub const TRACKING_ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

const TRACKING_PREFIX: &str = "SLR";
const TRACKING_GROUP: usize = 4;
const TRACKING_RANDOM_CHARS: usize = 2 * TRACKING_GROUP;

fn is_tracking_char(c: char) -> bool {
    c.is_ascii() && TRACKING_ALPHABET.contains(c)
}

/// Separators a citizen may type between the groups of a tracking code.
fn is_tracking_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '_' | '.' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// The short code a citizen gets in the acknowledgement and quotes later, e.g. `SLR-7K3Q-9XPA`.
///
/// Eight random characters from [`TRACKING_ALPHABET`] give about 6.5 × 10¹¹ codes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TrackingCode(String);

impl TrackingCode {
    /// A fresh random code.
    #[must_use]
    pub fn generate() -> Self {
        let alphabet = TRACKING_ALPHABET.as_bytes();
        let mut rng = rand::rng();
        let mut random = [0_u8; TRACKING_RANDOM_CHARS];
        for slot in &mut random {
            *slot = alphabet[rng.random_range(0..alphabet.len())];
        }
        Self::from_random_part(&random)
    }

    /// Builds the canonical form from eight already-checked characters.
    fn from_random_part(random: &[u8; TRACKING_RANDOM_CHARS]) -> Self {
        let mut code = String::with_capacity(TRACKING_PREFIX.len() + TRACKING_RANDOM_CHARS + 2);
        code.push_str(TRACKING_PREFIX);
        for (i, &b) in random.iter().enumerate() {
            if i % TRACKING_GROUP == 0 {
                code.push('-');
            }
            code.push(char::from(b));
        }
        Self(code)
    }

    /// Reads a code as a citizen may type it: any case, with surrounding whitespace, with
    /// dashes, spaces or nothing between the groups, and with or without the `SLR` prefix.
    ///
    /// A character outside [`TRACKING_ALPHABET`] is refused rather than guessed: a typed `0`
    /// could be meant as `O` and neither is in a code, so a guess could point at someone else's
    /// complaint.
    ///
    /// # Errors
    ///
    /// [`DomainError::TrackingCodeChar`] for a character that codes never contain, and
    /// [`DomainError::TrackingCodeFormat`] when the length is wrong.
    pub fn parse(s: &str) -> Result<Self> {
        let compact: String = s
            .chars()
            .filter(|&c| !is_tracking_separator(c))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        // `L` is not in the alphabet, so a random part can never start with `SLR`.
        let random = compact.strip_prefix(TRACKING_PREFIX).unwrap_or(&compact);
        if let Some(bad) = random.chars().find(|&c| !is_tracking_char(c)) {
            return Err(DomainError::TrackingCodeChar(bad));
        }
        let random: &[u8; TRACKING_RANDOM_CHARS] = random
            .as_bytes()
            .try_into()
            .map_err(|_| DomainError::TrackingCodeFormat)?;
        Ok(Self::from_random_part(random))
    }

    /// Finds the first tracking code quoted in free text, such as an email subject
    /// `Re: [SLR-7K3Q-9XPA] Jalan rusak` or an SMS `cek slr 7k3q 9xpa`.
    ///
    /// In free text the `SLR` prefix is required, the code must stand as its own word, and
    /// each separator is at most one dash or space, so that ordinary words and numbers are
    /// not mistaken for codes.
    #[must_use]
    pub fn find_in_text(text: &str) -> Option<Self> {
        let chars: Vec<char> = text.chars().collect();
        (0..chars.len()).find_map(|start| {
            let before_ok = start == 0 || !chars[start - 1].is_alphanumeric();
            if before_ok {
                Self::match_at(&chars, start)
            } else {
                None
            }
        })
    }

    /// Matches `SLR[sep]XXXX[sep]XXXX` at `start`, followed by a non-alphanumeric or the end.
    fn match_at(chars: &[char], start: usize) -> Option<Self> {
        let mut pos = start;
        for expected in TRACKING_PREFIX.chars() {
            if chars.get(pos)?.to_ascii_uppercase() != expected {
                return None;
            }
            pos += 1;
        }
        let mut random = [0_u8; TRACKING_RANDOM_CHARS];
        for group in random.chunks_mut(TRACKING_GROUP) {
            if chars
                .get(pos)
                .is_some_and(|&c| c == '-' || c == ' ' || c == '\u{a0}')
            {
                pos += 1;
            }
            for slot in group {
                let c = chars.get(pos)?.to_ascii_uppercase();
                if !is_tracking_char(c) {
                    return None;
                }
                // Tracking characters are ASCII, so this cannot truncate.
                *slot = u8::try_from(c).ok()?;
                pos += 1;
            }
        }
        if chars.get(pos).is_some_and(|c| c.is_alphanumeric()) {
            return None;
        }
        Some(Self::from_random_part(&random))
    }

    /// The canonical form, `SLR-XXXX-XXXX`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_impls!(TrackingCode);

/// A phone number in E.164 form, e.g. `+6281234567890`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneE164(String);

/// Fewest digits a subscriber number (MSISDN) has; shorter senders are short codes.
const MIN_MSISDN_DIGITS: usize = 8;
/// E.164 allows at most 15 digits.
const MAX_E164_DIGITS: usize = 15;

impl PhoneE164 {
    /// Reads a phone number as people write it, using `default_region` (an ISO 3166 code such
    /// as `"ID"`) for numbers without a country code.
    ///
    /// With region `ID`, `0812-3456-7890`, `62812 3456 7890`, `+62 812-3456-7890` and
    /// `(0812) 34567890` all give `+6281234567890`. A number written without `+` or a leading
    /// `0` that starts with the region's country code is read as international, because that is
    /// how WhatsApp ids and SMS gateways write them. Numbers from other countries need the `+`
    /// (or the `00` international prefix).
    ///
    /// # Errors
    ///
    /// [`DomainError::UnknownRegion`] for an unknown region code, and
    /// [`DomainError::InvalidPhone`] when the text is not a valid number (too short, a short
    /// code, letters, an unassigned range).
    pub fn parse(raw: &str, default_region: &str) -> Result<Self> {
        if default_region.eq_ignore_ascii_case("ID")
            && let Some(fast) = Self::indonesian_mobile(raw)
        {
            return Ok(fast);
        }
        let region = phonenumber::country::Id::from_str(&default_region.to_ascii_uppercase())
            .map_err(|_| DomainError::UnknownRegion(default_region.to_owned()))?;
        let trimmed = raw.trim();
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < MIN_MSISDN_DIGITS {
            return Err(DomainError::InvalidPhone("too few digits".to_owned()));
        }
        if digits.len() > MAX_E164_DIGITS + 2 {
            return Err(DomainError::InvalidPhone("too many digits".to_owned()));
        }

        let country_code = phonenumber::metadata::DATABASE
            .by_id(region.as_ref())
            .map(|meta| meta.country_code().to_string());
        let bare_international = !trimmed.starts_with('+')
            && !trimmed.starts_with('0')
            && !trimmed.starts_with('(')
            && country_code
                .as_deref()
                .is_some_and(|cc| digits.starts_with(cc) && digits.len() > cc.len() + 7);
        let number = if bare_international {
            phonenumber::parse(None, format!("+{digits}"))
        } else {
            phonenumber::parse(Some(region), trimmed)
        }
        .map_err(|e| DomainError::InvalidPhone(e.to_string()))?;

        if !number.is_valid() {
            return Err(DomainError::InvalidPhone(
                "not an assigned number range".to_owned(),
            ));
        }
        if number.extension().is_some() {
            return Err(DomainError::InvalidPhone(
                "extensions are not supported".to_owned(),
            ));
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Recognises an Indonesian mobile number (`08…`, `628…`, `+628…`, with
    /// the usual separators) without the general parser, which costs tens
    /// of microseconds per call on the intake hot path. Mobile ranges are
    /// 81x, 82x, 83x, 85x, 87x, 88x and 89x, with 9 to 12 significant digits.
    /// Anything else returns `None` and goes through the general parser.
    fn indonesian_mobile(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        let (plus, body) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(16);
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' => {}
                _ => return None,
            }
        }
        let significant = if let Some(rest) = digits.strip_prefix("62") {
            rest
        } else if !plus && let Some(rest) = digits.strip_prefix('0') {
            rest
        } else {
            return None;
        };
        let bytes = significant.as_bytes();
        let mobile_range = bytes.len() >= 2
            && bytes[0] == b'8'
            && matches!(bytes[1], b'1' | b'2' | b'3' | b'5' | b'7' | b'8' | b'9');
        if !mobile_range || !(9..=12).contains(&bytes.len()) {
            return None;
        }
        Some(Self(format!("+62{significant}")))
    }

    /// The E.164 form with its `+`, e.g. `+6281234567890`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`, e.g. `6281234567890`, as WhatsApp ids are written.
    #[must_use]
    pub fn digits(&self) -> &str {
        self.0.strip_prefix('+').unwrap_or(&self.0)
    }

    /// Whether an SMS sender looks like a subscriber number rather than an alphanumeric sender
    /// (`TELKOMSEL`) or a short code (`1708`): at least eight digits once spaces, dashes,
    /// brackets, dots and a leading `+` are removed, and nothing else.
    #[must_use]
    pub fn is_plausible_msisdn(raw: &str) -> bool {
        let trimmed = raw.trim();
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = 0_usize;
        for c in body.chars() {
            match c {
                '0'..='9' => digits += 1,
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return false,
            }
        }
        (MIN_MSISDN_DIGITS..=MAX_E164_DIGITS + 2).contains(&digits)
    }

    /// Parses with the parse rules of [`PhoneE164::parse`]; used by the string trait impls,
    /// which only accept the E.164 form.
    fn parse_e164(s: &str) -> Result<Self> {
        let trimmed = s.trim();
        if !trimmed.starts_with('+') {
            return Err(DomainError::InvalidPhone(
                "expected E.164 form starting with +".to_owned(),
            ));
        }
        // The region is irrelevant with a `+`; `ID` is always known.
        Self::parse(trimmed, "ID")
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PhoneE164 {
    type Err = DomainError;

    /// Reads the E.164 form (`+` and country code required).
    fn from_str(s: &str) -> Result<Self> {
        Self::parse_e164(s)
    }
}

impl From<PhoneE164> for String {
    fn from(value: PhoneE164) -> String {
        value.0
    }
}

impl AsRef<str> for PhoneE164 {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for PhoneE164 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PhoneE164 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse_e164(&raw).map_err(serde::de::Error::custom)
    }
}

/// An email address, trimmed and lower-cased, e.g. `warga@example.id`.
///
/// The checks are deliberately loose (one `@`, a local part, a dotted domain): the goal is to
/// link a reporter's messages, not to enforce RFC 5322.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

/// RFC 5321 limits a forward path to 254 characters.
const MAX_EMAIL_LEN: usize = 254;

impl EmailAddress {
    /// Reads an address, trimming it and lower-casing all of it.
    ///
    /// # Errors
    ///
    /// [`DomainError::InvalidEmail`] with the reason; the address itself is never included.
    pub fn parse(s: &str) -> Result<Self> {
        let address = s.trim().to_lowercase();
        if address.is_empty() {
            return Err(DomainError::InvalidEmail("empty"));
        }
        if address.len() > MAX_EMAIL_LEN {
            return Err(DomainError::InvalidEmail("longer than 254 bytes"));
        }
        if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::InvalidEmail(
                "contains spaces or control characters",
            ));
        }
        let mut parts = address.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DomainError::InvalidEmail("must contain exactly one @"));
        };
        if local.is_empty() {
            return Err(DomainError::InvalidEmail("empty local part"));
        }
        if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(DomainError::InvalidEmail("domain must be a dotted name"));
        }
        Ok(Self(address))
    }

    /// The address, e.g. `warga@example.id`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

string_value_impls!(EmailAddress);

/// A channel instance's name from the config, e.g. `kannel-utama`; it appears in webhook URLs
/// such as `/webhooks/sms/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

const MAX_CHANNEL_NAME_LEN: usize = 64;

impl ChannelName {
    /// Checks a name: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter
    /// or digit.
    ///
    /// # Errors
    ///
    /// [`DomainError::InvalidChannelName`] when a rule is broken.
    pub fn parse(s: &str) -> Result<Self> {
        let valid_start = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid_start && valid_chars && s.len() <= MAX_CHANNEL_NAME_LEN {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::InvalidChannelName(s.to_owned()))
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value_impls!(ChannelName);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_have_their_prefix_and_round_trip() {
        let id = ComplaintId::new();
        assert!(id.as_str().starts_with("cmp_"));
        assert_eq!(id.as_str().len(), 4 + 26);
        assert_eq!(ComplaintId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.to_string().parse::<ComplaintId>().unwrap(), id);
        assert_eq!(String::from(id.clone()), id.as_str());

        let prefixes = [
            MessageId::new().to_string(),
            EventId::new().to_string(),
            ReporterId::new().to_string(),
            AttachmentId::new().to_string(),
            DeliveryId::new().to_string(),
            QuarantineId::new().to_string(),
        ]
        .map(|s| s[..4].to_owned());
        assert_eq!(prefixes, ["msg_", "evt_", "rep_", "att_", "dlv_", "qua_"]);
    }

    #[test]
    fn id_timestamp_comes_from_the_ulid() {
        let ulid = Ulid::from_parts(1_700_000_000_123, 42);
        let id = EventId::from_ulid(ulid);
        assert_eq!(id.timestamp_ms(), 1_700_000_000_123);
        assert_eq!(id.ulid(), ulid);

        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let fresh = u128::from(MessageId::new().timestamp_ms());
        assert!(fresh >= before && fresh < before + 60_000);
    }

    #[test]
    fn id_parse_rejects_bad_input() {
        let ulid = "01JD3Z6Q9N5W8X7Y2T4R6P8M0A";
        let cases = [
            (
                format!("msg_{ulid}"),
                DomainError::IdPrefix { expected: "cmp_" },
            ),
            (ulid.to_owned(), DomainError::IdPrefix { expected: "cmp_" }),
            (
                format!("CMP_{ulid}"),
                DomainError::IdPrefix { expected: "cmp_" },
            ),
            ("cmp_".to_owned(), DomainError::IdUlid { prefix: "cmp_" }),
            (
                format!("cmp_{ulid}X"),
                DomainError::IdUlid { prefix: "cmp_" },
            ),
            (
                format!("cmp_{}", &ulid[..25]),
                DomainError::IdUlid { prefix: "cmp_" },
            ),
            // Overflows 128 bits.
            (
                "cmp_ZZZZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
                DomainError::IdUlid { prefix: "cmp_" },
            ),
            // `U` is not Crockford base32; `O` is only an alias.
            (
                "cmp_01JD3Z6Q9N5W8X7Y2T4R6P8M0U".to_owned(),
                DomainError::IdUlid { prefix: "cmp_" },
            ),
            (
                "cmp_01JD3Z6Q9N5W8X7Y2T4R6P8MOA".to_owned(),
                DomainError::IdUlid { prefix: "cmp_" },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(ComplaintId::parse(&input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn id_parse_upper_cases_the_ulid() {
        let id = ComplaintId::parse("cmp_01jd3z6q9n5w8x7y2t4r6p8m0a").unwrap();
        assert_eq!(id.as_str(), "cmp_01JD3Z6Q9N5W8X7Y2T4R6P8M0A");
    }

    #[test]
    fn ids_serialise_as_plain_strings_and_validate_on_the_way_in() {
        let id = ReporterId::parse("rep_01JD3Z6Q9N5W8X7Y2T4R6P8M0A").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"rep_01JD3Z6Q9N5W8X7Y2T4R6P8M0A\"");
        assert_eq!(serde_json::from_str::<ReporterId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ReporterId>("\"cmp_01JD3Z6Q9N5W8X7Y2T4R6P8M0A\"").is_err());
        assert!(serde_json::from_str::<ReporterId>("42").is_err());
    }

    #[test]
    fn ids_order_by_creation_time() {
        let older = ComplaintId::from_ulid(Ulid::from_parts(1_000, u128::MAX >> 48));
        let newer = ComplaintId::from_ulid(Ulid::from_parts(1_001, 0));
        assert!(older < newer);
    }

    #[test]
    fn tracking_codes_round_trip() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let code = TrackingCode::generate();
            let text = code.as_str();
            assert_eq!(text.len(), 13);
            assert!(text.starts_with("SLR-"));
            assert_eq!(&text[8..9], "-");
            assert!(
                text[4..]
                    .chars()
                    .filter(|&c| c != '-')
                    .all(|c| TRACKING_ALPHABET.contains(c)),
                "{text}"
            );
            assert_eq!(TrackingCode::parse(text).unwrap(), code);
            assert_eq!(TrackingCode::parse(&text.to_lowercase()).unwrap(), code);
            assert_eq!(
                TrackingCode::find_in_text(&format!("Re: [{text}] Jalan")),
                Some(code.clone())
            );
            seen.insert(code);
        }
        // 1000 draws from 6.5e11 codes collide with probability below 1e-6.
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn tracking_code_generation_uses_the_whole_alphabet() {
        let used: HashSet<char> = (0..1000)
            .flat_map(|_| {
                TrackingCode::generate().as_str()[4..]
                    .chars()
                    .collect::<Vec<_>>()
            })
            .filter(|&c| c != '-')
            .collect();
        assert_eq!(used.len(), TRACKING_ALPHABET.len());
    }

    #[test]
    fn tracking_code_parse_accepts_what_citizens_type() {
        for input in [
            "SLR-7K3Q-9XPA",
            "slr-7k3q-9xpa",
            "  SLR-7K3Q-9XPA \n",
            "SLR7K3Q9XPA",
            "slr 7k3q 9xpa",
            "SLR 7K3Q-9XPA",
            "7K3Q-9XPA",
            "7k3q9xpa",
            "7K3Q 9XPA",
            "SLR–7K3Q–9XPA",
        ] {
            assert_eq!(
                TrackingCode::parse(input).map(String::from),
                Ok("SLR-7K3Q-9XPA".to_owned()),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn tracking_code_parse_rejects_look_alikes_and_bad_shapes() {
        let cases = [
            ("SLR-7K3Q-9XP0", DomainError::TrackingCodeChar('0')),
            ("SLR-7K3Q-9XPO", DomainError::TrackingCodeChar('O')),
            ("SLR-7K3Q-9XPo", DomainError::TrackingCodeChar('O')),
            ("SLR-7K3Q-9XPI", DomainError::TrackingCodeChar('I')),
            ("SLR-7K3Q-9XP1", DomainError::TrackingCodeChar('1')),
            ("SLR-7K3Q-9XPL", DomainError::TrackingCodeChar('L')),
            ("SLR-7K3Q-9XPU", DomainError::TrackingCodeChar('U')),
            ("SLR-7K3Q-9XP!", DomainError::TrackingCodeChar('!')),
            ("SLR-7K3Q-9XP", DomainError::TrackingCodeFormat),
            ("SLR-7K3Q-9XPAA", DomainError::TrackingCodeFormat),
            ("", DomainError::TrackingCodeFormat),
            ("SLR", DomainError::TrackingCodeFormat),
        ];
        for (input, expected) in cases {
            assert_eq!(TrackingCode::parse(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn tracking_code_found_in_free_text() {
        let code = Some("SLR-7K3Q-9XPA".to_owned());
        let cases = [
            ("Re: [SLR-7K3Q-9XPA] Jalan rusak", code.clone()),
            ("SLR-7K3Q-9XPA", code.clone()),
            ("kode saya slr-7k3q-9xpa, mohon dicek", code.clone()),
            ("cek SLR 7K3Q 9XPA ya pak", code.clone()),
            ("(SLR7K3Q9XPA)", code.clone()),
            ("Laporan SLR-7K3Q-9XPA.", code.clone()),
            ("first SLR-7K3Q-9XPA then SLR-2222-3333", code.clone()),
            ("tanpa kode", None),
            ("7K3Q-9XPA without prefix", None),
            ("XSLR-7K3Q-9XPA glued to a word", None),
            ("SLR-7K3Q-9XPAB too long", None),
            ("SLR-7K3Q-9XP", None),
            ("SLR-7K3O-9XPA has a letter O", None),
            ("SLR--7K3Q-9XPA two dashes", None),
            ("SLR", None),
            ("", None),
            ("slr-bad SLR-2345-6789", Some("SLR-2345-6789".to_owned())),
            (
                "Jl. Kenanga – SLR-ABCD-EFGH 🙏",
                Some("SLR-ABCD-EFGH".to_owned()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                TrackingCode::find_in_text(text).map(String::from),
                expected,
                "text {text:?}"
            );
        }
    }

    #[test]
    fn tracking_code_serde_validates() {
        let code: TrackingCode = serde_json::from_str("\"SLR-7K3Q-9XPA\"").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"SLR-7K3Q-9XPA\"");
        assert!(serde_json::from_str::<TrackingCode>("\"SLR-0000-0000\"").is_err());
    }

    #[test]
    fn indonesian_phone_forms_give_e164() {
        for input in [
            "0812-3456-7890",
            "62812 3456 7890",
            "6281234567890",
            "+62 812-3456-7890",
            "+6281234567890",
            "(0812) 34567890",
            "0812 3456 7890",
            " 081234567890 ",
            "+62 (0)812 3456 7890",
        ] {
            assert_eq!(
                PhoneE164::parse(input, "ID").map(String::from),
                Ok("+6281234567890".to_owned()),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn landlines_and_other_countries() {
        let cases = [
            ("021-3456789", "ID", "+62213456789"),
            ("(021) 345 6789", "ID", "+62213456789"),
            ("+1 650-253-0000", "ID", "+16502530000"),
            ("+65 6123 4567", "ID", "+6561234567"),
            ("+60 12-345 6789", "ID", "+60123456789"),
            ("012-345 6789", "MY", "+60123456789"),
            ("0812-3456-7890", "id", "+6281234567890"),
        ];
        for (input, region, expected) in cases {
            assert_eq!(
                PhoneE164::parse(input, region).map(String::from),
                Ok(expected.to_owned()),
                "input {input:?} region {region}"
            );
        }
    }

    #[test]
    fn phone_garbage_is_rejected_without_echoing_the_number() {
        for input in [
            "",
            "1708",
            "TELKOMSEL",
            "hubungi saya",
            "0812",
            "+62 12",
            "+999 1234 5678 90",
            "0812345678901234567890",
            "+0 812 3456 7890",
        ] {
            let err = PhoneE164::parse(input, "ID").expect_err(input);
            assert!(
                matches!(err, DomainError::InvalidPhone(_)),
                "{input:?}: {err:?}"
            );
        }
        for input in ["0812-3456-789012345", "0812345678901234567890", "+62 3456"] {
            let err = PhoneE164::parse(input, "ID").expect_err(input);
            assert!(!err.to_string().contains("3456"), "{err}");
        }
    }

    #[test]
    fn phone_unknown_region_is_an_error() {
        assert_eq!(
            PhoneE164::parse("0812-3456-7890", "XX"),
            Err(DomainError::UnknownRegion("XX".to_owned()))
        );
    }

    #[test]
    fn phone_accessors_and_serde() {
        let phone = PhoneE164::parse("0812-3456-7890", "ID").unwrap();
        assert_eq!(phone.as_str(), "+6281234567890");
        assert_eq!(phone.digits(), "6281234567890");
        assert_eq!(phone.to_string(), "+6281234567890");
        let json = serde_json::to_string(&phone).unwrap();
        assert_eq!(json, "\"+6281234567890\"");
        assert_eq!(serde_json::from_str::<PhoneE164>(&json).unwrap(), phone);
        assert!(serde_json::from_str::<PhoneE164>("\"081234567890\"").is_err());
        assert!(serde_json::from_str::<PhoneE164>("\"+62 12\"").is_err());
        assert_eq!("+6281234567890".parse::<PhoneE164>().unwrap(), phone);
    }

    #[test]
    fn plausible_msisdn() {
        let cases = [
            ("+6281234567890", true),
            ("081234567890", true),
            ("0812-3456-7890", true),
            ("(021) 345 6789", true),
            ("12345678", true),
            ("1708", false),
            ("TELKOMSEL", false),
            ("INFO-PLN", false),
            ("99555", false),
            ("", false),
            ("+62812abc34567", false),
            ("123456789012345678", false),
        ];
        for (input, expected) in cases {
            assert_eq!(
                PhoneE164::is_plausible_msisdn(input),
                expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("  Warga.Baik@Example.ID \n").unwrap();
        assert_eq!(email.as_str(), "warga.baik@example.id");
        assert_eq!(email.domain(), "example.id");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"warga.baik@example.id\""
        );
    }

    #[test]
    fn email_rejections_do_not_echo_the_address() {
        let long = format!("{}@example.id", "a".repeat(250));
        for input in [
            "",
            "   ",
            "warga",
            "warga@",
            "@example.id",
            "warga@@example.id",
            "warga@a@example.id",
            "warga@localhost",
            "warga@example.",
            "warga@.example",
            "warga@exa..mple",
            "warga baik@example.id",
            "warga@exa mple.id",
            long.as_str(),
        ] {
            let err = EmailAddress::parse(input).expect_err(input);
            assert!(matches!(err, DomainError::InvalidEmail(_)), "{input:?}");
            assert!(!err.to_string().contains("warga"), "{err}");
        }
        assert!(serde_json::from_str::<EmailAddress>("\"warga@localhost\"").is_err());
    }

    #[test]
    fn channel_names() {
        for good in ["a", "kannel", "wa-dinas_1", "0sms", &"x".repeat(64)] {
            assert_eq!(ChannelName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-wa",
            "_wa",
            "WA",
            "wa dinas",
            "wa/x",
            "wa.x",
            "jalan€",
            &"x".repeat(65),
        ] {
            assert_eq!(
                ChannelName::parse(bad),
                Err(DomainError::InvalidChannelName(bad.to_owned())),
                "{bad:?}"
            );
        }
        let name: ChannelName = serde_json::from_str("\"kannel-utama\"").unwrap();
        assert_eq!(name.to_string(), "kannel-utama");
        assert!(serde_json::from_str::<ChannelName>("\"Kannel\"").is_err());
    }

    #[test]
    fn indonesian_fast_path_agrees_with_the_general_parser() {
        let samples = [
            "081234567890",
            "0812-3456-789",
            "+62 811 1234 5678",
            "6285712345678",
            "0838.1234.5678",
            "089912345678",
            "0881234567",
            "+6287812345678",
        ];
        for raw in samples {
            let fast = PhoneE164::indonesian_mobile(raw).expect(raw);
            let region = phonenumber::country::Id::ID;
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            let general = if raw.trim().starts_with('+') || digits.starts_with("62") {
                phonenumber::parse(None, format!("+{digits}"))
            } else {
                phonenumber::parse(Some(region), raw)
            }
            .expect(raw);
            assert!(general.is_valid(), "{raw}");
            assert_eq!(
                fast.as_str(),
                general.format().mode(phonenumber::Mode::E164).to_string(),
                "{raw}"
            );
        }
        // Landlines, short numbers and other countries take the general path.
        for raw in [
            "0215551234",
            "08123",
            "+6621234567",
            "(0812) 34567890",
            "62 21 555 1234",
        ] {
            assert!(PhoneE164::indonesian_mobile(raw).is_none(), "{raw}");
        }
    }
}
