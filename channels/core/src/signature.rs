//! Signature and secret checks shared by the channel adapters, all in
//! constant time.

use std::time::Duration;

use crate::ChannelError;
use chrono::{DateTime, Utc};
use hmac::{EagerHash, Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex HMAC-SHA256 of `body` under `key`.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_bytes::<Sha256>(key, &[body]))
}

/// HMAC of the concatenation of `parts` under `key`, with the hash `D`.
pub fn hmac_bytes<D>(key: &[u8], parts: &[&[u8]]) -> Vec<u8>
where
    D: EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Whether `a` and `b` are equal, compared in constant time. Slices of
/// different lengths are unequal (their lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Checks a header of the form `sha256=<hex>` (the prefix is optional)
/// against HMAC-SHA256(`key`, `body`), in constant time.
///
/// # Errors
/// [`ChannelError::MissingSignature`] when `header` is absent or empty,
/// [`ChannelError::BadSignature`] when it does not match.
pub fn check_sha256_hex(key: &[u8], body: &[u8], header: Option<&str>) -> Result<(), ChannelError> {
    let header = present(header)?;
    let hex_part = header.strip_prefix("sha256=").unwrap_or(header);
    check_hex(hex_part, &hmac_bytes::<Sha256>(key, &[body]))
}

/// Checks a hex signature (either case) against the expected bytes.
///
/// # Errors
/// [`ChannelError::BadSignature`] when it is not hex or does not match.
pub fn check_hex(given: &str, expected: &[u8]) -> Result<(), ChannelError> {
    let given = hex::decode(given.trim()).map_err(|_| ChannelError::BadSignature)?;
    if constant_time_eq(&given, expected) {
        Ok(())
    } else {
        Err(ChannelError::BadSignature)
    }
}

/// Checks a shared secret that the provider repeats in each request (a
/// query parameter or a form field). Both sides are hashed before the
/// constant-time comparison, so neither the secret nor its length leaks.
///
/// # Errors
/// [`ChannelError::MissingSignature`] when `given` is absent or empty,
/// [`ChannelError::BadSignature`] when it differs from `expected`.
pub fn check_secret(expected: &[u8], given: Option<&str>) -> Result<(), ChannelError> {
    let given = present(given)?;
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected);
    let same = given.as_slice().ct_eq(expected.as_slice());
    if bool::from(same) {
        Ok(())
    } else {
        Err(ChannelError::BadSignature)
    }
}

/// Checks that a signed unix `timestamp` (seconds) lies within `max_skew`
/// of `now`, in either direction.
///
/// # Errors
/// [`ChannelError::Stale`] when it does not.
pub fn check_fresh(
    timestamp: i64,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<(), ChannelError> {
    let skew = now.timestamp().abs_diff(timestamp);
    if skew <= max_skew.as_secs() {
        Ok(())
    } else {
        Err(ChannelError::Stale)
    }
}

/// Parses a signed unix timestamp in seconds.
///
/// # Errors
/// [`ChannelError::MissingSignature`] when absent or empty,
/// [`ChannelError::BadSignature`] when it is not an integer.
pub fn signed_timestamp(value: Option<&str>) -> Result<i64, ChannelError> {
    present(value)?
        .parse()
        .map_err(|_| ChannelError::BadSignature)
}

/// The value, trimmed, when it is present and not empty.
fn present(value: Option<&str>) -> Result<&str, ChannelError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(ChannelError::MissingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn checks() {
        let sig = format!("sha256={}", hmac_sha256_hex(b"k", b"body"));
        assert_eq!(check_sha256_hex(b"k", b"body", Some(&sig)), Ok(()));
        assert_eq!(
            check_sha256_hex(b"k", b"body", Some(&sig[7..])),
            Ok(()),
            "prefix is optional"
        );
        assert_eq!(
            check_sha256_hex(b"k", b"body!", Some(&sig)),
            Err(ChannelError::BadSignature)
        );
        assert_eq!(
            check_sha256_hex(b"other", b"body", Some(&sig)),
            Err(ChannelError::BadSignature)
        );
        assert_eq!(
            check_sha256_hex(b"k", b"body", Some("sha256=zz")),
            Err(ChannelError::BadSignature)
        );
        assert_eq!(
            check_sha256_hex(b"k", b"body", Some("sha256=abcd")),
            Err(ChannelError::BadSignature)
        );
        assert_eq!(
            check_sha256_hex(b"k", b"body", None),
            Err(ChannelError::MissingSignature)
        );
        assert_eq!(
            check_sha256_hex(b"k", b"body", Some(" ")),
            Err(ChannelError::MissingSignature)
        );
    }

    #[test]
    fn shared_secrets_are_compared_whole() {
        assert_eq!(check_secret(b"s3cret", Some("s3cret")), Ok(()));
        assert_eq!(
            check_secret(b"s3cret", Some("s3cre")),
            Err(ChannelError::BadSignature)
        );
        assert_eq!(
            check_secret(b"s3cret", Some("s3cret2")),
            Err(ChannelError::BadSignature)
        );
        assert_eq!(
            check_secret(b"s3cret", Some("")),
            Err(ChannelError::MissingSignature)
        );
        assert_eq!(
            check_secret(b"s3cret", None),
            Err(ChannelError::MissingSignature)
        );
    }

    #[test]
    fn freshness_is_checked_both_ways() {
        let now = DateTime::from_timestamp(1_000_000, 0).expect("time");
        let window = Duration::from_secs(300);
        assert_eq!(check_fresh(1_000_000 - 300, now, window), Ok(()));
        assert_eq!(check_fresh(1_000_000 + 300, now, window), Ok(()));
        assert_eq!(
            check_fresh(1_000_000 - 301, now, window),
            Err(ChannelError::Stale)
        );
        assert_eq!(
            check_fresh(1_000_000 + 301, now, window),
            Err(ChannelError::Stale)
        );
        assert_eq!(signed_timestamp(Some("12")), Ok(12));
        assert_eq!(signed_timestamp(Some("x")), Err(ChannelError::BadSignature));
        assert_eq!(signed_timestamp(None), Err(ChannelError::MissingSignature));
    }
}
