//! Each client command: the API request it makes and what it prints.

use std::time::Duration;

use serde_json::{json, Value};

use super::api::Failure;
use super::args::{open, parse_json, usage};
use super::output::{details, table};
use super::*;
use crate::domain::time::{now_millis, to_rfc3339};

/// `1h` ago as RFC 3339, or an RFC 3339 time as given.
fn since(text: &str) -> Result<String, Failure> {
    if crate::domain::time::parse_rfc3339(text).is_some() {
        return Ok(text.to_owned());
    }
    let back = humantime::parse_duration(text).map_err(|_| {
        usage(format!(
            "--since {text:?}: give a duration such as 1h or an RFC 3339 time"
        ))
    })?;
    Ok(to_rfc3339(now_millis() - back.as_millis() as i64))
}

const CALL_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("CREATED", "created_at"),
    ("STATUS", "status"),
    ("EVENT", "event_type"),
    ("WEBHOOK", "webhook_id"),
    ("ATTEMPTS", "attempt_count"),
    ("LAST", "last_status_code"),
    ("ERROR", "last_error"),
];
const JOB_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("KIND", "kind"),
    ("STATUS", "status"),
    ("TRIGGERED BY", "triggered_by"),
    ("CREATED", "created_at"),
];

pub async fn run(command: ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Sites { conn, action } => sites(&conn, action).await,
        ClientCommand::Webhooks { conn, action } => super::webhooks::run(&conn, action).await,
        ClientCommand::Events { conn, action } => events(&conn, action).await,
        ClientCommand::Calls { conn, action } => calls(&conn, action).await,
        ClientCommand::Hooks { conn, action } => hooks(&conn, action).await,
        ClientCommand::Jobs { conn, action } => jobs(&conn, action).await,
        ClientCommand::Tokens { conn, action } => tokens(&conn, action).await,
        ClientCommand::Audit { conn, site } => {
            let (api, out) = open(&conn);
            let path = match &site {
                Some(site) => format!("/sites/{site}/audit_log"),
                None => "/audit_log".to_owned(),
            };
            out.list(
                &api.get(&path).await?,
                &[
                    ("WHEN", "created_at"),
                    ("WHO", "actor"),
                    ("ACTION", "action"),
                    ("TARGET", "target_id"),
                ],
            );
            Ok(())
        }
    }
}

async fn sites(conn: &Connection, action: SitesAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    let site_fields: &[(&str, &str)] = &[
        ("Id", "id"),
        ("Name", "name"),
        ("Locked", "locked"),
        ("Build", "build_command"),
        ("Preview", "preview_command"),
        ("Sync", "sync_command"),
        ("Directory", "working_dir"),
        ("Cache", "cache_dir"),
        ("Env", "env"),
        ("Created", "created_at"),
    ];
    match action {
        SitesAction::List => out.list(
            &api.get("/sites").await?,
            &[("ID", "id"), ("NAME", "name"), ("LOCKED", "locked")],
        ),
        SitesAction::Create { name } => out
            .show(&api.post("/sites", &json!({"name": name})).await?, |s| {
                details(s, site_fields)
            }),
        SitesAction::Show { site } => out.show(&api.get(&format!("/sites/{site}")).await?, |s| {
            details(s, site_fields)
        }),
        SitesAction::Update(update) => {
            let SiteUpdate {
                site,
                name,
                build_command,
                preview_command,
                sync_command,
                working_dir,
                cache_dir,
                job_timeout_s,
                env,
                clear_env,
                site_hooks,
                site_hooks_kind,
            } = *update;
            let mut body = json!({});
            if let Some(rule) = site_hooks {
                body["site_hooks"] = json!({"rule": rule, "kind": site_hooks_kind});
            }
            for (field, value) in [
                ("name", name.map(Value::from)),
                ("build_command", build_command.map(Value::from)),
                ("preview_command", preview_command.map(Value::from)),
                ("sync_command", sync_command.map(Value::from)),
                ("working_dir", working_dir.map(Value::from)),
                ("cache_dir", cache_dir.map(Value::from)),
                ("job_timeout_s", job_timeout_s.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[field] = value;
                }
            }
            if clear_env || !env.is_empty() {
                let mut vars = serde_json::Map::new();
                for pair in &env {
                    let (name, value) = pair
                        .split_once('=')
                        .ok_or_else(|| usage(format!("--env {pair:?}: write NAME=value")))?;
                    vars.insert(name.to_owned(), json!(value));
                }
                body["env"] = Value::Object(vars);
            }
            if body.as_object().is_some_and(|b| b.is_empty()) {
                return Err(usage("sites update: give at least one setting to change"));
            }
            out.show(&api.patch(&format!("/sites/{site}"), &body).await?, |s| {
                details(s, site_fields)
            })
        }
        SitesAction::Lock { site } => out.show(
            &api.post(&format!("/sites/{site}/lock"), &json!({})).await?,
            |_| "locked".into(),
        ),
        SitesAction::Unlock { site } => out.show(
            &api.post(&format!("/sites/{site}/unlock"), &json!({}))
                .await?,
            |_| "unlocked".into(),
        ),
    }
    Ok(())
}

