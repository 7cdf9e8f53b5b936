//! The activity log: calls newest first, filtered through the URL (so a view can be
//! shared), a call's request and every attempt, and Resend. A call's attempts refresh by
//! themselves while the page is open.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{badge, duration, notice, site_page, when, when_opt, PageError, Tab};
use super::session::{csrf_field, Posted, WebUser};
use super::{load_site, see_other};
use crate::api::calls::{self as api, CallQuery};
use crate::api::extract::QueryParams;
use crate::api::webhooks as api_webhooks;
use crate::api::{ApiError, AppState};
use crate::domain::call::CallStatus;
use crate::domain::token::Role;
use crate::store::{AttemptRecord, CallDetail};

/// The page's query: the API's filters (blank fields from the form mean "any"), times as
/// a `datetime-local` input sends them (read as UTC).
#[derive(Deserialize, Default, Clone)]
pub struct LogQuery {
    webhook_id: Option<String>,
    status: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

fn filled(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `2026-12-03T10:00` (a `datetime-local` value) as RFC 3339 in UTC; other text is left
/// for the API to judge.
fn local_to_rfc3339(value: &str) -> String {
    match value.len() {
        16 => format!("{value}:00Z"),
        19 => format!("{value}Z"),
        _ => value.to_owned(),
    }
}

impl LogQuery {
    fn api_query(&self) -> CallQuery {
        CallQuery {
            webhook_id: filled(&self.webhook_id),
            status: filled(&self.status),
            event_type: filled(&self.event_type),
            since: filled(&self.since).map(|t| local_to_rfc3339(&t)),
            until: filled(&self.until).map(|t| local_to_rfc3339(&t)),
            cursor: filled(&self.cursor),
            limit: Some("50".into()),
        }
    }

    /// This view's URL query with another cursor.
    fn with_cursor(&self, cursor: &str) -> String {
        let pairs: Vec<(&str, String)> = [
            ("webhook_id", filled(&self.webhook_id)),
            ("status", filled(&self.status)),
            ("event_type", filled(&self.event_type)),
            ("since", filled(&self.since)),
            ("until", filled(&self.until)),
            ("cursor", Some(cursor.to_owned())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let hooks = super::all_webhooks(&state, &user, &site_id).await?;
    let calls = api::list(
        State(state),
        user.caller(),
        Path(site_id.clone()),
        QueryParams(q.api_query()),
    )
    .await;
    let (page_of_calls, problem): (_, Option<ApiError>) = match calls {
        Ok(Json(page)) => (Some(page), None),
        Err(e) if e.status.is_client_error() => (None, Some(e)),
        Err(e) => return Err(e.into()),
    };
    let name_of = |id: &str| {
        hooks
            .iter()
            .find(|w| w.id == id)
            .map_or_else(|| id.to_owned(), |w| w.name.clone())
    };
    let base = format!("/sites/{site_id}");
    let chosen = |value: &Option<String>, option: &str| filled(value).as_deref() == Some(option);
    let content = html! {
        div.page-head { div { h1 { "Activity log" } p.lead { "Every call, newest first. Filters stay in the address, so a view can be shared." } } }
        form.filters method="get" action={ (base) "/calls" } {
            div {
                label for="f-webhook" { "Webhook" }
                select #f-webhook name="webhook_id" {
                    option value="" { "Any webhook" }
                    @for w in &hooks { option value=(w.id) selected[chosen(&q.webhook_id, &w.id)] { (w.name) } }
                }
            }
            div {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "Any status" }
                    @for s in ["pending", "success", "failed", "superseded", "skipped"] { option value=(s) selected[chosen(&q.status, s)] { (s) } }
                }
            }
            div {
                label for="f-event" { "Event type" }
                input #f-event type="text" name="event_type" value=[filled(&q.event_type)] placeholder="publish";
            }
            div {
                label for="f-since" { "From (UTC)" }
                input #f-since type="datetime-local" name="since" value=[filled(&q.since)];
            }
            div {
                label for="f-until" { "Until (UTC)" }
                input #f-until type="datetime-local" name="until" value=[filled(&q.until)];
            }
            div.actions { button.primary type="submit" { "Filter" } a.button href={ (base) "/calls" } { "Clear" } }
        }
        @if let Some(problem) = &problem { p.alert.alert-error role="alert" { (problem.detail) } }
        @if let Some(calls) = &page_of_calls {
            @if calls.data.is_empty() {
                div.card.empty { "No calls match." }
            } @else {
                div.table-wrap { table #calls {
                    thead { tr { th { "Time" } th { "Status" } th { "Webhook" } th { "Event" } th.num { "Attempts" } th.hide-narrow { "Last answer" } } }
                    tbody {
                        @for c in &calls.data {
                            tr {
                                td { a href={ (base) "/calls/" (c.id) } { (when(c.created_at)) } }
                                td { (badge(c.status.as_str())) }
                                td { (name_of(&c.webhook_id)) }
                                td { code { (c.entity_type) "." (c.event_type) } }
                                td.num { (c.attempt_count) }
                                td.hide-narrow {
                                    @if let Some(head) = &c.waiting_behind { span.muted { "waiting behind " code { (head) } } }
                                    @else if let Some(code) = c.last_status_code { "HTTP " (code) }
                                    @else if let Some(error) = &c.last_error { span.muted { (error) } }
                                    @else { span.muted { "—" } }
                                }
                            }
                        }
                    }
                } }
                @if let Some(next) = &calls.next_cursor {
                    div.pager { a.button href={ (base) "/calls?" (q.with_cursor(next)) } { "Older calls →" } }
                }
            }
        }
    };
    Ok(site_page(
        "Activity log",
        &user,
        &site,
        Tab::Activity,
        content,
    ))
}

async fn detail(
    state: &AppState,
    user: &WebUser,
    site_id: &str,
    call_id: &str,
) -> Result<CallDetail, PageError> {
    let Json(call) = api::show(
        State(state.clone()),
        user.caller(),
        Path((site_id.to_owned(), call_id.to_owned())),
    )
    .await?;
    Ok(call)
}

/// `{"a": "b"}` stored headers as rows.
fn header_rows(json: Option<&serde_json::value::RawValue>) -> Markup {
    let map: serde_json::Map<String, serde_json::Value> = json
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    html! {
        table.headers { tbody {
            @for (name, value) in &map {
                tr { th.mono { (name) } td.mono { (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) } }
            }
        } }
    }
}

/// JSON bodies indented for reading; anything else as sent.
fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

fn attempt_card(number: usize, a: &AttemptRecord) -> Markup {
    let at = &a.attempt;
    let outcome = match (at.response_status, &at.error) {
        (Some(code), _) if (200..300).contains(&code) => ("success", format!("HTTP {code}")),
        (Some(code), _) => ("failed", format!("HTTP {code}")),
        // An email: the relay's answer is the response body.
        (None, None) => ("success", "sent".to_owned()),
        (None, Some(_)) => ("failed", "not delivered".to_owned()),
    };
    html! {
        article.attempt {
            header {
                strong { "Attempt " (number) }
                span class={ "badge badge-" (outcome.0) } { (outcome.1) }
                span.muted { (when(at.started_at)) " · " (duration(at.duration_ms)) }
                @if at.manual { span.badge { "resend" } }
            }
            @if let Some(error) = &at.error { p.alert.alert-error { (error) } }
            @if !at.request_url.is_empty() { p.mono.hint { (at.request_url) } }
            @if let Some(sent) = &at.request_body {
                details {
                    summary { "What was sent" }
                    (header_rows(Some(&at.request_headers)))
                    pre { (pretty(sent)) }
                }
            }
            details {
                summary { "Response" }
                @if at.response_headers.is_some() { (header_rows(at.response_headers.as_deref())) }
                @match &at.response_body {
                    Some(body) if !body.is_empty() => { pre { (pretty(body)) } },
                    _ => { p.muted { "No response body." } },
                }
            }
        }
    }
}

/// The part of a call's page that changes while it is delivered: its state and attempts.
fn live_part(call: &CallDetail) -> Markup {
    let s = &call.summary;
    html! {
        dl.facts {
            dt { "Status" } dd #call-status { (badge(s.status.as_str())) }
            dt { "Attempts" } dd #attempt-count { (s.attempt_count) }
            @if let (Some(key), Some(sequence)) = (&s.ordering_key, s.sequence) {
                dt { "Order" } dd { "call " (sequence) " of key " code { (key) } }
            }
            @if let Some(head) = &s.waiting_behind {
                dt { "Next attempt" } dd { "waiting behind " a href={ "../calls/" (head) } { code { (head) } } ", the earlier call of its key" }
            }
            @else if let Some(newer) = &s.superseded_by {
                dt { "Superseded by" } dd { a href={ "../calls/" (newer) } { code { (newer) } } ": a newer state of its key; this one is never sent" }
            }
            @else if let Some(next) = s.next_attempt_at { dt { "Next attempt" } dd { (when(next)) } }
            @else if s.status == CallStatus::Pending { dt { "Next attempt" } dd { "paused: its webhook is disabled; enabling it sends this call" } }
            dt { "Last attempt" } dd { (when_opt(s.last_attempt_at)) }
        }
        h2 { "Attempts" }
        @if call.attempts.is_empty() { p.muted { "No attempt yet." } }
        @for (i, a) in call.attempts.iter().enumerate().rev() { (attempt_card(i + 1, a)) }
    }
}

pub async fn show(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, call_id)): Path<(String, String)>,
    Query(q): Query<super::NoticeQuery>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let call = detail(&state, &user, &site_id, &call_id).await?;
    let s = &call.summary;
    let webhook = api_webhooks::show(
        State(state.clone()),
        user.caller(),
        Path((site_id.clone(), s.webhook_id.clone())),
    )
    .await
    .map_or_else(|_| s.webhook_id.clone(), |Json(w)| w.name);
    let base = format!("/sites/{site_id}");
    let content = html! {
        div.page-head {
            div { h1 { code { (s.entity_type) "." (s.event_type) } " → " (webhook) } p.lead.mono { (s.id) } }
            @if user.can(Role::Developer) {
                form method="post" action={ (base) "/calls/" (s.id) "/resend" } {
                    (csrf_field(&user))
                    button.primary #resend type="submit" { "Resend" }
                }
            }
        }
        (notice(q.notice.as_deref()))
        div.grid {
            div.card {
                dl.facts {
                    dt { "Webhook" } dd { a href={ (base) "/webhooks/" (s.webhook_id) } { (webhook) } }
                    dt { "Event" } dd { code { (s.entity_type) "." (s.event_type) } " · " (call.environment) }
                    dt { "Event id" } dd.mono { (s.event_id) }
                    dt { "Created" } dd { (when(s.created_at)) }
                }
            }
            section.card #live data-live={ (base) "/calls/" (s.id) "/attempts" } data-live-every="1500" aria-live="polite" {
                (live_part(&call))
            }
        }
        @if let Some(at) = call.request.pruned_at {
            p.alert.alert-warn { "The bodies and attempts of this call were pruned on " (when(at)) " (the retention period has passed); its summary stays." }
        }
        @if call.request.url.is_some() {
            div.card { (request_part(&call)) }
        } @else {
            // Not sent yet: the card follows the first attempt like the attempts do.
            section.card #live-request data-live={ (base) "/calls/" (s.id) "/request" } data-live-every="1500" aria-live="polite" {
                (request_part(&call))
            }
        }
    };
    Ok(site_page("Call", &user, &site, Tab::Activity, content))
}

