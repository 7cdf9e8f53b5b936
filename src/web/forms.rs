//! Form submissions: the endpoint to point a form at, and what was received, newest
//! first, with Delete.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{notice, site_page, when, PageError, Tab};
use super::session::{csrf_field, Posted, WebUser};
use super::{load_site, see_other};
use crate::api::extract::QueryParams;
use crate::api::forms::{self as api, SubmissionQuery};
use crate::api::AppState;
use crate::domain::token::Role;

#[derive(Deserialize, Default)]
pub struct FormsQuery {
    form_name: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<FormsQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let form_name = q.form_name.clone().filter(|f| !f.trim().is_empty());
    let Json(page) = api::list(
        State(state.clone()),
        user.caller(),
        Path(site_id.clone()),
        QueryParams(SubmissionQuery {
            form_name: form_name.clone(),
            cursor: q.cursor.clone(),
            limit: Some("50".into()),
        }),
    )
    .await?;
    let endpoint = format!(
        "{}/forms/{site_id}/contact",
        state.public_url.trim_end_matches('/')
    );
    let snippet = format!(
        "<form method=\"post\" action=\"{endpoint}\">\n  <input name=\"email\" type=\"email\">\n  <textarea name=\"message\"></textarea>\n  <input name=\"bot-field\" hidden>\n  <input name=\"redirect\" type=\"hidden\" value=\"https://example.com/thanks\">\n  <button>Send</button>\n</form>"
    );
    let base = format!("/sites/{site_id}/forms");
    let content = html! {
        div.page-head { div { h1 { "Forms" } p.lead { "Point any HTML form at this site; each submission is kept here and announced as a " code { "form_submission.submission_created" } " event." } } }
        (notice(q.notice.as_deref()))
        details.card {
            summary { "How to send a form here" }
            p { "The last part of the address names the form. URL-encoded, multipart (no files) and JSON bodies up to 64 KiB are taken; a filled " code { "bot-field" } " is treated as spam; " code { "redirect" } " says where to go afterwards." }
            pre { (snippet) }
        }
        form.filters method="get" action=(base) {
            div {
                label for="f-form" { "Form" }
                input #f-form type="text" name="form_name" value=[form_name.clone()] placeholder="contact";
            }
            div.actions { button.primary type="submit" { "Filter" } a.button href=(base) { "Clear" } }
        }
        @if page.data.is_empty() {
            div.card.empty { "No submissions yet." }
        } @else {
            div.table-wrap { table #submissions {
                thead { tr { th { "Received" } th { "Form" } th { "Fields" } th {} } }
                tbody {
                    @for s in &page.data {
                        tr {
                            td { (when(s.created_at)) }
                            td { code { (s.form_name) } }
                            td {
                                @if let Some(fields) = s.data.as_object() {
                                    dl.facts {
                                        @for (name, value) in fields {
                                            dt { (name) }
                                            dd { (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) }
                                        }
                                    }
                                }
                            }
                            td {
                                @if user.can(Role::Developer) {
                                    form method="post" action={ (base) "/" (s.id) "/delete" } data-confirm="Delete this submission?" {
                                        (csrf_field(&user))
                                        button.danger.small type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            @if let Some(next) = &page.next_cursor {
                div.pager { a.button href={ (base) "?cursor=" (next) } { "Older submissions →" } }
            }
        }
    };
    Ok(site_page("Forms", &user, &site, Tab::Forms, content))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((site_id, submission_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    api::delete(
        State(state),
        posted.user.caller(),
        Path((site_id.clone(), submission_id)),
    )
    .await?;
    Ok(see_other(&format!("/sites/{site_id}/forms"), "deleted"))
}
