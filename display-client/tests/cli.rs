//! The `luot-display` binary's offline commands: `--say … --wav` and refused arguments.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use luot_display::audio::Clip;

fn display() -> Command {
    Command::new(env!("CARGO_BIN_EXE_luot-display"))
}

fn espeak_available() -> bool {
    let found = Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must install espeak-ng"
        );
        eprintln!("skipped: espeak-ng is not installed");
    }
    found
}

fn wav_of(args: &[&str]) -> Clip {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let out = display()
        .args(args)
        .arg("--wav")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Clip::from_wav("call", &std::fs::read(&path).unwrap()).unwrap()
}

fn peak(clip: &Clip) -> f32 {
    clip.samples.iter().fold(0f32, |m, s| m.max(s.abs()))
}

/// `--say 1005 --counter 3 --wav` writes the chime and the sentence twice: seconds of sound, loud, not clipped.
#[test]
fn say_writes_the_announcement() {
    if !espeak_available() {
        return;
    }
    let clip = wav_of(&["--say", "1005", "--counter", "3"]);
    let secs = clip.duration().as_secs_f32();
    assert!((6.0..16.0).contains(&secs), "{secs} s");
    assert!((0.5..0.99).contains(&peak(&clip)), "{}", peak(&clip));
    let once = wav_of(&["--say", "1005", "--counter", "3", "--repeat", "1"]);
    assert!(once.duration() < clip.duration());
}

/// With no voice the announcement is the chime alone.
#[test]
fn say_without_a_voice_is_the_chime() {
    let clip = wav_of(&["--say", "1005", "--voice", "none"]);
    let secs = clip.duration().as_secs_f32();
    assert!((1.3..2.0).contains(&secs), "{secs} s");
}

/// A template without its placeholders, a bad window or no token are refused with a message.
#[test]
fn bad_arguments_are_refused() {
    for args in [
        vec!["--say", "1", "--template", "Mời số"],
        vec!["--window", "big"],
        vec!["--say", "10 05"],
        vec![],
    ] {
        let out = display()
            .args(&args)
            .env_remove("LUOT_TOKEN")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
