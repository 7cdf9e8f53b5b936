//! Webhooks: the list with each one's recent success rate, one form to create and edit
//! (with a live preview of the payload), the signing secret on demand, rotation, deletion.

mod fields;
mod form;
pub mod recover;
mod target_form;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup};

use self::fields::fields;
use self::form::WebhookForm;
use super::chart::success_meter;
use super::layout::{badge, form_problem, notice, pager, site_page, PageError, Tab};
use super::session::{check_csrf_header, csrf_field, Posted, WebUser};
use super::{api_body, load_site, page_query, see_other, NoticeQuery};
use crate::api::extract::{parse_json, QueryParams};
use crate::api::webhooks::{self as api, HeldKeys, WebhookView};
use crate::api::{sites as api_sites, ApiError, AppState};
use crate::domain::event::NewEvent;
use crate::domain::ordering::OrderingMode;
use crate::domain::token::Role;
use crate::store::SiteRecord;

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
        Path(site_id.clone()),
        page_query(q.cursor.clone()),
    )
    .await?;
    let Json(activity) = api_sites::activity(
        State(state),
        user.caller(),
        Path(site_id.clone()),
        QueryParams(api_sites::ActivityQuery::default()),
    )
    .await?;
    let base = format!("/sites/{site_id}/webhooks");
    let content = html! {
        div.page-head {
            div { h1 { "Webhooks" } p.lead { "Where this site's events are sent, and which events each one wants." } }
            div.actions {
                a.button href={ "/sites/" (site_id) "/event_types" } { "Event types" }
                @if user.can(Role::Developer) { a.button.primary href={ (base) "/new" } { "New webhook" } }
            }
        }
        (notice(q.notice.as_deref()))
        @if hooks.data.is_empty() {
            div.card.empty { "No webhooks yet." }
        } @else {
            div.table-wrap { table #webhooks {
                thead { tr { th { "Name" } th.hide-narrow { "Sends to" } th { "Triggers" } th { "Success, 24 h" } th { "State" } } }
                tbody {
                    @for w in &hooks.data {
                        @let calls = activity.webhooks.iter().find(|a| a.webhook_id == w.id).map(|a| a.calls).unwrap_or_default();
                        tr {
                            td { a href={ (base) "/" (w.id) } { strong { (w.name) } } }
                            td.hide-narrow { (destination(w)) }
                            td { @for t in &w.triggers { div {
                                (t.entity_type) ": " (t.event_types.join(", "))
                                @if !t.entity_ids.is_empty() { span.muted { " · ids " (t.entity_ids.join(", ")) } }
                                @if !t.model_ids.is_empty() { span.muted { " · models " (t.model_ids.join(", ")) } }
                            } } }
                            td { (success_meter(&calls)) @if calls.pending > 0 { div.muted { (calls.pending) " pending" } } }
                            td { (health(w)) }
                        }
                    }
                }
            } }
            (pager(&format!("{base}?"), hooks.next_cursor.as_deref(), "More webhooks →"))
        }
    };
    Ok(site_page("Webhooks", &user, &site, Tab::Webhooks, content))
}

/// A webhook's state where it is listed: disabled, failing (and since when: its calls'
/// attempts keep failing, even while they retry and none has finished), or enabled.
pub fn health(w: &WebhookView) -> Markup {
    html! {
        @if !w.enabled { (badge("disabled")) }
        @else if let Some(since) = w.failing_since {
            (badge("failing")) div.muted { "since " (super::layout::when(since)) }
        }
        @else { (badge("enabled")) }
    }
}

/// Where a webhook's calls go, in a few words.
fn destination(w: &WebhookView) -> Markup {
    let config = |field: &str| {
        w.config
            .as_ref()
            .and_then(|c| c.get(field))
            .map(|v| match v {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned),
            })
            .unwrap_or_default()
    };
    match w.kind {
        "http" => html! { span.mono { (w.url) } },
        "email" => html! { "Email to " (config("to")) },
        "slack" => html! { "Slack" },
        kind if kind.starts_with("github") => {
            html! { "GitHub " (config("owner")) "/" (config("repo")) " · " (kind.trim_start_matches("github_").replace('_', " ")) }
        }
        kind if kind.starts_with("gitlab") => {
            html! { "GitLab " (config("project")) " · " (kind.trim_start_matches("gitlab_").replace('_', " ")) }
        }
        kind => html! { (kind) },
    }
}

/// The create and edit page. `secret` is shown when the person asked for it.
/// A stored webhook as its page shows it: its settings and the keys its order holds back.
struct Saved {
    view: WebhookView,
    held: HeldKeys,
}

