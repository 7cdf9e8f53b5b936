//! Sites: the list, the overview (activity chart, failing webhooks, jobs, lock) and the
//! settings of the jobs that build hooks start.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};

use super::chart::{calls_chart, success_meter};
use super::form::FormData;
use super::hooks::JOB_KINDS;
use super::layout::{
    badge, field_errors, form_problem, invalid, notice, page, pager, site_page, when, when_opt,
    Nav, PageError, Tab,
};
use super::session::{csrf_field, Posted, WebUser};
use super::{all_webhooks, api_body, load_site, page_query, see_other, NoticeQuery};
use crate::api::sites::{ActivityQuery, NewSite, SitePatch};
use crate::api::{jobs as api_jobs, sites as api, ApiError, AppState};
use crate::domain::job::JobKind;
use crate::domain::site_hooks::{SiteHookRule, SiteHooks};
use crate::domain::token::Role;
use crate::domain::validation::{FieldError, Violations};
use crate::store::{Page, SiteRecord};

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let Json(sites) = api::list(State(state), user.caller(), page_query(q.cursor)).await?;
    Ok(list_page(&user, &sites, None, q.notice.as_deref()))
}

fn list_page(
    user: &WebUser,
    sites: &Page<SiteRecord>,
    problem: Option<&ApiError>,
    notice_code: Option<&str>,
) -> Markup {
    let errors = problem.map_or(&[][..], |p| &p.errors);
    let content = html! {
        div.page-head { div { h1 { "Sites" } p.lead { "Everything belongs to a site: its webhooks, build hooks, jobs and activity." } } }
        (notice(notice_code))
        @if sites.data.is_empty() {
            div.card.empty { "No sites yet." @if user.can(Role::Developer) { " Create the first one below." } }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Id" } th { "Jobs" } th.hide-narrow { "Created" } } }
                tbody {
                    @for site in &sites.data {
                        tr {
                            td { a href={ "/sites/" (site.id) } { strong { (site.settings.name) } } }
                            td.mono { (site.id) }
                            td { @if site.locked { (badge("locked")) } @else { span.muted { "unlocked" } } }
                            td.hide-narrow { (when(site.created_at)) }
                        }
                    }
                }
            } }
            (pager("/sites?", sites.next_cursor.as_deref(), "More sites →"))
        }
        @if user.can(Role::Developer) {
            div.card {
                h2 { "New site" }
                (form_problem(problem))
                form method="post" action="/sites" novalidate {
                    (csrf_field(user))
                    label for="name" { "Name" }
                    input #name type="text" name="name" required maxlength="200" placeholder="Blog"
                        aria-invalid=[(!errors.is_empty()).then_some("true")];
                    (field_errors(errors, "name"))
                    div.actions { button.primary type="submit" { "Create site" } }
                }
            }
        }
    };
    page(
        "Sites",
        Nav {
            user,
            site: None,
            tab: Tab::Sites,
        },
        content,
    )
}

pub async fn create(State(state): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let body = api_body(NewSite {
        name: form.text("name"),
    });
    match api::create(State(state.clone()), user.caller(), body).await {
        Ok((_, Json(site))) => Ok(see_other(&format!("/sites/{}", site.id), "created")),
        Err(problem) if !problem.errors.is_empty() => {
            let Json(sites) = api::list(State(state), user.caller(), page_query(None)).await?;
            Ok((
                problem.status,
                list_page(&user, &sites, Some(&problem), None),
            )
                .into_response())
        }
        Err(problem) => Err(problem.into()),
    }
}

