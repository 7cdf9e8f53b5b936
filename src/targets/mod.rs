//! Where calls go. Each target turns a claimed call into one attempt; the dispatcher only
//! claims, hands calls to a target and records what came back.
//!
//! A webhook's target is a plain URL (`http`, the default) or one of the notification
//! targets whose settings `domain::targets` keeps; each file here delivers to one kind,
//! by implementing [`Deliver`] for its settings.

mod api;
mod comments;
pub mod email;
mod forge;
pub mod github;
pub mod gitlab;
pub mod http;
pub mod notice;
pub mod slack;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::domain::targets::TargetConfig;
use crate::domain::time::{now_millis, UnixMillis};
use crate::store::WebhookRecord;
use crate::store::{ClaimedCall, NewAttempt};
use http::HttpTarget;

/// The result of one attempt: what to log, whether it counts as delivered, and what the
/// receiver's status code asks of the next attempts.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub attempt: NewAttempt,
    pub delivered: bool,
    /// How long the receiver asked to be left alone (`Retry-After` on 429 and 503), in ms.
    pub asked_wait: Option<i64>,
    /// The receiver answered 410 Gone: the endpoint is gone for good.
    pub gone: bool,
    /// Nothing was sent because the target has nothing to do for this event: the call
    /// is `skipped` (final, not a failure).
    pub skipped: bool,
}

/// Why a notification target sends nothing for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsent {
    /// The event is not one the target acts on (a deploy without a commit for a commit
    /// status, a build without a pull request for a comment): the call is skipped.
    NothingToDo(String),
    /// Something is wrong (an unreadable body, a bad address): a failed attempt, retried.
    Fault(String),
}

impl Outcome {
    /// An outcome whose answer (if any) asked nothing of the next attempts.
    pub fn plain(attempt: NewAttempt, delivered: bool) -> Outcome {
        Outcome {
            attempt,
            delivered,
            asked_wait: None,
            gone: false,
            skipped: false,
        }
    }

    /// An outcome read from an HTTP answer: its status and `Retry-After`.
    pub fn answered(
        attempt: NewAttempt,
        delivered: bool,
        status: u16,
        retry_after: Option<&str>,
    ) -> Outcome {
        Outcome {
            asked_wait: crate::domain::call::retry_after(
                status,
                retry_after,
                attempt.started_at + attempt.duration_ms,
            ),
            gone: crate::domain::call::is_gone(status),
            skipped: false,
            attempt,
            delivered,
        }
    }
}

pub trait Target: Send + Sync + 'static {
    fn deliver(
        &self,
        call: &ClaimedCall,
        webhook: &Arc<WebhookRecord>,
    ) -> impl Future<Output = Outcome> + Send;
}

/// Delivery to one kind of notification target, for its settings (`domain::targets`).
pub trait Deliver {
    fn deliver(&self, ctx: &Context<'_>) -> impl Future<Output = Outcome> + Send;
}

/// One attempt for a notification target: the arm for each type of the registry.
async fn deliver_notification(target: &TargetConfig, ctx: &Context<'_>) -> Outcome {
    match target {
        TargetConfig::Email(c) => c.deliver(ctx).await,
        TargetConfig::Slack(c) => c.deliver(ctx).await,
        TargetConfig::GithubCommitStatus(c) => c.deliver(ctx).await,
        TargetConfig::GithubPrComment(c) => c.deliver(ctx).await,
        TargetConfig::GitlabCommitStatus(c) => c.deliver(ctx).await,
        TargetConfig::GitlabMrComment(c) => c.deliver(ctx).await,
    }
}

/// Everything a notification target needs for one attempt.
pub struct Context<'a> {
    /// The pooled HTTP client, with the same address checks as plain webhooks.
    pub client: &'a reqwest::Client,
    pub call: &'a ClaimedCall,
    pub webhook: &'a WebhookRecord,
    pub response_body_limit: usize,
    pub allow_private_targets: bool,
    pub started_at: UnixMillis,
    clock: Instant,
}

impl Context<'_> {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.webhook.settings.timeout_ms)
    }

    /// The event as stored with the call (`{entity_type, event_type, environment, entity}`).
    pub fn event(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.call.body)
            .map_err(|e| format!("the call's body is not the event's JSON: {e}"))
    }

    pub fn elapsed_ms(&self) -> i64 {
        self.clock.elapsed().as_millis() as i64
    }

    /// An attempt that sent nothing: skipped when there was nothing to do, else failed.
    pub fn unsent(&self, what: &str, why: Unsent) -> Outcome {
        match why {
            Unsent::Fault(error) => self.not_sent(what, error),
            Unsent::NothingToDo(reason) => {
                let mut outcome = self.not_sent(what, reason);
                outcome.attempt.error = outcome
                    .attempt
                    .error
                    .map(|e| e.replacen("not sent:", "skipped:", 1));
                outcome.skipped = true;
                outcome
            }
        }
    }

    /// An attempt that sent nothing, with the reason.
    pub fn not_sent(&self, what: &str, error: impl Into<String>) -> Outcome {
        Outcome::plain(
            NewAttempt {
                manual: self.call.manual,
                started_at: self.started_at,
                duration_ms: self.elapsed_ms(),
                request_url: what.to_owned(),
                request_headers: http::empty_object(),
                request_body: None,
                response_status: None,
                response_headers: None,
                response_body: None,
                error: Some(format!("not sent: {}", error.into())),
            },
            false,
        )
    }
}

/// Every target: plain URLs and the registry's notification targets.
pub struct Targets {
    http: HttpTarget,
}

impl Targets {
    pub fn new(http: HttpTarget) -> Self {
        Targets { http }
    }
}

impl Target for Targets {
    async fn deliver(&self, call: &ClaimedCall, webhook: &Arc<WebhookRecord>) -> Outcome {
        let Some(target) = &webhook.settings.target else {
            return self.http.deliver(call, webhook).await;
        };
        let ctx = Context {
            client: self.http.client(),
            call,
            webhook,
            response_body_limit: self.http.settings().response_body_limit,
            allow_private_targets: self.http.settings().allow_private_targets,
            started_at: now_millis(),
            clock: Instant::now(),
        };
        deliver_notification(target, &ctx).await
    }
}
