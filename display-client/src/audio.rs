//! Sound: clips of mono samples, the chime, WAV files, and where clips are played — a sound
//! card through rodio, or a recording sink for tests and machines without one.

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a clip may take to play beyond its own length before the device counts as stuck.
const PLAY_SLACK: Duration = Duration::from_secs(2);

/// Sample rate of everything the display makes itself (espeak-ng's own rate).
pub const RATE: u32 = 22_050;

/// A piece of sound: mono samples in −1..1 at a rate, with a label saying what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// What it is: `chime`, the sentence, `pause`.
    pub label: String,
    /// Samples per second.
    pub rate: u32,
    /// Mono samples.
    pub samples: Vec<f32>,
}

impl Clip {
    /// Silence of the given length.
    pub fn silence(label: &str, length: Duration) -> Clip {
        let n = (length.as_secs_f64() * f64::from(RATE)) as usize;
        Clip {
            label: label.into(),
            rate: RATE,
            samples: vec![0.0; n],
        }
    }

    /// How long it plays.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate.max(1)))
    }

    /// The same sound at another rate (linear interpolation: speech and chimes only).
    pub fn resampled(&self, rate: u32) -> Clip {
        if rate == self.rate || self.samples.is_empty() {
            return Clip {
                rate,
                ..self.clone()
            };
        }
        let ratio = f64::from(self.rate) / f64::from(rate);
        let n = (self.samples.len() as f64 / ratio) as usize;
        let last = self.samples.len() - 1;
        let samples = (0..n)
            .map(|i| {
                let x = i as f64 * ratio;
                let j = (x as usize).min(last);
                let k = (j + 1).min(last);
                let f = (x - j as f64) as f32;
                self.samples[j] * (1.0 - f) + self.samples[k] * f
            })
            .collect();
        Clip {
            label: self.label.clone(),
            rate,
            samples,
        }
    }

    /// Scales it so its loudest sample is `peak` (silence stays silent).
    pub fn normalize(&mut self, peak: f32) {
        let loudest = self.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        if loudest > 1e-4 {
            let gain = peak / loudest;
            for s in &mut self.samples {
                *s *= gain;
            }
        }
    }

    /// Clips one after another, at [`RATE`].
    pub fn concat(label: &str, clips: &[Clip]) -> Clip {
        let samples = clips
            .iter()
            .flat_map(|c| c.resampled(RATE).samples)
            .collect();
        Clip {
            label: label.into(),
            rate: RATE,
            samples,
        }
    }

    /// Decodes a WAV file's bytes (any PCM or float format; channels are mixed down).
    pub fn from_wav(label: &str, bytes: &[u8]) -> Result<Clip, hound::Error> {
        let mut reader = hound::WavReader::new(Cursor::new(bytes))?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
            hound::SampleFormat::Int => {
                let scale = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 / scale))
                    .collect::<Result<_, _>>()?
            }
        };
        let samples = interleaved
            .chunks(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect();
        Ok(Clip {
            label: label.into(),
            rate: spec.sample_rate,
            samples,
        })
    }

    /// Writes it as a 16-bit mono WAV file.
    pub fn write_wav(&self, path: &Path) -> Result<(), hound::Error> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec)?;
        for s in &self.samples {
            writer.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)?;
        }
        writer.finalize()
    }
}

/// The two-note chime played before every call: a soft "ding-dong" of about a second.
pub fn chime() -> Clip {
    let note = |freq: f32, length: f32| -> Vec<f32> {
        let n = (length * RATE as f32) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / RATE as f32;
                // A quick attack avoids a click; the decay sounds like a struck bell.
                let envelope = (t / 0.01).min(1.0) * (-3.5 * t).exp();
                let w = std::f32::consts::TAU * freq * t;
                envelope * (0.6 * w.sin() + 0.25 * (2.0 * w).sin() + 0.1 * (3.0 * w).sin())
            })
            .collect()
    };
    // About as loud as the voice (RMS near −20 dBFS), so neither startles nor drowns.
    let mut samples = note(880.0, 0.55);
    samples.extend(note(659.25, 0.8));
    for s in &mut samples {
        *s *= 0.5;
    }
    Clip {
        label: "chime".into(),
        rate: RATE,
        samples,
    }
}

