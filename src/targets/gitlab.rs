//! GitLab: a commit status per deploy (`POST /projects/{id}/statuses/{sha}`), and one
//! merge-request note kept up to date. The commit comes from the event's
//! `entity.commit_ref`, the merge request from `entity.merge_request` (its iid).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::{join, segment, ApiRequest};
use super::comments::{self, CommentApi};
use super::notice::{entity_text, notice, shorten, DeployState};
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

    fn keep_secrets(&mut self, stored: &Self) {
        keep_secret(&mut self.token, &stored.token);
    }

    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let event = match ctx.event() {
            Ok(event) => event,
            Err(e) => return ctx.not_sent("gitlab", e),
        };
        let n = notice(&event);
        let Some(deploy) = n.deploy else {
            return ctx.not_sent(
                "gitlab",
                "a commit status reports deploys: subscribe this webhook to deploy_started, \
                 deploy_succeeded, deploy_failed or deploy_cancelled",
            );
        };
        let Some(sha) = entity_text(&event, "commit_ref") else {
            return ctx.not_sent(
                "gitlab",
                "the event has no entity.commit_ref (the commit's SHA); trigger the build \
                 with an x-commit-ref header, or publish the event with one",
            );
        };
        let mut body = json!({
            "state": state(deploy),
            "name": self.name,
            "description": shorten(&n.title, 255),
        });
        if let Some(link) = &n.link {
            body["target_url"] = json!(link);
        }
        let url = join(
            &self.api_url,
            &format!(
                "/projects/{}/statuses/{}",
                segment(&self.project),
                segment(&sha)
            ),
        );
        let mut request = ApiRequest::new(Method::POST, url, Some(body));
        for (name, value) in headers(&self.token) {
            request = request.header(name, value);
        }
        let answer = request.send(ctx).await;
        request.outcome(ctx, answer)
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

    fn keep_secrets(&mut self, stored: &Self) {
        keep_secret(&mut self.token, &stored.token);
    }

    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let event = match ctx.event() {
            Ok(event) => event,
            Err(e) => return ctx.not_sent("gitlab", e),
        };
        let Some(iid) = entity_text(&event, "merge_request") else {
            return ctx.not_sent(
                "gitlab",
                "the event has no entity.merge_request (the merge request's iid); trigger \
                 the build with an x-merge-request header, or publish the event with one",
            );
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
        let marker = comments::marker(&ctx.webhook.id);
        api.upsert(ctx, &marker, comments::markdown(&notice(&event), &marker))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
