//! [`NetDispenser`]: the real [`Dispenser`]. Issue over HTTP, lay out the ticket, print it.
//!
//! The center's name, footer and time zone come from `GET /api/v1/state`, fetched on the
//! first touch and again when the copy is older than [`CENTER_MAX_AGE`]; a UI that follows
//! the event stream hands fresher ones with [`NetDispenser::set_center`] (a `center_configured`
//! event then reaches the next ticket at once). When the state cannot be fetched the last copy
//! is used; with none at all the ticket leaves the center name out and prints the time in the
//! machine's own zone.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use luot_shared::StateView;

use crate::client::{ClientError, IssueClient, Issued, RetryPolicy, fresh_request_id};
use crate::dispense::{Dispenser, Outcome, PrinterProblem, PrinterStatus, Request};
use crate::escpos;
use crate::printer::Printer;
use crate::raster::Bitmap;
use crate::ticket::{self, CenterInfo, Language, Paper, TicketFace};

/// How old the center's settings may be before a touch fetches them again.
pub const CENTER_MAX_AGE: Duration = Duration::from_secs(300);

/// Where the time of one touch went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Issuing, retries included.
    pub issue: Duration,
    /// Fetching the center's settings (zero when the copy was fresh).
    pub center: Duration,
    /// Making the QR code.
    pub qr: Duration,
    /// Laying out and drawing the ticket.
    pub render: Duration,
    /// Encoding to ESC/POS and writing the preview.
    pub encode: Duration,
    /// Status check and writing every byte to the printer.
    pub write: Duration,
}

/// Issues over HTTP and prints on an ESC/POS printer.
///
/// Blocking: it owns a current-thread tokio runtime, so make, call and drop it on plain
/// threads (the kiosk's worker, `spawn_blocking`), never inside async code.
pub struct NetDispenser {
    client: IssueClient,
    printer: Printer,
    paper: Paper,
    preview: Option<PathBuf>,
    language: Mutex<Language>,
    center: Mutex<Option<(CenterInfo, Instant)>>,
    /// The last touch whose answer never came though the server may have taken it: the same
    /// choice again soon after is the same citizen asking again, and is sent with the same
    /// `request_id`, so the server hands back the ticket it may have made instead of a
    /// second one.
    uncertain: Mutex<Option<(Request, String, Instant)>>,
}

/// How long an unanswered touch is taken up again by the same choice.
const UNCERTAIN_FOR: Duration = Duration::from_secs(10 * 60);

impl std::fmt::Debug for NetDispenser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetDispenser")
            .field("client", &self.client)
            .field("printer", &self.printer)
            .field("paper", &self.paper)
            .finish_non_exhaustive()
    }
}

impl NetDispenser {
    /// A dispenser for the server at `server` (`http://host:port`) with a kiosk `token`,
    /// printing on `printer` (from [`crate::cli::PrinterArgs::printer`]) on `paper`, writing
    /// each ticket's image to `preview` as PNG when given. Vietnamese, default retries.
    ///
    /// # Errors
    ///
    /// When the URL or token is unusable.
    pub fn new(
        server: &str,
        token: &str,
        printer: Printer,
        paper: Paper,
        preview: Option<PathBuf>,
    ) -> Result<NetDispenser, ClientError> {
        Ok(NetDispenser {
            client: IssueClient::new(server, token, RetryPolicy::default())?,
            printer,
            paper,
            preview,
            language: Mutex::new(Language::Vietnamese),
            uncertain: Mutex::new(None),
            center: Mutex::new(None),
        })
    }

    /// [`NetDispenser::new`] with the printer, paper and preview of the kiosk's flags.
    ///
    /// # Errors
    ///
    /// As [`NetDispenser::new`].
    pub fn from_args(
        server: &str,
        token: &str,
        printer: &crate::cli::PrinterArgs,
    ) -> Result<NetDispenser, ClientError> {
        NetDispenser::new(
            server,
            token,
            printer.printer(),
            printer.paper,
            printer.preview.clone(),
        )
    }

    /// The same dispenser printing the ticket's words in `language`.
    pub fn with_language(self, language: Language) -> NetDispenser {
        self.set_language(language);
        self
    }

    /// Prints the next tickets' words in `language` (the citizen switched the screen).
    pub fn set_language(&self, language: Language) {
        if let Ok(mut current) = self.language.lock() {
            *current = language;
        }
    }

