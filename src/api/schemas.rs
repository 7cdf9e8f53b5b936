//! Parts of the OpenAPI document that derives cannot say: the shapes of maps (header and
//! variable names), and integers sent as `5000.0`, which JSON Schema counts as integers
//! and which the API therefore takes.

use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

fn string(pattern: &str, max_length: Option<usize>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some(pattern))
        .max_length(max_length)
}

fn map(names: &str, values: ObjectBuilder, max: Option<usize>, about: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property_names(Some(string(names, Some(200))))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
            values.build(),
        )))))
        .max_properties(max)
        .description(Some(about))
        .into()
}

/// A webhook's custom headers: at most 50, names as HTTP tokens, values of visible text.
pub fn headers() -> RefOr<Schema> {
    map(
        r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        string(r"^[\t\u0020-\u007e]*$", Some(4096)),
        Some(50),
        "Name: value. Names hookrelay sets itself (content-type, authorization, webhook-*, \
         x-site-id, …) are refused. Values whose name suggests a credential are shown masked.",
    )
}

/// A site's job variables: names of letters, digits and `_` (not `HOOKRELAY_…`).
pub fn env() -> RefOr<Schema> {
    map(
        r"^(?!HOOKRELAY_)[A-Za-z_][A-Za-z0-9_]*$",
        string(r"^[^\u0000]*$", None),
        None,
        "Extra environment variables for every job (owners only).",
    )
}

/// A whole number, also when sent as `1500.0`.
pub fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let number = Option::<serde_json::Number>::deserialize(d)?;
    number.map(|n| whole_number(&n)).transpose()
}

/// As [`whole`], for PATCH fields where `null` clears the setting.
pub fn whole_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    whole(d).map(Some)
}

fn whole_number<E: serde::de::Error>(n: &serde_json::Number) -> Result<u64, E> {
    if let Some(whole) = n.as_u64() {
        return Ok(whole);
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
        _ => Err(E::custom(format!(
            "{n} is not a whole number of at least 0"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "whole")]
        n: Option<u64>,
    }

    #[test]
    fn integers_written_as_floats_are_whole_numbers() {
        let read = |text: &str| serde_json::from_str::<Body>(text).map(|b| b.n);
        assert_eq!(read(r#"{"n": 1458099}"#).unwrap(), Some(1458099));
        assert_eq!(read(r#"{"n": 1458099.0}"#).unwrap(), Some(1458099));
        assert_eq!(read(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(read("{}").unwrap(), None);
        assert!(read(r#"{"n": 1.5}"#).is_err());
        assert!(read(r#"{"n": -1}"#).is_err());
        assert!(read(r#"{"n": "5"}"#).is_err());
    }
}
