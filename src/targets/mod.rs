//! Where calls go. Each target turns a claimed call into one attempt; the dispatcher only
//! claims, hands calls to a target and records what came back.

pub mod http;

use std::future::Future;
use std::sync::Arc;

use crate::store::WebhookRecord;
use crate::store::{ClaimedCall, NewAttempt};

/// The result of one attempt: what to log, and whether it counts as delivered.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub attempt: NewAttempt,
    pub delivered: bool,
}

pub trait Target: Send + Sync + 'static {
    fn deliver(
        &self,
        call: &ClaimedCall,
        webhook: &Arc<WebhookRecord>,
    ) -> impl Future<Output = Outcome> + Send;
}
