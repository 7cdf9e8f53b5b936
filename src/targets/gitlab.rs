//! GitLab: a commit status per deploy (`POST /projects/{id}/statuses/{sha}`), and one
//! merge-request note kept up to date. The commit comes from the event's
//! `entity.commit_ref`, the merge request from `entity.merge_request` (its iid).

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
    "https://gitlab.com/api/v4".into()
}

fn default_name() -> String {
    "hookrelay/deploy".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitStatusConfig {
    /// Self-managed GitLab: `https://gitlab.example.com/api/v4`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The project's id or its path (`group/project`).
    pub project: String,
    /// A token with the `api` scope.
    pub token: Option<String>,
    /// The status's name on the commit.
    #[serde(default = "default_name")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MrCommentConfig {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub project: String,
    pub token: Option<String>,
}

fn validate_project(
    api_url: &str,
    project: &str,
    token: &Option<String>,
    allow_private_targets: bool,
    v: &mut Violations,
) {
    if let Err(problem) = check_url(api_url, allow_private_targets) {
        v.add("config.api_url", problem.to_string());
    }
    v.text("config.project", project, 255);
    if token.as_deref().is_none_or(str::is_empty) {
        v.add(
            "config.token",
            "is required: a GitLab token with the api scope",
        );
    }
}

fn headers(token: &Option<String>) -> Vec<(&'static str, String)> {
    vec![("private-token", token.clone().unwrap_or_default())]
}

/// GitLab's pipeline states for a deploy's.
fn state(deploy: DeployState) -> &'static str {
    match deploy {
        DeployState::Started => "running",
        DeployState::Succeeded => "success",
        DeployState::Failed => "failed",
        DeployState::Cancelled => "canceled",
    }
}

impl Notifier for CommitStatusConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_project(
            &self.api_url,
            &self.project,
            &self.token,
            allow_private_targets,
            v,
        );
        v.text("config.name", &self.name, 100);
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
            Err(reason) => return ctx.not_sent("gitlab", reason),
        };
        let url = join(
            &self.api_url,
            &format!(
                "/projects/{}/statuses/{}",
                segment(&self.project),
                segment(&sha)
            ),
        );
        let body = forge::status_body(&n, state(deploy), ("name", &self.name), 255);
        forge::post(ctx, url, body, headers(&self.token)).await
    }
}

impl Notifier for MrCommentConfig {
    fn validate(&self, allow_private_targets: bool, v: &mut Violations) {
        validate_project(
            &self.api_url,
            &self.project,
            &self.token,
            allow_private_targets,
            v,
        );
    }

    fn masked(&self) -> Self {
        MrCommentConfig {
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
            "merge_request",
            "x-merge-request",
            "the merge request's iid",
        );
        let (event, iid) = match found {
            Ok(found) => found,
            Err(reason) => return ctx.not_sent("gitlab", reason),
        };
        let notes = join(
            &self.api_url,
            &format!(
                "/projects/{}/merge_requests/{}/notes",
                segment(&self.project),
                segment(&iid)
            ),
        );
        let item_base = format!("{notes}/");
        let api = CommentApi {
            list_url: format!("{notes}?per_page=100&sort=asc"),
            create_url: notes,
            item_url: Box::new(move |id| format!("{item_base}{id}")),
            update_method: Method::PUT,
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
    fn deploy_states_map_to_gitlabs() {
        assert_eq!(state(DeployState::Started), "running");
        assert_eq!(state(DeployState::Succeeded), "success");
        assert_eq!(state(DeployState::Failed), "failed");
        assert_eq!(state(DeployState::Cancelled), "canceled");
    }

    #[test]
    fn a_token_is_required() {
        let config: MrCommentConfig =
            serde_json::from_value(json!({"project": "group/site"})).unwrap();
        let mut v = Violations::default();
        config.validate(false, &mut v);
        assert_eq!(v.0[0].field, "config.token");
    }
}
