//! One comment per pull (or merge) request, updated in place: the comment carries a hidden
//! marker naming the webhook, later events find it and edit it instead of adding another.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use reqwest::Method;
use serde_json::{json, Value};

use super::api::ApiRequest;
use super::notice::{DeployState, Notice};
use super::{Context, Outcome};

/// The hidden line that identifies this webhook's comment.
pub fn marker(webhook_id: &str) -> String {
    format!("<!-- hookrelay:{webhook_id} -->")
}

/// The comment: a heading with the state, the facts as a table, a failed build's log tail
/// folded away, and a link.
pub fn markdown(n: &Notice, marker: &str) -> String {
    let icon = match n.deploy {
        Some(DeployState::Started) => "⏳",
        Some(DeployState::Succeeded) => "✅",
        Some(DeployState::Failed) => "❌",
        Some(DeployState::Cancelled) => "⏹️",
        None => "🔔",
    };
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut text = format!("{marker}\n### {icon} {}\n\n| | |\n|---|---|\n", n.title);
    for (label, value) in &n.facts {
        text.push_str(&format!("| **{}** | {} |\n", cell(label), cell(value)));
    }
    if let Some(tail) = &n.log_tail {
        text.push_str(&format!(
            "\n<details><summary>End of the log</summary>\n\n```\n{}\n```\n</details>\n",
            tail.replace("```", "'''")
        ));
    }
    if let Some(link) = &n.link {
        text.push_str(&format!("\n[Open in hookrelay]({link})\n"));
    }
    text
}

/// How one forge lists, adds and edits comments.
pub struct CommentApi {
    /// Lists the request's comments; `&page=N` is appended.
    pub list_url: String,
    pub create_url: String,
    /// The URL of one comment, by id.
    pub item_url: Box<dyn Fn(&str) -> String + Send + Sync>,
    pub update_method: Method,
    pub headers: Vec<(&'static str, String)>,
}

/// Pages read at most when looking for the marker (100 comments each).
const MAX_PAGES: u32 = 20;

/// Serialises the updates of one request's comment within this process, so two events
/// of one pull request never both find no comment and both add one.
fn lock_for(key: String) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Mutex::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    if locks.len() > 10_000 {
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
    locks.entry(key).or_default().clone()
}

impl CommentApi {
    fn request(&self, method: Method, url: String, body: Option<Value>) -> ApiRequest {
        let mut request = ApiRequest::new(method, url, body);
        for (name, value) in &self.headers {
            request = request.header(name, value.clone());
        }
        request
    }

    /// Edits the comment carrying `marker`, or adds one when there is none yet.
    pub async fn upsert(&self, ctx: &Context<'_>, marker: &str, text: String) -> Outcome {
        let lock = lock_for(self.create_url.clone());
        let _held = lock.lock().await;
        let mut found = None;
        for page in 1..=MAX_PAGES {
            let list = self.request(Method::GET, format!("{}&page={page}", self.list_url), None);
            let answer = list.send(ctx).await;
            if !answer.ok() {
                return list.outcome(ctx, answer);
            }
            let comments = answer
                .json()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            found = comments.iter().find_map(|c| {
                let body = c.get("body").and_then(Value::as_str)?;
                body.contains(marker)
                    .then(|| c.get("id"))
                    .flatten()
                    .map(|id| match id {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
            });
            if found.is_some() || comments.len() < 100 {
                break;
            }
        }
        let body = Some(json!({ "body": text }));
        let write = match found {
            Some(id) => self.request(self.update_method.clone(), (self.item_url)(&id), body),
            None => self.request(Method::POST, self.create_url.clone(), body),
        };
        let answer = write.send(ctx).await;
        write.outcome(ctx, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_starts_with_its_marker_and_escapes_table_cells() {
        let n = Notice {
            title: "Deploy failed for Blog".into(),
            facts: vec![("Trigger".into(), "a | b".into())],
            link: Some("https://hr.example/j".into()),
            log_tail: Some("error ``` here".into()),
            deploy: Some(DeployState::Failed),
        };
        let text = markdown(&n, &marker("wh_1"));
        assert!(text.starts_with("<!-- hookrelay:wh_1 -->\n### ❌ Deploy failed for Blog"));
        assert!(text.contains("| **Trigger** | a \\| b |"));
        assert!(text.contains("error ''' here"));
        assert!(text.ends_with("[Open in hookrelay](https://hr.example/j)\n"));
    }
}
