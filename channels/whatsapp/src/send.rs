//! Replies to citizens on Meta's channels. WhatsApp: free text inside the
//! 24-hour window, the configured template outside it. Messenger and
//! Instagram: text inside the window only.

use chrono::{TimeDelta, Utc};
use salur_channels_core::{
    BoxFuture, ChannelError, ChannelKind, OutboundReply, ReplySender, Result, SentReceipt,
};

use crate::graph::{GraphApi, Outgoing, SendError};

/// How long after the citizen's last message free text may be sent.
const WINDOW: TimeDelta = TimeDelta::hours(24);
/// Free text is not tried this close to the window's end: it would be
/// refused by the time Meta delivers it.
const WINDOW_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// An approved message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Its name in WhatsApp Manager.
    pub name: String,
    /// Its language code, e.g. `id`.
    pub language: String,
}

/// Sends replies from one WhatsApp number.
pub struct WhatsappSender {
    api: GraphApi,
    phone_number_id: String,
    template: Option<Template>,
}

impl WhatsappSender {
    /// A sender from our number `phone_number_id`. Outside the 24-hour
    /// window it sends `template`, whose body takes one parameter: the
    /// tracking code.
    pub fn new(api: GraphApi, phone_number_id: String, template: Option<Template>) -> Self {
        Self {
            api,
            phone_number_id,
            template,
        }
    }

    async fn send_template(&self, to: &str, reply: &OutboundReply) -> Result<SentReceipt> {
        let Some(t) = &self.template else {
            return Err(ChannelError::Permanent(
                "more than 24 hours since the citizen wrote, and no template is configured".into(),
            ));
        };
        let code = reply.tracking_code.as_deref().unwrap_or_default();
        let params = [code];
        let message = Outgoing::Template {
            name: &t.name,
            language: &t.language,
            params: if code.is_empty() { &[] } else { &params },
        };
        self.deliver(to, &message).await
    }

    async fn deliver(&self, to: &str, message: &Outgoing<'_>) -> Result<SentReceipt> {
        let id = self
            .api
            .send(&self.phone_number_id, to, message)
            .await
            .map_err(to_channel_error)?;
        Ok(SentReceipt {
            provider_message_id: Some(id),
        })
    }
}

fn to_channel_error(e: SendError) -> ChannelError {
    if e.retryable() {
        ChannelError::Transient(e.to_string())
    } else {
        ChannelError::Permanent(e.to_string())
    }
}

impl ReplySender for WhatsappSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(async move {
            let to = reply
                .to
                .strip_prefix("whatsapp:")
                .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ChannelError::Permanent("not a WhatsApp handle (whatsapp:<wa_id>)".into())
                })?;
            let outside = reply.window_closed
                || reply
                    .last_inbound_at
                    .is_some_and(|at| Utc::now() - at > WINDOW - WINDOW_MARGIN);
            if outside {
                return self.send_template(to, reply).await;
            }
            match self
                .api
                .send(&self.phone_number_id, to, &Outgoing::Text(&reply.text))
                .await
            {
                Ok(id) => Ok(SentReceipt {
                    provider_message_id: Some(id),
                }),
                Err(SendError::OutsideWindow) => self.send_template(to, reply).await,
                Err(e) => Err(to_channel_error(e)),
            }
        })
    }
}

/// Sends replies to Messenger or Instagram users through a page. Only
/// within 24 hours of the user's last message: later, Meta allows only
/// tagged messages, which need Meta's approval, so such a reply is refused
/// for good.
pub struct PageSender {
    api: GraphApi,
    kind: ChannelKind,
}

impl PageSender {
    /// A sender for a `messenger` or `instagram` channel.
    pub fn new(api: GraphApi, kind: ChannelKind) -> Self {
        Self { api, kind }
    }
}

impl ReplySender for PageSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(async move {
            let to = reply
                .to
                .strip_prefix(self.kind.as_str())
                .and_then(|rest| rest.strip_prefix(':'))
                .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
                .ok_or_else(|| ChannelError::Permanent(format!("not a {} handle", self.kind)))?;
            if reply
                .last_inbound_at
                .is_some_and(|at| Utc::now() - at > WINDOW - WINDOW_MARGIN)
            {
                return Err(ChannelError::Permanent(format!(
                    "more than 24 hours since the citizen last wrote on {}",
                    self.kind
                )));
            }
            let id = self
                .api
                .send_page(to, &reply.text)
                .await
                .map_err(to_channel_error)?;
            Ok(SentReceipt {
                provider_message_id: Some(id),
            })
        })
    }
}
