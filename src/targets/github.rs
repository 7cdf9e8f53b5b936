//! GitHub: a commit status per deploy (`POST /repos/{owner}/{repo}/statuses/{sha}`), and
//! one pull-request comment kept up to date. The commit comes from the event's
//! `entity.commit_ref`, the pull request from `entity.pull_request`.

use reqwest::Method;

use super::api::{join, segment};
use super::comments::CommentApi;
use super::forge;
use super::notice::DeployState;
use super::{Context, Deliver, Outcome};
use crate::domain::targets::github::{CommitStatusConfig, PrCommentConfig};

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

impl Deliver for CommitStatusConfig {
    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let (n, deploy, sha) = match forge::deploy_and_commit(ctx) {
            Ok(found) => found,
            Err(why) => return ctx.unsent("github", why),
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

impl Deliver for PrCommentConfig {
    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let found = forge::event_and_request(
            ctx,
            "pull_request",
            "x-pull-request",
            "the pull request's number",
        );
        let (event, number) = match found {
            Ok(found) => found,
            Err(why) => return ctx.unsent("github", why),
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

    #[test]
    fn deploy_states_map_to_githubs() {
        assert_eq!(state(DeployState::Started), "pending");
        assert_eq!(state(DeployState::Succeeded), "success");
        assert_eq!(state(DeployState::Failed), "failure");
        assert_eq!(state(DeployState::Cancelled), "error");
    }
}
