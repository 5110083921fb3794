//! Replies through the Vonage (formerly Nexmo) SMS API.
//!
//! `POST {api}/sms/json`, a form with `api_key`, `api_secret`, `from`, `to`
//! (international digits without `+`), `text`, and `type=unicode` when the
//! text is not GSM-7. Vonage answers 200 whatever happened, with
//! `{"message-count","messages":[{"status","message-id","error-text",…}]}`,
//! one entry per part of a long text; status `"0"` is success and any other
//! value is an error from Vonage's table. The receipt is the first part's
//! `message-id`; one refused part makes the whole reply fail.

use reqwest::Url;
use salur_channels_core::{
    BoxFuture, ChannelError, OutboundReply, ReplySender, Result, SentReceipt,
};
use serde::Deserialize;

use super::outcome::{Answer, Failure, code, receipt};
use super::{endpoint, recipient};
use crate::gsm::is_gsm7;

/// Vonage's public SMS API.
pub const DEFAULT_API_URL: &str = "https://rest.nexmo.com";

/// Sends replies through one Vonage account.
pub struct VonageSender {
    client: reqwest::Client,
    url: Url,
    api_key: String,
    api_secret: String,
    from: String,
}

impl VonageSender {
    /// A sender for the account `api_key`/`api_secret`, sending from `from`
    /// (a Vonage virtual number in international digits, or an alphanumeric
    /// sender id). `api_url` is the API's base URL, [`DEFAULT_API_URL`] when
    /// `None`.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`] when `api_url` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        api_url: Option<&str>,
        api_key: String,
        api_secret: String,
        from: String,
    ) -> Result<Self> {
        let url = endpoint(api_url, DEFAULT_API_URL, &["sms", "json"], "api_url")?;
        Ok(Self {
            client,
            url,
            api_key,
            api_secret,
            from,
        })
    }

    async fn deliver(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let to = recipient(reply)?;
        let failure = Failure::new("Vonage", &[&self.api_secret, &self.api_key, to]);
        let mut form = vec![
            ("api_key", self.api_key.as_str()),
            ("api_secret", self.api_secret.as_str()),
            ("from", self.from.as_str()),
            ("to", to.trim_start_matches('+')),
            ("text", reply.text.as_str()),
        ];
        if !is_gsm7(&reply.text) {
            form.push(("type", "unicode"));
        }
        let request = self.client.post(self.url.clone()).form(&form);
        let answer = Answer::fetch(request, &failure).await?;
        if !answer.is_success() {
            return Err(failure.status(&answer, &answer.text()));
        }
        // Vonage reports everything with a 200: only the body says whether
        // the message was taken.
        let Some(sent) = answer.json::<Sent>().filter(|s| !s.messages.is_empty()) else {
            return Err(failure.transient("answer without message statuses", None));
        };
        match sent.messages.iter().find(|m| m.status() != "0") {
            None => Ok(receipt(sent.messages[0].message_id.clone())),
            Some(refused) => Err(refusal(refused, &answer, &failure)),
        }
    }
}

impl ReplySender for VonageSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.deliver(reply))
    }
}

/// Vonage's answer to a send.
#[derive(Deserialize)]
struct Sent {
    #[serde(default)]
    messages: Vec<Message>,
}

/// One part's outcome.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    status: serde_json::Value,
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

impl Message {
    fn status(&self) -> String {
        code(&self.status).unwrap_or_default()
    }
}

/// The error for a part Vonage did not take.
fn refusal(message: &Message, answer: &Answer, failure: &Failure<'_>) -> ChannelError {
    let status = message.status();
    let (meaning, retry) = meaning(&status);
    let what = format!(
        "status {status}, {meaning}: {}",
        message.error_text.as_deref().unwrap_or_default()
    );
    if retry {
        failure.transient(&what, answer.retry_after.as_deref())
    } else {
        failure.permanent(&what)
    }
}

/// What a Vonage SMS API status means, and whether a retry may succeed.
fn meaning(status: &str) -> (&'static str, bool) {
    match status {
        "1" => ("throttled", true),
        "2" => ("missing parameters", false),
        "3" => ("invalid parameters", false),
        "4" => ("invalid credentials", false),
        "5" => ("internal error", true),
        "6" => ("invalid message (unrecognised number prefix)", false),
        "7" => ("number barred", false),
        "8" => ("account barred", false),
        // The operator can top up; the retries then go through.
        "9" => ("insufficient credit", true),
        "10" => ("too many existing binds", true),
        "11" => ("account not enabled for HTTP", false),
        "12" => ("message too long", false),
        "14" => ("invalid signature", false),
        "15" => ("invalid sender address", false),
        "22" => ("invalid network code", false),
        "23" => ("invalid callback URL", false),
        "29" => ("non-whitelisted destination", false),
        "32" => ("signature and API secret disallowed", false),
        "33" => ("number de-activated", false),
        _ => ("refused", false),
    }
}
