//! What a provider call came to: its answer read whole, and the errors built
//! from it with the credentials and the phone number scrubbed out.

use bytes::Bytes;
use reqwest::{RequestBuilder, StatusCode, header::RETRY_AFTER};
use salur_channels_core::{ChannelError, SentReceipt};
use serde::de::DeserializeOwned;

/// Longest provider text kept in an error message, in characters.
const MAX_DETAIL: usize = 200;
/// Runs of this many digits or more in provider text are masked: they are
/// phone numbers far more often than anything an operator needs.
const MASKED_DIGITS: usize = 6;

/// Builds the errors of one call to one provider. Every message passes
/// through [`Failure::clean`], so nothing it was told to hide can leak.
pub(crate) struct Failure<'a> {
    provider: &'static str,
    hidden: Vec<&'a str>,
}

impl<'a> Failure<'a> {
    /// Errors for `provider` that never show any of `hidden` (credentials,
    /// the recipient's number; it is also hidden without its `+`).
    pub(crate) fn new(provider: &'static str, hidden: &[&'a str]) -> Self {
        let mut all = Vec::with_capacity(hidden.len() * 2);
        for value in hidden.iter().copied().filter(|v| !v.is_empty()) {
            all.push(value);
            if let Some(digits) = value.strip_prefix('+') {
                all.push(digits);
            }
        }
        // Longest first, so that a value containing another goes whole.
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self {
            provider,
            hidden: all,
        }
    }

    /// `text` on one line, without hidden values or long digit runs, and
    /// shortened.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for value in &self.hidden {
            text = text.replace(value, "[redacted]");
        }
        let mut out = String::with_capacity(text.len());
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            flush_digits(&mut out, &mut digits);
            out.push(if c.is_control() { ' ' } else { c });
        }
        flush_digits(&mut out, &mut digits);
        let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        match out.char_indices().nth(MAX_DETAIL) {
            Some((cut, _)) => format!("{}…", &out[..cut]),
            None => out,
        }
    }

    /// A failure a retry may cure, with the provider's retry hint if any.
    pub(crate) fn transient(&self, what: &str, retry_after: Option<&str>) -> ChannelError {
        let hint = retry_after
            .map(|v| format!("; retry-after {v}"))
            .unwrap_or_default();
        ChannelError::Transient(self.clean(&format!("{}: {what}{hint}", self.provider)))
    }

    /// A failure that will repeat.
    pub(crate) fn permanent(&self, what: &str) -> ChannelError {
        ChannelError::Permanent(self.clean(&format!("{}: {what}", self.provider)))
    }

    /// An HTTP answer that is not a success: 408, 429 and 5xx may pass,
    /// any other status will not.
    pub(crate) fn status(&self, answer: &Answer, detail: &str) -> ChannelError {
        let what = if detail.is_empty() {
            format!("HTTP {}", answer.status.as_u16())
        } else {
            format!("HTTP {} ({detail})", answer.status.as_u16())
        };
        if retryable(answer.status) {
            self.transient(&what, answer.retry_after.as_deref())
        } else {
            self.permanent(&what)
        }
    }

    /// The request never got an answer. The URL (which may hold
    /// credentials in its query) is left out.
    fn request(&self, error: reqwest::Error) -> ChannelError {
        let kind = if error.is_timeout() {
            "request timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        let error = error.without_url();
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        match causes.last() {
            Some(cause) => self.transient(&format!("{kind}: {cause}"), None),
            None => self.transient(kind, None),
        }
    }
}

fn flush_digits(out: &mut String, digits: &mut String) {
    if digits.len() >= MASKED_DIGITS {
        out.push_str("[number]");
    } else {
        out.push_str(digits);
    }
    digits.clear();
}

/// Whether an HTTP status says the same request may succeed later.
pub(crate) fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// A provider's HTTP answer, read whole.
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The `Retry-After` header, when it is short plain text.
    pub(crate) retry_after: Option<String>,
    /// The body.
    pub(crate) body: Bytes,
}

impl Answer {
    /// Sends `request` and reads the answer.
    ///
    /// # Errors
    /// [`ChannelError::Transient`] when there is no complete answer.
    pub(crate) async fn fetch(
        request: RequestBuilder,
        failure: &Failure<'_>,
    ) -> Result<Self, ChannelError> {
        let response = request.send().await.map_err(|e| failure.request(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
            .map(str::to_owned);
        let body = response.bytes().await.map_err(|e| failure.request(e))?;
        Ok(Self {
            status,
            retry_after,
            body,
        })
    }

    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The body as JSON of type `T`, if it is.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text, lossily.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A receipt naming the provider's message id, when there is a usable one.
pub(crate) fn receipt(id: Option<String>) -> SentReceipt {
    SentReceipt {
        provider_message_id: id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
    }
}

/// A code the provider may send as a JSON string or number.
pub(crate) fn code(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_hides_secrets_numbers_and_long_digit_runs() {
        let failure = Failure::new("Twilio", &["s3cret-token", "+6281234567890"]);
        let text = failure.clean(
            "The 'To' number +6281234567890 (6281234567890, 081234567890) is invalid;\n\
             token s3cret-token; code 21211",
        );
        assert_eq!(
            text,
            "The 'To' number [redacted] ([redacted], [number]) is invalid; token [redacted]; code 21211"
        );
        assert_eq!(
            failure.clean(&"é".repeat(300)).chars().count(),
            MAX_DETAIL + 1
        );
    }

    #[test]
    fn errors_say_the_provider_and_the_retry_hint() {
        let failure = Failure::new("Vonage", &["key"]);
        assert_eq!(
            failure.transient("throttled", Some("30")),
            ChannelError::Transient("Vonage: throttled; retry-after 30".into())
        );
        assert_eq!(
            failure.permanent("bad key"),
            ChannelError::Permanent("Vonage: bad [redacted]".into())
        );
    }

    #[test]
    fn retryable_statuses() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                retryable(StatusCode::from_u16(code).expect("status")),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 415, 422] {
            assert!(
                !retryable(StatusCode::from_u16(code).expect("status")),
                "{code}"
            );
        }
    }

    #[test]
    fn codes_come_as_strings_or_numbers() {
        assert_eq!(code(&serde_json::json!("0")), Some("0".into()));
        assert_eq!(code(&serde_json::json!(101)), Some("101".into()));
        assert_eq!(code(&serde_json::json!(null)), None);
        assert_eq!(receipt(Some("  ".into())).provider_message_id, None);
    }
}
