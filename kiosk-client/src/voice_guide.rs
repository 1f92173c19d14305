//! "Hướng dẫn bằng giọng nói": the current screen read aloud in Vietnamese, offline, through
//! espeak-ng and the sound card of `luot_display`. A missing voice or sound card makes the
//! button say it cannot speak; it never stops the kiosk.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use luot_display::audio::{AudioOut, SpeakerOut};
use luot_display::speech::spell_number;
use luot_display::voice::{Espeak, Voice};

/// Whether the guide can speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuideStatus {
    /// Getting the voice ready.
    Starting,
    /// Ready.
    Ready,
    /// Speaking now.
    Speaking,
    /// It cannot speak, and why.
    Unavailable(String),
}

impl GuideStatus {
    /// Whether a touch on the button can do anything.
    pub fn can_speak(&self) -> bool {
        matches!(self, GuideStatus::Ready | GuideStatus::Speaking)
    }
}

/// Speaks a screen's text.
pub trait Guide: Send + Sync {
    /// Speaks `text` (Vietnamese, NFC); a request made while speaking replaces any waiting one.
    fn speak(&self, text: &str);
    /// Whether it can.
    fn status(&self) -> GuideStatus;
}

/// espeak-ng on a thread of its own, playing on the default sound device.
pub struct EspeakGuide {
    requests: Mutex<Sender<String>>,
    status: Arc<Mutex<GuideStatus>>,
}

impl EspeakGuide {
    /// Starts the thread with espeak-ng voice `voice` (`vi`). `repaint` is called when the
    /// status changes.
    pub fn spawn(voice: &str, repaint: Arc<dyn Fn() + Send + Sync>) -> EspeakGuide {
        let (tx, rx) = mpsc::channel();
        let status = Arc::new(Mutex::new(GuideStatus::Starting));
        let shared = status.clone();
        let voice = voice.to_owned();
        let spawned = std::thread::Builder::new()
            .name("voice-guide".into())
            .spawn(move || speaker(&voice, &rx, &shared, &*repaint));
        if let Err(e) = spawned {
            set(&status, GuideStatus::Unavailable(e.to_string()));
        }
        EspeakGuide {
            requests: Mutex::new(tx),
            status,
        }
    }
}

fn set(status: &Mutex<GuideStatus>, value: GuideStatus) {
    *status.lock().unwrap_or_else(|p| p.into_inner()) = value;
}

fn speaker(
    voice: &str,
    requests: &Receiver<String>,
    status: &Mutex<GuideStatus>,
    repaint: &(dyn Fn() + Send + Sync),
) {
    let mut espeak = match Espeak::new(voice) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "no Vietnamese voice: the voice guide is off");
            set(status, GuideStatus::Unavailable(e.to_string()));
            repaint();
            return;
        }
    };
    let mut out: Option<SpeakerOut> = None;
    set(status, GuideStatus::Ready);
    repaint();
    while let Ok(mut text) = requests.recv() {
        // Only the latest request matters: the screen it described may be gone.
        while let Ok(newer) = requests.try_recv() {
            text = newer;
        }
        set(status, GuideStatus::Speaking);
        repaint();
        let clip = match espeak.speak(&[text]) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "the voice guide failed");
                set(status, GuideStatus::Ready);
                repaint();
                continue;
            }
        };
        if out.is_none() {
            match SpeakerOut::open() {
                Ok(o) => out = Some(o),
                Err(e) => {
                    tracing::warn!(error = %e, "no sound output: the voice guide is off");
                    set(status, GuideStatus::Unavailable(e.to_string()));
                    repaint();
                    return;
                }
            }
        }
        if let Some(o) = out.as_mut()
            && let Err(e) = o.play(&clip)
        {
            tracing::warn!(error = %e, "the voice guide could not play");
            out = None;
        }
        set(status, GuideStatus::Ready);
        repaint();
    }
}

impl Guide for EspeakGuide {
    fn speak(&self, text: &str) {
        if self.status().can_speak() {
            let tx = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            let _ = tx.send(text.to_owned());
        }
    }

    fn status(&self) -> GuideStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A guide that cannot speak (`--mute`, screenshots), saying why.
#[derive(Debug, Clone)]
pub struct NoGuide(pub String);

impl Guide for NoGuide {
    fn speak(&self, _text: &str) {}

    fn status(&self) -> GuideStatus {
        GuideStatus::Unavailable(self.0.clone())
    }
}

/// Keeps what it was asked to say (tests).
#[derive(Debug, Clone, Default)]
pub struct RecordingGuide(Arc<Mutex<Vec<String>>>);

impl RecordingGuide {
    /// Everything said so far.
    pub fn said(&self) -> Vec<String> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Guide for RecordingGuide {
    fn speak(&self, text: &str) {
        if let Ok(mut s) = self.0.lock() {
            s.push(text.to_owned());
        }
    }

    fn status(&self) -> GuideStatus {
        GuideStatus::Ready
    }
}

/// A ticket number as the guide says it: digit by digit (`1005` → `một không không năm`).
pub fn spoken_number(number: &str) -> String {
    spell_number(number).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn settled(guide: &EspeakGuide) -> GuideStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = guide.status();
            if status != GuideStatus::Starting || Instant::now() > deadline {
                return status;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// A voice espeak-ng does not have makes the guide say it cannot speak; speaking then
    /// does nothing and nothing panics.
    #[test]
    fn a_missing_voice_is_unavailable_not_a_crash() {
        let guide = EspeakGuide::spawn("xx-no-such-voice", Arc::new(|| {}));
        let status = settled(&guide);
        assert!(matches!(status, GuideStatus::Unavailable(_)), "{status:?}");
        guide.speak("Xin chào");
        assert!(!guide.status().can_speak());
    }

    /// With espeak-ng and its Vietnamese voice installed (CI has them) the guide is ready.
    #[test]
    fn espeak_vietnamese_is_ready() {
        let guide = EspeakGuide::spawn("vi", Arc::new(|| {}));
        match settled(&guide) {
            GuideStatus::Ready => {}
            other if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: espeak-ng with a vi voice is not available ({other:?})");
            }
            other => panic!("espeak-ng must be installed in CI: {other:?}"),
        }
    }

    /// Ticket numbers are spoken digit by digit.
    #[test]
    fn numbers_are_spelled() {
        assert_eq!(spoken_number("1005"), "một không không năm");
    }
}
