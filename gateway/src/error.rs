//! How a request outside `/dav` fails. Handlers return `Result<_, AppError>` and use `?`; each
//! variant is one status. The store's and the runtime's errors are logged with their details
//! and answered with a generic 500, so no internal message reaches a response body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::WriteError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A parameter or the body is wrong (400); the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts (429); the message says how long to wait.
    #[error("{0}")]
    TooManyRequests(String),
    /// A body over this route's size limit (413); the message names the limit.
    #[error("{0}")]
    TooLarge(String),
    /// A body of a type this route does not take (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The node refused or failed a write; its own status.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Reading the store failed (500; the cause goes to the log only).
    #[error("store: {0}")]
    Store(#[from] discal_store::StoreError),
    /// A blocking task died (500; the cause goes to the log only).
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Rendering an answer failed (500; the cause goes to the log only).
    #[error("render: {0}")]
    Render(String),
}

impl AppError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Write(e) => e.status(),
            Self::Store(_) | Self::Task(_) | Self::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 500 whose cause goes to the log only.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Render(e.to_string())
    }

    /// A 400 for a bad parameter.
    pub fn bad(e: impl std::fmt::Display) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Store(_) | Self::Task(_) | Self::Render(_) => {
                tracing::error!(error = %self, "request failed");
                crate::text(status, "internal error; the node's log has the details")
            }
            Self::Write(WriteError::Internal(_)) => {
                tracing::error!(error = %self, "write failed");
                crate::text(status, "internal error; the node's log has the details")
            }
            _ => crate::text(status, self.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(e: AppError) -> (StatusCode, String) {
        let r = e.into_response();
        let status = r.status();
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8_lossy(&b).into_owned())
    }

    #[tokio::test]
    async fn internal_errors_keep_their_details_out_of_the_body() {
        let store = AppError::Store(discal_store::StoreError::Corrupt("secret detail".into()));
        let write = AppError::Write(WriteError::Internal("sled: secret detail".into()));
        for e in [store, write] {
            let (status, body) = body_of(e).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                !body.contains("secret") && !body.contains("store"),
                "{body}"
            );
        }
        let (status, body) = body_of(AppError::bad("parameter \"days\": not a number")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, "parameter \"days\": not a number\n");
    }
}
