//! Sessions (login, logout, who am I) and the admin's credential and center endpoints.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use luot_shared::protocol::{ErrorBody, LoginRequest, LoginResponse, Role};
use luot_shared::{CenterConfig, Command, CounterId};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{self, Principal, SESSION_COOKIE, SESSION_SECS, TokenRecord};
use crate::error::{ApiError, Json, Path, Result};
use crate::store::Table;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/admin/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/admin/tokens/{id}", delete(revoke_token))
        .route("/api/v1/admin/center", get(get_center).put(put_center))
}

/// Logs in: the session travels in the `luot_session` cookie (HttpOnly, SameSite=Strict).
#[utoipa::path(post, path = "/api/v1/login", tag = "session", security(()),
    description = "Anyone. Failed attempts are limited per address and per account (429 with `Retry-After`).",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; `Set-Cookie: luot_session=…`. Send `csrf` as `X-CSRF-Token` on every state-changing request of this session.", body = LoginResponse,
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 401, description = "`unauthorized`: wrong user name or password, or a disabled account", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many failed attempts; `Retry-After` says when to try again", body = ErrorBody),
        (status = 503, description = "`busy`: too many password checks at once; retry in a second", body = ErrorBody),
    ))]
async fn login(
    State(app): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<Response> {
    let (session, record, user) = app
        .auth
        .login(addr.ip(), &req.username, &req.password)
        .await
        .inspect_err(|e| {
            if matches!(e, ApiError::Unauthorized(_)) {
                app.metrics.login_failures.inc();
            }
        })?;
    let cookie = format!(
        "{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECS}"
    );
    let body = LoginResponse {
        username: record.username,
        role: user.role,
        counters: user.counters,
        csrf: record.csrf,
    };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// Ends this session (a token caller gets 204 and nothing changes).
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    description = "Any credential.",
    responses((status = 204, description = "Logged out; the cookie is cleared")))]
async fn logout(State(app): State<AppState>, who: Principal) -> Result<Response> {
    if let Some(session) = &who.session {
        app.auth.logout(session).await?;
    }
    let expire = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&expire).map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// The caller, as `/api/v1/me` tells it.
#[derive(Serialize, utoipa::ToSchema)]
struct Me {
    name: String,
    role: Role,
    /// Counters it may act at; `null` means any.
    counters: Option<Vec<CounterId>>,
    /// For a browser session: the token to send as `X-CSRF-Token` (readable only by pages of
    /// this origin), so a new tab of an existing session can act.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
}

/// Who the credential is.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    description = "Any credential.",
    responses((status = 200, description = "The caller", body = Me)))]
async fn me(who: Principal) -> Json<Me> {
    Json(Me {
        name: who.name,
        role: who.role,
        counters: who.counters,
        csrf: who.csrf,
    })
}

/// A token to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: Role,
    #[serde(default)]
    counter: Option<CounterId>,
    #[serde(default)]
    label: Option<String>,
}

/// A new token, with its secret.
#[derive(Serialize, utoipa::ToSchema)]
struct CreatedToken {
    /// Shown once; only its hash is kept.
    token: String,
    #[serde(flatten)]
    record: TokenRecord,
}

/// Creates a device or script token; it is shown once.
#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin",
    description = "Admin.",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 404, description = "`unknown_counter`", body = ErrorBody),
        (status = 422, description = "`invalid_label`, `invalid_counter`", body = ErrorBody),
    ))]
async fn create_token(
    State(app): State<AppState>,
    who: Principal,
    Json(req): Json<NewToken>,
) -> Result<Response> {
    who.require(&[Role::Admin])?;
    if let Some(label) = &req.label
        && (label.trim().is_empty()
            || label.chars().count() > 60
            || label.chars().any(char::is_control))
    {
        return Err(ApiError::Bad(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_label",
            "label: 1 to 60 printable characters".into(),
        ));
    }
    if let Some(counter) = req.counter {
        if req.role != Role::Staff && req.role != Role::Kiosk {
            return Err(ApiError::Bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_counter",
                "only staff and kiosk (rating) tokens are tied to a counter".into(),
            ));
        }
        if app
            .engine
            .published()
            .view
            .counters
            .iter()
            .all(|c| c.id != counter)
        {
            return Err(ApiError::Domain(luot_shared::DomainError::UnknownCounter(
                counter,
            )));
        }
    }
    let (token, key, record) = auth::new_token(req.role, req.counter, req.label);
    app.auth.writer().put(Table::Tokens, &key, &record).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, record })).into_response())
}

/// Every token (never the secret), oldest first.
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin",
    description = "Admin.",
    responses((status = 200, description = "The tokens", body = Vec<TokenRecord>)))]
async fn list_tokens(
    State(app): State<AppState>,
    who: Principal,
) -> Result<Json<Vec<TokenRecord>>> {
    who.require(&[Role::Admin])?;
    let mut tokens: Vec<TokenRecord> = app
        .store
        .list::<TokenRecord>(Table::Tokens)?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    tokens.sort_by_key(|t| t.created_at);
    Ok(Json(tokens))
}

/// Revokes a token: it stops working on the next request and its WebSockets close.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin",
    description = "Admin.",
    params(("id" = String, Path, description = "The token's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
async fn revoke_token(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    who.require(&[Role::Admin])?;
    let tokens = app.store.list::<TokenRecord>(Table::Tokens)?;
    let (key, _) = tokens
        .into_iter()
        .find(|(_, t)| t.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no token {id:?}")))?;
    app.auth.revoke_token(&key).await?;
    tracing::info!(token = %id, by = %who.name, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// The center's configuration.
#[utoipa::path(get, path = "/api/v1/admin/center", tag = "admin",
    description = "Admin.",
    responses((status = 200, description = "The configuration", body = CenterConfig)))]
async fn get_center(State(app): State<AppState>, who: Principal) -> Result<Json<CenterConfig>> {
    who.require(&[Role::Admin])?;
    let config = app.engine.config().await?;
    Ok(Json(config))
}

/// Replaces the center's configuration (recorded in the log).
#[utoipa::path(put, path = "/api/v1/admin/center", tag = "admin",
    description = "Admin.",
    request_body = CenterConfig,
    responses(
        (status = 200, description = "The configuration now in force", body = CenterConfig),
        (status = 422, description = "`invalid_config`, with `field` naming the field at fault", body = ErrorBody),
    ))]
async fn put_center(
    State(app): State<AppState>,
    who: Principal,
    Json(config): Json<CenterConfig>,
) -> Result<Json<CenterConfig>> {
    who.require(&[Role::Admin])?;
    app.engine
        .command(Command::Configure {
            config: Box::new(config),
            by: who.name,
        })
        .await?;
    Ok(Json(app.engine.config().await?))
}
