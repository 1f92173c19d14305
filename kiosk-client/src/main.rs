//! `luot-kiosk`: the citizen's touch menu (default), the counter's rating screen
//! (`--mode rating --counter N`), and commands that work without the screen.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use luot_display::app::{Geometry, ScreenshotJob, ScreenshotResult};
use luot_display::link::{self, LinkConfig, Shared};
use luot_display::voice::{Espeak, Voice};
use luot_kiosk::app::clock::SystemClock;
use luot_kiosk::app::demo::{DemoDispenser, DemoOutcome};
use luot_kiosk::app::notes::{self, Notes};
use luot_kiosk::app::window::{KioskApp, Screen, ShotPage, ShotPlan};
use luot_kiosk::app::{Kiosk, spawn_printer_watch};
use luot_kiosk::cli;
use luot_kiosk::dispense::Dispenser;
use luot_kiosk::net::NetDispenser;
use luot_kiosk::printer::Target;
use luot_kiosk::rating::{HttpRating, RatingDevice};
use luot_kiosk::ticket::Paper;
use luot_kiosk::voice_guide::{EspeakGuide, Guide, NoGuide};
use luot_shared::CounterId;
use luot_shared::follow::{FollowConfig, Follower};
use tokio::sync::watch;

/// The kiosk of Lượt: take a number, or rate a counter's service.
#[derive(Debug, Parser)]
#[command(name = "luot-kiosk", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Without a command: the touch screen.
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    screen: ScreenArgs,
}

/// Commands that run without the touch screen.
#[derive(Debug, Subcommand)]
enum Command {
    /// Issues one ticket and prints it; prints the number on stdout (a dispenser with
    /// physical buttons, scripts, installers).
    Issue(cli::IssueArgs),
    /// Prints a sample with every Vietnamese letter in every case, and a QR code.
    PrintTest(cli::PrintTestArgs),
    /// Checks this kiosk's machine: the server and the token, the printer's status and a
    /// test ticket, the voice guide; says what to fix (Vietnamese and English).
    Doctor(luot_kiosk::doctor::DoctorArgs),
    /// Says a sentence with the voice guide's voice (or writes it to a WAV file) and exits:
    /// checks espeak-ng and the sound card when installing a kiosk.
    VoiceTest {
        /// Write the sentence to this WAV file instead of playing it.
        #[arg(long, value_name = "WAV")]
        wav: Option<PathBuf>,
        /// espeak-ng voice.
        #[arg(long, default_value = "vi")]
        espeak_voice: String,
    },
}

/// What the screen is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The citizen's touch menu that issues tickets.
    Kiosk,
    /// The rating screen of one counter (`--counter N`).
    Rating,
}

