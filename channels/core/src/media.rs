//! Media files a provider holds for us, fetched after their message is
//! stored.

use bytes::{Bytes, BytesMut};

use crate::BoxFuture;

/// A downloaded media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The file's bytes.
    pub bytes: Bytes,
    /// MIME type, as the provider states it.
    pub mime: Option<String>,
    /// Hex sha256 of `bytes`: the file's content address.
    pub sha256: String,
}

/// Why a media file could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// Larger than the configured limit; retrying will not help.
    #[error("media is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size, as stated or as counted so far.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The content does not hash to what the provider stated.
    #[error("media content does not match its sha256 (stated {stated}, got {got})")]
    Checksum {
        /// What the provider stated.
        stated: String,
        /// What the bytes hash to.
        got: String,
    },
    /// The look-up answered a URL on a host we do not fetch from.
    #[error("media URL host `{0}` is not one the channel fetches from")]
    ForeignHost(String),
    /// The provider no longer has the media (or never had it).
    #[error("media not found: {0}")]
    Gone(String),
    /// A network error, a timeout, an expired URL or a server error: a
    /// later try may work.
    #[error("media download failed, will retry: {0}")]
    Transient(String),
}

impl MediaError {
    /// Whether a later try may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A download's body, collected chunk by chunk and refused as soon as it
/// passes the limit, whatever size the server stated.
#[derive(Debug)]
pub struct Limited {
    bytes: BytesMut,
    limit: u64,
}

impl Limited {
    /// Starts a body of at most `limit` bytes.
    ///
    /// # Errors
    /// [`MediaError::TooLarge`] when the stated size is over the limit.
    pub fn new(limit: u64, stated: Option<u64>) -> Result<Self, MediaError> {
        match stated {
            Some(size) if size > limit => Err(MediaError::TooLarge { size, limit }),
            _ => Ok(Self {
                bytes: BytesMut::new(),
                limit,
            }),
        }
    }

    /// Adds a chunk.
    ///
    /// # Errors
    /// [`MediaError::TooLarge`] once the body passes the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        let size = (self.bytes.len() + chunk.len()) as u64;
        if size > self.limit {
            return Err(MediaError::TooLarge {
                size,
                limit: self.limit,
            });
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole body.
    pub fn finish(self) -> Bytes {
        self.bytes.freeze()
    }
}

/// A channel's way of downloading the files its messages refer to.
pub trait MediaSource: Send + Sync {
    /// Downloads the file behind `provider_ref` (an attachment's
    /// reference), at most `max_bytes`, checked against `sha256` when the
    /// provider stated one.
    fn fetch<'a>(
        &'a self,
        provider_ref: &'a str,
        sha256: Option<&'a str>,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Media, MediaError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_refused_by_its_stated_size_or_once_it_grows_too_large() {
        assert!(matches!(
            Limited::new(10, Some(11)),
            Err(MediaError::TooLarge {
                size: 11,
                limit: 10
            })
        ));
        let mut body = Limited::new(10, None).expect("no stated size");
        body.push(b"12345").expect("under");
        body.push(b"67890").expect("at the limit");
        assert!(matches!(
            body.push(b"!"),
            Err(MediaError::TooLarge { size: 11, .. })
        ));
        let mut body = Limited::new(10, Some(3)).expect("small");
        body.push(b"abc").expect("fits");
        assert_eq!(&body.finish()[..], b"abc");
    }
}
