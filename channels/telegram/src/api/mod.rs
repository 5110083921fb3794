//! The Bot API calls Salur makes, for one bot token.
//!
//! - [`BotApi::get_updates`]: long polling. Sent through `reqwest` rather
//!   than teloxide, because teloxide hands back re-serialised updates and we
//!   keep each one's JSON byte for byte as its raw payload.
//! - [`BotApi::set_webhook`] and [`BotApi::delete_webhook`], through
//!   teloxide. Webhooks and `getUpdates` exclude each other: a poller gets
//!   [`ApiError::Conflict`] while a webhook is set.
//! - [`TelegramSender`]: replies, with buttons, edits and tap answers.
//! - [`TelegramMedia`]: the files messages refer to.
//!
//! The token is part of every Bot API URL, so it is kept out of every error
//! message (network errors are stripped of their URL or redacted) and out of
//! [`BotApi`]'s `Debug` output.
//!
//! Errors are sorted by what the caller can do: wait ([`ApiError::RetryAfter`]),
//! stop competing with another consumer ([`ApiError::Conflict`]), fix the
//! configuration ([`ApiError::Unauthorized`], [`ApiError::Rejected`]), or
//! try again later ([`ApiError::Transient`]).

mod media;
mod send;

use std::time::Duration;

use bytes::Bytes;
use reqwest::{StatusCode, Url};
use salur_channels_core::ChannelError;
use serde::Deserialize;
use serde_json::value::RawValue;
use teloxide::payloads::SetWebhookSetters as _;
use teloxide::requests::Requester as _;
use teloxide::types::AllowedUpdate;
use teloxide::{Bot, RequestError};

pub use media::{HOSTED_FILE_LIMIT, TelegramMedia};
pub use send::TelegramSender;

/// The hosted Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// The update kinds Salur asks for, by `getUpdates` and by webhook.
pub const ALLOWED_UPDATES: [&str; 3] = ["message", "edited_message", "callback_query"];

/// How much longer than the long-poll wait a `getUpdates` request may take.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);

/// Longest text from an answer kept in an error, in characters.
const MAX_DETAIL: usize = 200;

/// Why a Bot API call failed, sorted by what the caller can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Flood control: wait this long before the next call.
    #[error("rate limited by Telegram, retry after {}s", .0.as_secs())]
    RetryAfter(Duration),
    /// `getUpdates` while a webhook is set, or while another poller runs
    /// with the same token (HTTP 409). Telegram's words.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The token is wrong or revoked (HTTP 401, or 404 for a token that is
    /// not even shaped right).
    #[error("Telegram refused the bot token")]
    Unauthorized,
    /// Telegram refused the request itself (another 4xx); it will refuse it
    /// again. Telegram's words.
    #[error("refused by Telegram: {0}")]
    Rejected(String),
    /// A network error, a timeout, a server error or an unreadable answer;
    /// a later try may work.
    #[error("temporary failure talking to Telegram: {0}")]
    Transient(String),
}

impl ApiError {
    /// Whether the same call may succeed later without any change.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RetryAfter(_) | Self::Conflict(_) | Self::Transient(_)
        )
    }
}

/// Flood control is [`ChannelError::RetryAfter`], conflicts and transient
/// failures [`ChannelError::Transient`]; a refused token or request is
/// [`ChannelError::Permanent`], in Telegram's words.
impl From<ApiError> for ChannelError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Transient(detail) => Self::Transient(detail),
            ApiError::Rejected(detail) => Self::Permanent(detail),
            ApiError::Unauthorized => Self::Permanent(e.to_string()),
            ApiError::RetryAfter(wait) => Self::RetryAfter(wait),
            ApiError::Conflict(_) => Self::Transient(e.to_string()),
        }
    }
}

/// One update from `getUpdates`, as Telegram wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUpdate {
    /// Its `update_id`; confirm it with `offset = update_id + 1`.
    pub update_id: i64,
    /// Its JSON, byte for byte.
    pub raw: Bytes,
}

