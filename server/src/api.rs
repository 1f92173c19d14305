//! The queue API: state, tickets, counter actions (tracking is in [`crate::track`]).

use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use luot_shared::engine::{Rater, Reply};
use luot_shared::protocol::{
    CounterView, ErrorBody, IssueRequest, RatingRequest, Role, StateView, TicketView,
    TransferRequest,
};
use luot_shared::{Command, CounterId, TicketId};
use serde::Deserialize as _;
use serde::de::IntoDeserializer as _;
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::auth::{Credential, Principal};
use crate::error::{ApiError, Json, Path, Query, Result};

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

/// The whole live state: services with their queues, counters, recent calls.
#[utoipa::path(get, path = "/api/v1/state", tag = "queue",
    description = "Any role.",
    responses((status = 200, description = "The state", body = StateView)))]
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

/// Issues a ticket.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "queue",
    description = "Kiosk or staff. The same `request_id` from the same credential returns the same ticket (200) instead of a new one (201); the answer carries the ticket's `track` secret.",
    request_body = IssueRequest,
    responses(
        (status = 201, description = "Issued", body = TicketView),
        (status = 200, description = "Issued before under the same `request_id`", body = TicketView),
        (status = 404, description = "`unknown_service`", body = ErrorBody),
        (status = 409, description = "`issuing_closed`, `numbers_exhausted`", body = ErrorBody),
        (status = 422, description = "`invalid`", body = ErrorBody),
    ))]
async fn issue(
    State(app): State<AppState>,
    who: Principal,
    Json(req): Json<IssueRequest>,
) -> Result<Response> {
    who.require(&[Role::Kiosk, Role::Staff])?;
    // A kiosk token made for one counter is that counter's rating tablet, left facing
    // citizens: it rates, and issues nothing (least of all priority tickets).
    if who.role == Role::Kiosk && who.counters.is_some() {
        return Err(ApiError::Forbidden(
            "this is a counter's rating device: it rates tickets and does not issue them".into(),
        ));
    }
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

/// One ticket of today's queue.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "queue",
    description = "Staff.",
    params(("id" = u64, Path, description = "Ticket id")),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "`not_found`: no such ticket today", body = ErrorBody),
    ))]
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

/// Rates a finished ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/rating", tag = "queue",
    description = "The counter's rating device (a kiosk token made with a counter); an admin enters or corrects a rating.",
    params(("id" = u64, Path, description = "Ticket id")),
    request_body = RatingRequest,
    responses(
        (status = 200, description = "The rated ticket", body = TicketView),
        (status = 403, description = "`forbidden`, `staff_cannot_rate`, `rating_device_unpaired`, `wrong_rating_device`", body = ErrorBody),
        (status = 404, description = "`unknown_ticket`", body = ErrorBody),
        (status = 409, description = "`already_rated`, `rating_window_closed`, `conflict`", body = ErrorBody),
        (status = 422, description = "`invalid`: score out of 1..=5 or a reason not in the center's list", body = ErrorBody),
    ))]
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

/// Withdraws a waiting ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/cancel", tag = "queue",
    description = "Staff (at the counters they are assigned to) or admin.",
    params(("id" = u64, Path, description = "Ticket id")),
    responses(
        (status = 200, description = "The cancelled ticket", body = TicketView),
        (status = 403, description = "`forbidden`, `not_your_counter`", body = ErrorBody),
        (status = 404, description = "`unknown_ticket`", body = ErrorBody),
        (status = 409, description = "`conflict`: not waiting", body = ErrorBody),
    ))]
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

/// Puts a no-show ticket back in its queue.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reinstate", tag = "queue",
    description = "Staff (at the counters they are assigned to) or admin.",
    params(("id" = u64, Path, description = "Ticket id")),
    responses(
        (status = 200, description = "The ticket, waiting again", body = TicketView),
        (status = 403, description = "`forbidden`, `not_your_counter`", body = ErrorBody),
        (status = 404, description = "`unknown_ticket`", body = ErrorBody),
        (status = 409, description = "`conflict`: not a no-show", body = ErrorBody),
    ))]
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

/// The actions of `/api/v1/counters/{id}/{action}`, by the words of the path.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
enum CounterAction {
    CallNext,
    Recall,
    Start,
    Finish,
    NoShow,
    Open,
    Close,
    Transfer,
}

/// The query of a counter action.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ActionParams {
    /// The id of the ticket the caller sees at the counter, or `none` when it sees none: the
    /// action is done only if the counter still holds exactly that (else `409
    /// ticket_changed`, nothing done). Without it the action applies to whatever the counter
    /// holds.
    ticket: Option<String>,
}

