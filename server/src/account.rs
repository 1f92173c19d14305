//! Sessions (login, logout, who am I) and the admin's credential and center endpoints.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use luot_shared::protocol::{LoginRequest, LoginResponse, Role};
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

#[derive(Serialize)]
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

async fn me(who: Principal) -> Json<Me> {
    Json(Me {
        name: who.name,
        role: who.role,
        counters: who.counters,
        csrf: who.csrf,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: Role,
    #[serde(default)]
    counter: Option<CounterId>,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Serialize)]
struct CreatedToken {
    /// Shown once; only its hash is kept.
    token: String,
    #[serde(flatten)]
    record: TokenRecord,
}

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

async fn get_center(State(app): State<AppState>, who: Principal) -> Result<Json<CenterConfig>> {
    who.require(&[Role::Admin])?;
    let config = app.engine.config().await?;
    Ok(Json(config))
}

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
