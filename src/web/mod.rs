//! The HTTP surface: webhooks, the JSON API, health and metrics.
//!
//! - [`webhooks`]: `/webhooks/<kind>/{name}` for providers.
//! - [`api`]: `/api/v1/…` for admins and other systems.
//! - [`error`]: how failures are answered.

pub mod api;
pub mod error;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use tower_http::timeout::TimeoutLayer;

use crate::app::{App, READY_TIMEOUT};
use crate::store::{Op, OutboxStats, Result as StoreResult, Tx};

/// The full router.
pub fn router(app: Arc<App>) -> Router {
    let c = app.settings.config();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/webhooks/sms/{name}",
            get(webhooks::sms).post(webhooks::sms),
        )
        .route(
            "/webhooks/email/{name}",
            axum::routing::post(webhooks::email)
                .layer(DefaultBodyLimit::max(c.server.mail_body_limit)),
        )
        .route(
            "/webhooks/telegram/{name}",
            axum::routing::post(webhooks::telegram),
        )
        .route(
            "/webhooks/whatsapp/{name}",
            get(webhooks::meta_handshake).post(webhooks::meta_events),
        )
        .route(
            "/api/v1/complaints",
            get(api::list_complaints).post(api::create_complaint),
        )
        .route(
            "/api/v1/complaints/{id}",
            get(api::get_complaint).patch(api::update_complaint),
        )
        .route("/api/v1/messages/{id}", get(api::get_message))
        .route(
            "/api/v1/attachments/{id}/retry",
            axum::routing::post(api::retry_attachment),
        )
        .route("/api/v1/deliveries", get(api::list_deliveries))
        .layer(DefaultBodyLimit::max(c.server.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            c.server.request_timeout,
        ))
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    let database = app.store.ping(READY_TIMEOUT).await;
    let mut sinks = serde_json::Map::new();
    let mut all = database;
    for s in &app.sinks {
        let ok = tokio::time::timeout(READY_TIMEOUT, s.ready())
            .await
            .unwrap_or(false);
        all &= ok;
        sinks.insert(
            s.name().to_owned(),
            json!(if ok { "ok" } else { "unreachable" }),
        );
    }
    let status = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all { "ready" } else { "not_ready" },
        "database": if database { "ok" } else { "unreachable" },
        "sinks": sinks,
    });
    (status, axum::Json(body))
}

struct Stats;

impl Op for Stats {
    type Output = OutboxStats;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<OutboxStats> {
        c.outbox_stats().await
    }
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    match app.store.read(Stats).await {
        Ok(s) => {
            app.metrics.outbox_pending.set(s.pending);
            app.metrics.outbox_dead.set(s.dead);
            let lag = s
                .oldest_pending
                .map_or(0, |t| (chrono::Utc::now() - t).num_seconds().max(0));
            app.metrics.outbox_lag_seconds.set(lag);
        }
        Err(e) => tracing::warn!(error = %e, "outbox stats unavailable for metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