fn form_page(
    user: &WebUser,
    site: &SiteRecord,
    saved: Option<&Saved>,
    values: &WebhookForm,
    problem: Option<&ApiError>,
    secret: Option<&str>,
    notice_code: Option<&str>,
) -> Markup {
    let errors = problem.map_or(&[][..], |p| &p.errors);
    let held = saved.map(|s| &s.held);
    let saved = saved.map(|s| &s.view);
    let editable = user.can(Role::Developer);
    let base = format!("/sites/{}/webhooks", site.id);
    let action = match saved {
        Some(w) => format!("{base}/{}", w.id),
        None => base.clone(),
    };
    let title = saved.map_or("New webhook", |w| w.name.as_str());
    let content = html! {
        div.page-head {
            div {
                h1 { (title) " " @if let Some(w) = saved { @if w.enabled { (badge("enabled")) } @else { (badge("disabled")) } } }
                @if let Some(w) = saved { p.lead.mono { (w.id) } }
            }
            @if let Some(w) = saved {
                div.actions {
                    a.button href={ "/sites/" (site.id) "/calls?webhook_id=" (w.id) } { "Activity" }
                    @if editable {
                        form.inline-form method="post" action={ (base) "/" (w.id) "/test" } {
                            (csrf_field(user))
                            button #send-test type="submit" { "Send test" }
                        }
                        a.button href={ (base) "/" (w.id) "/recover" } { "Recover failed calls…" }
                        a.button href={ (base) "/" (w.id) "/delete" } { "Delete…" }
                    }
                }
            }
        }
        (notice(notice_code))
        @if let Some(w) = saved {
            @if let Some(reason) = &w.disabled_reason {
                div.alert.alert-error role="alert" {
                    strong { "Disabled by hookrelay" }
                    @if let Some(at) = w.disabled_at { " on " (super::layout::when(at)) }
                    ": " (reason)
                }
            }
            @if let (Some(since), true) = (w.failing_since, w.enabled) {
                div.alert.alert-warn role="status" {
                    strong { "Failing" } " since " (super::layout::when(since)) ": its calls keep failing. "
                    @match w.disable_after.as_deref() {
                        Some("never") => "It is never disabled for this.",
                        Some(after) => { "hookrelay disables it once this has lasted " (after) "." },
                        None => "hookrelay disables it once this has lasted the server's --disable-after (5 days by default).",
                    }
                }
            }
            // Only http calls are signed; a notification has no secret to show.
            @if w.kind == "http" { (secret_card(user, site, w, secret)) }
            @if let Some(held) = held.filter(|h| h.total > 0) { (held_card(site, held)) }
        }
        @if saved.is_none() {
            nav.type-picker aria-label="Send to" {
                span.muted { "Send to: " }
                @for (kind, label) in target_form::TYPES {
                    a href={ (base) "/new?type=" (kind) } aria-current=[(values.kind == kind).then_some("page")] { (label) }
                }
            }
        }
        (form_problem(problem))
        form.card method="post" action=(action) novalidate data-preview={ (base) "/preview" } {
            (csrf_field(user))
            (fields(values, errors, editable))
            @if editable {
                div.actions {
                    button.primary type="submit" { @if saved.is_some() { "Save changes" } @else { "Create webhook" } }
                    a.button href=(base) { "Cancel" }
                }
            }
        }
    };
    site_page(title, user, site, Tab::Webhooks, content)
}

/// The keys whose calls wait behind an undelivered head, worst first.
fn held_card(site: &SiteRecord, held: &HeldKeys) -> Markup {
    let calls = format!("/sites/{}/calls/", site.id);
    html! {
        section.card #held-keys {
            h2 { "Held back" }
            p.hint { (held.total) " key(s) wait for an earlier call of their key to be delivered; the others flow." }
            div.table-wrap { table {
                thead { tr { th { "Key" } th.num { "Waiting" } th { "Held by" } th { "Last answer" } th.hide-narrow { "Next attempt" } } }
                tbody {
                    @for k in &held.data {
                        tr {
                            td { code { (k.key) } }
                            td.num { (k.waiting) }
                            td { a href={ (calls) (k.head_call_id) } { code { (k.head_call_id) } } }
                            td {
                                @if let Some(code) = k.last_status_code { "HTTP " (code) }
                                @else if let Some(error) = &k.last_error { span.muted { (error) } }
                                @else { span.muted { "not tried yet" } }
                            }
                            td.hide-narrow {
                                @match k.next_attempt_at { Some(at) => (super::layout::when(at)), None => span.muted { "paused (disabled)" } }
                            }
                        }
                    }
                }
            } }
        }
    }
}

