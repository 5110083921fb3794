//! Meta's Graph API, for what the WhatsApp channel asks of it: media files
//! and outgoing messages.
//!
//! Media comes in two steps, both with the bearer token: a look-up of the
//! media id gives a short-lived URL (about 5 minutes), the size and the
//! sha256; the file is then fetched from that URL. Only the Graph API's own
//! host and Meta's media hosts are ever fetched, the size limit is enforced
//! while the file streams in, and the content must hash to what Meta
//! stated. A failed look-up or download is an error of its own kind, so the
//! caller can retry that one attachment later; a stale URL is simply looked
//! up again on the next try.
//!
//! Messages are `POST {graph}/{phone_number_id}/messages`. Meta's errors are
//! sorted by what can be done about them: [`SendError::OutsideWindow`]
//! (131047: more than 24 hours since the citizen last wrote; an approved
//! template is needed), [`SendError::RateLimited`], [`SendError::Recipient`]
//! (the number cannot get WhatsApp messages), and the rest as transient or
//! permanent.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The public Graph API, with the version this crate was written against.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v21.0";

/// The request timeout a media download or a send is usually given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Hosts (and their subdomains) Meta serves media from.
const META_MEDIA_HOSTS: &[&str] = &["fbsbx.com", "fbcdn.net", "whatsapp.net", "facebook.com"];

/// Longest Meta error text kept, in characters.
const MAX_DETAIL: usize = 200;

use salur_channels_core::media::Limited;
pub use salur_channels_core::media::{Media, MediaError};

/// Why a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Outside the 24-hour window (WhatsApp 131047; Messenger and Instagram
    /// 10/2018278): WhatsApp takes only a template then.
    #[error("outside the 24-hour window since the citizen last wrote")]
    OutsideWindow,
    /// Too many messages; try again later.
    #[error("rate limited ({code}): {detail}")]
    RateLimited {
        /// Meta's error code (or the HTTP status).
        code: i64,
        /// Meta's words.
        detail: String,
    },
    /// The recipient cannot get this message (not on WhatsApp, blocked,
    /// not in the test allow-list, …); retrying will not help.
    #[error("recipient refused ({code}): {detail}")]
    Recipient {
        /// Meta's error code.
        code: i64,
        /// Meta's words.
        detail: String,
    },
    /// A network or server error; a later try may work.
    #[error("temporary failure ({code}): {detail}")]
    Transient {
        /// Meta's error code (or the HTTP status).
        code: i64,
        /// Meta's words.
        detail: String,
    },
    /// Anything else Meta refused (bad token, bad parameters, unknown
    /// template); retrying will not help until the configuration changes.
    #[error("refused ({code}): {detail}")]
    Permanent {
        /// Meta's error code (or the HTTP status).
        code: i64,
        /// Meta's words.
        detail: String,
    },
}

impl SendError {
    /// Whether a later try of the same message may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// Free text; only within 24 hours of the citizen's last message.
    Text(&'a str),
    /// An approved template, with its body parameters in order.
    Template {
        /// The template's name.
        name: &'a str,
        /// Its language code, e.g. `id`.
        language: &'a str,
        /// Values for `{{1}}`, `{{2}}`, … in the template body.
        params: &'a [&'a str],
    },
}

/// A Graph API client for one app's token.
#[derive(Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    base: Url,
    token: String,
}

#[derive(Deserialize)]
struct Lookup {
    url: Option<String>,
    mime_type: Option<String>,
    sha256: Option<String>,
    file_size: Option<Value>,
}

/// A WhatsApp attachment is a media id, looked up then fetched; a Messenger
/// or Instagram one is Meta's own URL, fetched as it is.
impl salur_channels_core::media::MediaSource for GraphApi {
    fn fetch<'a>(
        &'a self,
        provider_ref: &'a str,
        sha256: Option<&'a str>,
        max_bytes: u64,
    ) -> salur_channels_core::BoxFuture<'a, Result<Media, MediaError>> {
        Box::pin(async move {
            if provider_ref.starts_with("https://") {
                self.fetch_url(provider_ref, max_bytes).await
            } else {
                self.fetch_media(provider_ref, sha256, max_bytes).await
            }
        })
    }
}

