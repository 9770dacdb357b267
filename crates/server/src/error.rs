//! The one error type of the HTTP layer and its JSON shape:
//! `{"error":{"code":"validation","message":"…","field":"rut"}}`. Internal failures are logged
//! with their cause chain and answered with a bare 500 that reveals nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use bodega_domain::ValidationError;
use bodega_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Well-formed input that breaks a rule (422).
    #[error("{message}")]
    Validation { field: Option<String>, message: String },
    /// Input that cannot be read at all: bad JSON, bad query string (400).
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Conflict { field: Option<String>, message: String },
    /// Not enough stock: 409 listing every short line in `details`.
    #[error("insufficient stock for {} line(s)", .0.len())]
    InsufficientStock(Vec<bodega_store::Shortage>),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected a JSON body with content-type application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: validation, bad_request, unauthorized, forbidden,
    /// not_found, conflict, insufficient_stock, rate_limited, payload_too_large, unsupported_media_type,
    /// method_not_allowed, unavailable, internal.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Structured detail, e.g. the short lines of an `insufficient_stock` error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(what.into())
    }

    fn parts(&self) -> (StatusCode, &'static str, Option<String>) {
        match self {
            ApiError::Validation { field, .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation", field.clone()),
            ApiError::BadRequest { field, .. } => (StatusCode::BAD_REQUEST, "bad_request", field.clone()),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict { field, .. } => (StatusCode::CONFLICT, "conflict", field.clone()),
            ApiError::InsufficientStock(_) => (StatusCode::CONFLICT, "insufficient_stock", None),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", None),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        let message = match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "internal error; the request id identifies it in the server log".to_string()
            }
            other => other.to_string(),
        };
        let details = match &self {
            ApiError::InsufficientStock(short) => serde_json::to_value(short).ok(),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::Validation {
            field: Some(err.field),
            message: err.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("record".into()),
            StoreError::Conflict { field } => ApiError::Conflict {
                message: format!("{field} is already in use"),
                field: Some(field),
            },
            StoreError::Rule {
                field: Some(field),
                message,
            } => ApiError::Validation {
                field: Some(field),
                message,
            },
            StoreError::Rule { field: None, message } => ApiError::Conflict { field: None, message },
            StoreError::OutOfRange(message) => ApiError::Validation { field: None, message },
            StoreError::Insufficient(short) => ApiError::InsufficientStock(short),
            StoreError::State(message) => ApiError::Conflict { field: None, message },
            other => ApiError::Internal(anyhow::Error::new(other).context("storage")),
        }
    }
}

/// Maps a store "not found" to a 404 naming the resource.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &str) -> ApiResult<T>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &str) -> ApiResult<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(what),
            other => other.into(),
        })
    }
}
