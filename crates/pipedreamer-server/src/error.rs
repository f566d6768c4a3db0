//! The API's error: a status and a JSON body `{"error", "hint"}`, built from store errors,
//! request rejections and validation problems.
//!
//! Database failures are logged with their detail and answered with a generic message: the
//! detail may name tables or hosts, which a client has no use for.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pipedreamer_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, e.g. "name: must be a DNS-1123 label".
    pub error: String,
    /// How to fix it, when there is a fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

/// `Result` of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                hint: None,
            },
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.body.hint = Some(hint.into());
        self
    }

    /// 400.
    pub fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    /// 422: the body is JSON of the right shape but a field's value is refused.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: {problem}"),
        )
    }

    /// 404.
    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    /// 409.
    pub fn conflict(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, error)
    }

    /// 500 for a failure whose detail only the server log gets.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context} failed"),
        )
        .hint("the server log has the details")
    }

    /// Splits a library error whose message carries `\nhint: …` lines into error and hint.
    pub fn from_message(status: StatusCode, message: &str) -> ApiError {
        match message.split_once("\nhint: ") {
            Some((error, hint)) => ApiError::new(status, error).hint(hint),
            None => ApiError::new(status, message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        let hint = err.hint().map(str::to_owned);
        let mut api = match &err {
            StoreError::NotFound { .. } => ApiError::not_found(err.to_string()),
            StoreError::Conflict { .. } => ApiError::conflict(err.to_string()),
            StoreError::Invalid { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, err.to_string())
            }
            StoreError::Database(sqlx_err) if is_unavailable(sqlx_err) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable",
                )
                .hint("retry shortly; `/readyz` reports when the database answers again")
            }
            _ => return ApiError::internal("a database operation", &err),
        };
        if let Some(h) = hint {
            api.body.hint = Some(h);
        }
        api
    }
}

fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
