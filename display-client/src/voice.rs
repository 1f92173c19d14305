//! Voices that turn the call's words into a clip: espeak-ng run as a subprocess, or a folder
//! of recorded clips (digits, number words and phrases) for centers that want a human voice.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use unicode_normalization::UnicodeNormalization;

use crate::audio::{Clip, RATE};

/// Longest an espeak-ng run may take before it is given up (a call takes ~30 ms).
const SYNTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest WAV accepted from espeak-ng or a clip file: a minute of 16-bit audio at 48 kHz.
const MAX_WAV: u64 = 6 * 1024 * 1024;
/// espeak-ng speaks at full scale; bring it to the chime's level with a little headroom.
const SPEECH_PEAK: f32 = 0.8;
/// Pause between recorded clips.
const CLIP_GAP: Duration = Duration::from_millis(60);

/// Why a voice could not speak.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// espeak-ng is not installed or failed.
    #[error("espeak-ng: {0}")]
    Espeak(String),
    /// A word has no recorded clip.
    #[error("no recorded clip for {0:?}")]
    MissingClip(String),
    /// A clip or the synthesizer's output is not a WAV file we can read.
    #[error("bad audio {0}: {1}")]
    BadAudio(String, String),
}

/// Turns words into speech.
pub trait Voice: Send {
    /// The clip saying `words` (already NFC); its label is the sentence.
    fn speak(&mut self, words: &[String]) -> Result<Clip, VoiceError>;
}

/// espeak-ng with a Vietnamese voice (`vi`, `vi-vn-x-central`, `vi-vn-x-south`).
#[derive(Debug, Clone)]
pub struct Espeak {
    program: PathBuf,
    voice: String,
    /// Words per minute.
    speed: u32,
}

impl Espeak {
    /// espeak-ng from `PATH` with `voice`, checked by running it once.
    pub fn new(voice: &str) -> Result<Espeak, VoiceError> {
        let espeak = Espeak {
            program: PathBuf::from("espeak-ng"),
            voice: voice.into(),
            speed: 140,
        };
        espeak.synthesize("một")?;
        Ok(espeak)
    }

    fn synthesize(&self, text: &str) -> Result<Clip, VoiceError> {
        let mut child = Command::new(&self.program)
            .args(["-v", &self.voice, "-s", &self.speed.to_string(), "--stdout"])
            .arg(text)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| VoiceError::Espeak(format!("cannot run it: {e}")))?;
        // Read in a thread so a hung synthesizer is given up after the timeout.
        let stdout = child.stdout.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut wav = Vec::new();
            let read = stdout.map(|out| out.take(MAX_WAV).read_to_end(&mut wav));
            let _ = tx.send(read.map(|r| r.map(|_| wav)));
        });
        let wav = match rx.recv_timeout(SYNTH_TIMEOUT) {
            Ok(Some(Ok(wav))) => wav,
            Ok(Some(Err(e))) => return Err(VoiceError::Espeak(e.to_string())),
            Ok(None) => Vec::new(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VoiceError::Espeak("timed out".into()));
            }
        };
        let status = child
            .wait()
            .map_err(|e| VoiceError::Espeak(e.to_string()))?;
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(VoiceError::Espeak(format!("{status}: {}", err.trim())));
        }
        let mut wav = wav;
        fix_streamed_wav(&mut wav);
        let mut clip = Clip::from_wav(text, &wav)
            .map_err(|e| VoiceError::BadAudio("espeak-ng".into(), e.to_string()))?;
        clip.normalize(SPEECH_PEAK);
        Ok(clip)
    }
}

impl Voice for Espeak {
    fn speak(&mut self, words: &[String]) -> Result<Clip, VoiceError> {
        self.synthesize(&words.join(" "))
    }
}

/// espeak-ng writes its WAV to a pipe before it knows the length, so the header claims
/// ~2 GiB: set the RIFF and `data` sizes to what actually arrived.
fn fix_streamed_wav(wav: &mut [u8]) {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return;
    }
    let riff = u32::try_from(wav.len() - 8).unwrap_or(u32::MAX);
    wav[4..8].copy_from_slice(&riff.to_le_bytes());
    let mut pos = 12;
    while pos + 8 <= wav.len() {
        let size = u32::from_le_bytes([wav[pos + 4], wav[pos + 5], wav[pos + 6], wav[pos + 7]]);
        if &wav[pos..pos + 4] == b"data" {
            let actual = u32::try_from(wav.len() - pos - 8).unwrap_or(u32::MAX);
            wav[pos + 4..pos + 8].copy_from_slice(&actual.min(size).to_le_bytes());
            return;
        }
        pos += 8 + size as usize + (size as usize & 1);
    }
}

