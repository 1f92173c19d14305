//! The sums and samples behind one row of a report, and the row they make.
//!
//! An [`Acc`] keeps every wait and service time it has seen (as whole seconds), so the median
//! and the 90th percentile of any range are computed over that range's own samples, never
//! averaged from days. A busy center's year is about 100,000 waits: a few hundred kilobytes.

use luot_shared::lifecycle::{Fate, Figures, Wait};
use serde::{Deserialize, Serialize};

/// Mergeable sums and samples of a set of tickets.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acc {
    /// Tickets issued.
    pub issued: u64,
    served: u64,
    no_show: u64,
    cancelled: u64,
    expired: u64,
    /// Seconds of each wait that ended with a call.
    #[serde(default)]
    waits: Vec<u32>,
    /// Waits longer than their service's target.
    #[serde(default)]
    over_target: u64,
    /// Seconds of service of each served ticket.
    #[serde(default)]
    services: Vec<u32>,
    /// Ratings by score: `levels[0]` counts 1 (Rất không hài lòng) … `levels[4]` counts 5.
    #[serde(default)]
    levels: [u64; 5],
    /// Tickets whose first wait can be held against the estimate printed on them.
    #[serde(default)]
    estimated: u64,
    /// Sum of |estimate − actual first wait| over them, seconds.
    #[serde(default)]
    estimate_error_s: u64,
}

impl Acc {
    /// Adds one ticket's outcome, service time and rating (its waits go through
    /// [`Acc::add_wait`], each to the row of the service it was spent in).
    pub(super) fn add_ticket(&mut self, f: &Figures) {
        self.issued += 1;
        match f.fate {
            Fate::Served => self.served += 1,
            Fate::NoShow => self.no_show += 1,
            Fate::Cancelled => self.cancelled += 1,
            Fate::Expired => self.expired += 1,
            Fate::Open => {}
        }
        if let Some(secs) = f.service_s {
            self.services.push(clamp(secs));
        }
        if let Some(score @ 1..=5) = f.rating {
            self.levels[usize::from(score - 1)] += 1;
        }
    }

    /// Adds one wait: counted when a call ended it, over target when it took longer than
    /// `target_min` minutes; `estimate` is the estimate printed for it (first waits only).
    pub(super) fn add_wait(&mut self, wait: &Wait, target_min: u32, estimate: Option<u64>) {
        let Some(secs) = wait.secs() else { return };
        self.waits.push(clamp(secs));
        if secs > u64::from(target_min) * 60 {
            self.over_target += 1;
        }
        if let Some(estimate) = estimate {
            self.estimated += 1;
            self.estimate_error_s += estimate.abs_diff(secs);
        }
    }

    /// Adds another accumulation (of a disjoint set of tickets).
    pub fn merge(&mut self, other: &Acc) {
        self.issued += other.issued;
        self.served += other.served;
        self.no_show += other.no_show;
        self.cancelled += other.cancelled;
        self.expired += other.expired;
        self.waits.extend_from_slice(&other.waits);
        self.over_target += other.over_target;
        self.services.extend_from_slice(&other.services);
        for (mine, theirs) in self.levels.iter_mut().zip(other.levels) {
            *mine += theirs;
        }
        self.estimated += other.estimated;
        self.estimate_error_s += other.estimate_error_s;
    }

    /// The figures of this accumulation as a report row.
    pub fn row(&self, key: String, label: String) -> Row {
        let waits = Stats::of(&self.waits);
        let service = Stats::of(&self.services);
        let ratings: u64 = self.levels.iter().sum();
        let score_sum: u64 = (1..=5).zip(self.levels).map(|(s, n)| s * n).sum();
        let satisfied = self.levels[3] + self.levels[4];
        Row {
            key,
            label,
            issued: self.issued,
            called: waits.n,
            served: self.served,
            no_show: self.no_show,
            cancelled: self.cancelled,
            expired: self.expired,
            avg_wait_s: waits.mean,
            median_wait_s: waits.median,
            p90_wait_s: waits.p90,
            max_wait_s: waits.max,
            over_target: self.over_target,
            over_target_pct: pct(self.over_target, waits.n),
            within_target_pct: if waits.n == 0 {
                0.0
            } else {
                pct(waits.n - self.over_target, waits.n)
            },
            avg_service_s: service.mean,
            median_service_s: service.median,
            p90_service_s: service.p90,
            max_service_s: service.max,
            ratings,
            ratings_by_level: self.levels,
            avg_rating: if ratings == 0 {
                0.0
            } else {
                (score_sum as f64 * 100.0 / ratings as f64).round() / 100.0
            },
            satisfaction_pct: pct(satisfied, ratings),
            estimated: self.estimated,
            estimate_error_s: self
                .estimate_error_s
                .checked_div(self.estimated)
                .unwrap_or(0),
        }
    }
}

