//! A sink that connects on first use, so the server starts (and keeps
//! accepting complaints into the outbox) while a sink's server is down.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

use super::sink::{OutboundEvent, Sink, SinkError};

type Connect = Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn Sink>, SinkError>> + Send + Sync>;

/// Wraps a sink constructor; connects on first delivery or readiness check,
/// and retries the connection on the next call when it fails.
pub struct LazySink {
    name: String,
    connect: Connect,
    inner: OnceCell<Arc<dyn Sink>>,
}

impl LazySink {
    /// A sink named `name` built by `connect` when first needed.
    pub fn new(name: String, connect: Connect) -> Self {
        Self {
            name,
            connect,
            inner: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&Arc<dyn Sink>, SinkError> {
        self.inner.get_or_try_init(|| (self.connect)()).await
    }
}

impl Sink for LazySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, event: &'a OutboundEvent) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move { self.get().await?.deliver(event).await })
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            match self.get().await {
                Ok(s) => s.ready().await,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "sink not reachable");
                    false
                }
            }
        })
    }
}
