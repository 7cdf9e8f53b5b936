//! Build hooks: their secret URLs (with a copy button), creation, deletion, and what each
//! one received: accepted triggers with their job, refused ones with the reason.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};

use super::form::FormData;
use super::hook_verify;
use super::layout::{
    badge, field_errors, form_problem, invalid, notice, site_page, when, PageError, Tab,
};
use super::session::{csrf_field, Posted, WebUser};
use super::{api_body, load_site, see_other, NoticeQuery};
use crate::api::extract::QueryParams;
use crate::api::hooks::{self as api, HookView, NewHook};
use crate::api::PageQuery;
use crate::api::{ApiError, AppState};
use crate::domain::job::JobKind;
use crate::domain::site_hooks::SiteHookRule;
use crate::domain::token::Role;
use crate::store::SiteRecord;

pub(super) const JOB_KINDS: [(JobKind, &str); 3] = [
    (JobKind::Build, "Production build"),
    (JobKind::Preview, "Preview build"),
    (JobKind::Sync, "Data sync"),
];

/// A URL in a read-only field with a copy button (shown when script runs).
fn copy_url(id: &str, url: &str) -> Markup {
    html! {
        div.copy-field {
            input id=(id) type="text" readonly value=(url) aria-label="Hook URL";
            button type="button" data-copy=(id) hidden { "Copy" }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let Json(hooks) = api::list(
        State(state.clone()),
        user.caller(),
        Path(site_id),
        all_hooks(),
    )
    .await?;
    Ok(list_page(
        &state,
        &user,
        &site,
        &hooks.data,
        None,
        q.notice.as_deref(),
    ))
}

/// One page holds them all: a site has at most 100 hooks.
fn all_hooks() -> QueryParams<PageQuery> {
    QueryParams(PageQuery {
        cursor: None,
        limit: Some("200".into()),
    })
}

fn list_page(
    state: &AppState,
    user: &WebUser,
    site: &SiteRecord,
    hooks: &[HookView],
    refused: Option<(&ApiError, &FormData)>,
    notice_code: Option<&str>,
) -> Markup {
    let problem = refused.map(|(problem, _)| problem);
    let typed = refused.map(|(_, form)| form);
    let errors = problem.map_or(&[][..], |p| &p.errors);
    let base = format!("/sites/{}/hooks", site.id);
    let content = html! {
        div.page-head { div { h1 { "Build hooks" } p.lead { "A POST to a hook's URL (any body, even empty) starts a job. Bursts coalesce into one run." } } }
        (notice(notice_code))
        (site_hooks_card(state, user, site, hooks.len()))
        @if hooks.is_empty() {
            div.card.empty { "No named hooks yet." }
        } @else {
            div.table-wrap { table #hooks {
                thead { tr { th { "Title" } th { "Kind" } th { "URL" } th.hide-narrow { "Created" } } }
                tbody {
                    @for (i, h) in hooks.iter().enumerate() {
                        tr {
                            td { a href={ (base) "/" (h.id) } { strong { (h.title) } } }
                            td { (h.kind.as_str()) }
                            td { @match &h.url {
                                Some(url) => (copy_url(&format!("hook-url-{i}"), url)),
                                None => span.muted { "Hidden: a viewer may not start jobs" },
                            } }
                            td.hide-narrow { (when(h.created_at)) }
                        }
                    }
                }
            } }
        }
        @if user.can(Role::Developer) {
            div.card {
                h2 { "New build hook" }
                (form_problem(problem))
                form method="post" action=(base) novalidate {
                    (csrf_field(user))
                    div.row {
                        div {
                            label for="title" { "Title" }
                            input #title type="text" name="title" value=[typed.map(|f| f.text("title"))] maxlength="200" placeholder="CMS publish" required aria-invalid=[invalid(errors, "title")];
                            (field_errors(errors, "title"))
                        }
                        div {
                            label for="kind" { "Job" }
                            select #kind name="kind" {
                                @for (kind, label) in JOB_KINDS {
                                    option value=(kind.as_str()) selected[typed.and_then(|f| f.get("kind")) == Some(kind.as_str())] { (label) }
                                }
                            }
                        }
                    }
                    p.field-hint { "Jobs show \"Triggered by <title>\"." }
                    (hook_verify::fields(errors, typed))
                    div.actions { button.primary type="submit" { "Create hook" } }
                }
            }
        }
    };
    site_page("Build hooks", user, site, Tab::Hooks, content)
}

