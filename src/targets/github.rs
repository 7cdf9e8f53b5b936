//! GitHub: a commit status per deploy (`POST /repos/{owner}/{repo}/statuses/{sha}`), and
//! one pull-request comment kept up to date. The commit comes from the event's
//! `entity.commit_ref`, the pull request from `entity.pull_request`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::api::{join, segment};
use super::comments::CommentApi;
use super::forge;
use super::notice::DeployState;
use super::{keep_secret, mask_secret, Context, Notifier, Outcome};
use crate::domain::destination::check_url;
use crate::domain::validation::Violations;

fn default_api_url() -> String {
    "https://api.github.com".into()
}

fn default_context() -> String {
    "hookrelay/deploy".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitStatusConfig {
    /// GitHub Enterprise: `https://github.example.com/api/v3`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// A token allowed to write commit statuses.
    pub token: Option<String>,
    /// The status's name on the commit.
    #[serde(default = "default_context")]
    pub context: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrCommentConfig {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// A token allowed to write issues and pull requests.
    pub token: Option<String>,
}

fn validate_repo(
    api_url: &str,
    owner: &str,
    repo: &str,
    token: &Option<String>,
    allow_private_targets: bool,
    v: &mut Violations,
) {
    if let Err(problem) = check_url(api_url, allow_private_targets) {
        v.add("config.api_url", problem.to_string());
    }
    for (field, value) in [("config.owner", owner), ("config.repo", repo)] {
        let well_formed = !value.is_empty()
            && value.len() <= 100
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !well_formed {
            v.add(
                field,
                "must be a GitHub name: letters, digits, '-', '_' or '.'",
            );
        }
    }
    if token.as_deref().is_none_or(str::is_empty) {
        v.add(
            "config.token",
            "is required: a GitHub token that may write to the repository",
        );
    }
}

fn headers(token: &Option<String>) -> Vec<(&'static str, String)> {
    vec![
        (
            "authorization",
            format!("Bearer {}", token.as_deref().unwrap_or_default()),
        ),
        ("accept", "application/vnd.github+json".into()),
        ("x-github-api-version", "2022-11-28".into()),
    ]
}

/// GitHub's commit states for a deploy's.
fn state(deploy: DeployState) -> &'static str {
    match deploy {
        DeployState::Started => "pending",
        DeployState::Succeeded => "success",
        DeployState::Failed => "failure",
        DeployState::Cancelled => "error",
    }
}

impl Notifier for CommitStatusConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_repo(
            &self.api_url,
            &self.owner,
            &self.repo,
            &self.token,
            allow_private_targets,
            v,
        );
        v.text("config.context", &self.context, 100);
    }

    fn masked(&self) -> Self {
        CommitStatusConfig {
            token: mask_secret(&self.token),
            ..self.clone()
        }
    }

    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str> {
        keep_secret(&mut self.token, &stored.token, "token")
            .into_iter()
            .collect()
    }

    fn destination(&self) -> String {
        self.api_url.clone()
    }

    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let (n, deploy, sha) = match forge::deploy_and_commit(ctx) {
            Ok(found) => found,
            Err(reason) => return ctx.not_sent("github", reason),
        };
        let url = join(
            &self.api_url,
            &format!(
                "/repos/{}/{}/statuses/{}",
                self.owner,
                self.repo,
                segment(&sha)
            ),
        );
        let body = forge::status_body(&n, state(deploy), ("context", &self.context), 140);
        forge::post(ctx, url, body, headers(&self.token)).await
    }
}

impl Notifier for PrCommentConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_repo(
            &self.api_url,
            &self.owner,
            &self.repo,
            &self.token,
            allow_private_targets,
            v,
        );
    }

    fn masked(&self) -> Self {
        PrCommentConfig {
            token: mask_secret(&self.token),
            ..self.clone()
        }
    }

    fn keep_secrets(&mut self, stored: &Self) -> Vec<&'static str> {
        keep_secret(&mut self.token, &stored.token, "token")
            .into_iter()
            .collect()
    }

    fn destination(&self) -> String {
        self.api_url.clone()
    }

    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let found = forge::event_and_request(
            ctx,
            "pull_request",
            "x-pull-request",
            "the pull request's number",
        );
        let (event, number) = match found {
            Ok(found) => found,
            Err(reason) => return ctx.not_sent("github", reason),
        };
        let repo = join(
            &self.api_url,
            &format!("/repos/{}/{}", self.owner, self.repo),
        );
        let number = segment(&number);
        let item_base = format!("{repo}/issues/comments/");
        let api = CommentApi {
            list_url: format!("{repo}/issues/{number}/comments?per_page=100"),
            create_url: format!("{repo}/issues/{number}/comments"),
            item_url: Box::new(move |id| format!("{item_base}{id}")),
            update_method: Method::PATCH,
            headers: headers(&self.token),
        };
        forge::upsert_comment(ctx, api, &event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deploy_states_map_to_githubs() {
        assert_eq!(state(DeployState::Started), "pending");
        assert_eq!(state(DeployState::Succeeded), "success");
        assert_eq!(state(DeployState::Failed), "failure");
        assert_eq!(state(DeployState::Cancelled), "error");
    }

    #[test]
    fn settings_need_a_repository_and_a_token() {
        let config: CommitStatusConfig =
            serde_json::from_value(json!({"owner": "acme", "repo": "site/../x"})).unwrap();
        assert_eq!(config.api_url, "https://api.github.com");
        assert_eq!(config.context, "hookrelay/deploy");
        let mut v = Violations::default();
        config.validate(false, &mut v);
        let fields: Vec<_> = v.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["config.repo", "config.token"]);
        assert_eq!(
            CommitStatusConfig {
                token: Some("ghp_x".into()),
                ..config
            }
            .masked()
            .token
            .as_deref(),
            Some(super::super::MASK)
        );
    }
}
