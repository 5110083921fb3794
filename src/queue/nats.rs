//! The NATS JetStream sink.
//!
//! Subject: `<prefix>.<agency or _unrouted>.<event type>`; header
//! `Nats-Msg-Id` = event id, so JetStream drops repeats inside its
//! duplicate window. The stream is created when missing, at start and
//! whenever a publish finds it gone.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::future::BoxFuture;

use super::sink::{OutboundEvent, Sink, SinkError};

/// How long to wait for the server's publish acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes events to a JetStream stream.
pub struct NatsSink {
    name: String,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    prefix: String,
}

/// A subject token: characters NATS gives meaning to become `_`.
pub fn subject_token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if t.is_empty() { "_".into() } else { t }
}

impl NatsSink {
    /// Connects and makes sure the stream exists.
    ///
    /// # Errors
    /// [`SinkError::Transient`] when the server cannot be reached or the
    /// stream cannot be created.
    pub async fn connect(
        name: String,
        url: &str,
        stream: &str,
        subject_prefix: &str,
        credentials: Option<&str>,
    ) -> Result<Self, SinkError> {
        let mut opts = async_nats::ConnectOptions::new()
            .name("salur")
            .connection_timeout(Duration::from_secs(5));
        // `credentials` is `user:password`, or else a token.
        match credentials.map(|c| c.split_once(':')) {
            Some(Some((user, pass))) => {
                opts = opts.user_and_password(user.to_owned(), pass.to_owned())
            }
            Some(None) => opts = opts.token(credentials.unwrap_or_default().to_owned()),
            None => {}
        }
        let client = opts
            .connect(url)
            .await
            .map_err(|e| SinkError::Transient(format!("connecting to NATS: {e}")))?;
        let js = jetstream::new(client.clone());
        let sink = Self {
            name,
            client,
            js,
            stream: stream.to_owned(),
            prefix: subject_prefix.to_owned(),
        };
        sink.ensure_stream().await?;
        Ok(sink)
    }

    async fn ensure_stream(&self) -> Result<(), SinkError> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![format!("{}.>", self.prefix)],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| SinkError::Transient(format!("creating stream {}: {e}", self.stream)))
    }

    /// The subject an event is published on. The event type is one of ours
    /// (`complaint.created`, …) and keeps its dot, as the contract says.
    pub fn subject(&self, event: &OutboundEvent) -> String {
        format!(
            "{}.{}.{}",
            self.prefix,
            event
                .agency
                .as_deref()
                .map_or_else(|| "_unrouted".to_owned(), subject_token),
            event.event_type
        )
    }

    async fn publish(&self, subject: &str, event: &OutboundEvent) -> Result<(), String> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.as_str());
        headers.insert("Content-Type", "application/json");
        let ack = self
            .js
            .publish_with_headers(subject.to_owned(), headers, event.body.clone())
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(ACK_TIMEOUT, ack).await {
            Ok(Ok(ack)) => {
                if ack.duplicate {
                    tracing::debug!(event = %event.id, "JetStream already had this event");
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no publish acknowledgement in time".into()),
        }
    }
}

impl Sink for NatsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, event: &'a OutboundEvent) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let subject = self.subject(event);
            match self.publish(&subject, event).await {
                Ok(()) => Ok(()),
                Err(first) => {
                    // The stream may have been deleted: recreate it and try once more.
                    tracing::info!(sink = %self.name, %subject, error = %first, "publish failed; ensuring the stream");
                    self.ensure_stream().await?;
                    self.publish(&subject, event)
                        .await
                        .map_err(|e| SinkError::Transient(format!("publishing to {subject}: {e}")))
                }
            }
        })
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            matches!(
                self.client.connection_state(),
                async_nats::connection::State::Connected
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_sanitised() {
        assert_eq!(subject_token("dinas-pupr"), "dinas-pupr");
        assert_eq!(subject_token("a.b*c>d e"), "a_b_c_d_e");
        assert_eq!(subject_token(""), "_");
    }
}
