//! GitLab: a commit status per deploy (`POST /projects/{id}/statuses/{sha}`), and one
//! merge-request note kept up to date. The commit comes from the event's
//! `entity.commit_ref`, the merge request from `entity.merge_request` (its iid).

use reqwest::Method;

use super::api::{join, segment};
use super::comments::CommentApi;
use super::forge;
use super::notice::DeployState;
use super::{Context, Deliver, Outcome};
use crate::domain::targets::gitlab::{CommitStatusConfig, MrCommentConfig};

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

impl Deliver for CommitStatusConfig {
    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let (n, deploy, sha) = match forge::deploy_and_commit(ctx) {
            Ok(found) => found,
            Err(why) => return ctx.unsent("gitlab", why),
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

impl Deliver for MrCommentConfig {
    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let found = forge::event_and_request(
            ctx,
            "merge_request",
            "x-merge-request",
            "the merge request's iid",
        );
        let (event, iid) = match found {
            Ok(found) => found,
            Err(why) => return ctx.unsent("gitlab", why),
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

    #[test]
    fn deploy_states_map_to_gitlabs() {
        assert_eq!(state(DeployState::Started), "running");
        assert_eq!(state(DeployState::Succeeded), "success");
        assert_eq!(state(DeployState::Failed), "failed");
        assert_eq!(state(DeployState::Cancelled), "canceled");
    }
}
