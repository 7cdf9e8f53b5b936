//! The OpenAPI 3.1 description of the API, generated from the handlers' annotations
//! (utoipa), served at `/api/v1/openapi.json` (the dashboard renders it at `/api/docs`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    audit, calls, event_types, events, forms, health, hooks, incoming, jobs, recoveries, sites,
    tokens, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookrelay",
        description = "Self-hosted webhooks: durable, signed outgoing webhooks and notifications, \
                       and incoming build hooks. Errors are application/problem+json with the \
                       fields at fault under `errors`.",
    ),
    paths(
        tokens::list, tokens::create, tokens::delete, audit::list_server,
        sites::list, sites::create, sites::show, sites::update, sites::delete,
        sites::lock, sites::unlock, sites::activity,
        webhooks::list, webhooks::create, webhooks::show, webhooks::update, webhooks::delete,
        webhooks::secret, webhooks::rotate_secret, webhooks::preview, webhooks::held_keys, webhooks::send_test,
        recoveries::create, recoveries::list, recoveries::show,
        events::publish,
        calls::list, calls::show, calls::resend,
        hooks::list, hooks::create, hooks::show, hooks::delete, hooks::requests,
        jobs::list, jobs::create, jobs::show, jobs::cancel,
        audit::list,
        event_types::list, event_types::create, event_types::delete,
        forms::list, forms::delete,
        health::healthz, health::readyz, health::metrics,
        incoming::named_hook, incoming::own_site_hook, incoming::gatsby_build,
        incoming::gatsby_preview, incoming::connect, incoming::connect_source,
    ),
    modifiers(&BearerTokens),
)]
pub struct ApiDoc;

struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (hr_…)"))
                    .build(),
            ),
        );
    }
}

pub async fn document(State(state): State<super::AppState>) -> Response {
    Json(state.openapi.as_ref()).into_response()
}
