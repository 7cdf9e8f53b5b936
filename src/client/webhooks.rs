//! `hookrelay webhooks …`: webhooks and notifications, their settings by flag, their
//! secrets and recoveries.

use std::time::Duration;

use serde_json::{json, Value};

use super::api::{Api, Failure};
use super::args::{open, parse_json, trigger, usage};
use super::output::details;
use super::*;

const WEBHOOK_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("TYPE", "type"),
    ("URL", "url"),
    ("ENABLED", "enabled"),
];
const RECOVERY_FIELDS: &[(&str, &str)] = &[
    ("Id", "id"),
    ("Status", "status"),
    ("Re-sent", "resent"),
    ("Since", "since"),
    ("Until", "until"),
];

pub(super) async fn run(conn: &Connection, action: WebhooksAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    let fields: &[(&str, &str)] = &[
        ("Id", "id"),
        ("Name", "name"),
        ("Type", "type"),
        ("URL", "url"),
        ("Enabled", "enabled"),
        ("Created", "created_at"),
    ];
    match action {
        WebhooksAction::List(s) => out.list(
            &api.get(&format!("/sites/{}/webhooks", s.id()?)).await?,
            WEBHOOK_COLUMNS,
        ),
        WebhooksAction::Show { site, id } => out.show(
            &api.get(&format!("/sites/{}/webhooks/{id}", site.id()?))
                .await?,
            |w| details(w, fields),
        ),
        WebhooksAction::Create {
            site,
            name,
            url,
            triggers,
            headers,
            kind,
            options,
        } => {
            let mut body = json!({
                "name": name,
                "triggers": triggers.iter().map(|t| trigger(t)).collect::<Result<Vec<_>, _>>()?,
            });
            if let Some(url) = url {
                body["url"] = json!(url);
            }
            if !headers.is_empty() {
                let mut map = serde_json::Map::new();
                for h in &headers {
                    let (k, v) = h
                        .split_once(':')
                        .ok_or_else(|| usage(format!("--header {h:?}: write Name: value")))?;
                    map.insert(k.trim().to_owned(), json!(v.trim()));
                }
                body["headers"] = Value::Object(map);
            }
            if let Some(kind) = kind {
                body["type"] = json!(kind);
            }
            options.apply(&mut body)?;
            let made = api
                .post(&format!("/sites/{}/webhooks", site.id()?), &body)
                .await?;
            out.show(&made, |w| {
                format!(
                    "{}\nsecret    {}",
                    details(w, fields),
                    super::output::cell(w, "secret")
                )
            });
        }
        WebhooksAction::Update {
            site,
            id,
            name,
            url,
            enabled,
            triggers,
            options,
            set,
        } => {
            let mut body = match set {
                Some(text) => parse_json("--set", &text)?,
                None => json!({}),
            };
            if !triggers.is_empty() {
                let parsed = triggers.iter().map(|t| trigger(t));
                body["triggers"] = json!(parsed.collect::<Result<Vec<_>, _>>()?);
            }
            for (field, value) in [
                ("name", name.map(Value::from)),
                ("url", url.map(Value::from)),
                ("enabled", enabled.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[field] = value;
                }
            }
            options.apply(&mut body)?;
            let done = api
                .patch(&format!("/sites/{}/webhooks/{id}", site.id()?), &body)
                .await?;
            out.show(&done, |w| details(w, fields));
        }
        WebhooksAction::Delete { site, id } => {
            api.delete(&format!("/sites/{}/webhooks/{id}", site.id()?))
                .await?;
            out.show(&json!({"deleted": id}), |_| format!("deleted {id}"));
        }
        WebhooksAction::Recover {
            site,
            id,
            since,
            until,
        } => {
            let body = json!({"since": since, "until": until});
            let queued = api
                .post(
                    &format!("/sites/{}/webhooks/{id}/recover", site.id()?),
                    &body,
                )
                .await?;
            out.show(&queued, |r| details(r, RECOVERY_FIELDS));
        }
        WebhooksAction::Recovery {
            site,
            id,
            recovery_id,
        } => out.show(
            &api.get(&format!(
                "/sites/{}/webhooks/{id}/recoveries/{recovery_id}",
                site.id()?
            ))
            .await?,
            |r| details(r, RECOVERY_FIELDS),
        ),
        WebhooksAction::Test { site, id, wait } => {
            let site = site.id()?;
            let published = api
                .post(&format!("/sites/{site}/webhooks/{id}/test"), &json!({}))
                .await?;
            let call_id = published["webhook_call_ids"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !wait {
                out.show(&published, |_| format!("Sent a test event: call {call_id}"));
                return Ok(());
            }
            let call = first_attempt(&api, site, &call_id).await?;
            out.show(&call, |c| {
                let last = c["attempts"].as_array().and_then(|a| a.last());
                let mut text = details(c, &[("Call", "id"), ("Status", "status")]);
                if let Some(attempt) = last {
                    text.push('\n');
                    text.push_str(&details(
                        attempt,
                        &[
                            ("Sent to", "request_url"),
                            ("Answer", "response_status"),
                            ("Error", "error"),
                        ],
                    ));
                }
                text
            });
            let status = call["status"].as_str().unwrap_or_default();
            if !matches!(status, "success" | "skipped") {
                return Err(Failure {
                    code: super::api::EXIT_DID_NOT_SUCCEED,
                    message: format!("the test call {call_id} did not succeed ({status})"),
                });
            }
        }
        WebhooksAction::RotateSecret { site, id } => {
            let rotated = api
                .post(
                    &format!("/sites/{}/webhooks/{id}/rotate_secret", site.id()?),
                    &json!({}),
                )
                .await?;
            out.show(&rotated, |r| {
                details(
                    r,
                    &[
                        ("secret", "secret"),
                        ("old one signs until", "previous_secret_expires_at"),
                    ],
                )
            });
        }
    }
    Ok(())
}

/// How long `webhooks test --wait` waits: the longest receiver timeout (60 s) and a margin.
const TEST_PATIENCE: Duration = Duration::from_secs(90);

/// The call once its first attempt is recorded (or it ended without one: skipped).
async fn first_attempt(api: &Api, site: &str, call_id: &str) -> Result<Value, Failure> {
    let deadline = tokio::time::Instant::now() + TEST_PATIENCE;
    loop {
        let call = api
            .get(&format!("/sites/{site}/webhook_calls/{call_id}"))
            .await?;
        let attempted = call["attempt_count"].as_u64().unwrap_or_default() > 0;
        if attempted || call["status"] != "pending" {
            return Ok(call);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure {
                code: super::api::EXIT_UNAVAILABLE,
                message: format!(
                    "the test call {call_id} had no attempt after {} s",
                    TEST_PATIENCE.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Settings both `create` and `update` take as flags; each one given becomes its API field.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebhookOptions {
    /// The target's settings as JSON (email, slack, github_*, gitlab_*); `-` reads stdin.
    #[arg(long = "target-config", value_name = "JSON")]
    target_config: Option<String>,
    /// `user:password` sent as HTTP basic auth.
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,
    /// A Mustache payload template; `@file` reads it from a file.
    #[arg(long, value_name = "TEMPLATE")]
    template: Option<String>,
    /// The body's Content-Type with a template (application/json, text/plain, …).
    #[arg(long)]
    content_type: Option<String>,
    /// Sign with a JWS (HS256) under this secret, as Netlify does (header X-Nf-Sign).
    #[arg(long, value_name = "SECRET")]
    jws_secret: Option<String>,
    /// How long a receiver has to answer, in ms (100–60000).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// none, key or latest: deliver calls of one ordering key one at a time, in order.
    #[arg(long)]
    ordering: Option<String>,
    /// What the ordering key is read from: a JSON pointer into the event (default
    /// `/entity/id`), or `*` for one order across the webhook.
    #[arg(long, value_name = "POINTER")]
    ordering_key: Option<String>,
    /// Narrow every `--trigger` to these entity ids (repeatable).
    #[arg(long = "entity-id", value_name = "ID")]
    entity_ids: Vec<String>,
    /// Narrow every `--trigger` to entities of these models, or a model trigger
    /// (`item_type:…`) to these models (repeatable).
    #[arg(long = "model-id", value_name = "ID")]
    model_ids: Vec<String>,
}

impl WebhookOptions {
    /// Writes each option given into the API body.
    fn apply(self, body: &mut Value) -> Result<(), Failure> {
        for (field, flag, ids) in [
            ("entity_ids", "--entity-id", &self.entity_ids),
            ("model_ids", "--model-id", &self.model_ids),
        ] {
            if ids.is_empty() {
                continue;
            }
            let Some(triggers) = body["triggers"].as_array_mut() else {
                return Err(usage(format!(
                    "{flag}: give the triggers it narrows with --trigger"
                )));
            };
            for t in triggers {
                t[field] = json!(ids);
            }
        }
        if let Some(text) = self.target_config {
            body["config"] = parse_json("--target-config", &text)?;
        }
        if let Some(pair) = self.basic_auth {
            let (username, password) = pair
                .split_once(':')
                .ok_or_else(|| usage("--basic-auth: write user:password"))?;
            body["basic_auth"] = json!({"username": username, "password": password});
        }
        if let Some(template) = self.template {
            body["payload_template"] = json!(match template.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| usage(format!("--template: reading {path}: {e}")))?,
                None => template,
            });
        }
        for (field, value) in [
            ("content_type", self.content_type.map(Value::from)),
            ("jws_secret", self.jws_secret.map(Value::from)),
            ("timeout_ms", self.timeout_ms.map(Value::from)),
            ("ordering", self.ordering.map(Value::from)),
            ("ordering_key", self.ordering_key.map(Value::from)),
        ] {
            if let Some(value) = value {
                body[field] = value;
            }
        }
        Ok(())
    }
}
