use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody, QueryParams};
use super::problem::{ApiError, OrNotFound};
use super::{limit_param, AppState, PageQuery};
use crate::domain::token::{self, Role};
use crate::domain::validation::Violations;
use crate::store::{Page, TokenRecord};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"[^\s\u0085]"
    )]
    pub(crate) name: String,
    #[serde(default)]
    #[schema(required = true, value_type = Role)]
    pub(crate) role: Option<Role>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub(crate) record: TokenRecord,
    /// Shown once; only its hash is stored.
    pub(crate) token: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    summary = "Create an API token, shown once (owners)",
    operation_id = "tokens_create",
    request_body = NewToken,
    responses((status = 201, description = "The token and its secret", body = CreatedToken), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require(Role::Owner)?;
    let mut v = Violations::default();
    v.text("name", &body.value.name, 100);
    let Some(role) = body.value.role else {
        v.add("role", "is required: owner, developer or viewer");
        return Err(v.into());
    };
    v.into_result()?;
    let secret = token::generate();
    let record = state
        .store
        .create_token(body.value.name.trim(), role, &secret, &caller.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            record,
            token: secret,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    summary = "List API tokens (owners)",
    operation_id = "tokens_list",
    params(PageQuery),
    responses((status = 200, description = "A page of tokens, oldest first", body = Page<TokenRecord>), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<Json<Page<TokenRecord>>, ApiError> {
    caller.require(Role::Owner)?;
    let limit = limit_param(page.limit.clone())?;
    let tokens = state.store.list_tokens(page.cursor(), limit).await?;
    Ok(Json(tokens))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{token_id}",
    tag = "tokens",
    summary = "Revoke a token; its dashboard sessions end (owners)",
    operation_id = "tokens_delete",
    params(("token_id" = String, Path, description = "The token")),
    responses((status = 204, description = "Revoked"), (status = "4XX", description = "Refused: a problem document naming the fields at fault", body = crate::api::problem::ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Owner)?;
    state
        .store
        .delete_token(&token_id, &caller.actor())
        .await
        .or_not_found("token")?;
    Ok(StatusCode::NO_CONTENT)
}
