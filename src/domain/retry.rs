//! The persisted retry schedule: how long to wait after each failed attempt.

use std::time::Duration;

/// Delays after the 1st, 2nd, … failed attempt. When they run out the call is `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

/// As it is written on the command line: `5s,5m,30m`.
impl std::fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps: Vec<String> = self
            .delays
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        f.write_str(&steps.join(","))
    }
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.5 hours.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Each delay is stretched or shrunk by up to this fraction, so receivers that recover
/// from an outage are not hit by every retry at the same instant.
pub const JITTER: f64 = 0.10;

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        RetrySchedule { delays }
    }

    /// Parses a comma-separated list of durations such as `5s,5m,2h` (empty: no retries).
    pub fn parse(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                humantime::parse_duration(part)
                    .map_err(|e| format!("`{part}` is not a duration ({e}); use e.g. 5s, 5m, 2h"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetrySchedule { delays })
    }

    /// Total attempts a call gets: the first plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The schedule's longest wait: the most a receiver's `Retry-After` can stretch one.
    pub fn longest(&self) -> Duration {
        self.delays.iter().copied().max().unwrap_or_default()
    }

    /// The wait before the next attempt, after `failed_attempts` attempts have failed, or
    /// `None` when the schedule is used up. `jitter` is a sample in `[-1, 1]`.
    pub fn delay_after(&self, failed_attempts: u32, jitter: f64) -> Option<Duration> {
        let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
        let base = *self.delays.get(index)?;
        let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
        Some(base.mul_f64(factor))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::parse(DEFAULT_SCHEDULE).expect("default schedule parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_spans_about_a_day() {
        let s = RetrySchedule::default();
        assert_eq!(s.max_attempts(), 8);
        let total: Duration = (1..8).filter_map(|n| s.delay_after(n, 0.0)).sum();
        assert_eq!(
            total,
            Duration::from_secs(5 + 300 + 1800 + 7200 + 18000 + 36000 + 36000)
        );
    }

    #[test]
    fn delays_follow_the_failed_attempt_count() {
        let s = RetrySchedule::parse("5s, 5m,2h").unwrap();
        assert_eq!(s.delay_after(0, 0.0), None);
        assert_eq!(s.delay_after(1, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(s.delay_after(2, 0.0), Some(Duration::from_secs(300)));
        assert_eq!(s.delay_after(3, 0.0), Some(Duration::from_secs(7200)));
        assert_eq!(s.delay_after(4, 0.0), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = RetrySchedule::parse("100s").unwrap();
        assert_eq!(s.delay_after(1, 1.0), Some(Duration::from_secs(110)));
        assert_eq!(s.delay_after(1, -1.0), Some(Duration::from_secs(90)));
        assert_eq!(s.delay_after(1, 7.0), Some(Duration::from_secs(110)));
    }

    #[test]
    fn bad_durations_are_explained() {
        let err = RetrySchedule::parse("5s,soon").unwrap_err();
        assert!(err.contains("`soon`"), "{err}");
        assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
    }
}
