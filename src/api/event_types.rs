//! The event-type catalog: built-in types, and those a site registers (with an optional
//! JSON Schema its published events are checked against).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::{AppState, List};
use crate::domain::catalog::BUILT_IN;
use crate::domain::event::NewEvent;
use crate::domain::time::now_millis;
use crate::domain::token::Role;
use crate::domain::validation::Violations;
use crate::store::{compile_schema, EventTypeRecord, SiteEventTypes};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventType {
    /// Not one of the built-in types.
    #[serde(default)]
    #[schema(required = true, pattern = "^[A-Za-z0-9_.-]{1,100}$")]
    pub(crate) entity_type: String,
    #[serde(default)]
    #[schema(required = true, pattern = "^[A-Za-z0-9_.-]{1,100}$")]
    pub(crate) event_type: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// A JSON Schema (an object or a boolean) every published event's `entity` must
    /// satisfy.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(crate) schema: Option<Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypeView {
    pub(crate) entity_type: String,
    pub(crate) event_type: String,
    pub(crate) built_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) schema: Option<Value>,
}

/// Built-in types first, then the site's own.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}/event_types",
    tag = "event types",
    summary = "Built-in and registered event types",
    operation_id = "event_types_list",
    params(("site_id" = String, Path, description = "The site")),
    responses((status = 200, description = "The catalog", body = List<EventTypeView>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
) -> Result<Json<List<EventTypeView>>, ApiError> {
    caller.require(Role::Viewer)?;
    state.store.site(&site_id).await.or_not_found("site")?;
    let registered = state.store.site_event_types(&site_id).await?;
    let built_in = BUILT_IN.iter().flat_map(|(entity, events)| {
        events.iter().map(move |event| EventTypeView {
            entity_type: (*entity).into(),
            event_type: (*event).into(),
            built_in: true,
            description: None,
            schema: None,
        })
    });
    let own = registered.iter().map(|t| EventTypeView {
        entity_type: t.record.entity_type.clone(),
        event_type: t.record.event_type.clone(),
        built_in: false,
        description: t.record.description.clone(),
        schema: t.record.schema.clone(),
    });
    Ok(Json(List {
        data: built_in.chain(own).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/sites/{site_id}/event_types",
    tag = "event types",
    summary = "Register an event type, optionally with a JSON Schema",
    operation_id = "event_types_create",
    params(("site_id" = String, Path, description = "The site")),
    request_body = NewEventType,
    responses((status = 201, description = "The type", body = EventTypeRecord), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(site_id): Path<String>,
    body: JsonBody<NewEventType>,
) -> Result<(StatusCode, Json<EventTypeRecord>), ApiError> {
    caller.require(Role::Developer)?;
    let b = body.value;
    let mut v = Violations::default();
    for (field, name) in [
        ("entity_type", &b.entity_type),
        ("event_type", &b.event_type),
    ] {
        let well_formed = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !well_formed {
            v.add(field, "must be 1-100 letters, digits, '_', '-' or '.'");
        }
    }
    if b.event_type == "*" {
        v.add("event_type", "`*` matches every type; it is not one");
    }
    let built_in = BUILT_IN.iter().any(|(entity, events)| {
        *entity == b.entity_type && events.contains(&b.event_type.as_str())
    });
    if built_in {
        // hookrelay publishes some of these itself (deploys, forms, operator events): a
        // schema could make it refuse its own events.
        v.add(
            "event_type",
            format!(
                "`{}.{}` is built in; built-in types take no registration or schema",
                b.entity_type, b.event_type
            ),
        );
    }
    if let Some(Err(problem)) = b.schema.as_ref().map(compile_schema) {
        v.add("schema", format!("is not a JSON Schema: {problem}"));
    }
    v.into_result()?;
    let record = EventTypeRecord {
        entity_type: b.entity_type,
        event_type: b.event_type,
        description: b.description.filter(|d| !d.trim().is_empty()),
        schema: b.schema,
        created_at: now_millis(),
    };
    state
        .store
        .register_event_type(&site_id, &record)
        .await
        .or_not_found("site")?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/sites/{site_id}/event_types/{entity_type}/{event_type}",
    tag = "event types",
    summary = "Remove a registered event type",
    operation_id = "event_types_delete",
    params(("site_id" = String, Path, description = "The site"), ("entity_type" = String, Path, description = "Entity type"), ("event_type" = String, Path, description = "Event type")),
    responses((status = 204, description = "Deleted"), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((site_id, entity_type, event_type)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Developer)?;
    state
        .store
        .delete_event_type(&site_id, &entity_type, &event_type)
        .await
        .or_not_found("event type")?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a published event's `entity` against its registered type's schema, naming every
/// place that fails (`entity.title`, `entity.tags[2]`).
pub fn check_schema(types: &SiteEventTypes, event: &NewEvent) -> Result<(), ApiError> {
    let Some(validator) = types
        .iter()
        .find(|t| {
            t.record.entity_type == event.entity_type && t.record.event_type == event.event_type
        })
        .and_then(|t| t.validator.as_ref())
    else {
        return Ok(());
    };
    let mut v = Violations::default();
    for error in validator.iter_errors(&event.entity) {
        let field = error.instance_path().as_str().split('/').skip(1).fold(
            "entity".to_owned(),
            |path, part| match part.parse::<usize>() {
                Ok(index) => format!("{path}[{index}]"),
                Err(_) => format!("{path}.{part}"),
            },
        );
        v.add(
            field,
            format!("does not match the event type's schema: {error}"),
        );
    }
    Ok(v.into_result()?)
}
