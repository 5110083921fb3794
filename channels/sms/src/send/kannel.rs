//! Replies through a Kannel smsbox's `sendsms` interface.
//!
//! `GET {sendsms_url}?username=…&password=…&to=…&text=…&charset=UTF-8`, with
//! `coding=2` (UCS-2) when the text is not GSM-7 and the optional `from` and
//! `smsc`. With `charset=UTF-8` Kannel converts the UTF-8 text itself, to
//! GSM for 7-bit and to UTF-16BE for UCS-2. smsbox answers 202 with
//! `0: Accepted for delivery` or `3: Queued for later delivery` (`Sent.` when
//! it replies before bearerbox does), 4xx when the request or the
//! configuration rules the message out (`Authorization failed for sendsms`,
//! `Not routable. Do not try again.`), and 503 `Temporal failure, try again
//! later.` Kannel gives no message id.

use reqwest::Url;
use salur_channels_core::{BoxFuture, OutboundReply, ReplySender, Result, SentReceipt};

use super::outcome::{Answer, Failure, receipt};
use super::{endpoint, recipient};
use crate::gsm::is_gsm7;

/// smsbox's `sendsms` on its default `sendsms-port` on this machine.
pub const DEFAULT_SENDSMS_URL: &str = "http://127.0.0.1:13013/cgi-bin/sendsms";

/// Sends replies through one Kannel `sendsms-user`.
pub struct KannelSender {
    client: reqwest::Client,
    url: Url,
    username: String,
    password: String,
    from: Option<String>,
    smsc: Option<String>,
}

impl KannelSender {
    /// A sender for the `sendsms-user` `username`/`password`. `from` is the
    /// sender number (smsbox's `global-sender` when `None`); `smsc` routes
    /// to one SMSC id (Kannel's routing when `None`). `sendsms_url` is the
    /// full sendsms URL, [`DEFAULT_SENDSMS_URL`] when `None`.
    ///
    /// # Errors
    /// [`ChannelError::InvalidField`](salur_channels_core::ChannelError::InvalidField)
    /// when `sendsms_url` is not an http(s) URL.
    pub fn new(
        client: reqwest::Client,
        sendsms_url: Option<&str>,
        username: String,
        password: String,
        from: Option<String>,
        smsc: Option<String>,
    ) -> Result<Self> {
        let url = endpoint(sendsms_url, DEFAULT_SENDSMS_URL, &[], "sendsms_url")?;
        Ok(Self {
            client,
            url,
            username,
            password,
            from,
            smsc,
        })
    }

    async fn deliver(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let to = recipient(reply)?;
        let failure = Failure::new("Kannel", &[&self.password, to]);
        let mut query = vec![
            ("username", self.username.as_str()),
            ("password", self.password.as_str()),
            ("to", to),
            ("text", reply.text.as_str()),
            ("charset", "UTF-8"),
        ];
        if !is_gsm7(&reply.text) {
            query.push(("coding", "2"));
        }
        if let Some(from) = &self.from {
            query.push(("from", from.as_str()));
        }
        if let Some(smsc) = &self.smsc {
            query.push(("smsc", smsc.as_str()));
        }
        let request = self.client.get(self.url.clone()).query(&query);
        let answer = Answer::fetch(request, &failure).await?;
        if answer.is_success() {
            Ok(receipt(None))
        } else {
            Err(failure.status(&answer, &answer.text()))
        }
    }
}

impl ReplySender for KannelSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.deliver(reply))
    }
}
