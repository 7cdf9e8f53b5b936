//! A submission's fields from whatever a form sends: URL-encoded, JSON, or multipart
//! without files. Pure: bytes and a content type in, fields or the reason out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::redirect::path_or_web_url;

/// Fields that catch bots: a person never fills them (they are hidden), a bot fills all.
pub const HONEYPOTS: [&str; 2] = ["bot-field", "_gotcha"];
/// Where to send the person afterwards.
pub const REDIRECT_FIELDS: [&str; 2] = ["redirect", "_redirect"];
pub const MAX_FIELDS: usize = 100;
pub const MAX_VALUE_CHARS: usize = 10_000;

#[derive(Debug, Default, PartialEq)]
pub struct Fields {
    /// What is stored and announced.
    pub data: BTreeMap<String, Value>,
    /// A honeypot field was filled: answer as usual, keep nothing.
    pub spam: bool,
    pub redirect: Option<String>,
}

impl Fields {
    /// Adds one field, setting aside honeypots and the redirect; a repeated name keeps
    /// every value (as a list).
    pub fn add(&mut self, name: &str, value: Value) -> Result<(), String> {
        if HONEYPOTS.contains(&name) {
            self.spam |= value.as_str().is_none_or(|v| !v.trim().is_empty());
            return Ok(());
        }
        if REDIRECT_FIELDS.contains(&name) {
            // Checked here, before anything is stored: a bad target found after storing
            // would fail the answer, and the sender's retry would store it twice.
            let target = value.as_str().map(str::trim).unwrap_or_default();
            if target.is_empty() {
                self.redirect = None;
                return Ok(());
            }
            self.redirect = Some(path_or_web_url(target).ok_or_else(|| {
                format!("field `{name}` must be a path such as /thanks or an http(s) URL")
            })?);
            return Ok(());
        }
        if name.is_empty() || name.chars().count() > 200 {
            return Err("field names must be 1-200 characters".into());
        }
        if value
            .as_str()
            .is_some_and(|v| v.chars().count() > MAX_VALUE_CHARS)
        {
            return Err(format!(
                "field `{name}` is longer than {MAX_VALUE_CHARS} characters"
            ));
        }
        match self.data.get_mut(name) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                if self.data.len() == MAX_FIELDS {
                    return Err(format!("a submission may have at most {MAX_FIELDS} fields"));
                }
                self.data.insert(name.to_owned(), value);
            }
        }
        Ok(())
    }

    /// The fields of a URL-encoded body.
    pub fn from_urlencoded(body: &[u8]) -> Result<Fields, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| format!("the form body is not URL-encoded: {e}"))?;
        let mut fields = Fields::default();
        for (name, value) in pairs {
            fields.add(&name, Value::String(value))?;
        }
        Ok(fields)
    }

    /// The fields of a JSON object (values may be any JSON).
    pub fn from_json(body: &[u8]) -> Result<Fields, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("send a JSON object of fields".into());
        };
        let mut fields = Fields::default();
        for (name, value) in object {
            fields.add(&name, value)?;
        }
        Ok(fields)
    }

    /// Where to send the person: a path, or an http(s) URL (checked when read).
    pub fn redirect_target(&self) -> Option<&str> {
        self.redirect.as_deref()
    }
}

/// Form names: letters, digits, `-`, `_` and `.`, up to 100.
pub fn valid_form_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_encoded_fields_with_repeats_redirect_and_honeypot() {
        let fields = Fields::from_urlencoded(
            b"email=a%40b.example&topic=x&topic=y&redirect=%2Fthanks&bot-field=",
        )
        .unwrap();
        assert_eq!(fields.data["email"], "a@b.example");
        assert_eq!(fields.data["topic"], json!(["x", "y"]));
        assert!(!fields.spam, "an empty honeypot is a person");
        assert_eq!(fields.redirect_target(), Some("/thanks"));
        assert!(Fields::from_urlencoded(b"bot-field=buy+now").unwrap().spam);
    }

    #[test]
    fn json_objects_only_and_limits_hold() {
        let fields = Fields::from_json(br#"{"name": "Ann", "age": 7, "_gotcha": ""}"#).unwrap();
        assert_eq!(fields.data["age"], 7);
        assert!(!fields.data.contains_key("_gotcha"));
        assert!(Fields::from_json(b"[1]").is_err());
        let long = format!("a={}", "x".repeat(MAX_VALUE_CHARS + 1));
        assert!(Fields::from_urlencoded(long.as_bytes()).is_err());
    }

    #[test]
    fn redirects_must_be_paths_or_web_urls() {
        let with = |r: &str| {
            let mut fields = Fields::default();
            fields
                .add("redirect", Value::String(r.into()))
                .map(|()| fields)
        };
        assert_eq!(
            with("https://example.com/ok").unwrap().redirect_target(),
            Some("https://example.com/ok")
        );
        assert_eq!(with("").unwrap().redirect_target(), None);
        for bad in [
            "//evil.example",
            "javascript:alert(1)",
            "/ok\r\nx: y",
            "/\t/evil",
        ] {
            assert!(with(bad).unwrap_err().contains("`redirect`"), "{bad:?}");
        }
        assert!(valid_form_name("contact-us_2"));
        assert!(!valid_form_name("a/b"));
    }
}
