//! The page shell (head, header, site tabs), the error page, and small pieces every page
//! uses: times, status badges, field errors.

use maud::{html, Markup, PreEscaped, DOCTYPE};

pub use super::error::PageError;
use super::frame::head;
use super::session::{csrf_field, WebUser};
use crate::api::ApiError;
use crate::domain::time::UnixMillis;
use crate::domain::token::Role;
use crate::domain::validation::FieldError;
use crate::store::SiteRecord;

/// Where a page sits, for the navigation's highlighted entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Sites,
    Tokens,
    Overview,
    Webhooks,
    Activity,
    Hooks,
    Jobs,
    Forms,
    Settings,
    Audit,
}

const SITE_TABS: [(Tab, &str, &str); 8] = [
    (Tab::Overview, "", "Overview"),
    (Tab::Webhooks, "/webhooks", "Webhooks"),
    (Tab::Activity, "/calls", "Activity log"),
    (Tab::Hooks, "/hooks", "Build hooks"),
    (Tab::Jobs, "/jobs", "Jobs"),
    (Tab::Forms, "/forms", "Forms"),
    (Tab::Settings, "/settings", "Settings"),
    (Tab::Audit, "/audit", "Audit log"),
];

pub struct Nav<'a> {
    pub user: &'a WebUser,
    pub site: Option<&'a SiteRecord>,
    pub tab: Tab,
}

/// A dashboard page: header with the signed-in token, the site's tabs, then `content`.
pub fn page(title: &str, nav: Nav<'_>, content: Markup) -> Markup {
    let token = &nav.user.session.token;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/sites" { (PreEscaped(super::assets::LOGO_SVG)) span { "hookrelay" } }
                    nav aria-label="Main" {
                        a href="/sites" aria-current=[(nav.tab == Tab::Sites).then_some("page")] { "Sites" }
                        @if nav.user.can(Role::Owner) {
                            a href="/tokens" aria-current=[(nav.tab == Tab::Tokens).then_some("page")] { "API tokens" }
                        }
                        a href="/api/docs" { "API reference" }
                    }
                    div.who {
                        span title="The API token this session acts as" {
                            (token.name) " " span.role { (token.role.as_str()) }
                        }
                        form method="post" action="/sign-out" {
                            (csrf_field(nav.user))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                @if let Some(site) = nav.site {
                    div.site-bar {
                        div.site-name {
                            a href={ "/sites/" (site.id) } { (site.settings.name) }
                            @if site.locked { " " span.badge.badge-locked { "locked" } }
                        }
                        nav.tabs aria-label="Site" {
                            @for (tab, path, label) in SITE_TABS {
                                a href={ "/sites/" (site.id) (path) }
                                    aria-current=[(nav.tab == tab).then_some("page")] { (label) }
                            }
                        }
                    }
                }
                main #main { (content) }
            }
        }
    }
}

/// A page of one site, under its tabs.
pub fn site_page(
    title: &str,
    user: &WebUser,
    site: &SiteRecord,
    tab: Tab,
    content: Markup,
) -> Markup {
    page(
        title,
        Nav {
            user,
            site: Some(site),
            tab,
        },
        content,
    )
}

/// An instant as a person reads it, with the exact value for machines and tooltips.
pub fn when(ms: UnixMillis) -> Markup {
    let exact = crate::domain::time::to_rfc3339(ms);
    html! { time datetime=(exact) title=(exact) { (human_time(ms)) } }
}

pub fn when_opt(ms: Option<UnixMillis>) -> Markup {
    match ms {
        Some(ms) => when(ms),
        None => html! { span.muted { "—" } },
    }
}

/// `2026-12-03 14:05:09 UTC`.
pub fn human_time(ms: UnixMillis) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => ms.to_string(),
    }
}

/// `1.2 s`, `340 ms`, `3 min 5 s`.
pub fn duration(ms: i64) -> String {
    match ms {
        ..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A coloured status word (`success`, `failed`, `running`, …).
pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge badge-" (status) } { (status) } }
}

/// Whether `e` is about `field` or a part of it (`field[0]`, `field.x`).
fn is_about(e: &FieldError, field: &str) -> bool {
    e.field == field
        || e.field
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// `aria-invalid="true"` for an input some error is about.
pub fn invalid(errors: &[FieldError], field: &str) -> Option<&'static str> {
    errors.iter().any(|e| is_about(e, field)).then_some("true")
}

/// The messages of every error about `field` (or a part of it, `field[0]`, `field.x`).
pub fn field_errors(errors: &[FieldError], field: &str) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| is_about(e, field)) {
            p.field-error id={ "error-" (field) } { (e.message) }
        }
    }
}

/// A short confirmation after a redirect (`?notice=saved`); fixed texts only.
/// The link to a list's next page, when there is one: `href` ends in `?` or `&`.
pub fn pager(href: &str, next: Option<&str>, label: &str) -> Markup {
    html! {
        @if let Some(next) = next {
            div.pager { a.button href={ (href) "cursor=" (next) } { (label) } }
        }
    }
}

pub fn notice(code: Option<&str>) -> Markup {
    let text = match code {
        Some("created") => "Created.",
        Some("saved") => "Saved.",
        Some("deleted") => "Deleted.",
        Some("rotated") => {
            "A new signing secret is active; the old one signs alongside it for 24 hours."
        }
        Some("resent") => "Queued a new attempt; it appears below as soon as it is made.",
        Some("test") => "A test event was sent to this webhook only; its attempt appears below as soon as it is made.",
        Some("cancelled") => "Cancelled.",
        Some("locked") => {
            "The site is locked: triggers queue, but no job starts until it is unlocked."
        }
        Some("unlocked") => "The site is unlocked.",
        Some("recovery") => "Recovery queued: its failed calls are made due again in batches.",
        Some("revoked") => "The token is revoked, and its dashboard sessions are signed out.",
        _ => return html! {},
    };
    html! { p.alert.alert-ok role="status" { (text) } }
}

/// A page's problem shown above a form: the API's detail and, beside each field, its error.
pub fn form_problem(problem: Option<&ApiError>) -> Markup {
    html! {
        @if let Some(e) = problem {
            div.alert.alert-error role="alert" {
                strong { "Not saved. " }
                @if e.errors.is_empty() { (e.detail) } @else { "Please correct the fields marked below." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_naturally() {
        assert_eq!(human_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(duration(340), "340 ms");
        assert_eq!(duration(1_250), "1.2 s");
        assert_eq!(duration(185_000), "3 min 5 s");
    }

    #[test]
    fn field_errors_match_the_field_and_its_parts_only() {
        let errors = vec![
            FieldError {
                field: "triggers[0].event_types".into(),
                message: "must list at least one".into(),
            },
            FieldError {
                field: "url_extra".into(),
                message: "other".into(),
            },
        ];
        assert!(field_errors(&errors, "triggers")
            .into_string()
            .contains("must list at least one"));
        assert!(field_errors(&errors, "url").into_string().is_empty());
    }
}