impl ActionParams {
    /// `None`: no expectation; `Some(None)`: the counter must hold no ticket.
    fn expected(&self) -> Result<Option<Option<TicketId>>> {
        let Some(raw) = self.ticket.as_deref() else {
            return Ok(None);
        };
        if raw == "none" {
            return Ok(Some(None));
        }
        match raw.parse::<TicketId>() {
            Ok(id) if raw.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(Some(id))),
            _ => Err(ApiError::bad_request(
                "bad_ticket",
                format!("ticket: a ticket id or \"none\", not {raw:?}"),
            )),
        }
    }
}

/// What a counter action answers with 200: the ticket it acted on, or the counter.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum CounterActionReply {
    /// After `call-next`, `recall`, `start`, `finish`, `no-show`, `transfer`.
    Ticket(TicketView),
    /// After `open`, `close`.
    Counter(CounterView),
}

/// Runs a command that answers with a ticket.
async fn ticket_command(app: &AppState, command: Command) -> Result<Json<TicketView>> {
    let reply = app.engine.command(command).await?;
    Ok(Json(ticket_of(reply)?))
}

/// One counter's live state.
#[utoipa::path(get, path = "/api/v1/counters/{id}", tag = "queue",
    description = "Any role.",
    params(("id" = u32, Path, description = "Counter number")),
    responses(
        (status = 200, description = "The counter", body = CounterView),
        (status = 404, description = "`unknown_counter`", body = ErrorBody),
    ))]
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

/// An action at a counter.
#[utoipa::path(post, path = "/api/v1/counters/{id}/{action}", tag = "queue",
    description = "Staff assigned to the counter, or admin. `call-next`, `recall`, `start`, `finish`, `no-show` and `transfer` answer with the ticket they act on; `open` and `close` with the counter; `call-next` answers 204 when nobody waits. Only `transfer` reads a body (`TransferRequest`); the others ignore it.",
    params(
        ("id" = u32, Path, description = "Counter number"),
        ("action" = inline(CounterAction), Path, description = "What to do"),
        ActionParams,
    ),
    request_body(content = Option<TransferRequest>, description = "For `transfer`: where the ticket goes"),
    responses(
        (status = 200, description = "The ticket acted on, or the counter opened or closed", body = CounterActionReply),
        (status = 204, description = "`call-next` with nobody waiting"),
        (status = 403, description = "`forbidden`: not assigned to this counter; `not_your_counter`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such action; `unknown_counter`, `unknown_service`", body = ErrorBody),
        (status = 400, description = "`bad_ticket`, `bad_query`", body = ErrorBody),
        (status = 409, description = "`counter_closed`, `no_current_ticket`, `conflict`; `ticket_changed`: the counter no longer holds the `ticket` named", body = ErrorBody),
        (status = 422, description = "`invalid_body`: a transfer body of the wrong shape; `invalid`", body = ErrorBody),
    ))]
async fn counter_action(
    State(app): State<AppState>,
    who: Principal,
    Path((counter, action)): Path<(CounterId, String)>,
    Query(params): Query<ActionParams>,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response> {
    who.require_counter(counter)?;
    let expected = params.expected()?;
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
    let words: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        action.as_str().into_deserializer();
    let Ok(action) = CounterAction::deserialize(words) else {
        return Err(ApiError::NotFound(format!("no counter action {action:?}")));
    };
    let command = match action {
        CounterAction::CallNext => Command::CallNext { counter, staff },
        CounterAction::Recall => Command::Recall { counter, staff },
        CounterAction::Start => Command::Start { counter, staff },
        CounterAction::Finish => Command::Finish { counter, staff },
        CounterAction::NoShow => Command::NoShow { counter, staff },
        CounterAction::Open => Command::Open { counter, staff },
        CounterAction::Close => Command::Close { counter, staff },
        CounterAction::Transfer => {
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
    };
    let command = match expected {
        Some(current) => Command::Expect {
            current,
            then: Box::new(command),
        },
        None => command,
    };
    match app.engine.command(command).await? {
        Reply::Ticket { ticket, .. } => {
            Ok(Json(CounterActionReply::Ticket(*ticket)).into_response())
        }
        Reply::NobodyWaiting => Ok(StatusCode::NO_CONTENT.into_response()),
        Reply::Counter(view) => Ok(Json(CounterActionReply::Counter(*view)).into_response()),
        Reply::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
