//! Signature checks shared by SMS providers, all in constant time.

use hmac::{Hmac, KeyInit, Mac};
use salur_channels_core::ChannelError;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Hex HMAC-SHA256 of `body` under `key`.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_sha256(key, body))
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Checks a header of the form `sha256=<hex>` (the prefix is optional)
/// against HMAC-SHA256(`key`, `body`), in constant time.
///
/// # Errors
/// [`ChannelError::MissingSignature`] when `header` is absent or empty,
/// [`ChannelError::BadSignature`] when it does not match.
pub fn check_sha256_hex(key: &[u8], body: &[u8], header: Option<&str>) -> Result<(), ChannelError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let Some(header) = header else {
        return Err(ChannelError::MissingSignature);
    };
    let hex_part = header.strip_prefix("sha256=").unwrap_or(header);
    let given = hex::decode(hex_part.trim()).map_err(|_| ChannelError::BadSignature)?;
    let expected = hmac_sha256(key, body);
    if given.len() == expected.len() && bool::from(given.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(ChannelError::BadSignature)
    }
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
}