impl GraphApi {
    /// A client for `graph_url` (`None`: [`DEFAULT_GRAPH_URL`]) with the
    /// access token `token`; each request may take `timeout`. Redirects are
    /// never followed, so a media URL cannot lead anywhere but where
    /// [`GraphApi::fetch_media`] checked.
    ///
    /// # Errors
    /// A URL that does not parse or is not http(s), or a TLS set-up failure.
    pub fn new(graph_url: Option<&str>, token: String, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("salur/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let raw = graph_url.unwrap_or(DEFAULT_GRAPH_URL).trim_end_matches('/');
        let base = Url::parse(&format!("{raw}/")).map_err(|e| format!("graph_url: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err("graph_url must be an http(s) URL".into());
        }
        Ok(Self { http, base, token })
    }

    fn endpoint(&self, path: &str) -> Result<Url, String> {
        self.base
            .join(path)
            .map_err(|e| format!("bad path `{path}`: {e}"))
    }

    /// Fetches media `media_id`: looks it up, then downloads it, at most
    /// `max_bytes`, checking it against `stated_sha256` (the webhook's, or
    /// else the look-up's; hex or base64).
    ///
    /// # Errors
    /// See [`MediaError`].
    pub async fn fetch_media(
        &self,
        media_id: &str,
        stated_sha256: Option<&str>,
        max_bytes: u64,
    ) -> Result<Media, MediaError> {
        if media_id.is_empty()
            || !media_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(MediaError::Gone(format!("invalid media id `{media_id}`")));
        }
        let url = self.endpoint(media_id).map_err(MediaError::Gone)?;
        let answer = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| MediaError::Transient(format!("look-up: {}", e.without_url())))?;
        let status = answer.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(MediaError::Gone(format!("look-up answered {status}")));
        }
        if !status.is_success() {
            return Err(MediaError::Transient(format!("look-up answered {status}")));
        }
        let lookup: Lookup = answer.json().await.map_err(|e| {
            MediaError::Transient(format!("look-up unreadable: {}", e.without_url()))
        })?;
        let size = lookup.file_size.as_ref().and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        if let Some(size) = size.filter(|s| *s > max_bytes) {
            return Err(MediaError::TooLarge {
                size,
                limit: max_bytes,
            });
        }
        let file_url = lookup
            .url
            .as_deref()
            .ok_or_else(|| MediaError::Gone("look-up gave no URL".into()))?;
        let file_url = Url::parse(file_url)
            .map_err(|e| MediaError::ForeignHost(format!("unparseable URL: {e}")))?;
        self.check_host(&file_url)?;
        let bytes = self.download(file_url, max_bytes).await?;
        let digest = Sha256::digest(&bytes);
        let got = hex::encode(digest);
        if let Some(stated) = stated_sha256.or(lookup.sha256.as_deref())
            && decode_digest(stated).as_deref() != Some(digest.as_slice())
        {
            return Err(MediaError::Checksum {
                stated: stated.to_owned(),
                got,
            });
        }
        Ok(Media {
            bytes,
            mime: lookup.mime_type,
            sha256: got,
        })
    }

    /// Fetches a file Meta handed out by URL (Messenger and Instagram
    /// attachments), at most `max_bytes`, from Meta's hosts only.
    ///
    /// # Errors
    /// See [`MediaError`].
    pub async fn fetch_url(&self, url: &str, max_bytes: u64) -> Result<Media, MediaError> {
        let url = Url::parse(url)
            .map_err(|e| MediaError::ForeignHost(format!("unparseable URL: {e}")))?;
        self.check_host(&url)?;
        let bytes = self.download(url, max_bytes).await?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Media {
            bytes,
            mime: None,
            sha256,
        })
    }

    /// Only the configured Graph host, or Meta's media hosts over https.
    fn check_host(&self, url: &Url) -> Result<(), MediaError> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let same_as_api = url.scheme() == self.base.scheme()
            && Some(host.as_str()) == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default();
        let meta = url.scheme() == "https"
            && META_MEDIA_HOSTS
                .iter()
                .any(|m| host == *m || host.ends_with(&format!(".{m}")));
        if same_as_api || meta {
            Ok(())
        } else {
            Err(MediaError::ForeignHost(host))
        }
    }

    async fn download(&self, url: Url, max_bytes: u64) -> Result<Bytes, MediaError> {
        let mut answer = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| MediaError::Transient(format!("download: {}", e.without_url())))?;
        let status = answer.status();
        if status.is_redirection() {
            let to = answer
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| Url::parse(l).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "an unknown host".into());
            return Err(MediaError::ForeignHost(format!("redirect to {to}")));
        }
        if !status.is_success() {
            // An expired URL answers 401/403/404: a new look-up gives a
            // fresh one, so every failure here is worth another try.
            return Err(MediaError::Transient(format!("download answered {status}")));
        }
        let mut body = Limited::new(max_bytes, answer.content_length())?;
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| MediaError::Transient(format!("download cut: {}", e.without_url())))?
        {
            body.push(&chunk)?;
        }
        Ok(body.finish())
    }

    /// Sends `message` to `to` (a `wa_id`) from our number `phone_number_id`;
    /// answers with the new message's `wamid`.
    ///
    /// # Errors
    /// See [`SendError`].
    pub async fn send(
        &self,
        phone_number_id: &str,
        to: &str,
        message: &Outgoing<'_>,
    ) -> Result<String, SendError> {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        });
        match message {
            Outgoing::Text(text) => {
                body["type"] = json!("text");
                body["text"] = json!({ "preview_url": false, "body": text });
            }
            Outgoing::Template {
                name,
                language,
                params,
            } => {
                let parameters: Vec<Value> = params
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                let mut template = json!({ "name": name, "language": { "code": language } });
                if !parameters.is_empty() {
                    template["components"] = json!([{ "type": "body", "parameters": parameters }]);
                }
                body["type"] = json!("template");
                body["template"] = template;
            }
        }
        if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SendError::Permanent {
                code: 0,
                detail: "phone_number_id must be the number's id (digits)".into(),
            });
        }
        self.post_message(
            &format!("{phone_number_id}/messages"),
            &body,
            "/messages/0/id",
        )
        .await
    }

    /// Sends `text` to a Messenger or Instagram user (`recipient` is the
    /// page- or account-scoped id) through the page the token belongs to,
    /// as an answer within the 24-hour window; answers with the `mid`.
    ///
    /// # Errors
    /// See [`SendError`].
    pub async fn send_page(&self, recipient: &str, text: &str) -> Result<String, SendError> {
        let body = json!({
            "recipient": { "id": recipient },
            "messaging_type": "RESPONSE",
            "message": { "text": text },
        });
        self.post_message("me/messages", &body, "/message_id").await
    }

    /// Posts `body` to `path`; the new message's id is at `id_at` in the
    /// answer.
    async fn post_message(
        &self,
        path: &str,
        body: &Value,
        id_at: &str,
    ) -> Result<String, SendError> {
        let url = self
            .endpoint(path)
            .map_err(|detail| SendError::Permanent { code: 0, detail })?;
        let answer = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Transient {
                code: 0,
                detail: e.without_url().to_string(),
            })?;
        let status = answer.status();
        let text = answer.bytes().await.map_err(|e| SendError::Transient {
            code: i64::from(status.as_u16()),
            detail: format!("answer cut: {}", e.without_url()),
        })?;
        let value: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return value
                .pointer(id_at)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| SendError::Transient {
                    code: i64::from(status.as_u16()),
                    detail: "the answer named no message id".into(),
                });
        }
        Err(classify(status, &value))
    }
}

