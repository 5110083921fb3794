//! Provider webhooks: `/webhooks/<kind>/{name}`.
//!
//! The body is read raw, the adapter checks its signature, parses it, and
//! every message is committed before the answer: a 2xx means stored.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest as _, Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use salur_channels_core::{ChannelError, ChannelKind, IntakeReceipt, PushRequest};

use super::error::{ApiError, body_error};
use crate::app::App;
use crate::channels::ChannelEntry;
use salur_channel_whatsapp::MetaWebhook;

/// `GET`/`POST /webhooks/sms/{name}`.
pub async fn sms(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = app.body_limit;
    push(app, ChannelKind::Sms, name, request, limit).await
}

/// `POST /webhooks/telegram/{name}`: a bot in webhook mode. The secret
/// header is checked, then the update is stored; a replayed `update_id`
/// is recognised and answered 200 again.
pub async fn telegram(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = app.body_limit;
    push(app, ChannelKind::Telegram, name, request, limit).await
}

/// `POST /webhooks/email/{name}`: one raw RFC 5322 message from a mail
/// server pipe, with `Authorization: Bearer <push_secret>`.
pub async fn email(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = app.settings.config().server.mail_body_limit;
    push(app, ChannelKind::Email, name, request, limit).await
}

/// The request is taken whole and read once: what the adapter needs is
/// copied out of it before the body is collected, instead of each piece
/// being cloned by its own extractor.
async fn push(
    app: Arc<App>,
    kind: ChannelKind,
    name: String,
    request: Request,
    body_limit: usize,
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
        body_error(e, body_limit)
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

/// `GET /webhooks/whatsapp/{name}`: Meta's subscription handshake, for
/// WhatsApp, Messenger and Instagram channels alike. Answers the bare
/// challenge when the verify token matches, 403 otherwise.
pub async fn meta_handshake(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (_, webhook) = meta_channel(&app, &name)?;
    let challenge = webhook
        .handshake(query.as_deref().unwrap_or_default())
        .map_err(|e| {
            tracing::info!(channel = %name, error = %e, "Meta handshake refused");
            ApiError::Forbidden(format!("verification refused: {e}"))
        })?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], challenge).into_response())
}

/// `POST /webhooks/whatsapp/{name}`: Meta's events. The signature is
/// checked over the raw body; then every message of every entry is stored
/// (each commits before the answer) and every delivery status recorded.
/// A WhatsApp event for another configured number goes to that number's
/// instance. 200 means all of it is stored; on any failure Meta retries the
/// whole body, and what was stored already is recognised by its id.
pub async fn meta_events(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (entry, webhook) = meta_channel(&app, &name)?;
    // The instance an event belongs to: the one whose number it names,
    // when that is another configured WhatsApp number.
    let instance = |account: Option<&str>| {
        account
            .filter(|a| entry.account.as_deref() != Some(*a))
            .and_then(|a| app.channels.by_account(a))
            .map_or_else(|| name.clone(), |c| c.name.clone())
    };
    let signature = request
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Bytes::from_request(request, &()).await.map_err(|e| {
        app.metrics.intake(&name, "invalid");
        body_error(e, app.body_limit)
    })?;
    webhook.verify(&body, signature.as_deref()).map_err(|e| {
        app.metrics.intake(&name, "unauthorized");
        tracing::info!(channel = %name, error = %e, "webhook refused");
        ApiError::Unauthorized(e.to_string())
    })?;
    let events = webhook.parse(&body, chrono::Utc::now()).map_err(|e| {
        app.metrics.intake(&name, "invalid");
        ApiError::BadRequest(e.to_string())
    })?;
    for event in events.messages {
        let mut message = event.message;
        message.channel_name = instance(event.account.as_deref());
        let channel = message.channel_name.clone();
        app.ingest(message).await.inspect_err(|_| {
            app.metrics.intake(&channel, "error");
            app.metrics.failure("intake");
        })?;
    }
    let mut by_channel: std::collections::HashMap<String, Vec<_>> = Default::default();
    for status in events.statuses {
        let channel = instance(status.account.as_deref());
        let error = (!status.errors.is_empty()).then(|| {
            status
                .errors
                .iter()
                .map(|(code, title)| format!("{code}: {title}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        by_channel.entry(channel).or_default().push((
            status.provider_message_id,
            status.state.as_str(),
            error,
        ));
    }
    for (channel_name, statuses) in by_channel {
        app.store
            .write(crate::replies::RecordStatuses {
                channel_name,
                statuses,
            })
            .await?;
    }
    app.metrics
        .intake_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok((StatusCode::OK, "OK").into_response())
}

/// The Meta channel `name` and its webhook.
fn meta_channel(app: &App, name: &str) -> Result<(Arc<ChannelEntry>, Arc<MetaWebhook>), ApiError> {
    app.channels
        .meta(name)
        .and_then(|c| Some((c.clone(), c.meta.clone()?)))
        .ok_or_else(|| ApiError::NotFound(format!("no Meta channel named `{name}`")))
}
