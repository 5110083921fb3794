//! What a sink is: somewhere events go, at least once.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

/// One event as a sink receives it.
#[derive(Debug, Clone)]
pub struct OutboundEvent {
    /// `evt_…` id: the idempotency key downstream.
    pub id: String,
    /// `complaint.created`, …
    pub event_type: String,
    /// The complaint's agency, when routed.
    pub agency: Option<String>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The serialized event JSON, sent as is.
    pub body: bytes::Bytes,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// May succeed on a later try.
    #[error("transient: {0}")]
    Transient(String),
    /// Will not succeed; the delivery is dead at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A delivery target.
pub trait Sink: Send + Sync {
    /// The sink's stable name, stored with each delivery.
    fn name(&self) -> &str;
    /// Delivers one event.
    fn deliver<'a>(&'a self, event: &'a OutboundEvent) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Whether the sink can take events now (for `/readyz`).
    fn ready(&self) -> BoxFuture<'_, bool>;
}