/// Sorts a Graph API error answer by what can be done about it.
fn classify(status: StatusCode, answer: &Value) -> SendError {
    let error = answer.get("error").unwrap_or(&Value::Null);
    let http = i64::from(status.as_u16());
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(http);
    let detail: String = error
        .get("error_data")
        .and_then(|d| d.get("details"))
        .or_else(|| error.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"))
        .chars()
        .take(MAX_DETAIL)
        .collect();
    let subcode = error.get("error_subcode").and_then(Value::as_i64);
    match (code, subcode) {
        // Messenger's and Instagram's window: "sent outside of allowed window".
        (10, Some(2_018_278)) => return SendError::OutsideWindow,
        // The user cannot be reached (gone, blocked the page, no such id).
        (551, _) | (100, Some(2_018_001)) => return SendError::Recipient { code, detail },
        _ => {}
    }
    match code {
        131_047 => SendError::OutsideWindow,
        // Throughput, spam and pair rate limits, and the app's call limits.
        4 | 17 | 32 | 613 | 80_007 | 130_429 | 131_048 | 131_056 => {
            SendError::RateLimited { code, detail }
        }
        // Not a WhatsApp user, not in the test allow-list, undeliverable,
        // the user stopped marketing messages or is in a country we may
        // not reach.
        131_026 | 131_030 | 131_045 | 131_050 | 130_497 => SendError::Recipient { code, detail },
        // Meta's own "try again later" codes.
        1 | 2 | 131_000 | 131_016 | 133_004 => SendError::Transient { code, detail },
        _ if status == StatusCode::TOO_MANY_REQUESTS => SendError::RateLimited { code, detail },
        _ if status.is_server_error() => SendError::Transient { code, detail },
        _ => SendError::Permanent { code, detail },
    }
}

/// A stated sha256, hex or base64, as bytes.
fn decode_digest(stated: &str) -> Option<Vec<u8>> {
    let stated = stated.trim();
    let bytes = if stated.len() == 64 {
        hex::decode(stated).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(stated)
            .ok()?
    };
    (bytes.len() == 32).then_some(bytes)
}
