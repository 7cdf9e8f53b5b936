//! What a notification says about an event, worked out once for every target: a title, the
//! key facts, a link, the tail of a failed build's log, and the deploy state that commit
//! statuses map from. Pure: the event body in, words out.

use serde_json::Value;

/// A deploy's state, for commit statuses. Events that are not about a deploy have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployState {
    Started,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// One line: "Deploy failed for Blog: the command exited with code 3".
    pub title: String,
    /// Label and value, in the order a person reads them.
    pub facts: Vec<(String, String)>,
    pub link: Option<String>,
    /// The end of a failed job's output.
    pub log_tail: Option<String>,
    pub deploy: Option<DeployState>,
}

/// `entity.<field>` as text (strings as they are, numbers written out).
pub fn entity_text(event: &Value, field: &str) -> Option<String> {
    match event.get("entity")?.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(event: &Value, field: &str) -> String {
    event
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The notice for an event body (`{entity_type, event_type, environment, entity}`).
pub fn notice(event: &Value) -> Notice {
    let mut notice = notice_of(event);
    // "Send test" marks its event (`domain::webhook::test_event`), so that nobody reading
    // the mail or the chat takes the test for a real deploy.
    if event.pointer("/entity/test") == Some(&Value::Bool(true)) {
        notice.title = format!("Test: {}", notice.title);
    }
    notice
}

fn notice_of(event: &Value) -> Notice {
    let entity_type = text(event, "entity_type");
    let event_type = text(event, "event_type");
    let e = |field: &str| entity_text(event, field);
    if entity_type == "deploy" {
        return deploy_notice(event, &event_type);
    }
    if entity_type == "form_submission" {
        let form = e("form_name").unwrap_or_else(|| "a form".into());
        let mut facts = vec![("Form".to_owned(), form.clone())];
        if let Some(Value::Object(data)) = event.get("entity").and_then(|x| x.get("data")) {
            for (name, value) in data {
                let shown = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                facts.push((name.clone(), shown));
            }
        }
        return Notice {
            title: format!("New submission to {form}"),
            facts,
            link: e("url"),
            log_tail: None,
            deploy: None,
        };
    }
    let name = e("title").or_else(|| e("name")).or_else(|| e("id"));
    let mut facts = vec![
        ("Event".to_owned(), format!("{entity_type}.{event_type}")),
        ("Environment".to_owned(), text(event, "environment")),
    ];
    if let Some(id) = e("id") {
        facts.push(("Id".to_owned(), id));
    }
    Notice {
        title: match name {
            Some(name) => format!("{entity_type} {event_type}: {name}"),
            None => format!("{entity_type} {event_type}"),
        },
        facts,
        link: e("url"),
        log_tail: None,
        deploy: None,
    }
}

fn deploy_notice(event: &Value, event_type: &str) -> Notice {
    let e = |field: &str| entity_text(event, field);
    let site = e("site_name").unwrap_or_else(|| "the site".into());
    let kind = match e("kind").as_deref() {
        Some("preview") => "Preview",
        Some("sync") => "Data sync",
        _ => "Deploy",
    };
    let (deploy, title) = match event_type {
        "deploy_started" => (
            Some(DeployState::Started),
            format!("{kind} started for {site}"),
        ),
        "deploy_succeeded" => (
            Some(DeployState::Succeeded),
            format!("{kind} succeeded for {site}"),
        ),
        "deploy_failed" => (
            Some(DeployState::Failed),
            match e("reason") {
                Some(reason) => format!("{kind} failed for {site}: {reason}"),
                None => format!("{kind} failed for {site}"),
            },
        ),
        "deploy_cancelled" => (
            Some(DeployState::Cancelled),
            format!("{kind} cancelled for {site}"),
        ),
        "deploy_locked" => (None, format!("Deploys locked for {site}")),
        "deploy_unlocked" => (None, format!("Deploys unlocked for {site}")),
        other => (None, format!("{kind} {other} for {site}")),
    };
    let mut facts = vec![("Site".to_owned(), site)];
    for (label, field) in [
        ("Trigger", "triggered_by"),
        ("Commit", "commit_ref"),
        ("Data source", "data_source"),
        ("Job", "id"),
    ] {
        if let Some(value) = e(field) {
            facts.push((label.to_owned(), value));
        }
    }
    Notice {
        title,
        facts,
        link: e("url"),
        log_tail: (deploy == Some(DeployState::Failed))
            .then(|| e("log_tail"))
            .flatten(),
        deploy,
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_test_event_says_it_is_a_test() {
        let mut settings =
            crate::domain::webhook::WebhookSettings::new("Deploy mail", "https://example.com/");
        settings.triggers = vec![crate::domain::trigger::Trigger {
            entity_type: "deploy".into(),
            event_types: vec!["*".into()],
            entity_ids: vec![],
            model_ids: vec![],
        }];
        let event = settings.test_event("Shop");
        let body = json!({"entity_type": event.entity_type, "event_type": event.event_type,
                          "entity": event.entity});
        assert_eq!(notice(&body).title, "Test: Deploy succeeded for Shop");
        let real = json!({"entity_type": "deploy", "event_type": "deploy_succeeded",
                          "entity": {"site_name": "Shop", "test": "no"}});
        assert_eq!(notice(&real).title, "Deploy succeeded for Shop");
    }

    #[test]
    fn a_failed_deploy_says_why_and_keeps_the_log_tail() {
        let n = notice(&json!({
            "entity_type": "deploy", "event_type": "deploy_failed", "environment": "main",
            "entity": {"id": "job_1", "kind": "build", "site_name": "Blog",
                       "reason": "the command exited with code 3", "triggered_by": "Triggered by CMS",
                       "commit_ref": "abc123", "log_tail": "npm ERR! missing script", "url": "https://hr.example/sites/s/jobs/job_1"}
        }));
        assert_eq!(
            n.title,
            "Deploy failed for Blog: the command exited with code 3"
        );
        assert_eq!(n.deploy, Some(DeployState::Failed));
        assert_eq!(n.log_tail.as_deref(), Some("npm ERR! missing script"));
        assert_eq!(
            n.link.as_deref(),
            Some("https://hr.example/sites/s/jobs/job_1")
        );
        assert!(n.facts.contains(&("Commit".into(), "abc123".into())));
    }

    #[test]
    fn other_events_name_the_entity() {
        let n = notice(
            &json!({"entity_type": "item", "event_type": "publish", "environment": "main", "entity": {"id": 7, "title": "Hello"}}),
        );
        assert_eq!(n.title, "item publish: Hello");
        assert_eq!(n.deploy, None);
        let started = notice(
            &json!({"entity_type": "deploy", "event_type": "deploy_started", "entity": {"kind": "preview", "site_name": "Docs"}}),
        );
        assert_eq!(started.title, "Preview started for Docs");
        assert_eq!(started.log_tail, None);
    }

    #[test]
    fn a_submission_lists_its_fields() {
        let n = notice(
            &json!({"entity_type": "form_submission", "event_type": "submission_created",
            "entity": {"form_name": "contact", "data": {"email": "a@b.c", "message": "Hi"}}}),
        );
        assert_eq!(n.title, "New submission to contact");
        assert!(n.facts.contains(&("email".into(), "a@b.c".into())));
    }

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("äbc", 3), "äbc");
    }
}
