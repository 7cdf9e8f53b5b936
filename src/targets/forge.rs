//! What GitHub's and GitLab's targets share: reading the deploy and commit a status
//! reports, the request a comment belongs to, and sending one authenticated request.

use reqwest::Method;
use serde_json::{json, Value};

use super::api::ApiRequest;
use super::comments::{self, CommentApi};
use super::notice::{entity_text, notice, shorten, DeployState, Notice};
use super::{Context, Outcome, Unsent};

/// A deploy event and its commit, as a commit status needs them; else why nothing is
/// sent (another event, or a deploy without a commit, is nothing to do: a lock, a cron
/// build).
pub fn deploy_and_commit(ctx: &Context<'_>) -> Result<(Notice, DeployState, String), Unsent> {
    let event = ctx.event().map_err(Unsent::Fault)?;
    let n = notice(&event);
    let Some(deploy) = n.deploy else {
        return Err(Unsent::NothingToDo(
            "a commit status reports deploys (deploy_started, deploy_succeeded, \
             deploy_failed, deploy_cancelled); this event is none of them"
                .into(),
        ));
    };
    let Some(sha) = entity_text(&event, "commit_ref") else {
        return Err(Unsent::NothingToDo(
            "the event has no entity.commit_ref (the commit's SHA); trigger the \
             build with an x-commit-ref header, or publish the event with one"
                .into(),
        ));
    };
    Ok((n, deploy, sha))
}

/// A status body: the state, the title cut to `max_description`, a link when there is one.
pub fn status_body(
    n: &Notice,
    state: &str,
    name_field: (&str, &str),
    max_description: usize,
) -> Value {
    let mut body = json!({
        "state": state,
        "description": shorten(&n.title, max_description),
        name_field.0: name_field.1,
    });
    if let Some(link) = &n.link {
        body["target_url"] = json!(link);
    }
    body
}

/// POSTs `body` to `url` with the forge's headers, as the call's attempt.
pub async fn post(
    ctx: &Context<'_>,
    url: String,
    body: Value,
    headers: Vec<(&'static str, String)>,
) -> Outcome {
    let mut request = ApiRequest::new(Method::POST, url, Some(body));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = request.send(ctx).await;
    request.outcome(ctx, answer)
}

/// The event and its pull or merge request (`entity.<field>`); else why nothing is sent
/// (an event about no request is nothing to do).
pub fn event_and_request(
    ctx: &Context<'_>,
    field: &str,
    header: &str,
    what: &str,
) -> Result<(Value, String), Unsent> {
    let event = ctx.event().map_err(Unsent::Fault)?;
    match entity_text(&event, field) {
        Some(number) => Ok((event, number)),
        None => Err(Unsent::NothingToDo(format!(
            "the event has no entity.{field} ({what}); trigger the build with an \
             {header} header, or publish the event with one"
        ))),
    }
}

/// Adds or edits this webhook's comment with the event's notice.
pub async fn upsert_comment(ctx: &Context<'_>, api: CommentApi, event: &Value) -> Outcome {
    let marker = comments::marker(&ctx.webhook.id);
    api.upsert(ctx, &marker, comments::markdown(&notice(event), &marker))
        .await
}
