//! A webhook call: one event for one webhook, delivered by one or more attempts.

use serde::Serialize;

use super::retry::RetrySchedule;
use super::time::UnixMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Pending,
    Success,
    Failed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Pending => "pending",
            CallStatus::Success => "success",
            CallStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<CallStatus> {
        match text {
            "pending" => Some(CallStatus::Pending),
            "success" => Some(CallStatus::Success),
            "failed" => Some(CallStatus::Failed),
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
}

/// What the call looked like when the attempt was made.
#[derive(Debug, Clone, Copy)]
pub struct CallProgress {
    /// Attempts made before this one.
    pub previous_attempts: u32,
    /// A hand resend of a finished call: one attempt, no schedule after it.
    pub one_shot: bool,
}

/// Decides the call's next state. `jitter` is a sample in `[-1, 1]`.
pub fn next_step(
    progress: CallProgress,
    succeeded: bool,
    schedule: &RetrySchedule,
    now: UnixMillis,
    jitter: f64,
) -> NextStep {
    if succeeded {
        return NextStep::Done(CallStatus::Success);
    }
    if progress.one_shot {
        return NextStep::Done(CallStatus::Failed);
    }
    match schedule.delay_after(progress.previous_attempts + 1, jitter) {
        Some(delay) => NextStep::RetryAt(now + delay.as_millis() as i64),
        None => NextStep::Done(CallStatus::Failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> RetrySchedule {
        RetrySchedule::parse("1s,10s").unwrap()
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
                next_step(p, true, &schedule(), 0, 0.0),
                NextStep::Done(CallStatus::Success)
            );
        }
    }

    #[test]
    fn failures_walk_the_schedule_then_fail() {
        let s = schedule();
        assert_eq!(
            next_step(progress(0, false), false, &s, 1000, 0.0),
            NextStep::RetryAt(2000)
        );
        assert_eq!(
            next_step(progress(1, false), false, &s, 1000, 0.0),
            NextStep::RetryAt(11000)
        );
        assert_eq!(
            next_step(progress(2, false), false, &s, 1000, 0.0),
            NextStep::Done(CallStatus::Failed)
        );
    }

    #[test]
    fn a_failed_one_shot_resend_does_not_restart_the_schedule() {
        assert_eq!(
            next_step(progress(0, true), false, &schedule(), 0, 0.0),
            NextStep::Done(CallStatus::Failed)
        );
    }

    #[test]
    fn only_2xx_is_success() {
        assert!(is_success(200) && is_success(204) && is_success(299));
        assert!(!is_success(301) && !is_success(199) && !is_success(410) && !is_success(500));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [CallStatus::Pending, CallStatus::Success, CallStatus::Failed] {
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CallStatus::parse("done"), None);
    }
}