/// The touch screen's arguments.
#[derive(Debug, Args)]
struct ScreenArgs {
    /// A TOML file of these flags (each key a flag without `--`, e.g. `printer =
    /// "usb:/dev/usb/lp0"`); flags on the command line win. Before a command
    /// (`--config FILE doctor`) it gives that command the keys it takes. The packaged
    /// service reads /etc/luot/kiosk.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The touch menu's printer: `usb:/dev/usb/lp0`, `tcp:HOST:9100` or `file:PATH`
    /// (required for the touch menu; a rating screen prints nothing).
    #[arg(long, env = "LUOT_PRINTER")]
    printer: Option<Target>,
    /// Paper width in mm: 80 (576 dots) or 58 (384 dots).
    #[arg(long, env = "LUOT_PAPER", default_value = "80")]
    paper: Paper,
    /// Also write each printed ticket to this PNG file.
    #[arg(long, value_name = "PNG")]
    preview: Option<PathBuf>,
    /// Server base URL.
    #[arg(long, env = "LUOT_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The device token (`luot-server token create --role kiosk`, with `--counter N` for a
    /// rating screen).
    #[arg(long, env = "LUOT_TOKEN")]
    token: Option<String>,
    /// The touch menu, or a counter's rating screen.
    #[arg(long, value_enum, default_value = "kiosk")]
    mode: Mode,
    /// The counter a rating screen belongs to (its token must be made with the same
    /// `--counter`).
    #[arg(long, required_if_eq("mode", "rating"))]
    counter: Option<CounterId>,
    /// Window size and position, e.g. 1080x1920+0+0 (default: the whole monitor).
    #[arg(long)]
    window: Option<Geometry>,
    /// Connect, go to `--screenshot-page`, write the screen to this PNG and exit.
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// The page `--screenshot` shows.
    #[arg(long, value_enum, default_value = "start")]
    screenshot_page: ShotPage,
    /// Longest wait for the page with --screenshot, in seconds.
    #[arg(long, default_value_t = 30)]
    screenshot_timeout: u64,
    /// Pretend to issue: show a made-up ticket with this outcome, print nothing, issue
    /// nothing (to look at the screens; never for citizens).
    #[arg(long, value_enum, value_name = "OUTCOME")]
    demo: Option<DemoOutcome>,
    /// espeak-ng voice of the voice guide.
    #[arg(long, default_value = "vi")]
    espeak_voice: String,
    /// No voice guide.
    #[arg(long)]
    mute: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let argv = luot_display::config_file::expand_args(
        std::env::args_os().collect(),
        &<Cli as clap::CommandFactory>::command(),
    )?;
    let cli = Cli::parse_from(argv);
    match cli.command {
        Some(Command::Issue(args)) => match cli::run_issue(&args, &mut std::io::stdout()) {
            Err(e) if e.downcast_ref::<cli::IssueFailure>().is_some() => {
                let status = e
                    .downcast_ref::<cli::IssueFailure>()
                    .map_or(1, |f| f.status);
                tracing::error!("{e:#}");
                std::process::exit(i32::from(status));
            }
            other => other,
        },
        Some(Command::PrintTest(args)) => cli::run_print_test(&args, &mut std::io::stdout()),
        Some(Command::VoiceTest { wav, espeak_voice }) => voice_test(wav, &espeak_voice),
        Some(Command::Doctor(args)) => {
            let findings = luot_kiosk::doctor::run(&args);
            let text = luot_display::doctor::render(&findings);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            if luot_display::doctor::failed(&findings) {
                bail!("the checks above found something to fix / có lỗi cần sửa ở trên");
            }
            Ok(())
        }
        None => run_screen(&cli.screen),
    }
}

fn voice_test(wav: Option<PathBuf>, voice: &str) -> anyhow::Result<()> {
    let mut espeak = Espeak::new(voice).context("espeak-ng with a Vietnamese voice")?;
    let text = "Xin chào. Đây là hướng dẫn bằng giọng nói của máy lấy số.".to_owned();
    let clip = espeak.speak(&[text]).context("espeak-ng")?;
    match wav {
        Some(path) => clip
            .write_wav(&path)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = luot_display::audio::SpeakerOut::open()?;
            luot_display::audio::AudioOut::play(&mut out, &clip)?;
        }
    }
    Ok(())
}

/// The dispenser of the touch menu: `--demo` pretends; otherwise the real one: issue over
/// HTTP with a `request_id` per touch, print on the printer of `--printer`.
fn dispenser(
    args: &ScreenArgs,
    token: &str,
    shared: &Shared,
) -> anyhow::Result<Arc<dyn Dispenser>> {
    if let Some(outcome) = args.demo {
        return Ok(Arc::new(DemoDispenser::new(shared.clone(), outcome)));
    }
    let Some(printer) = args.printer.clone() else {
        bail!(
            "--printer (or LUOT_PRINTER) is required for the touch menu: usb:/dev/usb/lp0, \
             tcp:HOST:9100 or file:PATH"
        );
    };
    let printer = cli::PrinterArgs {
        printer,
        paper: args.paper,
        preview: args.preview.clone(),
    };
    let dispenser = NetDispenser::from_args(&args.server, token, &printer)
        .context("cannot reach the server's address")?;
    Ok(Arc::new(dispenser))
}

