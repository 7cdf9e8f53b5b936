//! Where a webhook sends when it is not a plain URL: each notification target's settings,
//! their rules and how they are shown (secrets masked), in a registry. Pure: delivering
//! to each is `targets/`. Adding a target is a file here (its settings), a file there
//! (its delivery), one line in `registry!` and one arm in `targets::deliver`.

pub mod email;
pub mod github;
pub mod gitlab;
pub mod slack;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use super::redact::MASK;
use super::validation::Violations;

/// A notification target's settings: their rules and how they are shown.
pub trait TargetSettings: Serialize + DeserializeOwned + Clone + PartialEq + Eq {
    /// Adds every problem, naming fields below `config.`.
    fn validate(&self, allow_private_targets: bool, v: &mut Violations);
    /// A copy with secrets (tokens, passwords) replaced by [`MASK`].
    fn masked(&self) -> Self;
    /// Where the new settings hold [`MASK`], keeps the secret `stored` has; returns the
    /// fields kept so (below `config.`).
    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str>;
    /// Where its secrets go (a URL or `host:port`): a kept secret must not move elsewhere.
    fn destination(&self) -> String;
    /// For a target whose messages are states of one thing (a commit's status), the JSON
    /// pointer to that thing in the event: its calls go `latest` by it unless the webhook
    /// orders them otherwise.
    fn own_ordering_key(&self) -> Option<&'static str> {
        None
    }
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

            pub fn own_ordering_key(&self) -> Option<&'static str> {
                match self { $(Self::$variant(c) => c.own_ordering_key(),)* }
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
                super::destination::credentials_follow(&before, &after, &kept, v);
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
