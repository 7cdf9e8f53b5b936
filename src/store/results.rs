//! What a delivery attempt came to, as the dispatcher hands it back to be recorded, and
//! what it says about its webhook's health.

use std::sync::Arc;

use super::calls::NewAttempt;
pub use super::ordering::OrderKey;
use super::webhooks::WebhookRecord;
use crate::domain::call::{NextStep, Verdict};
use crate::domain::time::UnixMillis;

/// What a delivery attempt came to, to be written back.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub call_id: String,
    pub claim_token: String,
    /// `None` when nothing was sent (e.g. the webhook was disabled meanwhile).
    pub attempt: Option<NewAttempt>,
    pub error: Option<String>,
    pub status_code: Option<i64>,
    pub finished_at: UnixMillis,
    pub next: NextStep,
    /// What the attempt says about its webhook; `None` when no attempt was made.
    pub watch: Option<Watch>,
    /// The call's ordering key and whether its webhook keeps only the latest: once the
    /// call is done, the next of its key goes.
    pub order: Option<(OrderKey, bool)>,
}

/// What an attempt's result means for its webhook (see `health::record_health`). Cheap to make
/// for every attempt: what a report needs besides is read only when there is one.
#[derive(Debug, Clone)]
pub struct Watch {
    /// As the dispatcher saw it when the call was claimed (its `failing_since` included).
    pub webhook: Arc<WebhookRecord>,
    pub verdict: Verdict,
    /// The receiver answered 410 Gone: disable the webhook.
    pub gone: bool,
}
