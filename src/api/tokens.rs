use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::extract::{Caller, JsonBody};
use super::problem::{ApiError, OrNotFound};
use super::{AppState, List};
use crate::domain::token::{self, Role};
use crate::domain::validation::Violations;
use crate::store::TokenRecord;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub(crate) name: String,
    pub(crate) role: Role,
}

#[derive(Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub(crate) record: TokenRecord,
    /// Shown once; only its hash is stored.
    pub(crate) token: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require(Role::Owner)?;
    let mut v = Violations::default();
    v.text("name", &body.value.name, 100);
    v.into_result()?;
    let secret = token::generate();
    let record = state
        .store
        .create_token(
            body.value.name.trim(),
            body.value.role,
            &secret,
            &caller.actor(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            record,
            token: secret,
        }),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<TokenRecord>>, ApiError> {
    caller.require(Role::Owner)?;
    Ok(Json(List {
        data: state.store.list_tokens().await?,
    }))
}

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
