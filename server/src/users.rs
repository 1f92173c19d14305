//! Staff and admin accounts: the admin creates, resets, disables and assigns them; everyone
//! changes their own password.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use jiff::Timestamp;
use luot_shared::CounterId;
use luot_shared::protocol::{ErrorBody, Role};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{Principal, SessionRecord, UserRecord};
use crate::error::{ApiError, Json, Path, Result};
use crate::store::Table;

/// Shortest accepted password.
const MIN_PASSWORD: usize = 8;
/// Longest accepted password (argon2 cost grows with it).
const MAX_PASSWORD: usize = 128;
/// Most accounts a center keeps.
const MAX_USERS: usize = 1000;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/users", get(list).post(create))
        .route("/api/v1/admin/users/{username}", patch(update))
        .route("/api/v1/password", post(change_password))
}

/// An account as the admin sees it (never the hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UserView {
    username: String,
    role: Role,
    counters: Vec<CounterId>,
    disabled: bool,
    created_at: Timestamp,
}

fn view(username: String, u: UserRecord) -> UserView {
    UserView {
        username,
        role: u.role,
        counters: u.counters,
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::Bad(StatusCode::UNPROCESSABLE_ENTITY, field, message.to_owned())
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(invalid(
            "invalid_password",
            &format!("password: {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

fn check_role(role: Role) -> Result<()> {
    match role {
        Role::Admin | Role::Staff => Ok(()),
        _ => Err(invalid(
            "invalid_role",
            "accounts are admin or staff; devices use tokens",
        )),
    }
}

fn check_counters(app: &AppState, counters: &[CounterId]) -> Result<()> {
    let published = app.engine.published();
    for c in counters {
        if published.view.counters.iter().all(|k| k.id != *c) {
            return Err(ApiError::Domain(luot_shared::DomainError::UnknownCounter(
                *c,
            )));
        }
    }
    Ok(())
}

async fn hash(app: &AppState, password: String) -> Result<String> {
    app.auth.passwords().hash(password).await
}

/// Every account (never the password hash).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    description = "Admin.",
    responses((status = 200, description = "The accounts", body = Vec<UserView>)))]
async fn list(State(app): State<AppState>, who: Principal) -> Result<Json<Vec<UserView>>> {
    who.require(&[Role::Admin])?;
    let users = app.store.list::<UserRecord>(Table::Users)?;
    Ok(Json(
        users.into_iter().map(|(name, u)| view(name, u)).collect(),
    ))
}

/// An account to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    role: Role,
    #[serde(default)]
    counters: Vec<CounterId>,
}

/// Creates a staff or admin account.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin",
    description = "Admin.",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 404, description = "`unknown_counter`", body = ErrorBody),
        (status = 409, description = "`user_exists`, `too_many_users`", body = ErrorBody),
        (status = 422, description = "`invalid_username`, `invalid_password`, `invalid_role`", body = ErrorBody),
    ))]
async fn create(
    State(app): State<AppState>,
    who: Principal,
    Json(req): Json<NewUser>,
) -> Result<Response> {
    who.require(&[Role::Admin])?;
    let name = req.username.trim().to_owned();
    if name.is_empty()
        || name.len() > 32
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid(
            "invalid_username",
            "username: 1 to 32 of a-z, 0-9, '.', '_', '-'",
        ));
    }
    check_password(&req.password)?;
    check_role(req.role)?;
    check_counters(&app, &req.counters)?;
    if app.store.count(Table::Users) >= MAX_USERS {
        return Err(ApiError::Bad(
            StatusCode::CONFLICT,
            "too_many_users",
            format!("at most {MAX_USERS} accounts"),
        ));
    }
    let record = UserRecord {
        password_hash: hash(&app, req.password).await?,
        role: req.role,
        counters: req.counters,
        disabled: false,
        created_at: Timestamp::now(),
    };
    if !app
        .auth
        .writer()
        .put_new(Table::Users, &name, &record)
        .await?
    {
        return Err(ApiError::Bad(
            StatusCode::CONFLICT,
            "user_exists",
            format!("user {name:?} already exists"),
        ));
    }
    tracing::info!(user = %name, by = %who.name, "account created");
    Ok((StatusCode::CREATED, Json(view(name, record))).into_response())
}

