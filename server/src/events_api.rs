//! `GET /api/v1/events?after=SEQ&limit=N`: the log for systems that pull instead of taking
//! webhooks, in the same shape as a webhook body.
//!
//! Admins only (an admin token for a script): the log holds every figure the reports are made
//! of, per staff member, and reports are the admin's.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use luot_shared::Recorded;
use luot_shared::protocol::{ErrorBody, Role, ServerMessage};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Json, Query, Result};

/// Events per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// Most events per page.
pub const MAX_LIMIT: usize = 1000;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(list))
}

/// An event as webhooks and the pull API carry it: `seq`, `at`, `kind` and the event as the
/// WebSocket publishes it (without what stays inside the server, such as a ticket's
/// `request_id`).
pub fn public_event(rec: &Recorded) -> serde_json::Value {
    let mut value =
        serde_json::to_value(ServerMessage::Event(rec.clone())).unwrap_or(serde_json::Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("type");
        object.insert("kind".into(), rec.event.kind().into());
    }
    value
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Params {
    /// Events after this seq (0: from the start).
    #[serde(default)]
    after: u64,
    /// Events per page, 1 to 1000 (default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// One page of the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Page {
    /// Events after `after`, in `seq` order: `seq`, `at`, `kind` and the event's fields.
    #[schema(value_type = Vec<Object>)]
    events: Vec<serde_json::Value>,
    /// What to pass as `after` for the next page: the last seq here (or `after` when empty).
    next: u64,
    /// The last seq of the log.
    last_seq: u64,
    /// Whether more events follow `next`.
    more: bool,
}

/// A page of the log, in `seq` order, each event as a webhook body carries it.
#[utoipa::path(get, path = "/api/v1/events", tag = "integration",
    description = "Admin (an admin token for a script).",
    params(Params),
    responses(
        (status = 200, description = "A page", body = Page),
        (status = 400, description = "`bad_limit`, `bad_after`, `bad_query`", body = ErrorBody),
    ))]
async fn list(
    State(app): State<AppState>,
    who: Principal,
    Query(params): Query<Params>,
) -> Result<Json<Page>> {
    who.require(&[Role::Admin])?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Bad(
            StatusCode::BAD_REQUEST,
            "bad_limit",
            format!("limit: 1 to {MAX_LIMIT}"),
        ));
    }
    // Only what the engine has made durable and published.
    let head = app.engine.published().view.seq;
    if params.after > head {
        return Err(ApiError::Bad(
            StatusCode::BAD_REQUEST,
            "bad_after",
            format!(
                "after: the log ends at seq {head}; a larger cursor comes from another data directory"
            ),
        ));
    }
    let store = app.store.clone();
    let after = params.after;
    let events = tokio::task::spawn_blocking(move || store.events(after + 1, head, limit))
        .await
        .map_err(|_| ApiError::Internal)??;
    let next = events.last().map_or(after, |r| r.seq);
    Ok(Json(Page {
        events: events.iter().map(public_event).collect(),
        next,
        last_seq: head,
        more: next < head,
    }))
}
