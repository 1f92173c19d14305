//! The commands without the touch UI: `luot-kiosk issue` (a dispenser with physical buttons,
//! scripts, installers) and `luot-kiosk print-test`, and [`PrinterArgs`], which the touch UI
//! flattens into its own flags.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use luot_shared::Priority;

use crate::dispense::{Outcome, Request};
use crate::escpos;
use crate::net::NetDispenser;
use crate::printer::{Printer, Target};
use crate::ticket::{self, Language, Paper};

/// Where and on what the kiosk prints.
#[derive(Debug, Clone, clap::Args)]
pub struct PrinterArgs {
    /// The printer: `usb:/dev/usb/lp0`, `tcp:HOST:9100` or `file:PATH` (appends each job).
    #[arg(long, env = "LUOT_PRINTER")]
    pub printer: Target,
    /// Paper width in mm: 80 (576 dots) or 58 (384 dots).
    #[arg(long, env = "LUOT_PAPER", default_value = "80")]
    pub paper: Paper,
    /// Also write each printed image to this PNG file.
    #[arg(long)]
    pub preview: Option<PathBuf>,
}

impl PrinterArgs {
    /// The printer these flags name, with the default timeouts.
    pub fn printer(&self) -> Printer {
        Printer::new(self.printer.clone())
    }
}

/// `luot-kiosk issue`: issue one ticket and print it; the number goes to stdout.
#[derive(Debug, Clone, clap::Args)]
pub struct IssueArgs {
    /// The server's base URL, e.g. `http://192.168.1.10:8080`.
    #[arg(long, env = "LUOT_SERVER")]
    pub server: String,
    /// A kiosk token (`luot-server token create --role kiosk`).
    #[arg(long, env = "LUOT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The service field id, e.g. `tnmt`.
    #[arg(long)]
    pub service: String,
    /// A priority category: elderly, disability, pregnant, young_child, meritorious.
    #[arg(long, value_parser = parse_priority)]
    pub priority: Option<Priority>,
    /// Language of the ticket's words: vi or en.
    #[arg(long, default_value = "vi", value_parser = parse_language)]
    pub lang: Language,
    /// The idempotency key of this press (1–64 letters, digits, `-`, `_`): a script that got
    /// exit status 5 (no answer; maybe issued) runs again with the same key and gets the same
    /// ticket, never a second. Default: a fresh random key.
    #[arg(long, value_parser = parse_request_id)]
    pub request_id: Option<String>,
    /// The printer.
    #[command(flatten)]
    pub printer: PrinterArgs,
}

/// How `luot-kiosk issue` failed, as its exit status tells a script.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct IssueFailure {
    /// 2 refused (nothing issued), 3 server not reached (nothing issued), 4 issued but not
    /// printed (the number is on stdout), 5 no answer: maybe issued — run again with the same
    /// `--request-id`.
    pub status: u8,
    /// What happened.
    pub message: String,
}

fn parse_request_id(s: &str) -> Result<String, String> {
    if (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(s.to_owned())
    } else {
        Err("a request id is 1 to 64 letters, digits, '-' or '_'".into())
    }
}

/// `luot-kiosk print-test`: print a sheet with every Vietnamese letter and a QR code.
#[derive(Debug, Clone, clap::Args)]
pub struct PrintTestArgs {
    /// The printer.
    #[command(flatten)]
    pub printer: PrinterArgs,
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!("unknown priority {s:?}: elderly, disability, pregnant, young_child or meritorious")
    })
}

fn parse_language(s: &str) -> Result<Language, String> {
    match s {
        "vi" => Ok(Language::Vietnamese),
        "en" => Ok(Language::English),
        _ => Err(format!("language is vi or en, not {s:?}")),
    }
}