async fn events(conn: &Connection, action: EventsAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    let EventsAction::Publish {
        site,
        entity_type,
        event_type,
        entity,
        environment,
    } = action;
    let mut body = json!({"entity_type": entity_type, "event_type": event_type, "entity": parse_json("--entity", &entity)?});
    if let Some(environment) = environment {
        body["environment"] = json!(environment);
    }
    let published = api
        .post(&format!("/sites/{}/events", site.id()?), &body)
        .await?;
    out.show(&published, |p| {
        let mut text = details(p, &[("event", "id"), ("calls", "webhook_call_ids")]);
        if let Some(warning) = p.get("warning").and_then(Value::as_str) {
            text.push_str(&format!("\nwarning: {warning}"));
        }
        text
    });
    Ok(())
}

async fn calls(conn: &Connection, action: CallsAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    match action {
        CallsAction::List {
            site,
            status,
            webhook,
            event_type,
            since: from,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            for (key, value) in [
                ("status", status),
                ("webhook_id", webhook),
                ("event_type", event_type),
            ] {
                if let Some(value) = value {
                    query.push((key, value));
                }
            }
            if let Some(from) = from {
                query.push(("since", since(&from)?));
            }
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            out.list(
                &api.get(&format!("/sites/{}/webhook_calls?{query}", site.id()?))
                    .await?,
                CALL_COLUMNS,
            );
        }
        CallsAction::Show { site, id } => {
            let call = api
                .get(&format!("/sites/{}/webhook_calls/{id}", site.id()?))
                .await?;
            out.show(&call, |c| {
                let mut text = details(
                    c,
                    &[
                        ("Id", "id"),
                        ("Status", "status"),
                        ("Event", "event_type"),
                        ("Webhook", "webhook_id"),
                        ("Attempts", "attempt_count"),
                        ("Next attempt", "next_attempt_at"),
                        ("URL", "request.url"),
                        ("Content-Type", "request.content_type"),
                    ],
                );
                if let Some(body) = c["request"]["body"].as_str() {
                    text.push_str("\n\nBody:\n");
                    text.push_str(body);
                }
                let attempts = c["attempts"].as_array().cloned().unwrap_or_default();
                if !attempts.is_empty() {
                    text.push_str("\n\n");
                    text.push_str(&table(
                        &attempts,
                        &[
                            ("STARTED", "started_at"),
                            ("STATUS", "response_status"),
                            ("MS", "duration_ms"),
                            ("ERROR", "error"),
                        ],
                    ));
                }
                text
            });
        }
        CallsAction::Resend { site, id } => {
            let call = api
                .post(
                    &format!("/sites/{}/webhook_calls/{id}/resend", site.id()?),
                    &json!({}),
                )
                .await?;
            out.show(&call, |_| format!("queued a new attempt of {id}"));
        }
    }
    Ok(())
}