pub async fn create(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let site = load_site(&state, &user, &site_id).await?;
    let Some(kind) = JobKind::parse(&form.text("kind")) else {
        return Err(PageError::BadRequest(
            "`kind` must be build, preview or sync".into(),
        ));
    };
    let created = match hook_verify::posted(&form) {
        Ok(verify) => {
            let body = api_body(NewHook {
                title: form.text("title"),
                kind: Some(kind),
                verify,
            });
            api::create(
                State(state.clone()),
                user.caller(),
                Path(site_id.clone()),
                body,
            )
            .await
        }
        Err(violations) => Err(violations.into()),
    };
    match created {
        Ok((_, Json(hook))) => Ok(see_other(
            &format!("/sites/{site_id}/hooks/{}", hook.id),
            "created",
        )),
        Err(problem) if !problem.errors.is_empty() => {
            let Json(hooks) = api::list(
                State(state.clone()),
                user.caller(),
                Path(site_id),
                all_hooks(),
            )
            .await?;
            Ok((
                problem.status,
                list_page(
                    &state,
                    &user,
                    &site,
                    &hooks.data,
                    Some((&problem, &form)),
                    None,
                ),
            )
                .into_response())
        }
        Err(problem) => Err(problem.into()),
    }
}

pub async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, hook_id)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let ids = (site_id.clone(), hook_id.clone());
    let Json(hook) = api::show(State(state.clone()), user.caller(), Path(ids.clone())).await?;
    let Json(requests) = api::requests(
        State(state),
        user.caller(),
        Path(ids),
        QueryParams(PageQuery {
            cursor: None,
            limit: Some("50".into()),
        }),
    )
    .await?;
    let base = format!("/sites/{site_id}");
    let content = html! {
        div.page-head {
            div { h1 { (hook.title) } p.lead { (hook.kind.as_str()) " hook · created " (when(hook.created_at)) } }
            @if user.can(Role::Developer) {
                form method="post" action={ (base) "/hooks/" (hook.id) "/delete" } data-confirm="Delete this build hook? Its URL stops working at once." {
                    (csrf_field(&user))
                    button.danger type="submit" { "Delete hook" }
                }
            }
        }
        (notice(q.notice.as_deref()))
        div.card {
            h2 { "URL" }
            @match &hook.url {
                Some(url) => {
                    @if hook.verify.is_some() {
                        p.hint { "A request must also pass the sender check below; keep the URL private all the same." }
                    } @else {
                        p.hint { "The URL is the credential: anyone who has it can start a job. Keep it secret." }
                    }
                    (copy_url("hook-url", url))
                    p.hint { "Try it: " code { "curl -X POST " (url) } }
                    p #sender-check { "Sender check: " strong { (hook_verify::describe(hook.verify.as_ref())) } }
                }
                None => p.hint { "The URL is the credential, so it is shown only to those who may start jobs (developers and owners)." },
            }
        }
        h2 { "Recent requests" }
        @if requests.data.is_empty() {
            div.card.empty { "No requests yet." }
        } @else {
            div.table-wrap { table #requests {
                thead { tr { th { "Received" } th { "Result" } th { "Job or reason" } } }
                tbody {
                    @for r in &requests.data {
                        tr {
                            td { (when(r.received_at)) }
                            td { @if r.accepted { (badge("accepted")) } @else { (badge("refused")) } }
                            td {
                                @if let Some(job) = &r.job_id { a href={ (base) "/jobs/" (job) } { (job) } }
                                @if let Some(reason) = &r.reason { " " span.muted { (reason) } }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(site_page(&hook.title, &user, &site, Tab::Hooks, content))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((site_id, hook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    api::delete(
        State(state),
        posted.user.caller(),
        Path((site_id.clone(), hook_id)),
    )
    .await?;
    Ok(see_other(&format!("/sites/{site_id}/hooks"), "deleted"))
}

/// The site's site-id URLs, when its settings turn them on (the URL carries no secret:
/// the site id is public, which is why they are off by default).
fn site_hooks_card(state: &AppState, user: &WebUser, site: &SiteRecord, named: usize) -> Markup {
    let base = state.public_url.trim_end_matches('/');
    let rule = site.settings.site_hooks.rule;
    html! {
        @match rule {
            SiteHookRule::Off => {}
            _ if !user.can(Role::Developer) => {}
            SiteHookRule::Connect if named > 0 => div.card {
                p.hint { "The site-id URLs follow Connect's rule and stop working once a named hook exists, as now." }
            },
            _ => div.card {
                h2 { "Site-id URLs" }
                p.hint {
                    "On in the site's " a href={ "/sites/" (site.id) "/settings#site-hooks" } { "settings" } " (" (rule.as_str()) " rule). Anyone who knows the site id can start these jobs."
                }
                dl.facts.stack-narrow {
                    dt { "Own (" (site.settings.site_hooks.kind.as_str()) ")" }
                    dd { (copy_url("site-hook-url", &format!("{base}/hooks/sites/{}", site.id))) }
                    dt { "Gatsby builds" }
                    dd { (copy_url("gatsby-build-url", &format!("{base}/hooks/builds/trigger/{}", site.id))) }
                    dt { "Gatsby previews" }
                    dd { (copy_url("gatsby-preview-url", &format!("{base}/hooks/data_source/{}", site.id))) }
                    dt { "Connect (sync)" }
                    dd { (copy_url("connect-url", &format!("{base}/hooks/data_layer/data_source/publish/{}", site.id))) }
                }
            },
        }
    }
}
