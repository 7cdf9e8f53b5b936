//! What every command does first: read its arguments (JSON, triggers), refuse bad usage
//! with clap's exit code, and connect.

use serde_json::{json, Value};

use super::api::{Api, Failure};
use super::output::Out;
use super::Connection;

/// Bad input on the command line itself (clap's own code for usage errors).
pub(super) const EXIT_USAGE: u8 = 2;

pub(super) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message: message.into(),
    }
}

pub(super) fn parse_json(what: &str, text: &str) -> Result<Value, Failure> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| usage(format!("reading {what} from standard input: {e}")))?
    } else {
        text.to_owned()
    };
    serde_json::from_str(&text).map_err(|e| usage(format!("{what} is not JSON: {e}")))
}

/// `item:publish,unpublish` as a trigger.
pub(super) fn trigger(text: &str) -> Result<Value, Failure> {
    let (entity, events) = text.split_once(':').ok_or_else(|| {
        usage(format!(
            "--trigger {text:?}: write entity_type:event,event (e.g. item:publish)"
        ))
    })?;
    let events: Vec<&str> = events
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    Ok(json!({"entity_type": entity.trim(), "event_types": events}))
}

pub(super) fn open(conn: &Connection) -> (Api, Out) {
    (
        Api::new(&conn.server, conn.token.clone()),
        Out { json: conn.json },
    )
}