async fn hooks(conn: &Connection, action: HooksAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    match action {
        HooksAction::List(s) => out.list(
            &api.get(&format!("/sites/{}/build_hooks", s.id()?)).await?,
            &[
                ("ID", "id"),
                ("TITLE", "title"),
                ("KIND", "kind"),
                ("URL", "url"),
            ],
        ),
        HooksAction::Create { site, title, kind } => {
            let made = api
                .post(
                    &format!("/sites/{}/build_hooks", site.id()?),
                    &json!({"title": title, "kind": kind}),
                )
                .await?;
            out.show(&made, |h| {
                details(
                    h,
                    &[
                        ("Id", "id"),
                        ("Title", "title"),
                        ("Kind", "kind"),
                        ("URL", "url"),
                    ],
                )
            });
        }
        HooksAction::Delete { site, id } => {
            api.delete(&format!("/sites/{}/build_hooks/{id}", site.id()?))
                .await?;
            out.show(&json!({"deleted": id}), |_| format!("deleted {id}"));
        }
    }
    Ok(())
}

fn finished(job: &Value) -> bool {
    !matches!(job["status"].as_str(), Some("queued" | "running"))
}

async fn jobs(conn: &Connection, action: JobsAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    match action {
        JobsAction::List(s) => out.list(
            &api.get(&format!("/sites/{}/jobs", s.id()?)).await?,
            JOB_COLUMNS,
        ),
        JobsAction::Show { site, id } => {
            let job = api.get(&format!("/sites/{}/jobs/{id}", site.id()?)).await?;
            out.show(&job, |j| {
                details(
                    j,
                    &[
                        ("Id", "id"),
                        ("Kind", "kind"),
                        ("Status", "status"),
                        ("Trigger", "triggered_by"),
                        ("Data source", "data_source"),
                        ("Commit", "commit_ref"),
                        ("Exit code", "exit_code"),
                        ("Reason", "reason"),
                        ("Started", "started_at"),
                        ("Finished", "finished_at"),
                    ],
                )
            });
        }
        JobsAction::Logs { site, id, follow } => {
            let path = format!("/sites/{}/jobs/{id}", site.id()?);
            let mut printed = String::new();
            loop {
                let job = api.get(&path).await?;
                let log = job["log"].as_str().unwrap_or_default();
                // The kept tail may move on; then print it whole again.
                let new = log.strip_prefix(printed.as_str()).unwrap_or(log);
                print!("{new}");
                printed = log.to_owned();
                if !follow || finished(&job) {
                    let status = job["status"].as_str().unwrap_or_default();
                    if follow && !conn.json {
                        eprintln!("[job {status}]");
                    }
                    // A script following a build learns its outcome from the exit code.
                    if follow && status != "succeeded" {
                        return Err(Failure {
                            code: super::api::EXIT_DID_NOT_SUCCEED,
                            message: format!("job {id} {status}"),
                        });
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        JobsAction::Cancel { site, id } => {
            let job = api
                .post(
                    &format!("/sites/{}/jobs/{id}/cancel", site.id()?),
                    &json!({}),
                )
                .await?;
            out.show(&job, |j| {
                format!("{} is {}", id, super::output::cell(j, "status"))
            });
        }
    }
    Ok(())
}

async fn tokens(conn: &Connection, action: TokensAction) -> Result<(), Failure> {
    let (api, out) = open(conn);
    match action {
        TokensAction::List => out.list(
            &api.get("/tokens").await?,
            &[
                ("ID", "id"),
                ("NAME", "name"),
                ("ROLE", "role"),
                ("CREATED", "created_at"),
            ],
        ),
        TokensAction::Create { name, role } => {
            let made = api
                .post("/tokens", &json!({"name": name, "role": role}))
                .await?;
            out.show(&made, |t| {
                format!(
                    "{}\n(shown once: store it now)",
                    super::output::cell(t, "token")
                )
            });
        }
        TokensAction::Revoke { id } => {
            api.delete(&format!("/tokens/{id}")).await?;
            out.show(&json!({"revoked": id}), |_| format!("revoked {id}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::args::{trigger, EXIT_USAGE};
    use super::*;

    #[test]
    fn triggers_and_times_read_as_written() {
        assert_eq!(
            trigger("item:publish, unpublish").unwrap(),
            json!({"entity_type": "item", "event_types": ["publish", "unpublish"]})
        );
        assert_eq!(trigger("nonsense").unwrap_err().code, EXIT_USAGE);
        assert_eq!(
            since("2026-12-03T10:00:00Z").unwrap(),
            "2026-12-03T10:00:00Z"
        );
        assert!(crate::domain::time::parse_rfc3339(&since("1h").unwrap()).is_some());
        assert!(since("soon").is_err());
    }
}
