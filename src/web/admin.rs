//! The audit log of a site, and API tokens (owners only): create (shown once), revoke.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{
    badge, field_errors, form_problem, notice, page, pager, site_page, when, Nav, PageError, Tab,
};
use super::session::{csrf_field, Posted, WebUser};
use super::{api_body, load_site, page_query, see_other, NoticeQuery};
use crate::api::audit as api_audit;
use crate::api::extract::QueryParams;
use crate::api::tokens::{self as api_tokens, CreatedToken, NewToken};
use crate::api::PageQuery;
use crate::api::{ApiError, AppState};
use crate::domain::token::Role;
use crate::store::{Page, TokenRecord};

#[derive(Deserialize, Default)]
pub struct CursorQuery {
    cursor: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<CursorQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let Json(entries) = api_audit::list(
        State(state),
        user.caller(),
        Path(site_id.clone()),
        QueryParams(PageQuery {
            cursor: q.cursor,
            limit: Some("50".into()),
        }),
    )
    .await?;
    let content = html! {
        div.page-head { div { h1 { "Audit log" } p.lead { "Who added, changed or removed hooks and webhooks, changed settings, and locked or unlocked deploys; with the token they used." } } }
        @if entries.data.is_empty() {
            div.card.empty { "Nothing recorded yet." }
        } @else {
            div.table-wrap { table #audit.stack-narrow {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Target" } th { "Details" } } }
                tbody {
                    @for e in &entries.data {
                        tr {
                            td { (when(e.created_at)) }
                            td { (e.actor) @if let Some(token) = &e.token_id { span.hide-narrow { br; span.muted.mono.id { (token) } } } }
                            td { code { (e.action) } }
                            td { (e.target_type) br; span.muted.mono.id { (e.target_id) } }
                            td.details { (details(&e.details)) }
                        }
                    }
                }
            } }
            @if let Some(next) = &entries.next_cursor {
                div.pager { a.button href={ "/sites/" (site_id) "/audit?cursor=" (next) } { "Older entries →" } }
            }
        }
    };
    Ok(site_page("Audit log", &user, &site, Tab::Audit, content))
}

/// A value of an entry's details in a few words: text as it is, an object as
/// `name: value` pairs, anything else as JSON.
fn short(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| format!("{name}: {}", short(value)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// An entry's details as lines a person reads: `field: value`, and for a change each field
/// changed as `from → to` (or "changed", for a secret).
fn details(details: &serde_json::Value) -> Markup {
    let Some(fields) = details.as_object() else {
        return html! { (short(details)) };
    };
    html! {
        @for (name, value) in fields {
            @if let (true, Some(changed)) = (name == "changed", value.as_object()) {
                @for (field, change) in changed {
                    div {
                        code { (field) } ": "
                        @if let (Some(from), Some(to)) = (change.get("from"), change.get("to")) {
                            (short(from)) " → " (short(to))
                        } @else { span.muted { (short(change)) } }
                    }
                }
            } @else {
                div { span.muted { (name) ": " } (short(value)) }
            }
        }
    }
}

pub async fn tokens(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let Json(tokens) = api_tokens::list(State(state), user.caller(), page_query(q.cursor)).await?;
    Ok(tokens_page(&user, &tokens, None, None, q.notice.as_deref()))
}

fn tokens_page(
    user: &WebUser,
    tokens: &Page<TokenRecord>,
    created: Option<&CreatedToken>,
    problem: Option<&ApiError>,
    notice_code: Option<&str>,
) -> Markup {
    let errors = problem.map_or(&[][..], |p| &p.errors);
    let content = html! {
        div.page-head { div { h1 { "API tokens" } p.lead { "Tokens sign in to this dashboard and call the API. Only their hashes are stored: a new token is shown once." } } }
        (notice(notice_code))
        @if let Some(created) = created {
            div.card {
                h2 { "New token for " (created.record.name) }
                p.alert.alert-warn { "Copy it now: it is shown only this once." }
                div.copy-field {
                    input #new-token type="text" readonly value=(created.token) aria-label="New API token";
                    button type="button" data-copy="new-token" hidden { "Copy" }
                }
            }
        }
        div.table-wrap { table #tokens {
            thead { tr { th { "Name" } th { "Role" } th { "Created" } th {} } }
            tbody {
                @for t in &tokens.data {
                    tr {
                        td { strong { (t.name) } br; span.muted.mono { (t.id) } }
                        td { (badge(t.role.as_str())) }
                        td { (when(t.created_at)) }
                        td {
                            form method="post" action={ "/tokens/" (t.id) "/revoke" } data-confirm={ "Revoke " (t.name) "? Anything using it stops working at once." } {
                                (csrf_field(user))
                                button.danger.small type="submit" {
                                    @if t.id == user.session.token.id { "Revoke (signs you out)" } @else { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        } }
        (pager("/tokens?", tokens.next_cursor.as_deref(), "More tokens →"))
        div.card {
            h2 { "New token" }
            (form_problem(problem))
            form method="post" action="/tokens" novalidate {
                (csrf_field(user))
                div.row {
                    div {
                        label for="token-name" { "Name" }
                        input #token-name type="text" name="name" maxlength="100" placeholder="CI deploys" required;
                        (field_errors(errors, "name"))
                    }
                    div {
                        label for="token-role" { "Role" }
                        select #token-role name="role" {
                            option value="viewer" { "viewer — reads everything" }
                            option value="developer" selected { "developer — also changes webhooks and hooks" }
                            option value="owner" { "owner — also tokens and site commands" }
                        }
                    }
                }
                div.actions { button.primary type="submit" { "Create token" } }
            }
        }
    };
    page(
        "API tokens",
        Nav {
            user,
            site: None,
            tab: Tab::Tokens,
        },
        content,
    )
}

pub async fn create_token(
    State(state): State<AppState>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let Some(role) = Role::parse(&form.text("role")) else {
        return Err(PageError::BadRequest(
            "`role` must be viewer, developer or owner".into(),
        ));
    };
    let body = api_body(NewToken {
        name: form.text("name"),
        role: Some(role),
    });
    let created = api_tokens::create(State(state.clone()), user.caller(), body).await;
    let Json(tokens) = api_tokens::list(State(state), user.caller(), page_query(None)).await?;
    match created {
        Ok((_, Json(created))) => {
            Ok(tokens_page(&user, &tokens, Some(&created), None, None).into_response())
        }
        Err(problem) if !problem.errors.is_empty() => Ok((
            problem.status,
            tokens_page(&user, &tokens, None, Some(&problem), None),
        )
            .into_response()),
        Err(problem) => Err(problem.into()),
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    api_tokens::delete(State(state), posted.user.caller(), Path(token_id)).await?;
    Ok(see_other("/tokens", "revoked"))
}
