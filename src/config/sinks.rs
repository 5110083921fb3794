//! `[[sinks]]`: where complaint events go besides the built-in review queue.

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::secret::SecretRef;

/// One extra destination for complaint events, chosen by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    /// A NATS JetStream stream.
    Nats(NatsSink),
    /// An HTTP endpoint, signed with the Standard Webhooks scheme.
    Webhook(WebhookSink),
}

/// The `kind` values [`SinkConfig`] accepts.
pub(crate) const SINK_KINDS: &[&str] = &["nats", "webhook"];

impl SinkConfig {
    /// The `kind` as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Nats(_) => "nats",
            Self::Webhook(_) => "webhook",
        }
    }

    /// Deserializes the fields of a sink whose `kind` is `kind` (the `kind`
    /// key itself removed). `None` for an unknown kind.
    pub(crate) fn from_kind(
        kind: &str,
        fields: &figment::value::Value,
    ) -> Option<Result<Self, Box<figment::Error>>> {
        match kind {
            "nats" => Some(fields.deserialize().map(Self::Nats).map_err(Box::new)),
            "webhook" => Some(fields.deserialize().map(Self::Webhook).map_err(Box::new)),
            _ => None,
        }
    }

    /// The operator's label for this sink, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Nats(_) => None,
            Self::Webhook(w) => w.name.as_deref(),
        }
    }

    /// The sink's secret: NATS credentials or the webhook signing secret.
    pub fn secret_ref(&self) -> Option<&SecretRef> {
        match self {
            Self::Nats(n) => n.credentials.as_ref(),
            Self::Webhook(w) => Some(&w.secret),
        }
    }
}

/// `kind = "nats"`: publish to NATS JetStream, with the event id as
/// `Nats-Msg-Id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSink {
    /// Server URL, `nats://host:4222` or `tls://host:4222`.
    pub url: String,
    /// JetStream stream that holds the subjects.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Subjects are `<subject_prefix>.<agency or _unrouted>.<event type>`.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// Authentication when the server requires it: `user:password`, or a token.
    #[serde(default)]
    pub credentials: Option<SecretRef>,
}

fn default_stream() -> String {
    "SALUR".to_owned()
}

fn default_subject_prefix() -> String {
    "salur.complaints".to_owned()
}

/// `kind = "webhook"`: POST each event to an HTTP endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSink {
    /// A label for logs and metrics.
    #[serde(default)]
    pub name: Option<String>,
    /// The endpoint, `http://` or `https://`.
    pub url: String,
    /// The Standard Webhooks signing secret shared with the receiver.
    pub secret: SecretRef,
    /// Time allowed for the receiver to answer.
    #[serde(
        default = "default_webhook_timeout",
        deserialize_with = "duration::one"
    )]
    pub timeout: Duration,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}
