//! API errors: a status code and a one-line JSON message. Bad input, no sign-in (401) and
//! acting for another user (403) are 4xx; a cluster that does not answer is a 503; nothing else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or breaks a rule (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid sign-in (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but acting for someone else (403).
    #[error("{0}")]
    Forbidden(String),
    /// The room does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The Kafka cluster did not answer (503).
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}
