//! The announcer: one thread that takes calls from a queue and plays each in turn — the
//! chime, then the sentence, repeated — so calls never overlap and none is dropped.

use std::thread::JoinHandle;
use std::time::Duration;

use luot_shared::follow::Announcement;
use tokio::sync::mpsc;

use crate::audio::{AudioOut, Clip, chime};
use crate::speech::{DEFAULT_TEMPLATE, call_sentence, call_words};
use crate::voice::Voice;

/// Calls waiting to be spoken. A burst larger than this (a whole morning replayed) makes the
/// socket loop wait for room rather than drop one; at ~8 s per call this is over an hour.
const QUEUE: usize = 512;

/// How calls are spoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceSettings {
    /// The sentence, with `{number}` and `{counter}`.
    pub template: String,
    /// How many times the sentence is said after the chime.
    pub repeat: u32,
    /// Silence between two sayings, and after the last.
    pub pause: Duration,
}

impl Default for AnnounceSettings {
    fn default() -> AnnounceSettings {
        AnnounceSettings {
            template: DEFAULT_TEMPLATE.into(),
            repeat: 2,
            pause: Duration::from_millis(700),
        }
    }
}

/// The clips of one call, in the order they play: the chime, then the sentence `repeat`
/// times with pauses. With no voice (or a voice that fails) only the chime.
pub fn call_clips(
    settings: &AnnounceSettings,
    voice: Option<&mut (dyn Voice + '_)>,
    call: &Announcement,
) -> Vec<Clip> {
    let mut clips = vec![chime()];
    clips.extend(speech_clips(settings, voice, call));
    clips
}

/// What follows the chime: a short pause, then the sentence `repeat` times with pauses.
fn speech_clips(
    settings: &AnnounceSettings,
    voice: Option<&mut (dyn Voice + '_)>,
    call: &Announcement,
) -> Vec<Clip> {
    let mut clips = vec![Clip::silence("pause", Duration::from_millis(250))];
    if let Some(speech) = voice.and_then(|v| speak(settings, v, call)) {
        for _ in 0..settings.repeat {
            clips.push(speech.clone());
            clips.push(Clip::silence("pause", settings.pause));
        }
    }
    clips
}

fn speak(settings: &AnnounceSettings, voice: &mut dyn Voice, call: &Announcement) -> Option<Clip> {
    let words = call_words(&settings.template, &call.number, call.counter);
    match voice.speak(&words) {
        Ok(mut clip) => {
            clip.label = call_sentence(&settings.template, &call.number, call.counter);
            Some(clip)
        }
        Err(e) => {
            tracing::warn!(error = %e, ticket = %call.number, "cannot speak the call; chime only");
            None
        }
    }
}

/// The handle to the announcer thread.
pub struct Announcer {
    tx: mpsc::Sender<Announcement>,
    thread: JoinHandle<()>,
}

impl Announcer {
    /// Starts the thread. `open_output` runs on it (sound devices may not move between
    /// threads).
    pub fn spawn(
        settings: AnnounceSettings,
        voice: Option<Box<dyn Voice>>,
        open_output: impl FnOnce() -> Box<dyn AudioOut> + Send + 'static,
    ) -> Announcer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("announcer".into())
            .spawn(move || run(rx, settings, voice, open_output()))
            .unwrap_or_else(|e| panic!("cannot start the announcer thread: {e}"));
        Announcer { tx, thread }
    }

    /// Where calls are sent.
    pub fn sender(&self) -> mpsc::Sender<Announcement> {
        self.tx.clone()
    }

    /// Closes the queue and waits until every queued call has been played.
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

fn run(
    mut rx: mpsc::Receiver<Announcement>,
    settings: AnnounceSettings,
    mut voice: Option<Box<dyn Voice>>,
    mut out: Box<dyn AudioOut>,
) {
    let chime = chime();
    while let Some(call) = rx.blocking_recv() {
        tracing::info!(ticket = %call.number, counter = call.counter, recall = call.recall, "announcing");
        // The sentence is synthesized while the chime plays.
        let rest = std::thread::scope(|scope| {
            let speaking = scope.spawn(|| speech_clips(&settings, voice.as_deref_mut(), &call));
            if let Err(e) = out.play(&chime) {
                tracing::warn!(error = %e, "cannot play the chime");
            }
            speaking.join().unwrap_or_default()
        });
        for clip in &rest {
            if let Err(e) = out.play(clip) {
                tracing::warn!(error = %e, "cannot play the call");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::RecordingOut;
    use crate::voice::VoiceError;
    use jiff::Timestamp;

    struct Words;

    impl Voice for Words {
        fn speak(&mut self, words: &[String]) -> Result<Clip, VoiceError> {
            Ok(Clip::silence(&words.join(" "), Duration::from_millis(10)))
        }
    }

    struct Broken;

    impl Voice for Broken {
        fn speak(&mut self, _: &[String]) -> Result<Clip, VoiceError> {
            Err(VoiceError::Espeak("not installed".into()))
        }
    }

    fn call(number: &str, counter: u32) -> Announcement {
        Announcement {
            ticket: 1,
            number: number.into(),
            counter,
            service: "tnmt".into(),
            recall: false,
            at: Timestamp::UNIX_EPOCH,
            seq: Some(1),
        }
    }

    fn labels(out: &RecordingOut) -> Vec<String> {
        out.played()
            .into_iter()
            .map(|p| p.label)
            .filter(|l| l != "pause")
            .collect()
    }

    /// Every queued call plays in order, chime first, the sentence as often as configured.
    #[test]
    fn queued_calls_play_in_order_without_overlap() {
        let out = RecordingOut::new();
        let recorder = out.clone();
        let settings = AnnounceSettings {
            repeat: 2,
            ..AnnounceSettings::default()
        };
        let announcer =
            Announcer::spawn(settings, Some(Box::new(Words)), move || Box::new(recorder));
        let tx = announcer.sender();
        for (n, c) in [("1005", 3), ("2001", 12)] {
            tx.blocking_send(call(n, c))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(tx);
        announcer.finish();
        let a = "Mời công dân có số một không không năm đến quầy số ba";
        let b = "Mời công dân có số hai không không một đến quầy số mười hai";
        assert_eq!(labels(&out), vec!["chime", a, a, "chime", b, b]);
        let played = out.played();
        assert!(played.windows(2).all(|w| w[0].started <= w[1].started));
    }

    /// A voice that fails leaves the chime: the call is still signalled, nothing crashes.
    #[test]
    fn failing_voice_degrades_to_the_chime() {
        let out = RecordingOut::new();
        let recorder = out.clone();
        let announcer = Announcer::spawn(
            AnnounceSettings::default(),
            Some(Box::new(Broken)),
            move || Box::new(recorder),
        );
        announcer
            .sender()
            .blocking_send(call("1001", 1))
            .unwrap_or_else(|e| panic!("{e}"));
        announcer.finish();
        assert_eq!(labels(&out), vec!["chime"]);
    }
}
