//! Recovering a webhook's failed calls after an outage: the window to re-send, and the
//! webhook's recoveries with their progress.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};

use super::load;
use crate::api::recoveries::{self as api, RecoverRequest};
use crate::api::webhooks::WebhookView;
use crate::api::{ApiError, AppState};
use crate::domain::time::{now_millis, to_rfc3339};
use crate::domain::token::Role;
use crate::store::{Recovery, SiteRecord};
use crate::web::layout::{badge, field_errors, form_problem, notice, site_page, when, when_opt};
use crate::web::layout::{invalid, PageError, Tab};
use crate::web::session::{csrf_field, Posted, WebUser};
use crate::web::{api_body, see_other, NoticeQuery};

fn page(
    user: &WebUser,
    site: &SiteRecord,
    w: &WebhookView,
    recoveries: &[Recovery],
    values: (&str, &str),
    problem: Option<&ApiError>,
    notice_code: Option<&str>,
) -> Markup {
    let errors = problem.map_or(&[][..], |p| &p.errors);
    let action = format!("/sites/{}/webhooks/{}/recover", site.id, w.id);
    let content = html! {
        div.page-head {
            div {
                h1 { "Recover failed calls" }
                p.lead { "Of " a href={ "/sites/" (site.id) "/webhooks/" (w.id) } { (w.name) } ": each failed call created in the window gets one more attempt, once. It carries on across restarts." }
            }
        }
        (notice(notice_code))
        @if user.can(Role::Developer) {
            div.card {
                (form_problem(problem))
                form method="post" action=(action) novalidate {
                    (csrf_field(user))
                    div.row {
                        div {
                            label for="since" { "Calls created since" }
                            input #since type="text" name="since" value=(values.0) placeholder="2026-12-01T00:00:00Z" required aria-invalid=[invalid(errors, "since")];
                            (field_errors(errors, "since"))
                        }
                        div {
                            label for="until" { "Until (empty: now)" }
                            input #until type="text" name="until" value=(values.1) placeholder="now" aria-invalid=[invalid(errors, "until")];
                            (field_errors(errors, "until"))
                        }
                    }
                    div.actions { button.primary type="submit" { "Re-send failed calls" } }
                }
            }
        }
        @if recoveries.is_empty() {
            p.muted { "No recoveries yet." }
        } @else {
            div.table-wrap { table #recoveries {
                thead { tr { th { "Window" } th { "Status" } th { "Re-sent" } th.hide-narrow { "Started" } th.hide-narrow { "Finished" } } }
                tbody {
                    @for r in recoveries {
                        tr {
                            td { (when(r.since)) " – " (when(r.until)) }
                            td { (badge(&r.status)) }
                            td { (r.resent) }
                            td.hide-narrow { (when(r.created_at)) }
                            td.hide-narrow { (when_opt(r.finished_at)) }
                        }
                    }
                }
            } }
        }
    };
    site_page("Recover failed calls", user, site, Tab::Webhooks, content)
}

async fn recoveries(
    state: &AppState,
    user: &WebUser,
    site_id: &str,
    webhook_id: &str,
) -> Result<Vec<Recovery>, PageError> {
    let Json(list) = api::list(
        State(state.clone()),
        user.caller(),
        Path((site_id.to_owned(), webhook_id.to_owned())),
    )
    .await?;
    Ok(list.data)
}

pub async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, webhook_id)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let (site, w) = load(&state, &user, &site_id, &webhook_id).await?;
    let list = recoveries(&state, &user, &site_id, &webhook_id).await?;
    let since = to_rfc3339(now_millis() - 24 * 3_600_000);
    Ok(page(
        &user,
        &site,
        &w,
        &list,
        (&since, ""),
        None,
        q.notice.as_deref(),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    Path((site_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let request = RecoverRequest {
        since: form.optional("since"),
        until: form.optional("until"),
    };
    let created = api::create(
        State(state.clone()),
        user.caller(),
        Path((site_id.clone(), webhook_id.clone())),
        api_body(request),
    )
    .await;
    match created {
        Ok(_) => Ok(see_other(
            &format!("/sites/{site_id}/webhooks/{webhook_id}/recover"),
            "recovery",
        )),
        Err(problem) if problem.status.is_client_error() => {
            let (site, w) = load(&state, &user, &site_id, &webhook_id).await?;
            let list = recoveries(&state, &user, &site_id, &webhook_id).await?;
            let values = (form.text("since"), form.text("until"));
            let markup = page(
                &user,
                &site,
                &w,
                &list,
                (&values.0, &values.1),
                Some(&problem),
                None,
            );
            Ok((problem.status, markup).into_response())
        }
        Err(problem) => Err(problem.into()),
    }
}
