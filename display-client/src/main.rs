//! `luot-display`: the lobby TV client. See the README's "Lobby display" section.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use luot_display::announcer::{AnnounceSettings, Announcer, call_clips};
use luot_display::app::{DisplayApp, Geometry, ScreenshotJob, ScreenshotResult};
use luot_display::audio::{AudioOut, Clip, MuteOut, SpeakerOut};
use luot_display::link::{self, LinkConfig, Shared};
use luot_display::speech::check_template;
use luot_display::voice::{Espeak, RecordedClips, Voice};
use luot_shared::follow::{Announcement, FollowConfig, Follower};
use tokio::sync::watch;

/// The lobby display of Lượt: shows and announces every call.
#[derive(Debug, Parser)]
#[command(name = "luot-display", version)]
struct Args {
    /// A TOML file of these flags (each key a flag without `--`, e.g. `server = "http://…"`,
    /// `token = "…"`); flags on the command line win. The packaged service reads
    /// /etc/luot/display.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Server base URL.
    #[arg(long, env = "LUOT_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The display's device token (`luot-server token create --role display`).
    #[arg(long, env = "LUOT_TOKEN")]
    token: Option<String>,
    /// Window size and position, e.g. 1920x1080+0+0 (default: the whole monitor).
    #[arg(long)]
    window: Option<Geometry>,
    /// Connect, draw the current state, write it to this PNG and exit.
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// Longest wait for the server's state with --screenshot, in seconds.
    #[arg(long, default_value_t = 20)]
    screenshot_timeout: u64,
    /// Say this ticket number (with --counter) and exit.
    #[arg(long, value_name = "NUMBER")]
    say: Option<String>,
    /// The counter for --say.
    #[arg(long, default_value_t = 1)]
    counter: u32,
    /// With --say: write the announcement to this WAV file instead of playing it.
    #[arg(long, value_name = "WAV")]
    wav: Option<PathBuf>,
    /// Voice: espeak-ng (default), a folder of recorded clips, or none (chime only).
    #[arg(long, default_value = "espeak")]
    voice: VoiceKind,
    /// espeak-ng voice: vi, vi-vn-x-central, vi-vn-x-south.
    #[arg(long, default_value = "vi")]
    espeak_voice: String,
    /// Folder of recorded clips for --voice clips.
    #[arg(long)]
    clips: Option<PathBuf>,
    /// The sentence; {number} is spelled digit by digit, {counter} read as a number.
    #[arg(long, default_value = luot_display::speech::DEFAULT_TEMPLATE)]
    template: String,
    /// How many times the sentence is said after the chime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=5))]
    repeat: u32,
    /// Calls missed while offline are announced only when younger than this (seconds).
    #[arg(long, default_value_t = 120)]
    announce_within: i64,
    /// No sound at all.
    #[arg(long)]
    mute: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Checks this TV's machine: the server and the token, the sound device and the voice;
    /// says what to fix (Vietnamese and English).
    Doctor {
        /// Also play the test announcement on the speaker.
        #[arg(long)]
        play: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum VoiceKind {
    Espeak,
    Clips,
    None,
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
        &<Args as clap::CommandFactory>::command(),
    )?;
    let args = Args::parse_from(argv);
    if let Some(Cmd::Doctor { play }) = &args.command {
        return doctor(&args, *play);
    }
    check_template(&args.template).map_err(anyhow::Error::msg)?;
    let settings = AnnounceSettings {
        template: args.template.clone(),
        repeat: args.repeat,
        ..AnnounceSettings::default()
    };
    if let Some(number) = &args.say {
        return say(&args, &settings, number);
    }
    let Some(token) = args.token.clone() else {
        bail!(
            "--token (or LUOT_TOKEN) is required: create one with `luot-server token create --role display`"
        );
    };
    run_screen(&args, settings, &token)
}

fn doctor(args: &Args, play: bool) -> anyhow::Result<()> {
    use luot_display::doctor::{self, VoiceChoice};
    let mut findings = vec![doctor::server_and_token(
        &args.server,
        args.token.as_deref(),
        "display",
    )];
    let choice = match args.voice {
        VoiceKind::Espeak => VoiceChoice::Espeak(args.espeak_voice.clone()),
        VoiceKind::Clips => VoiceChoice::Clips(args.clips.clone()),
        VoiceKind::None => VoiceChoice::None,
    };
    let (voice, clip) = doctor::voice(&choice, "Mời số 1005 đến quầy số 3");
    findings.push(voice);
    if args.mute {
        findings.push(doctor::Finding::bad(
            doctor::Verdict::Warn,
            "Màn hình đang tắt tiếng (mute).",
            "The screen is muted.",
            "bỏ mute = true khỏi tệp cấu hình",
            "remove mute = true from the configuration file",
        ));
    } else {
        findings.push(doctor::sound(if play { clip.as_ref() } else { None }));
    }
    let text = doctor::render(&findings);
    let mut stdout = std::io::stdout();
    let _ = std::io::Write::write_all(&mut stdout, text.as_bytes());
    if doctor::failed(&findings) {
        bail!("the checks above found something to fix / có lỗi cần sửa ở trên");
    }
    Ok(())
}

fn open_voice(args: &Args) -> Option<Box<dyn Voice>> {
    let voice: Result<Box<dyn Voice>, String> = match args.voice {
        VoiceKind::None => return None,
        VoiceKind::Espeak => Espeak::new(&args.espeak_voice)
            .map(|v| Box::new(v) as Box<dyn Voice>)
            .map_err(|e| e.to_string()),
        VoiceKind::Clips => match &args.clips {
            None => Err("--voice clips needs --clips DIR".into()),
            Some(dir) => RecordedClips::load(dir)
                .map(|v| Box::new(v) as Box<dyn Voice>)
                .map_err(|e| e.to_string()),
        },
    };
    match voice {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "no voice; calls get the chime only");
            None
        }
    }
}

