//! `/api/v1/admin/webhooks`: list with delivery state, create (the secret is shown once),
//! change, remove, redeliver from a seq. Admins only.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use luot_shared::protocol::{ErrorBody, Role};
use serde::{Deserialize, Serialize};

use super::deliver::{Change, EndpointView};
use super::{check_events, check_url, sign};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Json, Path, Result};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/webhooks", get(list).post(create))
        .route(
            "/api/v1/admin/webhooks/{id}",
            get(one).patch(update).delete(remove),
        )
        .route("/api/v1/admin/webhooks/{id}/redeliver", post(redeliver))
}

fn invalid(code: &'static str, message: String) -> ApiError {
    ApiError::Bad(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn url(text: &str) -> Result<String> {
    check_url(text).map_err(|m| invalid("invalid_url", format!("url: {m}")))
}

fn secret(text: String) -> Result<String> {
    sign::secret_key(&text).map_err(|m| invalid("invalid_secret", format!("secret: {m}")))?;
    Ok(text)
}

fn events(list: &[String]) -> Result<Vec<String>> {
    check_events(list).map_err(|m| invalid("invalid_events", format!("events: {m}")))
}

/// Every endpoint with its delivery state.
#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "integration",
    description = "Admin.",
    responses((status = 200, description = "The endpoints", body = Vec<EndpointView>)))]
async fn list(State(app): State<AppState>, who: Principal) -> Result<Json<Vec<EndpointView>>> {
    who.require(&[Role::Admin])?;
    Ok(Json(app.webhooks.list()))
}

/// One endpoint with its delivery state.
#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}", tag = "integration",
    description = "Admin.",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn one(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>> {
    who.require(&[Role::Admin])?;
    Ok(Json(app.webhooks.get(&id)?))
}

/// An endpoint to add.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    /// `whsec_…`; absent: one is generated.
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    events: Vec<String>,
    /// Start after this seq (0: the whole log); absent: after the last event so far.
    #[serde(default)]
    after: Option<u64>,
}

/// A new endpoint, with its secret.
#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    /// Shown once: the receiving side needs it to verify signatures.
    secret: String,
    #[serde(flatten)]
    endpoint: EndpointView,
}

/// Adds an endpoint; its secret is shown once.
#[utoipa::path(post, path = "/api/v1/admin/webhooks", tag = "integration",
    description = "Admin.",
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "Created", body = Created),
        (status = 409, description = "`too_many_webhooks`, `webhook_exists`", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `invalid_secret`, `invalid_events`, `invalid_after`", body = ErrorBody),
    ))]
async fn create(
    State(app): State<AppState>,
    who: Principal,
    Json(req): Json<NewEndpoint>,
) -> Result<Response> {
    who.require(&[Role::Admin])?;
    let url = url(&req.url)?;
    let secret = match req.secret {
        Some(given) => secret(given)?,
        None => sign::generate_secret(),
    };
    let events = events(&req.events)?;
    let endpoint = app
        .webhooks
        .create(url, secret.clone(), events, req.after)
        .await?;
    tracing::info!(webhook = %endpoint.id, by = %who.name, "webhook created");
    Ok((StatusCode::CREATED, Json(Created { secret, endpoint })).into_response())
}

/// What to change of an endpoint.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Update {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// Changes an endpoint; absent fields stay.
#[utoipa::path(patch, path = "/api/v1/admin/webhooks/{id}", tag = "integration",
    description = "Admin.",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = Update,
    responses(
        (status = 200, description = "The endpoint as changed", body = EndpointView),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`webhook_exists`: another endpoint has that URL", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `invalid_secret`, `invalid_events`", body = ErrorBody),
    ))]
async fn update(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Json(req): Json<Update>,
) -> Result<Json<EndpointView>> {
    who.require(&[Role::Admin])?;
    let change = Change {
        url: req.url.as_deref().map(url).transpose()?,
        secret: req.secret.map(secret).transpose()?,
        events: req.events.as_deref().map(events).transpose()?,
        enabled: req.enabled,
    };
    let view = app.webhooks.update(&id, change).await?;
    tracing::info!(webhook = %id, by = %who.name, "webhook changed");
    Ok(Json(view))
}

/// Removes an endpoint and its outbox.
#[utoipa::path(delete, path = "/api/v1/admin/webhooks/{id}", tag = "integration",
    description = "Admin.",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn remove(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    who.require(&[Role::Admin])?;
    app.webhooks.delete(&id).await?;
    tracing::info!(webhook = %id, by = %who.name, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Where redelivery starts.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Redeliver {
    /// The first seq to send again.
    from: u64,
}

/// Sends the events from `from` on again, in order.
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/redeliver", tag = "integration",
    description = "Admin.",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = Redeliver,
    responses(
        (status = 200, description = "The endpoint with its cursor moved back", body = EndpointView),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_from`: 0, or past the end of the log", body = ErrorBody),
    ))]
async fn redeliver(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Json(req): Json<Redeliver>,
) -> Result<Json<EndpointView>> {
    who.require(&[Role::Admin])?;
    let view = app.webhooks.redeliver(&id, req.from).await?;
    tracing::info!(webhook = %id, from = req.from, by = %who.name, "webhook redelivery asked");
    Ok(Json(view))
}