/// One row of figures. Times in whole seconds; shares in percent with one decimal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Row {
    /// Group key (service id, counter number, staff name, hour `08`, date, `2026-W10`,
    /// `2026-03`, `2026-Q1`).
    pub key: String,
    /// Human label.
    pub label: String,
    /// Tickets issued (in the service they ended in, for rows by service).
    pub issued: u64,
    /// Waits that ended with a call: the base of the wait figures.
    pub called: u64,
    /// Tickets served to the end.
    pub served: u64,
    /// Tickets called that did not come.
    pub no_show: u64,
    /// Tickets cancelled.
    pub cancelled: u64,
    /// Tickets still open when their day closed.
    pub expired: u64,
    /// Mean wait, seconds.
    pub avg_wait_s: u64,
    /// Median wait (nearest rank), seconds.
    pub median_wait_s: u64,
    /// 90th percentile of the waits (nearest rank), seconds.
    pub p90_wait_s: u64,
    /// Longest wait, seconds.
    pub max_wait_s: u64,
    /// Waits longer than their service's target.
    pub over_target: u64,
    /// Share of waits longer than their service's target, percent.
    pub over_target_pct: f64,
    /// Share of waits within their service's target, percent.
    pub within_target_pct: f64,
    /// Mean service time, seconds.
    pub avg_service_s: u64,
    /// Median service time (nearest rank), seconds.
    pub median_service_s: u64,
    /// 90th percentile of service times (nearest rank), seconds.
    pub p90_service_s: u64,
    /// Longest service time, seconds.
    pub max_service_s: u64,
    /// Ratings given.
    pub ratings: u64,
    /// Ratings by score: index 0 counts 1 (Rất không hài lòng) … index 4 counts 5 (Rất hài
    /// lòng).
    pub ratings_by_level: [u64; 5],
    /// Mean score 1..5.
    pub avg_rating: f64,
    /// Satisfaction index: share of ratings that are 4 (Hài lòng) or 5 (Rất hài lòng),
    /// percent.
    pub satisfaction_pct: f64,
    /// Tickets whose printed estimate can be held against their first wait.
    pub estimated: u64,
    /// Mean absolute error of those estimates, seconds.
    pub estimate_error_s: u64,
}

/// Mean, median, 90th percentile and maximum of a set of samples.
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    n: u64,
    mean: u64,
    median: u64,
    p90: u64,
    max: u64,
}

impl Stats {
    fn of(samples: &[u32]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len() as u64;
        let sum: u64 = sorted.iter().map(|&s| u64::from(s)).sum();
        Stats {
            n,
            mean: sum / n,
            median: u64::from(nearest_rank(&sorted, 50)),
            p90: u64::from(nearest_rank(&sorted, 90)),
            max: u64::from(sorted[sorted.len() - 1]),
        }
    }
}

/// The `p`-th percentile of non-empty `sorted` by the nearest-rank method: the smallest value
/// with at least `p` percent of the samples at or below it.
fn nearest_rank(sorted: &[u32], p: u64) -> u32 {
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    sorted[usize::try_from(rank - 1).unwrap_or(0).min(sorted.len() - 1)]
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 1000.0 / b as f64).round() / 10.0
    }
}

/// Seconds as stored: a wait or service of more than 136 years is a broken clock.
fn clamp(secs: u64) -> u32 {
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest rank: the median of 1..=10 is 5, the 90th percentile 9; of one sample, it.
    #[test]
    fn percentiles_by_nearest_rank() {
        let s: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&s, 50), 5);
        assert_eq!(nearest_rank(&s, 90), 9);
        assert_eq!(nearest_rank(&[7], 90), 7);
        let stats = Stats::of(&[30, 10, 20]);
        assert_eq!(
            (stats.n, stats.mean, stats.median, stats.max),
            (3, 20, 20, 30)
        );
    }

    /// Percentiles of merged days are those of all their samples, not the mean of each day's.
    #[test]
    fn merged_percentiles_come_from_all_samples() {
        let day = |waits: &[u32]| Acc {
            waits: waits.to_vec(),
            ..Acc::default()
        };
        let mut both = day(&[60, 60, 60, 60, 60, 60, 60, 60, 60]);
        both.merge(&day(&[6000]));
        let row = both.row(String::new(), String::new());
        assert_eq!(row.median_wait_s, 60);
        assert_eq!(row.p90_wait_s, 60);
        assert_eq!(row.max_wait_s, 6000);
        assert_eq!(row.called, 10);
    }
}
