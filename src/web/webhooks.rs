//! Provider webhooks: `/webhooks/<kind>/{name}`.
//!
//! The body is read raw, the adapter checks its signature, parses it, and
//! every message is committed before the answer: a 2xx means stored.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest as _, Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use salur_channels_core::{ChannelError, ChannelKind, IntakeReceipt, PushRequest};

use super::error::{ApiError, body_error};
use crate::app::App;

/// `GET`/`POST /webhooks/sms/{name}`.
pub async fn sms(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    push(app, ChannelKind::Sms, name, request).await
}

/// The request is taken whole and read once: what the adapter needs is
/// copied out of it before the body is collected, instead of each piece
/// being cloned by its own extractor.
async fn push(
    app: Arc<App>,
    kind: ChannelKind,
    name: String,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let Some(channel) = app.channels.get(kind, &name).cloned() else {
        return Err(ApiError::NotFound(format!(
            "no {kind} channel named `{name}`"
        )));
    };
    let Some(adapter) = channel.push.clone() else {
        return Err(ApiError::NotFound(format!(
            "channel `{name}` takes no webhook"
        )));
    };
    let uri = request.uri();
    let headers = request.headers();
    let method = request.method().to_string();
    let url = app.public_url_for(uri, headers);
    let query = uri.query().map(str::to_owned);
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = Bytes::from_request(request, &()).await.map_err(|e| {
        app.metrics.intake(&name, "invalid");
        body_error(e, app.body_limit)
    })?;
    let request = PushRequest {
        method,
        url,
        query,
        headers,
        body,
    };
    let verified = adapter.verify(request).map_err(|e| {
        app.metrics.intake(&name, "unauthorized");
        tracing::info!(channel = %name, error = %e, "webhook refused");
        ApiError::Unauthorized(e.to_string())
    })?;
    let messages = adapter.parse(&verified).map_err(|e| {
        app.metrics.intake(&name, "invalid");
        match e {
            ChannelError::Malformed(_) => ApiError::BadRequest(e.to_string()),
            _ => ApiError::Unprocessable(e.to_string()),
        }
    })?;
    let mut receipts = Vec::with_capacity(messages.len());
    for message in messages {
        let outcome = app.ingest(message).await.inspect_err(|_| {
            app.metrics.intake(&name, "error");
            app.metrics.failure("intake");
        })?;
        receipts.push(IntakeReceipt {
            message_id: outcome.message_id,
            complaint_id: outcome.complaint_id,
            tracking_code: outcome.tracking_code,
            replay: outcome.replay,
        });
    }
    let answer = adapter.answer(&receipts);
    app.metrics
        .intake_seconds
        .observe(started.elapsed().as_secs_f64());
    let status =
        axum::http::StatusCode::from_u16(answer.status).unwrap_or(axum::http::StatusCode::OK);
    Ok((
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response())
}
