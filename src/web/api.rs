//! `/api/v1`: the JSON API, with bearer tokens from `api.tokens`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use salur_channels_core::{ChannelKind, InboundMessage, Location, Reporter};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::error::{ApiError, body_error};
use crate::app::App;
use crate::domain::{ComplaintId, MessageId, TrackingCode};
use crate::intake::{Extra, Prepared};
use crate::queue::outbox::load_complaint;
use crate::record::{Classification, Complaint, EventType, Status};
use crate::store::{
    ComplaintFilter, ComplaintRow, DeliveryRow, InboundView, Op, Result as StoreResult, Tx,
};

/// Default and largest page sizes.
const PAGE_DEFAULT: i64 = 50;
const PAGE_MAX: i64 = 200;
/// Channel instance name for complaints created through the API.
const API_CHANNEL: &str = "api";

/// Proof that the request carried a valid bearer token.
pub struct Authenticated;

impl FromRequestParts<Arc<App>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let tokens = app.settings.api_tokens();
        if tokens.is_empty() {
            return Err(ApiError::Unauthorized(
                "the API is disabled: no tokens in `api.tokens`".into(),
            ));
        }
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("missing `Authorization: Bearer <token>`".into())
            })?;
        // Compare against every token so timing does not reveal which matched.
        let mut ok = subtle::Choice::from(0);
        for t in tokens {
            let t = t.expose_secret().as_bytes();
            if t.len() == given.len() {
                ok |= t.ct_eq(given.as_bytes());
            }
        }
        if bool::from(ok) {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized("invalid token".into()))
        }
    }
}

/// A page of items.
#[derive(Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/complaints`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    agency: Option<String>,
    channel: Option<String>,
    tracking_code: Option<String>,
    since: Option<DateTime<Utc>>,
    cursor: Option<String>,
    limit: Option<i64>,
}

struct ListComplaints(ComplaintFilter);

impl Op for ListComplaints {
    type Output = Vec<Complaint>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<Complaint>> {
        let rows = c.list_complaints(&self.0).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let attachments = c.attachments(&row.id).await?;
            out.push(row.into_record(attachments));
        }
        Ok(out)
    }
}

fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest(format!(
            "`limit` must be 1 to {PAGE_MAX}"
        ))),
    }
}