fn open_output(mute: bool) -> Box<dyn AudioOut> {
    if mute {
        return Box::new(MuteOut);
    }
    match SpeakerOut::open() {
        Ok(out) => Box::new(out),
        Err(e) => {
            tracing::warn!(error = %e, "no sound device; calls are shown only");
            Box::new(MuteOut)
        }
    }
}

fn say(args: &Args, settings: &AnnounceSettings, number: &str) -> anyhow::Result<()> {
    if number.is_empty()
        || number.chars().count() > 16
        || !number.chars().all(|c| c.is_alphanumeric())
    {
        bail!("--say takes a ticket number of letters and digits, e.g. 1005");
    }
    let call = Announcement {
        ticket: 0,
        number: number.to_string(),
        counter: args.counter,
        service: String::new(),
        recall: false,
        at: Timestamp::now(),
        seq: None,
    };
    let mut voice = open_voice(args);
    let clips = call_clips(settings, voice.as_deref_mut(), &call);
    match &args.wav {
        Some(path) => {
            let all = Clip::concat("announcement", &clips);
            all.write_wav(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), seconds = all.duration().as_secs_f32(), "written");
        }
        None => {
            let mut out = open_output(args.mute);
            for clip in &clips {
                out.play(clip)?;
            }
        }
    }
    Ok(())
}

fn run_screen(args: &Args, settings: AnnounceSettings, token: &str) -> anyhow::Result<()> {
    let follow = FollowConfig {
        announce_within: SignedDuration::from_secs(args.announce_within.max(0)),
        ..FollowConfig::default()
    };
    let shared = Shared::new(Follower::new(follow));
    let screenshot = args.screenshot.is_some();
    // A screenshot run says nothing.
    let voice = if screenshot { None } else { open_voice(args) };
    let mute = args.mute || screenshot;
    let announcer = Announcer::spawn(settings, voice, move || open_output(mute));
    let egui_ctx: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
    let repaint_ctx = egui_ctx.clone();
    let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        if let Some(ctx) = repaint_ctx.get() {
            ctx.request_repaint();
        }
    });
    let (stop, stopped) = watch::channel(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let link = runtime.spawn(link::run(
        LinkConfig::new(&args.server, token),
        shared.clone(),
        announcer.sender(),
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
    let shot = args.screenshot.clone().map(|path| {
        (
            ScreenshotJob {
                path,
                timeout: Duration::from_secs(args.screenshot_timeout),
            },
            result.clone(),
        )
    });
    let explicit = args.window.is_some();
    let app_shared = shared.clone();
    eframe::run_native(
        "luot-display",
        options,
        Box::new(move |cc| {
            let _ = egui_ctx.set(cc.egui_ctx.clone());
            Ok(Box::new(DisplayApp::new(
                &cc.egui_ctx,
                app_shared,
                explicit,
                shot,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    let _ = stop.send(true);
    let _ = runtime.block_on(link);
    if screenshot {
        let outcome = result.lock().map(|r| r.clone()).unwrap_or(None);
        match outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => bail!("screenshot failed: {e}"),
            None => bail!("the window closed before the screenshot"),
        }
    } else {
        announcer.finish();
    }
    Ok(())
}
