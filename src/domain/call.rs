//! A webhook call: one event for one webhook, delivered by one or more attempts.

use serde::Serialize;

use super::retry::RetrySchedule;
use super::time::UnixMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Pending,
    Success,
    Failed,
    /// Never sent: a newer call of its ordering key replaced it (`latest` ordering).
    Superseded,
    /// Never sent: its target has nothing to do for the event (a commit status for a
    /// deploy without a commit, say). Final, and no failure.
    Skipped,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Pending => "pending",
            CallStatus::Success => "success",
            CallStatus::Failed => "failed",
            CallStatus::Superseded => "superseded",
            CallStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<CallStatus> {
        match text {
            "pending" => Some(CallStatus::Pending),
            "success" => Some(CallStatus::Success),
            "failed" => Some(CallStatus::Failed),
            "superseded" => Some(CallStatus::Superseded),
            "skipped" => Some(CallStatus::Skipped),
            _ => None,
        }
    }
}

/// Only a 2xx answer is a delivery; 3xx is a failure because redirects are never followed.
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Where a call goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Done(CallStatus),
    RetryAt(UnixMillis),
    /// Pending with no due time: its webhook is disabled; enabling it makes the call due.
    Paused,
}

/// What an attempt says about its webhook's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// A first failure: retries usually mend it, so it says nothing yet.
    FailedOnce,
    /// A call failed again after a retry: its webhook is failing.
    FailedAgain,
    /// A call used up its retries.
    Exhausted,
    /// Nothing was sent, and nothing was wrong: says nothing of its webhook's health.
    Skipped,
}

impl Verdict {
    /// The verdict on an attempt that led to `next`.
    pub fn of(progress: CallProgress, next: NextStep) -> Verdict {
        match next {
            NextStep::Done(CallStatus::Success) => Verdict::Delivered,
            NextStep::Done(CallStatus::Skipped) => Verdict::Skipped,
            // A hand resend has no retries to use up.
            NextStep::Done(_) if !progress.one_shot => Verdict::Exhausted,
            _ if progress.previous_attempts >= 1 => Verdict::FailedAgain,
            _ => Verdict::FailedOnce,
        }
    }

    /// Whether it starts (or continues) a failing streak.
    pub fn is_failing(self) -> bool {
        matches!(self, Verdict::FailedAgain | Verdict::Exhausted)
    }
}

/// What the call looked like when the attempt was made.
#[derive(Debug, Clone, Copy)]
pub struct CallProgress {
    /// Attempts made before this one.
    pub previous_attempts: u32,
    /// A hand resend of a finished call: one attempt, no schedule after it.
    pub one_shot: bool,
}

/// Decides the call's next state. `jitter` is a sample in `[-1, 1]`; `asked_wait` is how
/// long the receiver asked to be left alone (`Retry-After`), which pushes the next attempt
/// back, never sooner than the schedule and at most by the schedule's longest step.
pub fn next_step(
    progress: CallProgress,
    succeeded: bool,
    schedule: &RetrySchedule,
    now: UnixMillis,
    jitter: f64,
    asked_wait: Option<i64>,
) -> NextStep {
    if succeeded {
        return NextStep::Done(CallStatus::Success);
    }
    if progress.one_shot {
        return NextStep::Done(CallStatus::Failed);
    }
    match schedule.delay_after(progress.previous_attempts + 1, jitter) {
        Some(delay) => {
            let scheduled = delay.as_millis() as i64;
            let asked = asked_wait
                .unwrap_or(0)
                .min(schedule.longest().as_millis() as i64);
            NextStep::RetryAt(now + scheduled.max(asked))
        }
        None => NextStep::Done(CallStatus::Failed),
    }
}

/// How long a receiver asked to be left alone, in milliseconds: `Retry-After` on a 429 or
/// 503, as seconds or as an HTTP date. Other statuses, and values that say nothing, `None`.
pub fn retry_after(status: u16, header: Option<&str>, now: UnixMillis) -> Option<i64> {
    if !matches!(status, 429 | 503) {
        return None;
    }
    let value = header?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000).min(i64::MAX as u64) as i64);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    Some((at - now).max(0))
}