fn run_screen(args: &ScreenArgs) -> anyhow::Result<()> {
    let Some(token) = args.token.clone() else {
        bail!(
            "--token (or LUOT_TOKEN) is required: create one with `luot-server token create --role kiosk`{}",
            if args.mode == Mode::Rating {
                " --counter N"
            } else {
                ""
            }
        );
    };
    let shared = Shared::new(Follower::new(FollowConfig::default()));
    let notes = Notes::new();
    let screenshot = args.screenshot.is_some();
    let egui_ctx: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
    let repaint_ctx = egui_ctx.clone();
    let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        if let Some(ctx) = repaint_ctx.get() {
            ctx.request_repaint();
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let clock = Arc::new(SystemClock);
    let stop_watch = Arc::new(AtomicBool::new(false));
    let (screen, link_repaint): (Screen, Arc<dyn Fn() + Send + Sync>) = match args.mode {
        Mode::Kiosk => {
            let dispenser = dispenser(args, &token, &shared)?;
            let guide: Arc<dyn Guide> = if args.mute {
                Arc::new(NoGuide("no voice guide on this kiosk".into()))
            } else {
                Arc::new(EspeakGuide::spawn(&args.espeak_voice, repaint.clone()))
            };
            let kiosk = Kiosk::new(
                shared.clone(),
                notes.clone(),
                dispenser.clone(),
                guide,
                clock,
            );
            spawn_printer_watch(
                dispenser,
                kiosk.printer_status(),
                kiosk.busy_flag(),
                Duration::from_secs(5),
                repaint.clone(),
                stop_watch.clone(),
            )?;
            (Screen::Kiosk(Box::new(kiosk)), repaint.clone())
        }
        Mode::Rating => {
            let counter = args.counter.unwrap_or(1);
            let sender = Arc::new(HttpRating::new(
                &args.server,
                &token,
                runtime.handle().clone(),
            ));
            let (device, feed) =
                RatingDevice::new(counter, shared.clone(), notes.clone(), sender, clock);
            let repaint = repaint.clone();
            let link_repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                feed.observe();
                repaint();
            });
            (Screen::Rating(Box::new(device)), link_repaint)
        }
    };

    let (stop, stopped) = watch::channel(false);
    // The kiosk announces nothing: the link's calls are taken and dropped.
    let (calls, mut heard) = tokio::sync::mpsc::channel(64);
    runtime.spawn(async move { while heard.recv().await.is_some() {} });
    let link = runtime.spawn(link::run(
        LinkConfig::new(&args.server, &token),
        shared,
        calls,
        link_repaint,
        stopped.clone(),
    ));
    runtime.spawn(notes::run(
        args.server.clone(),
        token,
        notes,
        repaint,
        stopped,
    ));

    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Lượt")
        .with_decorations(false);
    viewport = match args.window {
        Some(g) => viewport
            .with_inner_size([g.size.0 as f32, g.size.1 as f32])
            .with_position([g.position.0 as f32, g.position.1 as f32]),
        None => viewport.with_fullscreen(true),
    };
    let options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let result: ScreenshotResult = Arc::new(Mutex::new(None));
    let shot = args.screenshot.clone().map(|path| ShotPlan {
        job: ScreenshotJob {
            path,
            timeout: Duration::from_secs(args.screenshot_timeout),
        },
        page: args.screenshot_page,
        result: result.clone(),
    });
    let explicit = args.window.is_some();
    let mut screen = Some(screen);
    eframe::run_native(
        "luot-kiosk",
        options,
        Box::new(move |cc| {
            let _ = egui_ctx.set(cc.egui_ctx.clone());
            let screen = screen
                .take()
                .ok_or_else(|| anyhow::anyhow!("the window was created twice"))?;
            Ok(Box::new(KioskApp::new(
                &cc.egui_ctx,
                screen,
                explicit,
                shot,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    stop_watch.store(true, Ordering::SeqCst);
    let _ = stop.send(true);
    let _ = runtime.block_on(link);
    if screenshot {
        let outcome = result.lock().map(|r| r.clone()).unwrap_or(None);
        match outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => bail!("screenshot failed: {e}"),
            None => bail!("the window closed before the screenshot"),
        }
    }
    Ok(())
}
