//! Where calls go. Each target turns a claimed call into one attempt; the dispatcher only
//! claims, hands calls to a target and records what came back.
//!
//! A webhook's target is a plain URL (`http`, the default) or one of the notification
//! targets in the registry below. Adding one is a file here (its settings, their rules,
//! and its delivery, by implementing [`Notifier`]) and one line in `registry!`.

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

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::domain::time::{now_millis, UnixMillis};
use crate::domain::validation::Violations;
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
}

impl Outcome {
    /// An outcome whose answer (if any) asked nothing of the next attempts.
    pub fn plain(attempt: NewAttempt, delivered: bool) -> Outcome {
        Outcome {
            attempt,
            delivered,
            asked_wait: None,
            gone: false,
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

pub use crate::domain::redact::MASK;

/// A notification target's settings: their rules, how they are shown, and the delivery.
pub trait Notifier: Serialize + DeserializeOwned + Clone + PartialEq + Eq {
    /// Adds every problem, naming fields below `config.`.
    fn validate(&self, allow_private_targets: bool, v: &mut Violations);
    /// A copy with secrets (tokens, passwords) replaced by [`MASK`].
    fn masked(&self) -> Self;
    /// Where the new settings hold [`MASK`], keeps the secret `stored` has; returns the
    /// fields kept so (below `config.`).
    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str>;
    /// Where its secrets go (a URL or `host:port`): a kept secret must not move elsewhere.
    fn destination(&self) -> String;
    fn deliver(&self, ctx: &Context<'_>) -> impl Future<Output = Outcome> + Send;
}

/// Keeps a stored secret when a client sent the mask back; `field` when it did.
pub fn keep_secret(
    new: &mut Option<String>,
    stored: &Option<String>,
    field: &'static str,
) -> Option<&'static str> {
    let kept = new.as_deref() == Some(MASK);
    if kept {
        new.clone_from(stored);
    }
    kept.then_some(field)
}

pub fn mask_secret(secret: &Option<String>) -> Option<String> {
    secret.as_ref().map(|_| MASK.to_owned())
}

macro_rules! registry {
    ($($name:literal => $variant:ident($config:ty),)*) => {
        /// A webhook's destination when it is not a plain URL.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum TargetConfig {
            $($variant($config),)*
        }

        /// Every target type, `http` first.
        pub const TARGET_TYPES: &[&str] = &["http", $($name,)*];

        impl TargetConfig {
            pub fn kind(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name,)* }
            }

            /// `type` and `config` as the API takes them; `http` has no config here.
            pub fn parse(kind: &str, config: &Value) -> Result<Option<Self>, Violations> {
                match kind {
                    "http" => Ok(None),
                    $($name => parse_config::<$config>(config).map(|c| Some(Self::$variant(c))),)*
                    other => Err(unknown_type(other)),
                }
            }

            pub fn config(&self) -> Value {
                match self {
                    $(Self::$variant(c) => serde_json::to_value(c),)*
                }
                .expect("settings serialise")
            }

            pub fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
                match self { $(Self::$variant(c) => c.validate(allow_private_targets, v),)* }
            }

            pub fn masked(&self) -> Self {
                match self { $(Self::$variant(c) => Self::$variant(c.masked()),)* }
            }

            /// Keeps the stored secrets the new settings send back masked, unless the
            /// destination changed: then each such secret must be entered again.
            pub fn keep_secrets(&mut self, stored: &Self, v: &mut Violations) {
                let (kept, before, after) = match (self, stored) {
                    $((Self::$variant(new), Self::$variant(old)) => {
                        (new.keep_secrets(old), old.destination(), new.destination())
                    })*
                    _ => return,
                };
                let kept: Vec<String> = kept.iter().map(|f| format!("config.{f}")).collect();
                crate::domain::destination::credentials_follow(&before, &after, &kept, v);
            }

            pub async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
                match self { $(Self::$variant(c) => c.deliver(ctx).await,)* }
            }
        }
    };
}

registry! {
    "email" => Email(email::EmailConfig),
    "slack" => Slack(slack::SlackConfig),
    "github_commit_status" => GithubCommitStatus(github::CommitStatusConfig),
    "github_pr_comment" => GithubPrComment(github::PrCommentConfig),
    "gitlab_commit_status" => GitlabCommitStatus(gitlab::CommitStatusConfig),
    "gitlab_mr_comment" => GitlabMrComment(gitlab::MrCommentConfig),
}

fn parse_config<T: DeserializeOwned>(config: &Value) -> Result<T, Violations> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "config".to_owned()
        } else {
            format!("config.{path}")
        };
        let mut v = Violations::default();
        v.add(field, e.inner().to_string());
        v
    })
}

fn unknown_type(kind: &str) -> Violations {
    let mut v = Violations::default();
    if kind.starts_with("bitbucket") {
        v.add(
            "type",
            "Bitbucket is not supported: its API has no way to keep one comment per pull \
             request up to date, and its build statuses cannot say a deploy was cancelled; \
             use an http webhook to your own handler instead",
        );
    } else {
        v.add(
            "type",
            format!("must be one of {}", TARGET_TYPES.join(", ")),
        );
    }
    v
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
        target.deliver(&ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_parse_with_errors_under_config() {
        assert_eq!(TargetConfig::parse("http", &Value::Null).unwrap(), None);
        let bad = TargetConfig::parse("slack", &json!({"url": 5})).unwrap_err();
        assert_eq!(bad.0[0].field, "config.url");
        let unknown = TargetConfig::parse("emial", &json!({})).unwrap_err();
        assert!(unknown.0[0].message.contains("email, slack"));
        let bitbucket = TargetConfig::parse("bitbucket_commit_status", &json!({})).unwrap_err();
        assert!(bitbucket.0[0]
            .message
            .starts_with("Bitbucket is not supported"));
    }

    #[test]
    fn a_sent_back_mask_keeps_the_secret() {
        let mut new = Some(MASK.to_owned());
        assert_eq!(
            keep_secret(&mut new, &Some("s3cret".into()), "token"),
            Some("token")
        );
        assert_eq!(new.as_deref(), Some("s3cret"));
        let mut changed = Some("new".to_owned());
        assert_eq!(
            keep_secret(&mut changed, &Some("s3cret".into()), "token"),
            None
        );
        assert_eq!(changed.as_deref(), Some("new"));
    }
}