/// What to change of an account; absent fields stay.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    counters: Option<Vec<CounterId>>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// Changes an account: password, role, counters, disabled. A new password or disabling ends
/// its sessions.
#[utoipa::path(patch, path = "/api/v1/admin/users/{username}", tag = "admin",
    description = "Admin.",
    params(("username" = String, Path, description = "The account")),
    request_body = UserChange,
    responses(
        (status = 200, description = "The account as changed", body = UserView),
        (status = 404, description = "`not_found`, `unknown_counter`", body = ErrorBody),
        (status = 409, description = "`self_lockout`: disabling or demoting your own account", body = ErrorBody),
        (status = 422, description = "`invalid_password`, `invalid_role`", body = ErrorBody),
    ))]
async fn update(
    State(app): State<AppState>,
    who: Principal,
    Path(username): Path<String>,
    Json(change): Json<UserChange>,
) -> Result<Json<UserView>> {
    who.require(&[Role::Admin])?;
    let mut record: UserRecord = app
        .store
        .get(Table::Users, &username)?
        .ok_or_else(|| ApiError::NotFound(format!("no user {username:?}")))?;
    if let Some(p) = &change.password {
        check_password(p)?;
    }
    if let Some(role) = change.role {
        check_role(role)?;
    }
    if let Some(counters) = &change.counters {
        check_counters(&app, counters)?;
    }
    let demotes_self =
        username == who.name && (change.disabled == Some(true) || change.role == Some(Role::Staff));
    if demotes_self {
        return Err(ApiError::Bad(
            StatusCode::CONFLICT,
            "self_lockout",
            "you cannot disable or demote your own account".into(),
        ));
    }
    // A new password or a disabled account ends the account's sessions: whoever held the
    // old password is out.
    let ends_sessions = change.password.is_some() || change.disabled == Some(true);
    if let Some(p) = change.password {
        record.password_hash = hash(&app, p).await?;
    }
    if let Some(role) = change.role {
        record.role = role;
    }
    if let Some(counters) = change.counters {
        record.counters = counters;
    }
    if let Some(disabled) = change.disabled {
        record.disabled = disabled;
    }
    app.auth
        .writer()
        .put(Table::Users, &username, &record)
        .await?;
    if ends_sessions {
        let ended = app.auth.end_sessions_of(&username, None).await?;
        tracing::info!(user = %username, sessions = ended, "sessions ended");
    } else {
        // A role or counter change applies to open WebSockets too.
        app.auth.note_revocation();
    }
    tracing::info!(user = %username, by = %who.name, "account changed");
    Ok(Json(view(username, record)))
}

/// Your own password change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    old: String,
    new: String,
}

/// Changes your own password; every other session of the account ends.
#[utoipa::path(post, path = "/api/v1/password", tag = "session",
    description = "A logged-in account (a session, not a token).",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "`forbidden`: a token, or the current password is wrong", body = ErrorBody),
        (status = 422, description = "`invalid_password`", body = ErrorBody),
    ))]
async fn change_password(
    State(app): State<AppState>,
    who: Principal,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode> {
    if who.session.is_none() {
        return Err(ApiError::Forbidden(
            "only a logged-in account has a password".into(),
        ));
    }
    check_password(&req.new)?;
    let mut record: UserRecord = app
        .store
        .get(Table::Users, &who.name)?
        .ok_or_else(|| ApiError::Unauthorized("account not found".into()))?;
    let ok = app
        .auth
        .passwords()
        .verify(req.old, Some(record.password_hash.clone()))
        .await?;
    if !ok {
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    record.password_hash = hash(&app, req.new).await?;
    // The new password and this session's new stamp are written together; every other
    // session of the account ends.
    let mut ops = vec![crate::credentials::put(Table::Users, &who.name, &record)];
    if let Some(key) = &who.session
        && let Some(mut session) = app.store.get::<SessionRecord>(Table::Sessions, key)?
    {
        session.password_stamp = crate::auth::password_stamp(&record.password_hash);
        ops.push(crate::credentials::put(Table::Sessions, key, &session));
    }
    app.auth.writer().write(ops).await?;
    app.auth
        .end_sessions_of(&who.name, who.session.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