pub async fn overview(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let Json(activity) = api::activity(
        State(state.clone()),
        user.caller(),
        Path(site_id.clone()),
        crate::api::extract::QueryParams(ActivityQuery::default()),
    )
    .await?;
    let webhooks = all_webhooks(&state, &user, &site_id).await?;
    let mut active_jobs = Vec::new();
    for status in ["running", "queued"] {
        let Json(jobs) = api_jobs::list(
            State(state.clone()),
            user.caller(),
            Path(site_id.clone()),
            crate::api::extract::QueryParams(api_jobs::JobQuery {
                status: Some(status.into()),
                kind: None,
                cursor: None,
                limit: Some("10".into()),
            }),
        )
        .await?;
        active_jobs.extend(jobs.data);
    }
    let totals =
        activity
            .buckets
            .iter()
            .fold(crate::domain::activity::Tally::default(), |mut t, b| {
                t.success += b.calls.success;
                t.failed += b.calls.failed;
                t.pending += b.calls.pending;
                t
            });
    let name_of = |id: &str| {
        webhooks
            .iter()
            .find(|w| w.id == id)
            .map_or_else(|| id.to_owned(), |w| w.name.clone())
    };
    let base = format!("/sites/{}", site.id);
    // Failing first: webhooks whose attempts keep failing (even while their calls are
    // still retrying, so none has failed for good yet), then by failed calls.
    let view_of = |id: &str| webhooks.iter().find(|w| w.id == id);
    let mut listed: Vec<_> = activity.webhooks.iter().collect();
    listed.sort_by_key(|w| view_of(&w.webhook_id).is_none_or(|v| v.failing_since.is_none()));
    let content = html! {
        (notice(q.notice.as_deref()))
        div.card {
            h2 { "Calls in the last 24 hours" }
            div.stats {
                div.stat { strong { (totals.total()) } span { "calls" } }
                div.stat { strong { (totals.success) } span { "delivered" } }
                div.stat { strong { (totals.failed) } span { "failed" } }
                div.stat { strong { (totals.pending) } span { "pending" } }
            }
            (calls_chart(&activity.buckets))
        }
        div.grid {
            div.card {
                h2 { "Webhooks, failing first" }
                @if activity.webhooks.is_empty() {
                    p.muted { "No calls in the last 24 hours." }
                    @if webhooks.is_empty() { p { a href={ (base) "/webhooks/new" } { "Add a webhook" } } }
                } @else {
                    table {
                        thead { tr { th { "Webhook" } th { "Success" } th.num { "Failed" } th { "State" } } }
                        tbody {
                            @for w in &listed {
                                tr {
                                    td { a href={ (base) "/webhooks/" (w.webhook_id) } { (name_of(&w.webhook_id)) } }
                                    td { (success_meter(&w.calls)) @if w.calls.pending > 0 { div.muted { (w.calls.pending) " pending" } } }
                                    td.num { a href={ (base) "/calls?status=failed&webhook_id=" (w.webhook_id) } { (w.calls.failed) } }
                                    td { @if let Some(v) = view_of(&w.webhook_id) { (super::webhooks::health(v)) } }
                                }
                            }
                        }
                    }
                }
            }
            div.card {
                h2 { "Jobs" }
                p {
                    "Deploys are "
                    @if site.locked { (badge("locked")) " — triggers queue, nothing starts." } @else { strong { "unlocked" } "." }
                }
                @if active_jobs.is_empty() {
                    p.muted { "No job running or queued." }
                } @else {
                    table { tbody {
                        @for job in &active_jobs {
                            tr {
                                td { a href={ (base) "/jobs/" (job.id) } { (job.kind.as_str()) } }
                                td { (badge(job.status.as_str())) }
                                td { (job.triggered_by) }
                                td { (when_opt(job.started_at.or(Some(job.created_at)))) }
                            }
                        }
                    } }
                }
                @if user.can(Role::Developer) { (lock_form(&user, &site)) }
            }
        }
    };
    Ok(site_page(
        &site.settings.name,
        &user,
        &site,
        Tab::Overview,
        content,
    ))
}

fn lock_form(user: &WebUser, site: &SiteRecord) -> Markup {
    let (action, label) = if site.locked {
        ("unlock", "Unlock deploys")
    } else {
        ("lock", "Lock deploys")
    };
    html! {
        form method="post" action={ "/sites/" (site.id) "/" (action) } {
            (csrf_field(user))
            button type="submit" { (label) }
        }
    }
}

pub async fn settings(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    Ok(settings_page(&user, &site, None, None, q.notice.as_deref()))
}

const COMMANDS: [(&str, &str, &str); 5] = [
    ("build_command", "Build command", "npm run build"),
    ("preview_command", "Preview command", "npm run preview"),
    ("sync_command", "Data sync command", "./sync.sh"),
    (
        "working_dir",
        "Working directory",
        "default: <data dir>/sites/<site id>",
    ),
    (
        "cache_dir",
        "Cache directory",
        "emptied when a trigger sends x-cache: false",
    ),
];

