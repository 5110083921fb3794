//! The HTTP error type: a clear message for the caller, internals only in logs.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Errors an HTTP handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong credentials or signature.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but refused (Meta's handshake with a wrong token).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource or channel.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be read.
    #[error("{0}")]
    BadRequest(String),
    /// The request is readable but its content is refused.
    #[error("{0}")]
    Unprocessable(String),
    /// The body is larger than `server.body_limit`.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Storage is unreachable; the caller should retry.
    #[error("storage is unavailable, retry later")]
    Unavailable,
    /// A bug or an unexpected state; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut response = (
            status,
            Json(json!({ "error": { "code": code, "message": self.to_string() } })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        match e {
            StoreError::Sql(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            )
            | StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error {
                    code: rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked,
                    ..
                },
                _,
            ))
            | StoreError::WriterGone => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// Maps a body-read failure to a clear answer.
pub fn body_error(e: axum::extract::rejection::BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(limit)
    } else {
        ApiError::BadRequest(format!(
            "could not read the request body: {}",
            e.body_text()
        ))
    }
}
