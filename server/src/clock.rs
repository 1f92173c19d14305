//! The server's one source of time: the wall clock the record is dated by, and a monotonic
//! clock that notices when the wall clock is stepped.
//!
//! Production uses [`Clock::system`]. Tests build the server with [`Clock::manual`] and move
//! it in milliseconds: [`Clock::advance`] lets time pass (both clocks move), [`Clock::step`]
//! sets the wall clock as NTP or an operator would (only the wall clock moves).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

/// A cheap-to-clone handle on the clock; every clone reads the same time.
#[derive(Clone)]
pub struct Clock {
    source: Arc<Source>,
}

enum Source {
    System { origin: Instant },
    Manual(Mutex<Manual>),
}

struct Manual {
    wall: Timestamp,
    monotonic: Duration,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.source {
            Source::System { .. } => f.write_str("Clock::system"),
            Source::Manual(_) => write!(f, "Clock::manual({})", self.now()),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The machine's clocks.
    pub fn system() -> Clock {
        Clock {
            source: Arc::new(Source::System {
                origin: Instant::now(),
            }),
        }
    }

    /// A clock that stands at `start` and moves only when told to.
    pub fn manual(start: Timestamp) -> Clock {
        Clock {
            source: Arc::new(Source::Manual(Mutex::new(Manual {
                wall: start,
                monotonic: Duration::ZERO,
            }))),
        }
    }

    /// The wall-clock time now.
    pub fn now(&self) -> Timestamp {
        match &*self.source {
            Source::System { .. } => Timestamp::now(),
            Source::Manual(m) => lock(m).wall,
        }
    }

    /// Time elapsed since the clock was made, unaffected by steps of the wall clock.
    pub fn monotonic(&self) -> Duration {
        match &*self.source {
            Source::System { origin } => origin.elapsed(),
            Source::Manual(m) => lock(m).monotonic,
        }
    }

    /// Lets `by` pass: both clocks move. Does nothing on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(m) = &*self.source {
            let mut m = lock(m);
            m.monotonic += by;
            m.wall = m
                .wall
                .saturating_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
                .unwrap_or(m.wall);
        }
    }

    /// Sets the wall clock `by` forward (or back, when negative) without time passing, as a
    /// clock correction does. Does nothing on the system clock.
    pub fn step(&self, by: SignedDuration) {
        if let Source::Manual(m) = &*self.source {
            let mut m = lock(m);
            m.wall = m.wall.saturating_add(by).unwrap_or(m.wall);
        }
    }
}

/// A poisoned lock still holds a valid time: a panicking test must not hide the cause.
fn lock(m: &Mutex<Manual>) -> std::sync::MutexGuard<'_, Manual> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Watches the wall clock against the monotonic clock and reports a step larger than
/// [`STEP_THRESHOLD`]: how far the wall clock is from where elapsed time says it should be.
#[derive(Debug)]
pub struct StepDetector {
    /// The last reading: wall and monotonic time together.
    last: Option<(Timestamp, Duration)>,
    /// Before the first reading: the time of the last event in the log.
    recorded: Option<Timestamp>,
}

/// Differences below this are drift, slewing or scheduling, not a step.
pub const STEP_THRESHOLD: SignedDuration = SignedDuration::from_secs(5);

/// A step of the wall clock: where it should have been and where it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The wall time elapsed monotonic time predicted.
    pub expected: Timestamp,
    /// The wall time read.
    pub observed: Timestamp,
}

impl StepDetector {
    /// A detector whose first reading is compared with `last_recorded`, the time of the last
    /// event in the log: a wall clock behind it at start was stepped back while the server was
    /// stopped (time spent stopped cannot be told from a step forward, so only a step back
    /// counts then).
    pub fn new(last_recorded: Option<Timestamp>) -> StepDetector {
        StepDetector {
            last: None,
            recorded: last_recorded,
        }
    }

    /// Reads `clock`: the wall time now, and the step since the last reading, if any.
    pub fn check(&mut self, clock: &Clock) -> (Timestamp, Option<Step>) {
        let wall = clock.now();
        let monotonic = clock.monotonic();
        let expected = match self.last {
            Some((w, m)) => {
                let elapsed = SignedDuration::try_from(monotonic.saturating_sub(m))
                    .unwrap_or(SignedDuration::MAX);
                w.saturating_add(elapsed).unwrap_or(w)
            }
            None => self.recorded.filter(|r| *r > wall).unwrap_or(wall),
        };
        self.last = Some((wall, monotonic));
        let step = (wall.duration_since(expected).abs() > STEP_THRESHOLD).then_some(Step {
            expected,
            observed: wall,
        });
        (wall, step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Time passing is no step; a wall clock set 8.6 h forward or back is, by that much; a
    /// clock behind the log at start is a step back.
    #[test]
    fn steps_are_told_from_time_passing() {
        let start: Timestamp = "2026-12-01T09:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let clock = Clock::manual(start);
        let mut detector = StepDetector::new(None);
        assert_eq!(detector.check(&clock), (start, None));
        clock.advance(Duration::from_secs(3600));
        assert!(detector.check(&clock).1.is_none());
        let jump = SignedDuration::from_secs(30_960);
        clock.step(jump);
        let (now, step) = detector.check(&clock);
        let step = step.unwrap_or_else(|| panic!("no step seen at {now}"));
        assert_eq!(step.observed.duration_since(step.expected), jump);
        clock.advance(Duration::from_millis(4_000));
        clock.step(-jump);
        let step = detector
            .check(&clock)
            .1
            .unwrap_or_else(|| panic!("no step back"));
        assert_eq!(step.observed.duration_since(step.expected), -jump);
        clock.step(SignedDuration::from_secs(3));
        assert!(detector.check(&clock).1.is_none(), "3 s is drift");

        let mut restarted = StepDetector::new(Some(clock.now() + jump));
        let step = restarted
            .check(&clock)
            .1
            .unwrap_or_else(|| panic!("behind the log"));
        assert_eq!(step.observed.duration_since(step.expected), -jump);
        let mut later = StepDetector::new(Some(clock.now() - jump));
        assert!(later.check(&clock).1.is_none(), "a stop is not a step");
    }
}