fn secret_card(user: &WebUser, site: &SiteRecord, w: &WebhookView, secret: Option<&str>) -> Markup {
    let base = format!("/sites/{}/webhooks/{}", site.id, w.id);
    html! {
        div.card {
            h2 { "Signing secret" }
            p.hint { "Receivers check each call's " code { "webhook-signature" } " with it (Standard Webhooks, HMAC-SHA256)." }
            @if let Some(secret) = secret {
                div.copy-field {
                    input #signing-secret type="text" readonly value=(secret) aria-label="Signing secret";
                    button type="button" data-copy="signing-secret" hidden { "Copy" }
                }
            }
            @if let Some(until) = w.previous_secret_expires_at {
                p.alert.alert-warn { "The previous secret still signs alongside this one until " (super::layout::when(until)) "." }
            }
            @if user.can(Role::Developer) {
                div.actions {
                    @if secret.is_none() {
                        form method="post" action={ (base) "/secret" } { (csrf_field(user)) button type="submit" { "Reveal secret" } }
                    }
                    form method="post" action={ (base) "/rotate" } data-confirm="Rotate the signing secret? The old one keeps signing for 24 hours." {
                        (csrf_field(user)) button type="submit" { "Rotate secret" }
                    }
                }
            } @else {
                p.muted { "A viewer token cannot see the secret." }
            }
        }
    }
}

/// `?type=`: which kind of webhook the new form is for (default http).
#[derive(serde::Deserialize)]
pub struct NewQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub async fn new_form(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<NewQuery>,
) -> Result<Markup, PageError> {
    user.caller().require(Role::Developer)?;
    let site = load_site(&state, &user, &site_id).await?;
    let kind = q.kind.filter(|k| target_form::is_known(k));
    Ok(form_page(
        &user,
        &site,
        None,
        &WebhookForm::blank(kind.as_deref().unwrap_or("http")),
        None,
        None,
        None,
    ))
}

/// A form the form itself could not read (a bad header line, letters in a number), with
/// the API's rules checked on the rest too: every problem at once, not one at a time.
async fn every_problem(state: &AppState, site_id: &str, values: &WebhookForm) -> ApiError {
    let (partial, mut v) = values.read_settings();
    // A notification's destination is in its config, which only the API reads.
    if values.kind == "http" {
        if let Err(more) = api::check(state, site_id, &partial).await {
            for e in more.errors {
                v.add(e.field, e.message);
            }
        }
    }
    v.into()
}

pub async fn create(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let site = load_site(&state, &user, &site_id).await?;
    let values = WebhookForm::from_post(&form);
    let created = match values.create_body() {
        Ok(body) => {
            api::create(
                State(state),
                user.caller(),
                Path(site_id.clone()),
                api_body(body),
            )
            .await
        }
        Err(_) => Err(every_problem(&state, &site_id, &values).await),
    };
    match created {
        Ok((_, Json(w))) => Ok(see_other(
            &format!("/sites/{site_id}/webhooks/{}", w.id),
            "created",
        )),
        Err(problem) if !problem.errors.is_empty() => Ok((
            problem.status,
            form_page(&user, &site, None, &values, Some(&problem), None, None),
        )
            .into_response()),
        Err(problem) => Err(problem.into()),
    }
}

async fn load(
    state: &AppState,
    user: &WebUser,
    site_id: &str,
    webhook_id: &str,
) -> Result<(SiteRecord, WebhookView), PageError> {
    let site = load_site(state, user, site_id).await?;
    let Json(w) = api::show(
        State(state.clone()),
        user.caller(),
        Path((site_id.to_owned(), webhook_id.to_owned())),
    )
    .await?;
    Ok((site, w))
}

/// [`load`], with the keys its order holds back for its page.
async fn load_saved(
    state: &AppState,
    user: &WebUser,
    site_id: &str,
    webhook_id: &str,
) -> Result<(SiteRecord, Saved), PageError> {
    let (site, view) = load(state, user, site_id, webhook_id).await?;
    let held = match view.ordering {
        OrderingMode::None => HeldKeys::default(),
        _ => {
            let path = Path((site_id.to_owned(), webhook_id.to_owned()));
            api::held_keys(State(state.clone()), user.caller(), path)
                .await?
                .0
        }
    };
    Ok((site, Saved { view, held }))
}

pub async fn edit_form(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, webhook_id)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Markup, PageError> {
    let (site, w) = load_saved(&state, &user, &site_id, &webhook_id).await?;
    let values = WebhookForm::from_view(&w.view);
    Ok(form_page(
        &user,
        &site,
        Some(&w),
        &values,
        None,
        None,
        q.notice.as_deref(),
    ))
}