/// The settings form: `site`'s settings, or after a refusal `problem` beside the fields
/// and the job environment as it was typed (`typed_env`).
fn settings_page(
    user: &WebUser,
    site: &SiteRecord,
    problem: Option<&ApiError>,
    typed_env: Option<&str>,
    notice_code: Option<&str>,
) -> Markup {
    let errors = problem.map_or(&[][..], |p| &p.errors);
    let s = &site.settings;
    let value = |field: &str| match field {
        "build_command" => s.build_command.clone(),
        "preview_command" => s.preview_command.clone(),
        "sync_command" => s.sync_command.clone(),
        "working_dir" => s.working_dir.clone(),
        _ => s.cache_dir.clone(),
    };
    let may_edit = user.can(Role::Developer);
    let may_run = user.can(Role::Owner);
    let content = html! {
        div.page-head { div { h1 { "Settings" } p.lead { "What the jobs started by this site's build hooks run, and where." } } }
        (notice(notice_code))
        (form_problem(problem))
        form.card method="post" action={ "/sites/" (site.id) "/settings" } novalidate {
            (csrf_field(user))
            label for="name" { "Name" }
            input #name type="text" name="name" value=(s.name) disabled[!may_edit] maxlength="200";
            (field_errors(errors, "name"))
            @if !may_run {
                p.alert.alert-warn { "Only an owner token can change the commands and directories: they decide what runs on the server." }
            }
            @for (field, label, hint) in COMMANDS {
                label for=(field) { (label) }
                input id=(field) type="text" name=(field) value=[value(field)] placeholder=(hint) disabled[!may_run]
                    aria-invalid=[invalid(errors, field)];
                (field_errors(errors, field))
            }
            label for="job_timeout_s" { "Job timeout (seconds)" }
            input #job_timeout_s type="number" min="1" name="job_timeout_s" value=(s.job_timeout_s) disabled[!may_run];
            (field_errors(errors, "job_timeout_s"))
            label for="env" { "Job environment" }
            p.hint { "One NAME=value a line, given to every job (beside PATH, HOME and the HOOKRELAY_* variables)." }
            textarea #env name="env" rows="4" placeholder="NODE_ENV=production" disabled[!may_run] aria-invalid=[invalid(errors, "env")] {
                @match typed_env {
                    Some(typed) => (typed),
                    None => (env_text(&s.env, user.can(Role::Developer))),
                }
            }
            (field_errors(errors, "env"))
            (site_hooks_fields(&s.site_hooks, may_run, errors))
            @if may_edit { div.actions { button.primary type="submit" { "Save settings" } } }
        }
        div.card {
            h2 { "Deploy lock" }
            p { "While a site is locked, build hook triggers are accepted and coalesced, but no job starts until it is unlocked." }
            p { "Now: " @if site.locked { (badge("locked")) } @else { strong { "unlocked" } } }
            @if may_edit { (lock_form(user, site)) }
        }
    };
    site_page("Settings", user, site, Tab::Settings, content)
}

/// The rules a site's site-id URLs can follow, as the settings offer them.
const SITE_HOOK_RULES: [(SiteHookRule, &str); 3] = [
    (SiteHookRule::Off, "Off: only named hooks start jobs"),
    (
        SiteHookRule::Gatsby,
        "Gatsby Cloud: always, beside named hooks",
    ),
    (
        SiteHookRule::Connect,
        "Netlify Connect: only while the site has no named hook",
    ),
];

/// Gatsby's and Connect's URLs addressed by the site id: unauthenticated, hence owners only.
fn site_hooks_fields(hooks: &SiteHooks, may_run: bool, errors: &[FieldError]) -> Markup {
    html! {
        fieldset #site-hooks {
            legend { "Site-id URLs" }
            p.hint { "URLs addressed by the site's id, as Gatsby Cloud and Netlify Connect hand out. The site id is no secret: anyone who knows it can start these jobs. The build hooks page lists the URLs when they are on." }
            label for="site_hooks" { "Answer them" }
            select #site_hooks name="site_hooks" disabled[!may_run] aria-invalid=[invalid(errors, "site_hooks")] {
                @for (rule, label) in SITE_HOOK_RULES {
                    option value=(rule.as_str()) selected[rule == hooks.rule] { (label) }
                }
            }
            (field_errors(errors, "site_hooks"))
            label for="site_hooks_kind" { "Job started by /hooks/sites/<site id>" }
            select #site_hooks_kind name="site_hooks_kind" disabled[!may_run] aria-invalid=[invalid(errors, "site_hooks_kind")] {
                @for (kind, label) in JOB_KINDS {
                    option value=(kind.as_str()) selected[kind == hooks.kind] { (label) }
                }
            }
            (field_errors(errors, "site_hooks_kind"))
        }
    }
}