    /// The same dispenser with other retry bounds.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be rebuilt.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Result<NetDispenser, ClientError> {
        self.client = self.client.with_policy(policy)?;
        Ok(self)
    }

    /// Hands the center's settings from a fresh state (the UI's own copy of the stream).
    pub fn set_center(&self, state: &StateView) {
        self.store_center(CenterInfo::from_state(state));
    }

    fn store_center(&self, info: CenterInfo) {
        if let Ok(mut center) = self.center.lock() {
            *center = Some((info, Instant::now()));
        }
    }

    /// The center's settings: the cached copy, refreshed from the server when old.
    fn center(&self) -> CenterInfo {
        let cached = self.center.lock().ok().and_then(|c| c.clone());
        if let Some((info, at)) = &cached
            && at.elapsed() < CENTER_MAX_AGE
        {
            return info.clone();
        }
        match self.client.state() {
            Ok(state) => {
                let info = CenterInfo::from_state(&state);
                self.store_center(info.clone());
                info
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the center's settings; using what is known");
                cached.map(|(info, _)| info).unwrap_or_else(|| CenterInfo {
                    name: String::new(),
                    footer: None,
                    timezone: TimeZone::system(),
                })
            }
        }
    }

    /// The `request_id` for this touch: the unanswered one's when it is the same choice, made
    /// not long ago; else a fresh one.
    fn request_id_for(&self, request: &Request) -> String {
        let Ok(uncertain) = self.uncertain.lock() else {
            return fresh_request_id();
        };
        match &*uncertain {
            Some((earlier, id, at))
                if earlier.service == request.service
                    && earlier.priority == request.priority
                    && at.elapsed() < UNCERTAIN_FOR =>
            {
                tracing::info!(
                    "the same choice as an unanswered touch: asking with its request_id"
                );
                id.clone()
            }
            _ => fresh_request_id(),
        }
    }

    /// Remembers an unanswered touch, or forgets it once an answer came.
    fn settle(&self, unanswered: Option<(Request, String)>) {
        if let Ok(mut uncertain) = self.uncertain.lock() {
            *uncertain = unanswered.map(|(r, id)| (r, id, Instant::now()));
        }
    }

    /// Whether the last touch got no answer though the server may have taken it.
    pub fn has_unanswered(&self) -> bool {
        self.uncertain.lock().map(|u| u.is_some()).unwrap_or(false)
    }

    /// [`Dispenser::dispense`] with where its time went.
    pub fn dispense_timed(&self, request: &Request) -> (Outcome, Timings) {
        let request_id = self.request_id_for(request);
        self.dispense_with_id(request, &request_id)
    }

    /// [`NetDispenser::dispense_timed`] under a `request_id` the caller chose (a script
    /// retrying a press it got no answer to).
    pub fn dispense_with_id(&self, request: &Request, request_id: &str) -> (Outcome, Timings) {
        let mut timings = Timings::default();
        let started = Instant::now();
        let issued = self.client.issue_with_id(request, request_id);
        let ticket = match issued {
            Issued::Ticket(ticket) => {
                self.settle(None);
                ticket
            }
            Issued::Refused { message, .. } => {
                self.settle(None);
                timings.issue = started.elapsed();
                return (Outcome::Refused { message }, timings);
            }
            Issued::Unreachable {
                message,
                maybe_issued,
                ..
            } => {
                timings.issue = started.elapsed();
                let message = if maybe_issued {
                    self.settle(Some((request.clone(), request_id.to_owned())));
                    format!(
                        "no answer from the server; the ticket may have been issued: the same \
                         choice again brings it ({message})"
                    )
                } else {
                    self.settle(None);
                    format!("the server cannot be reached; nothing was issued ({message})")
                };
                return (Outcome::Unreachable { message }, timings);
            }
        };
        timings.issue = started.elapsed();
        tracing::info!(number = %ticket.number, service = %ticket.service, "issued");

        let t = Instant::now();
        let center = self.center();
        timings.center = t.elapsed();
        let language = if request.english {
            Language::English
        } else {
            self.language.lock().map(|l| *l).unwrap_or_default()
        };
        let face = TicketFace::new(&ticket, &center, self.client.base(), language);
        match self.print_face(&face, &mut timings) {
            Ok(()) => (Outcome::Printed { ticket }, timings),
            Err(problem) => {
                tracing::warn!(number = %ticket.number, ?problem, "issued but not printed");
                (Outcome::NotPrinted { ticket, problem }, timings)
            }
        }
    }

    fn print_face(&self, face: &TicketFace, timings: &mut Timings) -> Result<(), PrinterProblem> {
        let t = Instant::now();
        let qr = face
            .track_url
            .as_deref()
            .map(|url| ticket::qr_code(url, self.paper))
            .transpose()
            .map_err(|e| PrinterProblem::Error(format!("cannot draw the QR code: {e}")))?;
        timings.qr = t.elapsed();
        let t = Instant::now();
        let image = ticket::render_with_qr(face, self.paper, qr.as_ref())
            .map_err(|e| PrinterProblem::Error(format!("cannot lay out the ticket: {e}")))?;
        timings.render = t.elapsed();
        let t = Instant::now();
        let job = self.encode_and_preview(&image);
        timings.encode = t.elapsed();
        let t = Instant::now();
        let result = self.printer.print(&job).map(|_| ());
        timings.write = t.elapsed();
        result
    }

    fn encode_and_preview(&self, image: &Bitmap) -> Vec<u8> {
        if let Some(path) = &self.preview
            && let Err(e) = image.write_png(path)
        {
            // The preview is for people setting the kiosk up; the ticket still prints.
            tracing::warn!(path = %path.display(), error = %e, "cannot write the preview");
        }
        escpos::encode(image)
    }
}

impl Dispenser for NetDispenser {
    fn dispense(&self, request: &Request) -> Outcome {
        self.dispense_timed(request).0
    }

    fn printer_status(&self) -> PrinterStatus {
        self.printer.status()
    }
}
