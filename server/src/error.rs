//! The API's error type and the extractors that turn every rejection into the same JSON body.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use luot_shared::DomainError;
use luot_shared::protocol::{ErrorBody, ErrorDetail};
use serde::de::DeserializeOwned;

use crate::engine_task::JobError;
use crate::store::StoreError;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No or unknown credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials without the right.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here.
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be read: status, code, message.
    #[error("{2}")]
    Bad(StatusCode, &'static str, String),
    /// Too many attempts; retry after the given seconds.
    #[error("too many attempts; try again in {0} s")]
    TooManyRequests(u64),
    /// Temporarily unable to serve.
    #[error("{0}")]
    Unavailable(String),
    /// Too much is going on right now (e.g. password checks); retry in a second.
    #[error("{0}")]
    Busy(String),
    /// One credential or address has too many requests in flight.
    #[error("too many requests at once from this device or address; wait for the ones in flight")]
    TooManyAtOnce,
    /// The request body did not arrive within the deadline.
    #[error("the request body did not arrive within {0} s")]
    BodyTimeout(u64),
    /// The disk refuses writes (full or failing): nothing was changed or acknowledged, and
    /// the same request succeeds once the store has recovered, which it does on its own.
    #[error(
        "the server cannot write to its disk right now ({0}); nothing was recorded, try again shortly"
    )]
    StorageUnavailable(String),
    /// Something failed inside; the cause is logged, not shown.
    #[error("internal error")]
    Internal,
}

/// Result of handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e {
                DomainError::UnknownService(_)
                | DomainError::UnknownCounter(_)
                | DomainError::UnknownTicket(_) => StatusCode::NOT_FOUND,
                DomainError::Invalid(_) | DomainError::Config(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                DomainError::CounterClosed(_)
                | DomainError::NoCurrentTicket(_)
                | DomainError::Conflict(_)
                | DomainError::TicketChanged(_)
                | DomainError::IssuingClosed(_)
                | DomainError::NumbersExhausted(_)
                | DomainError::AlreadyRated(_)
                | DomainError::RatingWindowClosed(_) => StatusCode::CONFLICT,
                DomainError::NotYourCounter(_)
                | DomainError::StaffCannotRate
                | DomainError::RatingDeviceUnpaired
                | DomainError::WrongRatingDevice(_) => StatusCode::FORBIDDEN,
            },
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Bad(status, _, _) => *status,
            ApiError::TooManyRequests(_) | ApiError::TooManyAtOnce => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy(_) | ApiError::StorageUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(e) => e.code(),
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Bad(_, code, _) => code,
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy(_) => "busy",
            ApiError::TooManyAtOnce => "too_many_at_once",
            ApiError::BodyTimeout(_) => "body_timeout",
            ApiError::StorageUnavailable(_) => "storage_unavailable",
            ApiError::Internal => "internal",
        }
    }

    /// A 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Bad(StatusCode::BAD_REQUEST, code, message.into())
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            ApiError::Domain(DomainError::Config(e)) => Some(e.field.clone()),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status_code(), axum::Json(self.body())).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests(secs) => Some(secs),
            ApiError::Busy(_) | ApiError::TooManyAtOnce => Some(1),
            ApiError::StorageUnavailable(_) => Some(2),
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if matches!(self, ApiError::BodyTimeout(_)) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Domain(d) => ApiError::Domain(d),
            JobError::Store(why) => ApiError::StorageUnavailable(why),
            JobError::Stopped => ApiError::Unavailable("the server is shutting down".into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ApiError::StorageUnavailable(why),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// `axum::Json` whose rejections use the API's error body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        _ => "bad_json",
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".to_owned(),
        _ => rejection.body_text(),
    };
    ApiError::Bad(status, code, message)
}

/// `axum::extract::Path` whose rejections use the API's error body.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::Bad(StatusCode::BAD_REQUEST, "bad_path", rejection.body_text())
}

/// `axum::extract::Query` whose rejections use the API's error body.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::Bad(StatusCode::BAD_REQUEST, "bad_query", rejection.body_text())
}
