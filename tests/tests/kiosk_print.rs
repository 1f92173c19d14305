//! The kiosk's issuing and printing against the real server: what is printed is what the
//! preview shows, a lost reply never makes two tickets or two prints, a printer out of paper
//! still gives the citizen the number, and a server out of reach prints nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use luot_kiosk::cli::{IssueArgs, PrinterArgs, run_issue};
use luot_kiosk::client::RetryPolicy;
use luot_kiosk::dispense::{Dispenser, Outcome, PrinterProblem, Request};
use luot_kiosk::escpos::{self, status_answers};
use luot_kiosk::net::NetDispenser;
use luot_kiosk::printer::{Printer, Target};
use luot_kiosk::raster::Bitmap;
use luot_kiosk::ticket::{self, CenterInfo, Language, Paper, TicketFace};
use luot_shared::StateView;
use luot_shared::protocol::{Role, TicketView};
use luot_tests::kiosk::{FakePrinter, Loss, LossyProxy};
use luot_tests::{ServerOptions, TestServer};

fn kiosk_server() -> TestServer {
    TestServer::start(ServerOptions::new().token("kiosk", Role::Kiosk, None))
}

/// The server's state, read over HTTP on a runtime of its own (the tests are blocking, as
/// the kiosk's worker thread is).
fn state(server: &TestServer) -> StateView {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(server.api_as("kiosk").state())
}

fn waiting(state: &StateView) -> u32 {
    state.services.iter().map(|s| s.waiting).sum()
}

fn printed(path: &Path) -> Vec<Bitmap> {
    let bytes = std::fs::read(path).expect("the printer file exists");
    escpos::decode(&bytes)
        .expect("the printer file is ESC/POS")
        .tickets
}

fn request(service: &str) -> Request {
    Request {
        service: service.into(),
        priority: None,
        english: false,
    }
}

/// Short bounds, so a test of an unreachable server ends in a second.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_millis(1500),
        total: Duration::from_secs(4),
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
    }
}

/// The image the kiosk must have printed for `ticket` issued through `base`.
fn expected_image(ticket: &TicketView, state: &StateView, base: &str, paper: Paper) -> Bitmap {
    let face = TicketFace::new(
        ticket,
        &CenterInfo::from_state(state),
        base,
        Language::Vietnamese,
    );
    ticket::render(&face, paper).expect("render")
}

/// `issue` with a `file:` printer prints one ticket whose decoded image is the `--preview`
/// PNG, exactly the paper's width, and writes the server's number on stdout.
#[test]
fn issued_ticket_prints_what_the_preview_shows() {
    let server = kiosk_server();
    let dir = tempfile::tempdir().expect("tempdir");
    for (paper, service) in [(Paper::Mm80, "tnmt"), (Paper::Mm58, "ldtbxh")] {
        let job = dir.path().join(format!("printer-{paper}.bin"));
        let preview = dir.path().join(format!("preview-{paper}.png"));
        let args = IssueArgs {
            server: server.base_url().to_owned(),
            token: server.token("kiosk"),
            service: service.into(),
            priority: Some(luot_shared::Priority::Elderly),
            lang: Language::Vietnamese,
            request_id: None,
            printer: PrinterArgs {
                printer: Target::File(job.clone()),
                paper,
                preview: Some(preview.clone()),
            },
        };
        let mut out = Vec::new();
        run_issue(&args, &mut out).expect("issued and printed");
        let number = String::from_utf8(out).expect("utf-8").trim().to_owned();

        let tickets = printed(&job);
        assert_eq!(tickets.len(), 1, "one ticket printed");
        let png = Bitmap::read_png(&std::fs::read(&preview).expect("preview")).expect("png");
        assert_eq!(tickets[0], png, "the printed image is the preview");
        assert_eq!(png.width(), paper.dots());

        let state = state(&server);
        let field = state
            .services
            .iter()
            .find(|s| s.id == service)
            .expect("field");
        assert_eq!(field.waiting, 1);
        assert_eq!(field.next[0].number, number, "stdout has the issued number");
    }
}

/// A reply lost after the server issued, then a retry with the same request_id: one ticket
/// on the server and one printed, and the print is of that ticket.
#[test]
fn dropped_reply_then_retry_gives_one_ticket_and_one_print() {
    let server = kiosk_server();
    let dir = tempfile::tempdir().expect("tempdir");
    for (loss, service) in [(Loss::Drop, "tnmt"), (Loss::Hold, "ldtbxh")] {
        let proxy = LossyProxy::start(&server.address(), 1, loss);
        let job = dir.path().join(format!("printer-{loss:?}.bin"));
        let dispenser = NetDispenser::new(
            &proxy.base_url(),
            &server.token("kiosk"),
            Printer::new(Target::File(job.clone())),
            Paper::Mm80,
            None,
        )
        .and_then(|d| d.with_retry(quick_retry()))
        .expect("dispenser");
        let outcome = dispenser.dispense(&request(service));
        let Outcome::Printed { ticket } = outcome else {
            panic!("{loss:?}: not printed: {outcome:?}")
        };
        assert_eq!(proxy.lost(), 1, "{loss:?}: the first reply was lost");

        let state = state(&server);
        let field = state
            .services
            .iter()
            .find(|s| s.id == service)
            .expect("field");
        assert_eq!(field.waiting, 1, "{loss:?}: one ticket, not two");
        assert_eq!(field.next[0].number, ticket.number);
        let tickets = printed(&job);
        assert_eq!(tickets.len(), 1, "{loss:?}: one print");
        assert_eq!(
            tickets[0],
            expected_image(&ticket, &state, &proxy.base_url(), Paper::Mm80),
            "{loss:?}: the print is of the issued ticket"
        );
    }
    assert_eq!(waiting(&state(&server)), 2);
}

