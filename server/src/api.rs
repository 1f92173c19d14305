//! The queue API: state, tickets, counter actions (tracking is in [`crate::track`]).

use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use luot_shared::engine::{Rater, Reply};
use luot_shared::protocol::{
    IssueRequest, RatingRequest, Role, StateView, TicketView, TransferRequest,
};
use luot_shared::{Command, CounterId, TicketId};
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::auth::{Credential, Principal};
use crate::error::{ApiError, Json, Path, Result};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/state", get(state))
        .route("/api/v1/tickets", post(issue))
        .route("/api/v1/tickets/{id}", get(ticket))
        .route("/api/v1/tickets/{id}/rating", post(rate))
        .route("/api/v1/tickets/{id}/cancel", post(cancel))
        .route("/api/v1/tickets/{id}/reinstate", post(reinstate))
        .route("/api/v1/counters/{id}", get(counter))
        .route("/api/v1/counters/{id}/{action}", post(counter_action))
}

async fn state(State(app): State<AppState>, _who: Principal) -> Json<StateView> {
    Json(app.engine.published().view.clone())
}

fn ticket_of(reply: Reply) -> Result<TicketView> {
    match reply {
        Reply::Ticket { ticket, .. } => Ok(*ticket),
        _ => Err(ApiError::Internal),
    }
}

/// The identity that scopes a `request_id`: a digest of the token that sent it (each device
/// its own), or of the account of a browser session. The stored token hash already names the
/// token without revealing it; neither goes into any event a subscriber sees.
fn credential_of(who: &Principal) -> String {
    let mut digest = Sha256::new();
    match &who.credential {
        Credential::Token(key) => {
            digest.update(b"luot request scope: token\0");
            digest.update(key.as_bytes());
        }
        Credential::Session(_) => {
            digest.update(b"luot request scope: account\0");
            digest.update(who.name.as_bytes());
        }
    }
    crate::auth::hex(&digest.finalize()[..16])
}

async fn issue(
    State(app): State<AppState>,
    who: Principal,
    Json(req): Json<IssueRequest>,
) -> Result<Response> {
    who.require(&[Role::Kiosk, Role::Staff])?;
    let credential = credential_of(&who);
    let reply = app
        .engine
        .command(Command::Issue {
            service: req.service,
            priority: req.priority,
            request_id: req.request_id,
            credential,
            by: who.name,
        })
        .await?;
    let Reply::Ticket { ticket, created } = reply else {
        return Err(ApiError::Internal);
    };
    let mut ticket = *ticket;
    ticket.track = Some(app.auth.track_for(ticket.id));
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ticket)).into_response())
}

async fn ticket(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<TicketId>,
) -> Result<Json<TicketView>> {
    who.require(&[Role::Staff])?;
    let view = app.engine.ticket(id).await?;
    view.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no ticket {id} today")))
}

async fn rate(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<TicketId>,
    Json(req): Json<RatingRequest>,
) -> Result<Json<TicketView>> {
    // Staff pass this check so the engine can refuse them with its own reason.
    who.require(&[Role::Kiosk, Role::Staff])?;
    let rater = match who.role {
        Role::Admin => Rater::Admin { name: who.name },
        Role::Staff => Rater::Staff { name: who.name },
        _ => Rater::Device {
            // A kiosk token made with `--counter N` is that counter's rating device.
            counter: match who.counters.as_deref() {
                Some([counter]) => Some(*counter),
                _ => None,
            },
            name: who.name,
        },
    };
    ticket_command(
        &app,
        Command::Rate {
            ticket: id,
            score: req.score,
            reason: req.reason,
            rater,
        },
    )
    .await
}

async fn cancel(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<TicketId>,
) -> Result<Json<TicketView>> {
    who.require(&[Role::Staff])?;
    let counters = bound_counters(&who);
    ticket_command(
        &app,
        Command::Cancel {
            ticket: id,
            staff: who.name,
            counters,
        },
    )
    .await
}

async fn reinstate(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<TicketId>,
) -> Result<Json<TicketView>> {
    who.require(&[Role::Staff])?;
    let counters = bound_counters(&who);
    ticket_command(
        &app,
        Command::Reinstate {
            ticket: id,
            staff: who.name,
            counters,
        },
    )
    .await
}

/// The counters a credential acts at: a staff account's assigned counters, a staff token's
/// one counter; `None` (anywhere) for admins and staff tokens made without `--counter`.
fn bound_counters(who: &Principal) -> Option<Vec<CounterId>> {
    if who.role == Role::Admin {
        None
    } else {
        who.counters.clone()
    }
}

/// Runs a command that answers with a ticket.
async fn ticket_command(app: &AppState, command: Command) -> Result<Json<TicketView>> {
    let reply = app.engine.command(command).await?;
    Ok(Json(ticket_of(reply)?))
}

async fn counter(
    State(app): State<AppState>,
    _who: Principal,
    Path(id): Path<CounterId>,
) -> Result<Response> {
    let published = app.engine.published();
    let view = published
        .view
        .counters
        .iter()
        .find(|c| c.id == id)
        .ok_or(ApiError::Domain(luot_shared::DomainError::UnknownCounter(
            id,
        )))?;
    Ok(Json(view).into_response())
}

async fn counter_action(
    State(app): State<AppState>,
    who: Principal,
    Path((counter, action)): Path<(CounterId, String)>,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    who.require_counter(counter)?;
    // Taken as a `Result` so that a body over the limit gets the API's JSON error too.
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::Bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is too large".into(),
        ),
        status => ApiError::Bad(status, "bad_body", e.body_text()),
    })?;
    let staff = who.name;
    let command = match action.as_str() {
        "call-next" => Command::CallNext { counter, staff },
        "recall" => Command::Recall { counter, staff },
        "start" => Command::Start { counter, staff },
        "finish" => Command::Finish { counter, staff },
        "no-show" => Command::NoShow { counter, staff },
        "open" => Command::Open { counter, staff },
        "close" => Command::Close { counter, staff },
        "transfer" => {
            let req: TransferRequest = serde_json::from_slice(&body).map_err(|e| {
                if e.is_data() {
                    ApiError::Bad(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_body",
                        format!("transfer body: {e}"),
                    )
                } else {
                    ApiError::bad_request("bad_json", format!("transfer body is not JSON: {e}"))
                }
            })?;
            Command::Transfer {
                counter,
                to_service: req.service,
                to_counter: req.counter,
                staff,
            }
        }
        other => return Err(ApiError::NotFound(format!("no counter action {other:?}"))),
    };
    match app.engine.command(command).await? {
        Reply::Ticket { ticket, .. } => Ok(Json(*ticket).into_response()),
        Reply::NobodyWaiting => Ok(StatusCode::NO_CONTENT.into_response()),
        Reply::Counter(view) => Ok(Json(*view).into_response()),
        Reply::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