/// The site-id setting the form posted; absent fields keep the stored values.
fn posted_site_hooks(form: &FormData, stored: SiteHooks, v: &mut Violations) -> SiteHooks {
    SiteHooks {
        rule: posted_choice(
            form,
            v,
            ("site_hooks", "must be off, gatsby or connect"),
            stored.rule,
            SiteHookRule::parse,
        ),
        kind: posted_choice(
            form,
            v,
            ("site_hooks_kind", "must be build, preview or sync"),
            stored.kind,
            JobKind::parse,
        ),
    }
}

/// A select's posted choice read by `parse`: absent, the stored one; unknown, an error
/// (`field`: `expected`) and the stored one.
fn posted_choice<T>(
    form: &FormData,
    v: &mut Violations,
    (field, expected): (&str, &str),
    stored: T,
    parse: fn(&str) -> Option<T>,
) -> T {
    match form.get(field) {
        None => stored,
        Some(text) => parse(text).unwrap_or_else(|| {
            v.add(field, expected);
            stored
        }),
    }
}

/// A site's job variables as the form shows them: values only to those who may see them.
fn env_text(env: &std::collections::BTreeMap<String, String>, show_values: bool) -> String {
    env.iter()
        .map(|(name, value)| {
            let value = if show_values {
                value.as_str()
            } else {
                crate::domain::redact::MASK
            };
            format!("{name}={value}\n")
        })
        .collect()
}

/// `NAME=value` lines into variables; each line that is neither blank nor such a pair is
/// an error naming it.
fn parse_env(text: &str, v: &mut Violations) -> std::collections::BTreeMap<String, String> {
    let mut env = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) => {
                env.insert(name.trim().to_owned(), value.to_owned());
            }
            None => v.add("env", format!("line {}: write NAME=value", i + 1)),
        }
    }
    env
}

pub async fn save_settings(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let site = load_site(&state, &user, &site_id).await?;
    let may_run = user.can(Role::Owner);
    let command = |field: &str| may_run.then(|| form.optional(field));
    // Every problem of the form at once: the form's own, then the API's.
    let mut v = Violations::default();
    let env = may_run.then(|| parse_env(&form.text("env"), &mut v));
    let site_hooks = may_run.then(|| posted_site_hooks(&form, site.settings.site_hooks, &mut v));
    let job_timeout_s = may_run
        .then(|| match form.text("job_timeout_s").trim().parse::<u64>() {
            Ok(seconds) => Some(seconds),
            Err(_) => {
                v.add("job_timeout_s", "must be a whole number of seconds");
                None
            }
        })
        .flatten();
    let patch = SitePatch {
        name: Some(form.text("name")),
        build_command: command("build_command"),
        preview_command: command("preview_command"),
        sync_command: command("sync_command"),
        working_dir: command("working_dir"),
        cache_dir: command("cache_dir"),
        job_timeout_s,
        env,
        site_hooks,
    };
    // A refused form is drawn again with what was typed, not what is stored.
    let refused = |problem: ApiError| {
        let typed = SiteRecord {
            settings: patch.clone().apply(site.settings.clone()),
            ..site.clone()
        };
        let typed_env = may_run.then(|| form.text("env"));
        let page = settings_page(&user, &typed, Some(&problem), typed_env.as_deref(), None);
        Ok((problem.status, page).into_response())
    };
    if let Err(violations) = v.into_result() {
        return refused(violations.into());
    }
    match api::update(
        State(state),
        user.caller(),
        Path(site_id.clone()),
        api_body(patch.clone()),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/sites/{site_id}/settings"), "saved")),
        Err(problem) => refused(problem),
    }
}

pub async fn lock(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let _ = api::lock(State(state), posted.user.caller(), Path(site_id.clone())).await?;
    Ok(see_other(&format!("/sites/{site_id}"), "locked"))
}

pub async fn unlock(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let _ = api::unlock(State(state), posted.user.caller(), Path(site_id.clone())).await?;
    Ok(see_other(&format!("/sites/{site_id}"), "unlocked"))
}