/// `GET /api/v1/complaints`: newest first, filtered, cursor-paginated.
pub async fn list_complaints(
    _: Authenticated,
    State(app): State<Arc<App>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<Complaint>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &q.status
        && Status::parse(s).is_none()
    {
        return Err(ApiError::BadRequest(format!("unknown status `{s}`")));
    }
    if let Some(cursor) = &q.cursor {
        ComplaintId::parse(cursor).map_err(|_| ApiError::BadRequest("invalid `cursor`".into()))?;
    }
    let tracking_code = match &q.tracking_code {
        Some(t) => Some(
            TrackingCode::parse(t)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    let limit = page_limit(q.limit)?;
    let items = app
        .store
        .read(ListComplaints(ComplaintFilter {
            status: q.status,
            agency: q.agency,
            channel_name: q.channel,
            tracking_code,
            since: q.since,
            before_id: q.cursor,
            limit,
        }))
        .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

struct GetComplaint(String);

impl Op for GetComplaint {
    type Output = Option<Complaint>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Option<Complaint>> {
        let id = if self.0.starts_with("cmp_") {
            self.0.clone()
        } else {
            match c.complaint_by_tracking_code(&self.0).await? {
                Some(row) => row.id,
                None => return Ok(None),
            }
        };
        load_complaint(c, &id).await
    }
}

/// The complaint row for a `cmp_…` id or a tracking code.
async fn complaint_row<C: Tx>(c: &mut C, key: &str) -> StoreResult<Option<ComplaintRow>> {
    if key.starts_with("cmp_") {
        c.complaint(key).await
    } else {
        c.complaint_by_tracking_code(key).await
    }
}

/// A complaint's `cmp_…` id or tracking code, checked.
fn complaint_key(id: &str) -> Result<String, ApiError> {
    if id.starts_with("cmp_") {
        Ok(ComplaintId::parse(id)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
            .to_string())
    } else {
        Ok(TrackingCode::parse(id)
            .map_err(|_| ApiError::NotFound(format!("no complaint `{id}`")))?
            .to_string())
    }
}

/// `GET /api/v1/complaints/{id}`: by `cmp_…` id or by tracking code.
pub async fn get_complaint(
    _: Authenticated,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Complaint>, ApiError> {
    let key = complaint_key(&id)?;
    app.store
        .read(GetComplaint(key))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no complaint `{id}`")))
}

/// Body of `POST /api/v1/complaints`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateComplaint {
    /// The complaint text (required).
    text: String,
    /// A title instead of the derived one.
    title: Option<String>,
    /// `manual` (default) or `web`.
    channel: Option<String>,
    /// The caller's id for this complaint: repeating it creates nothing new.
    external_id: Option<String>,
    /// Who reported it.
    #[serde(default)]
    reporter: NewReporter,
    #[serde(default)]
    anonymous: bool,
    #[serde(default)]
    confidential: bool,
    location: Option<Location>,
    occurred_at: Option<DateTime<Utc>>,
    received_at: Option<DateTime<Utc>>,
    classification: Option<Classification>,
    category: Option<String>,
    agency: Option<String>,
}

/// The reporter of a created complaint.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewReporter {
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// `POST /api/v1/complaints`: manual and other-system intake. Idempotent on
/// `external_id` or the `Idempotency-Key` header.
pub async fn create_complaint(
    _: Authenticated,
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| body_error(e, app.body_limit))?;
    let req: CreateComplaint = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Unprocessable(format!("invalid complaint: {e}")))?;
    if req.text.trim().is_empty() {
        return Err(ApiError::Unprocessable("`text` must not be empty".into()));
    }
    let channel = match req.channel.as_deref() {
        None | Some("manual") => ChannelKind::Manual,
        Some("web") => ChannelKind::Web,
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "`channel` must be `manual` or `web`, not `{other}`"
            )));
        }
    };
    if let Some(l) = &req.location {
        Location::new(l.lat, l.lon, None).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(req.external_id.clone())
        .filter(|k| !k.trim().is_empty());
    if key.as_ref().is_some_and(|k| k.len() > 200) {
        return Err(ApiError::Unprocessable(
            "idempotency key longer than 200 bytes".into(),
        ));
    }
    let key = key.unwrap_or_else(|| ulid::Ulid::new().to_string());
    let handle = match (&req.reporter.phone, &req.reporter.email) {
        (Some(p), _) => format!("{}:{}", channel.as_str(), p.trim()),
        (None, Some(e)) => format!("{}:{}", channel.as_str(), e.trim().to_lowercase()),
        (None, None) => format!("{}:anonymous-{key}", channel.as_str()),
    };
    let reporter = Reporter {
        handle,
        name: req.reporter.name.clone(),
        phone: req.reporter.phone.clone(),
        email: req.reporter.email.clone(),
    };
    let message = InboundMessage {
        text: req.text.clone(),
        location: req.location.clone(),
        ..InboundMessage::new(
            channel,
            API_CHANNEL.into(),
            key,
            reporter,
            req.received_at.unwrap_or_else(Utc::now),
            body.clone(),
            "application/json".into(),
        )
    };
    let mut prepared = Prepared::new(message, false, &app.intake.default_region);
    if req.reporter.phone.is_some() && prepared.phone.is_none() {
        return Err(ApiError::Unprocessable(
            "`reporter.phone` is not a valid phone number".into(),
        ));
    }
    if req.reporter.email.is_some() && prepared.email.is_none() {
        return Err(ApiError::Unprocessable(
            "`reporter.email` is not a valid email address".into(),
        ));
    }
    if let Some(p) = &prepared.phone {
        prepared.handle = format!("{}:{}", channel.as_str(), p.as_str());
    }
    prepared.anonymous = req.anonymous;
    prepared.confidential = req.confidential;
    prepared.extra = Extra {
        title: req.title,
        classification: req.classification,
        category: req.category,
        agency: req.agency,
        occurred_at: req.occurred_at,
    };
    let outcome = app.ingest_prepared(prepared).await?;
    let id = outcome.complaint_id.ok_or(ApiError::Internal)?;
    let complaint = app
        .store
        .read(GetComplaint(id))
        .await?
        .ok_or(ApiError::Internal)?;
    let status = if outcome.replay {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(complaint)).into_response())
}

/// Body of `PATCH /api/v1/complaints/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateComplaint {
    /// The new status.
    status: Status,
}

