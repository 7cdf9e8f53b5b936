//! A site's event-type catalog: the types its triggers may name, built in and its own,
//! with their descriptions and JSON Schemas (registering one is the API's: a schema is
//! code-like and belongs in a reviewed request).

use axum::extract::{Path, State};
use axum::Json;
use maud::{html, Markup};

use super::layout::{site_page, PageError, Tab};
use super::load_site;
use super::session::WebUser;
use crate::api::event_types as api;
use crate::api::AppState;

pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(site_id): Path<String>,
) -> Result<Markup, PageError> {
    let site = load_site(&state, &user, &site_id).await?;
    let Json(types) = api::list(State(state), user.caller(), Path(site_id.clone())).await?;
    let content = html! {
        div.page-head { div {
            h1 { "Event types" }
            p.lead { "What this site's triggers may name. Built-in types need no registration; a site registers its own with " code { "POST /api/v1/sites/" (site_id) "/event_types" } ", optionally with a JSON Schema every published " code { "entity" } " must satisfy." }
        } }
        div.table-wrap { table #event-types {
            thead { tr { th { "Entity type" } th { "Event type" } th { "Kind" } th { "Description and schema" } } }
            tbody {
                @for t in &types.data {
                    tr {
                        td { code { (t.entity_type) } }
                        td { code { (t.event_type) } }
                        td { @if t.built_in { span.muted { "built in" } } @else { "registered" } }
                        td {
                            @if let Some(d) = &t.description { div { (d) } }
                            @if let Some(schema) = &t.schema {
                                details { summary { "JSON Schema" } pre { (serde_json::to_string_pretty(schema).unwrap_or_default()) } }
                            }
                        }
                    }
                }
            }
        } }
    };
    Ok(site_page(
        "Event types",
        &user,
        &site,
        Tab::Webhooks,
        content,
    ))
}
