//! Replies through an Android phone running the SMS Gateway for Android app
//! (capcom6), in cloud or local server mode.
//!
//! `POST {api}/messages` with JSON `{"textMessage":{"text":…},
//! "phoneNumbers":["+62…"]}` and HTTP basic auth. The cloud server's base
//! is `https://api.sms-gate.app/3rdparty/v1`; the app's local server serves
//! the same path at `http://<phone>:8080`. The message is queued for the
//! phone: the answer is 202 with the message state, whose `id` is the
//! receipt. Errors are `{"message": …}` with 400 (invalid request or phone
//! number), 401/403, 409, 500, or 503 when the queue is full or the phone
//! is offline.

use reqwest::Url;
use salur_channels_core::{BoxFuture, OutboundReply, ReplySender, Result, SentReceipt};
use serde::{Deserialize, Serialize};

use super::outcome::{Answer, Failure, receipt};
use super::{endpoint, recipient};

/// The app's public cloud server.
pub const DEFAULT_API_URL: &str = "https://api.sms-gate.app/3rdparty/v1";

/// Sends replies through one SMS Gateway for Android account or phone.
pub struct AndroidSender {
    client: reqwest::Client,
    url: Url,
    username: String,
    password: String,
}

impl AndroidSender {
    /// A sender with the app's `username` and `password` (shown in the app,
    /// for the cloud or the local server). `api_url` is the API's base URL,
    /// [`DEFAULT_API_URL`] when `None`, or `http://<phone>:<port>` for the
    /// local server.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`](salur_channels_core::ChannelError::InvalidField)
    /// when `api_url` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        api_url: Option<&str>,
        username: String,
        password: String,
    ) -> Result<Self> {
        let url = endpoint(api_url, DEFAULT_API_URL, &["messages"], "api_url")?;
        Ok(Self {
            client,
            url,
            username,
            password,
        })
    }

    async fn deliver(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let to = recipient(reply)?;
        let failure = Failure::new("SMS Gateway for Android", &[&self.password, to]);
        let body = Request {
            text_message: TextMessage { text: &reply.text },
            phone_numbers: [to],
        };
        let request = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.username, Some(&self.password))
            .json(&body);
        let answer = Answer::fetch(request, &failure).await?;
        if answer.is_success() {
            // Queued: a body we cannot read must not cause a resend.
            return Ok(receipt(answer.json::<Queued>().and_then(|q| q.id)));
        }
        let detail = answer
            .json::<Refused>()
            .and_then(|r| r.message)
            .unwrap_or_else(|| answer.text());
        Err(failure.status(&answer, &detail))
    }
}

impl ReplySender for AndroidSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.deliver(reply))
    }
}

/// The send request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    text_message: TextMessage<'a>,
    phone_numbers: [&'a str; 1],
}

/// A plain text message.
#[derive(Serialize)]
struct TextMessage<'a> {
    text: &'a str,
}

/// The queued message's state.
#[derive(Deserialize)]
struct Queued {
    id: Option<String>,
}

/// An error answer.
#[derive(Deserialize)]
struct Refused {
    message: Option<String>,
}
