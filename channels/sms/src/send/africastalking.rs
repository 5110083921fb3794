//! Replies through Africa's Talking's SMS API.
//!
//! `POST {api}/version1/messaging`, a form with `username`, `to`, `message`
//! and an optional `from` (short code or sender id), with the headers
//! `apiKey` and `Accept: application/json`. The answer (201) is
//! `{"SMSMessageData":{"Message","Recipients":[{"statusCode","number",
//! "status","messageId","cost"}]}}`: status codes 100, 101 and 102 mean the
//! message was taken, the others come from Africa's Talking's table.

use reqwest::Url;
use salur_channels_core::{
    BoxFuture, ChannelError, OutboundReply, ReplySender, Result, SentReceipt,
};
use serde::Deserialize;

use super::outcome::{Answer, Failure, code, receipt};
use super::{endpoint, recipient};

/// Africa's Talking's live API.
pub const DEFAULT_API_URL: &str = "https://api.africastalking.com";
/// Africa's Talking's sandbox, for an app whose username is `sandbox`.
pub const SANDBOX_API_URL: &str = "https://api.sandbox.africastalking.com";

/// Sends replies through one Africa's Talking app.
pub struct AfricasTalkingSender {
    client: reqwest::Client,
    url: Url,
    username: String,
    api_key: String,
    from: Option<String>,
}

impl AfricasTalkingSender {
    /// A sender for the app `username` with its `api_key`, sending from the
    /// short code or alphanumeric sender id `from` (the account default when
    /// `None`). `api_url` is the API's base URL, [`DEFAULT_API_URL`] when
    /// `None` ([`SANDBOX_API_URL`] for the sandbox).
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`] when `api_url` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        api_url: Option<&str>,
        username: String,
        api_key: String,
        from: Option<String>,
    ) -> Result<Self> {
        let url = endpoint(
            api_url,
            DEFAULT_API_URL,
            &["version1", "messaging"],
            "api_url",
        )?;
        Ok(Self {
            client,
            url,
            username,
            api_key,
            from,
        })
    }

    async fn deliver(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let to = recipient(reply)?;
        let failure = Failure::new("Africa's Talking", &[&self.api_key, to]);
        let mut form = vec![
            ("username", self.username.as_str()),
            ("to", to),
            ("message", reply.text.as_str()),
        ];
        if let Some(from) = &self.from {
            form.push(("from", from.as_str()));
        }
        let request = self
            .client
            .post(self.url.clone())
            .header("apiKey", &self.api_key)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        let answer = Answer::fetch(request, &failure).await?;
        if !answer.is_success() {
            return Err(failure.status(&answer, &answer.text()));
        }
        let Some(data) = answer.json::<Answered>().map(|a| a.data) else {
            return Err(failure.transient("answer without SMSMessageData", None));
        };
        let Some(recipient) = data.recipients.first() else {
            // Nothing was queued; `Message` names the reason.
            let summary = data.message.unwrap_or_default();
            let retry = refusal_is_transient(&summary);
            return Err(refused(&summary, retry, &answer, &failure));
        };
        let status = code(&recipient.status_code).unwrap_or_default();
        match status.as_str() {
            "100" | "101" | "102" => Ok(receipt(recipient.message_id.clone())),
            _ => {
                let name = recipient.status.as_deref().unwrap_or_default();
                let what = format!("status {status} {name}");
                let retry = status_is_transient(&status) || refusal_is_transient(name);
                Err(refused(&what, retry, &answer, &failure))
            }
        }
    }
}

impl ReplySender for AfricasTalkingSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.deliver(reply))
    }
}

/// The answer's envelope.
#[derive(Deserialize)]
struct Answered {
    #[serde(rename = "SMSMessageData")]
    data: MessageData,
}

/// The outcome of the request.
#[derive(Deserialize)]
struct MessageData {
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Recipients", default)]
    recipients: Vec<Recipient>,
}

/// The outcome for one recipient.
#[derive(Deserialize)]
struct Recipient {
    #[serde(rename = "statusCode", default)]
    status_code: serde_json::Value,
    status: Option<String>,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
}

fn refused(what: &str, retry: bool, answer: &Answer, failure: &Failure<'_>) -> ChannelError {
    if retry {
        failure.transient(what, answer.retry_after.as_deref())
    } else {
        failure.permanent(what)
    }
}

/// Status codes a retry may cure: an empty balance (the operator tops up)
/// and the gateway errors. 401 RiskHold, 402 InvalidSenderId,
/// 403 InvalidPhoneNumber, 404 UnsupportedNumberType, 406 UserInBlacklist,
/// 407 CouldNotRoute and 409 DoNotDisturbRejection will repeat.
fn status_is_transient(status: &str) -> bool {
    matches!(status, "405" | "500" | "501" | "502")
}

/// The same, for the status names found in `status` and `Message`.
fn refusal_is_transient(text: &str) -> bool {
    [
        "InsufficientBalance",
        "InternalServerError",
        "GatewayError",
        "RejectedByGateway",
    ]
    .iter()
    .any(|name| text.contains(name))
}
