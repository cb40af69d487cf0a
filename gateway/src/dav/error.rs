//! How a CalDAV request fails. Each variant is one kind of answer a client understands; the
//! store's own errors are logged with their details and answered with a generic 500, so no
//! internal message reaches a response body.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::xml::{esc, CALDAV};

/// A failed CalDAV request.
#[derive(Debug, thiserror::Error)]
pub enum DavError {
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (400), with a message for the person reading it.
    #[error("{0}")]
    BadRequest(String),
    /// A precondition of RFC 4918 §16 / RFC 4791 / RFC 6578 failed (403): the XML of the
    /// condition element, answered inside a `DAV:error` body.
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// A write method on this read-only server (403, `need-privileges` on the path).
    #[error("{0} is read-only")]
    ReadOnly(String),
    /// The answer would be larger than a report may make (507 with
    /// `DAV:number-of-matches-within-limits`, as RFC 5323 and RFC 6578 use it).
    #[error("the answer is larger than this server makes for one report; ask for less")]
    TooLarge,
    /// The request's body is over the gateway's limit for this method (413, as the other
    /// routes answer); a PUT's calendar object over its limit is `max-resource-size` instead.
    #[error("{0}")]
    BodyTooLarge(String),
    /// Too many expensive requests are running; try again shortly (503 with Retry-After).
    #[error("the server is busy with other large requests; try again shortly")]
    Busy,
    /// No credentials, or wrong ones, for something that needs them (401 with a Basic
    /// challenge, which is what makes calendar apps ask for the password).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed; or a request this server refuses by design (403).
    #[error("{0}")]
    Forbidden(String),
    /// An `If-Match` / `If-None-Match` condition does not hold (412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request conflicts with the state of the resource (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins (429).
    #[error("{0}")]
    TooMany(String),
    /// The node is busy or shutting down (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something broke inside (500; the cause goes to the log only).
    #[error("internal: {0}")]
    Internal(String),
    /// The method is not one this server answers (405).
    #[error("{0} is not supported here")]
    Method(String),
    /// Reading the store failed (500; the cause goes to the log only).
    #[error("store: {0}")]
    Store(#[from] discal_store::StoreError),
    /// The blocking task answering the request died (500; the cause goes to the log only).
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl DavError {
    /// `<C:supported-filter>` naming the part of a filter this server does not evaluate.
    pub fn unsupported_filter(what: &str) -> Self {
        Self::Precondition(format!(
            "<C:supported-filter><C:{}/></C:supported-filter>",
            esc(what)
        ))
    }

    /// A failed precondition with a message for the person reading the answer, in DisCal's
    /// namespace next to the condition (clients act on the condition, people read the text).
    pub fn condition(condition: &str, message: &str) -> Self {
        Self::Precondition(format!(
            "{condition}<M:message xmlns:M=\"http://discal.org/ns/\">{}</M:message>",
            esc(message)
        ))
    }

    /// `<D:supported-report/>`: a report this server does not run, or not on this resource.
    pub fn unsupported_report() -> Self {
        Self::Precondition("<D:supported-report/>".into())
    }
}

/// Methods answered under `/dav` (writes only in an account's own calendar).
pub(super) const ALLOW: &str = "OPTIONS, GET, HEAD, PROPFIND, REPORT, PUT, DELETE";

impl From<crate::AppError> for DavError {
    fn from(e: crate::AppError) -> Self {
        use crate::AppError as A;
        match e {
            A::BadRequest(m) => Self::BadRequest(m),
            A::TooLarge(m) => Self::BodyTooLarge(m),
            A::NotFound(m) => Self::NotFound(m),
            A::Unauthorized(m) => Self::Unauthorized(m),
            A::Forbidden(m) => Self::Forbidden(m),
            A::TooManyRequests(m) => Self::TooMany(m),
            A::Store(s) => Self::Store(s),
            A::Task(t) => Self::Task(t),
            A::Write(w) => w.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::WriteError> for DavError {
    fn from(e: crate::WriteError) -> Self {
        use crate::WriteError as W;
        match e {
            W::BadRequest(m) => Self::condition("<C:valid-calendar-data/>", &m),
            W::Forbidden(m) => Self::Forbidden(m),
            W::NotFound(m) => Self::NotFound(m),
            W::Unauthorized(m) => Self::Unauthorized(m),
            W::Unavailable(m) => Self::Unavailable(m),
            W::Internal(m) => Self::Internal(m),
            W::PreconditionFailed(m) => Self::PreconditionFailed(m),
        }
    }
}

fn dav_error(status: StatusCode, condition: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\">{condition}</D:error>\n"
        ),
    )
        .into_response()
}

impl IntoResponse for DavError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound(m) => crate::text(StatusCode::NOT_FOUND, m),
            Self::BadRequest(m) => crate::text(StatusCode::BAD_REQUEST, m),
            Self::Precondition(condition) => dav_error(StatusCode::FORBIDDEN, &condition),
            Self::ReadOnly(path) => dav_error(
                StatusCode::FORBIDDEN,
                &format!(
                    "<D:need-privileges><D:resource><D:href>{}</D:href><D:privilege><D:write/></D:privilege></D:resource></D:need-privileges>",
                    esc(&path)
                ),
            ),
            Self::TooLarge => dav_error(
                StatusCode::INSUFFICIENT_STORAGE,
                "<D:number-of-matches-within-limits/>",
            ),
            Self::BodyTooLarge(m) => crate::text(StatusCode::PAYLOAD_TOO_LARGE, m),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "the server is busy with other large requests; try again shortly\n",
            )
                .into_response(),
            Self::Unauthorized(m) => (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"DisCal\", charset=\"UTF-8\"",
                )],
                format!("{m}\n"),
            )
                .into_response(),
            Self::Forbidden(m) => crate::text(StatusCode::FORBIDDEN, m),
            Self::PreconditionFailed(m) => crate::text(StatusCode::PRECONDITION_FAILED, m),
            Self::Conflict(m) => crate::text(StatusCode::CONFLICT, m),
            Self::TooMany(m) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "60")],
                format!("{m}\n"),
            )
                .into_response(),
            Self::Unavailable(m) => crate::text(StatusCode::SERVICE_UNAVAILABLE, m),
            Self::Method(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, ALLOW)],
                format!("{m} is not supported here\n"),
            )
                .into_response(),
            Self::Store(_) | Self::Task(_) | Self::Internal(_) => {
                tracing::error!(error = %self, "CalDAV request failed");
                crate::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the node's log has the details",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_keep_their_details_out_of_the_body() {
        let e = DavError::Store(discal_store::StoreError::Corrupt("secret detail".into()));
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("secret"), "{body}");
        assert!(!body.contains("store"), "{body}");
    }

    #[tokio::test]
    async fn preconditions_are_dav_error_bodies() {
        let r = DavError::unsupported_report().into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("<D:error") && body.contains("<D:supported-report/>"),
            "{body}"
        );
    }
}