/// 410 Gone: the receiver says this endpoint is gone for good.
pub fn is_gone(status: u16) -> bool {
    status == 410
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> RetrySchedule {
        RetrySchedule::parse("1s,10s").unwrap()
    }

    #[test]
    fn retry_after_pushes_back_within_the_schedules_longest_step() {
        let p = progress(0, false);
        // The schedule's first wait is 1 s; the receiver asks for 5 s.
        assert_eq!(
            next_step(p, false, &schedule(), 0, 0.0, Some(5_000)),
            NextStep::RetryAt(5_000)
        );
        // Never sooner than the schedule.
        assert_eq!(
            next_step(p, false, &schedule(), 0, 0.0, Some(10)),
            NextStep::RetryAt(1_000)
        );
        // At most the longest step (10 s), however long it asks.
        assert_eq!(
            next_step(p, false, &schedule(), 0, 0.0, Some(3_600_000)),
            NextStep::RetryAt(10_000)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_on_429_and_503_only() {
        assert_eq!(retry_after(429, Some("120"), 0), Some(120_000));
        assert_eq!(retry_after(503, Some(" 7 "), 0), Some(7_000));
        let now = 784_111_777_000 - 30_000; // 30 s before the date below
        assert_eq!(
            retry_after(503, Some("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            Some(30_000)
        );
        assert_eq!(retry_after(500, Some("120"), 0), None);
        assert_eq!(retry_after(429, Some("soon"), 0), None);
        assert_eq!(retry_after(429, None, 0), None);
        assert!(is_gone(410) && !is_gone(404));
    }

    fn progress(previous_attempts: u32, one_shot: bool) -> CallProgress {
        CallProgress {
            previous_attempts,
            one_shot,
        }
    }

    #[test]
    fn success_finishes_whatever_the_history() {
        for p in [progress(0, false), progress(5, false), progress(2, true)] {
            assert_eq!(
                next_step(p, true, &schedule(), 0, 0.0, None),
                NextStep::Done(CallStatus::Success)
            );
        }
    }

    #[test]
    fn failures_walk_the_schedule_then_fail() {
        let s = schedule();
        assert_eq!(
            next_step(progress(0, false), false, &s, 1000, 0.0, None),
            NextStep::RetryAt(2000)
        );
        assert_eq!(
            next_step(progress(1, false), false, &s, 1000, 0.0, None),
            NextStep::RetryAt(11000)
        );
        assert_eq!(
            next_step(progress(2, false), false, &s, 1000, 0.0, None),
            NextStep::Done(CallStatus::Failed)
        );
    }

    #[test]
    fn a_failed_one_shot_resend_does_not_restart_the_schedule() {
        assert_eq!(
            next_step(progress(0, true), false, &schedule(), 0, 0.0, None),
            NextStep::Done(CallStatus::Failed)
        );
    }

    #[test]
    fn a_webhook_is_failing_once_a_retry_fails_or_a_call_runs_out() {
        let done = |status| NextStep::Done(status);
        let retry = NextStep::RetryAt(5);
        assert_eq!(
            Verdict::of(progress(3, false), done(CallStatus::Success)),
            Verdict::Delivered
        );
        assert_eq!(Verdict::of(progress(0, false), retry), Verdict::FailedOnce);
        assert_eq!(Verdict::of(progress(1, false), retry), Verdict::FailedAgain);
        assert_eq!(
            Verdict::of(progress(4, false), done(CallStatus::Failed)),
            Verdict::Exhausted
        );
        // A failed hand resend of an old call is a failure, not an exhausted schedule.
        assert_eq!(
            Verdict::of(progress(0, true), done(CallStatus::Failed)),
            Verdict::FailedOnce
        );
        assert!(Verdict::Exhausted.is_failing() && !Verdict::FailedOnce.is_failing());
    }

    #[test]
    fn only_2xx_is_success() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(301) && !is_success(199) && !is_success(410) && !is_success(500));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            CallStatus::Pending,
            CallStatus::Success,
            CallStatus::Failed,
            CallStatus::Superseded,
            CallStatus::Skipped,
        ] {
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CallStatus::parse("done"), None);
    }

    #[test]
    fn a_skip_says_nothing_of_health() {
        let again = CallProgress {
            previous_attempts: 3,
            one_shot: false,
        };
        let verdict = Verdict::of(again, NextStep::Done(CallStatus::Skipped));
        assert_eq!(verdict, Verdict::Skipped);
        assert!(!verdict.is_failing());
    }
}