/// A folder of WAV clips: one per word (`một.wav`, `quầy.wav`) or per phrase, its words
/// joined by `_` (`mời_công_dân_có_số.wav`); the longest phrase that matches is used.
#[derive(Debug, Clone)]
pub struct RecordedClips {
    clips: HashMap<String, Clip>,
    longest: usize,
}

impl RecordedClips {
    /// Loads every `.wav` in `dir`.
    pub fn load(dir: &Path) -> Result<RecordedClips, VoiceError> {
        let bad = |e: &dyn std::fmt::Display| {
            VoiceError::BadAudio(dir.display().to_string(), e.to_string())
        };
        let mut clips = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| bad(&e))? {
            let path = entry.map_err(|e| bad(&e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wav") {
                continue;
            }
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let size = std::fs::metadata(&path).map_err(|e| bad(&e))?.len();
            if size > MAX_WAV {
                return Err(bad(&format!(
                    "{} is larger than {MAX_WAV} bytes",
                    path.display()
                )));
            }
            let bytes = std::fs::read(&path).map_err(|e| bad(&e))?;
            let key = phrase_key(&stem.replace('_', " "));
            let clip = Clip::from_wav(&key, &bytes)
                .map_err(|e| bad(&format!("{}: {e}", path.display())))?;
            clips.insert(key, clip);
        }
        let longest = clips
            .keys()
            .map(|k| k.split(' ').count())
            .max()
            .unwrap_or(0);
        Ok(RecordedClips { clips, longest })
    }
}

fn phrase_key(text: &str) -> String {
    let text: String = text.nfc().collect();
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Voice for RecordedClips {
    fn speak(&mut self, words: &[String]) -> Result<Clip, VoiceError> {
        let words: Vec<String> = words.iter().map(|w| phrase_key(w)).collect();
        let gap = Clip::silence("gap", CLIP_GAP);
        let mut parts = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let found = (1..=self.longest.min(words.len() - i)).rev().find_map(|n| {
                let key = words[i..i + n].join(" ");
                self.clips.get(&key).map(|clip| (n, clip))
            });
            let Some((n, clip)) = found else {
                return Err(VoiceError::MissingClip(words[i].clone()));
            };
            parts.push(clip.clone());
            parts.push(gap.clone());
            i += n;
        }
        let mut clip = Clip::concat(&words.join(" "), &parts);
        clip.rate = RATE;
        Ok(clip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(label: &str, secs: f32) -> Clip {
        let n = (secs * RATE as f32) as usize;
        Clip {
            label: label.into(),
            rate: RATE,
            samples: (0..n).map(|i| (i as f32 * 0.05).sin() * 0.5).collect(),
        }
    }

    /// Recorded clips prefer the longest phrase and fail clearly on a word without a clip.
    #[test]
    fn recorded_clips_pick_the_longest_phrase() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (name, secs) in [
            ("mời_công_dân", 0.5),
            ("mời", 0.1),
            ("công", 0.1),
            ("dân", 0.1),
            ("ba", 0.2),
        ] {
            tone(name, secs)
                .write_wav(&dir.path().join(format!("{name}.wav")))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut voice = RecordedClips::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let words: Vec<String> = ["Mời", "công", "dân", "ba"].map(String::from).into();
        let clip = voice.speak(&words).unwrap_or_else(|e| panic!("{e}"));
        // 0.5 + 0.2 seconds of clips and two gaps.
        let secs = clip.duration().as_secs_f32();
        assert!((0.80..0.86).contains(&secs), "{secs}");
        let missing = voice.speak(&["bốn".to_string()]);
        assert!(matches!(missing, Err(VoiceError::MissingClip(w)) if w == "bốn"));
    }

    /// espeak-ng speaks the call when installed (it is in CI); the clip is seconds long.
    #[test]
    fn espeak_speaks_vietnamese() {
        let mut voice = match Espeak::new("vi") {
            Ok(v) => v,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: espeak-ng with a vi voice is not available ({e})");
                return;
            }
            Err(e) => panic!("espeak-ng must be installed in CI: {e}"),
        };
        let words = crate::speech::call_words(crate::speech::DEFAULT_TEMPLATE, "1005", 3);
        let clip = voice.speak(&words).unwrap_or_else(|e| panic!("{e}"));
        let secs = clip.duration().as_secs_f32();
        assert!((1.5..8.0).contains(&secs), "{secs}");
    }
}