/// What the call sends (or sent on its latest attempt).
fn request_part(call: &CallDetail) -> Markup {
    html! {
        h2 { "Request" }
        dl.facts {
            dt { "URL" } dd.mono { (call.request.url.as_deref().unwrap_or("— (not sent yet)")) }
            dt { "Content-Type" } dd.mono { (call.request.content_type) }
        }
        @if call.request.headers.is_some() {
            h3 { "Headers" }
            p.hint { "As sent on the latest attempt; credentials masked." }
            (header_rows(call.request.headers.as_deref()))
        }
        h3 { "Body" }
        pre { (pretty(&call.request.body)) }
        // Once sent, the card stays as it is: its live region stops polling.
        @if call.request.url.is_some() { span data-live-final hidden {} }
    }
}

/// The request card alone, for the page's script to swap in until the first attempt.
pub async fn request(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, call_id)): Path<(String, String)>,
) -> Result<Markup, PageError> {
    let call = detail(&state, &user, &site_id, &call_id).await?;
    Ok(request_part(&call))
}

/// The live part alone, for the page's script to swap in.
pub async fn attempts(
    State(state): State<AppState>,
    user: WebUser,
    Path((site_id, call_id)): Path<(String, String)>,
) -> Result<Markup, PageError> {
    let call = detail(&state, &user, &site_id, &call_id).await?;
    Ok(live_part(&call))
}

