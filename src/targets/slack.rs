//! Slack, through an incoming-webhook URL: a message with `text` (the notification's title,
//! for phones and screen readers) and `blocks` (title linked, key facts, a failed build's
//! log tail). A Mustache `template` may replace the whole body.

use reqwest::Method;
use serde_json::{json, Value};

use super::api::ApiRequest;
use super::notice::{notice, shorten, Notice};
use super::{Context, Deliver, Outcome};
use crate::domain::targets::slack::SlackConfig;
use crate::domain::targets::TargetSettings;
use crate::domain::template::{self, Escape};

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack shows at most ten fields in a section, each up to 2 000 characters.
pub fn message(n: &Notice, event: &Value) -> Value {
    let title = match &n.link {
        Some(link) => format!("*<{}|{}>*", link, escape(&n.title)),
        None => format!("*{}*", escape(&n.title)),
    };
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": title}})];
    let fields: Vec<Value> = n
        .facts
        .iter()
        .take(10)
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": format!("*{}*\n{}", escape(label), escape(&shorten(value, 1900)))})
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(tail) = &n.log_tail {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("```{}```", escape(&shorten(tail, 2900)))}}));
    }
    let event_name = format!(
        "{}.{}",
        event["entity_type"].as_str().unwrap_or_default(),
        event["event_type"].as_str().unwrap_or_default()
    );
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("hookrelay · {}", escape(&event_name))}
    ]}));
    json!({"text": n.title, "blocks": blocks})
}

impl SlackConfig {
    fn body(&self, event: &Value) -> Result<Value, String> {
        match &self.template {
            None => Ok(message(&notice(event), event)),
            Some(source) => {
                let compiled = template::compile(source).map_err(|e| format!("template: {e}"))?;
                let text = compiled
                    .render(event, Escape::Json)
                    .map_err(|e| format!("the template {e}"))?;
                serde_json::from_str(&text)
                    .map_err(|e| format!("the template did not render JSON for this event: {e}"))
            }
        }
    }
}

impl Deliver for SlackConfig {
    async fn deliver(&self, ctx: &Context<'_>) -> Outcome {
        let body = match ctx.event().and_then(|event| self.body(&event)) {
            Ok(body) => body,
            Err(e) => return ctx.not_sent("slack", e),
        };
        let request = ApiRequest::new(Method::POST, self.url.clone(), Some(body));
        let answer = request.send(ctx).await;
        let mut outcome = request.outcome(ctx, answer);
        // The URL's path is the credential.
        outcome.attempt.request_url = format!("POST {}", self.masked().url);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_message_has_text_blocks_and_escapes_markup() {
        let event = json!({"entity_type": "deploy", "event_type": "deploy_failed", "environment": "main",
            "entity": {"site_name": "A&B <Blog>", "reason": "the command exited with code 3",
                       "log_tail": "boom", "url": "https://hr.example/sites/s/jobs/j"}});
        let m = message(&notice(&event), &event);
        assert_eq!(
            m["text"],
            "Deploy failed for A&B <Blog>: the command exited with code 3"
        );
        let head = m["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(head, "*<https://hr.example/sites/s/jobs/j|Deploy failed for A&amp;B &lt;Blog&gt;: the command exited with code 3>*");
        assert_eq!(
            m["blocks"][1]["fields"][0]["text"],
            "*Site*\nA&amp;B &lt;Blog&gt;"
        );
        assert_eq!(m["blocks"][2]["text"]["text"], "```boom```");
        assert_eq!(m["blocks"][3]["type"], "context");
    }

    #[test]
    fn a_template_replaces_the_body() {
        let config = SlackConfig {
            url: "https://hooks.slack.com/x".into(),
            template: Some(r#"{"text": "{{event_type}}: {{entity.title}}"}"#.into()),
        };
        let body = config
            .body(&json!({"event_type": "publish", "entity": {"title": "Say \"hi\""}}))
            .unwrap();
        assert_eq!(body, json!({"text": "publish: Say \"hi\""}));
    }
}
