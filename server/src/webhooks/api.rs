//! `/api/v1/admin/webhooks`: list with delivery state, create (the secret is shown once),
//! change, remove, redeliver from a seq. Admins only.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use luot_shared::protocol::Role;
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

async fn list(State(app): State<AppState>, who: Principal) -> Result<Json<Vec<EndpointView>>> {
    who.require(&[Role::Admin])?;
    Ok(Json(app.webhooks.list()))
}

async fn one(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>> {
    who.require(&[Role::Admin])?;
    Ok(Json(app.webhooks.get(&id)?))
}

#[derive(Deserialize)]
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

#[derive(Serialize)]
struct Created {
    /// Shown once: the receiving side needs it to verify signatures.
    secret: String,
    #[serde(flatten)]
    endpoint: EndpointView,
}

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

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redeliver {
    /// The first seq to send again.
    from: u64,
}

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
