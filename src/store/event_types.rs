use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{json_text, parse_json, Result, Store, StoreError, MAX_EVENT_TYPES_PER_SITE};
use crate::domain::catalog::Catalog;
use crate::domain::time::{now_millis, rfc3339, UnixMillis};

/// An event type a site registered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventTypeRecord {
    pub entity_type: String,
    pub event_type: String,
    pub description: Option<String>,
    /// JSON Schema the `entity` of published events of this type must satisfy.
    pub schema: Option<Value>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "rfc3339")]
    pub created_at: UnixMillis,
}

/// A registered type with its schema compiled once.
#[derive(Clone)]
pub struct RegisteredType {
    pub record: EventTypeRecord,
    pub validator: Option<Arc<jsonschema::Validator>>,
}

/// A site's registered types, as cached: shared, read on every publish.
pub type SiteEventTypes = Arc<[RegisteredType]>;

/// Compiles a schema, or says what is wrong with it.
pub fn compile_schema(schema: &Value) -> std::result::Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

impl Store {
    pub async fn register_event_type(&self, site_id: &str, t: &EventTypeRecord) -> Result<()> {
        self.site(site_id).await?;
        let mut tx = self.begin_write().await?;
        Self::within_site_limit(
            &mut tx,
            "event_types",
            site_id,
            MAX_EVENT_TYPES_PER_SITE,
            "registered event types",
        )
        .await?;
        let done = sqlx::query(
            "INSERT INTO event_types (site_id, entity_type, event_type, description, schema, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site_id, entity_type, event_type) DO NOTHING",
        )
        .bind(site_id.to_owned())
        .bind(t.entity_type.clone())
        .bind(t.event_type.clone())
        .bind(t.description.clone())
        .bind(t.schema.as_ref().map(json_text))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.event_type_cache.forget(site_id);
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "`{}.{}` is registered already; delete it first to change it",
                t.entity_type, t.event_type
            )));
        }
        Ok(())
    }

    pub async fn delete_event_type(&self, site_id: &str, entity: &str, event: &str) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM event_types WHERE site_id = $1 AND entity_type = $2 AND event_type = $3",
        )
        .bind(site_id.to_owned())
        .bind(entity.to_owned())
        .bind(event.to_owned())
        .execute(&self.write)
        .await?;
        self.event_type_cache.forget(site_id);
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The site's registered types (cached, like its webhooks).
    pub async fn site_event_types(&self, site_id: &str) -> Result<SiteEventTypes> {
        let load = async {
            let rows = sqlx::query(
                "SELECT entity_type, event_type, description, schema, created_at FROM event_types \
                 WHERE site_id = $1 ORDER BY entity_type, event_type",
            )
            .bind(site_id.to_owned())
            .fetch_all(&self.read)
            .await?;
            let types = rows
                .iter()
                .map(|row| {
                    let schema: Option<String> = row.try_get("schema")?;
                    let schema: Option<Value> = schema
                        .as_deref()
                        .map(|s| parse_json("event type schema", s))
                        .transpose()?;
                    let validator = schema
                        .as_ref()
                        .map(|s| compile_schema(s).map(Arc::new))
                        .transpose()
                        .map_err(|e| super::corrupt("event type schema", e))?;
                    Ok(RegisteredType {
                        record: EventTypeRecord {
                            entity_type: row.try_get("entity_type")?,
                            event_type: row.try_get("event_type")?,
                            description: row.try_get("description")?,
                            schema,
                            created_at: row.try_get("created_at")?,
                        },
                        validator,
                    })
                })
                .collect::<Result<SiteEventTypes>>()?;
            Ok::<_, StoreError>(Some(types))
        };
        Ok(self
            .event_type_cache
            .get_or_load(site_id, load)
            .await?
            .unwrap_or_default())
    }

    /// What a site's triggers may name.
    pub async fn catalog(&self, site_id: &str) -> Result<Catalog> {
        Ok(catalog_of(&self.site_event_types(site_id).await?))
    }
}

/// The catalog of a site whose registered types are `types`.
pub fn catalog_of(types: &SiteEventTypes) -> Catalog {
    Catalog::new(
        types
            .iter()
            .map(|t| (t.record.entity_type.clone(), t.record.event_type.clone()))
            .collect(),
    )
}