pub async fn resend(
    State(state): State<AppState>,
    Path((site_id, call_id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let _ = api::resend(
        State(state),
        posted.user.caller(),
        Path((site_id.clone(), call_id.clone())),
    )
    .await?;
    Ok(see_other(
        &format!("/sites/{site_id}/calls/{call_id}"),
        "resent",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_times_become_utc_rfc3339() {
        assert_eq!(local_to_rfc3339("2026-12-03T10:00"), "2026-12-03T10:00:00Z");
        assert_eq!(
            local_to_rfc3339("2026-12-03T10:00:30"),
            "2026-12-03T10:00:30Z"
        );
        assert_eq!(
            local_to_rfc3339("2026-12-03T10:00:30+02:00"),
            "2026-12-03T10:00:30+02:00"
        );
    }

    #[test]
    fn paging_keeps_the_filters_and_drops_blank_ones() {
        let q = LogQuery {
            status: Some("failed".into()),
            event_type: Some(" ".into()),
            cursor: Some("call_old".into()),
            ..LogQuery::default()
        };
        assert_eq!(q.with_cursor("call_next"), "status=failed&cursor=call_next");
        let api = q.api_query();
        assert_eq!(api.status.as_deref(), Some("failed"));
        assert_eq!(api.event_type, None);
    }

    #[test]
    fn json_bodies_are_indented() {
        assert_eq!(pretty(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(pretty("plain text"), "plain text");
    }
}