/// A Bot API client for one bot token.
#[derive(Clone)]
pub struct BotApi {
    pub(crate) bot: Bot,
    http: reqwest::Client,
    base: Url,
    token: String,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("api_url", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<Vec<Box<RawValue>>>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

impl BotApi {
    /// A client for the bot with `token`, at `api_url` (`None`:
    /// [`DEFAULT_API_URL`]; a self-hosted Bot API server or a test fake
    /// otherwise). Each call may take `timeout`, except `getUpdates`, which
    /// gets its long-poll wait on top.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`] for an empty or oddly shaped token (it
    /// goes into URLs) or an `api_url` that is not an http(s) URL;
    /// [`ChannelError::Permanent`] when the HTTP client cannot be built.
    pub fn new(
        token: String,
        api_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, ChannelError> {
        let shaped = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
        if !shaped {
            return Err(ChannelError::InvalidField {
                field: "token".into(),
                reason: "must be the token BotFather gave, like `123456:ABC-DEF…`".into(),
            });
        }
        let raw = api_url
            .unwrap_or(DEFAULT_API_URL)
            .trim()
            .trim_end_matches('/');
        let invalid = |reason: String| ChannelError::InvalidField {
            field: "api_url".into(),
            reason,
        };
        let base = Url::parse(raw).map_err(|e| invalid(format!("`{raw}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.host_str().is_none()
            || base.cannot_be_a_base()
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(invalid(format!(
                "`{raw}` is not an http(s) URL without query or fragment"
            )));
        }
        let client_error = |e: reqwest::Error| {
            ChannelError::Permanent(format!("cannot build the HTTP client: {e}"))
        };
        let teloxide_client = teloxide::net::default_reqwest_settings()
            .timeout(timeout)
            .build()
            .map_err(client_error)?;
        let bot = Bot::with_client(token.clone(), teloxide_client).set_api_url(base.clone());
        // Redirects are never followed: a file URL cannot lead anywhere but
        // the API host.
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .user_agent(concat!("salur/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(client_error)?;
        Ok(Self {
            bot,
            http,
            base,
            token,
            timeout,
        })
    }

    /// `{api_url}/bot{token}/{method}`.
    fn method_url(&self, method: &str) -> Result<Url, ApiError> {
        self.url_with(&[&format!("bot{}", self.token), method])
    }

    /// `{api_url}/file/bot{token}/{file_path}`.
    pub(crate) fn file_url(&self, file_path: &str) -> Result<Url, ApiError> {
        let bot = format!("bot{}", self.token);
        let mut segments = vec!["file", bot.as_str()];
        segments.extend(file_path.split('/'));
        self.url_with(&segments)
    }

    fn url_with(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Rejected("the API URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// The plain HTTP client, for file downloads.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `text` with the token blanked out, for errors that may quote a URL.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(&self.token, "<token>")
    }

    /// Fetches the updates after `offset` (from the oldest unconfirmed one
    /// when `None`), waiting up to `timeout_secs` for one to arrive, at most
    /// `limit` (1 to 100) of them. Passing an offset confirms every update
    /// before it. Only [`ALLOWED_UPDATES`] are asked for.
    ///
    /// An element of the answer without an integer `update_id` (Telegram
    /// never sends one) is skipped: it could be neither keyed nor confirmed.
    ///
    /// # Errors
    /// [`ApiError::Conflict`] while a webhook is set or another poller runs;
    /// the others as their names say.
    pub async fn get_updates(
        &self,
        offset: Option<i64>,
        timeout_secs: u32,
        limit: u8,
    ) -> Result<Vec<RawUpdate>, ApiError> {
        let mut body = serde_json::json!({
            "timeout": timeout_secs,
            "limit": limit.clamp(1, 100),
            "allowed_updates": ALLOWED_UPDATES,
        });
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        let answer = self
            .http
            .post(self.method_url("getUpdates")?)
            .timeout(Duration::from_secs(u64::from(timeout_secs)) + LONG_POLL_MARGIN)
            .json(&body)
            .send()
            .await
            .map_err(|e| ApiError::Transient(format!("getUpdates: {}", e.without_url())))?;
        let status = answer.status();
        let text = answer.bytes().await.map_err(|e| {
            ApiError::Transient(format!("getUpdates answer cut: {}", e.without_url()))
        })?;
        let Ok(answer) = serde_json::from_slice::<Answer>(&text) else {
            return Err(classify(
                i64::from(status.as_u16()),
                unreadable(status, &text),
                None,
            ));
        };
        match answer {
            Answer {
                ok: true,
                result: Some(result),
                ..
            } => Ok(result
                .iter()
                .filter_map(|raw| {
                    let bytes = raw.get().as_bytes();
                    crate::update::update_id(bytes).map(|update_id| RawUpdate {
                        update_id,
                        raw: Bytes::copy_from_slice(bytes),
                    })
                })
                .collect()),
            Answer { ok: true, .. } => Err(ApiError::Transient(
                "getUpdates answered ok without a result".into(),
            )),
            Answer {
                error_code,
                description,
                parameters,
                ..
            } => Err(classify(
                error_code.unwrap_or(i64::from(status.as_u16())),
                description.unwrap_or_else(|| unreadable(status, &text)),
                parameters.and_then(|p| p.retry_after),
            )),
        }
    }

    /// Points Telegram at our webhook `url`, asking for [`ALLOWED_UPDATES`]
    /// only, with `secret` to be repeated in each call's
    /// `X-Telegram-Bot-Api-Secret-Token` header.
    ///
    /// # Errors
    /// [`ApiError::Rejected`] for a URL Telegram will not call (not https,
    /// an odd port, an unknown host) or a secret it will not take (1 to 256
    /// of `A-Z`, `a-z`, `0-9`, `_`, `-`); the others as their names say.
    pub async fn set_webhook(&self, url: &str, secret: Option<&str>) -> Result<(), ApiError> {
        let url = Url::parse(url).map_err(|e| ApiError::Rejected(format!("webhook URL: {e}")))?;
        let mut request = self.bot.set_webhook(url).allowed_updates([
            AllowedUpdate::Message,
            AllowedUpdate::EditedMessage,
            AllowedUpdate::CallbackQuery,
        ]);
        if let Some(secret) = secret {
            let valid = (1..=256).contains(&secret.len())
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(ApiError::Rejected(
                    "the secret token must be 1 to 256 of A-Z, a-z, 0-9, _ and -".into(),
                ));
            }
            request = request.secret_token(secret);
        }
        request.await.map(drop).map_err(|e| self.request_error(e))
    }

    /// Removes the webhook, so that `getUpdates` works again. Pending
    /// updates are kept.
    ///
    /// # Errors
    /// As their names say.
    pub async fn delete_webhook(&self) -> Result<(), ApiError> {
        self.bot
            .delete_webhook()
            .await
            .map(drop)
            .map_err(|e| self.request_error(e))
    }

    /// Sorts a teloxide error. teloxide keeps Telegram's description but not
    /// its `error_code`, so a description it does not know is sorted by its
    /// prefix (`Bad Request: …`, `Forbidden: …`).
    pub(crate) fn request_error(&self, e: RequestError) -> ApiError {
        use teloxide::ApiError as Tg;
        match e {
            RequestError::RetryAfter(wait) => ApiError::RetryAfter(wait.duration()),
            RequestError::MigrateToChatId(id) => {
                ApiError::Rejected(format!("the group is now the supergroup {id}"))
            }
            RequestError::Api(Tg::InvalidToken) => ApiError::Unauthorized,
            RequestError::Api(e @ (Tg::TerminatedByOtherGetUpdates | Tg::CantGetUpdates)) => {
                ApiError::Conflict(e.to_string())
            }
            RequestError::Api(Tg::Unknown(description)) => {
                classify(code_of(&description), description, None)
            }
            RequestError::Api(e) => ApiError::Rejected(e.to_string()),
            RequestError::Network(e) => ApiError::Transient(self.redact(&e.to_string())),
            RequestError::InvalidJson { source, .. } => {
                ApiError::Transient(format!("unreadable answer: {source}"))
            }
            RequestError::Io(e) => ApiError::Transient(self.redact(&e.to_string())),
        }
    }
}

/// Sorts a Bot API error answer by its code.
fn classify(code: i64, description: String, retry_after: Option<u64>) -> ApiError {
    let description: String = description.chars().take(MAX_DETAIL).collect();
    if let Some(wait) = retry_after {
        return ApiError::RetryAfter(Duration::from_secs(wait));
    }
    match code {
        401 | 404 => ApiError::Unauthorized,
        409 => ApiError::Conflict(description),
        429 => ApiError::Transient(description),
        400..=499 => ApiError::Rejected(description),
        _ => ApiError::Transient(description),
    }
}

/// The HTTP status behind a Bot API error description, by its prefix;
/// 500 (worth another try) when it has none of the usual ones.
fn code_of(description: &str) -> i64 {
    const PREFIXES: [(&str, i64); 7] = [
        ("Bad Request", 400),
        ("Unauthorized", 401),
        ("Forbidden", 403),
        ("Not Found", 404),
        ("Conflict", 409),
        ("Request Entity Too Large", 413),
        ("Too Many Requests", 429),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| description.starts_with(prefix))
        .map_or(500, |&(_, code)| code)
}

/// Words for an answer that is not the Bot API's JSON.
fn unreadable(status: StatusCode, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let body: String = body.trim().chars().take(MAX_DETAIL).collect();
    if body.is_empty() {
        format!("answered {status}")
    } else {
        format!("answered {status}: {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_urls_are_checked() {
        let ok = BotApi::new("123:ABC-def_1".into(), None, Duration::from_secs(5));
        assert!(ok.is_ok());
        for token in ["", "123:AB/C", "123 ABC", "123:ABC?x=1"] {
            let err = BotApi::new(token.into(), None, Duration::from_secs(5)).expect_err(token);
            assert!(
                matches!(&err, ChannelError::InvalidField { field, .. } if field == "token"),
                "{err}"
            );
        }
        for url in [
            "api.telegram.org",
            "ftp://x.org",
            "mailto:a@b.c",
            "https://x.org/?a=1",
        ] {
            let err = BotApi::new("1:A".into(), Some(url), Duration::from_secs(5)).expect_err(url);
            assert!(
                matches!(&err, ChannelError::InvalidField { field, .. } if field == "api_url"),
                "{err}"
            );
        }
    }

    #[test]
    fn urls_carry_the_token_but_debug_does_not() {
        let api = BotApi::new(
            "123:SECRET".into(),
            Some("http://127.0.0.1:8081/tba/"),
            Duration::from_secs(5),
        )
        .expect("api");
        assert_eq!(
            api.method_url("getUpdates").expect("url").as_str(),
            "http://127.0.0.1:8081/tba/bot123:SECRET/getUpdates"
        );
        assert_eq!(
            api.file_url("photos/file_0.jpg").expect("url").as_str(),
            "http://127.0.0.1:8081/tba/file/bot123:SECRET/photos/file_0.jpg"
        );
        let debug = format!("{api:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert_eq!(api.redact("GET /bot123:SECRET/x"), "GET /bot<token>/x");
    }

    #[test]
    fn error_answers_are_sorted() {
        assert_eq!(
            classify(429, "Too Many Requests: retry after 5".into(), Some(5)),
            ApiError::RetryAfter(Duration::from_secs(5))
        );
        assert_eq!(
            classify(401, "Unauthorized".into(), None),
            ApiError::Unauthorized
        );
        assert!(matches!(
            classify(409, "Conflict".into(), None),
            ApiError::Conflict(_)
        ));
        assert!(matches!(
            classify(400, "Bad Request: x".into(), None),
            ApiError::Rejected(_)
        ));
        assert!(matches!(
            classify(502, "Bad Gateway".into(), None),
            ApiError::Transient(_)
        ));
        assert_eq!(code_of("Forbidden: bot was blocked by the user"), 403);
        assert_eq!(code_of("Internal Server Error"), 500);
        let channel: ChannelError = ApiError::RetryAfter(Duration::from_secs(7)).into();
        assert_eq!(channel, ChannelError::RetryAfter(Duration::from_secs(7)));
        let channel: ChannelError = ApiError::Unauthorized.into();
        assert!(matches!(channel, ChannelError::Permanent(_)));
    }
}