/// Why sound could not be played.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// No sound device could be opened.
    #[error("no sound output: {0}")]
    NoDevice(String),
    /// The device stopped taking samples before the clip ended.
    #[error("the sound output stopped playing")]
    Stalled,
}

/// Where clips are played. `play` returns when the clip has finished playing, so the
/// announcer never overlaps two calls.
pub trait AudioOut {
    /// Plays a clip to its end.
    fn play(&mut self, clip: &Clip) -> Result<(), AudioError>;
}

/// The default sound device, through rodio.
pub struct SpeakerOut {
    sink: rodio::MixerDeviceSink,
}

impl SpeakerOut {
    /// Opens the default sound device.
    pub fn open() -> Result<SpeakerOut, AudioError> {
        let mut sink = rodio::DeviceSinkBuilder::open_default_sink()
            .map_err(|e| AudioError::NoDevice(e.to_string()))?;
        sink.log_on_drop(false);
        Ok(SpeakerOut { sink })
    }
}

impl AudioOut for SpeakerOut {
    fn play(&mut self, clip: &Clip) -> Result<(), AudioError> {
        let rate = std::num::NonZero::new(clip.rate)
            .ok_or_else(|| AudioError::NoDevice("a clip with no sample rate".into()))?;
        let player = rodio::Player::connect_new(self.sink.mixer());
        player.append(rodio::buffer::SamplesBuffer::new(
            std::num::NonZero::<u16>::MIN,
            rate,
            clip.samples.clone(),
        ));
        // Waits for the end with a bound: a device that vanished mid-clip must not hold the
        // announcer (and the calls behind it) forever.
        let deadline = Instant::now() + clip.duration() + PLAY_SLACK;
        while !player.empty() {
            if Instant::now() > deadline {
                player.stop();
                return Err(AudioError::Stalled);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// No sound at all (no device): clips are skipped at once.
#[derive(Debug, Default)]
pub struct MuteOut;

impl AudioOut for MuteOut {
    fn play(&mut self, _clip: &Clip) -> Result<(), AudioError> {
        Ok(())
    }
}

/// A clip as the recording sink saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Played {
    /// The clip's label.
    pub label: String,
    /// How long it plays.
    pub duration: Duration,
    /// When it started.
    pub started: Instant,
}

/// Records what would be played, without sound and without waiting (tests, benches).
#[derive(Debug, Clone, Default)]
pub struct RecordingOut {
    log: Arc<Mutex<Vec<Played>>>,
}

impl RecordingOut {
    /// An empty recording.
    pub fn new() -> RecordingOut {
        RecordingOut::default()
    }

    /// Everything played so far, in order.
    pub fn played(&self) -> Vec<Played> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl AudioOut for RecordingOut {
    fn play(&mut self, clip: &Clip) -> Result<(), AudioError> {
        if let Ok(mut log) = self.log.lock() {
            log.push(Played {
                label: clip.label.clone(),
                duration: clip.duration(),
                started: Instant::now(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chime is about a second and a third long, loud enough and never clipping.
    #[test]
    fn chime_is_short_and_not_clipped() {
        let c = chime();
        let secs = c.duration().as_secs_f32();
        assert!((1.2..1.5).contains(&secs), "{secs}");
        let peak = c.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((0.3..1.0).contains(&peak), "{peak}");
    }

    /// A clip written as WAV reads back the same, and resampling keeps its length.
    #[test]
    fn wav_round_trip_and_resample() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("c.wav");
        let c = chime();
        c.write_wav(&path).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let back = Clip::from_wav("x", &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.rate, RATE);
        assert_eq!(back.samples.len(), c.samples.len());
        assert!((back.samples[1000] - c.samples[1000]).abs() < 1e-3);
        let up = c.resampled(44_100);
        let ratio = up.samples.len() as f64 / c.samples.len() as f64;
        assert!((ratio - 2.0).abs() < 0.01, "{ratio}");
    }
}