/// A network printer that answers DLE EOT with paper out (then cover open) gets no job,
/// the ticket is still issued and its number comes back for the screen; once it is fine the
/// next ticket prints on it.
#[test]
fn printer_out_of_paper_still_gives_the_number() {
    let server = kiosk_server();
    let printer = FakePrinter::start(Some(status_answers(true, false, false, false)));
    let target: Target = printer.target().parse().expect("target");
    let dispenser = NetDispenser::new(
        server.base_url(),
        &server.token("kiosk"),
        Printer::new(target),
        Paper::Mm58,
        None,
    )
    .expect("dispenser");

    let status = dispenser.printer_status();
    assert!(status.answers_status);
    assert_eq!(status.problem, Some(PrinterProblem::PaperOut));

    let outcome = dispenser.dispense(&request("tnmt"));
    let Outcome::NotPrinted { ticket, problem } = outcome else {
        panic!("expected NotPrinted, got {outcome:?}")
    };
    assert_eq!(problem, PrinterProblem::PaperOut);
    assert_eq!(ticket.number, "1001");
    let decoded = escpos::decode(&printer.received()).expect("decode");
    assert!(
        decoded.tickets.is_empty(),
        "nothing sent into an empty printer"
    );
    assert_eq!(decoded.uncut_rows, 0);
    assert_eq!(waiting(&state(&server)), 1, "the ticket is issued");

    printer.set_answers(Some(status_answers(false, false, true, false)));
    let outcome = dispenser.dispense(&request("tnmt"));
    assert!(
        matches!(&outcome, Outcome::NotPrinted { ticket, problem: PrinterProblem::CoverOpen } if ticket.number == "1002"),
        "{outcome:?}"
    );

    printer.set_answers(Some(status_answers(false, true, false, false)));
    let outcome = dispenser.dispense(&request("tnmt"));
    let Outcome::Printed { ticket } = outcome else {
        panic!("expected Printed, got {outcome:?}")
    };
    assert_eq!(ticket.number, "1003");
    assert!(dispenser.printer_status().paper_low, "near end is reported");
    let state = state(&server);
    let decoded = escpos::decode(&printer.received()).expect("decode");
    assert_eq!(
        decoded.tickets,
        vec![expected_image(
            &ticket,
            &state,
            server.base_url(),
            Paper::Mm58
        )]
    );
}

/// A server out of reach: Unreachable within the retry bound, nothing printed, the printer
/// file never created; a refusal (unknown field) prints nothing either.
#[test]
fn unreachable_or_refused_prints_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("printer.bin");
    // Bound and closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let dispenser = NetDispenser::new(
        &format!("http://127.0.0.1:{port}"),
        "no-server",
        Printer::new(Target::File(job.clone())),
        Paper::Mm80,
        None,
    )
    .and_then(|d| d.with_retry(quick_retry()))
    .expect("dispenser");
    let started = Instant::now();
    let outcome = dispenser.dispense(&request("tnmt"));
    assert!(
        matches!(outcome, Outcome::Unreachable { .. }),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!job.exists(), "the printer file is untouched");

    let server = kiosk_server();
    let dispenser = NetDispenser::new(
        server.base_url(),
        &server.token("kiosk"),
        Printer::new(Target::File(job.clone())),
        Paper::Mm80,
        None,
    )
    .expect("dispenser");
    let outcome = dispenser.dispense(&request("no-such-field"));
    assert!(
        matches!(&outcome, Outcome::Refused { message } if !message.is_empty()),
        "{outcome:?}"
    );
    assert!(!job.exists(), "a refusal prints nothing");
    assert_eq!(waiting(&state(&server)), 0);
}

/// Every reply of a touch lost (the server slow or the link cut after the server took it):
/// the kiosk says the ticket may have been issued, prints nothing, and the same choice again
/// brings back that ticket — never a second one.
#[test]
fn an_unanswered_touch_is_taken_up_by_the_same_choice() {
    let server = kiosk_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = LossyProxy::start(&server.address(), usize::MAX, Loss::Drop);
    let job = dir.path().join("printer.bin");
    let dispenser = NetDispenser::new(
        &proxy.base_url(),
        &server.token("kiosk"),
        Printer::new(Target::File(job.clone())),
        Paper::Mm80,
        None,
    )
    .and_then(|d| d.with_retry(quick_retry()))
    .expect("dispenser");
    let outcome = dispenser.dispense(&request("tckh"));
    let Outcome::Unreachable { message } = outcome else {
        panic!("every reply was lost, yet: {outcome:?}")
    };
    assert!(message.contains("may have been issued"), "{message}");
    assert!(dispenser.has_unanswered());
    assert!(proxy.lost() >= 1);
    assert!(!job.exists(), "nothing printed");
    let taken = state(&server);
    let field = taken
        .services
        .iter()
        .find(|s| s.id == "tckh")
        .expect("field");
    assert_eq!(field.waiting, 1, "the server took the first attempt");
    let issued = field.next[0].number.clone();

    proxy.stop_losing();
    let Outcome::Printed { ticket } = dispenser.dispense(&request("tckh")) else {
        panic!("the second touch did not print")
    };
    assert_eq!(ticket.number, issued, "the same ticket, not a second one");
    assert!(!dispenser.has_unanswered());
    assert_eq!(printed(&job).len(), 1);
    let field_after = state(&server);
    let field_after = field_after
        .services
        .iter()
        .find(|s| s.id == "tckh")
        .expect("field");
    assert_eq!(field_after.waiting, 1, "still one ticket");
}