pub async fn save(
    State(state): State<AppState>,
    Path((site_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let Posted { user, form } = posted;
    let (site, w) = load_saved(&state, &user, &site_id, &webhook_id).await?;
    let values = WebhookForm::from_post(&form);
    let updated = match values.update_body() {
        Ok(body) => {
            api::update(
                State(state),
                user.caller(),
                Path((site_id.clone(), webhook_id.clone())),
                api_body(body),
            )
            .await
        }
        Err(_) => Err(every_problem(&state, &site_id, &values).await),
    };
    match updated {
        Ok(_) => Ok(see_other(
            &format!("/sites/{site_id}/webhooks/{webhook_id}"),
            "saved",
        )),
        Err(problem) if !problem.errors.is_empty() => Ok((
            problem.status,
            form_page(&user, &site, Some(&w), &values, Some(&problem), None, None),
        )
            .into_response()),
        Err(problem) => Err(problem.into()),
    }
}

/// A POST (not a link), so the secret is shown only to a person who asked on this page.
pub async fn reveal_secret(
    State(state): State<AppState>,
    Path((site_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Markup, PageError> {
    let user = posted.user;
    let (site, w) = load_saved(&state, &user, &site_id, &webhook_id).await?;
    let Json(secret) =
        api::secret(State(state), user.caller(), Path((site_id, webhook_id))).await?;
    let values = WebhookForm::from_view(&w.view);
    Ok(form_page(
        &user,
        &site,
        Some(&w),
        &values,
        None,
        Some(&secret.secret),
        None,
    ))
}

pub async fn rotate(
    State(state): State<AppState>,
    Path((site_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Markup, PageError> {
    let user = posted.user;
    let Json(rotated) = api::rotate_secret(
        State(state.clone()),
        user.caller(),
        Path((site_id.clone(), webhook_id.clone())),
    )
    .await?;
    let (site, w) = load_saved(&state, &user, &site_id, &webhook_id).await?;
    let values = WebhookForm::from_view(&w.view);
    Ok(form_page(
        &user,
        &site,
        Some(&w),
        &values,
        None,
        Some(&rotated.secret),
        Some("rotated"),
    ))
}

/// "Send test": a test event through the real target, then the call's page to watch it.
pub async fn send_test(
    State(state): State<AppState>,
    Path((site_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let (_, Json(published)) = api::send_test(
        State(state),
        posted.user.caller(),
        Path((site_id.clone(), webhook_id)),
    )
    .await?;
    let call = published
        .webhook_call_ids
        .first()
        .cloned()
        .unwrap_or_default();
    Ok(see_other(&format!("/sites/{site_id}/calls/{call}"), "test"))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, webhook_id)): Path<(String, String)>,
) -> Result<Markup, PageError> {
    user.caller().require(Role::Developer)?;
    let (site, w) = load(&state, &user, &site_id, &webhook_id).await?;
    let base = format!("/sites/{site_id}/webhooks/{webhook_id}");
    let content = html! {
        div.card {
            h1 { "Delete " (w.name) "?" }
            p { "No more calls will be sent to " code { (w.url) } ". Its calls and their attempts are deleted from the activity log too. This cannot be undone." }
            form method="post" action={ (base) "/delete" } {
                (csrf_field(&user))
                div.actions {
                    button.danger type="submit" { "Delete webhook" }
                    a.button href=(base) { "Keep it" }
                }
            }
        }
    };
    Ok(site_page(
        "Delete webhook",
        &user,
        &site,
        Tab::Webhooks,
        content,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((site_id, webhook_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    api::delete(
        State(state),
        posted.user.caller(),
        Path((site_id.clone(), webhook_id)),
    )
    .await?;
    Ok(see_other(&format!("/sites/{site_id}/webhooks"), "deleted"))
}

/// The live preview: the form as it stands, rendered against its sample event by the
/// same domain function as the API's preview. Answers JSON (problem+json on a fault).
pub async fn preview(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    user: WebUser,
    headers: HeaderMap,
    form: super::form::FormData,
) -> Response {
    let answer = async {
        check_csrf_header(&user, &headers)
            .map_err(|_| ApiError::new(StatusCode::FORBIDDEN, "missing or wrong CSRF token"))?;
        user.caller().require(Role::Viewer)?;
        load_site(&state, &user, &site_id)
            .await
            .map_err(|_| ApiError::not_found("site"))?;
        let values = WebhookForm::from_post(&form);
        let event: NewEvent = parse_json(values.sample.as_bytes())
            .map_err(|e| ApiError::bad_field("sample", format!("is not an event: {}", e.detail)))?;
        event.validate()?;
        Ok::<_, ApiError>(Json(values.settings()?.preview(&event)?))
    };
    match answer.await {
        Ok(json) => json.into_response(),
        Err(problem) => problem.into_response(),
    }
}
