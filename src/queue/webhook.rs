//! The HTTP webhook sink, signed by the Standard Webhooks scheme.
//!
//! Headers `webhook-id` (the event id), `webhook-timestamp` (unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`.
//! The key is the base64 part of a `whsec_…` secret; a secret that is not
//! base64 is used as raw bytes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::sink::{OutboundEvent, Sink, SinkError};

/// Posts events to one URL.
pub struct WebhookSink {
    name: String,
    url: String,
    key: Vec<u8>,
    http: reqwest::Client,
}

/// The signing key of a Standard Webhooks secret.
pub fn secret_key(secret: &str) -> Vec<u8> {
    let body = secret.strip_prefix("whsec_").unwrap_or(secret);
    B64.decode(body)
        .unwrap_or_else(|_| body.as_bytes().to_vec())
}

/// `v1,<signature>` for one delivery.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", B64.encode(mac(key, id, timestamp, body)))
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Why a received webhook was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A required header is absent or unreadable.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// The timestamp is too old or in the future.
    #[error("timestamp outside tolerance")]
    Stale,
    /// No signature matches.
    #[error("signature mismatch")]
    Mismatch,
}

/// Checks a received webhook, as a receiver does.
///
/// # Errors
/// [`VerifyError`] when a header is missing, the timestamp is outside
/// `tolerance`, or no `v1` signature matches.
pub fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let get = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(VerifyError::Missing(name))
    };
    let id = get("webhook-id")?;
    let ts: i64 = get("webhook-timestamp")?
        .parse()
        .map_err(|_| VerifyError::Missing("webhook-timestamp"))?;
    let now = chrono::Utc::now().timestamp();
    if (now - ts).unsigned_abs() > tolerance.as_secs() {
        return Err(VerifyError::Stale);
    }
    let expected = mac(&secret_key(secret), id, ts, body);
    let ok = get("webhook-signature")?
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| B64.decode(s).ok())
        .any(|given| given.len() == expected.len() && bool::from(given.ct_eq(&expected)));
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

impl WebhookSink {
    /// A sink posting to `url`.
    ///
    /// # Errors
    /// [`SinkError::Permanent`] when the HTTP client cannot be built.
    pub fn new(
        name: String,
        url: String,
        secret: &str,
        timeout: Duration,
    ) -> Result<Self, SinkError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("salur/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::Permanent(e.to_string()))?;
        Ok(Self {
            name,
            url,
            key: secret_key(secret),
            http,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, event: &'a OutboundEvent) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let ts = chrono::Utc::now().timestamp();
            let response = self
                .http
                .post(&self.url)
                .header(CONTENT_TYPE, "application/json")
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", ts.to_string())
                .header(
                    "webhook-signature",
                    sign(&self.key, &event.id, ts, &event.body),
                )
                .body(event.body.clone())
                .send()
                .await
                .map_err(|e| SinkError::Transient(format!("webhook request failed: {e}")))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else if status == reqwest::StatusCode::GONE {
                Err(SinkError::Permanent(format!("receiver answered {status}")))
            } else {
                Err(SinkError::Transient(format!("receiver answered {status}")))
            }
        })
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_computation() {
        // python3: base64(hmac(b"salur-test-key", b"evt_1.1700000000.{}", sha256))
        let key = secret_key(&format!("whsec_{}", B64.encode(b"salur-test-key")));
        assert_eq!(key, b"salur-test-key");
        let sig = sign(&key, "evt_1", 1_700_000_000, b"{}");
        assert_eq!(sig, "v1,sFUDGZ9hX5HnBBzgfyl+mmtD25PkeY0Ln+1qcaS/BS4=");
    }

    #[test]
    fn verify_accepts_good_and_refuses_bad() {
        let secret = "whsec_c2VjcmV0";
        let ts = chrono::Utc::now().timestamp();
        let mut h = HeaderMap::new();
        h.insert("webhook-id", "evt_1".parse().expect("header"));
        h.insert("webhook-timestamp", ts.to_string().parse().expect("header"));
        h.insert(
            "webhook-signature",
            format!(
                "v1,bm9wZQ== {}",
                sign(&secret_key(secret), "evt_1", ts, b"body")
            )
            .parse()
            .expect("header"),
        );
        assert_eq!(verify(secret, &h, b"body", Duration::from_secs(60)), Ok(()));
        assert_eq!(
            verify(secret, &h, b"body!", Duration::from_secs(60)),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("whsec_b3RoZXI=", &h, b"body", Duration::from_secs(60)),
            Err(VerifyError::Mismatch)
        );
        h.insert(
            "webhook-timestamp",
            (ts - 600).to_string().parse().expect("header"),
        );
        assert_eq!(
            verify(secret, &h, b"body", Duration::from_secs(60)),
            Err(VerifyError::Stale)
        );
        h.remove("webhook-id");
        assert_eq!(
            verify(secret, &h, b"body", Duration::from_secs(60)),
            Err(VerifyError::Missing("webhook-id"))
        );
    }
}