/// Sets a complaint's status, publishes `complaint.status_changed` and
/// queues the citizen's notice, in one transaction. Returns the record and
/// whether the status changed; `None` when there is no such complaint.
struct ChangeStatus {
    key: String,
    status: Status,
    settings: Arc<crate::intake::IntakeSettings>,
}

impl Op for ChangeStatus {
    type Output = Option<(Complaint, bool)>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Option<(Complaint, bool)>> {
        let Some(row) = complaint_row(c, &self.key).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let status = self.status.as_str();
        if !c.set_complaint_status(&row.id, status, now).await? {
            return Ok(load_complaint(c, &row.id).await?.map(|r| (r, false)));
        }
        if row.sealed_at.is_some() {
            crate::queue::outbox::emit(
                c,
                &row.id,
                EventType::StatusChanged,
                now,
                &self.settings.sinks,
            )
            .await?;
        }
        let to = crate::replies::Recipient {
            channel_name: &row.channel_name,
            handle: &row.reporter.handle,
            complaint_id: &row.id,
        };
        crate::replies::status_notice(
            c,
            &self.settings.replies,
            to,
            &row.tracking_code,
            status,
            now,
        )
        .await?;
        Ok(load_complaint(c, &row.id).await?.map(|r| (r, true)))
    }
}

/// `PATCH /api/v1/complaints/{id}`: an admin's status change, by `cmp_…` id
/// or tracking code. The citizen is told through their channel.
pub async fn update_complaint(
    _: Authenticated,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Json(req): Json<UpdateComplaint>,
) -> Result<Json<Complaint>, ApiError> {
    let key = complaint_key(&id)?;
    let (complaint, changed) = app
        .store
        .write(ChangeStatus {
            key,
            status: req.status,
            settings: app.intake.clone(),
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no complaint `{id}`")))?;
    if changed {
        app.dispatch_wake.notify_one();
        app.reply_wake.notify_one();
    }
    Ok(Json(complaint))
}

/// Query of `GET /api/v1/deliveries`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    state: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

struct ListDeliveries(DeliveryQuery, i64);

impl Op for ListDeliveries {
    type Output = Vec<DeliveryRow>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Vec<DeliveryRow>> {
        c.list_deliveries(self.0.state.as_deref(), self.0.cursor.as_deref(), self.1)
            .await
    }
}

/// `GET /api/v1/deliveries`: outbox deliveries, newest first (`state=dead`
/// shows what `salur replay` would re-send).
pub async fn list_deliveries(
    _: Authenticated,
    State(app): State<Arc<App>>,
    query: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<DeliveryRow>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &q.state
        && !["pending", "delivered", "dead"].contains(&s.as_str())
    {
        return Err(ApiError::BadRequest(
            "`state` must be pending, delivered or dead".into(),
        ));
    }
    let limit = page_limit(q.limit)?;
    let items = app.store.read(ListDeliveries(q, limit)).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

struct GetMessage(String);

impl Op for GetMessage {
    type Output = Option<InboundView>;

    async fn run<C: Tx>(&mut self, c: &mut C) -> StoreResult<Option<InboundView>> {
        c.inbound_view(&self.0).await
    }
}

/// `GET /api/v1/messages/{id}`: an inbound message and the complaint it joined.
pub async fn get_message(
    _: Authenticated,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<InboundView>, ApiError> {
    MessageId::parse(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    app.store
        .read(GetMessage(id.clone()))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no message `{id}`")))
}

/// Queues a missing attachment's download again.
struct RetryAttachment(String);

impl Op for RetryAttachment {
    type Output = bool;

    async fn run<C: Tx>(&mut self, c: &mut C) -> crate::store::Result<bool> {
        c.retry_attachment(&self.0).await
    }
}

/// `POST /api/v1/attachments/{id}/retry`: downloads a `missing` attachment
/// again (after the channel's token or the size limit was fixed, say).
/// 202 when queued, 404 when no attachment by that id is missing.
pub async fn retry_attachment(
    _: Authenticated,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    if app.store.write(RetryAttachment(id.clone())).await? {
        app.media_wake.notify_one();
        Ok(axum::http::StatusCode::ACCEPTED)
    } else {
        Err(ApiError::NotFound(format!("no missing attachment `{id}`")))
    }
}