/// Issues and prints one ticket and writes its number as one line to `out`.
///
/// # Errors
///
/// When the server refuses or cannot be reached (nothing issued, nothing printed), or when
/// the ticket was issued but not printed (the number is written to `out` first).
pub fn run_issue(args: &IssueArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let dispenser =
        NetDispenser::from_args(&args.server, &args.token, &args.printer)?.with_language(args.lang);
    let request = Request {
        service: args.service.clone(),
        priority: args.priority,
        english: args.lang == crate::ticket::Language::English,
    };
    let outcome = match &args.request_id {
        Some(id) => dispenser.dispense_with_id(&request, id).0,
        None => crate::dispense::Dispenser::dispense(&dispenser, &request),
    };
    let fail = |status, message| Err(IssueFailure { status, message }.into());
    match outcome {
        Outcome::Printed { ticket } => {
            writeln!(out, "{}", ticket.number)?;
            Ok(())
        }
        Outcome::NotPrinted { ticket, problem } => {
            writeln!(out, "{}", ticket.number)?;
            fail(
                4,
                format!(
                    "ticket {} was issued but not printed on {}: {problem:?}",
                    ticket.number, args.printer.printer
                ),
            )
        }
        Outcome::Refused { message } => fail(2, format!("the server refused: {message}")),
        Outcome::Unreachable { message } if dispenser.has_unanswered() => fail(5, message),
        Outcome::Unreachable { message } => fail(3, message),
    }
}

/// Prints the test sheet ([`ticket::test_sheet`]) and says where on `out`.
///
/// # Errors
///
/// When the printer reports a problem or cannot be written.
pub fn run_print_test(args: &PrintTestArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let image = ticket::test_sheet(args.printer.paper)?;
    if let Some(path) = &args.printer.preview {
        image
            .write_png(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let printer = args.printer.printer();
    match printer.print(&escpos::encode(&image)) {
        Ok(status) => {
            writeln!(
                out,
                "printed the test sheet ({} × {} dots) on {}{}",
                image.width(),
                image.height(),
                printer.target(),
                if status.paper_low {
                    "; the paper roll is nearly at its end"
                } else {
                    ""
                }
            )?;
            Ok(())
        }
        Err(problem) => bail!("cannot print on {}: {problem:?}", printer.target()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    enum Commands {
        Issue(IssueArgs),
        PrintTest(PrintTestArgs),
    }

    /// The commands parse their flags, with clear errors for a bad printer or paper.
    #[test]
    fn flags_parse() {
        let c = Commands::try_parse_from([
            "luot-kiosk",
            "issue",
            "--server",
            "http://127.0.0.1:8080",
            "--token",
            "t",
            "--service",
            "tnmt",
            "--priority",
            "young_child",
            "--printer",
            "tcp:10.0.0.5",
            "--paper",
            "58",
        ])
        .unwrap();
        let Commands::Issue(issue) = c else {
            panic!("not issue")
        };
        assert_eq!(issue.priority, Some(Priority::YoungChild));
        assert_eq!(issue.printer.paper, Paper::Mm58);
        assert_eq!(issue.lang, Language::Vietnamese);
        assert_eq!(issue.printer.printer.to_string(), "tcp:10.0.0.5:9100");

        let bad = Commands::try_parse_from(["luot-kiosk", "print-test", "--printer", "lp0"])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("usb:/dev/usb/lp0"), "{bad}");
        let bad = Commands::try_parse_from([
            "luot-kiosk",
            "print-test",
            "--printer",
            "file:x",
            "--paper",
            "76",
        ])
        .unwrap_err()
        .to_string();
        assert!(bad.contains("80 or 58"), "{bad}");
    }

    /// print-test writes a decodable job of every letter to a file printer and the same
    /// image to the preview.
    #[test]
    fn print_test_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.bin");
        let preview = dir.path().join("sheet.png");
        let args = PrintTestArgs {
            printer: PrinterArgs {
                printer: Target::File(job.clone()),
                paper: Paper::Mm58,
                preview: Some(preview.clone()),
            },
        };
        let mut out = Vec::new();
        run_print_test(&args, &mut out).unwrap();
        let decoded = escpos::decode(&std::fs::read(&job).unwrap()).unwrap();
        assert_eq!(decoded.tickets.len(), 1);
        let png = crate::raster::Bitmap::read_png(&std::fs::read(&preview).unwrap()).unwrap();
        assert_eq!(decoded.tickets[0], png);
        assert_eq!(png.width(), 384);
        assert!(String::from_utf8(out).unwrap().contains("file:"));
    }
}
