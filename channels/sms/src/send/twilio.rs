//! Replies through Twilio's Programmable Messaging REST API.
//!
//! `POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json`, a form with
//! `To`, `From` (or `MessagingServiceSid`) and `Body`, HTTP basic auth with
//! the account SID and auth token. Twilio answers 201 with the Message
//! resource, whose `sid` is the receipt; errors come as
//! `{"code","message","more_info","status"}` with Twilio's own error code.

use reqwest::{StatusCode, Url};
use salur_channels_core::{BoxFuture, OutboundReply, ReplySender, Result, SentReceipt};
use serde::Deserialize;

use super::outcome::{Answer, Failure, receipt};
use super::{endpoint, recipient};

/// Twilio's public API.
pub const DEFAULT_API_URL: &str = "https://api.twilio.com";

/// What the message is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioFrom {
    /// A Twilio phone number (E.164) or an approved alphanumeric sender id.
    Number(String),
    /// A Messaging Service SID (`MG…`): Twilio picks the sender from its pool.
    MessagingService(String),
}

/// Sends replies through one Twilio account.
pub struct TwilioSender {
    client: reqwest::Client,
    url: Url,
    account_sid: String,
    auth_token: String,
    from: TwilioFrom,
}

impl TwilioSender {
    /// A sender for the account `account_sid` (`AC…`), authenticated with
    /// its `auth_token`. `api_url` is Twilio's base URL, [`DEFAULT_API_URL`]
    /// when `None`.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`](salur_channels_core::ChannelError::InvalidField)
    /// when `api_url` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        api_url: Option<&str>,
        account_sid: String,
        auth_token: String,
        from: TwilioFrom,
    ) -> Result<Self> {
        let url = endpoint(
            api_url,
            DEFAULT_API_URL,
            &["2010-04-01", "Accounts", &account_sid, "Messages.json"],
            "api_url",
        )?;
        Ok(Self {
            client,
            url,
            account_sid,
            auth_token,
            from,
        })
    }

    async fn deliver(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let to = recipient(reply)?;
        let failure = Failure::new("Twilio", &[&self.auth_token, &self.account_sid, to]);
        let from = match &self.from {
            TwilioFrom::Number(number) => ("From", number.as_str()),
            TwilioFrom::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let request = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[("To", to), from, ("Body", reply.text.as_str())]);
        let answer = Answer::fetch(request, &failure).await?;
        if answer.is_success() {
            // Accepted: a body we cannot read must not cause a resend.
            let created = answer.json::<Created>();
            return Ok(receipt(created.and_then(|c| c.sid)));
        }
        Err(refusal(&answer, &failure))
    }
}

impl ReplySender for TwilioSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.deliver(reply))
    }
}

/// The part of a created Message resource we keep.
#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

/// Twilio's error body.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
    message: Option<String>,
}

/// Twilio's error code for too many concurrent requests (with HTTP 429).
const TOO_MANY_REQUESTS: u32 = 20429;

/// Turns an error answer into the matching error.
fn refusal(answer: &Answer, failure: &Failure<'_>) -> salur_channels_core::ChannelError {
    let Some(error) = answer.json::<TwilioError>() else {
        return failure.status(answer, &answer.text());
    };
    let code = error.code.unwrap_or_default();
    let message = error.message.unwrap_or_default();
    let detail = match meaning(code) {
        Some(meaning) => format!("error {code}, {meaning}: {message}"),
        None => format!("error {code}: {message}"),
    };
    if answer.status == StatusCode::TOO_MANY_REQUESTS || code == TOO_MANY_REQUESTS {
        return failure.transient(&detail, answer.retry_after.as_deref());
    }
    failure.status(answer, &detail)
}

/// What Twilio's common messaging error codes mean.
fn meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        20003 => "authentication failed",
        20404 => "account or resource not found",
        TOO_MANY_REQUESTS => "too many requests",
        21211 => "invalid To number",
        21408 => "no permission to send to this region",
        21610 => "recipient has unsubscribed (STOP)",
        21612 => "To number cannot be reached from this sender",
        21614 => "To number is not a mobile number",
        21212 | 21606 | 21659 => "invalid From number or sender id",
        21602 => "message body is required",
        21604 => "To number is required",
        21603 => "From number is required",
        _ => return None,
    })
}
